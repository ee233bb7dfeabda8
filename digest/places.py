"""Where a piece of news happens: place names in a lead, weighed, mapped to world regions.

The gazetteer (``digest/data/places.txt``) lists countries, capitals, main cities, regions of
large countries and demonyms (in English, and the main countries and cities in the other
languages of the capture's feeds: Portuguese, German, French, Chinese, Urdu; a name in a
script written without spaces, Chinese, matches inside a run of characters), each under one
region (``americas``, ``europe``, ``asia``, ``middle-east``, ``africa``, ``world``).
:func:`locate` finds them in a story's title and summary and weighs each mention by where it
is and how it is used, so that *where the event happens* outweighs *who is named*:

- field: a mention in the title counts :data:`TITLE_WEIGHT`, in the summary 1;
- use: after a preposition of place ("in Nigeria", "to the Philippines") or as a dateline
  ("LONDON: ...") × :data:`PLACE_CUE`; "from" is not one: it names where people or things
  come from ("won't repatriate 34 women from Syria"), not where the news happens; a sponsor
  ("Russia-backed Syrian talks", "Saudi-led coalition") × :data:`ACTOR_CUE`; a demonym
  ("US soldiers" is written ``US`` but a demonym such as "Japanese" is marked ``~`` in the
  data) or a possessive ("France's Macron") × :data:`ACTOR_CUE`; a city that hosts
  international meetings (``@Geneva``) × :data:`VENUE_CUE`; a name quoted on its own
  (removing the word ‘Palestine’) is a word talked about, not where anything happens:
  × :data:`QUOTED_CUE`;
- a place right after another region's possessive place is what that place has ("India's
  Silicon Valley", "Chile's Lagos"): it is not counted;
- "US"/"U.S." used before a noun ("US soldiers", "U.S. military") is an actor too; a demonym
  before "Americans" ("Yemeni Americans", "African-American") is not counted: they are Americans;
- the first words of a title name its subject ("Pakistan, Austria agree ...",
  "China grants UK and Canada ..."): × :data:`SUBJECT_CUE`, unless it is one of a joint
  subject ("US and Iran reach ...").

Some names say where without being places: events and sports (``Olympics``, ``figure
skater``), institutions and people (``FCC``, ``NATO``, ``Netanyahu``), fields of study. The
gazetteer marks them ``%``; they weigh as their other marks say, :attr:`Place.term` is true,
the section reasons call them terms, and they are never an outlet's desk. A name found in
the news of every region (the US president: "Trump's Greenland threat", "Iranian protesters
betrayed by Trump") is marked ``^`` as well: :attr:`Place.alone` is true, and
``digest.topics`` counts it only in a lede that names nothing else ("The goal of the Trump
Action Tracker is ...").

Pure: no I/O after the gazetteer is read once (it ships inside the package).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

__all__ = ["Mention", "Place", "gazetteer", "locate", "regions"]

TITLE_WEIGHT = 3.0
PLACE_CUE = 2.0
ACTOR_CUE = 0.5
VENUE_CUE = 0.25
SUBJECT_CUE = 1.5
QUOTED_CUE = 0.25

_PREPOSITIONS = frozenset(
    (
        "in", "at", "to", "into", "inside", "near", "across", "throughout", "outside",
        "off", "around", "within",
    )
)  # fmt: skip
_PLAIN, _DEMONYM, _VENUE = "place", "demonym", "venue"

UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Characters of scripts written without spaces between words (Chinese, Japanese kana), as
the body of a regular-expression class: a name in them ("美国" in "美国总统") has no word
boundary to look for."""
END = rf"(?:(?!\w)|(?<=[{UNSPACED}]))"
"""The end of a whole word (no letter or digit after it), or of a name or keyword whose last
character is of an unspaced script (:data:`UNSPACED`)."""
_UNSPACED_NAME = re.compile(rf"[{UNSPACED}]")


@dataclass(frozen=True)
class Place:
    """One gazetteer name: its ``region``, ``kind`` (``place``, ``demonym`` or ``venue``) and
    whether it is a ``term`` rather than a place."""

    name: str
    region: str
    kind: str = _PLAIN
    term: bool = False
    """True for a name that says where without being a place: an event or a sport
    (``Olympics``, ``figure skater``), an institution or a person (``FCC``, ``NATO``,
    ``Netanyahu``), a field of study (``astronomer``). Weighed as its ``kind`` says; the
    reasons call it a term, not a place."""
    alone: bool = False
    """True for a name (marked ``^``) that says whom the news concerns only when it is named
    alone, in a lede that names nothing else: it is named in the news of every region
    (``Trump``)."""


