"""ML toxicity: the word filter's hits at once, the models' verdict as a late update.

``process`` runs on every chat message and stays cheap: it routes the language, turns the
word filter's hits into a verdict through :class:`~livepilot.ml.policy.ToxicityPolicy`
and writes it into the draft (``scores["toxicity"]``, a ``toxic`` label with its kind, a
reason, ``review``/``hide``). Then, if the message needs a model (it has letters and the
rules have not already decided it), it offers the text to the model lane — a
:class:`~livepilot.ml.batcher.MicroBatcher` running :class:`~livepilot.ml.lane.ToxicityLane`
(the German model, plus Detoxify if configured) batched on a worker thread — and marks the
draft ``pending``. ``run`` consumes the lane's results and publishes version 1 of the same
insight with the merged verdict. Nobody waits for a model; a text the lane has seen
recently is answered from its cache at once.

Why the German model belongs in the lane: alone it costs ~150 µs a message on the loop
(~25 µs batched on the worker thread), which at 2,000 events/s pushes every console's p99
up several-fold. ``german_inline=True`` (``LIVEPILOT_TOXICITY_GERMAN_INLINE``; headless replay
always sets it, to be reproducible) runs it in ``process`` instead,
so its verdict is in version 0 and only Detoxify, if configured, comes late. Either way
the final verdict is the same: what the lane finds is merged exactly as inline evidence.

Without ``LIVEPILOT_DETOXIFY_CHECKPOINT`` only the German model runs and nothing is loaded
from the network; :attr:`ToxicityStage.status` tells the console why.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from livepilot.errors import ConfigError
from livepilot.events import ChatEvent, CommandEvent, LiveEvent, QuestionEvent
from livepilot.insights import Insight, Label, Reason
from livepilot.metrics import Metrics
from livepilot.ml.batcher import BatcherConfig, Job, MicroBatcher, Results
from livepilot.ml.german import GermanModel, GermanVerdict
from livepilot.ml.lane import LaneScores, ToxicityLane
from livepilot.ml.language import Language, LanguageRouter
from livepilot.ml.policy import Evidence, PolicyConfig, ToxicityPolicy, Verdict
from livepilot.ml.scorer import Scorer, ScorerStatus
from livepilot.ml.text import normalize
from livepilot.pipeline.stage import ACTION_ORDER, Draft, LateSink, Outbox

if TYPE_CHECKING:
    from livepilot.pipeline.context import StageContext
    from livepilot.settings import Settings

__all__ = ["ToxicityStage", "build", "build_scorer", "score_texts"]

log = logging.getLogger(__name__)

_LETTER = re.compile(r"[^\W\d_]")


@dataclass(slots=True)
class _Pending:
    draft: Draft
    evidence: Evidence
    queued: float


class ToxicityStage:
    """The ``toxicity`` stage (a :class:`~livepilot.pipeline.stage.BackgroundStage`).

    ``german`` is the German model; it runs in the model lane unless ``german_inline``.
    ``scorer`` is the slower model (Detoxify), always in the lane. ``batcher`` configures
    the lane (batch size and wait, queue, shedding).
    """

    name = "toxicity"

    def __init__(
        self,
        policy: ToxicityPolicy,
        german: GermanModel | None,
        router: LanguageRouter,
        metrics: Metrics,
        scorer: Scorer | None = None,
        *,
        german_inline: bool = False,
        batcher: BatcherConfig | None = None,
        pending_size: int = 4096,
        german_status: ScorerStatus | None = None,
    ) -> None:
        self.policy = policy
        self._german = german
        self._router = router
        self._metrics = metrics
        lane_german = None if german_inline else german
        self._lane: ToxicityLane | None = None
        self._batcher: MicroBatcher[LaneScores] | None = None
        if lane_german is not None or scorer is not None:
            on_error = metrics.toxicity_errors.labels(scorer.name).inc if scorer else None
            self._lane = ToxicityLane(lane_german, scorer, on_model_error=on_error)
            self._batcher = MicroBatcher(self._lane, batcher or BatcherConfig(), metrics)
        #: Whether ``process`` runs the German model itself (else the lane does).
        self.german_inline = german is not None and lane_german is None
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._pending_size = pending_size
        # Set while no update is owed; drain() waits for it.
        self._idle = asyncio.Event()
        self._idle.set()
        self._german_status = german_status or ScorerStatus(
            "german", german is not None, "" if german is not None else "not loaded"
        )
        self.published = 0

    @property
    def status(self) -> list[dict[str, object]]:
        """Per scorer: ``{"scorer", "available", "reason"}``, for the console."""
        out = [self._german_status.as_dict()]
        model = self._lane.model if self._lane is not None else None
        if model is not None:
            out.append(model.status.as_dict())
        else:
            out.append(
                ScorerStatus(
                    "detoxify", False, "LIVEPILOT_DETOXIFY_CHECKPOINT is not set"
                ).as_dict()
            )
        return out

    # -- the synchronous part -------------------------------------------------------

    def evidence(self, text: str, word_hits: Sequence[Label], *, german: bool = True) -> Evidence:
        """What is known about ``text`` without the lane: its language, the word hits and,
        if ``german``, the German model's verdict (computed here, on the caller's thread)."""
        language = self._router.route(text)
        verdict: GermanVerdict | None = None
        if german and self._german is not None and language != "other" and _LETTER.search(text):
            verdict = self._german.predict([text])[0]
        return Evidence(language=language, word_hits=tuple(word_hits), german=verdict)

    def judge(self, text: str, word_hits: Sequence[Label] = ()) -> Verdict:
        """The verdict for one text from the rules and the German model, synchronously.

        Runs the German model on the calling thread: not for use while the lane runs.
        """
        return self.policy.decide(self.evidence(text, word_hits))

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if not isinstance(event, ChatEvent | QuestionEvent):
            return
        text = event.text
        hits = _word_hits(draft, self.name, self.policy.config.review)
        evidence = self.evidence(text, hits, german=self.german_inline)
        batcher = self._batcher
        if batcher is None or not self._wants_model(text, hits):
            _apply(draft, self.name, self.policy.decide(evidence))
            return
        key = normalize(text)
        cached = batcher.cached(key)
        if cached is not None:
            _apply(draft, self.name, self.policy.decide(self._merge(evidence, cached)))
            return
        verdict = self.policy.decide(evidence)
        _apply(draft, self.name, verdict)
        # Uncertain: the verdict so far saw something but not enough to hide. Under
        # overload only these reach the lane.
        uncertain = self._uncertain(verdict)
        if not self._needs_lane(evidence, uncertain):
            return
        if batcher.offer(Job(event.id, text, priority=uncertain, cache_key=key)):
            draft.pending.append(self.name)
            self._pending[event.id] = _Pending(draft, evidence, time.monotonic())
            self._idle.clear()
            while len(self._pending) > self._pending_size:
                self._pending.popitem(last=False)

    def _uncertain(self, verdict: Verdict) -> bool:
        cfg = self.policy.config
        return cfg.review * 0.4 <= verdict.score < cfg.hide

    def _wants_model(self, text: str, hits: Sequence[Label]) -> bool:
        if not _LETTER.search(text):
            return False  # emote-only, numbers, punctuation
        if hits and any(h.score is None or h.score >= self.policy.config.hide for h in hits):
            return False  # the rules already decided
        return True

    def _needs_lane(self, evidence: Evidence, uncertain: bool) -> bool:
        """Whether a model in the lane has something to say about this message."""
        lane = self._lane
        assert lane is not None
        if lane.german is not None and evidence.language != "other":
            return True
        return lane.model is not None and self._model_judges(evidence, uncertain)

    def _model_judges(self, evidence: Evidence, uncertain: bool) -> bool:
        # A model that does not know German only gets a say on German text the rules and
        # the German model left uncertain (its score counts half there anyway).
        lane = self._lane
        assert lane is not None and lane.model is not None
        return evidence.language != "de" or lane.model.covers_german or uncertain

    def _merge(self, evidence: Evidence, result: LaneScores) -> Evidence:
        """``evidence`` with what the lane found, as the inline path would have seen it."""
        lane = self._lane
        assert lane is not None
        if result.german is not None and evidence.language != "other":
            evidence = replace(evidence, german=result.german)
        model = lane.model
        if result.model is None or model is None:
            return evidence
        if not self._model_judges(evidence, self._uncertain(self.policy.decide(evidence))):
            return evidence
        return replace(evidence, model=result.model, model_name=model.name,
                       model_covers_german=model.covers_german)

    def update(self, event_id: str, scores: LaneScores | None) -> Insight | None:
        """Version 1 of a pending event's insight with the lane's verdict merged in.

        ``None`` scores (shed or failed) still produce an update that clears ``pending``.
        Returns ``None`` if the event is no longer pending (evicted from the bounded map).
        """
        entry = self._pending.pop(event_id, None)
        if entry is None:
            return None
        base = entry.draft.freeze()
        if scores is None:
            return base.model_copy(
                update={"version": base.version + 1, "pending": _without(base.pending, self.name)}
            )
        verdict = self.policy.decide(self._merge(entry.evidence, scores))
        labels = tuple(lb for lb in base.labels if lb.source != self.name)
        reasons = tuple(r for r in base.reasons if r.source != self.name)
        if verdict.action is not None:
            labels += (Label(name="toxic", source=self.name, kind=verdict.kind,
                             score=verdict.score),)
            reasons += tuple(Reason(source=self.name, text=t) for t in verdict.reasons)
        action = base.action
        if verdict.action is not None and ACTION_ORDER[verdict.action] > ACTION_ORDER[action]:
            action = verdict.action
        return base.model_copy(
            update={
                "version": base.version + 1,
                "labels": labels,
                "reasons": reasons,
                "scores": {**base.scores, **verdict.scores, "toxicity": verdict.score},
                "action": action,
                "hidden": base.hidden or verdict.hidden,
                "pending": _without(base.pending, self.name),
            }
        )

    def tick(self, now: float, out: Outbox) -> None:
        pass

    # -- the background part --------------------------------------------------------

    async def run(self, late: LateSink) -> None:
        if self._batcher is None:
            return

        async def consume(results: Results[LaneScores]) -> None:
            latency = self._metrics.toxicity_update_latency
            updates: list[Insight | CommandEvent] = []
            queued: list[float] = []
            for job, scores in results:
                entry = self._pending.get(job.key)
                insight = self.update(job.key, scores)
                if insight is None or entry is None:
                    continue
                updates.append(insight)
                strike = _strike_for(entry.draft, insight, self.name)
                if strike is not None:
                    updates.append(strike)
                queued.append(entry.queued)
            if updates:
                await late(updates)  # the whole batch in one publish
                self.published += len(queued)
                done = time.monotonic()
                for at in queued:
                    latency.observe(done - at)
            if not self._pending:
                self._idle.set()

        await self._batcher.run(consume)

    async def drain(self) -> None:
        """Return once every pending event's update has been published."""
        await self._idle.wait()


