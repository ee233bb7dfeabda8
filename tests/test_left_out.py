"""Every entry of the window an edition leaves out after clustering is in ``Edition.left_out``
with its reason (over the list's cap, off-topic without a fallback), and ``build --json``
shows the stories the email left out for size and the copies dedupe dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest import edition as editions
from digest.config import load_config
from digest.explain import edition_json
from digest.types import Copy, Entry

from .conftest import REPO

END = datetime(2026, 2, 18, 7, tzinfo=UTC)
CONFIG = load_config(REPO / "config.yaml")

ENTRIES = [
    Entry(source="bbc-world", entry_id="1", title="Peru's Congress removes interim President José Jerí",
          summary_text="Lawmakers in Lima voted to remove President José Jerí over a corruption scandal.",
          url="https://bbc.example/1", published=END - timedelta(hours=3), language="en"),
    Entry(source="nyt-world", entry_id="2", title="Thousands in Kosovo march on independence anniversary",
          summary_text="Thousands marched in Pristina, Kosovo, to mark the anniversary of independence.",
          url="https://nyt.example/2", published=END - timedelta(hours=2), language="en",
          also_in=(Copy("abc-news", "9", "https://abc.example/9"),)),
]


def _assemble(**update: object):
    list_config = CONFIG.lists[0].model_copy(update=update)
    return editions.assemble(
        config=CONFIG, list_config=list_config, period="2026-02-18",
        window=(END - timedelta(hours=36), END), entries=ENTRIES, sent={},
    )


def test_a_story_over_the_lists_cap_is_left_out_with_the_cap() -> None:
    edition = _assemble(max_stories=1)
    assert len(edition.stories) == 1
    [left] = edition.left_out
    assert left.kind == "cap" and "beyond the list's 1 stories" in left.reason
    assert left.entry.entry_id not in {e.entry_id for s in edition.stories for e in s.entries}


def test_an_off_topic_story_without_a_fallback_is_left_out_saying_so() -> None:
    edition = _assemble(topics=["americas"], fallback=None)
    assert [s.lead.entry_id for s in edition.stories] == ["1"]
    [left] = edition.left_out
    assert (left.entry.entry_id, left.kind) == ("2", "off-topic")
    assert "no section of the list claims it" in left.reason


def test_json_marks_the_stories_left_out_for_size_and_lists_dropped_copies() -> None:
    edition = _assemble()
    kosovo = next(s for s in edition.stories if s.lead.entry_id == "2")
    data = edition_json(edition, for_size=(kosovo,))
    [story] = [s for s in data["stories"] if s["key"] == kosovo.key]
    assert story["in_email"] is False
    assert story["entries"][0]["also_in"] == [{"source": "abc-news", "id": "9", "url": "https://abc.example/9"}]
    assert [(x["id"], x["kind"]) for x in data["left_out"]] == [("2", "size")]
    assert all(s["in_email"] for s in data["stories"] if s["key"] != kosovo.key)
