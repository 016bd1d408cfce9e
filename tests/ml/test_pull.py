"""``livepilot models pull`` against a real HTTP server on 127.0.0.1 serving a tiny
Detoxify-format checkpoint built here: success, checksum mismatch, an interrupted
download that resumes (or restarts when the server ignores ranges), offline, a file
changed after the pull, and the scorer finding the pulled model by name."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livepilot.cli import app
from livepilot.errors import ModelPullError
from livepilot.metrics import Metrics
from livepilot.ml.pull import ModelSpec, cached_models, find_pulled, pull_model
from livepilot.ml.tiny_checkpoint import write_tiny_checkpoint
from livepilot.pipeline.context import StageContext
from livepilot.settings import Settings
from livepilot.stages.moderation.toxicity import build

# Building the checkpoint and loading it through PyTorch is slow on a busy 2-core box.
pytestmark = pytest.mark.timeout(240)

WORDS = "hello chat gg you are bad lol du bist so dumm nice stream".split()


@dataclass
class Files:
    """What the test server serves, and how it misbehaves."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    #: path → bytes to send before dropping the connection (once).
    cut: dict[str, int] = field(default_factory=dict)
    ranges: bool = True
    #: path → the X-Linked-Etag to publish (the hub does so for large files).
    etags: dict[str, str] = field(default_factory=dict)
    seen_ranges: list[str] = field(default_factory=list)


def _handler(files: Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            blob = files.blobs.get(self.path)
            if blob is None:
                self.send_error(404)
                return
            start = 0
            wanted = self.headers.get("Range")
            if wanted and files.ranges:
                files.seen_ranges.append(wanted)
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                if start >= len(blob):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
            else:
                self.send_response(200)
            body = blob[start:]
            self.send_header("Content-Length", str(len(body)))
            if self.path in files.etags:
                self.send_header("X-Linked-Etag", f'"{files.etags[self.path]}"')
            self.end_headers()
            cut = files.cut.pop(self.path, None)
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    return Handler


@dataclass
class Server:
    url: str
    files: Files
    spec: ModelSpec


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # A released-style checkpoint: it names a hub model, so it needs the config files.
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), WORDS,
                                 model_type="bert-base-uncased", margin=3.0)


@pytest.fixture
def server(tiny: tuple[Path, Path]) -> Iterator[Server]:
    checkpoint, config_dir = tiny
    ckpt = checkpoint.read_bytes()
    files = Files(blobs={
        "/rel/v1/tiny-model.ckpt": ckpt,
        "/hub/org/tiny-bert/resolve/main/config.json": (config_dir / "config.json").read_bytes(),
        "/hub/org/tiny-bert/resolve/main/vocab.txt": (config_dir / "vocab.txt").read_bytes(),
    })
    vocab = files.blobs["/hub/org/tiny-bert/resolve/main/vocab.txt"]
    files.etags["/hub/org/tiny-bert/resolve/main/vocab.txt"] = hashlib.sha256(vocab).hexdigest()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    spec = ModelSpec("multilingual", "v1/tiny-model.ckpt", hashlib.sha256(ckpt).hexdigest()[:8],
                     "org/tiny-bert", ("config.json", "vocab.txt"))
    try:
        yield Server(url, files, spec)
    finally:
        httpd.shutdown()
        httpd.server_close()


def pull(server: Server, models: Path, spec: ModelSpec | None = None) -> Path:
    pulled = pull_model(spec or server.spec, models, release_base=f"{server.url}/rel/",
                        hub_base=f"{server.url}/hub/")
    return pulled.checkpoint


def test_pull_verifies_and_the_stage_finds_the_model_by_name(
    server: Server, tmp_path: Path, tiny: tuple[Path, Path]
) -> None:
    checkpoint = pull(server, tmp_path)
    assert checkpoint.read_bytes() == tiny[0].read_bytes()
    assert not list(tmp_path.rglob("*.part"))
    found = find_pulled(tmp_path, "multilingual")
    assert (found.config_dir / "vocab.txt").is_file()
    (row,) = cached_models(tmp_path)
    assert row["state"] == "ready" and row["verified"] == "first-use,pinned,published"
    # The settings name the model; no path is given anywhere.
    settings = Settings(detoxify="multilingual", models_dir=tmp_path, detoxify_runtime="torch",
                        toxicity_german_inline=False)
    stage = build(StageContext(settings, Metrics()))
    import asyncio

    asyncio.run(stage.prefetch(["you are bad lol"]))
    detox = stage.status[1]
    assert detox["available"] is True, detox
    # A second pull finds everything in place and downloads nothing.
    server.files.blobs.clear()
    assert pull(server, tmp_path) == checkpoint


