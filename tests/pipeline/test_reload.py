"""Hot reload: whole objects swapped on change, a broken edit keeps the old rules and
raises one ``rules_rejected`` alarm that the next good load clears."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from livepilot.errors import RulesError
from livepilot.insights import AlarmState
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import Outbox
from livepilot.yamlfile import load_model


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ratio: float = Field(default=0.8, gt=0, le=1)


def write(path: Path, text: str, stamp: int) -> None:
    """Write ``text`` with modification time ``stamp`` seconds: a change the stat sees
    even when two writes share a file-system time tick."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stamp * 10**9, stamp * 10**9))


def reloader(path: Path) -> HotReload[Limits]:
    return HotReload([path], lambda: load_model(path, Limits, "rules file"), stream="s",
                     source="spam", interval=1.0)


def test_swaps_whole_objects_and_alarms_on_errors(tmp_path: Path) -> None:
    path = tmp_path / "spam.yaml"
    write(path, "ratio: 0.9\n", 1)
    reload = reloader(path)
    first = reload.current
    assert first.ratio == 0.9
    out = Outbox()
    assert not reload.poll(100.0, out)          # nothing changed
    write(path, "ratio: 0.5\n", 2)
    assert not reload.poll(100.5, out)          # checked at most once per interval
    assert reload.poll(101.0, out)
    assert reload.current is not first
    assert reload.current.ratio == 0.5 and first.ratio == 0.9
    write(path, "ratio: 2\n", 3)
    assert not reload.poll(102.0, out)
    (raised,) = out.alarms
    assert raised.state is AlarmState.RAISED and raised.kind == "rules_rejected"
    assert raised.id == "s:rules_rejected:spam:1" and raised.source == "spam"
    assert "spam.yaml: ratio: Input should be less than or equal to 1" in raised.message
    assert reload.error is not None and "spam.yaml" in reload.error
    assert reload.current.ratio == 0.5
    write(path, "ratio: 0.7\n", 4)
    assert reload.poll(103.0, out)
    assert out.alarms[-1].state is AlarmState.CLEARED and out.alarms[-1].id == raised.id
    assert out.alarms[-1].message == "rules fixed and reloaded"
    assert reload.error is None and reload.current.ratio == 0.7


def test_a_new_error_replaces_the_alarm_the_same_error_does_not(tmp_path: Path) -> None:
    path = tmp_path / "spam.yaml"
    write(path, "ratio: 0.9\n", 1)
    reload = reloader(path)
    out = Outbox()
    write(path, "ratio: 2\n", 2)
    reload.poll(10.0, out)
    write(path, "ratio: 2\n# still wrong\n", 3)
    reload.poll(11.0, out)                      # same message: the alarm stands
    assert [(a.id, a.state) for a in out.alarms] == [
        ("s:rules_rejected:spam:1", AlarmState.RAISED)
    ]
    write(path, "ratio: 3\n", 4)
    reload.poll(12.0, out)
    assert [(a.id, a.state, a.message) for a in out.alarms[1:]] == [
        ("s:rules_rejected:spam:1", AlarmState.CLEARED, "superseded by a newer error"),
        ("s:rules_rejected:spam:2", AlarmState.RAISED, out.alarms[2].message),
    ]
    assert "(got 3)" in out.alarms[2].message


def test_a_file_that_appears_or_disappears_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "spam.yaml"
    builds: list[bool] = []

    def build() -> bool:
        builds.append(path.exists())
        return path.exists()

    reload = HotReload([path], build, stream="s", source="spam", interval=0.0)
    out = Outbox()
    assert reload.current is False
    write(path, "ratio: 0.9\n", 1)
    assert reload.poll(1.0, out) and reload.current is True
    path.unlink()
    assert reload.poll(2.0, out) and reload.current is False
    assert builds == [False, True, False] and out.alarms == []


def test_a_broken_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "spam.yaml"
    write(path, "ratio: nope\n", 1)
    with pytest.raises(RulesError, match=r"spam\.yaml: ratio: "):
        reloader(path)
