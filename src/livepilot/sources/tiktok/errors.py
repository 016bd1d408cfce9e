"""What can go wrong talking to TikTok LIVE, as livepilot errors with a way out.

    SourceError (livepilot.errors)
    ├── TikTokUserNotFound       wrong handle: fatal, needs a human
    ├── TikTokAgeRestricted      stream needs a logged-in session: fatal, needs a human
    └── SourceUnavailable
        ├── TikTokUserOffline    creator not live: poll politely
        ├── TikTokRateLimited    sign server said 429: wait ``retry_after``
        ├── TikTokBlocked        TikTok rejected this device/IP: back off long
        ├── TikTokNetworkError   no network / DNS / timeout: back off
        ├── TikTokSignError      sign server failed otherwise: back off
        └── TikTokConnectionLost the WebSocket closed abnormally: reconnect

:func:`map_error` turns TikTokLive's, httpx's and websockets' exceptions into these; it
is the only place that knows their names, so the supervisor decides on our types alone.
"""

from __future__ import annotations

import asyncio
import json
import types

import httpx

from livepilot.errors import SourceError, SourceUnavailable

__all__ = [
    "TikTokAgeRestricted",
    "TikTokBlocked",
    "TikTokConnectionLost",
    "TikTokNetworkError",
    "TikTokRateLimited",
    "TikTokSignError",
    "TikTokUserNotFound",
    "TikTokUserOffline",
    "map_error",
]


class TikTokUserNotFound(SourceError):
    def __init__(self, unique_id: str) -> None:
        super().__init__(
            f"TikTok user @{unique_id} was not found. Check the handle (the part after "
            "tiktok.com/@, without spaces); if it is right, TikTok may be showing a captcha "
            "to this IP: try again later or from another network."
        )
        self.unique_id = unique_id


class TikTokAgeRestricted(SourceError):
    def __init__(self, unique_id: str) -> None:
        super().__init__(
            f"The LIVE of @{unique_id} is age-restricted and cannot be watched anonymously. "
            "Set LIVEPILOT_TIKTOK_SESSION_ID and LIVEPILOT_TIKTOK_TARGET_IDC to the cookies of "
            "an adult TikTok account (and WHITELIST_AUTHENTICATED_SESSION_ID_HOST="
            "api.eulerstream.com)."
        )
        self.unique_id = unique_id


class TikTokUserOffline(SourceUnavailable):
    def __init__(self, unique_id: str) -> None:
        super().__init__(f"@{unique_id} is not live right now")
        self.unique_id = unique_id


class TikTokRateLimited(SourceUnavailable):
    def __init__(self, retry_after: float | None, detail: str = "") -> None:
        wait = f"retry in {retry_after:.0f} s" if retry_after is not None else "retry later"
        super().__init__(
            "the sign server (Euler Stream) rate-limited this IP: "
            f"{wait}. Fewer restarts help; an API key (LIVEPILOT_TIKTOK_SIGN_API_KEY) raises "
            "the limit." + (f" Server said: {detail}" if detail else ""),
            retry_after=retry_after,
        )


class TikTokBlocked(SourceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__(
            f"TikTok rejected the connection ({detail}). This device or IP is blocked for "
            "now; it usually clears within hours. A different network or proxy helps."
        )


class TikTokNetworkError(SourceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__(f"cannot reach TikTok ({detail}); check the network connection")


class TikTokSignError(SourceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__(f"the sign server failed ({detail})")


class TikTokConnectionLost(SourceUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__(f"the connection to TikTok was lost ({detail})")


def _short(exc: BaseException) -> str:
    text = str(exc).replace("TikTokLive v7.0.1 -> ", "").strip()
    name = type(exc).__name__
    return f"{name}: {text[:200]}" if text else name


def _rate_limit_typeerror_retry(exc: TypeError) -> float | bool | None:
    """For TikTokLive 7.0.1's 429-without-headers crash: the Retry-After it had, or None.

    Returns False when the ``TypeError`` is not that crash. The library builds its
    ``SignatureRateLimitError`` by ``int()``-ing a header that may be missing; the
    response it was reading is still in that frame.
    """
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "calculate_retry_after":
            response = frame.f_locals.get("response")
            if isinstance(response, httpx.Response):
                value = response.headers.get("Retry-After")
                try:
                    return float(value) if value is not None else None
                except ValueError:
                    return None
            return None
        tb = tb.tb_next
    return False


def map_error(exc: BaseException, unique_id: str) -> SourceError:
    """The livepilot error for anything ``TikTokLiveClient.start()`` or its task raised."""
    from livepilot.sources.tiktok._lib import lib

    tl = lib()
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, tl.UserNotFoundError):
        return TikTokUserNotFound(unique_id)
    if isinstance(exc, tl.UserOfflineError):
        return TikTokUserOffline(unique_id)
    if isinstance(exc, tl.AgeRestrictedError):
        return TikTokAgeRestricted(unique_id)
    if isinstance(exc, tl.SignatureRateLimitError):
        try:
            retry: float | None = float(exc.retry_after)
        except (TypeError, ValueError):
            retry = None
        return TikTokRateLimited(retry, _short(exc))
    if isinstance(exc, tl.WebcastBlockedError):
        return TikTokBlocked(_short(exc))
    if isinstance(exc, tl.SignAPIError):
        cause = exc.__cause__
        if isinstance(cause, httpx.TransportError):
            return TikTokNetworkError(f"sign server: {_short(cause)}")
        if getattr(exc, "reason", None) == tl.SignAPIError.ErrorReason.CONNECT_ERROR:
            return TikTokNetworkError(f"sign server: {_short(exc)}")
        return TikTokSignError(_short(exc))
    if isinstance(exc, TypeError):
        retry_or_false = _rate_limit_typeerror_retry(exc)
        if retry_or_false is not False:
            retry_after = retry_or_false if isinstance(retry_or_false, float) else None
            return TikTokRateLimited(retry_after, "429 without rate-limit headers")
    if isinstance(exc, tl.ConnectionClosed):
        return TikTokConnectionLost(_short(exc))
    if isinstance(exc, tl.InvalidStatusCode):
        status = getattr(exc, "status_code", "?")
        if status in (401, 403, 429):
            return TikTokBlocked(f"WebSocket handshake answered {status}")
        return TikTokConnectionLost(f"WebSocket handshake answered {status}")
    if isinstance(exc, httpx.TransportError | OSError | asyncio.TimeoutError):
        return TikTokNetworkError(_short(exc))
    if isinstance(exc, json.JSONDecodeError | KeyError | tl.FailedParseRoomIdError):
        # TikTok answered with something other than the page we expect: usually a captcha.
        return TikTokNetworkError(
            f"unexpected answer from TikTok, probably a captcha: {_short(exc)}"
        )
    if isinstance(exc, httpx.HTTPError):
        return TikTokNetworkError(_short(exc))
    if isinstance(exc, tl.TikTokLiveError):
        return TikTokConnectionLost(_short(exc))
    return TikTokConnectionLost(_short(exc))