@dataclass(frozen=True)
class Mention:
    """A place named in a lead: the gazetteer ``place``, in ``field`` (``title``/``summary``),
    its ``weight`` after the rules of the module docstring and the ``cue`` that set it."""

    place: Place
    field: str
    weight: float
    cue: str = ""


def _parse(lines: Iterable[str]) -> tuple[Place, ...]:
    places: list[Place] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        region, _, names = line.partition(":")
        for item in names.split("|"):
            name = item.strip()
            kind = _PLAIN
            alone = name.startswith("^")
            if alone:
                name = name[1:].strip()
            term = alone or name.startswith("%")
            if name.startswith("%"):
                name = name[1:].strip()
            if name.startswith("~"):
                name, kind = name[1:].strip(), _DEMONYM
            elif name.startswith("@"):
                name, kind = name[1:].strip(), _VENUE
            if name:
                places.append(
                    Place(name=name, region=region.strip(), kind=kind, term=term, alone=alone)
                )
    return tuple(places)


@functools.cache
def gazetteer() -> tuple[Place, ...]:
    """Every place of the shipped gazetteer, in file order."""
    text = resources.files("digest").joinpath("data/places.txt").read_text(encoding="utf-8")
    return _parse(text.splitlines())


def regions() -> tuple[str, ...]:
    """The region names of the gazetteer, in file order (what ``TopicConfig.places`` takes)."""
    return tuple(dict.fromkeys(p.region for p in gazetteer()))


@functools.cache
def _unspaced() -> re.Pattern[str]:
    """The names written in a script without spaces between words (Chinese), which have no
    word boundary to look for (they match inside a run of characters): one trie of their own,
    so that the other names' boundaries stay a plain look-behind (a boundary that allows
    both costs every name's search a fifth more)."""
    _, _, exact, _ = _matcher()
    return re.compile(_trie(n for n in exact if _UNSPACED_NAME.search(n)))


@functools.cache
def _matcher() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, Place], dict[str, Place]]:
    """One alternation for case-sensitive names (all capitals) and one for the others; the
    longest names first so "South Africa" wins over "Africa". Names written in a script
    without spaces (Chinese: case-sensitive, as they have no case) are :func:`_unspaced`'s."""
    exact: dict[str, Place] = {}
    folded: dict[str, Place] = {}
    for place in gazetteer():
        caps = place.name == place.name.upper() and any(c.isalpha() for c in place.name)
        if caps:
            exact.setdefault(place.name, place)
        else:
            folded.setdefault(place.name.casefold(), place)

    def alternation(names: Iterable[str], flags: int) -> re.Pattern[str]:
        body = _trie([n.lower() if flags & re.IGNORECASE else n for n in names])
        return re.compile(rf"(?<![\w.])(?:{body})(?!\w)(?:['’]s\b)?", flags)

    return (
        alternation([n for n in exact if not _UNSPACED_NAME.search(n)], 0),
        alternation([p.name for p in folded.values()], re.IGNORECASE),
        exact,
        folded,
    )


_SPACE = " "


def _trie(names: Iterable[str]) -> str:
    """One regular expression for ``names`` (the words of each joined by ``\\s+``) as a trie:
    it matches what the alternation of the names, longest first, matches, at each position the
    longest name that fits. An alternation of ~800 names is tried name by name at every
    character of a text; the trie follows one branch (at most one child can match a character:
    they differ in it, and a space never matches a letter). Built from the sorted names by
    index ranges rather than as a tree of dicts: no thousands of containers for the garbage
    collector to walk in a process that holds a day of parsed feeds."""
    ordered = sorted({_SPACE.join(name.split()) for name in names})

    def branch(lo: int, hi: int, depth: int) -> str:
        # ordered[lo:hi] share their first ``depth`` characters; a name that ends here sorts first
        ends = lo < hi and len(ordered[lo]) == depth
        i = lo + 1 if ends else lo
        parts = []
        while i < hi:
            char, j = ordered[i][depth], i + 1
            while j < hi and ordered[j][depth] == char:
                j += 1
            parts.append((r"\s+" if char == _SPACE else re.escape(char)) + branch(i, j, depth + 1))
            i = j
        if not parts:
            return ""
        body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
        # a name ends here too: the optional group tries the longer names first
        return f"(?:{body})?" if ends else body

    return branch(0, len(ordered), 0)


