"""Micro-batching for a model lane: queue on the loop, score in a worker thread.

``offer`` is synchronous and never blocks: the stage calls it from ``process``. ``run``
is the background task: it waits for work, lets a batch fill for at most ``max_wait``
seconds (a batch that is already full goes at once; while a batch is being scored the
next one fills up by itself, so batches grow exactly when the model falls behind), and
hands the texts to the scorer on the model's one thread — one batch in flight per stream.
That thread is shared by every stream of the process and serves them round robin
(:mod:`livepilot.ml.shared`).

Every job has a ``priority`` (higher first: the toxicity stage ranks messages the rules
left uncertain and messages from viewers it does not trust yet highest). A batch takes
the highest-priority jobs first, oldest first within a priority. Overload policy (every
drop is counted in ``livepilot_toxicity_shed{reason}``):

* past ``overload_depth`` queued jobs, priority-0 jobs are shed at the door
  (``overload``);
* a full queue makes room for a job by dropping the oldest job of the lowest priority
  below its own (``evicted``), or sheds the newcomer (``full``);
* a job older than ``max_age`` when its batch starts is not scored (``stale``): a verdict
  that arrives seconds late helps nobody on a live overlay.

Dropped jobs that were accepted are still reported to the consumer, with ``None`` scores
and :attr:`Job.reason` saying why, at once (not after the batch in flight), so every
owed update goes out. A scorer that raises is logged and counted; its batch is reported
the same way (reason ``error``) and the batcher goes on.

:meth:`MicroBatcher.score_now` is the other way in, for a caller that waits for every
result (``livepilot score``): the texts are scored on the same worker thread, in batches
of ``max_batch``, and nothing is shed. The batcher does not care what a score is: it is
generic over the scorer's result type; a scorer's result for a text must not depend on
the other texts of its batch (the lanes shipped here guarantee it), so how jobs are
grouped never changes a verdict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from prometheus_client import Counter, Histogram

from livepilot.metrics import Metrics
from livepilot.ml.scorer import LOADING, ScorerStatus
from livepilot.ml.shared import ModelWorker

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
    #: Higher is scored first and shed last (``True`` counts as 1).
    priority: int = 0
    #: Cache key (normalised text); defaults to the text itself.
    cache_key: str = ""
    queued: float = field(default=0.0)
    #: Why the job was reported without scores: ``overload`` (evicted or stale),
    #: ``loading`` (stale while the scorer was still loading) or ``error``.
    reason: str = ""


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


class MicroBatcher(Generic[R]):
    """One stream's queue in front of a model. ``worker`` is the model's thread, shared
    with other streams (:class:`~livepilot.ml.shared.ModelWorker`, which serves them
    round robin, ``stream`` naming this one); without it the batcher starts its own."""

    def __init__(
        self,
        scorer: BatchScorer[R],
        config: BatcherConfig,
        metrics: Metrics,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        worker: ModelWorker[R] | None = None,
        stream: str = "default",
    ) -> None:
        if worker is not None and worker.scorer is not scorer:
            raise ValueError("the worker runs another scorer than this batcher's")
        self.scorer = scorer
        self.stream = stream
        self._worker = worker
        self._own_worker = worker is None
        self.config = config
        self._metrics = metrics
        self._now = monotonic
        # One FIFO per priority; at most a handful of priorities are in use.
        self._queues: dict[int, deque[Job]] = {}
        self._size = 0
        self._dropped: list[Job] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._drops = asyncio.Event()
        self._cache: OrderedDict[str, R] = OrderedDict()
        self._shed = {
            reason: metrics.toxicity_shed.labels(reason)
            for reason in ("overload", "evicted", "full", "stale", "unavailable")
        }
        self.scored = 0
        #: Jobs shed or dropped so far because the lane could not keep up (the stage's
        #: overload alarm); ``unavailable`` is not counted here.
        self.shed_total = 0

    @property
    def depth(self) -> int:
        return self._size

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

    def _count_shed(self, reason: str, n: int = 1) -> None:
        self._shed[reason].inc(n)
        if reason != "unavailable":  # a missing model is a status, not an overload
            self.shed_total += n

    def offer(self, job: Job) -> bool:
        """Queue ``job`` unless the overload policy sheds it; never blocks."""
        cfg = self.config
        status = self.scorer.status
        if not status.available and status.reason != LOADING:
            self._count_shed("unavailable")
            return False
        if not job.cache_key:
            job.cache_key = job.text
        if self._size >= cfg.overload_depth and job.priority <= 0:
            self._count_shed("overload")
            return False
        if self._size >= cfg.queue_size:
            victim = self._victim(job.priority)
            if victim is None:
                self._count_shed("full")
                return False
            victim.reason = "overload"
            self._dropped.append(victim)
            self._drops.set()
            self._count_shed("evicted")
        job.queued = self._now()
        queue = self._queues.get(job.priority)
        if queue is None:
            queue = self._queues[job.priority] = deque()
        queue.append(job)
        self._size += 1
        self._metrics.toxicity_cache.labels("miss").inc()
        self._metrics.toxicity_queue.set(self._size)
        self._wake.set()
        if self._size >= cfg.max_batch:
            self._full.set()
        return True

    def _victim(self, below: int) -> Job | None:
        """Remove and return the oldest job of the lowest priority below ``below``."""
        for priority in sorted(self._queues):
            if priority >= below:
                return None
            queue = self._queues[priority]
            if queue:
                self._size -= 1
                return queue.popleft()
        return None

    def _jobs(self) -> list[Job]:
        """Every queued job, highest priority first, oldest first within one."""
        return [j for p in sorted(self._queues, reverse=True) for j in self._queues[p]]

    def take_all(self) -> list[Job]:
        """Empty the queue and return its jobs (for synchronous use without ``run``)."""
        jobs = [*self._dropped, *self._jobs()]
        self._queues.clear()
        self._size = 0
        self._dropped = []
        self._wake.clear()
        self._full.clear()
        self._drops.clear()
        self._metrics.toxicity_queue.set(0)
        return jobs

    def _take(self) -> tuple[list[Job], list[Job]]:
        """The next batch, and the jobs that went stale waiting for it."""
        batch: list[Job] = []
        stale: list[Job] = []
        now = self._now()
        loading = self.scorer.status.reason == LOADING
        for priority in sorted(self._queues, reverse=True):
            queue = self._queues[priority]
            while queue and len(batch) < self.config.max_batch:
                job = queue.popleft()
                self._size -= 1
                if now - job.queued > self.config.max_age:
                    job.reason = "loading" if loading else "overload"
                    stale.append(job)
                else:
                    batch.append(job)
        if stale:
            self._count_shed("stale", len(stale))
        if self._size < self.config.max_batch:
            self._full.clear()
        if not self._size:
            self._wake.clear()
        self._metrics.toxicity_queue.set(self._size)
        return batch, stale

    async def _fill(self) -> None:
        """Wait for the first job, then up to ``max_wait`` for a full batch."""
        await self._wake.wait()
        if self._size < self.config.max_batch and self.config.max_wait > 0:
            try:
                await asyncio.wait_for(self._full.wait(), self.config.max_wait)
            except TimeoutError:
                pass

    def worker(self) -> ModelWorker[R]:
        if self._worker is None:
            self._worker = ModelWorker(self.scorer)
        return self._worker

    async def _load(self) -> None:
        """Wait until the scorer is loaded (once per worker, on its thread)."""
        loaded = self.worker().loaded()
        first = not loaded.done()
        await asyncio.wrap_future(loaded)
        if first:
            status = self.scorer.status
            if status.available:
                log.info("scorer %s ready", self.scorer.name)
            else:
                log.warning("scorer %s unavailable: %s", self.scorer.name, status.reason)

    async def _score(self, texts: list[str]) -> list[R]:
        """``texts`` scored on the worker's thread, in this stream's turn."""
        return await asyncio.wrap_future(self.worker().submit(self.stream, texts))

    async def score_now(self, texts: Sequence[str]) -> list[R]:
        """Score ``texts`` on the worker thread in batches of ``max_batch``, bypassing the
        queue: nothing is shed and nothing is cached. Raises what the scorer raises."""
        await self._load()
        step = self.config.max_batch
        out: list[R] = []
        for start in range(0, len(texts), step):
            chunk = list(texts[start : start + step])
            scored = await self._score(chunk)
            if len(scored) != len(chunk):
                raise ValueError(f"scorer returned {len(scored)} results for {len(chunk)} texts")
            out.extend(scored)
        self.scored += len(out)
        return out

    async def _report_drops(self, consumer: Callable[[Results[R]], Awaitable[None]]) -> None:
        """Hand evicted jobs to the consumer as soon as they are dropped, so their
        updates do not wait for the batch in flight (which may be a slow one)."""
        while True:
            await self._drops.wait()
            self._drops.clear()
            dropped, self._dropped = self._dropped, []
            if dropped:
                await _deliver(consumer, [(j, None) for j in dropped])

    async def run(self, consumer: Callable[[Results[R]], Awaitable[None]]) -> None:
        """Score batches until cancelled; hand each batch's results to ``consumer``."""
        name = self.scorer.name
        errors = self._metrics.toxicity_errors.labels(name)
        batch_size = self._metrics.toxicity_batch_size.labels(name)
        seconds = self._metrics.toxicity_batch_seconds.labels(name)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._report_drops(consumer), name=f"drops-{name}")
                await self._load()
                await self._batches(consumer, errors, batch_size, seconds)
        finally:
            # Stop without waiting: a batch still running in the thread must not block
            # the loop on cancellation; its result is simply never read. A shared worker
            # goes on for the other streams.
            if self._own_worker and self._worker is not None:
                self._worker.close()
                self._worker = None

    async def _batches(
        self,
        consumer: Callable[[Results[R]], Awaitable[None]],
        errors: Counter,
        batch_size: Histogram,
        seconds: Histogram,
    ) -> None:
        name = self.scorer.name
        while True:
            await self._fill()
            batch, stale = self._take()
            results: list[tuple[Job, R | None]] = [(j, None) for j in stale]
            if batch:
                started = time.perf_counter()
                texts = [j.text for j in batch]
                try:
                    scored = await self._score(texts)
                    if len(scored) != len(batch):
                        raise ValueError(
                            f"scorer returned {len(scored)} results for {len(batch)} texts"
                        )
                except Exception:
                    errors.inc()
                    log.error("scorer %s failed on a batch of %d", name, len(batch),
                              exc_info=True)
                    for job in batch:
                        job.reason = "error"
                    results.extend((j, None) for j in batch)
                else:
                    self.scored += len(batch)
                    for job, scores in zip(batch, scored, strict=True):
                        self._remember(job.cache_key, scores)
                        results.append((job, scores))
                batch_size.observe(len(batch))
                seconds.observe(time.perf_counter() - started)
            if results:
                await _deliver(consumer, results)


async def _deliver(
    consumer: Callable[[Results[R]], Awaitable[None]], results: Results[R]
) -> None:
    try:
        await consumer(results)
    except Exception:
        log.error("toxicity consumer failed", exc_info=True)
