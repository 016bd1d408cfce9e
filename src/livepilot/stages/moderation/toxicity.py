"""ML toxicity: the word filter's hits at once, the models' verdict as a late update.

``process`` runs on every chat message and stays cheap: it routes the language, turns the
word filter's hits into a verdict through :class:`~livepilot.ml.policy.ToxicityPolicy`
and writes it into the draft (``scores["toxicity"]``, a ``toxic`` label with its kind, a
reason, ``review``/``hide``). Then, if the message needs a model (it has letters and the
rules have not already decided it), it offers the text to the model lane — a
:class:`~livepilot.ml.batcher.MicroBatcher` running :class:`~livepilot.ml.lane.ToxicityLane`
(the German model, plus Detoxify if configured) batched on a worker thread — and marks the
draft ``pending``. ``run`` consumes the lane's results and publishes version 1 of the same
insight with the merged verdict, its label and reason at the place in the insight where
the rule verdict stood. Nobody waits for a model; a text the lane has seen recently is
answered from its cache at once.

Every chat message ends with exactly one final verdict: a model's, or an explicit
``not_scored`` reason on its insight (``no_letters``, ``rules`` — the word filter already
decided —, ``too_long``, ``no_language``, ``overload``, ``loading``, ``error``,
``unavailable``), counted in ``livepilot_toxicity_not_scored{reason}``. Under overload
the lane sheds by priority (:mod:`~livepilot.ml.triage`: uncertain messages and viewers
not trusted yet are scored first) and the stage raises a ``model_overload`` alarm until
it has caught up.

Why the German model belongs in the lane: alone it costs ~150 µs a message on the loop
(~25 µs batched on the worker thread), which at 2,000 events/s pushes every console's p99
up several-fold. ``german_inline=True`` (``LIVEPILOT_TOXICITY_GERMAN_INLINE``; headless replay
always sets it, to be reproducible) runs it in ``process`` instead,
so its verdict is in version 0 and only Detoxify, if configured, comes late. Either way
the final verdict is the same: what the lane finds is merged exactly as inline evidence,
and a model's scores for a text never depend on the other texts of its batch.

``livepilot score`` calls :meth:`ToxicityStage.prefetch` with each chunk of lines before
it runs them: the lane scores them all (nothing shed, nothing timed), so every line is
judged in ``process`` with its model verdict already known — as inline, whatever the
setting, and the same on every run.

Without ``LIVEPILOT_DETOXIFY`` (a model fetched once with ``livepilot models pull``) or
``LIVEPILOT_DETOXIFY_CHECKPOINT`` only the German model runs; nothing is ever loaded from
the network at run time. :attr:`ToxicityStage.status` tells the console why.
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
from livepilot.ml.detoxify_scorer import DetoxifyFiles
from livepilot.ml.german import GermanModel, GermanVerdict
from livepilot.ml.lane import LaneScores, ToxicityLane
from livepilot.ml.language import Language, LanguageRouter
from livepilot.ml.policy import Evidence, PolicyConfig, ToxicityPolicy, Verdict
from livepilot.ml.pull import default_models_dir
from livepilot.ml.scorer import LOADING, Scorer, ScorerStatus
from livepilot.ml.shared import ModelRegistry
from livepilot.ml.text import normalize
from livepilot.ml.triage import Trust, priority
from livepilot.pipeline.stage import ACTION_ORDER, Draft, LateSink, Outbox, reason_of
from livepilot.stages.moderation.model_overload import OverloadAlarm
from livepilot.stages.moderation.rules import DEFAULT_WORD_PACKS, load_word_packs, word_pack_paths

if TYPE_CHECKING:
    from livepilot.pipeline.context import StageContext
    from livepilot.settings import Settings

__all__ = ["MAX_CHARS", "NOT_SCORED", "ToxicityStage", "build", "build_scorer"]

log = logging.getLogger(__name__)

_LETTER = re.compile(r"[^\W\d_]")

#: Longer messages are not given to a model (``not_scored: too_long``): platform chat
#: stops far below this, and one huge text must not hold up everyone's batch.
MAX_CHARS = 1000

#: Every reason a chat message's final insight can give for having no model verdict.
NOT_SCORED = ("no_letters", "rules", "too_long", "no_language", "overload", "loading",
              "error", "unavailable")

@dataclass(slots=True)
class _Pending:
    draft: Draft
    evidence: Evidence
    queued: float
    #: Where the rule verdict's labels and reasons stand in the draft: the late verdict's
    #: go in their place, so the final insight reads as if the model had run inline.
    labels: tuple[int, int]
    reasons: tuple[int, int]


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
        stream: str = "default",
        language: str = "de",
        max_chars: int = MAX_CHARS,
        trust: Trust | None = None,
        models: ModelRegistry | None = None,
    ) -> None:
        self.policy = policy
        self._german = german
        self._router = router
        self._metrics = metrics
        lane_german = None if german_inline else german
        self._lane: ToxicityLane | None = None
        self._batcher: MicroBatcher[LaneScores] | None = None
        if lane_german is not None or scorer is not None:
            self._lane = _lane(lane_german, scorer, metrics, models)
            worker = models.worker(self._lane) if models is not None else None
            self._batcher = MicroBatcher(self._lane, batcher or BatcherConfig(), metrics,
                                         worker=worker, stream=stream)
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
        self._max_chars = max_chars
        self._trust = trust or Trust()
        self._not_scored = {r: metrics.toxicity_not_scored.labels(r) for r in NOT_SCORED}
        self._overload = OverloadAlarm(stream, self.name, language)
        self._overloaded = metrics.toxicity_overloaded.labels(stream)
        #: Lane results for the texts of the last :meth:`prefetch`, by cache key.
        self._ahead: dict[str, LaneScores] = {}
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
                ScorerStatus("detoxify", False, DetoxifyFiles().unset_reason).as_dict()
            )
        return out

    @property
    def overloaded(self) -> bool:
        """Whether the ``model_overload`` alarm is up (the lane is shedding)."""
        return self._overload.raised is not None

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
        skip = self._skip(text, hits)
        if skip is not None:
            self._final(draft, self.policy.decide(Evidence("other", tuple(hits))), skip)
            return
        evidence = self.evidence(text, hits, german=self.german_inline)
        batcher = self._batcher
        if batcher is None:
            self._final(draft, self.policy.decide(evidence), self._missing(evidence), event)
            return
        key = self._cache_key(text)
        known = self._ahead.get(key) or batcher.cached(key)
        if known is not None:
            merged = self._merge(evidence, known)
            self._final(draft, self.policy.decide(merged), self._missing(merged), event)
            return
        verdict = self.policy.decide(evidence)
        # Uncertain: the verdict so far saw something but not enough to hide. Under
        # overload these, and viewers not trusted yet, are scored first.
        uncertain = self._uncertain(verdict)
        if not self._needs_lane(evidence, uncertain):
            self._final(draft, verdict, self._missing(evidence), event)
            return
        at = (len(draft.labels), len(draft.reasons))
        _apply(draft, self.name, verdict)
        job = Job(event.id, text, priority=priority(uncertain, self._trust.trusted(event.user)),
                  cache_key=key)
        if len(self._pending) >= self._pending_size or not batcher.offer(job):
            missing = self._missing(evidence)
            if missing is not None:  # the lane's models were the only ones to ask
                status = batcher.scorer.status
                missing = "overload" if status.available or status.reason == LOADING \
                    else "unavailable"
            else:
                self._trust.judged(event.user.id, verdict.toxic)
            self._mark(draft, missing)
            return
        draft.pending.append(self.name)
        self._pending[event.id] = _Pending(
            draft, evidence, time.monotonic(),
            (at[0], len(draft.labels)), (at[1], len(draft.reasons)),
        )
        self._idle.clear()

    def _skip(self, text: str, hits: Sequence[Label]) -> str | None:
        """Why no model is asked about ``text`` at all, or ``None``."""
        if not _LETTER.search(text):
            return "no_letters"  # emote-only, numbers, punctuation
        if hits and any(h.score is None or h.score >= self.policy.config.hide for h in hits):
            return "rules"  # the word filter already decided
        if len(text) > self._max_chars:
            return "too_long"
        return None

    def _missing(self, evidence: Evidence) -> str | None:
        """Why ``evidence`` holds no model's verdict, or ``None`` when it does."""
        if evidence.german is not None or evidence.model is not None:
            return None
        if evidence.language == "other":
            return "no_language"  # the German model does not judge it, nothing else did
        return "unavailable"

    def _final(self, draft: Draft, verdict: Verdict, missing: str | None,
               event: ChatEvent | QuestionEvent | None = None) -> None:
        _apply(draft, self.name, verdict)
        self._mark(draft, missing)
        if missing is None and event is not None:
            self._trust.judged(event.user.id, verdict.toxic)

    def _mark(self, draft: Draft, missing: str | None) -> None:
        draft.not_scored = missing
        if missing is not None:
            self._not_scored[missing].inc()

    def _cache_key(self, text: str) -> str:
        # The German model reads normalised text only, so variants share its verdict; a
        # model that reads the text as typed (Detoxify) may score variants differently.
        lane = self._lane
        return normalize(text) if lane is None or lane.model is None else text

    def _uncertain(self, verdict: Verdict) -> bool:
        cfg = self.policy.config
        return cfg.review * 0.4 <= verdict.score < cfg.hide

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

    def update(
        self, event_id: str, scores: LaneScores | None, reason: str = ""
    ) -> Insight | None:
        """Version 1 of a pending event's insight with the lane's verdict merged in.

        ``None`` scores (shed, or the lane failed: ``reason``) still produce an update: it
        clears ``pending`` and says why no model judged the message. Returns ``None`` if
        the event is not pending.
        """
        entry = self._pending.pop(event_id, None)
        if entry is None:
            return None
        base = entry.draft.freeze()
        if scores is None:
            missing = self._missing(entry.evidence) and (reason or "error")
            self._mark(entry.draft, missing)
            return base.model_copy(update={
                "version": base.version + 1, "pending": _without(base.pending, self.name),
                "not_scored": missing,
            })
        merged = self._merge(entry.evidence, scores)
        verdict = self.policy.decide(merged)
        missing = self._missing(merged)
        if missing is not None and scores.model is None and self._lane is not None \
                and self._lane.model is not None:
            missing = "error"  # the lane contained its slower model's failure
        self._mark(entry.draft, missing)
        event = entry.draft.event
        if missing is None and isinstance(event, ChatEvent | QuestionEvent):
            self._trust.judged(event.user.id, verdict.toxic)
        own_labels: tuple[Label, ...] = ()
        own_reasons: tuple[Reason, ...] = ()
        if verdict.action is not None:
            own_labels = (Label(name="toxic", source=self.name, kind=verdict.kind,
                                score=verdict.score),)
            own_reasons = tuple(reason_of(self.name, t) for t in verdict.reasons)
        (l0, l1), (r0, r1) = entry.labels, entry.reasons
        action = base.action
        if verdict.action is not None and ACTION_ORDER[verdict.action] > ACTION_ORDER[action]:
            action = verdict.action
        return base.model_copy(
            update={
                "version": base.version + 1,
                "labels": (*base.labels[:l0], *own_labels, *base.labels[l1:]),
                "reasons": (*base.reasons[:r0], *own_reasons, *base.reasons[r1:]),
                "scores": {**base.scores, **verdict.scores, "toxicity": verdict.score},
                "action": action,
                "hidden": base.hidden or verdict.hidden,
                "pending": _without(base.pending, self.name),
                "not_scored": missing,
            }
        )

    def tick(self, now: float, out: Outbox) -> None:
        batcher = self._batcher
        if batcher is None:
            return
        changed = self._overload.tick(now, batcher.shed_total, batcher.depth, out)
        if changed is not None:
            self._overloaded.set(1 if changed else 0)
            if changed:
                log.warning("toxicity model lane overloaded: shedding messages by priority")
            else:
                log.info("toxicity model lane caught up (%d messages were not scored)",
                         batcher.shed_total)

    # -- the background part --------------------------------------------------------

    async def prefetch(self, texts: Sequence[str]) -> None:
        """Score ``texts`` with the lane now (on its worker thread, nothing shed) and keep
        the results for the ``process`` calls that follow — for a caller that waits for
        every verdict (``livepilot score``). Holds only the last call's results."""
        self._ahead = {}
        batcher = self._batcher
        if batcher is None:
            return
        wanted: dict[str, str] = {}
        for text in texts:
            if _LETTER.search(text) and len(text) <= self._max_chars:
                wanted.setdefault(self._cache_key(text), text)
        if not wanted:
            return
        try:
            scored = await batcher.score_now(list(wanted.values()))
        except Exception:
            # The lines then go through the lane one by one, and fail there as live.
            log.error("scorer %s failed on a prefetch of %d", batcher.scorer.name,
                      len(wanted), exc_info=True)
            return
        self._ahead = dict(zip(wanted, scored, strict=True))

    async def run(self, late: LateSink) -> None:
        if self._batcher is None:
            return

        async def consume(results: Results[LaneScores]) -> None:
            latency = self._metrics.toxicity_update_latency
            updates: list[Insight | CommandEvent] = []
            queued: list[float] = []
            for job, scores in results:
                entry = self._pending.get(job.key)
                insight = self.update(job.key, scores, job.reason)
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


