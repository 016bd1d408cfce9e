"""Mapping TikTokLive events to livepilot events, through the library's real parse path:
real protobuf frames → ``FrameDecoder`` (TikTokLive's own decoding) → ``Mapper``."""

from __future__ import annotations

from typing import Any

import pytest

from livepilot.events import Badge, StreamState
from livepilot.sources.tiktok._lib import lib
from livepilot.sources.tiktok.client import FrameDecoder
from livepilot.sources.tiktok.mapping import Connected, Mapper
from livepilot.sources.tiktok.testing import Frames, initial_result, push_frame

RECEIVED = 1_800_000_000.0


async def _decode(*messages: Any, unknown: list[str] | None = None) -> list[Any]:
    decoder = FrameDecoder("tester", on_unknown=(unknown.append if unknown is not None else None))
    try:
        return await decoder.frame(push_frame(list(messages)))
    finally:
        await decoder.close()


async def _map(*messages: Any) -> list[Any]:
    mapper = Mapper("tester")
    out: list[Any] = []
    for event in await _decode(*messages):
        out.extend(mapper.map(event, RECEIVED))
    return out


async def test_chat_keeps_text_ids_times_and_badges() -> None:
    f = Frames()
    user = f.p.User(
        id=99,
        display_id="lena_88",
        nickname="Lena ✨",
        badge_list=[f.p.BadgeStruct(scene_type=6), f.p.BadgeStruct(scene_type=4)],
    )
    (chat,) = await _map(f.chat(user, "Grüße aus Köln 👋", follower=True))
    assert chat.type == "chat" and chat.text == "Grüße aus Köln 👋"
    assert chat.id == f"tt-{f.last_id}" and chat.stream == "tester"
    assert chat.at == pytest.approx(1_700_000_000.0) and chat.received == RECEIVED
    assert (chat.user.id, chat.user.unique_id, chat.user.nickname) == ("99", "lena_88", "Lena ✨")
    # from badge_list (the library's is_top_gifter/has_badge helpers always say False)
    assert chat.user.badges == {Badge.TOP_GIFTER, Badge.SUBSCRIBER, Badge.FOLLOWER}


def test_plain_user_and_extended_user_map_the_same() -> None:
    # TikTokLive 7.0.1 hands out either class depending on which message came first;
    # only ExtendedUser has .unique_id. The mapping reads fields both have.
    lib()  # imports TikTokLive with its import-time warnings handled
    from TikTokLive.proto.custom_proto import ExtendedUser

    f = Frames()
    plain = f.user("anna", 5)
    extended = ExtendedUser(id=5, display_id="anna", nickname="Anna")
    assert not hasattr(plain, "unique_id")
    assert Mapper.user(plain) == Mapper.user(extended)
    assert Mapper.user(None).id == "anonymous"


async def test_gifts_carry_streak_identity_and_value() -> None:
    f = Frames()
    ben = f.user("ben", 7)
    rose, lion = await _map(
        f.gift(ben, repeat_count=4, group_id=12, diamonds=1),
        f.gift(ben, gift_id=6369, name="Lion", diamonds=29999, streakable=False),
    )
    assert (rose.gift_name, rose.count, rose.final, rose.streak_id) == (
        "Rose",
        4,
        False,
        "7:5655:12",
    )
    assert (lion.final, lion.streak_id, lion.diamonds) == (True, None, 29999)


async def test_one_event_kind_per_tiktok_message() -> None:
    f = Frames()
    ben = f.user("ben")
    events = await _map(f.follow(ben), f.share(ben), f.join(ben), f.like(ben, 3, 99))
    # the library emits Follow/Share *and* Social for the same message: mapped once
    assert [e.type for e in events] == ["follow", "share", "join", "like"]
    assert len({e.id for e in events}) == 4


async def test_notices_that_are_not_events_are_skipped() -> None:
    f = Frames()
    ben = f.user("ben")
    subscribed_notice = f.p.BaseProtoMessage(
        method="WebcastMemberMessage",
        payload=bytes(f.p.WebcastMemberMessage(common=f._common(), user=ben, action=3)),
    )
    no_likes = f.like(ben, 0, 10)
    assert await _map(subscribed_notice, no_likes) == []


async def test_im_delete_targets_every_deleted_message() -> None:
    f = Frames()
    deletes = await _map(f.delete(11, 12))
    assert [(d.type, d.target) for d in deletes] == [("delete", "tt-11"), ("delete", "tt-12")]
    assert len({d.id for d in deletes}) == 2


async def test_stream_control_messages_become_status() -> None:
    f = Frames()
    events = await _map(f.control(1), f.control(2), f.control(4))
    assert [e.state for e in events] == [
        StreamState.PAUSED,
        StreamState.CONNECTED,
        StreamState.LIVE_ENDED,  # suspended by TikTok ends the LIVE too
    ]


async def test_unpin_and_unknown_messages() -> None:
    f = Frames()
    unknown: list[str] = []
    raw = await _decode(
        f.pin(f.user("mod"), "Link in Bio", 555, unpin=True),
        f.unknown("WebcastFutureMessage"),
        unknown=unknown,
    )
    mapper = Mapper("tester")
    mapped = [m for event in raw for m in mapper.map(event, RECEIVED)]
    assert [(p.type, p.target, p.pinned) for p in mapped] == [("pin", "tt-555", False)]
    assert unknown == ["WebcastFutureMessage"]


async def test_initial_fetch_result_connects_and_replays_history() -> None:
    f = Frames()
    decoder = FrameDecoder("tester")
    try:
        raw = await decoder.initial(initial_result(42, 1, [f.chat(f.user("anna"), "früher")]), 42)
        # a heartbeat frame carries no events
        assert await decoder.frame(push_frame([], payload_type="hb")) == []
    finally:
        await decoder.close()
    mapper = Mapper("tester")
    mapped = [m for event in raw for m in mapper.map(event, RECEIVED)]
    assert mapped[0] == Connected(room_id=42)
    assert mapped[1].text == "früher"


async def test_messages_without_id_get_unique_fallback_ids() -> None:
    f = Frames()
    chat = f.p.WebcastChatMessage(user=f.user("anna"), content="ohne id")
    message = f.p.BaseProtoMessage(method="WebcastChatMessage", payload=bytes(chat))
    first, second = await _map(message, message)
    assert first.id != second.id and first.id.startswith("tt-x")
    assert first.at == RECEIVED  # no platform time: the receive time stands in


def test_the_validator_cache_validates_exactly_like_betterproto() -> None:
    import pydantic

    from livepilot.sources.tiktok._lib import validation_cache

    f = Frames()
    good = f.p.WebcastChatMessage(content="ok", user=f.user("anna"))
    bad = f.p.WebcastChatMessage(content="ok")
    bad.content = 12345  # type: ignore[assignment]  # what a corrupt frame could yield
    try:
        for enabled in (False, True):
            validation_cache(enabled)
            good._validate()
            with pytest.raises(pydantic.ValidationError, match="content"):
                bad._validate()
    finally:
        validation_cache(True)
