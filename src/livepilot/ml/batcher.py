"""Micro-batching for a model lane: queue on the loop, score in a worker thread.

``offer`` is synchronous and never blocks: the stage calls it from ``process``. ``run``
is the background task: it waits for work, lets a batch fill for at most ``max_wait``
seconds (a batch that is already full goes at once; while a batch is being scored the
next one fills up by itself, so batches grow exactly when the model falls behind), and
hands the texts to the scorer on a single dedicated thread — one batch in flight.

Overload policy (every drop is counted in ``livepilot_toxicity_shed{reason}``):

* past ``overload_depth`` queued jobs, only *priority* jobs (those the cheap stages left
  uncertain) are accepted; the rest are shed at the door (``overload``);
* a full queue makes room for a priority job by dropping the oldest ordinary one
  (``evicted``), or sheds the newcomer (``full``);
* a job older than ``max_age`` when its batch starts is not scored (``stale``): a verdict
  that arrives seconds late helps nobody on a live overlay.

The batcher does not care what a score is: it is generic over the scorer's result type
(Detoxify's category scores, or the toxicity lane's German verdict plus those scores).

Dropped jobs that were accepted are still reported to the consumer with ``None`` scores,
so a pending mark can be cleared. A scorer that raises is logged and counted; its batch
is reported as ``None`` and the batcher goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from livepilot.metrics import Metrics
from livepilot.ml.scorer import LOADING, ScorerStatus

__all__ = ["BatchScorer", "BatcherConfig", "Job", "MicroBatcher", "Results"]

R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatcherConfig:
    max_batch: int = 32
    max_wait: float = 0.005
    queue_size: int = 512
    overload_depth: int = 128
    max_age: float = 2.0
    cache_size: int = 4096

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.queue_size < 1 or self.cache_size < 0:
            raise ValueError("max_batch and queue_size must be ≥ 1, cache_size ≥ 0")
        if not 0 < self.overload_depth <= self.queue_size:
            raise ValueError("overload_depth must be in 1..queue_size")
        if self.max_wait < 0 or self.max_age <= 0:
            raise ValueError("max_wait must be ≥ 0 and max_age > 0")


@dataclass(slots=True)
class Job:
    """One text to score. ``key`` ties the result back (the event id)."""

    key: str
    text: str
    priority: bool = False
    #: Cache key (normalised text); defaults to the text itself.
    cache_key: str = ""
    queued: float = field(default=0.0)


class BatchScorer(Protocol[R]):
    """What the batcher runs: a :class:`~livepilot.ml.scorer.Scorer`, or any model lane
    with the same shape whose ``score`` returns one result of type ``R`` per text."""

    #: The metric label of the lane.
    name: str

    @property
    def status(self) -> ScorerStatus: ...

    def load(self) -> None: ...

    def score(self, texts: Sequence[str]) -> list[R]: ...


#: What the consumer gets per batch: each job with its result, or ``None`` if it was not
#: scored (shed after it was accepted, or the scorer failed).
Results = Sequence[tuple[Job, R | None]]


def _lower_priority() -> None:
    """Run the scorer thread (and the threads its runtime starts from it, which inherit
    the priority) at a lower CPU priority than the event loop: on a small box the model
    and the chat share cores, and the chat must win."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
    except (AttributeError, OSError):  # not Linux, or not permitted: run as is
        pass


