"""The rare-names rule (digest/anchors.py, join_by_rare_names) on hand-made signals: an entry
left alone joins the story of another outlet's report with which it shares three names few
entries of the batch carry, when the meaning model and the hours agree."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.sparse import csr_matrix

from digest.anchors import join_by_rare_names
from digest.similarity import Params, Signals

HOUR = 3600.0


def _signals(
    names: list[set[str]], meaning: list[np.ndarray], hours: list[float], outlets: list[int]
) -> Signals:
    vocab = sorted(set().union(*names))
    rows = [[1.0 if v in bag else 0.0 for v in vocab] for bag in names]
    return Signals(
        text=csr_matrix(np.eye(len(names), dtype=np.float32)),
        meaning=np.array(meaning, dtype=np.float32),
        names=csr_matrix(np.array(rows, dtype=np.float32)),
        has_names=np.array([bool(b) for b in names]),
        times=np.array(hours) * HOUR,
        outlets=np.array(outlets),
        several_outlets=len(set(outlets)) > 1,
    )


def _unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float64)
    return v / np.linalg.norm(v)


NEAR, FAR = _unit(1.0, 0.2), _unit(0.0, 1.0)
SPEECH = [{"rubio", "munich", "vance", "europe"}, {"rubio", "munich", "vance"}]
# a batch in which "europe" and "trump" are common: seven other entries carry them
COMMON = [{"europe", "trump", f"other{i}"} for i in range(7)]
WINDOW = 48 * HOUR


def _batch(
    extra: set[str], meaning: np.ndarray, hours: float, outlet: int, story: tuple[int, int] = (0, 1)
) -> Signals:
    names = [*SPEECH, extra, *COMMON]
    return _signals(
        names,
        [NEAR, NEAR, meaning, *[FAR] * len(COMMON)],
        [0.0, 1.0, hours, *[0.0] * len(COMMON)],
        [*story, outlet, *range(3, 3 + len(COMMON))],
    )


LABELS = np.array([0, 0, 1, *range(2, 2 + len(COMMON))])


def test_three_rare_names_from_another_outlet_join_the_story() -> None:
    sig = _batch({"rubio", "munich", "vance", "trump"}, NEAR, 30.0, outlet=2)
    out = join_by_rare_names(LABELS, sig, Params(), WINDOW)
    assert out[2] == out[0] and out[3:].tolist() == LABELS[3:].tolist()


def test_common_names_count_for_nothing_and_two_rare_ones_are_not_enough() -> None:
    sig = _batch({"rubio", "munich", "europe", "trump"}, NEAR, 30.0, outlet=2)
    assert join_by_rare_names(LABELS, sig, Params(), WINDOW).tolist() == LABELS.tolist()


def test_the_same_outlet_the_hours_and_the_meaning_model_must_agree() -> None:
    rare = {"rubio", "munich", "vance"}
    same_outlet = _batch(rare, NEAR, 30.0, outlet=1, story=(1, 1))  # its own follow-ups
    too_late = _batch(rare, NEAR, 40.0, outlet=2)
    other_meaning = _batch(rare, FAR, 30.0, outlet=2)
    for sig in (same_outlet, too_late, other_meaning):
        assert join_by_rare_names(LABELS, sig, Params(), WINDOW).tolist() == LABELS.tolist()
    off = replace(Params(), rare_names=0)
    sig = _batch(rare, NEAR, 30.0, outlet=2)
    assert join_by_rare_names(LABELS, sig, off, WINDOW).tolist() == LABELS.tolist()


def test_two_entries_alone_stay_apart_and_join_a_story_of_two() -> None:
    """A name two entries alone agree on is not a story (Starmer's online powers and his
    defence spending, in the six days of the real feeds): the rule joins established stories
    only."""
    names = [{"keir", "starmer", "britain"}, {"keir", "starmer", "britain", "defence"}]
    sig = _signals([*names, *COMMON], [NEAR, NEAR, *[FAR] * 7], [0.0, 20.0, *[0.0] * 7],
                   [0, 1, *range(2, 9)])
    labels = np.arange(9)
    assert join_by_rare_names(labels, sig, Params(), WINDOW).tolist() == labels.tolist()
    pair = np.array([0, 1, 1, *range(2, 8)])  # the second with a third entry of another outlet
    sig = _signals([names[0], names[1], {"keir", "starmer", "britain"}, *COMMON[:6]],
                   [NEAR, NEAR, NEAR, *[FAR] * 6], [0.0, 20.0, 21.0, *[0.0] * 6],
                   [0, 1, 2, *range(3, 9)])
    out = join_by_rare_names(pair, sig, Params(), WINDOW)
    assert out[0] == out[1] == out[2]
