"""Audience: what viewers want from the stream.

``intent`` (question, lead, tech issue, feedback, with the tech-issue alarm) and
``questions`` (the merged question queue, FAQ answers, response times, leads). Imports
nothing from the other stage packages.
"""
