"""Where two reports put their event: a place conflict keeps them apart.

Two reports of one event put it in one place. When each of two leads puts its event in a place
("in Munich", "to Slovakia and Hungary", a dateline "LONDON:") and neither lead names, in any
way, a place of the country the other puts its event in, they report different events, however
many names and words they share (Rubio's speech in Munich and his trip to Slovakia and Hungary
the next day; a gala in one city and a festival in another).

Places are the gazetteer of :mod:`digest.places` (its marks ``~ @ %`` stripped). A *country*
is one line of the gazetteer (a country with its cities and regions, or a few neighbouring
countries written together);
the US states count as the US. Event places are mentions with a place cue (after a
preposition of place, or a dateline); demonyms, venues (Geneva, Davos: where meetings about
anything happen), continents ("in Europe", "in the Middle East") and the ``world`` lines
(the Olympics, sports words) put nothing anywhere. Any mention, cued or not, demonyms
included, counts as naming a country ("Hungarian leaders" names Hungary's line).

Pure: :func:`place_rows` reads only the shipped gazetteer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np

from digest.types import Entry

__all__ = ["conflicts", "place_rows"]

_LEAD_CHARS = 300  # summary characters read: the lede says where the event is
_EVENT_CUES = ("dateline",)  # besides every "<preposition> …" cue
# the first name of a line that names a continent or a sea: where nothing in particular is
_BROAD = frozenset({"europe", "middle east", "asia", "africa"})
_SAME_COUNTRY = {"alabama": "united states"}  # the states' line is the US


@functools.cache
def _countries() -> dict[str, int]:
    """Casefolded gazetteer name -> its country (line number); broad lines are left out."""
    text = resources.files("digest").joinpath("data/places.txt").read_text(encoding="utf-8")
    lines: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        region, _, names = line.partition(":")
        if region.strip() == "world":
            continue
        names_of_line = [n.strip().lstrip("~@%").strip() for n in names.split("|")]
        lines.append([n.casefold() for n in names_of_line if n])
    first = {row[0]: k for k, row in enumerate(lines) if row}
    out: dict[str, int] = {}
    for k, row in enumerate(lines):
        if not row or row[0] in _BROAD:
            continue
        country = first.get(_SAME_COUNTRY.get(row[0], row[0]), k)
        for name in row:
            out.setdefault(name, country)
    return out


def _where(entry: Entry) -> tuple[set[int], set[int]]:
    """(countries the lead puts its event in, countries it names at all); both empty when
    the lead has no place cue before a capitalised word (a lead that places nothing can
    conflict with nothing, and most leads are skipped without the gazetteer's matcher)."""
    from digest.places import PLACE_CUE, locate

    lead = entry.summary_text[:_LEAD_CHARS]
    if not (_could_place(entry.title) or _could_place(lead)):
        return set(), set()
    countries = _countries()
    event: set[int] = set()
    named: set[int] = set()
    for m in locate(entry.title, lead):
        country = countries.get(m.place.name.casefold())
        if country is None:
            continue
        named.add(country)
        cued = m.cue.endswith("…") or m.cue in _EVENT_CUES
        if cued and m.place.kind == "place" and m.weight >= PLACE_CUE:
            event.add(country)
    return event, named


_CAPITAL = re.compile(r"[A-Z]")


@functools.cache
def _cue_pattern() -> re.Pattern[str]:
    """A preposition of place (the list :mod:`digest.places` reads cues by, any case) and
    the up to four capitalised words after it, or a dateline ("LONDON:") at the start."""
    from digest.places import _PREPOSITIONS

    words = "|".join(sorted(_PREPOSITIONS))
    name = r"[A-Z][\w.'’-]*"
    return re.compile(
        rf"\b(?i:{words})\W+(?:(?i:the)\s+)?({name}(?:\s+{name}){{0,3}})|^\s*([A-Z][A-Z .]+):"
    )


def _could_place(text: str) -> bool:
    """True when ``text`` has a preposition of place before words that begin with a name of
    a country's line, or starts with a dateline: a necessary condition for :func:`_where`
    to find an event place, checked without the gazetteer's matcher (most leads fail it).
    A text without a capital letter (GoogleNews is lower-cased: 4,260 of bench/cluster.py's
    7,600 titles) fails before the cue pattern is tried."""
    if not text or not _CAPITAL.search(text):  # both cues need a capital letter
        return False
    countries = _countries()
    for match in _cue_pattern().finditer(text):
        if match.group(2):
            return True
        words = match.group(1).split()
        for k in range(1, len(words) + 1):
            name = " ".join(words[:k]).casefold()
            bare = re.sub(r"['’]s$", "", name.rstrip("."))
            if name in countries or bare in countries:
                return True
    return False


def place_rows(entries: Sequence[Entry]) -> tuple[Any, Any]:
    """Two sparse 0/1 matrices (scipy CSR, entries × countries): the countries each lead
    puts its event in, and the countries it names at all (see the module docstring)."""
    from scipy.sparse import csr_matrix

    width = max(_countries().values(), default=0) + 1
    cells: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    for i, entry in enumerate(entries):
        event, named = _where(entry)
        cells[0].extend([i] * len(event))
        cells[1].extend(sorted(event))
        cells[2].extend([i] * len(named))
        cells[3].extend(sorted(named))

    def matrix(rows: list[int], cols: list[int]) -> Any:
        data = np.ones(len(rows), dtype=np.float32)
        return csr_matrix((data, (rows, cols)), shape=(len(entries), width))

    return matrix(cells[0], cells[1]), matrix(cells[2], cells[3])


def conflicts(event: Any, named: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bool matrix (len(rows), len(cols)): True where both leads put their event in a place
    and neither names a country the other puts its event in (``event``/``named`` from
    :func:`place_rows`).

    Only the leads that put their event somewhere are sliced out of the sparse matrices (a
    tenth of the bench's items): this runs once per block of the distance matrix, and
    slicing every column's rows each time cost about as much as the rest of the veto."""
    placed = np.diff(event.indptr) > 0  # a row of ones: some event place
    rows_at = np.flatnonzero(placed[rows])
    cols_at = np.flatnonzero(placed[cols])
    out = np.zeros((len(rows), len(cols)), dtype=bool)
    if not rows_at.size or not cols_at.size:
        return out
    r, c = rows[rows_at], cols[cols_at]
    seen = (event[r] @ named[c].T).toarray() > 0
    seen |= (named[r] @ event[c].T).toarray() > 0
    out[np.ix_(rows_at, cols_at)] = ~seen
    return out
