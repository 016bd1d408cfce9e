"""Fixed-memory sketches: who chatted before (Bloom filter), who chatted most (space-saving)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import pytest

from livepilot.stages.sketches import SeenFilter, TopCounter

_T = TypeVar("_T")


def _traced_growth(make: Callable[[], _T], feed: Callable[[_T, int], None], n: int, *,
                   settle: int) -> tuple[_T, int]:
    """The sketch ``make`` built, and how many bytes the traced heap grew by while
    ``feed(sketch, i)`` ran for ``i`` in ``settle..n`` (``0..settle`` filled whatever it
    allocates once). Tracing starts before the sketch exists, so what it frees counts."""
    tracemalloc.start()
    try:
        sketch = make()
        for i in range(settle):
            feed(sketch, i)
        before = tracemalloc.get_traced_memory()[0]
        for i in range(settle, n):
            feed(sketch, i)
        return sketch, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def _fp_rate(seen: SeenFilter, prefix: str, n: int) -> float:
    return sum(f"{prefix}{i}" in seen for i in range(n)) / n


def test_a_user_added_is_never_new_again() -> None:
    seen = SeenFilter(50_000)
    first = [seen.add(f"u{i}") for i in range(0, 50_000, 2)]
    assert sum(first) > 0.999 * len(first)  # new users are new (bar a false positive) …
    assert not any(seen.add(f"u{i}") for i in range(0, 50_000, 2))  # … and then never again
    assert all(f"u{i}" in seen for i in range(0, 50_000, 2))


def test_the_false_positive_rate_is_as_stated() -> None:
    seen = SeenFilter(200_000, fp_rate=0.01)
    for i in range(41_650):  # the 3-hour simulation's accounts: almost never a mistake
        seen.add(f"u{i}")
    assert _fp_rate(seen, "x", 100_000) < 1e-4
    for i in range(41_650, 200_000):  # one full generation: half the stated rate
        seen.add(f"u{i}")
    one = _fp_rate(seen, "y", 200_000)
    assert 0.003 < one < 0.006
    for i in range(200_000, 400_000):  # two full generations: the stated rate
        seen.add(f"u{i}")
    assert 0.99 * 400_000 < len(seen) <= 400_000  # a false positive adds nobody
    both = _fp_rate(seen, "z", 200_000)
    assert 0.007 < both < 0.011  # 1 % ± 4 standard deviations of 200,000 trials
    # the same on TikTok-like numeric ids
    numeric = SeenFilter(100_000, fp_rate=0.01)
    for i in range(200_000):
        numeric.add(str(6_800_000_000_000_000_000 + i * 7_919))
    assert _fp_rate(numeric, "7100000000000", 100_000) < 0.011


def test_generations_forget_only_long_silent_users_and_carry_active_ones() -> None:
    seen = SeenFilter(1_000)
    for i in range(1_000):
        seen.add(f"old{i}")
    for i in range(500):  # a second generation starts; the first is still asked
        seen.add(f"mid{i}")
    assert not seen.add("old1")  # held by the old generation: carried into the current one
    assert seen.add("regular")
    i = 500
    while len(seen) < 2_000:  # a false positive adds nobody: fill up to the capacity
        seen.add(f"mid{i}")
        i += 1
    seen.add("new0")  # a third generation: the first is dropped
    assert len(seen) == 1_001
    assert "old1" in seen and "regular" in seen and "mid5" in seen
    forgotten = sum(f"old{i}" not in seen for i in range(2, 1_000))
    assert forgotten >= 0.98 * 998  # silent for a whole generation: forgotten (bar FPs)


def test_a_new_capacity_applies_from_the_next_generation() -> None:
    seen = SeenFilter(1_000)
    first = seen.nbytes
    small = (SeenFilter.bits_for(100, 0.01) + 7) // 8
    seen.resize(100)  # nobody is forgotten early: the current generation stays
    for i in range(101):
        seen.add(f"u{i}")
    assert seen.nbytes == first + small and seen.capacity == 100
    for i in range(101, 300):
        seen.add(f"u{i}")
    assert seen.nbytes == 2 * small
    with pytest.raises(ValueError, match="capacity"):
        SeenFilter(0)
    with pytest.raises(ValueError, match="fp_rate"):
        SeenFilter(10, fp_rate=1.0)


def test_the_filter_does_not_grow_with_distinct_users() -> None:
    seen, grew = _traced_growth(lambda: SeenFilter(20_000),
                                lambda s, i: s.add(f"user{i}"), 120_000, settle=60_000)
    assert seen.nbytes == 2 * ((SeenFilter.bits_for(20_000, 0.01) + 7) // 8) < 100_000
    assert abs(grew) < 16_000  # three generations came and went: the same size again


def test_answers_do_not_depend_on_the_process_hash_seed() -> None:
    code = (
        "from livepilot.stages.sketches import SeenFilter\n"
        "s = SeenFilter(2000)\n"
        "[s.add(f'u{i}') for i in range(4000)]\n"
        "print([i for i in range(20000) if f'p{i}' in s])\n"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                       text=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and outputs.pop().count(",") > 10  # same false positives


def test_the_counter_is_exact_up_to_its_capacity() -> None:
    rng = random.Random(7)
    top = TopCounter(500)
    truth: Counter[str] = Counter()
    for _ in range(20_000):
        user = f"u{int(rng.paretovariate(1.2)) % 500}"
        top.add(user, user.upper())
        truth[user] += 1
    assert top.counts == dict(truth) and all(top.error(u) == 0 for u in truth)
    assert [(c.key, c.count, c.label) for c in top.top(3)] == [
        (u, n, u.upper()) for u, n in sorted(truth.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    ]


def test_past_capacity_counts_are_bounded_and_heavy_users_held() -> None:
    rng = random.Random(3)
    top = TopCounter(200, leader=True)
    truth: Counter[str] = Counter()
    for i in range(60_000):
        # a few regulars, then a crowd that mostly writes once
        user = f"r{rng.randrange(20)}" if rng.random() < 0.3 else f"c{rng.randrange(40_000)}"
        amount = 1 if i % 3 else rng.randrange(1, 50)  # weighted, like diamonds
        top.add(user, user, amount)
        truth[user] += amount
    assert len(top.counts) == 200 and top.total == sum(truth.values())
    for user, count in top.counts.items():
        assert count - top.error(user) <= truth[user] <= count
    must = [u for u, n in truth.items() if n > top.total / 200]
    assert must and all(u in top.counts for u in must)
    leader = top.leader()
    assert leader is not None and leader[0] == max(truth, key=truth.__getitem__)
    ranked = top.top(20)
    assert {c.key for c in ranked} == {f"r{i}" for i in range(20)}
    assert [c.guaranteed for c in ranked] == sorted((c.guaranteed for c in ranked), reverse=True)


def test_the_counter_does_not_grow_with_distinct_users() -> None:
    def feed(top: TopCounter, i: int) -> None:
        top.add(f"user{i}", f"handle{i}")
        if i % 4 == 0:
            top.add("regular", "regular")

    top, grew = _traced_growth(lambda: TopCounter(2_000), feed, 120_000, settle=60_000)
    assert len(top.counts) == 2_000
    assert abs(grew) < 16_000  # a full table of 2,000 (~400 KB) swaps users, not size
    assert top.top(1)[0].key == "regular"