def _strike_for(draft: Draft, insight: Insight, source: str) -> CommandEvent | None:
    """A strike for the author when only the model's late verdict flagged the message:
    the moderation stage saw version 0, which had no ``toxic`` label to count."""
    event = draft.event
    if draft.has("toxic") or not insight.has("toxic"):
        return None
    if not isinstance(event, ChatEvent | QuestionEvent):
        return None
    kind = next((lb.kind for lb in insight.labels if lb.name == "toxic"), None)
    return CommandEvent(
        id=f"{event.id}:strike",
        stream=event.stream,
        at=event.at,
        received=event.received,
        action="strike",
        target=event.user.id,
        by=source,
        args={"label": "toxic", "kind": kind, "handle": event.user.unique_id},
    )


def _word_hits(draft: Draft, own: str, review: float) -> list[Label]:
    """Other stages' ``toxic`` labels, each with a score: its own, else 1.0 when the rules
    hid the message (high/medium severity) and the review threshold when they did not."""
    fallback = 1.0 if draft.hidden else review
    return [
        lb if lb.score is not None else lb.model_copy(update={"score": fallback})
        for lb in draft.labels
        if lb.name == "toxic" and lb.source != own
    ]


def _without(pending: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(p for p in pending if p != name)


def _apply(draft: Draft, source: str, verdict: Verdict) -> None:
    draft.scores["toxicity"] = verdict.score
    draft.scores.update(verdict.scores)
    if verdict.action is None:
        return
    draft.label("toxic", source, kind=verdict.kind, score=verdict.score)
    for text in verdict.reasons:
        draft.reason(source, text)
    draft.recommend(verdict.action)
    if verdict.hidden:
        draft.hidden = True


def build_scorer(settings: Settings) -> Scorer | None:
    """The slow-lane scorer the settings ask for, or ``None`` (the default: German only)."""
    if settings.detoxify_checkpoint is None:
        return None
    if settings.detoxify_runtime == "onnx":
        from livepilot.ml.onnx_lane import OnnxDetoxifyScorer

        return OnnxDetoxifyScorer(
            settings.detoxify_checkpoint, settings.detoxify_config_dir,
            model_type=settings.detoxify_model,
        )
    from livepilot.ml.detoxify_scorer import DetoxifyScorer

    return DetoxifyScorer(
        model_type=settings.detoxify_model,
        checkpoint=settings.detoxify_checkpoint,
        config_dir=settings.detoxify_config_dir,
        device=settings.detoxify_device,
    )


def _router_language(settings: Settings) -> Language:
    language = getattr(settings, "host_language", "de")
    return "en" if language == "en" else "de"


def build(ctx: StageContext) -> ToxicityStage:
    s = ctx.settings
    try:
        policy = ToxicityPolicy(PolicyConfig(review=s.toxicity_review, hide=s.toxicity_hide))
    except ValueError as exc:
        raise ConfigError(
            f"LIVEPILOT_TOXICITY_REVIEW ({s.toxicity_review}) must be below "
            f"LIVEPILOT_TOXICITY_HIDE ({s.toxicity_hide})"
        ) from exc
    german: GermanModel | None
    try:
        german = GermanModel.load(s.toxicity_german_model)
        german_status = ScorerStatus("german", True)
    except ConfigError as exc:
        log.error("German toxicity model unavailable: %s", exc)
        german, german_status = None, ScorerStatus("german", False, str(exc))
    scorer = build_scorer(s)
    if scorer is None:
        log.info("toxicity: German model only (set LIVEPILOT_DETOXIFY_CHECKPOINT for Detoxify)")
    if s.toxicity_overload_depth > s.toxicity_queue_size:
        raise ConfigError(
            f"LIVEPILOT_TOXICITY_OVERLOAD_DEPTH ({s.toxicity_overload_depth}) must not "
            f"exceed LIVEPILOT_TOXICITY_QUEUE_SIZE ({s.toxicity_queue_size})"
        )
    config = BatcherConfig(
        max_batch=s.toxicity_batch_size,
        max_wait=s.toxicity_batch_wait_ms / 1000,
        queue_size=s.toxicity_queue_size,
        overload_depth=s.toxicity_overload_depth,
        max_age=s.toxicity_max_age,
    )
    router = LanguageRouter(default=_router_language(s))
    router.load()  # at start-up, not on the first chat message (~0.5 s)
    return ToxicityStage(
        policy,
        german,
        router,
        ctx.metrics,
        scorer,
        german_inline=s.toxicity_german_inline,
        batcher=config,
        # Never smaller than what the batcher can hold, so no owed update is forgotten.
        pending_size=max(4096, s.toxicity_queue_size + 4 * s.toxicity_batch_size),
        german_status=german_status,
    )


def score_texts(
    texts: Sequence[str], settings: Settings, *, metrics: Metrics | None = None
) -> list[Insight]:
    """Judge texts as chat messages, synchronously: the final insight per text.

    Runs the word filter (if it is in ``settings.stages``) and this stage, then the model
    lane (the German model, and Detoxify if configured: loaded here) on this thread, so
    the result is what the console shows once the late update has arrived. This is
    ``livepilot score``.
    """
    from livepilot.events import User
    from livepilot.pipeline.context import StageContext
    from livepilot.pipeline.runner import Pipeline
    from livepilot.stages.registry import STAGES

    ctx = StageContext(settings, metrics or Metrics(), stream="score")
    names = [n for n in ("word_filter",) if n in settings.stages]
    stage = build(ctx)
    pipeline = Pipeline([*(STAGES[n](ctx) for n in names), stage], ctx.metrics)
    batcher, lane = stage._batcher, stage._lane
    if lane is not None:
        lane.load()
        if lane.model is not None and not lane.model.status.available:
            log.warning("scorer %s unavailable: %s", lane.model.name, lane.model.status.reason)
    user = User(id="score", unique_id="score")
    results: dict[str, Insight] = {}
    order: list[str] = []
    step = batcher.config.max_batch if batcher is not None else 256
    for start in range(0, len(texts), step):
        for i, text in enumerate(texts[start : start + step], start=start):
            event = ChatEvent(id=f"score-{i}", stream="score", at=0.0, received=0.0,
                              user=user, text=text)
            order.append(event.id)
            for message in pipeline.handle(event, 0.0):
                if isinstance(message, Insight):
                    results[event.id] = message
        if batcher is None:
            continue
        jobs = batcher.take_all()
        if not jobs:
            continue
        try:
            scored: Sequence[LaneScores | None] = batcher.scorer.score([j.text for j in jobs])
        except Exception:
            log.error("scorer %s failed", batcher.scorer.name, exc_info=True)
            scored = [None] * len(jobs)
        for job, scores in zip(jobs, scored, strict=True):
            late = stage.update(job.key, scores)
            if late is not None:
                results[job.key] = late
    return [results[key] for key in order]
