"""Sections macro-F1 of the whole build path (``digest eval stories``) on the hand-labelled
real sets, with the shipped world list's rules and no classifier.

The first section rules were chosen by reading the errors of w0 and w1; w2 (TIME, The
Economist Asia, EL PAÍS, kottke, 404 Media, 2026-01-14 to 02-12) and g1 (the Guardian US
feed, 2018) were labelled before those rules were run on them, then became tuning sets too
(the second sections stop read their errors). h1 (142 entries of w3: The Economist Asia and
EL PAÍS, 2021-11 and 2024-12 .. 2026-01) was labelled for sections and committed before any
rule of that stop was run on it: the only held-out figure. Floors sit just under the
measured figures (first stop, main before: w0 0.816, w1 0.855, w2 0.833, g1 0.730; second
stop, main before: w0 0.847, w1 0.902, w2 0.830, g1 0.826, h1 0.650). The third stop (business
words, business never one of "several regions") tuned on w0, w1, w2, g1 and the shared AG/BBC
files only, and measured h1 once at its end: 0.669 -> 0.732. The fourth stop (names of every
region's news, such as Trump, counted only when named alone) measured h1 once at its end:
0.732 -> 0.732. The fifth stop made h1 a tuning set too (its errors read) while a new held-out
set, h2, was labelled from other entries of w3: the lead's desk settles which of the regions a
summary names alike the news belongs to, h1 0.732 -> 0.791; a place right after another
region's possessive place is what that place has ("India's Silicon Valley"), 0.791 -> 0.828;
chips as business words, 0.828 -> 0.842. h2 (the other 136 entries of w3, all Economist Asia) was labelled for sections
before any rule was run on it: the held-out set, measured once at the end of the fifth stop.
"""

from __future__ import annotations

import json

import pytest

from digest.config import load_config
from digest.evaluate import evaluate_stories, load_jsonl
from tests.conftest import DATASETS, REPO
from tests.realstories import (
    G1_LABELS,
    H1_LABELS,
    H2_LABELS,
    W0_LABELS,
    W2_LABELS,
    W3_LABELS,
    load_labelled,
)

W1 = DATASETS / "realstories" / "realfeeds_w1.jsonl"


def _scores(rows: list[dict]):  # type: ignore[no-untyped-def]
    config = load_config(REPO / "config.yaml")
    return evaluate_stories(rows, config, config.list("world"))


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        ("w0", 0.845),  # tuning: measured 0.851 (fourth stop; main 0.846)
        ("w1", 0.90),  # tuning: measured 0.911
        ("w2", 0.895),  # tuning (second stop): measured 0.903 (fourth stop; main 0.898)
        ("g1", 0.88),  # tuning (second stop): 0.900 (fourth stop); 0.888 since the eval reads the Guardian feed's categories, as a build would (its source is not in config.yaml)
        ("h1", 0.835),  # tuning (fifth stop): measured 0.842 (main 0.732; before 0.669, 0.650)
    ],
)
def test_sections_macro_f1_on_each_labelled_set(name: str, floor: float) -> None:
    rows = (
        load_jsonl(W1)
        if name == "w1"
        else load_labelled(
            {"w0": W0_LABELS, "w2": W2_LABELS, "g1": G1_LABELS, "h1": H1_LABELS}[name]
        )
    )
    scores = _scores(rows)
    assert scores.sections_macro_f1 >= floor, (name, scores.sections_macro_f1, scores.per_section_f1)


def test_noise_on_the_demo_window_finds_every_newsletter() -> None:
    """The NYT's The World newsletter editions, Up First, World Brief and key-event lists:
    every gold noise entry of w1 is left out but one, and nothing else (main: recall 0.8).
    The one is FP's China Brief edition on one place ("The Myth of '996' Work Culture"): a
    newsletter category leaves out only an edition on three regions or more, so that a World
    Brief on one story ("A New Chapter for Bangladesh", w0) stays news."""
    scores = _scores(load_jsonl(W1))
    assert (scores.noise_precision, scores.noise_found, scores.noise_gold) == (1.0, 9, 10)


def test_g1_loads_every_labelled_entry_with_its_feed_text() -> None:
    rows = load_labelled(G1_LABELS)
    assert len(rows) == 55 and all(r["title"] and r["section"] for r in rows)
    assert {r["story"] for r in rows if r["story"].startswith("noise-")} and len(
        {r["story"] for r in rows}
    ) == 47


def test_noise_on_g1_finds_the_guardians_roundups_live_blogs_and_explainer() -> None:
    """The photo round-up, the live blog of the transfer deadline's many deals and the standing
    "key questions answered" explainer are left out, and no news (main: recall 0 of 4), and
    the gallery of yoga photos, filed under the arts desk (``/artanddesign/gallery/``)."""
    scores = _scores(load_labelled(G1_LABELS))
    assert (scores.noise_precision, scores.noise_found, scores.noise_gold) == (1.0, 4, 4)


def test_h1_loads_every_labelled_entry_with_its_feed_text() -> None:
    rows = load_labelled(H1_LABELS)
    assert len(rows) == 142 and all(r["title"] and r["section"] for r in rows)
    assert {r["source"] for r in rows} == {"economist-asia", "elpais-english"}


def test_h2_loads_every_labelled_entry_with_a_section_and_no_h1_id() -> None:
    """h2 (the odd-numbered Economist Asia entries of w3) joins its feed text, every row has one
    of the README's sections, noise stays ``more``, story and kind are w3's, the file holds
    only ids and labels, and no id is also in h1 (the two held-out sets never overlap)."""
    rows = load_labelled(H2_LABELS)
    sections = {"ukraine", "middle-east", "americas", "europe", "asia", "business", "more"}
    assert len(rows) == 136 and all(r["title"] and r["section"] in sections for r in rows)
    assert {r["source"] for r in rows} == {"economist-asia"}
    assert all(r["section"] == "more" for r in rows if r["story"].startswith("noise-"))
    w3 = {r["id"]: (r["story"], r["kind"]) for r in load_labelled(W3_LABELS)}
    assert all(w3[r["id"]] == (r["story"], r["kind"]) for r in rows)
    labels = [json.loads(line) for line in H2_LABELS.read_text().splitlines()]
    assert all(set(label) == {"id", "story", "section", "kind"} for label in labels)
    assert not {r["id"] for r in rows} & {r["id"] for r in load_labelled(H1_LABELS)}
