from __future__ import annotations

import pytest

from livepilot.ml.language import LanguageRouter


@pytest.fixture(scope="module")
def router() -> LanguageRouter:
    r = LanguageRouter(default="de")
    r.load()
    return r


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hallo", "de"),
        ("geil", "de"),
        ("digga was geht", "de"),
        ("wie teuer ist das?", "de"),
        ("du bist so dumm", "de"),
        ("Ich finde den Stream heute richtig gut", "de"),
        ("Kannst du bitte das Produkt nochmal zeigen?", "de"),
        ("hello", "en"),
        ("thanks", "en"),
        ("you are so dumb", "en"),
        ("how much is it", "en"),
        ("love this stream so much", "en"),
        ("Could you show the product again please?", "en"),
        ("ciao a tutti, come state?", "other"),
        ("hola, ¿cómo estás? me encanta tu canal", "other"),
        ("bonjour tout le monde, comment allez-vous", "other"),
    ],
)
def test_routes_chat(router: LanguageRouter, text: str, expected: str) -> None:
    assert router.route(text) == expected


@pytest.mark.parametrize("text", ["lol", "gg", "xD", "", "😂😂", "!!!", "ok"])
def test_unclear_short_text_goes_to_the_stream_default(router: LanguageRouter, text: str) -> None:
    assert router.route(text) == "de"
    english = LanguageRouter(default="en", identifier=router.identifier)
    assert english.route(text) == "en"
