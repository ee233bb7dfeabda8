"""Noise rules (digest.noise): each rule on a made-up entry, and news that must stay news."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digest.noise import classify, split_noise
from digest.types import Entry

NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)


def entry(title: str, *, url: str = "https://news.example/2026/02/17/item", categories=(), published=None) -> Entry:
    return Entry(
        source="s",
        entry_id=title,
        title=title,
        url=url,
        categories=tuple(categories),
        published=published or NOW - timedelta(hours=3),
        first_seen=NOW,
    )


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (entry("Old podcast episode", published=NOW - timedelta(days=3000)), "archive"),
        (entry("An old column", url="https://news.example/1998/05/02/column.html"), "archive"),
        (entry("Jane Doe, 74; Wrote About the Resistance"), "archive"),
        (entry("John Roe, Leading Painter, Is Dead"), "archive"),
        (entry("Up First: the news you need to start your day"), "roundup"),
        (entry("World Brief: talks in Geneva"), "roundup"),
        (entry("Russia-Ukraine war: List of key events, day 1,455"), "roundup"),
        (entry("A singer has died. And, talks resume in Geneva"), "roundup"),
        (entry("Talks, storms and an election", url="https://news.example/newsletter/2026-02-17"), "roundup"),
        (entry("A Hectic Day for Negotiators", categories=["World Brief", "Iran"]), "programme"),
        (entry("Who should control our digital world?", categories=["TV Shows"]), "programme"),
        (entry("The week's news quiz"), "quiz"),
        (entry("Subscribe to our daily email"), "service"),
    ],
)
def test_each_rule_recognises_its_kind(item: Entry, kind: str) -> None:
    verdict = classify(item)
    assert verdict is not None and verdict.kind == kind and verdict.reason


@pytest.mark.parametrize(
    "item",
    [
        entry("Civil rights leader dies aged 84"),
        entry("A Generation grows up uncertain. And social media is their source of news"),
        entry("Iran says 'guiding principles' agreed at nuclear talks", categories=["Iran", "Nuclear Weapons"]),
        entry("Briefing room: minister resigns"),
        entry("Hurricane season starts", published=NOW - timedelta(days=2), url="https://x.example/2026/02/16/h"),
        entry("", url=""),
    ],
)
def test_news_stays_news(item: Entry) -> None:
    assert classify(item) is None


def test_split_keeps_order() -> None:
    items = [entry("News one"), entry("Up First: today"), entry("News two"), entry("Weekly quiz")]
    news, noise = split_noise(items)
    assert [e.title for e in news] == ["News one", "News two"]
    assert [(e.title, v.kind) for e, v in noise] == [("Up First: today", "roundup"), ("Weekly quiz", "quiz")]