def test_a_checksum_mismatch_deletes_the_download(server: Server, tmp_path: Path) -> None:
    wrong = replace(server.spec, sha256="deadbeef")
    with pytest.raises(ModelPullError, match="does not match the pinned checksum deadbeef"):
        pull(server, tmp_path, wrong)
    folder = tmp_path / "detoxify-multilingual"
    assert not (folder / "model.ckpt").exists()
    assert not list(folder.rglob("*.part")), "the bad download must be gone"
    assert cached_models(tmp_path)[0]["state"] == "incomplete"
    with pytest.raises(FileNotFoundError, match="livepilot models pull multilingual"):
        find_pulled(tmp_path, "multilingual")


def test_a_published_checksum_is_checked(server: Server, tmp_path: Path) -> None:
    server.files.etags["/hub/org/tiny-bert/resolve/main/vocab.txt"] = "0" * 64
    with pytest.raises(ModelPullError, match="published checksum"):
        pull(server, tmp_path)


@pytest.mark.parametrize("ranges", [True, False], ids=["resumes", "restarts"])
def test_an_interrupted_download_resumes_or_restarts(
    server: Server, tmp_path: Path, tiny: tuple[Path, Path], ranges: bool
) -> None:
    path = "/rel/v1/tiny-model.ckpt"
    half = len(server.files.blobs[path]) // 2
    server.files.cut[path] = half
    server.files.ranges = ranges
    with pytest.raises(ModelPullError, match=r"kept in .*model\.ckpt\.part and resumed"):
        pull(server, tmp_path)
    part = tmp_path / "detoxify-multilingual" / "model.ckpt.part"
    assert part.stat().st_size == half
    assert not (tmp_path / "detoxify-multilingual" / "model.ckpt").exists()
    checkpoint = pull(server, tmp_path)
    assert checkpoint.read_bytes() == tiny[0].read_bytes()
    assert server.files.seen_ranges == ([f"bytes={half}-"] if ranges else [])
    assert not part.exists()


def test_offline_gives_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = CliRunner()
    result = runner.invoke(
        app, ["models", "pull", "multilingual", "--release-base", f"http://127.0.0.1:{port}/",
              "--hub-base", f"http://127.0.0.1:{port}/"],
        env={"LIVEPILOT_MODELS_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "cannot download http://127.0.0.1" in result.output
    assert "Is this machine online" in result.output
    assert "LIVEPILOT_DETOXIFY_CHECKPOINT" in result.output
    listed = runner.invoke(app, ["models", "list"], env={"LIVEPILOT_MODELS_DIR": str(tmp_path)})
    assert "multilingual" in listed.output and "incomplete" in listed.output


def test_a_file_changed_after_the_pull_is_refused(server: Server, tmp_path: Path) -> None:
    checkpoint = pull(server, tmp_path)
    data = bytearray(checkpoint.read_bytes())
    data[-1] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(ModelPullError, match="changed since it was pulled"):
        find_pulled(tmp_path, "multilingual")
    settings = Settings(detoxify="multilingual", models_dir=tmp_path, detoxify_runtime="torch")
    stage = build(StageContext(settings, Metrics()))
    import asyncio

    asyncio.run(stage.prefetch(["you are bad lol"]))
    detox = stage.status[1]
    assert detox["available"] is False and "changed since it was pulled" in str(detox["reason"])
    # Pulling again repairs it.
    pull(server, tmp_path)
    find_pulled(tmp_path, "multilingual")


def test_the_catalog_names_the_official_release_files() -> None:
    from livepilot.ml.pull import CATALOG

    for name, spec in CATALOG.items():
        url, = [u for p, u, _ in spec.files("https://r/", "https://h/") if p == "model.ckpt"]
        # torch.hub's convention: the hex after the last dash starts the SHA-256
        assert url.endswith(f"-{spec.sha256}.ckpt"), name
        assert (name == "multilingual") == ("xlm-roberta" in spec.hub_repo)
