"""The headline-phrase rule (digest/phrases.py) on hand-made batches: an entry left alone
joins the entry whose headline shares a phrase only the two of them write, when the meaning
model and the hours agree; a phrase of a word many headlines carry, a number, or a phrase
three headlines share joins nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.sparse import csr_matrix

from digest.phrases import join_by_title_phrases, title_phrases
from digest.similarity import Params, Signals
from digest.types import Entry

HOUR = 3600.0
WINDOW = 48 * HOUR
T0 = datetime(2026, 2, 1, tzinfo=UTC)
OTHERS = [  # headlines of other news; "Trump" is in most of them
    "Trump signs an order on tariffs",
    "Trump meets Carney in Ottawa",
    "Floods in Jakarta kill five",
    "Trump calls for lower interest rates",
    "Election results in Portugal",
    "Trump hosts a dinner for governors",
    "Trump and Xi to meet in April",
    "Trump pardons a former congressman",
]


def _unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float64)
    return v / np.linalg.norm(v)


NEAR, FAR = _unit(1.0, 0.3), _unit(0.0, 1.0)


def _batch(titles: list[str], meaning: list[np.ndarray], hours: list[float]) -> Signals:
    entries = [
        Entry(source="time", entry_id=str(i), title=t, published=T0 + timedelta(hours=h))
        for i, (t, h) in enumerate(zip(titles, hours, strict=True))
    ]
    n = len(entries)
    return Signals(
        text=csr_matrix(np.eye(n, dtype=np.float32)),
        meaning=np.array(meaning, dtype=np.float32),
        names=None,
        has_names=np.zeros(n, dtype=bool),
        times=np.array(hours) * HOUR,
        outlets=np.zeros(n, dtype=np.int64),
        several_outlets=False,
        phrases=title_phrases(entries),
    )


def _ceremony(second: str, meaning: np.ndarray = NEAR, hours: float = 28.0) -> Signals:
    titles = ["What Is the Order of Countries in the Olympics Opening Ceremony?", second, *OTHERS]
    meanings = [NEAR, meaning, *[FAR] * len(OTHERS)]
    return _batch(titles, meanings, [0.0, hours, *[1.0] * len(OTHERS)])


ALONE = np.arange(2 + len(OTHERS))


def test_one_outlets_two_pieces_sharing_a_rare_phrase_are_one_story() -> None:
    sig = _ceremony("Your Guide to the Milan 2026 Olympics Opening Ceremony")
    out = join_by_title_phrases(ALONE, sig, Params(), WINDOW)
    assert out[0] == out[1] and len(set(out.tolist())) == len(ALONE) - 1


def test_the_meaning_model_the_hours_and_the_switch_must_agree() -> None:
    guide = "Your Guide to the Milan 2026 Olympics Opening Ceremony"
    for sig, params in (
        (_ceremony(guide, meaning=FAR), Params()),
        (_ceremony(guide, hours=50.0), Params()),
        (_ceremony(guide), replace(Params(), phrase_df=0)),
    ):
        assert join_by_title_phrases(ALONE, sig, params, WINDOW).tolist() == ALONE.tolist()


def test_numbers_common_words_and_phrases_of_three_headlines_join_nothing() -> None:
    # "2026 olympics" is no phrase (a number); "trump calls" has a word most headlines carry
    years = _batch(["Milan 2026 tickets", "2026 Olympics schedule"], [NEAR, NEAR], [0.0, 1.0])
    assert years.phrases is None
    calls = _batch(
        [*OTHERS, "Trump calls for new leadership in Iran"],
        [*[FAR] * len(OTHERS), NEAR],
        [1.0] * (len(OTHERS) + 1),
    )
    assert calls.phrases is None
    three = _batch(
        ["Opening ceremony tickets", "Opening ceremony order", "Opening ceremony guide", *OTHERS],
        [NEAR, NEAR, NEAR, *[FAR] * len(OTHERS)],
        [0.0, 1.0, 2.0, *[1.0] * len(OTHERS)],
    )
    alone = np.arange(3 + len(OTHERS))
    assert join_by_title_phrases(alone, three, Params(), WINDOW).tolist() == alone.tolist()
    joined = join_by_title_phrases(alone, three, replace(Params(), phrase_df=3), WINDOW)
    assert len(set(joined[:3].tolist())) == 1


def test_an_entry_alone_joins_the_story_of_its_phrase() -> None:
    """The Guardian's "Moments of protest during Trump's State of the Union address – video"
    joins the State of the Union story through one of its members."""
    titles = [
        "Trump State of the Union address promised unity",
        "Late-night hosts react",
        "Moments of protest during Trump's State of the Union address",
        *OTHERS,
    ]
    meanings = [NEAR, NEAR, NEAR, *[FAR] * len(OTHERS)]
    sig = _batch(titles, meanings, [0.0, 1.0, 6.0, *[1.0] * len(OTHERS)])
    labels = np.array([0, 0, *range(1, 1 + 1 + len(OTHERS))])
    out = join_by_title_phrases(labels, sig, Params(), WINDOW)
    assert out[2] == 0 and out[3:].tolist() == labels[3:].tolist()
