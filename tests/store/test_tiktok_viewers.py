"""TikTok's cumulative viewer count reaches the store: ``total_user`` → ``ViewerCountEvent.
total``, through the library's real parse path (protobuf frame → decoder → mapper)."""

from __future__ import annotations

from livepilot.events import ViewerCountEvent
from livepilot.sources.tiktok.client import FrameDecoder
from livepilot.sources.tiktok.mapping import Mapper
from livepilot.sources.tiktok.testing import Frames, push_frame
from livepilot.wire import decode, encode


async def test_the_cumulative_viewer_count_is_kept_and_left_out_when_unknown() -> None:
    f = Frames()
    seq = f._wrap("WebcastRoomUserSeqMessage", f.p.WebcastRoomUserSeqMessage(
        common=f._common(), total=120, total_user=5_400))
    decoder = FrameDecoder("tester")
    try:
        decoded = await decoder.frame(push_frame([seq]))
    finally:
        await decoder.close()
    (event,) = [e for raw in decoded for e in Mapper("tester").map(raw, 1.0)]
    assert isinstance(event, ViewerCountEvent)
    assert (event.count, event.total) == (120, 5_400)
    assert decode(encode(event)) == event
    unknown = event.model_copy(update={"total": None})
    assert "total" not in encode(unknown)  # recordings without it stay as they were
