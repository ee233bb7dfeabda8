"""Clustering precision on the hand-labelled real windows: w1 (the demo window), w0 (the
windows before it and other same-day outlets), w2 (TIME, The Economist and three more
outlets in the month before) and w3 (The Economist (Asia) and EL PAÍS before w2: no story of
two entries, a guard against false merges). The defaults are the most frequent choice of the
leave-one-window-out cross-validation (bench/cluster_cv.py); each window was held out in some
folds. Floors are just under the measured figures. The ``build path`` tests score what
``digest eval stories`` scores (noise, dedupe, the config's 48-hour story window)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from digest.evaluate import evaluate_clusters, load_jsonl
from digest.similarity import Params
from tests.conftest import DATASETS
from tests.realstories import G1_LABELS, W2_LABELS, W3_LABELS, load_labelled


@pytest.fixture(scope="module")
def w0() -> list[dict]:
    return load_labelled()


@pytest.fixture(scope="module")
def w2() -> list[dict]:
    return load_labelled(W2_LABELS)


@pytest.fixture(scope="module")
def w3() -> list[dict]:
    return load_labelled(W3_LABELS)


def _build_path(rows: list[dict]):  # type: ignore[no-untyped-def]
    """``digest eval stories`` on ``rows`` with the repository's config (first list)."""
    from digest.config import load_config
    from digest.evaluate import evaluate_stories
    from tests.conftest import REPO

    config = load_config(REPO / "config.yaml")
    rows = [{**r, "section": r.get("section", "more")} for r in rows]  # w2, w3: stories only
    return evaluate_stories(rows, config, config.lists[0])


def test_w3_loads_every_labelled_entry_with_its_feed_text(w3: list[dict]) -> None:
    assert len(w3) == 278 and len({r["story"] for r in w3}) == 278
    assert all(r["title"] and r["published"] < "2026-01-14" for r in w3)


def test_w2_loads_every_labelled_entry_with_its_feed_text(w2: list[dict]) -> None:
    assert len(w2) == 159 and len({r["story"] for r in w2}) == 149
    assert all(r["title"] and r["published"] and r["feed"] for r in w2)


def test_w0_loads_every_labelled_entry_with_its_feed_text(w0: list[dict]) -> None:
    assert len(w0) == 146 and len({r["story"] for r in w0}) == 137
    assert all(r["title"] and r["published"] and r["feed"] for r in w0)


