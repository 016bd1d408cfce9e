"""Builds the stage chain from configuration: a name → factory table.

Each stage module exposes ``build(ctx) -> Stage``. The chain is the list of names in
``Settings.stages`` (``LIVEPILOT_STAGES``); a reload builds a new chain and swaps it in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from livepilot.errors import ConfigError
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Stage
from livepilot.stages.audience import intent, questions
from livepilot.stages.moderation import moderation, spam, toxicity, word_filter
from livepilot.stages.show import engagement, polls

__all__ = ["STAGES", "build_pipeline"]


STAGES: dict[str, Callable[[StageContext], Stage]] = {
    "word_filter": word_filter.build,
    "spam": spam.build,
    "toxicity": toxicity.build,
    "intent": intent.build,
    "questions": questions.build,
    "engagement": engagement.build,
    "polls": polls.build,
    "moderation": moderation.build,
}


def build_pipeline(names: Sequence[str], ctx: StageContext) -> Pipeline:
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(
            f"unknown stage(s) {', '.join(unknown)} in LIVEPILOT_STAGES; known: {', '.join(STAGES)}"
        )
    return Pipeline([STAGES[name](ctx) for name in names], ctx.metrics,
                    budget=ctx.settings.stage_budget_ms / 1000)
