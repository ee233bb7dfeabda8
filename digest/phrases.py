"""Headline phrases: an entry left alone joins the report whose headline shares a rare phrase.

One outlet's several pieces on one event ("What Is the Order of Countries in the Olympics
Opening Ceremony?", "Your Guide to the Milan 2026 Olympics Opening Ceremony"; "The World's
Top Universities of 2026" and the piece on how the list was made), and reports that name a
person few others name ("Gisèle Pelicot Speaks"), share a *phrase* of their headlines that
the rest of the batch does not write: two content words next to each other once the
function words are gone ("opening ceremony", "state union", "gisèle pelicot"). Word
cosines miss them (their ledes differ, and two items of one outlet pay the same-outlet
penalty), a single shared word says little, but a phrase that only two headlines of the
batch carry is specific to their event.

The rule (:func:`join_by_title_phrases`), applied after the rare-names rule of
:mod:`digest.anchors`: an entry that stands alone and whose headline shares a phrase with
at most ``Params.phrase_df`` headlines of the batch (itself included), published within
``Params.phrase_hours`` of it, joins that entry when their sentence embeddings have a cosine
of at least ``Params.phrase_meaning`` (two independent signals agree); it joins that entry's
story when the story passes :func:`digest.anchors.may_join` (the story's mean embedding,
the story window, no place conflict with a member), or makes a story of two with it when
that entry stands alone too (no place conflict between their leads). Of several candidates
the closest by embedding wins. Phrases are words of two letters or more with no digit (a
year or a count is shared by unrelated stories: "2026 olympics"; kottke's escaped
``&#8217;`` is no word), lower-cased, after :data:`digest.tfidf.STOP_WORDS`. The outlet does
not matter: same-outlet follow-ups are what it finds most. Chosen by leave-one-window-out
(``bench/phrases_cv.py``, see ``DESIGN.md``). Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from digest.types import Entry

__all__ = ["MIN_DICE", "join_by_title_phrases", "title_phrases"]

_PHRASE_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
#: Least Dice coefficient of a phrase's two words over the batch's headlines,
#: 2·df(phrase) / (df(word 1) + df(word 2)): the words of a name or a term of the event
#: ("state union", "opening ceremony") go together; a phrase made of a word many headlines
#: carry ("trump calls", "chinese new") says little.
MIN_DICE = 0.5


def _words(title: str) -> list[str]:
    from digest.tfidf import STOP_WORDS

    return [
        w
        for w in _PHRASE_WORD.findall(unicodedata.normalize("NFKC", title).casefold())
        if w not in STOP_WORDS
    ]


def title_phrases(entries: Sequence[Entry]) -> Any:
    """Which entries' headlines carry which phrase (module docstring): a binary scipy CSR
    matrix (entries × phrases, int8) of the phrases that two or more headlines carry and
    whose words go together (:data:`MIN_DICE`), or ``None`` when there is none."""
    from scipy.sparse import csr_matrix

    words = [_words(e.title) for e in entries]
    bags = [{(a, b) for a, b in zip(w, w[1:], strict=False)} for w in words]
    word_df = Counter(x for w in words for x in set(w))
    phrase_df = Counter(p for bag in bags for p in bag)
    vocab = {
        p: k
        for k, p in enumerate(
            sorted(
                p
                for p, c in phrase_df.items()
                if c >= 2 and 2 * c / (word_df[p[0]] + word_df[p[1]]) >= MIN_DICE
            )
        )
    }
    if not vocab:
        return None
    rows = [i for i, bag in enumerate(bags) for p in bag if p in vocab]
    cols = [vocab[p] for bag in bags for p in bag if p in vocab]
    return csr_matrix(
        (np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(len(entries), len(vocab))
    )


def join_by_title_phrases(
    labels: np.ndarray, sig: Any, params: Any, window_seconds: float
) -> np.ndarray:
    """Cluster ids ``labels`` (one int per entry of ``sig``, a
    :class:`digest.similarity.Signals`) with each entry that stands alone moved to the
    closest (by embedding cosine) entry whose headline shares a rare phrase with it (rule
    in the module docstring); ``params`` a :class:`digest.similarity.Params`. Ids of other
    stories unchanged; without phrases or embeddings, or with ``phrase_df`` under 2,
    ``labels`` come back as they are. Undated entries are not held back by the hours.
    Cost: one sparse product over the rare phrases' columns."""
    from digest.anchors import may_join, rare_neighbours
    from digest.placeconflict import conflicts

    if params.phrase_df < 2 or sig.phrases is None or sig.meaning is None or labels.size < 2:
        return labels
    found = rare_neighbours(
        sig.phrases, params.phrase_df, labels, sig, params.phrase_hours, params.phrase_meaning
    )
    out = labels.copy()
    for e in sorted(found):
        if np.count_nonzero(out == out[e]) > 1:
            continue  # an earlier entry joined it: the two are a story now
        for _, m in sorted(found[e], reverse=True):
            members = np.flatnonzero(out == out[m])
            if members.size == 1:
                ok = sig.event_places is None or not params.place_conflict or not conflicts(
                    sig.event_places, sig.named_places, np.array([e]), members
                ).any()
            else:
                ok = may_join(e, members, sig, params, window_seconds)
            if ok:
                out[e] = out[m]
                break
    return out
