"""Ranking: property tests for the score, the sent/update rule, overrides, reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from digest.rank import Override, rank
from digest.types import Entry, Story

NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)
SOURCES = [f"s{i}" for i in range(12)]


def make_story(
    key: str,
    sources: list[str],
    *,
    age_hours: float = 1.0,
    title: str = "A story",
    url: str | None = None,
) -> Story:
    entries = [
        Entry(
            source=src,
            entry_id=f"{key}-{i}",
            title=title,
            url=url if i == 0 else None,
            published=NOW - timedelta(hours=age_hours),
        )
        for i, src in enumerate(sources)
    ]
    return Story(key=key, lead=entries[0], others=tuple(entries[1:]))


def score_of(story: Story, **kw: object) -> float:
    [ranked] = rank([story], weights=kw.pop("weights", {}), now=NOW, **kw)  # type: ignore[arg-type]
    return ranked.score


weights_st = st.dictionaries(st.sampled_from(SOURCES), st.floats(0.1, 10), max_size=12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 11), age=st.floats(0, 200), weights=weights_st)
def test_score_never_decreases_with_another_outlet(
    n: int, age: float, weights: dict[str, float]
) -> None:
    fewer = make_story("k", SOURCES[:n], age_hours=age)
    more = make_story("k", SOURCES[: n + 1], age_hours=age)
    assert score_of(more, weights=weights) >= score_of(fewer, weights=weights)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 6), age=st.floats(0, 100), extra=st.floats(0.01, 100), weights=weights_st)
def test_score_strictly_decreases_with_age(
    n: int, age: float, extra: float, weights: dict[str, float]
) -> None:
    young = make_story("k", SOURCES[:n], age_hours=age)
    old = make_story("k", SOURCES[:n], age_hours=age + extra)
    assert score_of(old, weights=weights) < score_of(young, weights=weights)


@settings(max_examples=40, deadline=None)
@given(copies=st.integers(1, 30), age=st.floats(0, 48))
def test_copies_from_one_outlet_do_not_add_up(copies: int, age: float) -> None:
    one = make_story("a", ["s0"], age_hours=age)
    many = make_story("b", ["s0"] * copies, age_hours=age)
    three = make_story("c", ["s1", "s2", "s3"], age_hours=age)
    assert score_of(many) == pytest.approx(score_of(one))
    assert score_of(three) > score_of(many)


@settings(max_examples=40, deadline=None)
@given(n_old=st.integers(1, 5), n_new=st.integers(0, 5), new_outlets=st.booleans())
def test_sent_stories_stay_out_unless_they_grew(n_old: int, n_new: int, new_outlets: bool) -> None:
    old_sources = SOURCES[:n_old]
    new_sources = SOURCES[n_old : n_old + n_new] if new_outlets else [old_sources[0]] * n_new
    story = make_story("k", old_sources + new_sources)
    sent = {(e.source, e.entry_id): "2026-02-17" for e in story.entries[:n_old]}
    ranked = rank([story], weights={}, now=NOW, sent=sent)
    grew = new_outlets and n_new > 0
    assert len(ranked) == int(grew)
    if grew:
        assert ranked[0].update
        assert any(r.name == "update" and "2026-02-17" in r.note for r in ranked[0].reasons)


def test_order_reasons_and_update_novelty() -> None:
    big = make_story("big", ["s0", "s1", "s2"], age_hours=2)
    small = make_story("small", ["s3"], age_hours=1)
    ranked = rank([small, big], weights={"s3": 1.0}, now=NOW)
    assert [s.key for s in ranked] == ["big", "small"]
    names = [r.name for r in ranked[0].reasons]
    assert names[:4] == ["outlets", "weight", "freshness", "novelty"] and names[-1] == "score"
    factor = {r.name: r.value for r in ranked[0].reasons}
    assert factor["outlets"] == 3 and factor["freshness"] == pytest.approx(2 ** (-2 / 12))
    assert factor["score"] == pytest.approx(ranked[0].score)
    grown = make_story("g", ["s0", "s1", "s2", "s3"])
    [upd] = rank([grown], weights={}, now=NOW, sent={("s0", "g-0"): "p1", ("s1", "g-1"): "p1"})
    assert upd.update and {r.name: r.value for r in upd.reasons}["novelty"] == pytest.approx(0.5)


def test_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError):
        rank([], weights={}, now=NOW, half_life_hours=0)


# --- overrides -------------------------------------------------------------------------------


def test_override_needs_exactly_one_target() -> None:
    with pytest.raises(ValidationError):
        Override(action="pin")
    with pytest.raises(ValidationError):
        Override(action="drop", url="https://x.org/a", keyword="x")
    with pytest.raises(ValidationError):
        Override(action="boost", keyword="x", expires=datetime(2026, 1, 1))  # naive time


def test_drop_by_url_keyword_and_source() -> None:
    a = make_story(
        "a",
        ["s0", "s1"],
        title="Peru votes to impeach president",
        url="https://news.example/peru-vote",
    )
    b = make_story("b", ["s2"], title="US talks resume")
    c = make_story("c", ["s3", "s4"], title="Gold found in cattle pen")
    out = rank(
        [a, b, c],
        weights={},
        now=NOW,
        overrides=[
            Override(action="drop", url="http://www.news.example/peru-vote?utm_source=rss"),
            {"action": "drop", "keyword": "talks"},
            Override(action="drop", source="s3"),
        ],
    )
    assert [s.key for s in out] == ["c"]
    assert out[0].sources == ("s4",)


def test_caps_keyword_is_case_sensitive() -> None:
    us = make_story("us", ["s0"], title="US and Iran talks")
    pronoun = make_story("pr", ["s1"], title="Tell us what you think")
    out = rank(
        [us, pronoun], weights={}, now=NOW, overrides=[Override(action="drop", keyword="US")]
    )
    assert [s.key for s in out] == ["pr"]


def test_boost_and_pin_with_reasons_and_expiry() -> None:
    big = make_story("big", ["s0", "s1", "s2"])
    small = make_story("small", ["s3"], title="Local election results")
    other = make_story("other", ["s4"], title="Weather")
    out = rank(
        [big, small, other],
        weights={},
        now=NOW,
        overrides=[
            Override(action="boost", keyword="election", factor=10, note="editor: elections week"),
            Override(action="pin", source="s4"),
            Override(action="pin", source="s0", expires=NOW - timedelta(hours=1)),
        ],
    )
    assert [s.key for s in out] == ["other", "small", "big"]
    assert out[0].pinned and not out[1].pinned
    assert any(r.name == "boost" and r.note == "editor: elections week" for r in out[1].reasons)


# --- the real same-day feeds -----------------------------------------------------------------


def test_real_feed_big_stories_rank_near_the_top() -> None:

    from digest.cluster import cluster, dedupe
    from tests.conftest import REAL_FEEDS
    from tests.realfeed_window import WINDOW_END, window_entries

    entries = window_entries(REAL_FEEDS)
    # weights as config.yaml gives them, keyed by the stand-in loader's source names
    weights = {
        "bbc-world-rss": 1.2,
        "nyt-world-rss": 1.2,
        "aljazeera-all-rss": 1.1,
        "japantoday-world-rss": 0.8,
        "dawn-world-rss": 0.9,
        "foreignpolicy-rss": 0.9,
        "elpais-english-rss": 0.9,
    }
    ranked = rank(
        cluster(dedupe(entries, weights=weights), weights=weights), weights=weights, now=WINDOW_END
    )
    # without the config's languages BBC's "First day of Russia-Ukraine peace talks" stays
    # alone in this stand-in, so the Ukraine story has 3 outlets and ranks 7th; through the
    # demo config it has 4 (tests/test_stories_real.py)
    top = ranked[:8]

    def has(story: Story, *words: str) -> bool:
        return sum(all(w in e.title for w in words) for e in story.entries) >= 3

    assert any(has(s, "Iran") for s in top)
    assert any(has(s, "Ukrain") for s in top)
    assert any(has(s, "Jesse Jackson") for s in top)
    assert all(len(s.sources) >= 4 for s in top if has(s, "Iran") or has(s, "Jesse Jackson"))
    assert all(len(s.sources) >= 3 for s in top if has(s, "Ukrain"))
    # the sent rule on real data: yesterday's edition had the first three reports of each story
    sent = {(e.source, e.entry_id): "2026-02-17" for s in top for e in s.entries[:3]}
    again = rank(
        cluster(dedupe(entries, weights=weights), weights=weights),
        weights=weights,
        now=WINDOW_END,
        sent=sent,
    )
    assert all(s.update for s in again if s.key in {t.key for t in top})


def test_explain_lists_every_factor() -> None:
    from digest.rank import explain

    [story] = rank(
        [make_story("k", ["s0", "s1"], title="Peru votes")],
        weights={},
        now=NOW,
        overrides=[Override(action="boost", keyword="Peru", factor=3)],
    )
    text = explain(story)
    assert text.startswith(f"score {story.score:.3f}  Peru votes")
    for name in ("outlets", "weight", "freshness", "novelty", "boost"):
        assert f"  {name}" in text


def test_overrides_from_another_config_model_are_accepted() -> None:
    from pydantic import BaseModel

    class ConfigOverride(BaseModel):  # what config.py may declare with the same fields
        action: str
        keyword: str | None = None
        url: str | None = None
        source: str | None = None
        factor: float | None = None

    out = rank(
        [make_story("a", ["s0"], title="Peru votes"), make_story("b", ["s1"], title="Other")],
        weights={},
        now=NOW,
        overrides=[ConfigOverride(action="drop", keyword="Peru")],
    )
    assert [s.key for s in out] == ["b"]


def test_copies_dedupe_dropped_still_count_as_outlets_and_show_in_also_in() -> None:
    """A wire story four outlets ran is deduplicated to one entry; the outlets of the copies
    it dropped count in the score and show as "also reported by"."""
    import dataclasses

    from digest.cluster import cluster, dedupe
    from digest.render import story_card
    from digest.types import Edition

    copies = [
        Entry(
            source=src,
            entry_id=f"wire-{src}",
            title="Earthquake of magnitude 6.1 strikes off the coast of Chile",
            summary_text="A strong earthquake struck off the coast on Tuesday, the geological survey said.",
            url=f"https://{src}.example.org/wire/quake",
            published=NOW - timedelta(hours=1),
        )
        for src in ("s1", "s2", "s3", "s4")
    ]
    lone = Entry(
        source="s5", entry_id="own", title="Parliament passes the budget after a long night",
        published=NOW - timedelta(hours=1),
    )  # fmt: skip
    kept = dedupe([*copies, lone])
    assert len(kept) == 2
    wire = next(e for e in kept if e.entry_id.startswith("wire"))
    assert sorted(c.source for c in wire.also_in) == sorted({"s1", "s2", "s3", "s4"} - {wire.source})
    ranked = rank(cluster(kept, weights={}), weights={}, now=NOW)
    assert ranked[0].lead == wire and ranked[0].reasons[0].value == 4.0  # four outlets
    assert ranked[0].score > ranked[1].score
    alone = dataclasses.replace(wire, also_in=())
    assert score_of(Story(key="w", lead=alone)) < ranked[0].score
    edition = Edition("l", "L", "p", NOW, NOW, ())
    card = story_card(ranked[0], edition)
    assert [link.text for link in card.also] == [c.source for c in wire.also_in]
    assert all(link.url for link in card.also)


def test_a_later_development_from_a_sent_outlet_comes_back_led_by_it() -> None:
    """The outlet that reported the first day of talks reports the second: an update, opening
    with the new headline (not the one already sent); the same outlet's piece from before
    the sent one is not new reporting."""
    sent_one = Entry(source="s0", entry_id="d1", title="First day of peace talks ends in Geneva",
                     published=NOW - timedelta(hours=20))
    later = Entry(source="s0", entry_id="d2", title="Second day of talks brings prisoner swap",
                  published=NOW - timedelta(hours=2))
    earlier = replace(later, entry_id="d0", published=NOW - timedelta(hours=22))
    sent = {("s0", "d1"): "2026-02-17"}

    def ranked(*others: Entry) -> list[Story]:
        return rank([Story(key="k", lead=sent_one, others=others)], weights={}, now=NOW, sent=sent)

    [update] = ranked(later)
    assert update.update and update.lead is later and update.others == (sent_one,)
    assert ranked(earlier) == []
