"""A story's own names: an entry left alone joins the story whose name it carries.

Pairwise similarity misses the report of an event written in another outlet's style: a
tribute ("In Africa, Jesse Jackson Was Esteemed for His Fight Against Apartheid") shares few
words with the death reports, and its embedding is closer to other Africa stories than to
any one of them. What it shares is the story's *name*: a name (a capitalised word the batch
never writes in lower case, :func:`digest.similarity.names_of`) that most members of an
established story carry and that, in the whole batch, no entry outside the story carries
except this one. Such a name is specific to the event in this batch; a name shared with
other stories ("Trump", "Iran", "Geneva") is not, and joins nothing.

The rule (:func:`join_by_anchor_names`), applied after the cut and the core check:

- a story of at least :data:`MIN_SIZE` entries has as *anchors* the names carried by at least
  :data:`SHARE` of its members and by at most one entry outside it;
- an entry that stands alone and carries an anchor joins that story when its embedding has a
  cosine of at least ``Params.core_meaning`` with the story's mean embedding (the meaning model
  must agree, as for the core check), it is within the story window of every member and its
  lead does not put its event in another country than a member's does
  (:mod:`digest.placeconflict`);
- an entry that could join several stories joins the one whose mean embedding is closest.

Designed on the demo window's Jesse Jackson story (w1); it was then measured on the windows it
was not designed on (w0, w2, w3 and the GoogleNews halves, see ``DESIGN.md``).

A second rule (:func:`join_by_rare_names`), applied after it, needs no name of the whole
story: an entry still alone joins the story (of two or more entries) of a report *from
another outlet* with which it shares several *rare* names (at least ``Params.rare_names``
name words that at most ``Params.rare_df`` entries of the batch carry), published within
``Params.rare_hours`` of it, when the meaning model agrees (the pair's embeddings and the story's mean embedding,
``core_meaning``), the story's members are all within the story window and none of their
leads puts its event in another country. On the real windows what it finds is a person named
in full by few entries: "Secretary of State Marco Rubio" (``secretary``, ``marco``,
``rubio``: the NYT and FP on his Munich speech, 33.6 hours apart), "Martin Luther King"
(``martin``, ``luther``, ``king``: the BBC's profile of Jesse Jackson and two death reports).
One shared name says little (a name only two entries carry joined 2 true pairs of 58, see
``DESIGN.md``). Two entries alone are not joined by it: agreeing on a name and nothing else,
they were a false pair ("Keir Starmer" and "Britain" joined Japan Today's report of his
online powers to Dawn's of his defence spending, 28 hours apart, in the six days of the real
feeds). Pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from digest.placeconflict import conflicts
from digest.similarity import Params, Signals

__all__ = [
    "MIN_SIZE",
    "SHARE",
    "join_by_anchor_names",
    "join_by_rare_names",
    "may_join",
    "rare_neighbours",
]

#: Smallest story whose names can be anchors (two entries sharing a name say little).
MIN_SIZE = 3
#: Share of a story's members that must carry a name for it to be one of its anchors.
SHARE = 0.75


def join_by_anchor_names(
    labels: np.ndarray, sig: Signals, params: Params, window_seconds: float
) -> np.ndarray:
    """Cluster ids ``labels`` (one int per entry of ``sig``) with the entries that stand
    alone and carry an established story's anchor name moved into that story (rule in the
    module docstring); ids of the other stories unchanged. Without names or embeddings
    (``sig.names``/``sig.meaning`` ``None``) ``labels`` come back as they are. Cost: linear in
    the entries for each story of :data:`MIN_SIZE` or more."""
    if sig.names is None or sig.meaning is None or labels.size < MIN_SIZE + 1:
        return labels
    carries = (sig.names != 0).astype(np.int32).tocsr()  # entries x names, 1 where carried
    df = np.asarray(carries.sum(axis=0)).ravel()
    ids, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    alone = sizes[inverse] == 1
    times = sig.times
    best: dict[int, tuple[float, int]] = {}  # alone entry -> (meaning cosine, story id)
    for k in np.flatnonzero(sizes >= MIN_SIZE):
        members = np.flatnonzero(inverse == k)
        count = np.asarray(carries[members].sum(axis=0)).ravel()
        anchors = np.flatnonzero(
            (count >= math.ceil(SHARE * members.size)) & (df - count <= 1)
        )
        if anchors.size == 0:
            continue
        holders = np.flatnonzero(np.asarray(carries[:, anchors].sum(axis=1)).ravel() > 0)
        holders = holders[alone[holders]]
        if holders.size == 0:
            continue
        centre = sig.meaning[members].sum(axis=0)
        norm = float(np.linalg.norm(centre))
        if norm == 0.0:
            continue
        centre = centre / norm
        dated = times[members][~np.isnan(times[members])]
        for e in holders.tolist():
            if dated.size and not np.isnan(times[e]):
                if float(np.max(np.abs(dated - times[e]))) > window_seconds:
                    continue
            if sig.event_places is not None and params.place_conflict:
                if conflicts(sig.event_places, sig.named_places, np.array([e]), members).any():
                    continue  # its lead puts its event elsewhere than a member's
            cosine = float(sig.meaning[e] @ centre)
            if cosine >= params.core_meaning and cosine > best.get(e, (-2.0, -1))[0]:
                best[e] = (cosine, int(ids[k]))
    if not best:
        return labels
    out = labels.copy()
    for e, (_, story) in best.items():
        out[e] = story
    return out


def join_by_rare_names(
    labels: np.ndarray, sig: Signals, params: Params, window_seconds: float
) -> np.ndarray:
    """Cluster ids ``labels`` (one int per entry of ``sig``) with each entry that stands alone
    moved into the story of its closest (by embedding cosine) report from another outlet that
    shares at least ``params.rare_names`` rare names with it, within ``params.rare_hours``
    hours, in a story of at least two entries (rule in the module docstring). Ids of the
    other stories unchanged; without names, embeddings
    or several outlets, or with ``rare_names`` 0, ``labels`` come back as they are. Undated
    entries are not held back by the hours (as by the story window). Cost: the products of
    the rare names' columns only (each carried by at most ``rare_df`` entries)."""
    if (
        params.rare_names <= 0
        or sig.names is None
        or sig.meaning is None
        or not sig.several_outlets
        or labels.size < 2
    ):
        return labels
    _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)

    def accept(e: int, m: int, count: int) -> bool:
        return (
            count >= params.rare_names
            and sizes[inverse[m]] >= 2
            and sig.outlets[e] != sig.outlets[m]
        )

    carries = (sig.names != 0).astype(np.int32)
    found = rare_neighbours(
        carries, params.rare_df, labels, sig, params.rare_hours, params.core_meaning, accept
    )
    best: dict[int, int] = {}  # alone entry -> the other entry whose story it joins
    for e, candidates in found.items():
        for _, m in sorted(candidates, reverse=True):
            if may_join(e, np.flatnonzero(inverse == inverse[m]), sig, params, window_seconds):
                best[e] = m
                break
    out = labels.copy()
    for e, m in best.items():
        out[e] = labels[m]
    return out


