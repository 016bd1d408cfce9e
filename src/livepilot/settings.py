"""Settings from the environment (``LIVEPILOT_`` prefix) with defaults that work as-is."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "DEFAULT_STAGES",
    "MIN_TOKEN_LENGTH",
    "Moderator",
    "ModeratorRole",
    "Settings",
    "checkout_path",
    "default_overlays_dir",
    "default_rules_dir",
]

#: The default chain. Order matters: moderation reads the verdicts of the filters and the
#: model; intent and questions skip what was flagged; engagement reads toxic/negative
#: shares; polls and giveaways exclude flagged and struck users.
DEFAULT_STAGES = (
    "word_filter",
    "spam",
    "toxicity",
    "moderation",
    "intent",
    "questions",
    "engagement",
    "polls",
)


def checkout_path(name: str) -> Path:
    """``NAME`` at the top of the source checkout (``rules``, ``overlays``)."""
    return Path(__file__).resolve().parents[2] / name


def _beside_checkout(name: str) -> Path:
    """``./NAME`` if present, else ``NAME/`` of the source checkout."""
    here = Path.cwd() / name
    if here.is_dir():
        return here
    return checkout_path(name)


def default_rules_dir() -> Path:
    return _beside_checkout("rules")


def default_overlays_dir() -> Path:
    return _beside_checkout("overlays")


#: Moderator tokens shorter than this are refused as too easy to guess.
MIN_TOKEN_LENGTH = 12


class ModeratorRole(StrEnum):
    """What a signed-in moderator may do at the console.

    ``lead`` runs the show (segments, polls, giveaways) and everything else; ``moderator``
    works the chat and the question queue; ``observer`` only watches.
    """

    LEAD = "lead"
    MODERATOR = "moderator"
    OBSERVER = "observer"


class Moderator(BaseModel):
    """One person at the console: the name the audit log and the KPIs show, a role, and
    the personal token that proves it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=80, pattern=r"^[^:,]+$")
    role: ModeratorRole
    token: SecretStr = Field(min_length=MIN_TOKEN_LENGTH)


