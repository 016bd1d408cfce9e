"""Offline TikTok for tests and bug reports: real protobuf frames and a fake TikTok.

* :class:`Frames` builds TikTok messages with the library's own proto classes
  (``WebcastChatMessage`` …), with unique message ids and timestamps.
* :func:`push_frame` wraps messages into a WebSocket frame exactly as TikTok sends it
  (``WebcastPushFrame`` → optional gzip → ``ProtoMessageFetchResult``).
* :class:`FakeTikTok` answers TikTok's HTTP routes and the sign server through
  ``httpx.MockTransport`` and runs a real WebSocket server on 127.0.0.1 that plays
  scripted :class:`Session`\\ s, one per connection. Nothing touches the internet.
* :func:`write_capture` builds a raw capture file from scripted frames.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from livepilot.sources.tiktok._lib import lib
from livepilot.sources.tiktok.capture import CaptureWriter
from livepilot.sources.tiktok.client import Transports

__all__ = ["FakeTikTok", "Frames", "Session", "push_frame", "write_capture"]


def _proto() -> Any:
    lib()  # TikTokLive is imported only through _lib (warnings handled there)
    import TikTokLive.proto as proto

    return proto


def push_frame(
    messages: Sequence[Any],
    *,
    compress: bool = True,
    log_id: int = 1,
    need_ack: bool = False,
    payload_type: str = "msg",
) -> bytes:
    """One WebSocket frame carrying ``messages`` (``BaseProtoMessage``\\ s)."""
    p = _proto()
    result = bytes(
        p.ProtoMessageFetchResult(
            messages=list(messages), cursor="c", need_ack=need_ack, internal_ext="ext"
        )
    )
    headers = [p.PushHeader(key="compress_type", value="gzip")] if compress else []
    return bytes(
        p.WebcastPushFrame(
            log_id=log_id,
            payload_type=payload_type,
            payload_encoding="pb",
            headers=headers,
            payload=gzip.compress(result) if compress else result,
        )
    )


def initial_result(room_id: int, port: int, messages: Sequence[Any] = ()) -> bytes:
    """The sign server's first fetch result, pointing the client at ``ws://127.0.0.1:port``."""
    p = _proto()
    return bytes(
        p.ProtoMessageFetchResult(
            is_first=True,
            cursor="cursor-1",
            internal_ext="ext-1",
            push_server=f"ws://127.0.0.1:{port}/webcast/im/push/v2/",
            route_params={"room_id": str(room_id)},
            messages=list(messages),
        )
    )


