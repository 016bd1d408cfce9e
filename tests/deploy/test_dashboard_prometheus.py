"""Every query of the Grafana dashboard, run by a real Prometheus against real livepilot.

The deployment of deploy/compose.yaml in one test: a worker (the simulated demo stream and
a second stream that reports a data gap, on the Redis bus, recording to the store) and an
API process (no streams of its own, reading the bus) run under uvicorn; Debian's
``prometheus`` scrapes both every second with deploy/prometheus/prometheus.yml and its
alert rules. A console connects, a moderator starts a poll and answers questions, a bad
token is tried. Then every panel's PromQL — Grafana's variables replaced as Grafana does —
goes through Prometheus's HTTP API and must return a number, and every alert rule must
evaluate without error.

Needs Prometheus (``LIVEPILOT_TEST_PROMETHEUS``, default /usr/bin/prometheus; ``./dev test``
installs it) and Redis (``LIVEPILOT_TEST_REDIS_URL``); fails, never skips, without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from livepilot.events import GapEvent, StatusEvent, StreamState
from livepilot.sources.base import Source
from livepilot.sources.simulator import Simulator
from livepilot.store import StoreSettings
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    OpenSource,
    RunningServer,
    running_server,
    settings_for_tests,
)

sys.path.insert(0, str(Path(__file__).parent))
from deploy_dashboard import DEPLOY, Query, load_dashboard, queries, substitute

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]

PROMETHEUS = os.environ.get("LIVEPILOT_TEST_PROMETHEUS", "/usr/bin/prometheus")
REDIS_URL = os.environ.get("LIVEPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}
#: What Grafana puts in for its variables, for a Prometheus scraping every second and the
#: default "last 5 minutes" range with every stream selected.
VARIABLES = {
    "stream": ".*",
    "__rate_interval": "10s",
    "__interval": "1s",
    "__range": "5m",
    "datasource": "prometheus",
}
#: How long Prometheus gets to have every panel filled (it scrapes every second).
DEADLINE_S = 30.0


def _bound_socket() -> socket.socket:
    """A socket on a free port, bound before Prometheus is told about it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def _livepilot(
    sources: list[Source], prefix: str, data_dir: Path, sock: socket.socket
) -> AsyncIterator[RunningServer]:
    """One livepilot process as ``livepilot demo``/``serve`` wires it: the Redis bus,
    counting into the app's registry, and the streams recorded as stream history."""
    settings = settings_for_tests(bus="redis", redis_url=REDIS_URL, redis_prefix=prefix)
    async with running_server(
        sources, settings, store=StoreSettings(data_dir=data_dir), sock=sock
    ) as server:
        yield server


@contextlib.asynccontextmanager
async def _console(api: RunningServer) -> AsyncIterator[None]:
    """A console connected to the API process, reading what it is sent like a browser
    does (a client that stops reading is one the hub drops)."""
    async with connect(f"{api.ws}/ws/console?token={TEST_CONSOLE_TOKEN}",
                       compression=None) as ws:

        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass

        reader = asyncio.create_task(read(), name="console-reader")
        try:
            yield
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def _prometheus_config(targets: dict[str, str], path: Path) -> None:
    """deploy/prometheus/prometheus.yml with this test's targets, every second."""
    config: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    )
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "livepilot")
    job["static_configs"] = [
        {"targets": [target], "labels": {"role": role}} for role, target in targets.items()
    ]
    job.pop("dns_sd_configs", None)  # the scaled compose workers; here static targets
    config["scrape_configs"] = [job]
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