class MicroBatcher(Generic[R]):
    def __init__(
        self,
        scorer: BatchScorer[R],
        config: BatcherConfig,
        metrics: Metrics,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scorer = scorer
        self.config = config
        self._metrics = metrics
        self._now = monotonic
        self._queue: deque[Job] = deque()
        self._dropped: list[Job] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._cache: OrderedDict[str, R] = OrderedDict()
        self._shed = {
            reason: metrics.toxicity_shed.labels(reason)
            for reason in ("overload", "evicted", "full", "stale", "unavailable")
        }
        self.scored = 0

    @property
    def depth(self) -> int:
        return len(self._queue)

    def cached(self, cache_key: str) -> R | None:
        hit = self._cache.get(cache_key)
        if hit is not None:
            self._cache.move_to_end(cache_key)
            self._metrics.toxicity_cache.labels("hit").inc()
        return hit

    def _remember(self, cache_key: str, scores: R) -> None:
        if self.config.cache_size == 0:
            return
        self._cache[cache_key] = scores
        self._cache.move_to_end(cache_key)
        while len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)

    def offer(self, job: Job) -> bool:
        """Queue ``job`` unless the overload policy sheds it; never blocks."""
        cfg = self.config
        status = self.scorer.status
        if not status.available and status.reason != LOADING:
            self._shed["unavailable"].inc()
            return False
        if not job.cache_key:
            job.cache_key = job.text
        if len(self._queue) >= cfg.overload_depth and not job.priority:
            self._shed["overload"].inc()
            return False
        if len(self._queue) >= cfg.queue_size:
            victim = next((j for j in self._queue if not j.priority), None)
            if victim is None or not job.priority:
                self._shed["full"].inc()
                return False
            self._queue.remove(victim)
            self._dropped.append(victim)
            self._shed["evicted"].inc()
        job.queued = self._now()
        self._queue.append(job)
        self._metrics.toxicity_cache.labels("miss").inc()
        self._metrics.toxicity_queue.set(len(self._queue))
        self._wake.set()
        if len(self._queue) >= cfg.max_batch:
            self._full.set()
        return True

    def take_all(self) -> list[Job]:
        """Empty the queue and return its jobs (for synchronous use without ``run``)."""
        jobs = [*self._dropped, *self._queue]
        self._queue.clear()
        self._dropped = []
        self._wake.clear()
        self._full.clear()
        self._metrics.toxicity_queue.set(0)
        return jobs

    def _take(self) -> tuple[list[Job], list[Job]]:
        """The next batch, and the jobs that went stale waiting for it."""
        batch: list[Job] = []
        stale: list[Job] = []
        now = self._now()
        while self._queue and len(batch) < self.config.max_batch:
            job = self._queue.popleft()
            if now - job.queued > self.config.max_age:
                stale.append(job)
            else:
                batch.append(job)
        self._shed["stale"].inc(len(stale))
        if len(self._queue) < self.config.max_batch:
            self._full.clear()
        if not self._queue:
            self._wake.clear()
        self._metrics.toxicity_queue.set(len(self._queue))
        return batch, stale

    async def _fill(self) -> None:
        """Wait for the first job, then up to ``max_wait`` for a full batch."""
        await self._wake.wait()
        if len(self._queue) < self.config.max_batch and self.config.max_wait > 0:
            try:
                await asyncio.wait_for(self._full.wait(), self.config.max_wait)
            except TimeoutError:
                pass

    async def run(self, consumer: Callable[[Results[R]], Awaitable[None]]) -> None:
        """Score batches until cancelled; hand each batch's results to ``consumer``."""
        loop = asyncio.get_running_loop()
        name = self.scorer.name
        errors = self._metrics.toxicity_errors.labels(name)
        batch_size = self._metrics.toxicity_batch_size.labels(name)
        seconds = self._metrics.toxicity_batch_seconds.labels(name)
        # Shut down without waiting: a batch still running in the thread must not block
        # the loop on cancellation; its result is simply never read.
        pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"scorer-{name}", initializer=_lower_priority
        )
        try:
            await loop.run_in_executor(pool, self.scorer.load)
            status = self.scorer.status
            if status.available:
                log.info("scorer %s ready", name)
            else:
                log.warning("scorer %s unavailable: %s", name, status.reason)
            while True:
                await self._fill()
                batch, stale = self._take()
                dropped, self._dropped = self._dropped + stale, []
                results: list[tuple[Job, R | None]] = [(j, None) for j in dropped]
                if batch:
                    started = time.perf_counter()
                    texts = [j.text for j in batch]
                    try:
                        scored = await loop.run_in_executor(pool, self.scorer.score, texts)
                        if len(scored) != len(batch):
                            raise ValueError(
                                f"scorer returned {len(scored)} results for {len(batch)} texts"
                            )
                    except Exception:
                        errors.inc()
                        log.error("scorer %s failed on a batch of %d", name, len(batch),
                                  exc_info=True)
                        results.extend((j, None) for j in batch)
                    else:
                        self.scored += len(batch)
                        for job, scores in zip(batch, scored, strict=True):
                            self._remember(job.cache_key, scores)
                            results.append((job, scores))
                    batch_size.observe(len(batch))
                    seconds.observe(time.perf_counter() - started)
                if results:
                    try:
                        await consumer(results)
                    except Exception:
                        log.error("toxicity consumer failed", exc_info=True)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
