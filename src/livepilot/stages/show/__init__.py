"""Show: how the stream is going and what the host should do next.

``engagement`` (rolling rates, baselines, alarms, gift moments, host prompts, the
run-of-show and the live summary) and ``polls`` (chat polls and giveaways). Imports
nothing from the other stage packages.
"""