@contextlib.contextmanager
def _running_prometheus(
    config: Path, storage: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(
            f"no Prometheus at {PROMETHEUS}: run the tests with ./dev test, which installs "
            "Debian's prometheus, or set LIVEPILOT_TEST_PROMETHEUS"
        )
    log = (storage.parent / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _gap_stream(now: float) -> OpenSource:
    """A second stream whose source was deaf for ten seconds and then came back."""
    return OpenSource("ops", [
        StatusEvent(id="ops-1", stream="ops", at=now, received=now, state=StreamState.CONNECTED),
        GapEvent(id="ops-2", stream="ops", at=now, received=now, start=now - 12.0, end=now - 2.0,
                 cause="connection_lost"),
    ])


async def _scraping(
    http: httpx.AsyncClient, prom: str, targets: int, process: subprocess.Popen[bytes]
) -> None:
    """Until Prometheus has scraped every target successfully (so the actions below land
    between scrapes, where ``increase`` sees them)."""
    deadline = asyncio.get_running_loop().time() + 15.0
    while asyncio.get_running_loop().time() < deadline:
        assert process.poll() is None, "prometheus exited (see prometheus.log in tmp_path)"
        with contextlib.suppress(httpx.TransportError):
            reply = await http.get(f"{prom}/api/v1/query", params={"query": 'up{job="livepilot"}'})
            if sum(float(r["value"][1]) for r in reply.json()["data"]["result"]) == targets:
                return
        await asyncio.sleep(0.25)
    raise AssertionError(f"prometheus did not scrape the {targets} livepilot targets in 15 s")


async def _act_like_a_team(
    worker: RunningServer, api: RunningServer, http: httpx.AsyncClient
) -> None:
    """What moderators do: a poll (an alarm), two answered questions a few scrapes apart
    (a response time Prometheus sees increase); and somebody with a wrong token, and a
    foreign page opening the console socket."""
    try:
        async with connect(f"{api.ws}/ws/console?token={TEST_CONSOLE_TOKEN}",
                           origin=Origin("http://evil.example"), compression=None) as foreign:
            await asyncio.wait_for(foreign.recv(), 5.0)
        raise AssertionError("a page of a foreign origin was served the console socket")
    except (InvalidStatus, ConnectionClosed):
        pass  # refused, and counted
    poll = {"question": "Rot oder Blau?", "options": ["Rot", "Blau"]}
    started = await http.post(f"{worker.base}/api/commands", headers=AUTH,
                              json={"stream": "demo", "action": "poll_start", "args": poll})
    assert started.status_code == 202, started.text
    refused = await http.get(f"{api.base}/api/streams",
                             headers={"Authorization": "Bearer wrong-token"})
    assert refused.status_code in (401, 403)
    answered: set[str] = set()
    deadline = asyncio.get_running_loop().time() + 30.0
    while len(answered) < 2:
        items = (await http.get(f"{worker.base}/api/streams/demo/questions", headers=AUTH)).json()
        open_items = [i["id"] for i in items
                      if i.get("state") == "open" and i["id"] not in answered]
        if not open_items:
            assert asyncio.get_running_loop().time() < deadline, (
                f"the demo stream asked no question to answer in 30 s: {items}"
            )
            await asyncio.sleep(0.5)  # the simulator asks every few seconds
            continue
        reply = await http.post(
            f"{worker.base}/api/commands", headers=AUTH, json={
                "stream": "demo", "action": "answer", "target": open_items[0], "by": "lena"
            })
        assert reply.status_code == 202, reply.text
        answered.add(open_items[0])
        await asyncio.sleep(2.5)  # the next answer lands in a later scrape


async def _evaluate(http: httpx.AsyncClient, base: str, query: Query) -> tuple[str, str]:
    """("", "") when the query returns a number, else what it returned."""
    expr = substitute(query.expr, VARIABLES)
    reply = await http.get(f"{base}/api/v1/query", params={"query": expr})
    body = reply.json()
    if body.get("status") != "success":
        return expr, f"error: {body.get('error')}"
    result = body["data"]["result"]
    values = [float(r["value"][1]) for r in result]
    if not values:
        return expr, "no data"
    if all(math.isnan(v) for v in values):
        return expr, "only NaN"
    return "", ""


async def _missing(http: httpx.AsyncClient, base: str, all_queries: list[Query]) -> list[str]:
    results = await asyncio.gather(*(_evaluate(http, base, q) for q in all_queries))
    return [
        f"{q.panel} [{q.ref}] {why}: {expr}"
        for q, (expr, why) in zip(all_queries, results, strict=True)
        if why
    ]


async def _rule_problems(http: httpx.AsyncClient, base: str) -> list[str]:
    groups = (await http.get(f"{base}/api/v1/rules")).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    if not rules:
        return ["no alert rules loaded"]
    return [f"{r['name']}: {r['health']} {r.get('lastError', '')}" for r in rules
            if r["health"] != "ok"]


async def _until_every_query_answers(
    http: httpx.AsyncClient, prom: str, all_queries: list[Query],
    process: subprocess.Popen[bytes],
) -> None:
    """Evaluate every query once a second until each returns a number, every alert rule
    evaluates and the ``stream`` variable lists both streams; fail with what is missing
    after ``DEADLINE_S``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        assert process.poll() is None, "prometheus exited (see prometheus.log in tmp_path)"
        missing = await _missing(http, prom, all_queries)
        problems = await _rule_problems(http, prom)
        streams = (await http.get(
            f"{prom}/api/v1/label/stream/values", params={"match[]": "livepilot_stream_state"}
        )).json()["data"]
        if not missing and not problems and {"demo", "ops"} <= set(streams):
            return
        if loop.time() > deadline:
            raise AssertionError(
                f"after {DEADLINE_S:.0f} s of scraping every second, {len(missing)} of "
                f"{len(all_queries)} dashboard queries return no number:\n  "
                + "\n  ".join(missing)
                + ("\nalert rules: " + "; ".join(problems) if problems else "")
                + f"\n$stream values: {streams}"
            )
        await asyncio.sleep(1.0)


async def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    redis_prefix: str, tmp_path: Path
) -> None:
    all_queries = queries(load_dashboard())
    assert len(all_queries) >= 30
    now = time.time()
    demo = Simulator("demo", seed=3, speed=4.0, raids=True)
    worker_sock, api_sock = _bound_socket(), _bound_socket()
    config = tmp_path / "prometheus.yml"
    _prometheus_config(
        {"worker": f"127.0.0.1:{worker_sock.getsockname()[1]}",
         "api": f"127.0.0.1:{api_sock.getsockname()[1]}"},
        config,
    )
    with _bound_socket() as spare:
        prom_port = spare.getsockname()[1]
    prom = f"http://127.0.0.1:{prom_port}"
    # Prometheus first: it is scraping by the time the models are loaded.
    with (
        worker_sock,
        api_sock,
        _running_prometheus(config, tmp_path / "tsdb", prom_port) as process,
    ):
        async with (
            _livepilot([demo, _gap_stream(now)], redis_prefix, tmp_path / "worker", worker_sock)
            as worker,
            _livepilot([], redis_prefix, tmp_path / "api", api_sock) as api,
            httpx.AsyncClient(timeout=5.0) as http,
            _console(api),
        ):
            await _scraping(http, prom, 2, process)
            await _act_like_a_team(worker, api, http)
            await _until_every_query_answers(http, prom, all_queries, process)
