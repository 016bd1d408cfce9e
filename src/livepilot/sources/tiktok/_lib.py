"""The one import of TikTokLive, done lazily and once.

TikTokLive 7.0.1 imports ``websockets.legacy``, which warns at import time; livepilot
runs with warnings as errors in tests, so the import is wrapped here.

The library's user-type bug (``CommentEvent.user`` is a plain ``User`` or an
``ExtendedUser`` depending on which message was parsed first) needs no fix here: the
mapping reads only fields both classes have (``display_id``, ``nickname``, ``id``).
Pre-building every event class's metadata would cost seconds at start-up for nothing.

Speed: betterproto2 0.9.1 (pinned by TikTokLive) validates every parsed message with
pydantic and compiles a new ``SchemaValidator`` for each one — about two thirds of the
decoding time. :func:`validation_cache` keeps one compiled validator per message class;
validation itself is unchanged (``benchmarks/tiktok_ingest.py`` measures both).
"""

from __future__ import annotations

import functools
import types
import warnings
from typing import Any

__all__ = ["lib", "validation_cache"]


def _cached_validate(self: Any) -> None:
    # Same checks as betterproto2.Message._validate, with the compiled validator kept on
    # the class (in its own __dict__: a subclass never borrows its parent's).
    import pydantic_core

    if not self._is_pydantic():
        raise TypeError("Validation is only available for pydantic dataclasses.")
    cls = type(self)
    validator = cls.__dict__.get("_livepilot_validator")
    if validator is None:
        validator = pydantic_core.SchemaValidator(cls.__pydantic_core_schema__)
        cls._livepilot_validator = validator
    fields = self.__dict__.copy()
    del fields["_unknown_fields"]
    validator.validate_python(fields)


def validation_cache(enabled: bool) -> None:
    """Install (or remove) the per-class validator cache on ``betterproto2.Message``."""
    import betterproto2

    message: Any = betterproto2.Message
    current = message.__dict__.get("_validate")
    if enabled and current is not _cached_validate:
        message._livepilot_original_validate = current
        message._validate = _cached_validate
    elif not enabled and current is _cached_validate:
        message._validate = message.__dict__["_livepilot_original_validate"]


@functools.cache
def lib() -> Any:
    """A namespace of the TikTokLive, websockets and betterproto2 names livepilot uses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from TikTokLive import TikTokLiveClient
        from TikTokLive.client import errors
        from TikTokLive.client.web.routes.fetch_room_id_live_html import FailedParseRoomIdError
        from TikTokLive.client.web.routes.fetch_room_info import (
            FailedFetchRoomInfoError,
            InvalidFetchRoomInfoPayload,
        )
        from TikTokLive.client.ws.ws_utils import extract_webcast_response_message
        from TikTokLive.events.proto_events import EVENT_MAPPINGS
        from TikTokLive.proto import ProtoMessageFetchResult, WebcastPushFrame
        from websockets.exceptions import ConnectionClosed
        from websockets.legacy.client import WebSocketClientProtocol
        from websockets.legacy.exceptions import InvalidStatusCode

    validation_cache(True)
    return types.SimpleNamespace(
        TikTokLiveClient=TikTokLiveClient,
        TikTokLiveError=errors.TikTokLiveError,
        UserNotFoundError=errors.UserNotFoundError,
        UserOfflineError=errors.UserOfflineError,
        AgeRestrictedError=errors.AgeRestrictedError,
        SignAPIError=errors.SignAPIError,
        SignatureRateLimitError=errors.SignatureRateLimitError,
        WebcastBlockedError=errors.WebcastBlockedError,
        FailedParseRoomIdError=FailedParseRoomIdError,
        FailedFetchRoomInfoError=FailedFetchRoomInfoError,
        InvalidFetchRoomInfoPayload=InvalidFetchRoomInfoPayload,
        ConnectionClosed=ConnectionClosed,
        InvalidStatusCode=InvalidStatusCode,
        WebSocketClientProtocol=WebSocketClientProtocol,
        EVENT_MAPPINGS=EVENT_MAPPINGS,
        ProtoMessageFetchResult=ProtoMessageFetchResult,
        WebcastPushFrame=WebcastPushFrame,
        extract_webcast_response_message=extract_webcast_response_message,
    )