def _lane(german: GermanModel | None, scorer: Scorer | None, metrics: Metrics,
          models: ModelRegistry | None) -> ToxicityLane:
    """The lane over these models: one per process when ``models`` is given, so every
    stream's batches run on the same thread."""
    def make() -> ToxicityLane:
        on_error = metrics.toxicity_errors.labels(scorer.name).inc if scorer else None
        return ToxicityLane(german, scorer, on_model_error=on_error)

    if models is None:
        return make()
    return models.get(("toxicity-lane", id(german), id(scorer)), make)


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


def detoxify_files(settings: Settings) -> DetoxifyFiles:
    """Which Detoxify files the settings name: an own checkpoint, a pulled model, or none."""
    if settings.detoxify_checkpoint is not None:
        return DetoxifyFiles(settings.detoxify_model, settings.detoxify_checkpoint,
                             settings.detoxify_config_dir)
    if settings.detoxify == "off":
        return DetoxifyFiles()
    return DetoxifyFiles(settings.detoxify, pulled=True,
                         models_dir=settings.models_dir or default_models_dir())


def build_scorer(settings: Settings) -> Scorer | None:
    """The slow-lane scorer the settings ask for, or ``None`` (the default: German only)."""
    files = detoxify_files(settings)
    if not files.configured:
        return None
    if settings.detoxify_runtime == "onnx":
        from livepilot.ml.onnx_lane import OnnxDetoxifyScorer

        return OnnxDetoxifyScorer(
            files=files, cache_dir=(settings.models_dir or default_models_dir()) / "onnx"
        )
    from livepilot.ml.detoxify_scorer import DetoxifyScorer

    return DetoxifyScorer(files=files, device=settings.detoxify_device)


