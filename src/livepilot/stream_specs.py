"""Stream specs: what a stream to run is, in a streams file (``livepilot worker --streams``)
or in the registry of streams added through the API (as JSON).

``- simulator: NAME`` (seed, speed, raids) or ``- tiktok: "@creator"`` (follow); both may
carry a ``title``. A spec builds its source (:func:`build_source`); this module is a
composition root for that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
)

from livepilot.clock import SystemClock
from livepilot.metrics import Metrics
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.yamlfile import load_model

__all__ = [
    "SimulatorSpec",
    "StreamSpec",
    "StreamsFile",
    "TikTokSpec",
    "build_source",
    "load_streams",
    "parse_spec",
    "spec_json",
]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SimulatorSpec(_Spec):
    """A simulated stream, like ``livepilot demo`` (same seed, same stream)."""

    simulator: str = Field(min_length=1, max_length=100, description="the stream's name")
    seed: int = 1
    speed: float = Field(default=1.0, gt=0, le=1000)
    raids: bool = True
    title: str | None = Field(default=None, max_length=200)

    @property
    def name(self) -> str:
        return self.simulator


class TikTokSpec(_Spec):
    """A TikTok creator's LIVE, like ``livepilot run @creator``; named after the handle."""

    tiktok: str = Field(min_length=1, max_length=200)
    follow: bool = True
    title: str | None = Field(default=None, max_length=200)

    @field_validator("tiktok")
    @classmethod
    def _handle(cls, value: str) -> str:
        from livepilot.sources.tiktok import normalize_handle

        return normalize_handle(value)

    @property
    def name(self) -> str:
        return self.tiktok


def _kind(value: Any) -> str | None:
    """Which spec an entry is, by its key: a wrong entry gets one clear error, not one per
    kind of stream."""
    if isinstance(value, dict):
        return next((k for k in ("simulator", "tiktok") if k in value), None)
    return value.__class__.__name__.removesuffix("Spec").lower() or None


#: One entry of the streams file: ``simulator: NAME`` or ``tiktok: "@creator"``.
StreamSpec = Annotated[
    Annotated[SimulatorSpec, Tag("simulator")] | Annotated[TikTokSpec, Tag("tiktok")],
    Discriminator(
        _kind,
        custom_error_type="stream_kind",
        custom_error_message='each stream needs "simulator: NAME" or "tiktok: \'@creator\'"',
    ),
]


class StreamsFile(_Spec):
    """The streams every worker of a deployment may run (``--streams FILE.yaml``)."""

    streams: list[StreamSpec] = Field(min_length=1)

    @field_validator("streams")
    @classmethod
    def _unique(cls, value: list[SimulatorSpec | TikTokSpec]) -> list[SimulatorSpec | TikTokSpec]:
        names = [spec.name for spec in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"stream declared twice: {', '.join(twice)}")
        return value


_SPEC: TypeAdapter[SimulatorSpec | TikTokSpec] = TypeAdapter(StreamSpec)


def parse_spec(raw: str) -> SimulatorSpec | TikTokSpec:
    """A stream spec from its JSON (as the registry keeps it); ``ValueError`` if invalid."""
    return _SPEC.validate_json(raw)


def spec_json(spec: SimulatorSpec | TikTokSpec) -> str:
    """The JSON the registry keeps for ``spec`` (what :func:`parse_spec` reads back)."""
    return spec.model_dump_json(exclude_none=True)


def load_streams(path: Path) -> StreamsFile:
    """The streams file; :class:`RulesError` names the file and the bad entry."""
    return load_model(path, StreamsFile, "streams file")


def build_source(spec: SimulatorSpec | TikTokSpec, settings: Settings, metrics: Metrics) -> Source:
    """The source a spec describes (a simulator, or a TikTok client for the handle)."""
    if isinstance(spec, SimulatorSpec):
        from livepilot.sources.simulator import Simulator

        return Simulator(spec.name, seed=spec.seed, speed=spec.speed, raids=spec.raids)
    from livepilot.sources.tiktok import tiktok_sources

    return tiktok_sources([spec.tiktok], settings, SystemClock(), metrics, follow=spec.follow)[0]
