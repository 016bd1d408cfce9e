from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from livepilot.insights import Insight, Label
from livepilot.leads import (
    Lead,
    LeadBook,
    LeadPolicy,
    collect_leads,
    export_leads,
    read_leads,
)
from livepilot.settings import Settings
from livepilot.testing import EventFactory, FakeClock

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def lead(n: int, at: float, text: str = "was kostet das", user: str = "anna") -> Lead:
    return Lead(f"e{n}", "shop", at, "price", f"id-{user}", user, text, f"q{n}")


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_default_policy_pseudonymises_and_keeps_no_text() -> None:
    policy = LeadPolicy(key=b"k" * 32)
    book = LeadBook(policy)
    book.add(lead(1, T0, user="anna"))
    book.add(lead(2, T0 + 5, user="ben"))
    book.add(lead(3, T0 + 9, user="anna"))
    assert [entry.text for entry in book] == [None, None, None]  # never stored
    out = rows(book.export(T0 + 10))
    assert list(out[0]) == ["time", "stream", "kind", "user", "queue_item"]
    assert out[0]["time"] == "2023-11-14T22:13:20+00:00"
    users = [r["user"] for r in out]
    assert users[0] == users[2] != users[1]  # stable per person, distinct between people
    assert all(u.startswith("u-") and "anna" not in u for u in users)
    # another key, other pseudonyms: not linkable across runs without the key
    other = LeadPolicy(key=b"x" * 32)
    assert other.pseudonym("id-anna") != policy.pseudonym("id-anna")


def test_full_policy_exports_handle_and_text_formula_safe() -> None:
    policy = LeadPolicy(user="handle", message=True)
    book = LeadBook(policy)
    book.add(lead(1, T0, text="=HYPERLINK(\"http://x\")"))
    book.add(lead(2, T0, text="link, bitte; \"jetzt\""))
    out = rows(book.export(T0))
    assert list(out[0]) == ["time", "stream", "kind", "user", "message", "queue_item"]
    assert out[0]["user"] == "anna"
    assert out[0]["message"] == "'=HYPERLINK(\"http://x\")"
    assert out[1]["message"] == "link, bitte; \"jetzt\""


def test_no_user_column_when_users_are_not_exported() -> None:
    out = rows(export_leads([lead(1, T0)], LeadPolicy(user="none"), T0))
    assert list(out[0]) == ["time", "stream", "kind", "queue_item"]


def test_retention_drops_old_leads_from_memory_and_exports() -> None:
    policy = LeadPolicy(retention=3600)
    book = LeadBook(policy)
    book.add(lead(1, T0))
    book.add(lead(2, T0 + 1800))
    assert len(rows(book.export(T0 + 4000))) == 1  # the first is past retention
    assert book.purge(T0 + 4000) == 1
    assert [entry.event_id for entry in book] == ["e2"]
    with pytest.raises(ValueError, match="retention"):
        LeadPolicy(retention=0)


def test_json_export_states_the_policy() -> None:
    policy = LeadPolicy(user="none", retention=7200)
    document = json.loads(export_leads([lead(1, T0)], policy, T0 + 60, fmt="json"))
    assert document["policy"] == {"user": "none", "message": False, "retention_hours": 2.0}
    assert document["exported_at"] == "2023-11-14T22:14:20+00:00"
    assert document["leads"] == [
        {"time": "2023-11-14T22:13:20+00:00", "stream": "shop", "kind": "price",
         "queue_item": "q1"}
    ]
    with pytest.raises(ValueError, match="unknown lead export format"):
        export_leads([], policy, T0, fmt="xml")  # type: ignore[arg-type]


def test_book_is_bounded() -> None:
    book = LeadBook(LeadPolicy(), max_leads=3)
    for n in range(5):
        book.add(lead(n, T0 + n))
    assert [entry.event_id for entry in book] == ["e2", "e3", "e4"]


def test_policy_from_settings() -> None:
    settings = Settings(
        rules_dir=Path("."), lead_user="handle", lead_message=True, lead_retention_hours=1.5,
        lead_pseudonym_key=SecretStr("secret"),
    )
    policy = LeadPolicy.from_settings(settings)
    assert (policy.user, policy.message, policy.retention) == ("handle", True, 5400.0)
    assert policy.pseudonym("x") == LeadPolicy(key=b"secret").pseudonym("x")


def test_collect_leads_from_a_recording(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    events = EventFactory(clock, stream="shop")
    ask = events.chat("anna", "link pls")
    chat = events.chat("ben", "hallo")
    late = events.chat("cem", "was kostet das")

    def insight(event_id: str, *labels: Label, version: int = 0) -> Insight:
        return Insight(event_id=event_id, stream="shop", labels=labels, version=version)

    lead_label = Label(name="lead", source="intent", kind="link")
    messages = [
        ask, insight(ask.id, lead_label, Label(name="queued", source="questions", kind="q1")),
        chat, insight(chat.id),
        insight(ask.id, lead_label, version=1),  # a later version: no second lead
        late, insight(late.id, Label(name="lead", source="intent", kind="price")),
        insight("unknown", lead_label),
    ]
    found = collect_leads(messages)
    assert [(x.event_id, x.kind, x.handle, x.text, x.item) for x in found] == [
        (ask.id, "link", "anna", "link pls", "q1"),
        (late.id, "price", "cem", "was kostet das", None),
    ]

    path = tmp_path / "out.jsonl"
    path.write_text("\n".join(m.model_dump_json() for m in messages) + "\n{broken\n",
                    encoding="utf-8")
    assert read_leads(path) == found