_WORD_BEFORE = re.compile(r"(\w+)(?:\W+the)?\W*$", re.IGNORECASE)
_NEXT_WORD = re.compile(r"^\s+(?:the\s+)?([A-Za-z][\w-]*)")
_US_NAMES = frozenset({"US", "U.S.", "USA", "U.S.A.", "America"})
_VERBS_AFTER_US = frozenset(
    (
        "says", "said", "and", "or", "is", "was", "has", "had", "will", "would", "to", "warns",
        "plans", "kills", "strikes", "sends",
    )
)  # "US plans ..." is a subject; "US soldiers ..." an adjective: who, not where


_IDIOMS = {"guinea": re.compile(r"\s+pigs?\b", re.IGNORECASE)}
"""Names that the words after them make a common noun: "guinea pigs" are not in Guinea."""

_HYPHENATED_AMERICAN = re.compile(r"(?:-|\s+)Americans?\b")
"""After a demonym, "Americans" makes one people of the two: "Yemeni Americans", "Venezuelan-
Americans" and "African Americans" are Americans (the ``American`` part is matched on its own)."""

_SPONSOR = re.compile(
    r"[-‐‑]\s*(?:backed|brokered|led|hosted|sponsored|mediated|funded|allied|aligned)\b",
    re.IGNORECASE,
)
"""After a name, these make it the sponsor of what follows ("Russia-backed Syrian peace
talks", "Saudi-led coalition", "US-brokered talks"): who backs it, weighed as an actor."""

_OPEN_QUOTES, _CLOSE_QUOTES = "'\"‘“«", "'\"’”»"


def _cue(text: str, start: int, end: int, token: str, place: Place) -> tuple[float, str]:
    quoted = (
        0 < start
        and end < len(text)
        and text[start - 1] in _OPEN_QUOTES
        and text[end] in _CLOSE_QUOTES
        and (start == 1 or not text[start - 2].isalnum())
        and (end + 1 == len(text) or not text[end + 1].isalnum())
    )
    if quoted:
        return QUOTED_CUE, "quoted word"  # removing the word 'Palestine': a word, not a where
    if _SPONSOR.match(text, end):
        return ACTOR_CUE, "sponsor"  # "Russia-backed Syrian talks": who backs them, not where
    if place.kind == _VENUE:
        return VENUE_CUE, "venue"
    if place.kind == _DEMONYM:
        return ACTOR_CUE, "demonym"
    before = _WORD_BEFORE.search(text[max(0, start - 30) : start])
    if before and before.group(1).lower() in _PREPOSITIONS:
        return PLACE_CUE, f"{before.group(1).lower()} …"
    if token.endswith(("'s", "’s")):
        return ACTOR_CUE, "possessive"
    if start == 0 or text[:start].strip() == "":
        after = text[end : end + 2]
        if after.startswith(":") and token.upper() == token:  # dateline "LONDON: ..."
            return PLACE_CUE, "dateline"
    if place.name in _US_NAMES:
        following = _NEXT_WORD.match(text[end : end + 40])
        if following and following.group(1).lower() not in _VERBS_AFTER_US:
            return ACTOR_CUE, "adjective"
    if start == 0 and not re.match(r"\s*(?:,|and\b|&)", text[end:]):  # "X and Y ...": both
        return SUBJECT_CUE, "subject"
    return 1.0, ""