def test_precision_floor_on_the_demo_window() -> None:
    scores = evaluate_clusters(load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"))
    # measured 0.870 / 0.902 / 0.969 (B3 F1), held out: the two folds that left w1 out chose
    # the defaults on w0 + w2
    assert scores.pairwise_precision >= 0.85 and scores.pairwise_recall >= 0.88
    assert scores.bcubed_f1 >= 0.965


def test_precision_floor_on_the_held_out_window(w0: list[dict]) -> None:
    scores = evaluate_clusters(w0)
    # measured 0.857 (6 of 7 pairs) / 0.462 / 0.981; leaving all apart gives B3 F1 0.968
    assert scores.pairwise_precision >= 0.85 and scores.bcubed_f1 >= 0.975


def test_precision_floor_on_the_third_window(w2: list[dict]) -> None:
    scores = evaluate_clusters(w2)
    # measured 1.0 (3 of 3 pairs) / 0.231 / 0.9758
    assert scores.pairwise_precision >= 0.95 and scores.bcubed_f1 >= 0.975


def test_a_story_member_needs_the_meaning_model_to_agree(w0: list[dict]) -> None:
    """Two Winter Olympics features (a curling stadium, the next host cities) share names and
    words but not their news: without the meaning check the core check lets them join."""
    import digest.cluster as cluster_module

    def together(params: Params) -> bool:
        from digest.evaluate import rows_to_entries

        entries = rows_to_entries(w0)
        stories = cluster_module.cluster(entries, weights={}, window_hours=24.0, params=params)
        for story in stories:
            titles = " | ".join(e.title for e in story.entries)
            if "Curling Stadium" in titles:
                return "Next Winter Olympics" in titles
        raise AssertionError("no curling story")

    # with words weighed more (the defaults before the three-window CV) they join unless the
    # meaning model must agree too
    wordy = replace(Params(), text_weight=0.7, names_weight=0.3, pair_distance=0.6, core_similarity=0.4)
    assert not together(Params())
    assert not together(wordy)
    assert together(replace(wordy, core_meaning=0.0))


def test_a_report_in_another_style_joins_the_story_whose_name_it_carries() -> None:
    """w1: the NYT's "In Africa, Jesse Jackson Was Esteemed..." shares few words with the death
    reports, but "Jesse Jackson" is carried by every member of that story and by no other
    entry of the window (the anchor rule, digest/anchors.py)."""
    scores = _build_path(load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"))
    # measured 0.917 / 1.0 / 0.9819 with the rare-names rule (before it 0.913 / 0.947 /
    # 0.9773; main before the anchor rule: 0.909 / 0.902 / 0.9733)
    assert scores.pairwise_recall >= 0.94 and scores.pairwise_precision >= 0.91


def test_a_profile_sharing_three_rare_names_joins_the_story_held_out() -> None:
    """w1: the BBC's "The Martin Luther King protege who helped reshape America" does not
    name Jesse Jackson in its headline or lede, so no name of the story anchors it, and it
    shares few words with the death reports. It shares "Martin Luther King" (three name
    words that three entries of the window carry) with Japan Today's and EL PAÍS's death
    reports, hours apart (digest/anchors.py, join_by_rare_names). Held out: the fold of
    bench/rare_names_cv.py that left w1 out chose the rule on w0, w2 and w3."""
    scores = _build_path(load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"))
    # measured 0.917 / 1.0 / 0.9819 (without the rule 0.913 / 0.947 / 0.9773)
    assert scores.pairwise_recall >= 0.99 and scores.pairwise_precision >= 0.91
    assert scores.bcubed_f1 >= 0.98


def test_an_analysis_piece_close_to_no_member_leaves_the_story() -> None:
    """w1: the NYT's analyses "Trump Said He'd End the War in Ukraine in a Day. It's Harder
    Than He Thought." and "Trump Bets on Diplomacy Without Diplomats" joined the Geneva talks
    and NPR's three-crises pieces by average link; each one's best similarity to a member is
    just under 0.36, so the core check (``core_similarity`` 0.36, chosen by 8 of the 10 folds
    of bench/core_cv.py, the two w1 folds seeing no difference) sends them off. Not held out:
    no other labelled window changes between 0.35 and 0.38."""
    scores = _build_path(load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"))
    # measured 0.964 / 1.0 / 0.9903 (core_similarity 0.35: 0.917 / 1.0 / 0.9819, 12 false
    # pairs of 145, 5 of them the Ukraine analysis and 2 "Trump Bets on Diplomacy")
    assert scores.pairwise_precision >= 0.96 and scores.pairwise_recall >= 0.99
    assert scores.bcubed_f1 >= 0.99


def test_build_path_recall_on_the_held_out_window(w0: list[dict]) -> None:
    """w0 was not looked at when the anchor rule or the place conflict were made. Japan
    Today's report of Rubio's trip to Slovakia and Hungary no longer joins the NYT's piece on
    his speech in Munich (a place conflict, digest/placeconflict.py); that false link was
    also what pulled the NYT piece, and through it the fourth piece, into the Munich story,
    so recall fell with it: FP's and TIME's reports from the Munich Security Conference stay
    together, FP's second piece stands alone. The NYT's piece comes back through "Secretary
    of State Marco Rubio", three name words it shares with FP's report 33.6 hours before
    (digest/anchors.py, join_by_rare_names; the trip, 39.2 hours from FP's report, is over
    the rule's 36 hours, and the place conflict keeps it from the NYT's). Not held
    out for that rule: the fold of bench/rare_names_cv.py that left w0 out chose 24 hours,
    under which w0 is unchanged (0.833 / 0.385). The BBC's and the NYT's interviews of
    Gisèle Pelicot (42 hours apart) share the headline phrase "Gisèle Pelicot"
    (digest/phrases.py; not held out: the folds of bench/phrases_cv.py that left w0 out
    chose 36 hours, under which w0 is 0.875 / 0.538 / 0.981)."""
    scores = _build_path(w0)
    # measured 0.889 / 0.615 / 0.9845 (before the headline-phrase rule 0.875 / 0.538 / 0.981;
    # before the rare-names rule 0.833 / 0.385 / 0.9775;
    # before the place conflict 0.667 / 0.769 / 0.9808, 4 of its 15 pairs were the trip
    # joined to the speech)
    assert scores.pairwise_precision >= 0.88 and scores.pairwise_recall >= 0.61
    assert scores.bcubed_f1 >= 0.984


def test_a_trip_elsewhere_is_not_the_speech_before_it(
    w0: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build path keeps Japan Today's "Rubio visits central Europe" (a trip to Slovakia
    and Hungary) out of every story of the Munich speech; main's clusterer joined them (they
    share Rubio, Europe and Trump, 5.5 hours apart)."""
    import digest.evaluate as evaluate

    captured: dict[str, list] = {}
    score = evaluate.bcubed

    def spy(gold, pred):  # type: ignore[no-untyped-def]
        captured["pred"] = list(pred)
        return score(gold, pred)

    monkeypatch.setattr(evaluate, "bcubed", spy)  # the build path's predicted stories
    _build_path(w0)
    pred = captured["pred"]
    trip = [pred[i] for i, r in enumerate(w0) if r["story"] == "w0-rubio-central-europe-trip"]
    speech = {pred[i] for i, r in enumerate(w0) if r["story"] == "w0-rubio-munich-speech"}
    assert len(trip) == 1 and trip[0] not in speech


def test_build_path_on_windows_of_single_stories(w2: list[dict], w3: list[dict]) -> None:
    """The rules make no false pair on w2 (TIME's many Greenland pieces) or w3 (278 Economist
    and EL PAÍS entries, none the same story)."""
    s2, s3 = _build_path(w2), _build_path(w3)
    # measured w2 1.0 / 0.462 / 0.9856 (before the headline-phrase rule 0.308 / 0.9791: TIME's
    # university ranking and its method, its two Olympics opening ceremony pieces), w3 1.0
    # (no pair predicted)
    assert s2.pairwise_precision == 1.0 and s2.bcubed_f1 >= 0.985
    assert s3.bcubed_f1 == 1.0


def test_a_name_two_entries_alone_agree_on_is_not_a_story() -> None:
    """The six days of the real feeds (2026-02-12 to the demo edition), 48-hour window: Japan
    Today's "UK's Starmer seeks greater powers to regulate online access" and Dawn's
    "Britain needs to step up defence spending faster, says Starmer" (28 hours apart, on no
    labelled window together) share "Keir Starmer" and "Britain", rare in the batch, and
    nothing else: the rare-names rule joins only stories of two or more
    (digest/anchors.py)."""
    from datetime import UTC, datetime

    from digest.cluster import cluster, dedupe
    from tests.conftest import REAL_FEEDS
    from tests.realfeed_window import window_entries

    six_days = dedupe(
        window_entries(
            REAL_FEEDS, datetime(2026, 2, 12, tzinfo=UTC), datetime(2026, 2, 18, 7, tzinfo=UTC)
        )
    )
    for story in cluster(six_days, weights={}, window_hours=48.0):
        titles = " | ".join(e.title for e in story.entries)
        if "Starmer seeks greater powers" in titles:
            assert "defence spending" not in titles
            return
    raise AssertionError("no story of Starmer's online powers")


def test_one_outlets_pieces_on_one_event_share_a_headline_phrase_held_out() -> None:
    """g1 (the Guardian US feed): "Moments of protest during Trump's State of the Union
    address – video" shares "state union", "union address" and "trump state" with "Trump
    State of the Union address promised unity but emphasized discord" and no other headline
    of the window (digest/phrases.py), and their embeddings agree: it joins the State of the
    Union story. Held out: the folds of bench/phrases_cv.py that left g1 out chose the
    defaults on w0, w1, w2, w3 and a GoogleNews half."""
    scores = _build_path(load_labelled(G1_LABELS))
    # measured 1.0 / 0.759 / 0.9838 (without the rule 1.0 / 0.552 / 0.9696)
    assert scores.pairwise_precision == 1.0 and scores.pairwise_recall >= 0.75
    assert scores.bcubed_f1 >= 0.983
