"""Our adapter around ``TikTokLiveClient`` (7.0.1): one object per connection attempt.

It fixes, behind one small interface, what the library gets wrong for a service:

* every event goes to one containment point (an ``emit`` override) instead of pyee
  handlers, so an exception in livepilot code is logged and never kills the connection
  task (the library lets a raising sync handler end the WebSocket loop);
* every raw WebSocket frame is tapped as received (a ``create_protocol`` hook), which
  feeds the no-traffic watchdog and the raw capture;
* the sign server's initial fetch result is tapped too, so a capture holds everything
  the library decoded;
* unmapped message types are reported by name (the library only says "unknown");
* shutdown never goes through the library's ``close()``/``run()`` paths that call
  ``run_until_complete`` inside a running loop, and never awaits a cancelled task;
* exceptions are mapped to :mod:`livepilot.sources.tiktok.errors`.

:class:`FrameDecoder` decodes captured frames through the same library code, offline.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from livepilot.errors import SourceError
from livepilot.sources.tiktok._lib import lib
from livepilot.sources.tiktok.errors import TikTokConnectionLost, TikTokNetworkError, map_error

__all__ = ["ConnectionHooks", "FrameDecoder", "TikTokConnection", "Transports"]

log = logging.getLogger(__name__)

_SIGN_URL = "https://api.eulerstream.com"
#: How long resolving the room and signing may take, all together.
_START_TIMEOUT = 60.0
#: How long a disconnect may take before the connection task is cancelled.
_CLOSE_TIMEOUT = 5.0


class ConnectionHooks(Protocol):
    """What a connection reports, synchronously, from inside the library's loop."""

    def on_event(self, event: Any) -> None:
        """A TikTokLive event object (only :mod:`.mapping` looks inside)."""

    def on_frame(self, data: bytes) -> None:
        """A raw WebSocket frame, exactly as received (any payload type)."""

    def on_initial(self, data: bytes, room_id: int) -> None:
        """The sign server's initial ``ProtoMessageFetchResult`` (serialised)."""

    def on_unknown(self, method: str) -> None:
        """A message whose ``method`` TikTokLive does not know."""


@dataclass(frozen=True, slots=True)
class Transports:
    """Where HTTP goes: ``None`` is the real network. Tests pass ``httpx.MockTransport``s."""

    web: httpx.AsyncBaseTransport | None = None
    sign: httpx.AsyncBaseTransport | None = None
    #: The sign server; ``None`` keeps TikTokLive's choice (env ``SIGN_API_URL`` or
    #: Euler Stream).
    sign_url: str | None = None