def _mentions(text: str, field: str, scale: float) -> list[Mention]:
    exact_re, folded_re, exact, folded = _matcher()
    found: dict[tuple[int, int], Mention] = {}
    patterns = ((exact_re, exact, False), (folded_re, folded, True), (_unspaced(), exact, False))
    for pattern, table, fold in patterns:
        for match in pattern.finditer(text):
            token = match.group(0)
            name = re.sub(r"['’]s$", "", token)
            key = " ".join(name.split())
            place = table.get(key.casefold() if fold else key)
            if place is None:
                continue
            idiom = _IDIOMS.get(place.name.casefold())
            if idiom is not None and idiom.match(text, match.end()):
                continue  # "guinea pigs", not Guinea
            if place.kind == _DEMONYM and _HYPHENATED_AMERICAN.match(text, match.end()):
                continue  # "Yemeni Americans" live in America
            span = (match.start(), match.end())
            if any(a < span[1] and span[0] < b for a, b in found):
                continue  # inside a longer name already found
            factor, cue = _cue(text, match.start(), match.end(), token, place)
            found[span] = Mention(place=place, field=field, weight=scale * factor, cue=cue)
    spans = sorted(found)
    owned = {
        later
        for earlier, later in zip(spans, spans[1:])
        if _owned(found[earlier], found[later], text[earlier[1] : later[0]])
    }
    return [found[k] for k in spans if k not in owned]


def _owned(owner: Mention, named: Mention, between: str) -> bool:
    """True when ``named`` directly follows a possessive place of another region: what that
    place has, not where the news happens ("India's Silicon Valley" is Bangalore, "Chile's
    Lagos" its president, "Florida's Gulf coast" American). Terms (events, institutions) are
    never owned: "China's Winter Olympics" still names the Games."""
    return (
        owner.cue == "possessive"
        and not between.strip()
        and not named.place.term
        and owner.place.region != named.place.region
    )


def locate(title: str, summary: str = "") -> tuple[Mention, ...]:
    """Every gazetteer place named in ``title`` and ``summary``, title first, each weighed
    as the module docstring says. A name repeated in one field counts once there (its
    strongest use). Never raises."""
    result: list[Mention] = []
    for text, field, scale in ((title or "", "title", TITLE_WEIGHT), (summary or "", "summary", 1.0)):
        best: dict[str, Mention] = {}
        for mention in _mentions(text, field, scale):
            key = mention.place.name.casefold()
            if key not in best or mention.weight > best[key].weight:
                best[key] = mention
        result.extend(best.values())
    return tuple(result)


# The outlet's own desk: a region named by a path segment of the link ("/world/europe/",
# "/us-news/", "/usa/") or by a feed category in a desk's form ("US news",
# "homepage_regional_asia"). Aliases for desk names the gazetteer does not hold as places.
_DESK_ALIASES = {
    "americas": "americas",
    "us politics": "americas",
    "latin america": "americas",
    "middleeast": "middle-east",
    "middle east and north africa": "middle-east",
    "middle east africa": "middle-east",
    "asia pacific": "asia",
}
_DESK_AFFIXES = re.compile(r"^(?:homepage regional|regional)\s+|\s+news$")


def _desk_name(label: str) -> str | None:
    """The region a desk label names (``"us-news"`` → ``americas``), or ``None``."""
    words = " ".join(re.sub(r"[-_]+", " ", label).split()).casefold()
    words = _DESK_AFFIXES.sub("", words).strip()
    if not words or any(c.isdigit() for c in words) or len(words.split()) > 5:
        return None
    if words in _DESK_ALIASES:
        return _DESK_ALIASES[words]
    _, _, exact, folded = _matcher()
    place = folded.get(words) or next(
        (p for name, p in exact.items() if name.casefold() == words), None
    )
    return place.region if place is not None and place.kind == _PLAIN and not place.term else None


def desks(url: str | None, categories: Iterable[str] = ()) -> tuple[tuple[str, str], ...]:
    """The regions an outlet files an entry under: ``(region, label)`` for each path segment
    of ``url`` before its last (the slug) that names a region or a country (``/world/europe/``,
    ``/us-news/``, ``/usa/``), and each feed category that names one in a desk's form
    (``"US news"``, ``"homepage_regional_asia"``; a category that is just a place name is a
    place tag, not a desk). Each region once, link first. Never raises."""
    from urllib.parse import urlsplit

    found: dict[str, str] = {}
    try:
        path = urlsplit(url or "").path
    except ValueError:
        path = ""
    for segment in [s for s in path.split("/") if s][:-1]:
        region = _desk_name(segment)
        if region:
            found.setdefault(region, f"/{segment}/")
    for category in categories:
        text = " ".join(re.sub(r"[-_]+", " ", category).split()).casefold()
        if not _DESK_AFFIXES.search(text) and text not in _DESK_ALIASES:
            continue
        region = _desk_name(category)
        if region:
            found.setdefault(region, category)
    return tuple((region, label) for region, label in found.items())
