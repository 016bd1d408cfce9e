"""The server reads the streams through the StateReader seam only: views by name, with
typed readers behind them (that the server imports no stage, pipeline or service is
tests/test_architecture.py's)."""

from __future__ import annotations

import httpx
import pytest

from livepilot.server.state import ViewUnavailable
from livepilot.service import KEYED_VIEWS, VIEWS
from livepilot.testing import TEST_CONSOLE_TOKEN, OpenSource, running_server
from livepilot.testing import settings_for_tests as make_settings


async def test_views_are_read_by_name_and_say_what_is_missing() -> None:
    settings = make_settings(stages=("word_filter", "moderation"))
    async with running_server([OpenSource("demo", [])], settings) as srv:
        async with httpx.AsyncClient(
            base_url=srv.base, params={"token": TEST_CONSOLE_TOKEN}
        ) as http:
            users = await http.get("/api/streams/demo/users")
            one = await http.get("/api/streams/demo/users/id-anna")
            kpi = await http.get("/api/streams/demo/kpi")
            unknown = await http.get("/api/streams/demo/gossip")
            unknown_keyed = await http.get("/api/streams/demo/gossip/x")
            no_stream = await http.get("/api/streams/nope/users")
            long_key = await http.get("/api/streams/demo/users/" + "k" * 201)
            streams = await http.get("/api/streams")
    assert users.status_code == 200 and users.json() == []
    assert one.status_code == 200 and one.json()["score"] == 0
    assert kpi.status_code == 404
    assert kpi.json()["detail"] == "view 'kpi' needs the 'questions' stage, which is not running"
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no view 'gossip'; known: {', '.join(VIEWS)}"
    assert unknown_keyed.status_code == 404 and "known: users" in unknown_keyed.json()["detail"]
    assert no_stream.status_code == 404 and no_stream.json()["detail"] == "no stream 'nope'"
    assert long_key.status_code == 422
    [status] = streams.json()
    assert status["stream"] == "demo" and status["restarts"] == 0
    assert status["pipeline"] in {"starting", "running"}


def test_a_reader_refuses_a_stage_of_another_type() -> None:
    # a stage registered under "engagement" that is not the engagement stage: the typed
    # reader would call methods it does not have, so the view says so instead
    with pytest.raises(ViewUnavailable, match="reads a stage of type EngagementStage, not object"):
        VIEWS["show"].read(object(), 0.0)
    with pytest.raises(ViewUnavailable, match="of type ModerationStage"):
        KEYED_VIEWS["users"].read(object(), "id-anna", 0.0)
