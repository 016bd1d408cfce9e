"""Checks a running compose stack end to end, from the host (not part of the test suite:
it needs Docker and the stack up).

    cd deploy && docker compose up -d --build --scale worker=2
    python smoke.py                 # reads the tokens from .env beside this file
    python smoke.py --failover      # also kills the worker running a stream (needs 2 workers)

It checks: the API's /readyz; the console page with the console token; a moderator
command sent to the API (POST /api/commands) reaching the stages of the worker that runs
the stream and coming back on the console WebSocket; every livepilot target of Prometheus
up (the API and each worker replica); with --failover, how long the stream takes to run
again in another worker after its worker is killed (SIGKILL: its lease has to lapse).
Needs httpx and websockets (installed with livepilot). Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

HERE = Path(__file__).resolve().parent


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def compose(*args: str, env_file: Path) -> str:
    return subprocess.run(
        ["docker", "compose", "--env-file", str(env_file), *args],
        cwd=HERE, check=True, capture_output=True, text=True,
    ).stdout


def worker_addresses(env_file: Path) -> dict[str, str]:
    """Container id → IP address of every running worker replica."""
    ids = compose("ps", "-q", "worker", env_file=env_file).split()
    found: dict[str, str] = {}
    for cid in ids:
        out = subprocess.run(
            ["docker", "inspect", "-f",
             "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cid],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        if out:
            found[cid] = out[0]
    return found


async def runs(http: httpx.AsyncClient, address: str, stream: str, auth: dict[str, str]) -> bool:
    """Whether the worker at ``address`` runs ``stream`` itself (holds its lease)."""
    try:
        listed = (await http.get(f"http://{address}:8080/api/streams", headers=auth)).json()
    except (httpx.HTTPError, ValueError):
        return False
    return any(s["stream"] == stream and not s.get("remote") and s["pipeline"] == "running"
               for s in listed)


def ok(what: str) -> None:
    print(f"ok    {what}", flush=True)


def fail(what: str) -> None:
    print(f"FAIL  {what}", flush=True)
    sys.exit(1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, default=HERE / ".env")
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--stream", default="demo", help="a stream of streams.yaml")
    parser.add_argument("--failover", action="store_true")
    args = parser.parse_args()
    env = read_env(args.env_file)
    token = env["LIVEPILOT_CONSOLE_TOKEN"]
    auth = {"Authorization": f"Bearer {token}"}
    ws_base = args.api.replace("http", "ws", 1)

    async with httpx.AsyncClient(timeout=10) as http:
        ready = await http.get(f"{args.api}/readyz")
        if ready.status_code != 200:
            fail(f"/readyz answered {ready.status_code}: {ready.text[:200]}")
        ok(f"/readyz 200 {ready.text[:120]}")

        page = await http.get(f"{args.api}/", params={"token": token})
        if page.status_code != 200 or "<html" not in page.text.lower():
            fail(f"console page answered {page.status_code}")
        ok(f"console page 200 ({len(page.text)} bytes)")
        denied = await http.get(f"{args.api}/api/streams")
        if denied.status_code not in (401, 403):
            fail(f"/api/streams without a token answered {denied.status_code}")
        ok(f"/api/streams without a token refused ({denied.status_code})")

        # A chat message of the stream, hidden by a command sent to the API: the worker
        # that runs the stream applies it and the decision comes back to the console.
        async with connect(f"{ws_base}/ws/console?token={token}", compression=None) as ws:
            # A message that arrives live, not one of the backlog sent on connecting (it
            # may predate the pipeline now running the stream).
            target = None
            connected = time.monotonic()
            deadline = connected + 30
            while target is None and time.monotonic() < deadline:
                for m in json.loads(await asyncio.wait_for(ws.recv(), 30)):
                    if (m.get("type") == "insight" and m.get("stream") == args.stream
                            and not m.get("hidden") and time.monotonic() - connected > 2):
                        target = m["event_id"]
            if target is None:
                fail(f"no insight of stream {args.stream!r} on the console within 30 s")
            started = time.monotonic()
            sent = await http.post(f"{args.api}/api/commands", headers=auth, json={
                "stream": args.stream, "action": "hide", "target": target,
            })
            if sent.status_code != 202:
                fail(f"POST /api/commands answered {sent.status_code}: {sent.text[:200]}")
            decision = None
            while decision is None and time.monotonic() - started < 15:
                for m in json.loads(await asyncio.wait_for(ws.recv(), 15)):
                    if m.get("type") == "moderation" and m.get("event_id") == target:
                        decision = m
            if decision is None or decision.get("moderator") is not True:
                fail(f"the hide of {target} did not come back from the worker: {decision}")
            ok(f"command hide {target}: 202, applied by the worker and back on the console "
               f"in {(time.monotonic() - started) * 1000:.0f} ms (state {decision['state']})")

        workers = worker_addresses(args.env_file)
        deadline = time.monotonic() + 40
        while True:
            targets = (await http.get(f"{args.prometheus}/api/v1/targets")).json()
            mine = [t for t in targets["data"]["activeTargets"]
                    if t["labels"].get("job") == "livepilot"]
            up = sorted(f"{t['labels'].get('role')}={t['labels']['instance']}"
                        for t in mine if t["health"] == "up")
            if len(up) == len(mine) == len(workers) + 1:
                break
            if time.monotonic() > deadline:
                seen = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in mine]
                fail(f"Prometheus livepilot targets: {seen} "
                     f"(expected the API and {len(workers)} worker(s))")
            await asyncio.sleep(2)
        ok(f"Prometheus: {len(up)} livepilot targets up: {', '.join(up)}")

        if not args.failover:
            return
        if len(workers) < 2:
            fail("--failover needs two workers (docker compose up -d --scale worker=2)")
        holders = [cid for cid, ip in workers.items() if await runs(http, ip, args.stream, auth)]
        if len(holders) != 1:
            fail(f"stream {args.stream!r} runs in {len(holders)} workers, expected 1")
        victim = holders[0]
        subprocess.run(  # noqa: ASYNC221 - nothing else runs while the worker is killed
            ["docker", "kill", victim], check=True, capture_output=True)
        killed = time.monotonic()
        others = {cid: ip for cid, ip in workers.items() if cid != victim}
        while True:
            taken = [cid for cid, ip in others.items()
                     if await runs(http, ip, args.stream, auth)]
            if taken:
                break
            if time.monotonic() - killed > 30:
                fail(f"stream {args.stream!r} not taken over within 30 s")
            await asyncio.sleep(0.25)
        moved = time.monotonic() - killed
        ok(f"killed worker {victim[:12]}; stream {args.stream!r} runs in {taken[0][:12]} "
           f"after {moved:.1f} s")
        if moved > 15:
            fail(f"failover took {moved:.1f} s (more than 15 s)")


if __name__ == "__main__":
    asyncio.run(main())