class Frames:
    """Builds TikTok messages (``BaseProtoMessage``) with increasing ids and times."""

    def __init__(
        self, start_ms: int = 1_700_000_000_000, first_id: int = 7_300_000_000_000_000_001
    ) -> None:
        self.p = _proto()
        self._ids = itertools.count(first_id)
        self._time = itertools.count(start_ms, 250)
        self.last_id = 0

    def _common(self, msg_id: int | None = None, key: str = "") -> Any:
        from TikTokLiveProto.v3.webcast.model.message.common import Text

        self.last_id = msg_id if msg_id is not None else next(self._ids)
        return self.p.CommonMessageData(
            msg_id=self.last_id,
            create_time=next(self._time),
            display_text=Text(key=key) if key else None,
        )

    def _wrap(self, method: str, message: Any) -> Any:
        return self.p.BaseProtoMessage(method=method, payload=bytes(message))

    def user(self, name: str, uid: int | None = None, *, moderator: bool = False) -> Any:
        badges = [self.p.BadgeStruct(scene_type=1)] if moderator else []
        return self.p.User(
            id=uid if uid is not None else 1000 + sum(map(ord, name)),
            display_id=name,
            nickname=name.capitalize(),
            badge_list=badges,
        )

    def chat(
        self, user: Any, text: str, *, msg_id: int | None = None, follower: bool = False
    ) -> Any:
        identity = self.p.UserIdentity(is_follower_of_anchor=follower)
        return self._wrap(
            "WebcastChatMessage",
            self.p.WebcastChatMessage(
                common=self._common(msg_id), user=user, content=text, user_identity=identity
            ),
        )

    def gift(
        self,
        user: Any,
        *,
        gift_id: int = 5655,
        name: str = "Rose",
        diamonds: int = 1,
        repeat_count: int = 1,
        repeat_end: bool = False,
        group_id: int = 1,
        streakable: bool = True,
        msg_id: int | None = None,
    ) -> Any:
        return self._wrap(
            "WebcastGiftMessage",
            self.p.WebcastGiftMessage(
                common=self._common(msg_id),
                user=user,
                gift_id=gift_id,
                repeat_count=repeat_count,
                repeat_end=1 if repeat_end else 0,
                group_id=group_id,
                gift=self.p.Gift(
                    id=gift_id, name=name, diamond_count=diamonds, type=1 if streakable else 2
                ),
            ),
        )

    def join(self, user: Any) -> Any:
        return self._wrap(
            "WebcastMemberMessage",
            self.p.WebcastMemberMessage(common=self._common(), user=user, action=1),
        )

    def like(self, user: Any, count: int, total: int) -> Any:
        return self._wrap(
            "WebcastLikeMessage",
            self.p.WebcastLikeMessage(common=self._common(), user=user, count=count, total=total),
        )

    def follow(self, user: Any) -> Any:
        return self._wrap(
            "WebcastSocialMessage",
            self.p.WebcastSocialMessage(
                common=self._common(key="pm_main_follow_message_viewer_2"),
                user=user,
                follow_count=100,
            ),
        )

    def share(self, user: Any) -> Any:
        return self._wrap(
            "WebcastSocialMessage",
            self.p.WebcastSocialMessage(
                common=self._common(key="pm_mt_guidance_share"), user=user, share_count=1
            ),
        )

    def viewers(self, total: int) -> Any:
        return self._wrap(
            "WebcastRoomUserSeqMessage",
            self.p.WebcastRoomUserSeqMessage(common=self._common(), total=total, total_user=total),
        )

    def question(self, user: Any, text: str) -> Any:
        from TikTokLiveProto.v3.webcast.model.message import Question

        return self._wrap(
            "WebcastQuestionNewMessage",
            self.p.WebcastQuestionNewMessage(
                common=self._common(), data=Question(question_id=77, content=text, user=user)
            ),
        )

    def poll(
        self,
        poll_id: int,
        phase: str,
        options: Sequence[tuple[str, int]],
        *,
        title: str = "",
        end_time: int = 0,
    ) -> Any:
        from TikTokLiveProto.v3.webcast.model.message import (
            PollBasicInfo,
            PollEndContent,
            PollOptionInfo,
            PollStartContent,
            PollUpdateVotesContent,
        )

        opts = [
            PollOptionInfo(option_idx=i, display_content=text, votes=votes)
            for i, (text, votes) in enumerate(options)
        ]
        kwargs: dict[str, Any] = {
            "common": self._common(),
            "poll_id": poll_id,
            "poll_basic_info": PollBasicInfo(title=title),
        }
        if phase == "start":
            kwargs["start_content"] = PollStartContent(
                title=title, option_list=opts, end_time=end_time
            )
        elif phase == "update":
            kwargs["update_votes_content"] = PollUpdateVotesContent(option_list=opts)
        else:
            kwargs["end_content"] = PollEndContent(option_list=opts)
        return self._wrap("WebcastPollMessage", self.p.WebcastPollMessage(**kwargs))

    def battle(self, battle_id: int, action: int, scores: dict[int, int] | None = None) -> Any:
        from TikTokLiveProto.v3.webcast.model.data import BattleResultResult
        from TikTokLiveProto.v3.webcast.model.message.battle import BattleResult, BattleSetting

        results = {
            uid: BattleResult(
                user_id=uid, score=score, result=BattleResultResult(0 if i == 0 else 1)
            )
            for i, (uid, score) in enumerate(sorted((scores or {}).items(), key=lambda kv: -kv[1]))
        }
        return self._wrap(
            "WebcastLinkMicBattle",
            self.p.WebcastLinkMicBattle(
                common=self._common(),
                battle_id=battle_id,
                action=action,
                battle_settings=BattleSetting(battle_id=battle_id, duration=300),
                battle_result=results,
            ),
        )

    def armies(self, battle_id: int, scores: dict[int, int]) -> Any:
        from TikTokLiveProto.v3.webcast.model.message.battle import BattleUserArmies

        return self._wrap(
            "WebcastLinkMicArmies",
            self.p.WebcastLinkMicArmies(
                common=self._common(),
                battle_id=battle_id,
                armies={uid: BattleUserArmies(hostscore=score) for uid, score in scores.items()},
            ),
        )

    def emote(self, user: Any, *emote_ids: str) -> Any:
        from TikTokLiveProto.v3.webcast.model.base.emoji import EmoteModel

        return self._wrap(
            "WebcastEmoteChatMessage",
            self.p.WebcastEmoteChatMessage(
                common=self._common(),
                user=user,
                emote_list=[EmoteModel(emote_id=e) for e in emote_ids],
            ),
        )

    def envelope(self, sender: str, diamonds: int, people: int) -> Any:
        from TikTokLiveProto.v3.webcast.model.message.redenvelope import (
            MessageRedEnvelopInfo,
            WebcastEnvelopeMessage,
        )

        return self._wrap(
            "WebcastEnvelopeMessage",
            WebcastEnvelopeMessage(
                common=self._common(),
                envelope_info=MessageRedEnvelopInfo(
                    envelope_id="env-1",
                    send_user_name=sender,
                    send_user_id="42",
                    diamond_count=diamonds,
                    people_count=people,
                    unpack_at=1_700_000_100,
                ),
            ),
        )

    def subscribe(self, user: Any, months: int) -> Any:
        return self._wrap(
            "WebcastSubNotifyMessage",
            self.p.WebcastSubNotifyMessage(common=self._common(), user=user, sub_month=months),
        )

    def superfan(self, user: Any) -> Any:
        from TikTokLiveProto.v3.webcast.model.message.common import Text

        return self._wrap(
            "WebcastBarrageMessage",
            self.p.WebcastBarrageMessage(
                common=self._common(),
                user=user,
                content=Text(key="ttlive_superfan_commentnotif_superfanjoined"),
            ),
        )

    def pin(self, user: Any, text: str, pinned_msg_id: int, *, unpin: bool = False) -> Any:
        chat = self.p.WebcastChatMessage(
            common=self.p.CommonMessageData(msg_id=pinned_msg_id), user=user, content=text
        )
        return self._wrap(
            "WebcastRoomPinMessage",
            self.p.WebcastRoomPinMessage(
                common=self._common(), chat_message=chat, action=2 if unpin else 1
            ),
        )

    def delete(self, *msg_ids: int) -> Any:
        return self._wrap(
            "WebcastImDeleteMessage",
            self.p.WebcastImDeleteMessage(common=self._common(), delete_msg_ids=list(msg_ids)),
        )

    def control(self, action: int) -> Any:
        """3 = stream ended, 4 = suspended, 1 = paused, 2 = unpaused."""
        return self._wrap(
            "WebcastControlMessage",
            self.p.WebcastControlMessage(common=self._common(), action=action),
        )

    def live_end(self) -> Any:
        return self.control(3)

    def unknown(self, method: str = "WebcastSomethingNewMessage") -> Any:
        return self.p.BaseProtoMessage(method=method, payload=bytes(self._common()))