def rare_neighbours(
    carries: Any,
    max_df: int,
    labels: np.ndarray,
    sig: Signals,
    hours: float,
    min_cosine: float,
    accept: Callable[[int, int, int], bool] | None = None,
) -> dict[int, list[tuple[float, int]]]:
    """For each entry that stands alone in ``labels``: the other entries with which it shares
    columns of ``carries`` (scipy sparse, entries × terms, nonzero where carried) that
    2..``max_df`` entries carry, published within ``hours`` hours of it (undated entries are
    not held back), whose embeddings have a cosine of at least ``min_cosine`` with its own,
    and for which ``accept(entry, other, terms shared)`` holds: ``{entry: [(cosine, other),
    ...]}``. Cost: one sparse product over the rare columns."""
    if sig.meaning is None:
        return {}
    carries = carries.tocsc()
    df = np.diff(carries.indptr)
    rare = carries[:, np.flatnonzero((df >= 2) & (df <= max_df))].tocsr()
    if rare.shape[1] == 0:
        return {}
    _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    alone = np.flatnonzero(sizes[inverse] == 1)
    shared = (rare[alone] @ rare.T).tocoo()
    times, seconds = sig.times, hours * 3600.0
    found: dict[int, list[tuple[float, int]]] = {}
    for row, m, count in zip(shared.row.tolist(), shared.col.tolist(), shared.data.tolist()):
        e = int(alone[row])
        if e == m or (accept is not None and not accept(e, m, int(count))):
            continue
        if not (np.isnan(times[e]) or np.isnan(times[m])) and abs(times[e] - times[m]) > seconds:
            continue
        cosine = float(sig.meaning[e] @ sig.meaning[m])
        if cosine >= min_cosine:
            found.setdefault(e, []).append((cosine, m))
    return found


def may_join(
    e: int, members: np.ndarray, sig: Signals, params: Params, window_seconds: float
) -> bool:
    """Whether entry ``e`` may join the story of ``members``: the meaning model agrees with
    the story's mean embedding, every dated member is within the story window of ``e``, and no
    member's lead puts its event in another country than ``e``'s does."""
    meaning = sig.meaning
    if meaning is None:
        return False
    centre = meaning[members].sum(axis=0)
    norm = float(np.linalg.norm(centre))
    if norm == 0.0 or float(meaning[e] @ centre) / norm < params.core_meaning:
        return False
    dated = sig.times[members][~np.isnan(sig.times[members])]
    if dated.size and not np.isnan(sig.times[e]):
        if float(np.max(np.abs(dated - sig.times[e]))) > window_seconds:
            return False
    if sig.event_places is not None and params.place_conflict:
        if conflicts(sig.event_places, sig.named_places, np.array([e]), members).any():
            return False
    return True
