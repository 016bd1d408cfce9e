"""``livepilot models pull``: fetch a Detoxify model once, check it, and find it again by name.

Detoxify's weights are release files of the detoxify project; the Hugging Face config and
tokenizer files of the base model (``bert-base-uncased``, ``roberta-base``,
``xlm-roberta-base``) come from the hub. Both are fetched here, on request only, into
``<models_dir>/detoxify-<name>/``::

    model.ckpt          the checkpoint (a pickle: load only files fetched from here)
    hf/config.json …    the base model's config and tokenizer files
    manifest.json       every file's URL, size and SHA-256, written last

Checksums. The release files are named the torch.hub way (``…-0b549669.ckpt``): the hex
after the dash is the start of the file's SHA-256, which torch.hub's ``check_hash``
verifies, so that prefix is pinned here (:data:`CATALOG`). The hub publishes the SHA-256
of large files in the ``X-Linked-Etag`` reply header, checked when present. Everything
else cannot be checked against a published sum: its SHA-256 is recorded in the manifest
on the first download (trust on first use) and :func:`find_pulled` re-checks every file
against the manifest before a model is loaded, so a file that changed on disk later is
refused.

Downloads are atomic and resumable: bytes go to ``<file>.part`` (resumed with an HTTP
``Range`` request when the server allows, restarted when it does not) and the file is
renamed into place only once its checksum matched. A bad checksum deletes the part file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from livepilot.errors import ModelPullError

__all__ = [
    "CATALOG",
    "HUB_BASE",
    "MANIFEST",
    "RELEASE_BASE",
    "ModelName",
    "ModelSpec",
    "PulledModel",
    "cached_models",
    "default_models_dir",
    "find_pulled",
    "model_dir",
    "pull_model",
]

log = logging.getLogger(__name__)

ModelName = Literal["original", "unbiased", "multilingual"]

RELEASE_BASE = "https://github.com/unitaryai/detoxify/releases/download/"
HUB_BASE = "https://huggingface.co/"
MANIFEST = "manifest.json"
_FORMAT = 1
_CHUNK = 1 << 20
_HEX = re.compile(r"^[0-9a-f]{8,64}$")


def default_models_dir() -> Path:
    """``$XDG_CACHE_HOME/livepilot/models``, else ``~/.cache/livepilot/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "livepilot" / "models"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Where one Detoxify model's files live. ``checkpoint`` is relative to the release
    base, ``sha256`` the pinned start (or all) of its SHA-256; ``hub_files`` are fetched
    from ``<hub base><hub_repo>/resolve/main/``."""

    name: str
    checkpoint: str
    sha256: str
    hub_repo: str
    hub_files: tuple[str, ...]
    about: str = ""

    def files(self, release_base: str, hub_base: str) -> list[tuple[str, str, str]]:
        """``(path in the model folder, URL, pinned checksum or "")`` for every file."""
        out = [("model.ckpt", _join(release_base, self.checkpoint), self.sha256)]
        for name in self.hub_files:
            out.append((f"hf/{name}", _join(hub_base, f"{self.hub_repo}/resolve/main/{name}"), ""))
        return out


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


#: The official Detoxify models livepilot can pull (torch.hub's hash prefix pinned).
CATALOG: dict[str, ModelSpec] = {
    "multilingual": ModelSpec(
        "multilingual", "v0.4-alpha/multilingual_debiased-0b549669.ckpt", "0b549669",
        "FacebookAI/xlm-roberta-base",
        ("config.json", "tokenizer.json", "sentencepiece.bpe.model"),
        "XLM-RoBERTa, 7 languages (not German), ~1.1 GB",
    ),
    "original": ModelSpec(
        "original", "v0.1-alpha/toxic_original-c1212f89.ckpt", "c1212f89",
        "google-bert/bert-base-uncased",
        ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"),
        "BERT, English (Jigsaw 2018), ~420 MB",
    ),
    "unbiased": ModelSpec(
        "unbiased", "v0.3-alpha/toxic_debiased-c7548aa0.ckpt", "c7548aa0",
        "FacebookAI/roberta-base",
        ("config.json", "tokenizer.json", "vocab.json", "merges.txt"),
        "RoBERTa, English (Jigsaw 2019, less identity bias), ~480 MB",
    ),
}


@dataclass(frozen=True, slots=True)
class PulledModel:
    """A model found in the cache: its checkpoint and its Hugging Face config folder."""

    name: str
    checkpoint: Path
    config_dir: Path
    size: int


def model_dir(models_dir: Path, name: str) -> Path:
    return models_dir / f"detoxify-{name}"


Progress = Callable[[str, int, int | None], None]


def pull_model(
    spec: ModelSpec,
    models_dir: Path,
    *,
    release_base: str = RELEASE_BASE,
    hub_base: str = HUB_BASE,
    timeout: float = 30.0,
    progress: Progress | None = None,
    client: httpx.Client | None = None,
) -> PulledModel:
    """Download ``spec``'s files into ``models_dir`` (skipping those already there and
    matching the manifest), verify them and write the manifest. Raises
    :class:`~livepilot.errors.ModelPullError` with what to do."""
    target = model_dir(models_dir, spec.name)
    target.mkdir(parents=True, exist_ok=True)
    old = _read_manifest(target)
    entries: dict[str, dict[str, Any]] = {}
    own = client is None
    http = client or httpx.Client(follow_redirects=True, timeout=timeout)
    try:
        for rel, url, pinned in spec.files(release_base, hub_base):
            dest = target / rel
            known = (old or {}).get("files", {}).get(rel)
            if known and known.get("url") == url and _intact(dest, known):
                entries[rel] = known
                continue
            size, digest, how = _fetch(http, url, dest, pinned, progress, target)
            entries[rel] = {"url": url, "size": size, "sha256": digest, "verified": how}
    finally:
        if own:
            http.close()
    manifest = {
        "format": _FORMAT, "name": spec.name, "checkpoint": "model.ckpt", "config_dir": "hf",
        "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"), "files": entries,
    }
    _write_atomic(target / MANIFEST, json.dumps(manifest, indent=2).encode())
    return PulledModel(spec.name, target / "model.ckpt", target / "hf",
                       sum(int(e["size"]) for e in entries.values()))


def _intact(path: Path, entry: dict[str, Any]) -> bool:
    return path.is_file() and path.stat().st_size == entry.get("size") \
        and _sha256(path) == entry.get("sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(
    http: httpx.Client, url: str, dest: Path, pinned: str, progress: Progress | None,
    folder: Path,
) -> tuple[int, str, str]:
    """Fetch ``url`` into ``dest`` through ``dest.part``; return size, SHA-256 and how it
    was verified (``pinned``, ``published`` or ``first-use``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    digest = hashlib.sha256()
    try:
        with http.stream("GET", url, headers=headers) as reply:
            if reply.status_code == 416:  # the part file is not a prefix of this file
                part.unlink()
                return _fetch(http, url, dest, pinned, progress, folder)
            if reply.status_code not in (200, 206):
                raise ModelPullError(f"{url}: the server answered {reply.status_code} "
                                     f"{reply.reason_phrase}")
            resumed = reply.status_code == 206
            if resumed:
                _hash_file(part, digest)
                log.info("resuming %s at %d bytes", url, have)
            else:
                have = 0
            total = _total(reply, have)
            published = reply.headers.get("x-linked-etag", "").strip('"').lower()
            done = have
            with part.open("ab" if resumed else "wb") as fh:
                for chunk in reply.iter_bytes():  # as it arrives: a cut keeps all
                    fh.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(dest.name, done, total)
    except httpx.TransportError as exc:
        host = httpx.URL(url).host
        kept = part.stat().st_size if part.is_file() else 0
        resume = (f" The {kept / 1e6:.1f} MB fetched so far are kept in {part} and resumed "
                  "on the next `livepilot models pull`." if kept else "")
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            advice = (f" Is this machine online, and may it reach {host}? Without internet "
                      f"access: pull on another machine and copy {folder} to the same place "
                      "here, or point LIVEPILOT_DETOXIFY_CHECKPOINT and "
                      "LIVEPILOT_DETOXIFY_CONFIG_DIR at files of your own.")
        else:
            advice = " The download broke off; run the same command again."
        raise ModelPullError(
            f"cannot download {url}: {type(exc).__name__}: {exc or 'no answer'}.{resume}{advice}"
        ) from exc
    if total is not None and done != total:
        raise ModelPullError(f"{url}: got {done} of {total} bytes; run the pull again to resume")
    got = digest.hexdigest()
    expected, how = (pinned, "pinned") if pinned else (published, "published")
    if not _HEX.match(expected or ""):
        expected, how = "", "first-use"
    if expected and not got.startswith(expected):
        part.unlink()
        raise ModelPullError(
            f"{url}: SHA-256 {got} does not match the {how} checksum {expected}…; the "
            "download was deleted. The file on the server is not the one livepilot knows: "
            "do not use it."
        )
    os.replace(part, dest)
    return done, got, how


def _hash_file(path: Path, digest: Any) -> None:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)