@dataclass
class Session:
    """What the fake does on one WebSocket connection.

    ``initial``: messages in the sign server's first fetch (TikTok's history replay);
    ``frames``: frames sent after the handshake; ``close``: close code sent after them,
    ``None`` to stay open (silent) until the client closes; ``abort``: drop the TCP
    connection without a close frame instead.
    """

    frames: list[bytes] = field(default_factory=list)
    initial: list[Any] = field(default_factory=list)
    close: int | None = 1000
    abort: bool = False


class FakeTikTok:
    """TikTok's web routes, the sign server and the push WebSocket, all offline.

    Use as ``async with FakeTikTok(sessions) as fake:`` and pass ``fake.transports`` to
    the source. ``offline_checks`` makes that many start attempts see an offline creator
    (``offline_at``: the attempts, counted from 1, that see one later on);
    ``sign_script`` gives the sign server's status per call (200, 429, 500, ``"429-bare"``
    for a 429 without rate-limit headers) before it answers 200; ``ws_rejects`` the
    HTTP status that rejects each of the first WebSocket handshakes (400 = blocked).
    """

    def __init__(
        self,
        sessions: Sequence[Session] = (),
        *,
        room_id: int = 7_000_000_000_000_000_001,
        user_not_found: bool = False,
        offline_checks: int = 0,
        sign_script: Sequence[int | str] = (),
        retry_after: int = 30,
        ws_rejects: Sequence[int] = (),
        age_restricted: bool = False,
        offline_at: Sequence[int] = (),
    ) -> None:
        self.sessions = list(sessions)
        self.room_id = room_id
        self.user_not_found = user_not_found
        self.offline_checks = offline_checks
        self.sign_script = list(sign_script)
        self.retry_after = retry_after
        self.ws_rejects = list(ws_rejects)
        self.age_restricted = age_restricted
        self.offline_at = frozenset(offline_at)
        self.sign_calls = 0
        self.live_checks = 0
        self.connections = 0
        self.received: list[Any] = []
        self.port = 0
        self._next = 0
        self._server: Any = None
        self._handlers: set[asyncio.Task[Any]] = set()

    # -- HTTP ---------------------------------------------------------------------------

    def _live(self) -> bool:
        return self.live_checks > self.offline_checks and self.live_checks not in self.offline_at

    def tiktok_handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/live"):
            self.live_checks += 1
            status = 2 if self._live() else 4
            sigi: dict[str, Any] = (
                {"AppContext": {}}
                if self.user_not_found
                else {
                    "LiveRoom": {
                        "liveRoomUserInfo": {
                            "user": {
                                "roomId": str(self.room_id),
                                "uniqueId": "tester",
                                "status": status,
                            }
                        }
                    }
                }
            )
            html = f'<script id="SIGI_STATE" type="application/json">{json.dumps(sigi)}</script>'
            return httpx.Response(200, text=html)
        if path == "/webcast/room/check_alive/":
            return httpx.Response(
                200, json={"data": [{"alive": self._live(), "room_id": self.room_id}]}
            )
        if path == "/api-live/user/room/":
            if self.user_not_found:
                return httpx.Response(200, json={"message": "user_not_found"})
            return httpx.Response(
                200,
                json={
                    "message": "",
                    "data": {"user": {"roomId": str(self.room_id)}, "liveRoom": {"status": 2}},
                },
            )
        if path == "/webcast/room/info/":
            if self.age_restricted:
                return httpx.Response(200, json={"data": {"prompts": "This LIVE is 18+"}})
            return httpx.Response(
                200, json={"data": {"id_str": str(self.room_id), "status": 2, "title": "Fake"}}
            )
        return httpx.Response(404)

    def sign_handler(self, request: httpx.Request) -> httpx.Response:
        self.sign_calls += 1
        status = self.sign_script.pop(0) if self.sign_script else 200
        if status == 429:
            return httpx.Response(
                429,
                json={"message": "Rate limited", "limit_label": "minute"},
                headers={
                    "RateLimit-Remaining": str(self.retry_after),
                    "RateLimit-Reset": "1700000000",
                },
            )
        if status == "429-bare":
            return httpx.Response(429, json={"message": "Rate limited"})
        if status != 200:
            return httpx.Response(int(status), json={"message": "boom"})
        session = self.sessions[self._next] if self._next < len(self.sessions) else Session()
        body = initial_result(self.room_id, self.port, session.initial)
        return httpx.Response(200, content=body, headers={"X-Set-TT-Cookie": "ttwid=fake"})

    @property
    def transports(self) -> Transports:
        return Transports(
            web=httpx.MockTransport(self.tiktok_handler),
            sign=httpx.MockTransport(self.sign_handler),
        )

    # -- WebSocket ----------------------------------------------------------------------

    def _process_request(self, connection: Any, request: Any) -> Any:
        if self.ws_rejects:
            response = connection.respond(self.ws_rejects.pop(0), "rejected\n")
            response.headers["Handshake-Msg"] = "DEVICE_BLOCKED"
            return response
        return None

    @staticmethod
    def _process_response(connection: Any, request: Any, response: Any) -> Any:
        response.headers["Handshake-Options"] = "ping-interval=1"
        return response

    async def _ws_handler(self, ws: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._play(ws)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _play(self, ws: Any) -> None:
        p = _proto()
        session = (
            self.sessions[self._next] if self._next < len(self.sessions) else Session(close=None)
        )
        self._next += 1
        self.connections += 1

        async def reader() -> None:
            async for raw in ws:
                self.received.append(p.WebcastPushFrame().parse(raw))

        read = asyncio.ensure_future(reader())
        try:
            await asyncio.sleep(0.02)
            for frame in session.frames:
                await ws.send(frame)
                await asyncio.sleep(0.005)
            if session.abort:
                ws.transport.abort()
                return
            if session.close is not None:
                await ws.close(code=session.close, reason="fake")
            await asyncio.wait({read})
        finally:
            read.cancel()
            await asyncio.wait({read})

    async def __aenter__(self) -> FakeTikTok:
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._ws_handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            process_response=self._process_response,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


def write_capture(
    path: Path,
    sessions: Sequence[Sequence[bytes]],
    *,
    unique_id: str = "tester",
    room_id: int = 7_000_000_000_000_000_001,
    start: float = 1_700_000_000.0,
    step: float = 0.5,
    lost_between: bool = True,
) -> Path:
    """A raw capture of ``sessions`` (frames per connection), as a recorder writes it."""
    now = start
    with CaptureWriter(path, unique_id) as writer:
        for index, frames in enumerate(sessions):
            if index and lost_between:
                writer.lost(now, "connection_lost", now)
                now += 5.0
            writer.initial(now, initial_result(room_id, 1), room_id)
            for frame in frames:
                now += step
                writer.frame(now, frame)
    return path
