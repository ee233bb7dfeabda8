"""Place conflicts (digest/placeconflict.py): two leads that put their events in different
countries are two events, however many words and names they share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from digest.cluster import cluster
from digest.placeconflict import conflicts, place_rows
from digest.similarity import Params
from digest.types import Entry

T0 = datetime(2026, 2, 14, 12, tzinfo=UTC)


def entry(source: str, title: str, text: str = "", hours: float = 0) -> Entry:
    return Entry(
        source=source,
        entry_id=f"{source}:{title[:20]}",
        title=title,
        summary_text=text,
        url=None,
        published=T0 + timedelta(hours=hours),
    )


def conflict(a: Entry, b: Entry) -> bool:
    event, named = place_rows([a, b])
    return bool(conflicts(event, named, np.array([0]), np.array([1]))[0, 0])


MUNICH = entry(
    "nyt", "Europe Today Looks Different", "Marco Rubio appealed to European leaders in Munich."
)
TRIP = entry(
    "japantoday",
    "Rubio visits central Europe to bolster ties",
    "Rubio kicked off a trip to Slovakia and Hungary, whose conservative leaders...",
)


def test_events_put_in_two_countries_conflict() -> None:
    assert conflict(MUNICH, TRIP) and conflict(TRIP, MUNICH)


def test_one_country_however_named_is_no_conflict() -> None:
    gaza = entry("a", "Strike kills 11", "An air strike in Gaza killed 11 people.")
    israel = entry("b", "Army confirms strike", "The army said in Jerusalem that it struck.")
    texas = entry("a", "Floods", "Floods in Texas left thousands without power.")
    us = entry("b", "Storm", "A storm swept across the United States on Monday.")
    houston = entry("c", "Storm", "The storm hit hard in Houston.")
    assert not conflict(gaza, israel)
    assert not conflict(texas, houston)  # the states count as the US
    assert not conflict(us, houston)  # "across" is a place cue: the US and Houston agree


def test_a_lead_that_names_the_other_place_is_no_conflict() -> None:
    after = entry("b", "Rubio heads east", "After Munich, Rubio flew to Hungary on Sunday.")
    assert not conflict(MUNICH, after)


def test_what_puts_an_event_nowhere_is_no_conflict() -> None:
    venue = entry("a", "Talks resume", "Negotiators met in Geneva on Tuesday.")  # a venue
    continent = entry("b", "Rubio in Europe", "Rubio spoke in Europe about the alliance.")
    demonym = entry("c", "Hungarian leaders", "Hungarian leaders welcomed the envoy.")
    nothing = entry("d", "Rubio speaks", "The secretary of state gave a speech.")
    for other in (venue, continent, demonym, nothing):
        assert not conflict(MUNICH, other), other.title
    assert not conflict(venue, TRIP)


def test_a_shared_story_of_words_is_split_by_where_it_happens() -> None:
    """Two leads with the same words and names (Rubio, the alliance) a day apart: in Munich and
    in Budapest they are two events; main's clusterer joined them."""
    text = "Secretary of State Marco Rubio told leaders {} on {} that the alliance must hold."
    title = "Rubio tells allies the alliance must stand together"
    a = entry("nyt", title, text.format("in Munich", "Saturday"))
    b = entry("reuters", title, text.format("in Budapest", "Sunday"), 20)
    same = entry("ap", title + " in Munich", text.format("in Germany", "Saturday"), 2)
    assert len(cluster([a, b], weights={}, params=Params(place_conflict=False))) == 1  # main
    assert len(cluster([a, b], weights={})) == 2
    assert len(cluster([a, same], weights={})) == 1


def test_the_quick_check_skips_no_lead_the_matcher_places(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pre-check that spares most leads the gazetteer's matcher finds every event place
    the matcher finds, on the demo window's real leads (the countries a lead names matter
    only when it places its event: a lead that places nothing conflicts with nothing)."""
    import digest.placeconflict as placeconflict
    from digest.evaluate import load_jsonl, rows_to_entries
    from tests.conftest import DATASETS

    entries = rows_to_entries(load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"))
    quick = place_rows(entries)
    monkeypatch.setattr(placeconflict, "_could_place", lambda text: True)
    full = place_rows(entries)
    assert quick[0].nnz > 40
    assert (quick[0] != full[0]).nnz == 0
    placing = np.flatnonzero(np.asarray(full[0].sum(axis=1)).ravel() > 0)
    assert (quick[1][placing] != full[1][placing]).nnz == 0


def test_conflicts_slices_only_the_leads_that_place_their_event() -> None:
    """The veto runs once per block of the distance matrix: only the leads with an event
    place are sliced out of the sparse matrices (slicing every column's rows cost about as
    much as the rest of the veto on bench/cluster.py), and the answer is the definition's."""
    from scipy.sparse import csr_matrix

    leads = [MUNICH, entry("a", "Markets rally", "Shares rose on Tuesday."), TRIP,
             entry("b", "A gala in Paris", "The stars gathered in Paris on Monday."),
             entry("c", "Quiet day", "Nothing happened anywhere.")]  # fmt: skip
    event, named = place_rows(leads)
    placed = set(np.flatnonzero(np.diff(event.indptr) > 0).tolist())
    assert placed == {0, 2, 3}
    asked: list[int] = []

    class Watched(csr_matrix):  # type: ignore[misc]
        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            asked.extend(np.atleast_1d(np.asarray(key)).tolist())
            return csr_matrix(self).__getitem__(key)

    rows, cols = np.arange(5), np.array([4, 3, 2, 1, 0])
    got = conflicts(Watched(event), Watched(named), rows, cols)
    assert asked and set(asked) <= placed
    e, n = event.toarray() > 0, named.toarray() > 0
    expected = np.array([
        [e[i].any() and e[j].any() and not (e[i] & n[j]).any() and not (n[i] & e[j]).any()
         for j in cols] for i in rows
    ])  # fmt: skip
    assert np.array_equal(got, expected) and got[0, 2]  # Munich vs Slovakia and Hungary
    assert not conflicts(Watched(event), Watched(named), np.array([1, 4]), cols).any()


def test_a_lower_case_lead_is_placed_nowhere_without_the_cue_pattern() -> None:
    """Both cues (a preposition before a capitalised name, a dateline) need a capital
    letter: a lower-cased text (GoogleNews) is decided without running the cue pattern."""
    from unittest import mock

    from digest import placeconflict

    with mock.patch.object(placeconflict, "_cue_pattern", side_effect=AssertionError):
        assert not placeconflict._could_place("rubio kicked off a trip to slovakia and hungary")
    assert placeconflict._could_place("Rubio kicked off a trip to Slovakia and Hungary")


def test_a_term_of_a_countrys_line_names_that_country() -> None:
    """The gazetteer marks terms ``%`` (the Kremlin, Hamas, the FBI): they still name the
    country of their line, as before they were marked."""
    from digest.placeconflict import _countries

    countries = _countries()
    assert countries["kremlin"] == countries["moscow"] == countries["russia"]
    assert countries["hamas"] == countries["israel"] and countries["fbi"] == countries["new york"]
    assert not any(name.startswith(("%", "~", "@")) for name in countries)
