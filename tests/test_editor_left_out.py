"""The editor's "why here" page shows the entries an edition leaves out (``Edition.left_out``
and the stories the email left out for size), grouped by kind with the reason and, where an
adjustment can bring one back, its button. It used to show "0 stories" and nothing else on
a next-day edition whose every entry was already sent or not news."""

from __future__ import annotations

import dataclasses
import hashlib
import html as htmllib
import re
import warnings
from datetime import timedelta
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from digest.types import Entry, LeftOut
from tests.editor_support import TOKEN, SampleBackend, make_app
from tests.sample_edition import NOW, huge_edition, sample_edition


def _entry(source: str, slug: str, title: str) -> Entry:
    return Entry(source=source, entry_id=f"{source}:{slug}", title=title,
                 url=f"https://news.example.org/{slug}", published=NOW - timedelta(hours=5))  # fmt: skip


LEFT = (
    LeftOut(_entry("bbc-world", "geneva", "First day of Russia-Ukraine peace talks ends in Geneva"),
            "sent", "in the story “First day of Russia-Ukraine peace talks ends in Geneva” sent in "
                    "2026-02-17: it repeats what was sent"),
    LeftOut(_entry("nyt-world", "obit", "Jane Doe, 74, Pioneer of Radio, Is Dead"),
            "archive", "archive obituary headline (\"Name, 74; …\", \"… Is Dead\")"),
    LeftOut(_entry("npr-world", "upfirst", "Up First: the news you need to start your day"),
            "roundup", "newsletter or roundup: 'Up First'"),
    LeftOut(_entry("aljazeera", "extra", "Floods in Mozambique displace thousands"),
            "cap", "beyond the list's 30 stories (score 0.412)"),
)  # fmt: skip


def _why(tmp_path: Path, edition) -> str:  # type: ignore[no-untyped-def]
    app, store, _ = make_app(tmp_path, backend=SampleBackend(edition))
    with TestClient(app) as client:
        client.post("/editor/login", data={"token": TOKEN})
        page = client.get("/editor/lists/world/why?at=2026-02-18T07:00:00Z").text
    store.close()
    return page


def _groups(page: str) -> dict[str, list[str]]:
    """Per kind shown: the entry titles of its rows, in order."""
    found: dict[str, list[str]] = {}
    for kind, row in re.findall(r'<tr data-kind="([^"]+)">(.*?)</tr>', page, re.S):
        title = re.search(r'rel="noopener noreferrer">([^<]*)</a>', row).group(1)
        found.setdefault(kind, []).append(htmllib.unescape(title))
    return found


def test_a_next_day_edition_with_no_story_shows_what_it_left_out_and_why(tmp_path: Path) -> None:
    empty = dataclasses.replace(sample_edition(), sections=(), left_out=LEFT)
    page = _why(tmp_path, empty)
    assert "0 stories in 0 sections" in page and '<a href="#left-out">4 entries left out</a> (<a href="#left-cap">1 cap</a>' in page
    # grouped by kind, the ones an editor can act on before the noise
    assert list(_groups(page)) == ["cap", "sent", "archive", "roundup"]
    assert _groups(page)["sent"] == ["First day of Russia-Ukraine peace talks ends in Geneva"]
    text = htmllib.unescape(page)
    for item in LEFT:
        assert item.reason in text
    assert "Already sent in an earlier edition" in text and "Over a cap on stories" in text
    assert "raise the list's or the section's max_stories in config.yaml" in text


def test_stories_left_out_for_size_are_listed_with_a_pin_that_brings_them_back(tmp_path: Path) -> None:
    app, store, _ = make_app(tmp_path, backend=SampleBackend(huge_edition(80)))
    with TestClient(app) as client:
        client.post("/editor/login", data={"token": TOKEN})
        page = client.get("/editor/lists/world/why?at=2026-02-18T07:00:00Z").text
        form = re.search(r'<details class="left-group" id="left-size".*?<form(.*?)</form>', page, re.S).group(1)
        data = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
        assert data["action"] == "pin"
        after = client.post("/editor/lists/world/adjust", data=data).text
    store.close()
    assert f'data-key="{data["story"]}"' in after and "Pinned: the story now leads" in after
    shown = re.findall(r'<tr data-kind="size">.*?</tr>', after, re.S)
    anchor = hashlib.sha1(data["story"].encode()).hexdigest()[:10]  # the card's id
    assert f'href="#story-{anchor}"' in page
    assert shown and not any(f'href="#story-{anchor}"' in row for row in shown)  # in the email now
    [(group, rows)] = re.findall(r'<details class="left-group" id="left-(size)".*?<tbody>(.*?)</tbody>', page, re.S)
    pins = re.findall(r'name="story" value="([^"]+)">\s*<input type="hidden" name="lead_source"[^>]*>\s*'
                      r'<input type="hidden" name="lead_entry_id"[^>]*>\s*<input type="hidden" name="action" value="pin">', rows)  # fmt: skip
    marked = re.findall(r'Not in the email \(size\)', page)
    assert pins and len(pins) == len(marked) == rows.count('<tr data-kind="size">')
    assert "left out of the email to stay under Gmail" in htmllib.unescape(rows)


def test_an_updates_entries_already_sent_are_marked_sent(tmp_path: Path) -> None:
    edition = sample_edition()
    story = edition.sections[0].stories[0]
    old = story.others[-1]
    update = dataclasses.replace(story, update=True, carried=((old.source, old.entry_id),))
    edition = dataclasses.replace(edition, sections=(
        dataclasses.replace(edition.sections[0], stories=(update, *edition.sections[0].stories[1:])),
        *edition.sections[1:]))  # fmt: skip
    page = _why(tmp_path, edition)
    rows = re.findall(r"<tr(?: class=\"lead\")?>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", page, re.S)
    marked = [htmllib.unescape(title) for source, title in rows if ">sent</span>" in source]
    assert len(marked) == 1 and old.title in marked[0], marked


def test_an_edition_with_nothing_new_says_so_with_its_window(tmp_path: Path) -> None:
    page = _why(tmp_path, dataclasses.replace(sample_edition(), sections=()))
    assert "Nothing to show: no entry of this edition's window, 16 Feb 19:00 → 18 Feb 07:00 UTC" in page
    assert "Nothing to show" not in _why(tmp_path / "b", dataclasses.replace(sample_edition(), sections=(), left_out=LEFT))


def test_a_story_over_the_cap_is_one_row_naming_its_other_entries(tmp_path: Path) -> None:
    reason = "beyond the africa section's 8 stories"  # the same for every story of the section
    story = [LeftOut(_entry(s, f"floods-{s}", f"Floods in Mozambique ({s})"), "cap", reason, "k-floods")
             for s in ("aljazeera", "bbc-world", "npr-world")]  # fmt: skip
    other = LeftOut(_entry("dawn", "quake", "Quake shakes Karachi"), "cap", reason, "k-quake")
    page = _why(tmp_path, dataclasses.replace(sample_edition(), sections=(), left_out=(*story, other)))
    assert _groups(page) == {"cap": ["Floods in Mozambique (aljazeera)", "Quake shakes Karachi"]}
    assert "2 stories, 4 entries · cap" in page
    assert re.search(r"and 2 more entries: <a [^>]*>BBC News</a>, <a [^>]*>NPR</a>", page)
