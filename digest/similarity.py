"""How close two entries are as reports of one event: the signals story clustering uses.

For entries *i* and *j* (all pure; :class:`Signals` holds the per-entry features)::

    s = w_text · tfidf(i, j) + (1 − w_text) · meaning(i, j)   (s = tfidf(i, j) when the
                                                              model does not read i or j)
    s = (1 − w_names) · s + w_names · names(i, j)      when both name someone or something
    s = s − same_outlet_penalty                          when both come from one outlet
    s = s − day_penalty · |t_i − t_j| / 24 h

- ``tfidf``: cosine of TF-IDF vectors of title and lede (:func:`digest.cluster._document`).
- ``meaning``: cosine of wordllama sentence embeddings (:mod:`digest.embed`) of the same
  text, which sees that "dies" and "death" or "talks" and "negotiations" say the same. Its
  vocabulary spells Urdu, Chinese, Greek or Korean letter by letter, and then any two texts
  of the script look alike (unrelated Urdu headlines 0.84): for such a text
  (:data:`digest.embed.UNREAD_SHARE`) the pair is judged by its words alone (so is the core
  check), and the rules that need the model's word (anchors, phrases) do not join it. So is
  Portuguese, German, Spanish or French text (:func:`digest.tfidf.other_language`): the
  model reads its word pieces, but any two such texts look alike (unrelated entries of the
  jn-pt feed 0.47 on average; a real build made one story of 25 of its 40).
- ``names``: cosine of TF-IDF vectors over the *names* of each entry: capitalised words that
  the batch never writes in lower case (people, places, organisations: "Jackson", "Geneva",
  "Rahman"). Two reports of one event share its names; two stories about "talks" or
  "diplomacy" do not. Numbers ("11" killed) were tried in the same bag and left out: on the
  real-feed window they joined unrelated stories (pairwise precision 0.95 → 0.90).
- same outlet: one outlet rarely reports an event twice in a window (its copies are already
  removed by :func:`digest.cluster.dedupe`); two of its items are usually a follow-up or a
  different story, so they need more evidence. Applied only when the batch has several
  outlets.
- time: reports far apart in time are less likely the same event; pairs further apart than
  the story window never join.
- place: two leads that put their events in different countries report different events
  (:mod:`digest.placeconflict`): such pairs never join, like pairs outside the window.

The weights are :class:`Params` defaults, chosen by cross-validation (see ``DESIGN.md``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from digest.types import Entry

__all__ = ["Params", "Signals", "names_of", "signals"]

_WORD = re.compile(r"[^\W\d_](?:[\w'’\-]*\w)?", re.UNICODE)  # ends in a letter: no closing quote
_NAME_TEXT_CHARS = 400


@dataclass(frozen=True)
class Params:
    """Weights of the signals and the cuts of the clustering (similarities are cosines, 0..1).

    ``pair_distance``: the largest average distance (1 − s) at which two single entries join;
    ``group_distance``: the limit the cut tends to for large groups (a merge of groups of
    *a* and *b* entries is allowed up to
    ``group_distance − (group_distance − pair_distance) / √(a·b)``); ``core_similarity``: in a
    story of at most ``core_max_size`` entries every member must be at least this similar to
    another member whose sentence embedding also has a cosine of at least ``core_meaning``
    with its own (two independent signals must agree: words and names together, and the
    meaning model on its own; with the model unavailable only the first applies); groups of
    at least ``merge_min_size`` entries whose centroids have a
    cosine of at least ``merge_similarity`` are joined (halves of one broad story);
    ``place_conflict``: pairs whose leads put their events in different countries never join
    (:mod:`digest.placeconflict`); ``rare_names``: an entry left alone joins the story (two or
    more entries) of a report from another outlet within ``rare_hours`` hours with which it
    shares at least this
    many names that at most ``rare_df`` entries of the batch carry, when the meaning model
    agrees (:func:`digest.anchors.join_by_rare_names`; 0 turns the rule off); ``phrase_df``:
    an entry still alone joins the entry within ``phrase_hours`` hours whose headline shares
    a phrase with it that at most this many headlines of the batch carry, when their
    embeddings have a cosine of at least ``phrase_meaning``
    (:func:`digest.phrases.join_by_title_phrases`; under 2 turns the rule off).
    """

    text_weight: float = 0.6
    names_weight: float = 0.2
    same_outlet_penalty: float = 0.1
    day_penalty: float = 0.1
    pair_distance: float = 0.6
    group_distance: float = 0.9
    core_similarity: float = 0.36
    core_meaning: float = 0.45
    core_max_size: int = 20
    merge_min_size: int = 10
    merge_similarity: float = 0.3
    place_conflict: bool = True
    rare_names: int = 3
    rare_df: int = 5
    rare_hours: float = 36.0
    phrase_df: int = 2
    phrase_hours: float = 48.0
    phrase_meaning: float = 0.4


@dataclass(frozen=True)
class Signals:
    """Per-entry features of a batch: TF-IDF rows ``text`` (scipy CSR, L2-normalised),
    embeddings ``meaning`` ((n, 256) float32 or ``None``), name rows ``names`` (CSR or
    ``None``), ``has_names`` (bool per entry), ``times`` (epoch seconds, NaN if undated),
    ``outlets`` (int code per entry), whether the batch has several outlets, and the
    countries each lead puts its event in and names (``event_places``/``named_places``, CSR
    from :func:`digest.placeconflict.place_rows`, or ``None``: no place conflict applies), and
    which headline phrases each carries (``phrases``, CSR from
    :func:`digest.phrases.title_phrases`, or ``None``), and which entries the meaning model
    reads (``read``, bool per entry, or ``None``: all of them; an entry it does not read has a
    zero embedding, and its pairs are judged without the model, :data:`digest.embed.UNREAD_SHARE`)."""

    def unread(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
        """Bool (len(rows), len(cols)): the pairs of which the meaning model does not read
        one entry or both; ``None`` when it reads every entry of ``rows`` and ``cols``."""
        if self.read is None:
            return None
        r, c = ~self.read[rows], ~self.read[cols]
        if not (r.any() or c.any()):
            return None
        return r[:, None] | c[None, :]

    text: Any
    meaning: np.ndarray | None
    names: Any
    has_names: np.ndarray
    times: np.ndarray
    outlets: np.ndarray
    several_outlets: bool
    event_places: Any = None
    named_places: Any = None
    phrases: Any = None
    read: np.ndarray | None = None

    @property
    def hours(self) -> np.ndarray:
        """Times as float32 hours since the earliest (NaN if undated)."""
        known = self.times[~np.isnan(self.times)]
        start = known.min() if known.size else 0.0
        return ((self.times - start) / 3600.0).astype(np.float32)

    @property
    def time_span(self) -> float:
        """Seconds between the earliest and the latest dated entry (0 when fewer than two)."""
        known = self.times[~np.isnan(self.times)]
        return float(known.max() - known.min()) if known.size > 1 else 0.0


def names_of(entries: Sequence[Entry]) -> list[list[str]]:
    """The names of each entry (lower-cased): capitalised words of its title and lede that
    the batch never writes in lower case, longer than one letter and not English function
    words. Numbers are not names (see the module docstring)."""
    from digest.tfidf import STOP_WORDS

    texts = [f"{e.title} {e.summary_text[:_NAME_TEXT_CHARS]}" for e in entries]
    lower: Counter[str] = Counter()
    for text in texts:
        lower.update(w for w in _WORD.findall(text) if w.islower())
    out: list[list[str]] = []
    for text in texts:
        found: list[str] = []
        for word in _WORD.findall(text):
            if not word[0].isupper():
                continue
            key = re.sub(r"['’]s$", "", word.casefold())
            if len(key) < 2 or key in STOP_WORDS or lower[key]:
                continue
            found.append(key)
        out.append(found)
    return out


def _other_language(entry: Entry) -> bool:
    """Whether an entry's title and lede are written in a language of
    :data:`digest.tfidf.OTHER_FUNCTION_WORDS` (:func:`digest.tfidf.other_language`)."""
    from digest.tfidf import other_language, tokenize

    text = f"{entry.title} {entry.summary_text[:_LANGUAGE_TEXT_CHARS]}"
    return other_language(tokenize(text)) is not None


_LANGUAGE_TEXT_CHARS = 300  # the lede clustering reads (digest.cluster._MAX_TEXT_CHARS)


def signals(entries: Sequence[Entry], text: Any, *, use_meaning: bool = True) -> Signals:
    """Features of ``entries`` given their TF-IDF rows ``text`` (see module docstring)."""
    from digest.embed import embed_read
    from digest.tfidf import tfidf_rows

    meaning = read = None
    if use_meaning:
        found = embed_read([f"{e.title}. {e.summary_text[:300]}".strip() for e in entries])
        if found is not None:
            meaning, read = found
            # the model's vectors of Portuguese, German, Spanish or French text are close
            # for any two texts (unrelated jn-pt entries: cosine 0.47 on average, English
            # about 0.0): such a text is judged by its words, as text it spells letter by
            # letter
            other = np.array([_other_language(e) for e in entries], dtype=bool)
            if other.any():
                read = read & ~other
                meaning[other] = 0.0
            if read.all():
                read = None
    bags = names_of(entries)
    has_names = np.array([bool(b) for b in bags])
    names = None
    if int(has_names.sum()) > 1:
        rows = tfidf_rows(bags, sublinear_tf=True)
        names = None if rows is None else rows.astype(np.float32).tocsr()
    times = np.array(
        [
            (e.published or e.first_seen).timestamp()  # type: ignore[union-attr]
            if (e.published or e.first_seen) is not None
            else np.nan
            for e in entries
        ],
        dtype=np.float64,
    )
    from digest.placeconflict import place_rows

    from digest.phrases import title_phrases

    event_places, named_places = place_rows(entries)
    codes = {name: i for i, name in enumerate(sorted({e.source for e in entries}))}
    outlets = np.array([codes[e.source] for e in entries], dtype=np.int64)
    return Signals(
        text=text.astype(np.float32).tocsr(),
        meaning=meaning,
        names=names,
        has_names=has_names,
        times=times,
        outlets=outlets,
        several_outlets=len(codes) > 1,
        event_places=event_places,
        named_places=named_places,
        phrases=title_phrases(entries),
        read=read,
    )


def block(
    sig: Signals, rows: np.ndarray, cols: np.ndarray, params: Params, window_seconds: float
) -> np.ndarray:
    """Similarities (float32, shape (len(rows), len(cols))) of entries ``rows`` to ``cols``,
    with the penalties; pairs further apart than ``window_seconds`` and pairs whose leads put
    their events in different countries (:mod:`digest.placeconflict`) get ``-inf``. Works in
    place on one float32 matrix (this is the inner loop of clustering)."""
    s = (sig.text[rows] @ sig.text[cols].T).toarray().astype(np.float32, copy=False)
    if sig.meaning is not None:
        unread = sig.unread(rows, cols)
        words = None if unread is None else s[unread]
        meaning = sig.meaning[rows] @ sig.meaning[cols].T
        np.clip(meaning, 0.0, 1.0, out=meaning)
        s *= params.text_weight
        meaning *= 1.0 - params.text_weight
        s += meaning
        del meaning
        if unread is not None:  # a text the model does not read: the words alone
            s[unread] = words
    if sig.names is not None and params.names_weight > 0:
        named_rows = np.flatnonzero(sig.has_names[rows])
        named_cols = np.flatnonzero(sig.has_names[cols])
        if named_rows.size == len(rows) and named_cols.size == len(cols):
            shared = (sig.names[rows] @ sig.names[cols].T).toarray()
            s *= 1.0 - params.names_weight
            shared *= params.names_weight
            s += shared
        elif named_rows.size and named_cols.size:
            shared = (sig.names[rows[named_rows]] @ sig.names[cols[named_cols]].T).toarray()
            both = np.ix_(named_rows, named_cols)
            s[both] = (1.0 - params.names_weight) * s[both] + params.names_weight * shared
    if sig.event_places is not None and params.place_conflict:
        from digest.placeconflict import conflicts

        s[conflicts(sig.event_places, sig.named_places, rows, cols)] = -np.inf
    if sig.several_outlets and params.same_outlet_penalty:
        same = sig.outlets[rows][:, None] == sig.outlets[cols][None, :]
        s[same] -= params.same_outlet_penalty
    span = sig.time_span
    if span > 0 and (params.day_penalty or span > window_seconds):
        hours = sig.hours
        with np.errstate(invalid="ignore"):
            apart = np.abs(hours[rows][:, None] - hours[cols][None, :])
            if np.isnan(hours).any():
                np.nan_to_num(apart, copy=False, nan=0.0)  # undated: no penalty, no window
            if span > window_seconds:
                far = apart > np.float32(window_seconds / 3600.0)
            if params.day_penalty:
                apart *= np.float32(params.day_penalty / 24.0)
                s -= apart
            if span > window_seconds:
                s[far] = -np.inf
    return s
