"""The stages, one package per concern: ``moderation``, ``audience`` and ``show``.

The three packages never import each other; each imports only the event model, the
pipeline core (:mod:`livepilot.pipeline`), the ML package and the shared rule helpers.
:mod:`livepilot.stages.registry` is the one place that knows every stage.
"""
