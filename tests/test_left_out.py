"""Every entry of the window an edition leaves out after clustering is in ``Edition.left_out``
with its reason (over the list's cap, off-topic without a fallback), and ``build --json``
shows the stories the email left out for size and the copies dedupe dropped."""

from __future__ import annotations

import dataclasses
import re
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
    # the key of its story, in --json too, so a left-out story's entries read as one
    assert left.story and edition_json(edition)["left_out"][0]["story"] == left.story


def test_a_story_over_its_sections_cap_says_which_and_its_score() -> None:
    """The section cap reason named only the cap ("beyond the europe section's 8 stories")
    while the list's cap had cut the section to 5 in the email: it now says "best" and the
    story's score, as the list cap's reason does."""
    chile = dataclasses.replace(
        ENTRIES[0], source="npr-world", entry_id="3", url="https://npr.example/3",
        title="Chile's wildfires force thousands from their homes near Valparaíso",
        summary_text="Firefighters in Valparaíso, Chile, fought blazes that forced evacuations.",
    )
    capped = CONFIG.model_copy(update={"topics": [
        t.model_copy(update={"max_stories": 1}) for t in CONFIG.topics]})  # fmt: skip
    edition = editions.assemble(
        config=capped, list_config=CONFIG.lists[0], period="2026-02-18",
        window=(END - timedelta(hours=36), END), entries=[*ENTRIES, chile], sent={},
    )
    reasons = [x.reason for x in edition.left_out if x.kind == "cap"]
    assert reasons and all(
        re.fullmatch(r"beyond the [a-z-]+ section's 1 best stories \(score \d\.\d{3}\)", r)
        for r in reasons
    ), reasons


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
    assert [(x["id"], x["kind"], x["story"]) for x in data["left_out"]] == [("2", "size", kosovo.key)]
    assert all(s["in_email"] for s in data["stories"] if s["key"] != kosovo.key)


def test_a_copy_from_the_same_outlet_that_dedupe_drops_is_listed_in_also_in(tmp_path) -> None:
    """``build --json`` lists every entry of the window: an outlet's re-post of an item under
    another id (the same link) is shown as a copy, as another outlet's copy is; it vanished."""
    import json

    import yaml
    from click.testing import CliRunner

    from digest.cli import cli

    items = "".join(
        f"<item><title>{title}</title><link>https://bbc.example/peru{query}</link><guid>{guid}</guid>"
        "<description>Lawmakers in Lima voted to remove President José Jerí over a corruption "
        "scandal.</description><pubDate>Wed, 18 Feb 2026 04:00:00 +0000</pubDate></item>"
        for title, query, guid in [
            ("Peru's Congress removes interim President José Jerí", "", "bbc-1"),
            ("Peru's Congress removes interim President José Jerí over scandal", "?at_medium=RSS", "bbc-2"),
        ]
    )
    (tmp_path / "bbc.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>bbc</title><link>https://bbc.example/</link>'
        f"<description>x</description>{items}</channel></rss>", encoding="utf-8")  # fmt: skip
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": f"sqlite:///{tmp_path / 'digest.db'}"}
    data["sources"] = [{"name": "bbc", "title": "BBC", "path": str(tmp_path / "bbc.xml"), "language": "en"}]
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    runner = CliRunner()
    assert runner.invoke(cli, ["-c", str(config), "poll"]).exit_code == 0
    result = runner.invoke(cli, ["-c", str(config), "build", "world", "--at", "2026-02-18T07:00Z", "--json"])
    built = json.loads(result.stdout)
    [story] = built["stories"]
    [entry] = story["entries"]
    shown = {entry["id"], *(c["id"] for c in entry["also_in"])}
    assert shown == {"bbc-1", "bbc-2"} and story["outlets"] == ["bbc"]  # one outlet, counted once
    assert built["left_out"] == []