def _parse_moderators(value: str) -> list[Moderator]:
    """``name:role:token,name:role:token`` → moderators; errors name the entry, never the
    token."""
    team: list[Moderator] = []
    for number, raw in enumerate(value.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        name, _, rest = entry.partition(":")
        role, colon, token = rest.partition(":")
        where = f"LIVEPILOT_MODERATORS entry {number} ({_label(name)})"
        if not colon:
            raise ValueError(f"{where}: expected name:role:token")
        fields = {"name": name, "role": role.strip(), "token": token}
        team.append(_moderator(fields, where))
    return team


def _load_moderators_file(path: Path) -> list[Moderator]:
    where = f"LIVEPILOT_MODERATORS_FILE {path}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{where}: cannot read it: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{where}: expected a list of {{name, role, token}} entries")
    team: list[Moderator] = []
    for number, item in enumerate(data, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        team.append(_moderator(item, f"{where} entry {number} ({_label(name)})"))
    return team


def _label(name: object) -> str:
    return repr(name.strip()) if isinstance(name, str) and name.strip() else "no name"


def _moderator(data: Any, where: str) -> Moderator:
    if isinstance(data, Moderator):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected name, role and token")
    try:
        return Moderator.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise ValueError(f"{where}: {problems}") from None


def _problem(error: Any) -> str:
    field = ".".join(str(p) for p in error["loc"]) or "entry"
    if field == "role":
        roles = ", ".join(r.value for r in ModeratorRole)
        given = error.get("input")
        # A long "role" is likely a token in the wrong place: never echo that.
        shown = f" {given!r}" if isinstance(given, str) and len(given) < MIN_TOKEN_LENGTH else ""
        return f"role{shown} is not one of {roles}"
    if field == "token" and error["type"] in {"too_short", "string_too_short", "missing"}:
        return f"token is empty or shorter than {MIN_TOKEN_LENGTH} characters"
    if field == "name" and error["type"] in {"string_too_short", "missing"}:
        return "name is empty"
    if field == "name" and error["type"] == "string_pattern_mismatch":
        return "name may not contain ':' or ','"
    return f"{field}: {error['msg']}"


class Settings(BaseSettings):
    # Errors never repeat the input: settings carry tokens (LIVEPILOT_MODERATORS is one
    # string of them), and errors end up in terminals and logs.
    model_config = SettingsConfigDict(
        env_prefix="LIVEPILOT_", extra="forbid", frozen=True, hide_input_in_errors=True
    )

    #: Needed for the console, its API and ``/ws/console``. ``livepilot demo`` makes one up.
    console_token: SecretStr | None = None
    #: Read-only key for OBS overlays (``?key=`` on overlay URLs).
    overlay_key: SecretStr | None = None
    #: Key for backstage overlays (host prompts, the host screen; ``?key=``), which must
    #: never be on stream. Empty: only a console token opens them. ``livepilot demo``
    #: makes one up.
    host_key: SecretStr | None = None
    #: A YAML list of ``{name, role, token}`` moderators, added to ``moderators``.
    moderators_file: Path | None = None
    #: Personal console tokens: ``name:role:token,…`` with role ``lead``, ``moderator`` or
    #: ``observer`` (see :class:`ModeratorRole`), plus those in ``moderators_file``. Their
    #: actions are audited under the token's name; the console token stays a shared
    #: ``lead`` whose name is whatever the client says.
    moderators: Annotated[tuple[Moderator, ...], NoDecode] = Field(
        default=(), validate_default=True
    )
    #: Address the server listens on; ``0.0.0.0`` to reach it from other machines.
    host: str = "127.0.0.1"
    #: Port the server listens on.
    port: int = Field(default=8080, ge=0, le=65535)

    #: Rule packs, FAQ, alarm thresholds, run-of-show (see ``docs/rules.md``).
    rules_dir: Path = Field(default_factory=default_rules_dir)
    #: OBS overlay pages served at ``/overlay/{name}``.
    overlays_dir: Path = Field(default_factory=default_overlays_dir)
    #: The stage chain, in order. Names come from ``livepilot.stages.registry``.
    stages: tuple[str, ...] = DEFAULT_STAGES
    #: A stage that spends longer than this on one event (or one tick) is reported:
    #: ``livepilot_stage_budget_overruns{stage}`` and a warning naming it (at most one a
    #: minute per stage).
    stage_budget_ms: float = Field(default=50.0, gt=0)

    #: Events waiting for the pipeline per stream. Full: chat/gifts wait (backpressure),
    #: likes/joins are merged.
    queue_size: int = Field(default=10_000, ge=16)
    #: Messages one WebSocket client may lag behind before it is disconnected.
    client_queue_size: int = Field(default=5_000, ge=16)
    #: Messages for one client are coalesced into one frame over this many milliseconds.
    coalesce_ms: float = Field(default=15.0, ge=0, le=250)
    #: Overlays hold a chat message whose model verdict is pending for at most this long,
    #: so what the model hides never flashes on stream.
    overlay_hold_ms: float = Field(default=1_500.0, ge=0, le=10_000)
    #: On shutdown the pipelines get this long to work through what is queued; what is
    #: left then goes to the bus (and its event log) unprocessed.
    shutdown_drain_s: float = Field(default=20.0, gt=0, le=600)
    #: Events kept in the in-memory event log (console backlog on connect).
    event_log_size: int = Field(default=50_000, ge=100)
    #: How many recent messages a newly connected console gets.
    backlog: int = Field(default=500, ge=0)

    # server limits
    #: Web pages (``scheme://host[:port]``, comma-separated) that may open the WebSockets
    #: besides livepilot's own pages; ``*`` allows any. Empty (the default): the same
    #: origin only. Clients that send no ``Origin`` (OBS plugins, scripts) are allowed.
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    #: Failed credentials one client address may send per minute. Past that its requests
    #: get 429 (sockets: close 1008) without being checked until the budget refills; a
    #: request that signs in takes nothing from it. 0 turns the throttle off.
    auth_failures_per_minute: int = Field(default=10, ge=0)
    #: Client addresses the failure throttle remembers at most (oldest forgotten first).
    auth_throttle_clients: int = Field(default=10_000, ge=1)
    #: The largest request body, and console WebSocket frame, accepted (bytes).
    max_body_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> tuple[str, ...]:
        """``a,b`` from the environment; checked as origins where the server builds its
        origin policy (``livepilot.server.origins``)."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, Sequence):
            raise ValueError("expected origins separated by commas")
        return tuple(str(item).strip() for item in items if str(item).strip())

    #: ``memory`` (one process) or ``redis`` (Redis Streams as event log and fan-out
    #: across processes).
    bus: Literal["memory", "redis"] = "memory"
    #: The Redis server of the ``redis`` bus.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Key prefix for the Redis bus (one per deployment sharing a Redis).
    redis_prefix: str = Field(default="livepilot", min_length=1)
    #: Messages one process holds while Redis is down or stalled (its own consoles still
    #: see them at once); when full the oldest are dropped and counted
    #: (``livepilot_bus_dropped``). Written to the event log once Redis is back.
    bus_buffer_size: int = Field(default=200_000, ge=1_000)
    #: Messages older than this are trimmed from each stream's Redis event log (besides its
    #: cap: ``event_log_size / 10`` entries of up to 100 messages each).
    redis_log_max_age_s: float = Field(default=6 * 3600.0, gt=0)
    #: How long a ``livepilot worker``'s lease on a stream lives without renewal (renewed
    #: every second, at most every quarter of it): a stream whose worker died runs again in
    #: another worker within about this plus 1 s; a worker that could not renew a lease for
    #: 60 % of it stops that stream (fencing).
    lease_ttl_s: float = Field(default=10.0, ge=1.0, le=300.0)

    # tiktok
    #: Euler Stream sign-server API key. Optional: without one the free limits apply
    #: (about 5 connects per minute and 30 per hour per IP).
    tiktok_sign_api_key: SecretStr | None = None
    #: Logged-in TikTok ``sessionid`` cookie (for age-restricted or private streams).
    #: Grants full account access; also needs ``tiktok_target_idc``.
    tiktok_session_id: SecretStr | None = None
    #: The ``tt-target-idc`` cookie that goes with ``tiktok_session_id``.
    tiktok_target_idc: str | None = None
    #: Reconnect when nothing at all arrives for this long (silent dead connection).
    tiktok_watchdog_seconds: float = Field(default=60.0, gt=0)
    #: First reconnect delay; doubles per failed attempt (with jitter) up to the max.
    tiktok_backoff_initial: float = Field(default=1.0, gt=0)
    #: Longest reconnect delay.
    tiktok_backoff_max: float = Field(default=300.0, gt=0)
    #: How often to check whether an offline creator went live.
    tiktok_offline_poll_seconds: float = Field(default=60.0, ge=5)
    #: Connects allowed per minute (sign-server budget). 0 means no limit.
    tiktok_connects_per_minute: int = Field(default=5, ge=0)
    #: Connects allowed per hour (sign-server budget). 0 means no limit.
    tiktok_connects_per_hour: int = Field(default=30, ge=0)
    #: A gift streak without an end message is counted this long after its last update.
    tiktok_streak_timeout: float = Field(default=20.0, gt=0)

    # engagement
    #: Language of host prompts (``de`` or ``en``).
    host_language: Literal["de", "en"] = "de"
    #: Alarm thresholds; a missing file means the documented defaults.
    alarms_file: Path | None = None
    #: The stream's run-of-show (segments, questions, polls, CTAs, crisis plan); none by
    #: default. ``rules/run-of-show.yaml`` is an example.
    run_of_show: Path | None = None
    #: Seed for giveaway draws, so a replay draws the same winners every run. Unset (the
    #: default) draws from the operating system's randomness.
    giveaway_seed: int | None = None

    # toxicity
    #: Toxicity score (0–1) from which a message is flagged for moderators / kept off
    #: overlays and filtered chat until a moderator approves. review must be below hide.
    toxicity_review: float = Field(default=0.5, gt=0, le=1)
    #: Toxicity score from which a message is held off overlays until a moderator
    #: approves it (above ``toxicity_review``).
    toxicity_hide: float = Field(default=0.85, gt=0, le=1)
    #: The German model file; empty means the one shipped in the package.
    toxicity_german_model: Path | None = None
    #: Where the German model runs. Off: batched on the model lane's worker thread (~25 µs
    #: a message instead of ~150 µs alone); the insight goes out at once with the word
    #: filter's verdict and the model's follows a few ms later as version 1 of it (under
    #: overload it may be shed, counted in livepilot_toxicity_shed). On: on the event loop,
    #: its verdict in every chat message's first insight — fine for small streams, but at
    #: 2,000 events/s it raises every console's p99 latency several-fold
    #: (docs/german-model.md, "Speed"). Headless replay always runs it inline.
    toxicity_german_inline: bool = False
    #: Which Detoxify model to run, found by name in ``models_dir`` after
    #: ``livepilot models pull NAME`` (``off``: the German model only). Nothing is
    #: downloaded at run time. ``detoxify_checkpoint`` overrides it with your own files.
    detoxify: Literal["off", "original", "unbiased", "multilingual"] = "off"
    #: Where ``livepilot models pull`` keeps models (and the ONNX exports made from them).
    #: Empty: ``$XDG_CACHE_HOME/livepilot/models`` (``~/.cache/livepilot/models``).
    models_dir: Path | None = None
    #: A Detoxify checkpoint file of your own (instead of a pulled model).
    detoxify_checkpoint: Path | None = None
    #: Hugging Face config directory (config.json + tokenizer files) for the checkpoint.
    detoxify_config_dir: Path | None = None
    #: Which Detoxify model the checkpoint is (``original``, ``unbiased``, ``multilingual``).
    detoxify_model: Literal[
        "original", "unbiased", "multilingual", "original-small", "unbiased-small"
    ] = "multilingual"
    #: Where Detoxify runs (``cpu``, or a torch device such as ``cuda``).
    detoxify_device: Literal["cpu", "cuda"] = "cpu"
    #: ``onnx`` (the default) exports the model once to int8 ONNX (≥ 99 % of a probe set
    #: must get the same labels as PyTorch, else it falls back to ``torch`` and says why)
    #: and truncates chat to 64 tokens; ``torch`` runs Detoxify as shipped (~8× slower).
    detoxify_runtime: Literal["torch", "onnx"] = "onnx"
    #: Micro-batching: at most this many texts per model call.
    toxicity_batch_size: int = Field(default=32, ge=1, le=512)
    #: How long the model lane waits for a batch to fill.
    toxicity_batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    #: The model queue's size. Under overload the lowest-priority messages (trusted
    #: viewers, nothing the rules saw) are shed first; shed messages say ``not_scored:
    #: overload`` and raise the ``model_overload`` alarm. ``livepilot score`` never sheds.
    toxicity_queue_size: int = Field(default=512, ge=1)
    #: Queue depth from which the lowest-priority messages are turned away.
    toxicity_overload_depth: int = Field(default=128, ge=1)
    #: Seconds after which a queued message is no longer worth scoring (it says
    #: ``not_scored: overload``).
    toxicity_max_age: float = Field(default=2.0, gt=0)

    # questions
    #: Knowledge base for answer suggestions. Empty: ``<rules_dir>/faq-<stream>.yaml`` if
    #: present, else ``<rules_dir>/faq.yaml``, else no suggestions. Reloaded on change.
    faq_file: Path | None = None
    #: Questions whose topic words are at least this similar (rapidfuzz, 0–100) merge
    #: into one queue item ("7 people asked").
    question_similarity: float = Field(default=85.0, ge=50, le=100)
    #: An open queue item nobody asked again for this long (seconds) expires.
    question_expiry: float = Field(default=600.0, gt=0)
    #: Host prompt once this many people asked the same (or about the same lead kind).
    question_prompt_after: int = Field(default=3, ge=2)
    #: How lead exports name the user: ``handle`` (@name), ``pseudonym`` (keyed hash of
    #: the user id) or ``none``.
    lead_user: Literal["handle", "pseudonym", "none"] = "pseudonym"
    #: Whether lead exports keep the message text at all.
    lead_message: bool = False
    #: How long leads are kept, in the stream's own time.
    lead_retention_hours: float = Field(default=72.0, gt=0)
    #: Key for lead pseudonyms; empty means a new random key per run (pseudonyms then
    #: cannot be linked across runs).
    lead_pseudonym_key: SecretStr | None = None

    @field_validator("moderators", mode="before")
    @classmethod
    def _build_team(cls, value: Any, info: ValidationInfo) -> tuple[Moderator, ...]:
        if isinstance(value, str):
            team = _parse_moderators(value)
        elif isinstance(value, Sequence):
            team = [_moderator(m, f"moderator {n}") for n, m in enumerate(value, start=1)]
        else:
            raise ValueError("expected name:role:token entries separated by commas")
        path = info.data.get("moderators_file")
        if path is not None:
            team.extend(_load_moderators_file(Path(path)))
        _check_unique(team, info.data.get("console_token"), info.data.get("overlay_key"))
        return tuple(team)

    def ensure_tokens(self) -> Settings:
        """A copy with random tokens where none were set (for ``livepilot demo``)."""
        update: dict[str, SecretStr] = {}
        if self.console_token is None:
            update["console_token"] = SecretStr(secrets.token_urlsafe(18))
        if self.overlay_key is None:
            update["overlay_key"] = SecretStr(secrets.token_urlsafe(12))
        if self.host_key is None:
            update["host_key"] = SecretStr(secrets.token_urlsafe(12))
        return self.model_copy(update=update) if update else self


def _check_unique(
    team: Sequence[Moderator], console: SecretStr | None, overlay: SecretStr | None
) -> None:
    """Every name and token once, and no moderator token that is also a shared one: a
    token must say who is acting."""
    names: set[str] = set()
    tokens: dict[str, str] = {}
    shared = {
        "the console token (LIVEPILOT_CONSOLE_TOKEN)": console,
        "the overlay key (LIVEPILOT_OVERLAY_KEY)": overlay,
    }
    for moderator in team:
        if moderator.name in names:
            raise ValueError(f"moderator {moderator.name!r} is listed twice")
        names.add(moderator.name)
        token = moderator.token.get_secret_value()
        if token in tokens:
            raise ValueError(
                f"moderators {tokens[token]!r} and {moderator.name!r} have the same token"
            )
        tokens[token] = moderator.name
        for what, secret in shared.items():
            if secret is not None and secret.get_secret_value() == token:
                raise ValueError(f"moderator {moderator.name!r} has the same token as {what}")
