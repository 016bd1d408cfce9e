"""Word filter: the stage that blocks terms from the rule packs.

:class:`WordFilter` labels ``toxic`` (kind = the term's category), gives a reason in
words, hides and recommends ``hide`` for medium/high severity and ``review`` for low,
checks @handles and nicknames (memoised in the matcher), and hot-reloads the packs on tick.
The matching itself — normalisation, the allow-list guard, masks, fuzzy, phrases and
regex rules — is the compiled :class:`~livepilot.stages.moderation.word_matcher.WordMatcher`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from livepilot.events import ChatEvent, CommandEvent, LiveEvent, QuestionEvent, User
from livepilot.insights import Action
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.stages.moderation.rules import DEFAULT_WORD_PACKS, RuleSeverity, word_pack_paths
from livepilot.stages.moderation.word_matcher import Hit, WordMatcher
from livepilot.texts import Phrase, say

if TYPE_CHECKING:
    from livepilot.pipeline.context import StageContext

__all__ = ["DEFAULT_PACKS", "WordFilter", "build"]

log = logging.getLogger(__name__)

#: Word packs loaded from the rules directory, in order, when settings name none.
DEFAULT_PACKS = DEFAULT_WORD_PACKS

_MAX_REASONS = 3


class WordFilter:
    """The stage: labels, reasons, hiding, username checks, hot reload."""

    name = "word_filter"

    def __init__(self, rules: HotReload[WordMatcher]) -> None:
        self._rules = rules

    @property
    def matcher(self) -> WordMatcher:
        return self._rules.current

    @property
    def error(self) -> str | None:
        """Why the last reload was rejected, while the old rules are still in use."""
        return self._rules.error

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, CommandEvent):
            return
        matcher = self._rules.current
        if isinstance(event, ChatEvent | QuestionEvent):
            hits = matcher.scan(event.text)
            for hit in hits[:_MAX_REASONS]:
                self._apply(draft, hit, hit.describe())
            if len(hits) > _MAX_REASONS:
                more = len(hits) - _MAX_REASONS
                draft.reason(self.name, say("reason.more_matches", f"and {more} more matches",
                                            n=more))
        user = getattr(event, "user", None)
        if isinstance(user, User):
            for hit in self._user_hits(matcher, user):
                said = hit.describe()
                self._apply(draft, hit, say("reason.word_username",
                                            f"name of @{user.unique_id}: {said}",
                                            user=user.unique_id, hit=said), kind="username")

    @staticmethod
    def _user_hits(matcher: WordMatcher, user: User) -> tuple[Hit, ...]:
        # Memoised in the matcher: shared by the streams that share it, and gone with it
        # when the rules reload (those verdicts came from the old rules).
        return matcher.name_hits(user.unique_id, user.nickname)

    def _apply(
        self, draft: Draft, hit: Hit, reason: Phrase, *, kind: str | None = None
    ) -> None:
        category = kind or str(hit.category)
        if not any(lb.source == self.name and lb.kind == category for lb in draft.labels):
            draft.label("toxic", self.name, kind=category)
        draft.reason(self.name, reason)
        if hit.severity is RuleSeverity.LOW:
            draft.recommend(Action.REVIEW)
        else:
            draft.recommend(Action.HIDE)
            draft.hidden = True

    def tick(self, now: float, out: Outbox) -> None:
        self._rules.poll(now, out)


def build(ctx: StageContext) -> WordFilter:
    packs = getattr(ctx.settings, "word_packs", DEFAULT_PACKS)
    paths = word_pack_paths(ctx.rules_dir, packs, ctx.stream)
    found = [p for p in paths if p.exists()]
    if not found:
        log.warning("word_filter: no rule packs in %s; the filter matches nothing", ctx.rules_dir)
    rules = HotReload(
        paths, lambda: WordMatcher.shared(paths), stream=ctx.stream, source="word_filter"
    )
    return WordFilter(rules)
