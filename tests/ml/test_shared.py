"""Models load once per process: every stream's toxicity stage gets the same model
objects and the same model thread, and that thread serves the streams round robin, so a
flood on one stream does not hold up another's verdicts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from livepilot.metrics import Metrics
from livepilot.ml.batcher import BatcherConfig, Job, MicroBatcher, Results
from livepilot.ml.scorer import ScorerStatus
from livepilot.ml.shared import ModelRegistry, ModelWorker
from livepilot.ml.tiny_checkpoint import write_tiny_checkpoint
from livepilot.pipeline.context import StageContext
from livepilot.settings import Settings
from livepilot.stages.moderation.toxicity import ToxicityStage, build


class SlowScorer:
    """Takes ``per_text`` seconds a text (really, on the worker thread) and records
    which stream's texts each batch held."""

    name = "slow"
    covers_german = False

    def __init__(self, per_text: float) -> None:
        self.per_text = per_text
        self.batches: list[str] = []
        self.loads = 0
        self.threads: set[int] = set()

    @property
    def status(self) -> ScorerStatus:
        return ScorerStatus(self.name, True)

    def load(self) -> None:
        self.loads += 1

    def score(self, texts: Sequence[str]) -> list[float]:
        self.threads.add(threading.get_ident())
        self.batches.append(texts[0].split(":")[0])
        time.sleep(self.per_text * len(texts))
        return [float(len(t)) for t in texts]


@pytest.mark.timeout(240)  # builds four toxicity stages' worth of models (three shared)
def test_streams_share_the_model_objects(tmp_path: Path) -> None:
    checkpoint, config_dir = write_tiny_checkpoint(tmp_path, ["hello", "du"])
    settings = Settings(detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir,
                        models_dir=tmp_path / "models")
    models = ModelRegistry()
    stages = [build(StageContext(settings, Metrics(), f"s{i}", models=models)) for i in range(3)]
    assert all(isinstance(s, ToxicityStage) for s in stages)
    first = stages[0]
    for other in stages[1:]:
        assert other._german is first._german and other._german is not None
        assert other._router is first._router
        lane = first._lane
        assert lane is not None and other._lane is lane and lane.model is not None
        assert other._batcher is not first._batcher  # each stream its own queue …
        assert other._batcher is not None and first._batcher is not None
        assert other._batcher.worker() is first._batcher.worker()  # … one model thread
    # Without a registry (a stage built on its own) nothing is shared.
    alone = build(StageContext(settings, Metrics(), "x"))
    assert alone._german is not first._german


async def test_a_flood_on_one_stream_does_not_starve_another() -> None:
    scorer = SlowScorer(per_text=0.002)
    worker: ModelWorker[float] = ModelWorker(scorer)
    config = BatcherConfig(max_batch=16, max_wait=0.001, queue_size=1024, overload_depth=1024,
                           max_age=60)
    flood = MicroBatcher(scorer, config, Metrics(), worker=worker, stream="a")
    calm = MicroBatcher(scorer, config, Metrics(), worker=worker, stream="b")
    got: dict[str, list[tuple[str, float | None]]] = {"a": [], "b": []}
    b_done = asyncio.Event()
    a_done = asyncio.Event()
    a_going = asyncio.Event()

    def consumer(stream: str, until: int, done: asyncio.Event):  # type: ignore[no-untyped-def]
        async def consume(results: Results[float]) -> None:
            got[stream].extend((job.key, score) for job, score in results)
            if len(got[stream]) >= 48:
                a_going.set()
            if len(got[stream]) >= until:
                done.set()
        return consume

    for i in range(400):  # 25 batches of 16: ~0.8 s of model time
        assert flood.offer(Job(f"a{i}", f"a:{i}"))
    try:
        async with asyncio.TaskGroup() as tasks:
            runs = [tasks.create_task(flood.run(consumer("a", 400, a_done))),
                    tasks.create_task(calm.run(consumer("b", 3, b_done)))]
            await asyncio.wait_for(a_going.wait(), 10)  # the flood is well under way
            offered = time.monotonic()
            a_before = scorer.batches.count("a")
            for i in range(3):
                assert calm.offer(Job(f"b{i}", f"b:{i}xx"))
            await asyncio.wait_for(b_done.wait(), 5)
            waited = time.monotonic() - offered
            a_between = scorer.batches.count("a") - a_before
            await asyncio.wait_for(a_done.wait(), 10)
            for run in runs:
                run.cancel()
    except* asyncio.CancelledError:
        pass
    finally:
        worker.close()
    # B waited for at most the A batch in flight and the one A had queued, not A's backlog.
    assert a_between <= 2, scorer.batches
    assert waited < 0.5, waited  # two A batches are ~0.07 s; A's backlog is ~0.8 s
    # Every result went back to the stream that asked, with its own score.
    assert sorted(k for k, _ in got["b"]) == ["b0", "b1", "b2"]
    assert all(s == float(len(f"b:{k[1:]}xx")) for k, s in got["b"])
    assert len(got["a"]) == 400 and all(k.startswith("a") for k, _ in got["a"])
    assert scorer.loads == 1 and len(scorer.threads) == 1


def test_the_worker_serves_streams_round_robin() -> None:
    scorer = SlowScorer(per_text=0.0)
    worker: ModelWorker[float] = ModelWorker(scorer)
    gate = threading.Event()
    original = scorer.score

    def held(texts: Sequence[str]) -> list[float]:
        gate.wait(5)
        return original(texts)

    scorer.score = held  # type: ignore[method-assign]
    first = worker.submit("a", ["a:0"])  # occupies the thread until the gate opens
    while not first.running():
        time.sleep(0.001)
    futures = [worker.submit("a", [f"a:{i}"]) for i in range(1, 4)]
    futures += [worker.submit("b", ["b:0"]), worker.submit("c", ["c:0"]),
                worker.submit("b", ["b:1"])]
    gate.set()
    for future in [first, *futures]:
        future.result(5)
    worker.close()
    assert scorer.batches == ["a", "a", "b", "c", "a", "b", "a"]


def test_a_closed_worker_cancels_what_waits() -> None:
    scorer = SlowScorer(per_text=0.05)
    worker: ModelWorker[float] = ModelWorker(scorer)
    running = worker.submit("a", ["a:0"])
    waiting = worker.submit("b", ["b:0"])
    while not scorer.batches:
        time.sleep(0.001)
    worker.close()
    assert running.result(5) == [3.0]
    assert waiting.cancelled()
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit("a", ["a:1"]).result(1)