def _router_language(settings: Settings) -> Language:
    language = getattr(settings, "host_language", "de")
    return "en" if language == "en" else "de"


def _allow_terms(ctx: StageContext) -> tuple[str, ...]:
    """The word filter's allow-list for this stream (its packs, read at start-up): the
    German model cuts these words out before scoring, so a word the rules call harmless
    never makes the model flag. A pack that does not load gives no terms here; the word
    filter reports it."""
    packs = getattr(ctx.settings, "word_packs", DEFAULT_WORD_PACKS)
    try:
        loaded = load_word_packs(word_pack_paths(ctx.rules_dir, packs, ctx.stream))
    except Exception as exc:
        log.warning("toxicity: allow-list not read (%s); the German model sees every word", exc)
        return ()
    return tuple(sorted({term for _, pack in loaded for term in pack.allow}))


def build(ctx: StageContext) -> ToxicityStage:
    s = ctx.settings
    try:
        policy = ToxicityPolicy(PolicyConfig(review=s.toxicity_review, hide=s.toxicity_hide))
    except ValueError as exc:
        raise ConfigError(
            f"LIVEPILOT_TOXICITY_REVIEW ({s.toxicity_review}) must be below "
            f"LIVEPILOT_TOXICITY_HIDE ({s.toxicity_hide})"
        ) from exc
    # Without a registry from the process (a stage built on its own), a private one.
    models = ctx.models if ctx.models is not None else ModelRegistry()
    german: GermanModel | None
    try:
        allow = _allow_terms(ctx)
        german = models.get(("german", s.toxicity_german_model, allow),
                            lambda: GermanModel.load(s.toxicity_german_model, allow=allow))
        german_status = ScorerStatus("german", True)
    except ConfigError as exc:
        log.error("German toxicity model unavailable: %s", exc)
        german, german_status = None, ScorerStatus("german", False, str(exc))
    files = detoxify_files(s)
    scorer = models.get(("detoxify", files, s.detoxify_runtime, s.detoxify_device,
                         s.models_dir), lambda: build_scorer(s))
    if scorer is None:
        log.info("toxicity: German model only (%s)", DetoxifyFiles().unset_reason)
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
    router = models.get(("language-router", _router_language(s)), lambda: _router(s))
    return ToxicityStage(
        policy,
        german,
        router,
        ctx.metrics,
        scorer,
        german_inline=s.toxicity_german_inline,
        batcher=config,
        # Room for what the batcher can hold plus a batch in flight; past it a message
        # is not offered (not_scored: overload) rather than an owed update forgotten.
        pending_size=max(4096, s.toxicity_queue_size + 4 * s.toxicity_batch_size),
        german_status=german_status,
        stream=ctx.stream,
        language=_router_language(s),
        # Only a process's registry shares the lane's thread; a stage on its own owns it.
        models=ctx.models,
    )


def _router(settings: Settings) -> LanguageRouter:
    router = LanguageRouter(default=_router_language(settings))
    router.load()  # at start-up, not on the first chat message (~0.5 s)
    return router
