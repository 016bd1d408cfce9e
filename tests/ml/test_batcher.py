"""The micro-batcher: batching, waiting, shedding, contained scorer errors, the cache."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Sequence

import pytest

from livepilot.metrics import Metrics
from livepilot.ml.batcher import BatcherConfig, Job, MicroBatcher, Results
from livepilot.ml.scorer import ScorerStatus, Scores, UnavailableScorer


class LengthScorer:
    """A real, cheap scorer: toxicity = share of upper-case letters. It can be held
    (to play a slow model) and fails on any batch containing "boom"."""

    name = "length"
    covers_german = True

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    @property
    def status(self) -> ScorerStatus:
        return ScorerStatus(self.name, True)

    def load(self) -> None:
        pass

    def score(self, texts: Sequence[str]) -> list[Scores]:
        self.started.set()
        self.gate.wait(5)
        self.batches.append(list(texts))
        if any("boom" in t for t in texts):
            raise RuntimeError("model exploded")
        return [{"toxicity": sum(c.isupper() for c in t) / max(len(t), 1)} for t in texts]


class Collected:
    def __init__(self) -> None:
        self.results: list[tuple[str, Scores | None]] = []
        self.changed = asyncio.Event()

    async def __call__(self, results: Results) -> None:
        self.results.extend((job.key, scores) for job, scores in results)
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.results) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)


def shed(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value("livepilot_toxicity_shed_total", {"reason": reason})
    return value or 0.0


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_batches_up_to_max_batch(running: list[asyncio.Task[None]]) -> None:
    scorer, metrics, got = LengthScorer(), Metrics(), Collected()
    batcher = MicroBatcher(scorer, BatcherConfig(max_batch=4, max_wait=0.05), metrics)
    for i in range(10):
        assert batcher.offer(Job(f"e{i}", f"text {i}"))
    running.append(asyncio.create_task(batcher.run(got)))
    await got.wait_for(10)
    assert [len(b) for b in scorer.batches] == [4, 4, 2]
    assert [key for key, _ in got.results] == [f"e{i}" for i in range(10)]
    assert all(scores is not None for _, scores in got.results)
    assert batcher.scored == 10


async def test_waits_at_most_max_wait_and_not_at_all_when_full(
    running: list[asyncio.Task[None]],
) -> None:
    loop = asyncio.get_running_loop()
    scorer, got = LengthScorer(), Collected()
    lone = MicroBatcher(scorer, BatcherConfig(max_batch=8, max_wait=0.08), Metrics())
    running.append(asyncio.create_task(lone.run(got)))
    await asyncio.sleep(0)
    started = loop.time()
    lone.offer(Job("a", "hallo"))
    await got.wait_for(1)
    assert 0.07 <= loop.time() - started < 1.0  # waited for company, then went alone

    scorer2, got2 = LengthScorer(), Collected()
    full = MicroBatcher(scorer2, BatcherConfig(max_batch=2, max_wait=10.0), Metrics())
    running.append(asyncio.create_task(full.run(got2)))
    await asyncio.sleep(0)
    started = loop.time()
    full.offer(Job("a", "eins"))
    full.offer(Job("b", "zwei"))
    await got2.wait_for(2)
    assert loop.time() - started < 1.0  # a full batch does not wait out max_wait
    assert scorer2.batches == [["eins", "zwei"]]


async def test_sheds_under_overload_keeping_uncertain_messages(
    running: list[asyncio.Task[None]],
) -> None:
    scorer, metrics, got = LengthScorer(), Metrics(), Collected()
    config = BatcherConfig(max_batch=1, max_wait=0, queue_size=4, overload_depth=2)
    batcher = MicroBatcher(scorer, config, metrics)
    scorer.gate.clear()  # the model is stuck on its first batch
    running.append(asyncio.create_task(batcher.run(got)))
    batcher.offer(Job("first", "x"))
    await asyncio.to_thread(scorer.started.wait, 5)

    assert batcher.offer(Job("o1", "a"))
    assert batcher.offer(Job("o2", "b"))
    assert not batcher.offer(Job("o3", "c"))  # past overload_depth: ordinary shed
    assert shed(metrics, "overload") == 1
    assert batcher.offer(Job("p1", "d", priority=True))
    assert batcher.offer(Job("p2", "e", priority=True))
    assert batcher.depth == 4
    assert batcher.offer(Job("p3", "f", priority=True))  # full: evicts the oldest ordinary
    assert shed(metrics, "evicted") == 1
    assert batcher.offer(Job("p4", "g", priority=True))
    assert not batcher.offer(Job("p5", "h", priority=True))  # full of priority jobs
    assert shed(metrics, "full") == 1

    scorer.gate.set()
    await got.wait_for(7)
    results = dict(got.results)
    assert results["o1"] is None and results["o2"] is None  # evicted, reported as unscored
    assert all(results[k] is not None for k in ("first", "p1", "p2", "p3", "p4"))


async def test_stale_jobs_are_not_scored(running: list[asyncio.Task[None]]) -> None:
    now = [100.0]
    scorer, metrics, got = LengthScorer(), Metrics(), Collected()
    batcher = MicroBatcher(
        scorer, BatcherConfig(max_batch=8, max_wait=0, max_age=2.0), metrics,
        monotonic=lambda: now[0],
    )
    batcher.offer(Job("old", "alt"))
    now[0] += 5.0
    batcher.offer(Job("new", "neu"))
    running.append(asyncio.create_task(batcher.run(got)))
    await got.wait_for(2)
    assert dict(got.results)["old"] is None
    assert dict(got.results)["new"] is not None
    assert scorer.batches == [["neu"]]
    assert shed(metrics, "stale") == 1


async def test_scorer_errors_are_contained(
    running: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    scorer, metrics, got = LengthScorer(), Metrics(), Collected()
    batcher = MicroBatcher(scorer, BatcherConfig(max_batch=2, max_wait=0), metrics)
    running.append(asyncio.create_task(batcher.run(got)))
    batcher.offer(Job("a", "boom"))
    batcher.offer(Job("b", "fine"))
    await got.wait_for(2)
    batcher.offer(Job("c", "STILL WORKS"))
    await got.wait_for(3)
    results = dict(got.results)
    assert results["a"] is None and results["b"] is None
    assert results["c"] == {"toxicity": pytest.approx(10 / 11)}
    errors = metrics.registry.get_sample_value(
        "livepilot_toxicity_scorer_errors_total", {"scorer": "length"}
    )
    assert errors == 1
    assert "scorer length failed on a batch of 2" in caplog.text
    assert not running[0].done()


async def test_caches_scores_of_repeated_texts(running: list[asyncio.Task[None]]) -> None:
    scorer, got = LengthScorer(), Collected()
    batcher = MicroBatcher(scorer, BatcherConfig(max_wait=0, cache_size=2), Metrics())
    running.append(asyncio.create_task(batcher.run(got)))
    for key in ("one", "two", "three"):
        batcher.offer(Job(key, key.upper(), cache_key=key))
        await got.wait_for(len(got.results) + 1)
    assert batcher.cached("one") is None  # evicted: the cache is bounded
    assert batcher.cached("three") == {"toxicity": 1.0}


def test_unavailable_scorer_gets_nothing() -> None:
    metrics = Metrics()
    batcher = MicroBatcher(UnavailableScorer("detoxify", "no weights"), BatcherConfig(), metrics)
    assert not batcher.offer(Job("a", "text"))
    assert shed(metrics, "unavailable") == 1


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="overload_depth"):
        BatcherConfig(queue_size=4, overload_depth=8)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="needs os.getpriority")
async def test_scorer_runs_below_the_event_loop_priority(
    running: list[asyncio.Task[None]],
) -> None:
    seen: list[int] = []

    class Probe(LengthScorer):
        def load(self) -> None:
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    got = Collected()
    batcher = MicroBatcher(Probe(), BatcherConfig(max_wait=0), Metrics())
    running.append(asyncio.create_task(batcher.run(got)))
    batcher.offer(Job("a", "x"))
    await got.wait_for(1)
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen and (seen[0] > loop_priority or loop_priority == 19)


async def test_highest_priority_first_and_drops_reported_at_once(
    running: list[asyncio.Task[None]],
) -> None:
    """While the model is stuck on a batch, an evicted job's result (``None``, reason
    ``overload``) is delivered at once, not after the stuck batch; the next batch takes
    the highest priorities first, oldest first within one."""
    scorer, metrics, got = LengthScorer(), Metrics(), Collected()
    config = BatcherConfig(max_batch=3, max_wait=0, queue_size=4, overload_depth=4)
    batcher = MicroBatcher(scorer, config, metrics)
    scorer.gate.clear()
    running.append(asyncio.create_task(batcher.run(got)))
    batcher.offer(Job("stuck", "x"))
    await asyncio.to_thread(scorer.started.wait, 5)
    jobs = [Job("low1", "a", priority=0), Job("mid", "b", priority=1),
            Job("low2", "c", priority=0), Job("top", "d", priority=3)]
    for job in jobs:
        assert batcher.offer(job)
    assert batcher.offer(Job("top2", "e", priority=3))  # full: evicts low1
    await got.wait_for(1)
    assert got.results == [("low1", None)] and jobs[0].reason == "overload"
    assert not scorer.batches  # the stuck batch is still running
    scorer.gate.set()
    await got.wait_for(6)
    assert scorer.batches[1] == ["d", "e", "b"]  # top, top2, mid; low2 waits
    assert scorer.batches[2] == ["c"]
    assert batcher.shed_total == 1


async def test_score_now_scores_everything_without_the_queue() -> None:
    scorer, metrics = LengthScorer(), Metrics()
    batcher = MicroBatcher(scorer, BatcherConfig(max_batch=3, queue_size=1, overload_depth=1),
                           metrics)
    texts = [f"Text {i}" for i in range(8)]
    scores = await batcher.score_now(texts)
    assert [len(b) for b in scorer.batches] == [3, 3, 2]
    assert scores == [{"toxicity": 1 / 6}] * 8
    assert batcher.depth == 0 and batcher.shed_total == 0
    assert shed(metrics, "overload") == shed(metrics, "full") == 0
