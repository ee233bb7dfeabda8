"""The anchor rule (digest/anchors.py) on hand-made signals: which names anchor a story and
which entries left alone join it."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from digest.anchors import join_by_anchor_names
from digest.similarity import Params, Signals

HOUR = 3600.0


def _signals(names: list[set[str]], meaning: np.ndarray, hours: list[float]) -> Signals:
    vocab = sorted(set().union(*names))
    rows = [[1.0 if v in bag else 0.0 for v in vocab] for bag in names]
    return Signals(
        text=csr_matrix(np.eye(len(names), dtype=np.float32)),
        meaning=meaning.astype(np.float32),
        names=csr_matrix(np.array(rows, dtype=np.float32)),
        has_names=np.array([bool(b) for b in names]),
        times=np.array(hours) * HOUR,
        outlets=np.arange(len(names)),
        several_outlets=True,
    )


def _unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float64)
    return v / np.linalg.norm(v)


STORY = [{"jesse", "jackson", "chicago"}, {"jesse", "jackson"}, {"jesse", "jackson", "tributes"}]
CLOSE = _unit(1.0, 0.3)  # meaning near the story's
STORY_MEANING = [_unit(1.0, 0.0), _unit(1.0, 0.1), _unit(1.0, 0.05)]


def test_an_entry_alone_with_the_storys_own_name_joins_it() -> None:
    sig = _signals([*STORY, {"jackson", "africa"}, {"geneva"}], np.array([*STORY_MEANING, CLOSE, _unit(0.0, 1.0)]), [0, 1, 2, 3, 3])
    labels = np.array([0, 0, 0, 1, 2])
    assert join_by_anchor_names(labels, sig, Params(), 48 * HOUR).tolist() == [0, 0, 0, 0, 2]


def test_a_name_two_outsiders_carry_is_no_anchor() -> None:
    sig = _signals([*STORY, {"jesse", "jackson", "africa"}, {"jesse", "jackson", "music"}],
                   np.array([*STORY_MEANING, CLOSE, CLOSE]), [0, 1, 2, 3, 3])
    labels = np.array([0, 0, 0, 1, 2])
    assert join_by_anchor_names(labels, sig, Params(), 48 * HOUR).tolist() == [0, 0, 0, 1, 2]


def test_the_meaning_model_and_the_window_must_agree() -> None:
    far_meaning = _signals([*STORY, {"jackson"}], np.array([*STORY_MEANING, _unit(0.0, 1.0)]), [0, 1, 2, 3])
    too_late = _signals([*STORY, {"jackson"}], np.array([*STORY_MEANING, CLOSE]), [0, 1, 2, 60])
    labels = np.array([0, 0, 0, 1])
    assert join_by_anchor_names(labels, far_meaning, Params(), 48 * HOUR).tolist() == [0, 0, 0, 1]
    assert join_by_anchor_names(labels, too_late, Params(), 48 * HOUR).tolist() == [0, 0, 0, 1]


def test_a_member_of_another_story_and_a_story_of_two_stay_as_they_are() -> None:
    sig = _signals([{"peru", "jeri"}, {"peru", "jeri"}, {"jeri", "lima"}, {"jeri", "lima"}],
                   np.array([CLOSE] * 4), [0, 0, 0, 0])
    labels = np.array([0, 0, 1, 1])
    assert join_by_anchor_names(labels, sig, Params(), 48 * HOUR).tolist() == [0, 0, 1, 1]
