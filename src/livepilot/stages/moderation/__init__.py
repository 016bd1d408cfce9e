"""Moderation: what a message may be shown as, and what to do about its author.

``word_filter`` (block/allow lists on normalised text), ``spam`` (caps, floods, repeats,
links, rates), ``toxicity`` (the ML verdict, off the event loop) and ``moderation`` (the
strike ladder). Imports nothing from the other stage packages.
"""
