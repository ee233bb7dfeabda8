"""Clustering in bounded memory: time-ordered chunks overlapping by the story window.

Chunked and unchunked clustering must give the same stories on the real captured feeds, and a
story that crosses a chunk boundary must come out whole.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from digest.cluster import chunks, cluster, dedupe
from digest.types import Entry, Story
from tests.conftest import REAL_FEEDS
from tests.realfeed_window import window_entries

T0 = datetime(2026, 2, 17, tzinfo=UTC)


def _stories(stories: list[Story]) -> list[list[tuple[str, str]]]:
    return sorted(sorted((e.source, e.entry_id) for e in s.entries) for s in stories)


def test_chunks_cover_each_entry_once_and_reach_the_window_around_it() -> None:
    hours = np.array([5, 0, 1, 2, 30, 31, 3, 60, np.nan, 61], dtype=float)
    out = chunks(hours * 3600, 4, 24 * 3600)
    owned = np.concatenate([own for own, _ in out])
    assert sorted(owned.tolist()) == list(range(10))
    for own, members in out:
        assert set(own) <= set(members)
        dated = [i for i in own if not np.isnan(hours[i])]
        if not dated:
            assert set(members) == set(own)  # the undated stand apart
            continue
        lo, hi = hours[dated].min() - 24, hours[dated].max() + 24
        near = {i for i in range(10) if not np.isnan(hours[i]) and lo <= hours[i] <= hi}
        assert set(members) == near


@pytest.fixture(scope="module")
def six_days() -> list[Entry]:
    """Every entry of the real feeds from 2026-02-12 to 2026-02-18 (about 330, deduplicated)."""
    found = window_entries(
        REAL_FEEDS, datetime(2026, 2, 12, tzinfo=UTC), datetime(2026, 2, 18, 7, tzinfo=UTC)
    )
    return dedupe(found)


def test_chunked_gives_the_unchunked_stories_on_the_real_feeds(six_days: list[Entry]) -> None:
    whole = cluster(six_days, weights={}, window_hours=24.0)
    # own runs of 32 entries (about 10 hours of these feeds), each with 24 h either side
    chunked = cluster(six_days, weights={}, window_hours=24.0, chunk_size=64)
    assert len(six_days) > 300 and len(chunks(_times(six_days), 64, 24 * 3600.0)) > 8
    assert _stories(chunked) == _stories(whole)
    assert max(len(s.entries) for s in whole) >= 5  # the big stories are there to split


def test_chunked_demo_window_matches_at_the_story_window_of_the_config() -> None:
    entries = dedupe(window_entries(REAL_FEEDS))
    whole = cluster(entries, weights={}, window_hours=48.0)
    chunked = cluster(entries, weights={}, window_hours=48.0, chunk_size=16)
    assert _stories(chunked) == _stories(whole)


def _times(entries: list[Entry]) -> np.ndarray:
    return np.array([e.published.timestamp() for e in entries])  # type: ignore[union-attr]


def test_a_story_across_a_chunk_boundary_comes_out_whole() -> None:
    places = (
        "Oslo Lima Hanoi Accra Quito Perth Minsk Dakar Baku Riga Tunis Sofia Nairobi Lusaka "
        "Bogota Manila Tallinn Muscat Harare Yerevan Tbilisi Bamako Kigali Dhaka Vilnius Zagreb "
        "Ljubljana Skopje Tirana Beirut Amman Doha Kabul Tashkent Bishkek Ulaanbaatar Suva Apia "
        "Honiara Majuro"
    ).split()
    topics = (
        "tram fares|bakery prices|chess final|river flood|museum reopening|tennis upset|"
        "bridge repair|vaccine drive|jazz festival|coffee harvest|taxi strike|library fire|"
        "zoo birth|cyber attack|marathon record|salt mine|opera premiere|ferry delay|"
        "wine exports|drone show|rice shortage|kite contest|teacher pay|glacier melt|"
        "robot surgery|film award|port expansion|wolf sighting|sugar tax|metro tunnel|"
        "cricket win|paper mill|fashion week|ski lift|mango crop|radio ban|bee decline|"
        "chip factory|horse race|solar farm"
    ).split("|")
    filler = [
        Entry(
            source=f"s{i % 5}",
            entry_id=f"f{i}",
            title=f"{places[i]} {topics[i]}",
            published=T0 + timedelta(hours=i),
        )
        for i in range(40)
    ]
    story = [
        Entry(
            source=f"o{k}",
            entry_id=f"v{k}",
            title="Volcano erupts on Iceland's Reykjanes peninsula, flights cancelled",
            summary_text="Lava reached the road near Grindavik as the Reykjanes volcano erupted.",
            published=T0 + timedelta(hours=18 + 2 * k),
        )
        for k in range(4)
    ]  # hours 18..24: across the boundary after the first 20 filler entries (hour 19)
    entries = filler + story
    whole = cluster(entries, weights={}, window_hours=12.0)
    chunked = cluster(entries, weights={}, window_hours=12.0, chunk_size=20)
    volcano = [s for s in chunked if any(e.entry_id.startswith("v") for e in s.entries)]
    assert len(volcano) == 1 and len(volcano[0].entries) == 4
    assert _stories(chunked) == _stories(whole)
    assert len(chunks(_times(entries), 20, 12 * 3600.0)) == 5


def test_the_same_text_from_many_outlets_counts_once() -> None:
    """The demo window carried by ten times the outlets (each entry copied with a new source
    and id) gives the stories of the window: copies are one report, so they neither loosen
    the size-dependent cut nor make large groups for the join of broad halves (issue 14's
    50x window over-merged 154 stories into 102)."""
    from dataclasses import replace

    base = dedupe(window_entries(REAL_FEEDS))
    copies = [
        e if k == 0 else replace(e, source=f"{e.source}~{k}", entry_id=f"{e.entry_id}~{k}")
        for k in range(10)
        for e in base
    ]
    alone = {frozenset(e.entry_id for e in s.entries) for s in cluster(base, weights={}, window_hours=48.0)}
    many = cluster(copies, weights={}, window_hours=48.0)
    assert len(many) == len(alone)
    assert {frozenset(e.entry_id for e in s.entries if "~" not in e.entry_id) for s in many} == alone
