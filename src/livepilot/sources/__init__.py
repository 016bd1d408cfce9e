"""Where events come from: the simulator, JSONL replay, and (later) TikTok LIVE."""
