"""Models load once per process and are shared by every stream in it.

A model is tens to hundreds of megabytes (the German model's weights, the language
identifier, Detoxify); built per stream, five streams held five copies. The
:class:`ModelRegistry` is created by the composition root (the stream service) and
handed to the stage factories in their context; a factory asks it for a model by its
identity (what it is built from: a file path, a runtime, a language) and gets the one
instance there is.

A model that runs off the event loop gets one :class:`ModelWorker`: one thread that runs
the model's batches for every stream. Its queue is per stream, served round robin, so a
stream that floods its lane gets one batch in turn like every other stream and cannot
starve them: another stream's batch waits for at most one batch per busy stream ahead of
it. Each stream keeps its own micro-batcher (queue, priorities, shedding, cache); only
the thread and the model are shared, and each batch's results go back to the stream that
submitted it, through the future it was given.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from livepilot.ml.scorer import ScorerStatus

__all__ = ["ModelRegistry", "ModelWorker"]

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")


class _Runs(Protocol[R]):
    name: str

    @property
    def status(self) -> ScorerStatus: ...

    def load(self) -> None: ...

    def score(self, texts: Sequence[str]) -> list[R]: ...


@dataclass(slots=True)
class _Work(Generic[R]):
    texts: list[str]
    future: Future[list[R]]


def _lower_priority() -> None:
    """Run the model thread (and the threads its runtime starts from it, which inherit
    the priority) at a lower CPU priority than the event loop: on a small box the model
    and the chat share cores, and the chat must win."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
    except (AttributeError, OSError):  # not Linux, or not permitted: run as is
        pass


class ModelWorker(Generic[R]):
    """One thread running ``scorer``: loads it once, then scores the batches that the
    streams submit, one stream after the other (round robin).

    Thread-safe; results are :class:`concurrent.futures.Future` objects, so any event
    loop (or none) can wait for them. A cancelled future that has not started is skipped.
    """

    def __init__(self, scorer: _Runs[R]) -> None:
        self.scorer = scorer
        self._cond = threading.Condition()
        #: stream → its waiting batches; the order of the keys is the round-robin order.
        self._queues: OrderedDict[str, deque[_Work[R]]] = OrderedDict()
        self._loaded: Future[None] = Future()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Batches run per stream (for tests and benchmarks).
        self.served: dict[str, int] = {}

    def _start(self) -> None:
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._main, name=f"model-{self.scorer.name}", daemon=True
                )
                self._thread.start()

    def loaded(self) -> Future[None]:
        """Done once the scorer's ``load`` has run (on this worker's thread)."""
        self._start()
        return self._loaded

    def submit(self, stream: str, texts: Sequence[str]) -> Future[list[R]]:
        """Queue a batch of ``stream``'s texts; the future holds one result per text."""
        future: Future[list[R]] = Future()
        with self._cond:
            if self._closed:
                future.set_exception(RuntimeError(f"model worker {self.scorer.name} is closed"))
                return future
            self._queues.setdefault(stream, deque()).append(_Work(list(texts), future))
            self._cond.notify()
        self._start()
        return future

    @property
    def depth(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def close(self) -> None:
        """Stop after the batch in flight; waiting batches are cancelled. Does not block."""
        with self._cond:
            self._closed = True
            waiting = [w for q in self._queues.values() for w in q]
            self._queues.clear()
            self._cond.notify_all()
        for work in waiting:
            work.future.cancel()

    def _next(self) -> tuple[str, _Work[R]] | None:
        """The oldest batch of the stream whose turn it is; that stream goes last."""
        with self._cond:
            while not self._closed:
                for stream, queue in self._queues.items():
                    work = queue.popleft()
                    if queue:
                        self._queues.move_to_end(stream)
                    else:
                        del self._queues[stream]
                    return stream, work
                self._cond.wait()
            return None

    def _main(self) -> None:
        _lower_priority()
        try:
            self.scorer.load()
        except BaseException as exc:  # load() reports through status; this is a bug
            log.error("model %s failed to load", self.scorer.name, exc_info=True)
            self._loaded.set_exception(exc)
        else:
            self._loaded.set_result(None)
        while (item := self._next()) is not None:
            stream, work = item
            if not work.future.set_running_or_notify_cancel():
                continue  # its stream stopped waiting
            try:
                result = self.scorer.score(work.texts)
            except BaseException as exc:
                work.future.set_exception(exc)
            else:
                work.future.set_result(result)
            self.served[stream] = self.served.get(stream, 0) + 1


class ModelRegistry:
    """The models of one process, by identity, and one :class:`ModelWorker` per model
    that runs off the loop. Created by the composition root; :meth:`close` stops the
    workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[Hashable, Any] = {}
        self._workers: dict[int, ModelWorker[Any]] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The model built for ``key``, building it now if this is the first ask. A build
        that raises is not remembered (the next ask tries again)."""
        with self._lock:
            if key in self._models:
                found: T = self._models[key]
                return found
        model = build()  # outside the lock: loading may take seconds
        with self._lock:
            return self._models.setdefault(key, model)  # type: ignore[no-any-return]

    def worker(self, scorer: _Runs[R]) -> ModelWorker[R]:
        """The one worker thread for ``scorer`` (a model from :meth:`get`)."""
        with self._lock:
            worker = self._workers.get(id(scorer))
            if worker is None or worker.scorer is not scorer:
                worker = self._workers[id(scorer)] = ModelWorker(scorer)
            return worker

    def keys(self) -> list[Hashable]:
        """The identities of the models loaded so far."""
        with self._lock:
            return list(self._models)

    def close(self) -> None:
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.close()