def _total(reply: httpx.Response, have: int) -> int | None:
    length = reply.headers.get("content-length")
    if length is None or not length.isdigit():
        return None
    return have + int(length)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read_manifest(target: Path) -> dict[str, Any] | None:
    path = target / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == _FORMAT else None


def find_pulled(models_dir: Path, name: str, *, verify: bool = True) -> PulledModel:
    """The pulled model ``name``; with ``verify`` every file is re-hashed against the
    manifest (a few seconds for a GB: done once per process, off the event loop).

    Raises :class:`FileNotFoundError` (not pulled, with the command that pulls it) or
    :class:`~livepilot.errors.ModelPullError` (a file changed since it was pulled).
    """
    target = model_dir(models_dir, name)
    manifest = _read_manifest(target)
    if manifest is None:
        raise FileNotFoundError(
            f"Detoxify {name!r} is not in {models_dir}: run `livepilot models pull {name}`"
        )
    for rel, entry in manifest.get("files", {}).items():
        path = target / rel
        if not path.is_file():
            raise ModelPullError(f"{path} is missing: run `livepilot models pull {name}` again")
        if path.stat().st_size != entry.get("size") or (
            verify and _sha256(path) != entry.get("sha256")
        ):
            raise ModelPullError(
                f"{path} changed since it was pulled (size or SHA-256 differs from "
                f"{target / MANIFEST}): run `livepilot models pull {name}` again"
            )
    files = manifest.get("files", {})
    return PulledModel(name, target / str(manifest.get("checkpoint", "model.ckpt")),
                       target / str(manifest.get("config_dir", "hf")),
                       sum(int(e.get("size", 0)) for e in files.values()))


def cached_models(models_dir: Path) -> list[dict[str, Any]]:
    """What ``livepilot models list`` shows: one row per model folder in the cache."""
    rows: list[dict[str, Any]] = []
    if not models_dir.is_dir():
        return rows
    for folder in sorted(models_dir.glob("detoxify-*")):
        name = folder.name.removeprefix("detoxify-")
        manifest = _read_manifest(folder)
        if manifest is None:
            partial = sum(p.stat().st_size for p in folder.rglob("*.part"))
            rows.append({"name": name, "state": "incomplete", "size": partial, "path": folder})
            continue
        try:
            found = find_pulled(models_dir, name, verify=False)
        except (FileNotFoundError, ModelPullError) as exc:
            rows.append({"name": name, "state": f"broken: {exc}", "size": 0, "path": folder})
            continue
        checks = {e.get("verified", "?") for e in manifest.get("files", {}).values()}
        rows.append({
            "name": name, "state": "ready", "size": found.size, "path": folder,
            "pulled_at": manifest.get("pulled_at", ""), "verified": ",".join(sorted(checks)),
        })
    return rows