def _contain(what: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.error("TikTok %s hook failed; the connection continues", what, exc_info=True)


@functools.cache
def _client_class() -> type:
    tl = lib()

    class _Client(tl.TikTokLiveClient):  # type: ignore[misc,name-defined]
        _lp_hooks: ConnectionHooks | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._lp_stoppers: set[asyncio.Task[Any]] = set()

        def emit(self, event: str, *args: Any, **kwargs: Any) -> bool:
            hooks = self._lp_hooks
            if hooks is not None and args:
                _contain("event", hooks.on_event, args[0])
            return True

        async def _ws_client_loop(
            self,
            initial_webcast_response: Any,
            process_connect_events: bool,
            compress_ws_events: bool,
        ) -> None:
            hooks = self._lp_hooks
            if hooks is not None:
                _contain(
                    "initial", hooks.on_initial, bytes(initial_webcast_response), self._room_id
                )
            await super()._ws_client_loop(
                initial_webcast_response=initial_webcast_response,
                process_connect_events=process_connect_events,
                compress_ws_events=compress_ws_events,
            )

        async def _parse_webcast_response_message(
            self, webcast_response: Any, webcast_response_message: Any
        ) -> Any:
            method = getattr(webcast_response_message, "method", None)
            hooks = self._lp_hooks
            if hooks is not None and method is not None and method not in tl.EVENT_MAPPINGS:
                _contain("unknown", hooks.on_unknown, str(method))
            return await super()._parse_webcast_response_message(
                webcast_response=webcast_response,
                webcast_response_message=webcast_response_message,
            )

        async def disconnect(self, close_client: bool = False) -> None:
            # The library schedules disconnect() itself on a live end; track those tasks
            # so closing can wait for them instead of leaving them pending.
            task = asyncio.current_task()
            if task is not None:
                self._lp_stoppers.add(task)
            try:
                await super().disconnect(close_client=close_client)
            finally:
                if task is not None:
                    self._lp_stoppers.discard(task)

    return _Client


def _tap_protocol(on_frame: Any) -> Any:
    """A ``create_protocol`` factory whose protocol reports each received frame."""
    base = lib().WebSocketClientProtocol

    class _Tap(base):  # type: ignore[misc,valid-type]
        async def recv(self) -> Any:
            data = await super().recv()
            _contain("frame", on_frame, data if isinstance(data, bytes) else data.encode())
            return data

    return _Tap


class TikTokConnection:
    """One attempt to connect to ``unique_id``'s LIVE, with a fresh library client.

    ``await start()`` resolves the room, checks it is live, calls the sign server and
    opens the WebSocket task (raising a :class:`~livepilot.errors.SourceError`);
    ``task`` then runs until the connection ends; :meth:`failure` says why it ended;
    :meth:`close` always cleans up.
    """

    def __init__(
        self,
        unique_id: str,
        hooks: ConnectionHooks,
        *,
        sign_api_key: str | None = None,
        session_id: str | None = None,
        target_idc: str | None = None,
        transports: Transports | None = None,
        room_id: int | None = None,
        check_room_info: bool = True,
        start_timeout: float = _START_TIMEOUT,
    ) -> None:
        self.unique_id = unique_id
        self._start_timeout = start_timeout
        self._room_override = room_id
        self._check_room_info = check_room_info
        transports = transports or Transports()
        httpx_kwargs: dict[str, Any] = {}
        if transports.web is not None:
            httpx_kwargs["transport"] = transports.web
        signer_kwargs: dict[str, Any] = {}
        if transports.sign_url is not None:
            signer_kwargs["sign_api_base"] = transports.sign_url
        if sign_api_key:
            signer_kwargs["sign_api_key"] = sign_api_key
        client = _client_class()(
            unique_id=unique_id,
            web_kwargs={"httpx_kwargs": httpx_kwargs, "signer_kwargs": signer_kwargs},
            ws_kwargs={"create_protocol": _tap_protocol(hooks.on_frame)},
        )
        client._lp_hooks = hooks
        if transports.sign is not None:
            client.web.signer.sdk_client.set_async_httpx_client(
                httpx.AsyncClient(
                    base_url=transports.sign_url or _SIGN_URL, transport=transports.sign
                )
            )
        if session_id:
            client.web.set_session(session_id, target_idc)
        self._client = client
        self._task: asyncio.Task[None] | None = None

    @property
    def room_id(self) -> int | None:
        room: int | None = self._client.room_id
        return room

    @property
    def task(self) -> asyncio.Task[None]:
        if self._task is None:
            raise RuntimeError("TikTokConnection.task before a successful start()")
        return self._task

    async def start(self) -> None:
        """Connect; raises the mapped :class:`SourceError` when TikTok says no.

        ``start`` only makes HTTP calls (room, live check, sign server); the WebSocket
        opens inside the task, under the library's own 10 s open timeout.
        """
        try:
            async with asyncio.timeout(self._start_timeout):
                self._task = await self._client.start(
                    fetch_room_info=self._check_room_info and self._room_override is None,
                    room_id=self._room_override,
                )
        except TimeoutError as exc:
            raise TikTokNetworkError(
                f"no answer from TikTok within {self._start_timeout:.0f} s"
            ) from exc
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise map_error(exc, self.unique_id) from exc

    def failure(self) -> SourceError | None:
        """Why the finished task ended: ``None`` for a clean close (or live end)."""
        task = self.task
        if not task.done():
            raise RuntimeError("failure() of a running connection")
        if task.cancelled():
            return TikTokConnectionLost("the connection was cancelled")
        exc = task.exception()
        return None if exc is None else map_error(exc, self.unique_id)

    async def close(self) -> None:
        """Stop the WebSocket (if running) and release the HTTP clients. Never raises."""
        client = self._client
        task = self._task
        try:
            if task is not None and not task.done():
                stopper = asyncio.ensure_future(client.disconnect())
                await asyncio.wait({stopper}, timeout=_CLOSE_TIMEOUT)
                if not task.done():
                    # A half-open socket can hang the closing handshake: cut it.
                    task.cancel()
                    await asyncio.wait({task}, timeout=_CLOSE_TIMEOUT)
                await asyncio.wait({stopper}, timeout=_CLOSE_TIMEOUT)
                if stopper.done() and not stopper.cancelled():
                    stopper.exception()
            if task is not None and task.done() and not task.cancelled():
                task.exception()  # retrieved: the supervisor already read it via failure()
            pending = set(client._lp_stoppers)
            if pending:
                await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT)
            await client.web.close()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("closing the TikTok client for @%s failed", self.unique_id, exc_info=True)


class FrameDecoder:
    """Decodes captured frames through TikTokLive's own parsing, without any network.

    ``initial`` takes the sign server's first fetch result, ``frame`` a raw WebSocket
    frame; both return the library's events, exactly as a live client would emit them
    (``ConnectEvent`` for an initial result, nothing for heartbeat/ack frames).
    """

    def __init__(self, unique_id: str, on_unknown: Any = None) -> None:
        self._unknown = on_unknown
        self._client = _client_class()(unique_id=unique_id)

        decoder = self

        class _Hooks:
            def on_event(self, event: Any) -> None:  # pragma: no cover - not emitted here
                pass

            def on_frame(self, data: bytes) -> None:  # pragma: no cover
                pass

            def on_initial(self, data: bytes, room_id: int) -> None:  # pragma: no cover
                pass

            def on_unknown(self, method: str) -> None:
                if decoder._unknown is not None:
                    decoder._unknown(method)

        self._client._lp_hooks = _Hooks()

    async def initial(self, data: bytes, room_id: int) -> list[Any]:
        tl = lib()
        self._client._room_id = room_id
        response = tl.ProtoMessageFetchResult().parse(data)
        return [ev async for ev in self._events(response)]

    async def frame(self, data: bytes) -> list[Any]:
        """Same steps as ``WebcastConnect.__aiter__``: push frame → (gunzip) → result."""
        tl = lib()
        push = tl.WebcastPushFrame().parse(data)
        if push.payload_type != "msg":
            return []
        response = tl.extract_webcast_response_message(push, logger=self._client.logger)
        return [ev async for ev in self._events(response)]

    async def _events(self, response: Any) -> AsyncIterator[Any]:
        async for event in self._client._parse_webcast_response(response):
            yield event

    async def close(self) -> None:
        pending = set(self._client._lp_stoppers)
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT)
        await self._client.web.close()
