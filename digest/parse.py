"""Parsing stage: feed bytes -> :class:`~digest.types.ParsedFeed` of :class:`~digest.types.Entry`.

Formats: RSS 0.90/0.91/0.92/1.0 (RDF)/2.0 and Atom 0.3/1.0 through feedparser; JSON Feed
1.0/1.1 (https://jsonfeed.org/version/1.1) through a small reader of our own. The format is
detected from the bytes, never from a file name or content type.

Order of work for XML (each step exists because real or hostile feeds need it, see
``../shared/badfeeds/README.md``):

1. The encoding is decided from the bytes (:func:`digest.encoding.decide_encoding`: BOM,
   then a strict UTF-8 decode, then the HTTP charset or the declaration as WHATWG reads
   them, then chardet, then windows-1252), with a warning when the label was wrong, and the
   document is transcoded to UTF-8 with its declaration saying so. No mojibake reaches an
   entry.
2. The DOCTYPE (with any internal subset and entity declarations, ``SYSTEM``/``PUBLIC``
   identifiers) is removed before any XML parser sees the document: no XML parser expands
   an entity (billion laughs, one large entity referenced many times) and nothing is fetched.
3. References to internal entities whose value is short plain text (no markup, no further
   reference) are replaced by that text, within a total budget; HTML named entities that XML
   lacks (``&nbsp;``, ``&mdash;``...) become numeric character references; any other
   undefined or external entity is removed, with a warning (a reader never sees ``&ext;``).
   Control characters illegal in XML 1.0, raw or as character references, are removed.
   ``media:title`` and ``media:description`` are renamed so feedparser cannot take them for
   the item's own title and description (they are used only when the item has none; the
   caption becomes the lead image's alt text).
4. feedparser parses the bytes (``BytesIO``, with the response headers) with its own
   sanitiser and URI resolver switched off: nh3 sanitises later, URLs are resolved here.

Then every item is normalised the same way whatever its format: identity, link, title,
summary, lead image, dates, categories, language, content hash (see :func:`parse_feed`).
"""

from __future__ import annotations

import codecs
import hashlib
import html
import io
import json
import logging
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_tz
from html.entities import html5 as _HTML5_ENTITIES
from typing import Any

import feedparser

from digest.encoding import codec_name, decide_encoding, decode, is_utf8
from digest.exceptions import ParseError
from digest.sanitize import (
    clean_text,
    drop_leading_text,
    neutralise_encoded_words,
    sanitize_html,
    sanitized_html_to_text,
    text_from_html_fragment,
    unwrap_cdata,
)
from digest.types import AUDIO_FLAG, Entry, Image, ParsedFeed
from digest.urls import identity_url, is_http_url, safe_http_url

__all__ = [
    "MAX_ENTRIES",
    "MAX_SUMMARY_HTML",
    "MAX_TITLE",
    "normalise_language",
    "parse_date",
    "parse_feed",
]

log = logging.getLogger("digest.parse")

MAX_ENTRIES = 1000
"""At most this many entries are read from one feed document (document order)."""
MAX_TITLE = 1000
"""Title cap, characters."""
MAX_SUMMARY_HTML = 100_000
"""``summary_html`` cap, characters (of sanitised HTML)."""
MAX_WARNINGS = 30
_MAX_ID = 512
_MAX_AUTHOR = 200
_MAX_CATEGORY = 200
_MAX_CATEGORIES = 50
_MIN_YEAR = 1971

# --------------------------------------------------------------------------------------------
# Byte-level preparation of XML
# --------------------------------------------------------------------------------------------

_XML_DECL = re.compile(
    rb"^(\s*<\?xml[^>]*?)\bencoding\s*=\s*([\"'])([A-Za-z0-9._:\-]+)\2", re.IGNORECASE
)
_SUBSET_END = re.compile(rb"\]\s*>")
_CDATA_SPLIT = re.compile(rb"(<!\[CDATA\[.*?\]\]>)", re.DOTALL)
_ENTITY_REF = re.compile(rb"&([A-Za-z][A-Za-z0-9._\-]{0,40});")
_BAD_CHARREF = re.compile(
    rb"&#(?:[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]|[dD][89a-fA-F][0-9a-fA-F]{2}|[fF]{3}[eEfF])"
    rb"|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|5[5-7][0-9]{3}|6553[45]));"
)
_BAD_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")
_BAD_BYTES_ESC = re.compile(rb"\x1b")
# feedparser treats media:title / media:description as the item's own title / description
# (whichever comes first wins). Renamed, they are kept apart as media_x_title/-description.
_MEDIA_TEXT = re.compile(rb"<(/?)media:(description|title)\b[^>]*?(/?)>")
_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:\-]+)", re.IGNORECASE)


@dataclass
class _Prepared:
    content: bytes
    headers: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def _declared_encoding(content: bytes) -> str | None:
    m = _XML_DECL.match(content[:1024])
    return m.group(3).decode("ascii").lower() if m else None


def _set_declared_utf8(content: bytes) -> bytes:
    """Rewrite (or drop) the encoding pseudo-attribute so it says UTF-8."""
    m = _XML_DECL.match(content[:1024])
    if not m:
        return content
    return content[: m.start(3)] + b"utf-8" + content[m.end(3) :]


def _header_charset(headers: Mapping[str, str]) -> str | None:
    m = _CHARSET.search(headers.get("content-type", ""))
    return m.group(1).lower() if m else None


def _utf16_32(content: bytes) -> str | None:
    """Name of a UTF-16/32 encoding given by BOM or NUL pattern, else ``None``."""
    head = content[:4]
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head == b"\x00\x00\x00<":
        return "utf-32-be"
    if head == b"<\x00\x00\x00":
        return "utf-32-le"
    if head[:2] == b"\x00<":
        return "utf-16-be"
    if head[:2] == b"<\x00":
        return "utf-16-le"
    return None


_ELEMENT_START = re.compile(rb"<[A-Za-z_]")


def _strip_doctype(content: bytes) -> tuple[bytes, str, bytes]:
    """Remove the DOCTYPE from the prolog (XML 1.0 section 2.8); return the bytes, a
    warning ("" when there was no internal subset) and the internal subset's bytes. Only
    the prolog is scanned: whitespace, processing instructions and comments, then the
    DOCTYPE, before the root element."""
    pos, n = 0, len(content)
    while pos < n:
        while pos < n and content[pos] in b" \t\r\n":
            pos += 1
        if content.startswith(b"<?", pos):
            end = content.find(b"?>", pos + 2)
            if end == -1:
                return content, "", b""
            pos = end + 2
        elif content.startswith(b"<!--", pos):
            end = content.find(b"-->", pos + 4)
            if end == -1:
                return content, "", b""
            pos = end + 3
        elif content[pos : pos + 9].upper() == b"<!DOCTYPE":
            break
        else:
            return content, "", b""
    else:
        return content, "", b""
    gt = content.find(b">", pos)
    br = content.find(b"[", pos)
    if br == -1 or (gt != -1 and gt < br):  # no internal subset: <!DOCTYPE rss SYSTEM "...">
        end = gt + 1 if gt != -1 else n
        return content[:pos] + content[end:], "", b""
    subset_end = _SUBSET_END.search(content, br)
    if subset_end is not None:
        end = subset_end.end()
    else:  # unterminated internal subset: drop everything up to the root element
        root = _ELEMENT_START.search(content, br)
        end = root.start() if root else n
    return (
        content[:pos] + content[end:],
        "DOCTYPE internal subset removed",
        content[br:end],
    )


_ENTITY_DECL = re.compile(
    rb"""<!ENTITY\s+([A-Za-z_][A-Za-z0-9._\-]{0,40})\s+(["'])([^"'<&%]*)\2\s*>"""
)
_MAX_ENTITY_VALUE = 200
_MAX_ENTITY_TOTAL = 20_000


def _plain_entities(subset: bytes) -> dict[bytes, bytes]:
    """Internal general entities whose value is short plain text (no markup, no reference,
    so no recursion: XML 1.0 section 4.2): ``name -> value``. SYSTEM/PUBLIC (external) and
    parameter entities are never among them."""
    out: dict[bytes, bytes] = {}
    for m in _ENTITY_DECL.finditer(subset):
        if len(m.group(3)) <= _MAX_ENTITY_VALUE:
            out.setdefault(m.group(1), m.group(3))
    return out


def _prepare_xml(content: bytes, headers: Mapping[str, str]) -> _Prepared:
    """Steps 1-3 of the module docstring. Never raises."""
    hdrs = {k.lower(): v for k, v in headers.items()}
    warnings: list[str] = []
    decision = decide_encoding(
        content,
        declared=_declared_encoding(content),
        http_charset=_header_charset(hdrs),
    )
    if decision.warning:
        warnings.append(decision.warning)
    if decision.encoding != "utf-8" or decision.skip:
        content = _set_declared_utf8(decode(content, decision).encode("utf-8"))
    else:
        content = _set_declared_utf8(content)
    if "content-type" in hdrs and _header_charset(hdrs):
        hdrs["content-type"] = _CHARSET.sub("charset=utf-8", hdrs["content-type"])
    # 2. DOCTYPE with internal subset / external identifiers: removed, never expanded.
    content, removed, subset = _strip_doctype(content)
    declared_entities = _plain_entities(subset) if subset else {}
    if removed:
        warnings.append(removed)
    # 3. Entities and control characters, outside CDATA sections only for entities.
    declared_now = _declared_encoding(content) or ""
    bad_bytes = (
        _BAD_BYTES
        if "2022" in declared_now
        else re.compile(_BAD_BYTES.pattern + b"|" + _BAD_BYTES_ESC.pattern)
    )
    if bad_bytes.search(content):
        content = bad_bytes.sub(b"", content)
        warnings.append("control characters removed")
    content = _BAD_CHARREF.sub(b"", content)
    as_html: set[str] = set()
    dropped: set[str] = set()
    budget = [_MAX_ENTITY_TOTAL]

    def fix_entity(em: re.Match[bytes]) -> bytes:
        name = em.group(1)
        if name in _XML_ENTITIES:
            return em.group(0)
        value = declared_entities.get(name)
        if value is not None and budget[0] >= len(value):
            budget[0] -= len(value)
            return value
        chars = None if value is not None else _HTML5_ENTITIES.get(name.decode("ascii") + ";")
        if chars is not None:
            as_html.add(name.decode("ascii"))
            return b"".join(b"&#%d;" % ord(c) for c in chars)
        dropped.add(name.decode("ascii"))  # undefined, external, or too much text: removed
        return b""

    if b"&" in content or b"<media:" in content:
        parts = _CDATA_SPLIT.split(content)
        for i in range(0, len(parts), 2):
            if b"&" in parts[i]:
                parts[i] = _ENTITY_REF.sub(fix_entity, parts[i])
            if b"<media:" in parts[i] or b"</media:" in parts[i]:
                parts[i] = _MEDIA_TEXT.sub(rb"<\1media:x_\2\3>", parts[i])
        content = b"".join(parts)
    if as_html:
        names = ", ".join(sorted(as_html)[:8])
        warnings.append(f"entities XML does not define ({names}) read as HTML")
    if dropped:
        names = ", ".join(sorted(dropped)[:8])
        warnings.append(f"entities not expanded and removed ({names}): undefined or external")
    return _Prepared(content, hdrs, warnings)


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

_MONTHS: dict[str, str] = {}
for _eng, _names in {
    "Jan": "jan januar januari janeiro janv janvier ene enero gen gennaio",
    "Feb": "feb februar februari fev fevereiro févr fevr février fevrier febrero febbraio",
    "Mar": "mär maer mrz märz maerz mrt maart mars marzo março marco",
    "Apr": "apr april avr avril abr abril aprile",
    "May": "mai mei maio may mayo mag maggio",
    "Jun": "jun juni juin junio giu giugno junho",
    "Jul": "jul juli juil juillet julio lug luglio julho",
    "Aug": "aug august augustus août aout ago agosto",
    "Sep": "sep sept september septembre septiembre set setiembre settembre setembro",
    "Oct": "okt oktober oct octobre octubre ott ottobre out outubro",
    "Nov": "nov november novembre noviembre novembro",
    "Dec": "dez dezember dec déc decembre décembre december dic diciembre dicembre dezembro",
}.items():
    for _n in _names.split():
        _MONTHS[_n] = _eng
    _MONTHS[_eng.lower()] = _eng
for _eng in [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]:
    _MONTHS[_eng.lower()] = _eng[:3]
_WEEKDAYS = frozenset(
    [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "mo",
        "di",
        "mi",
        "do",
        "fr",
        "sa",
        "so",
        "montag",
        "dienstag",
        "mittwoch",
        "donnerstag",
        "freitag",
        "samstag",
        "sonntag",
        "lun",
        "mar",
        "mer",
        "jeu",
        "ven",
        "sam",
        "dim",
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "mié",
        "mie",
        "jue",
        "vie",
        "sáb",
        "dom",
        "lunes",
        "martes",
        "miércoles",
        "miercoles",
        "jueves",
        "viernes",
        "sábado",
        "sabado",
        "domingo",
        "gio",
        "sab",
        "lunedì",
        "martedì",
        "mercoledì",
        "giovedì",
        "venerdì",
        "sabato",
        "domenica",
        "ma",
        "wo",
        "vr",
        "za",
        "zo",
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
        "seg",
        "ter",
        "qua",
        "qui",
        "sex",
        "segunda",
        "terça",
        "terca",
        "quarta",
        "quinta",
        "sexta",
    ]
)
_TZ_OFFSETS: dict[str, str] = {
    "UT": "+0000", "UTC": "+0000", "GMT": "+0000", "Z": "+0000", "WET": "+0000",
    "WEST": "+0100", "BST": "+0100", "CET": "+0100", "MET": "+0100", "MEZ": "+0100",
    "CEST": "+0200", "MEST": "+0200", "MESZ": "+0200", "EET": "+0200", "EEST": "+0300",
    "MSK": "+0300", "IST": "+0530", "PKT": "+0500", "WIB": "+0700", "ICT": "+0700",
    "HKT": "+0800", "SGT": "+0800", "AWST": "+0800", "CST": "-0600", "CDT": "-0500",
    "JST": "+0900", "KST": "+0900", "ACST": "+0930", "ACDT": "+1030", "AEST": "+1000",
    "AEDT": "+1100", "NZST": "+1200", "NZDT": "+1300", "EST": "-0500", "EDT": "-0400",
    "MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700", "AKST": "-0900",
    "AKDT": "-0800", "HST": "-1000", "AST": "-0400", "ADT": "-0300", "NST": "-0330",
    "NDT": "-0230", "BRT": "-0300", "ART": "-0300", "CAT": "+0200", "EAT": "+0300",
    "WAT": "+0100", "SAST": "+0200",
}  # fmt: skip
# US zone names without the S/D letter: read as standard time, as feedparser does. Only
# upper case, so the words "at", "et", "mt" in a date string are not taken for zones.
_TZ_GENERIC: dict[str, str] = {
    "AT": "-0400", "ET": "-0500", "CT": "-0600", "MT": "-0700", "PT": "-0800",
}  # fmt: skip
# After _to_english, an RFC 822-like date holds only these tokens; anything else ("zz" for a
# year, "+zz:00") makes it unusable rather than silently read as something else.
_RFC822_TOKEN = re.compile(
    r"^(?:\d{1,4}|\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?|[+\-]\d{4}|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|"
    r"Aug|Sep|Oct|Nov|Dec)|[AaPp]\.?[Mm]\.?)$"
)
_COLON_OFFSET = re.compile(r"(?:\b(?:Etc/)?(?:GMT|UTC|UT)\s*)?([+\-])(\d{2}):(\d{2})$")
_GMT_HOURS = re.compile(r"\b(?:GMT|UTC|UT)([+\-])(\d{1,2})(\d{2})?$")  # "GMT+1", "GMT+0100"
_DASHED_DATE = re.compile(r"\b(\d{1,2})-([^\W\d_]{3,})-(\d{2,4})\b")  # RFC 850 "17-Feb-26"
_TWELVE_HOUR = re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp])\.?[Mm]\b\.?")
_ETC_GMT = re.compile(r"\bEtc/(GMT|UTC)$")
_WORD = re.compile(r"[^\W\d_]+\.?")
_LEADING_DAY = re.compile(r"^\s*([^\W\d_]+)\.?\s*,\s*")
_LEADING_WORD = re.compile(r"^\s*([^\W\d_]+)\.?\s+(?=\d)")
_STRPTIME_FORMATS = (
    "%b %d, %Y %H:%M:%S", "%b %d, %Y %H:%M", "%b %d, %Y %I:%M %p", "%b %d, %Y",
    "%B %d, %Y %H:%M", "%B %d, %Y", "%d %b %Y %H:%M", "%d %b %Y", "%d %B %Y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)  # fmt: skip
_FOUR_DIGITS = re.compile(r"(?<![\d:+\-])(\d{4})(?![\d:])")
_ISO_HINT = re.compile(r"^\d{4}-?\d{2}-?\d{2}")
# What datetime.fromisoformat is trusted with: RFC 3339 / W3C-DTF shapes, nothing after.
_ISO_STRICT = re.compile(
    r"^\d{4}-?\d{2}-?\d{2}(?:[T ]\d{1,2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?"
    r"\s*(?:Z|[+\-]\d{2}(?::?\d{2})?)?)?$",
    re.IGNORECASE,
)
_NUMERIC_DATE = re.compile(r"^[0-9T:.,+\-Z ]+$")


def _to_24h(m: re.Match[str]) -> str:
    hour = int(m[1]) % 12 + (12 if m[4] in "Pp" else 0)
    return f"{hour:02d}:{m[2]}" + (f":{m[3]}" if m[3] else "")


def _to_english(value: str) -> str:
    s = _LEADING_DAY.sub("", value, count=1)
    m = _LEADING_WORD.match(s)
    if m and m.group(1).lower() in _WEEKDAYS and m.group(1).lower() not in _MONTHS:
        s = s[m.end() :]

    def word(mw: re.Match[str]) -> str:
        w = mw.group(0).rstrip(".")
        low = w.lower()
        if low in _MONTHS:
            return _MONTHS[low]
        if w.upper() in _TZ_OFFSETS:
            return _TZ_OFFSETS[w.upper()]
        if w in _TZ_GENERIC:
            return _TZ_GENERIC[w]
        return mw.group(0)

    s = _ETC_GMT.sub(r"\1", s.strip())
    s = _COLON_OFFSET.sub(r"\1\2\3", s)  # "-01:01", "GMT-01:01" -> "-0101"
    s = _GMT_HOURS.sub(lambda m: f"{m[1]}{int(m[2]):02d}{m[3] or '00'}", s)
    s = _DASHED_DATE.sub(r"\1 \2 \3", s)
    s = _TWELVE_HOUR.sub(_to_24h, s)
    s = _WORD.sub(word, s)
    # "24. Oct 2024" (German day-dot style) -> "24 Oct 2024"
    return re.sub(r"(\d)\.(\s)", r"\1\2", s)


def _feedparser_date(s: str, *, lenient_iso: bool) -> Any:
    """feedparser's own date handlers, the specific ones first; its lenient ISO 8601 reader
    only for all-numeric strings (it reads "2013-xx-27" as this month's first day)."""
    from feedparser.datetimes import (
        asctime,
        greek,
        hungarian,
        iso8601,
        korean,
        perforce,
        rfc822,
        w3dtf,
    )

    handlers = [
        greek._parse_date_greek,
        hungarian._parse_date_hungarian,
        korean._parse_date_nate,
        korean._parse_date_onblog,
        perforce._parse_date_perforce,
        rfc822._parse_date_rfc822,
        asctime._parse_date_asctime,
        w3dtf._parse_date_w3dtf,
    ]
    if lenient_iso and _NUMERIC_DATE.match(s):
        handlers.append(iso8601._parse_date_iso8601)
    for handler in handlers:
        try:
            st = handler(s)
        except Exception:  # noqa: BLE001, S112 - third-party date handlers on hostile input
            continue
        if st is not None:
            return st
    return None


def _plausible_rfc822(eng: str) -> bool:
    """Every token of an English-ised date is a number, a time, a month, an offset or AM/PM."""
    tokens = [t for t in re.split(r"[\s,]+", eng) if t]
    return bool(tokens) and all(_RFC822_TOKEN.match(t) for t in tokens)


def parse_date(value: str | None) -> datetime | None:
    """Parse one feed date string to an aware UTC ``datetime``, or ``None`` when unusable.

    Accepts RFC 822/5322 dates (weekday optional and not checked), ISO 8601 / RFC 3339 /
    W3C-DTF variants, day and month names in English, German, French, Spanish, Italian,
    Dutch and Portuguese, time-zone abbreviations (EST/EDT/PST/PDT/CET/CEST/...; the US
    ``ET``/``CT``/``MT``/``PT``/``AT`` as standard time), numeric offsets with or without a
    colon or ``GMT`` (``-01:01``, ``GMT+1``), 12-hour clocks (``2:03 PM``), RFC 850 and
    feedparser's Greek, Hungarian, Korean, Perforce and asctime forms. A time without zone
    counts as UTC. Junk is rejected rather than read as some other date (``Dec zz``,
    ``+zz:00``, ``2013-xx-27``). Years before 1971 (year 1, epoch 0) and values that do not
    parse give ``None``. Never raises.
    """
    if not value:
        return None
    s = clean_text(str(value))
    if not s or len(s) > 120:
        return None
    m = _RFC822_PLAIN.match(s)
    dt = _rfc822_plain(m) if m else None
    return _finish_date(dt) if dt is not None else _parse_date_general(s)


# The shape nearly every RSS date has ("Wed, 18 Feb 2026 06:30:00 GMT", "... +0100", "...
# PST": 700 of the bench's 1,882 dates are in a US zone): read
# directly, to the same value the general path below gives it (tests/test_parse_dates.py).
_RFC822_PLAIN = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) "
    r"(?:(GMT|UTC?|Z)|([+\-])(\d{2})(\d{2})|([ECMP][SD]T))"
)
_MONTH_NUMBER = {
    m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}


def _rfc822_plain(m: re.Match[str]) -> datetime | None:
    if m.end() != len(m.string):
        return None
    offset = 0
    if m[8]:
        offset = (int(m[9]) * 3600 + int(m[10]) * 60) * (-1 if m[8] == "-" else 1)
    elif m[11]:  # a US zone's abbreviation, as the general path reads it: "PST" is "-0800"
        zone = _TZ_OFFSETS[m[11]]
        offset = (int(zone[1:3]) * 3600 + int(zone[3:]) * 60) * (-1 if zone[0] == "-" else 1)
    try:
        return datetime(
            int(m[3]), _MONTH_NUMBER[m[2]], int(m[1]), int(m[4]), int(m[5]), min(int(m[6]), 59),
            tzinfo=timezone(timedelta(seconds=offset)),
        )
    except (ValueError, OverflowError):
        return None  # the general path decides what an impossible date is


def _finish_date(dt: datetime) -> datetime | None:
    """``dt`` in UTC (naive taken as UTC); ``None`` before :data:`_MIN_YEAR` or unusable."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        dt = dt.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if dt.year < _MIN_YEAR:
        return None
    return dt


def _parse_date_general(s: str) -> datetime | None:
    """:func:`parse_date` of a cleaned string of any accepted shape."""
    dt: datetime | None = None
    iso_like = bool(_ISO_HINT.match(s))
    if iso_like and _ISO_STRICT.match(s):  # else feedparser's handlers below
        iso = s.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", s) else s
        iso = re.sub(r"(\.\d{6})\d+", r"\1", iso)  # more than microsecond precision
        iso = re.sub(r"\s+(?=[+\-]\d{2}:?\d{2}$|Z$)", "", iso.replace("z", "Z"))
        try:
            dt = datetime.fromisoformat(iso)
        except ValueError:
            dt = None
    if dt is None:
        eng = _to_english(s)
        try:
            tup = parsedate_tz(eng) if _plausible_rfc822(eng) else None
        except (ValueError, IndexError, TypeError, OverflowError):
            tup = None
        if tup is not None:
            try:
                year = tup[0]
                # email.utils turns "0001" into 2001 (two-digit-year rule); a written
                # four-digit year is taken as written.
                four = _FOUR_DIGITS.findall(eng)
                if len(four) == 1 and int(four[0]) != year:
                    year = int(four[0])
                tz = timezone(timedelta(seconds=tup[9] or 0))
                dt = datetime(year, tup[1], tup[2], tup[3], tup[4], min(tup[5], 59), tzinfo=tz)
            except (ValueError, OverflowError, TypeError):
                dt = None
    if dt is None:
        eng = _to_english(s)
        for fmt in _STRPTIME_FORMATS:
            try:
                dt = datetime.strptime(eng, fmt)
                break
            except ValueError:
                continue
    strict_iso = iso_like and bool(_ISO_STRICT.match(s))
    if dt is None and not strict_iso:  # feedparser would "normalise" 2025-13-45 to 2026
        st = _feedparser_date(s, lenient_iso=not iso_like)
        if st is not None:
            try:
                dt = datetime(st[0], st[1], st[2], st[3], st[4], st[5], tzinfo=UTC)
            except (ValueError, OverflowError, TypeError):
                dt = None
    return _finish_date(dt) if dt is not None else None


# --------------------------------------------------------------------------------------------
# A neutral item shape both readers produce
# --------------------------------------------------------------------------------------------


@dataclass
class _Media:
    url: str
    kind: str  # "thumbnail", "content", "enclosure", "attachment", "image"
    mime: str = ""
    medium: str = ""
    width: int | None = None
    height: int | None = None
    alt: str = ""


@dataclass
class _RawItem:
    guid: str | None = None
    links: list[str] = field(default_factory=list)
    title: str = ""
    title_is_html: bool = True
    html_bodies: list[str] = field(default_factory=list)  # best first
    text_bodies: list[str] = field(default_factory=list)
    base: str | None = None
    published: str | None = None
    updated: str | None = None
    author: str | None = None
    categories: list[str] = field(default_factory=list)
    media: list[_Media] = field(default_factory=list)
    language: str | None = None
    media_caption: str = ""
    typed_bodies: bool = False  # Atom: a body's type is explicit, so "&lt;b&gt;" is text
    media_title: str = ""  # media:title, plain text; the title when the item has none
    media_description: str = ""  # media:description, plain text; the last-resort body
    episode: bool = False  # iTunes episode tags (itunes:duration, itunes:episode): a podcast


def _int(value: Any) -> int | None:
    try:
        n = int(str(value).strip().removesuffix("px"))
    except (TypeError, ValueError):
        return None
    return n if 0 <= n < 100_000 else None


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


# --------------------------------------------------------------------------------------------
# XML through feedparser
# --------------------------------------------------------------------------------------------


# An entry's own keys, and those of its links, details, contents, tags and media, read with
# dict.get, not FeedParserDict.get (a key map and special cases for other keys; 0.19 of the
# profiled 1.6 s of digest's own parse work, issue 14, the inner dicts' 35,000 reads about
# 0.03 s more): none of the keys read so names a key of its map or a special case, except
# "enclosures" (built from the links: _enclosures) and the media's "url" (mapped to "href"
# when there is one), which keep feedparser's reading.
_get = dict.get

# feedparser's keys for the iTunes tags only a podcast episode carries (its length, its number)
_ITUNES_EPISODE = ("itunes_duration", "itunes_episode")


def _enclosures(e: Any) -> list[Any]:
    """``e.get("enclosures")`` of a feedparser entry without FeedParserDict's lookups: its
    links whose ``rel`` is ``enclosure`` (``[]`` when it has no links, or when one of them has
    no ``rel``: feedparser's reading then fails as a whole and ``get`` gives no default)."""
    links = _get(e, "links")
    if links is None:
        return []
    if not all(dict.__contains__(ln, "rel") for ln in links):
        return []
    return [ln for ln in links if _get(ln, "rel") == "enclosure"]


def _fp_items(d: Any, is_atom: bool) -> list[_RawItem]:
    items: list[_RawItem] = []
    for e in d.entries[:MAX_ENTRIES]:
        r = _RawItem()
        r.guid = _str(_get(e, "id")) or None
        links: list[str] = []
        for ln in _get(e, "links") or []:
            rel = _get(ln, "rel", "alternate")
            if rel == "alternate" and _get(ln, "href"):
                links.append(_str(_get(ln, "href")))
        if _get(e, "link"):
            links.insert(0, _str(_get(e, "link")))
        if not links and r.guid and _get(e, "guidislink"):
            links.append(r.guid)
        r.links = list(dict.fromkeys(links))
        td = _get(e, "title_detail") or {}
        r.title = _str(_get(e, "title"))
        r.title_is_html = not (is_atom and _get(td, "type") == "text/plain")
        r.typed_bodies = is_atom
        bodies: list[tuple[str, str, str]] = []
        late: list[str] = []
        for c in _get(e, "content") or []:
            value, typ = _str(_get(c, "value")), _str(_get(c, "type"))
            if not is_atom and typ == "text/plain":
                # In RSS, feedparser files a second <description> -- usually the image caption
                # of media:description -- under "content" as text/plain. content:encoded is
                # text/html. Keep the caption as image alt text and last-resort body.
                late.append(value)
                continue
            bodies.append((value, typ, _str(_get(c, "base"))))
        sd = _get(e, "summary_detail") or {}
        summary = _str(_get(e, "summary"))
        # feedparser copies the content into "summary" (without a summary_detail) when there
        # is no summary; that copy is no second body and has lost the content's type
        if summary and (sd or summary not in {b[0] for b in bodies}):
            bodies.append((summary, _str(_get(sd, "type")), _str(_get(sd, "base"))))
        bodies.extend((v, "text/html", "") for v in late)
        caption = (
            _str(_get(e, "media_x_description"))
            or (late[0] if late else "")
            or _str(_get(e, "media_x_title"))
        )
        r.media_caption = text_from_html_fragment(caption)[:300]
        r.media_title = text_from_html_fragment(_str(_get(e, "media_x_title")))
        r.media_description = _str(_get(e, "media_x_description"))
        for value, typ, base in bodies:
            if not value.strip():
                continue
            if typ == "text/plain" and is_atom:
                r.text_bodies.append(value)
            else:
                r.html_bodies.append(value)
            if base and not r.base:
                r.base = base
        r.published = _str(_get(e, "published")) or None
        r.updated = _str(_get(e, "updated")) or None  # FeedParserDict.get maps it to published
        ad = _get(e, "author_detail") or {}
        r.author = _str(_get(ad, "name")) or _str(_get(e, "author")) or None  # name, not e-mail
        for t in _get(e, "tags") or []:
            term = _str(_get(t, "term")) or _str(_get(t, "label"))
            if term:
                r.categories.append(term)
        for th in _get(e, "media_thumbnail") or []:
            if th.get("url"):
                r.media.append(
                    _Media(
                        _str(th["url"]),
                        "thumbnail",
                        width=_int(_get(th, "width")),
                        height=_int(_get(th, "height")),
                    )
                )
        for mc in _get(e, "media_content") or []:
            if mc.get("url"):
                r.media.append(
                    _Media(
                        _str(mc["url"]),
                        "content",
                        mime=_str(_get(mc, "type")).lower(),
                        medium=_str(_get(mc, "medium")).lower(),
                        width=_int(_get(mc, "width")),
                        height=_int(_get(mc, "height")),
                    )
                )
        for enc in _enclosures(e):
            if _get(enc, "href"):
                r.media.append(
                    _Media(_str(enc["href"]), "enclosure", mime=_str(_get(enc, "type")).lower())
                )
        r.episode = any(_str(_get(e, k)).strip() for k in _ITUNES_EPISODE)
        item_image = _get(e, "image")  # itunes:image (podcasts)
        if isinstance(item_image, dict) and _str(item_image.get("href")):
            r.media.append(_Media(_str(item_image.get("href")), "thumbnail"))
        lang = _get(td, "language") or _get(sd, "language")
        r.language = _str(lang) or None
        items.append(r)
    return items


def _parse_xml(
    content: bytes, headers: Mapping[str, str], url: str | None, source: str
) -> tuple[str, str, str | None, str | None, list[_RawItem], list[str]]:
    prep = _prepare_xml(content, headers)
    hdrs = dict(prep.headers)
    if url and is_http_url(url) and "content-location" not in hdrs:
        hdrs["content-location"] = url
    try:
        d = feedparser.parse(
            io.BytesIO(prep.content),
            response_headers=hdrs,
            resolve_relative_uris=False,
            sanitize_html=False,
        )
    except Exception as exc:  # feedparser is meant not to raise; guard anyway
        raise ParseError(source, f"not a feed: parser failed ({type(exc).__name__})") from exc
    warnings = list(prep.warnings)
    version = _str(d.get("version"))
    entries = d.get("entries") or []
    if not version and not entries and not _str((d.get("feed") or {}).get("title")).strip():
        raise ParseError(source, f"not a feed: {_not_a_feed_reason(prep.content, d)}")
    if d.get("bozo"):
        problem = d.get("bozo_exception")
        text = f"{type(problem).__name__}: {problem}" if problem is not None else "malformed"
        if "CharacterEncodingOverride" in text or "NonXMLContentType" in text:
            warnings.append(f"{type(problem).__name__}: {problem}")
        else:
            warnings.append(f"feed is not well-formed XML, read leniently ({problem})")
    if len(entries) > MAX_ENTRIES:
        warnings.append(f"{len(entries)} entries, only the first {MAX_ENTRIES} read")
    f = d.get("feed") or {}
    feed_title = _str(f.get("title"))
    if (f.get("title_detail") or {}).get("type") == "text/plain" and version.startswith("atom"):
        title = clean_text(feed_title)  # Atom type="text": "<b>" is text, not markup
    else:
        title = text_from_html_fragment(feed_title)
    link = safe_http_url(_str(f.get("link")), url)
    lang = _str(f.get("language")) or _str((f.get("title_detail") or {}).get("language"))
    items = _fp_items(d, version.startswith("atom"))
    return version or "xml", title, link, lang or None, items, warnings


def _not_a_feed_reason(content: bytes, d: Any) -> str:
    head = content[:4096].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:1024]:
        m = re.search(rb"<title[^>]*>(.*?)</title>", content[:16384], re.DOTALL | re.IGNORECASE)
        t = clean_text(m.group(1).decode("utf-8", "replace"))[:80] if m else ""
        return f"HTML page{' (' + t + ')' if t else ''}, probably blocked or moved"
    if not content.strip():
        return "empty document"
    exc = d.get("bozo_exception")
    return (
        f"no RSS, Atom or JSON Feed document found ({exc})"
        if exc
        else ("no RSS, Atom or JSON Feed document found")
    )


# --------------------------------------------------------------------------------------------
# JSON Feed
# --------------------------------------------------------------------------------------------


def _looks_json(content: bytes) -> bool:
    head = content[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return True
    wide = _utf16_32(content)
    if wide or content[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            return content.decode(wide or "utf-16", "replace").lstrip("\ufeff \t\r\n")[:1] == "{"
        except LookupError:
            return False
    return False


def _parse_json(
    content: bytes, source: str, headers: Mapping[str, str]
) -> tuple[str, str, str | None, str | None, list[_RawItem], list[str]]:
    """Read JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        enc: str = json.detect_encoding(content)
        if enc == "utf-8" and not is_utf8(content):
            enc = codec_name(_header_charset(headers)) or "cp1252"
        text = content.decode(enc, errors="replace").lstrip("\ufeff")
        doc = json.loads(text, strict=False)
    except (ValueError, RecursionError) as exc:
        raise ParseError(source, f"not a feed: invalid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not _str(doc.get("version")).startswith(
        ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
    ):
        raise ParseError(source, "not a feed: JSON document without a JSON Feed version")
    version = _str(doc.get("version")).rstrip("/").rsplit("/", 1)[-1]
    kind = "json" + version.replace(".", "") if version in ("1", "1.1") else "json"
    kind = "json10" if kind == "json1" else kind
    warnings: list[str] = []
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raw_items = []
        warnings.append("JSON Feed without an items array")
    if len(raw_items) > MAX_ENTRIES:
        warnings.append(f"{len(raw_items)} entries, only the first {MAX_ENTRIES} read")
    feed_authors = _json_authors(doc)
    items: list[_RawItem] = []
    for it in raw_items[:MAX_ENTRIES]:
        if not isinstance(it, dict):
            warnings.append("JSON Feed item that is not an object skipped")
            continue
        r = _RawItem()
        r.guid = _str(it.get("id")) or None
        r.links = [x for x in (_str(it.get("external_url")), _str(it.get("url"))) if x]
        r.title = _str(it.get("title"))
        r.title_is_html = True  # publishers put entities in JSON titles; decode them once
        if _str(it.get("content_html")).strip():
            r.html_bodies.append(_str(it.get("content_html")))
        if _str(it.get("content_text")).strip():
            r.text_bodies.append(_str(it.get("content_text")))
        if _str(it.get("summary")).strip():
            r.text_bodies.append(_str(it.get("summary")))
        r.published = _str(it.get("date_published")) or None
        r.updated = _str(it.get("date_modified")) or None
        authors = _json_authors(it) or feed_authors
        r.author = authors[0] if authors else None
        tags = it.get("tags")
        if isinstance(tags, list):
            r.categories = [_str(t) for t in tags if _str(t)]
        for key in ("image", "banner_image"):
            if _str(it.get(key)):
                r.media.append(_Media(_str(it.get(key)), "thumbnail"))
        atts = it.get("attachments")
        if isinstance(atts, list):
            for a in atts:
                if isinstance(a, dict) and _str(a.get("url")):
                    r.media.append(
                        _Media(
                            _str(a.get("url")), "enclosure", mime=_str(a.get("mime_type")).lower()
                        )
                    )
        r.language = _str(it.get("language")) or None
        items.append(r)
    title = text_from_html_fragment(_str(doc.get("title")))
    link = safe_http_url(_str(doc.get("home_page_url")))
    return kind, title, link, _str(doc.get("language")) or None, items, warnings


def _json_authors(obj: dict[str, Any]) -> list[str]:
    out: list[str] = []
    authors = obj.get("authors")
    if not isinstance(authors, list):
        authors = [obj.get("author")] if isinstance(obj.get("author"), dict) else []
    for a in authors:
        if isinstance(a, dict) and _str(a.get("name")):
            out.append(_str(a.get("name")))
    return out


# --------------------------------------------------------------------------------------------
# Normalising one item into an Entry
# --------------------------------------------------------------------------------------------

_LANG = re.compile(r"^[a-z]{1,8}(?:-[a-z0-9]{1,8})*$")
_AVATAR = re.compile(r"avatar|gravatar|profile_images|/authors?/|userpic|headshot", re.IGNORECASE)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#])", re.IGNORECASE)
_TRACKER_HOSTS = re.compile(
    r"//(?:[^/]*\.)?(?:feeds\.feedburner\.com/~r|pixel\.wp\.com|stats\.wp\.com|"
    r"feedsportal\.com|doubleclick\.net|pixel\.)"
    r"|[/_.\-](?:pixel|tracking|tracker|beacon|spacer|blank)(?:[/_.\-]|$)",
    re.IGNORECASE,
)
_ESCAPED_HTML = re.compile(r"&lt;(?:/?[a-zA-Z][a-zA-Z0-9]*[\s/&]|/?[a-zA-Z][a-zA-Z0-9]*&gt;|!--)")
_REAL_TAG = re.compile(r"<(?:/?[a-zA-Z][a-zA-Z0-9]*[\s/>]|!--)")


def normalise_language(value: str | None) -> str | None:
    """``"en_US"``/``"EN-us"`` -> ``"en-us"``; ``None`` for empty or malformed tags."""
    if not value:
        return None
    tag = value.strip().replace("_", "-").lower()
    return tag if _LANG.match(tag) and len(tag) <= 35 else None


# html5ever serialises an element as <img name="value" ...> (names lower-case, values with
# & and " escaped): in sanitised HTML one expression finds every image and its attributes.
_SANITISED_IMG = re.compile(r"<img((?:\s+[^\s=>]+=\"[^\"]*\")*)\s*/?>", re.IGNORECASE)
_SANITISED_ATTR = re.compile(r"([^\s=>]+)=\"([^\"]*)\"")


def _images(summary_html: str) -> list[dict[str, str]]:
    """The attributes of the first 50 ``<img>`` of sanitised HTML, in document order, values
    unescaped (what ``html.parser`` reports for them, without running it: issue 14)."""
    found = []
    for m in _SANITISED_IMG.finditer(summary_html):
        found.append({k.lower(): html.unescape(v) for k, v in _SANITISED_ATTR.findall(m[1])})
        if len(found) == 50:
            break
    return found


def _is_image(m: _Media) -> bool:
    if m.mime.startswith("image/") or m.medium == "image":
        return True
    if m.mime or m.medium:  # audio/video/other declared
        return False
    return bool(_IMAGE_EXT.search(m.url)) or m.kind == "thumbnail"


def _is_audio(m: _Media) -> bool:
    """True when ``m`` is an audio file attached to the item (an enclosure, attachment or
    media:content whose MIME type is ``audio/*`` or whose ``medium`` is ``audio``)."""
    return m.kind in ("enclosure", "attachment", "content") and (
        m.mime.startswith("audio/") or m.medium == "audio"
    )


def _lead_image(r: _RawItem, summary_html: str, title: str, base: str | None) -> Image | None:
    """Thumbnail, then largest non-avatar media image, then image enclosure, then the first
    inline ``<img>`` that is not a tracking pixel. Audio/video never count."""

    def make(m: _Media, alt: str = "") -> Image | None:
        u = safe_http_url(m.url, base)
        if u is None:
            return None
        # a caption cannot be tied to one of several media images; use it only when one
        media_urls = {x.url for x in r.media if x.kind in ("thumbnail", "content")}
        caption = (
            r.media_caption if m.kind in ("thumbnail", "content") and len(media_urls) == 1 else ""
        )
        return Image(u, clean_text(alt or m.alt or caption or title)[:300], m.width, m.height)

    thumbs = [m for m in r.media if m.kind == "thumbnail" and not _AVATAR.search(m.url)]
    if thumbs:
        best = max(thumbs, key=lambda m: (m.width or 0) * (m.height or 0))
        img = make(best)
        if img:
            return img
    contents = [
        m for m in r.media if m.kind == "content" and _is_image(m) and not _AVATAR.search(m.url)
    ]
    if contents:
        best = max(contents, key=lambda m: (m.width or 0) * (m.height or 0))
        img = make(best)
        if img:
            return img
    for m in r.media:
        if m.kind == "enclosure" and _is_image(m) and not _AVATAR.search(m.url):
            img = make(m)
            if img:
                return img
    if "<img" in summary_html:
        for a in _images(summary_html):
            w, h = _int(a.get("width")), _int(a.get("height"))
            src = a.get("src", "")
            if (w is not None and w <= 1) or (h is not None and h <= 1):
                continue
            if not src or _TRACKER_HOSTS.search(src) or _AVATAR.search(src):
                continue
            img = make(_Media(src, "image", width=w, height=h), a.get("alt", ""))
            if img:
                return img
    return None


def _text_to_html(text: str) -> str:
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paras)


def _summary(r: _RawItem, base: str | None) -> str:
    if r.html_bodies:
        raw = unwrap_cdata(r.html_bodies[0])  # content:encoded / atom:content, then description
        if not r.typed_bodies and not _REAL_TAG.search(raw) and _ESCAPED_HTML.search(raw):
            raw = html.unescape(raw)  # HTML escaped once too often (RSS, JSON Feeds)
    elif r.text_bodies:
        raw = _text_to_html(r.text_bodies[0])  # text stays text: "<blink>" is four letters
    elif r.media_description.strip():
        md = r.media_description
        raw = md if _REAL_TAG.search(md) else _text_to_html(md)
    else:
        return ""
    limit = MAX_SUMMARY_HTML
    out = sanitize_html(raw[: limit * 2], base)
    while len(out) > MAX_SUMMARY_HTML and limit > 1000:
        limit //= 2
        out = sanitize_html(raw[:limit], base)
    return out[:MAX_SUMMARY_HTML] if len(out) > MAX_SUMMARY_HTML else out


def _title(r: _RawItem) -> str:
    if r.title_is_html:
        t = text_from_html_fragment(r.title)
    else:
        t = clean_text(unwrap_cdata(r.title))
    return t[:MAX_TITLE]


# a sentence ends at . ! ? … (Arabic ؟, Urdu ۔) before a space, or at a CJK 。！？ anywhere
_SENTENCE_END = re.compile(r"[.!?\u2026\u061f\u06d4](?=\s|$)|[\u3002\uff01\uff1f]")
_TITLE_SENTENCE = 140


def _title_from_text(text: str) -> tuple[str, bool]:
    """A title for an item that has none, from its text: the first sentence when it ends
    within :data:`_TITLE_SENTENCE` characters (``True``: the summary drops it), else the
    start of the text cut at a word with ``…`` (``False``: the summary keeps all)."""
    text = clean_text(text)
    for m in _SENTENCE_END.finditer(text, 0, _TITLE_SENTENCE + 1):
        if m.end() >= 12 or m.end() == len(text) or m.group() in "\u3002\uff01\uff1f":
            return text[: m.end()], True
    if len(text) <= _TITLE_SENTENCE:
        return text, True
    return _short(text), False


def _short(text: str, limit: int = 120) -> str:
    text = clean_text(text)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut or text[:limit]) + "…"


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _make_entry(
    r: _RawItem,
    *,
    source: str,
    now: datetime,
    feed_url: str | None,
    feed_link: str | None,
    language: str | None,
    warnings: list[str],
) -> tuple[Entry, str | None] | None:
    """One Entry plus its link identity (for duplicate handling); ``None`` if unusable."""
    # An explicit xml:base wins; feedparser reports the feed URL as base when there is none,
    # and then the item's own link is the better base for its relative references.
    item_base_src = r.base if r.base and is_http_url(r.base) and r.base != feed_url else None
    base = item_base_src or feed_url or feed_link
    url = None
    # podcasts: an item with only an enclosure links to the episode's file
    enclosures = [m.url for m in r.media if m.kind in ("enclosure", "attachment")]
    for cand in [*r.links, *enclosures]:
        url = safe_http_url(cand, base)
        if url:
            break
    link_id = identity_url(url) if url else None
    if url is None and feed_link and not r.links and not enclosures and r.media:
        url = feed_link  # a podcast episode without a file: the show's page, not its identity
    content_base = item_base_src or url or feed_url or feed_link
    summary_html = _summary(r, content_base)
    summary_text = sanitized_html_to_text(summary_html)
    title = _title(r) or r.media_title[:MAX_TITLE]
    if not title and summary_text:  # microblogs: a title from the text, not the text twice
        title, repeated = _title_from_text(summary_text)
        if repeated:
            summary_html = drop_leading_text(summary_html, title)
            summary_text = sanitized_html_to_text(summary_html)
    image = _lead_image(r, summary_html, title, content_base)
    if not title and image is not None and image.alt:
        title = image.alt[:MAX_TITLE]  # an image-only post is called by its alt text
    title = neutralise_encoded_words(title)
    if not title and not url:
        warnings.append("item with neither title, text nor link skipped")
        return None
    flags: list[str] = []
    published = None
    for raw in (r.published, r.updated):
        if raw:
            published = parse_date(raw)
            if published is not None:
                break
            warnings.append(f"unusable date {clean_text(raw)[:60]!r} ({title[:60]})")
    if r.episode or any(_is_audio(m) for m in r.media):
        flags.append(AUDIO_FLAG)
    if published is None:
        flags.append("date-missing")
    elif published > now:
        published = now
        flags.append("date-future")
    guid = clean_text(r.guid or "")
    if guid and len(guid) > _MAX_ID:
        guid = "sha256:" + _hash(guid)
    if guid:
        entry_id = guid
    elif link_id:
        entry_id = link_id if len(link_id) <= _MAX_ID else "sha256:" + _hash(link_id)
    else:
        when = published.isoformat() if published else clean_text(r.published or "")
        entry_id = "sha256:" + _hash(title.casefold(), when)[:32]
    norm_title = clean_text(title).casefold()
    content_hash = _hash(norm_title, " ".join(summary_text.split()))
    cats = []
    for c in r.categories:
        c2 = text_from_html_fragment(c)[:_MAX_CATEGORY]
        if c2 and c2 not in cats:
            cats.append(c2)
        if len(cats) >= _MAX_CATEGORIES:
            break
    author = text_from_html_fragment(r.author or "")[:_MAX_AUTHOR] or None
    entry = Entry(
        source=source,
        entry_id=entry_id,
        title=title,
        url=url,
        summary_html=summary_html,
        summary_text=summary_text,
        image=image,
        author=author,
        published=published,
        first_seen=now,
        categories=tuple(cats),
        language=normalise_language(r.language) or language,
        content_hash=content_hash,
        flags=tuple(flags),
    )
    return entry, link_id


def _disambiguate(made: list[tuple[Entry, str | None]], warnings: list[str]) -> list[Entry]:
    """Make entry ids unique within one document, deterministically.

    Items that share an id but differ get ``<id>#<12 hex>`` from their link (else title and
    date), all of them, so the result does not depend on their order. Exact repeats (same id,
    link and title) are dropped.
    """
    groups: dict[str, list[int]] = {}
    for i, (e, _) in enumerate(made):
        groups.setdefault(e.entry_id, []).append(i)
    out: list[Entry | None] = [e for e, _ in made]
    for eid, idx in groups.items():
        if len(idx) < 2:
            continue
        seen: dict[str, int] = {}
        for i in idx:
            e, link_id = made[i]
            key = link_id or ""
            full = _hash(key, e.title.casefold(), e.published.isoformat() if e.published else "")
            if full in seen:
                out[i] = None  # exact repeat of an earlier item
                continue
            seen[full] = i
        keys: dict[int, str] = {}
        by_link: dict[str, list[int]] = {}
        for i in seen.values():
            by_link.setdefault(made[i][1] or "", []).append(i)
        for link, members in by_link.items():
            for i in members:
                e = made[i][0]
                if link and len(members) == 1:
                    keys[i] = _hash(link)[:12]
                else:
                    keys[i] = _hash(
                        link, e.title.casefold(), e.published.isoformat() if e.published else ""
                    )[:12]
        if len(seen) > 1:
            warnings.append(f"{len(idx)} items share the id {eid[:80]!r}; kept apart")
            for i, k in keys.items():
                current = out[i]
                if current is not None:
                    out[i] = replace(current, entry_id=f"{eid}#{k}")
        elif len(idx) > len(seen):
            warnings.append(f"item {eid[:80]!r} repeated; kept once")
    return [e for e in out if e is not None]


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


MAX_GUNZIPPED = 32 * 1024 * 1024
"""Cap on a gzip body that reached the parser still compressed, bytes after decompression."""


def _gunzip(content: bytes, source: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(content, MAX_GUNZIPPED + 1)
    except zlib.error as exc:
        raise ParseError(source, f"not a feed: broken gzip body ({exc})") from exc
    if len(out) > MAX_GUNZIPPED or d.unconsumed_tail:
        raise ParseError(source, f"not a feed: gzip body over {MAX_GUNZIPPED} bytes decompressed")
    return out


def parse_feed(
    content: bytes,
    *,
    source: str,
    now: datetime,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
) -> ParsedFeed:
    """Parse one feed document into normalised entries.

    ``content``: the body bytes (already un-gzipped). ``source``: the source's name, copied
    into every entry and into errors. ``now``: aware UTC time of the fetch; it becomes every
    entry's ``first_seen`` and the ceiling for ``published``. ``url``: the feed's URL, base
    for relative links. ``headers``: HTTP response headers with lower-case names (their
    charset is honoured). ``language``: the source's configured default language.

    Formats: RSS 0.9x/1.0/2.0, Atom (feedparser) and JSON Feed 1.0/1.1, detected from the
    bytes (a gzip body that slipped through is decompressed, capped at ``MAX_GUNZIPPED``).
    ``ParsedFeed.kind`` is feedparser's version (``rss20``, ``atom10``, ``rss090``, ``rss``...)
    or ``json10``/``json11``. Entries keep document order, at most :data:`MAX_ENTRIES`.

    Per entry:

    - ``entry_id``: guid/id (stripped; over 512 chars -> ``sha256:<hex>``), else the identity
      form of the link (:func:`digest.urls.identity_url`), else ``sha256:<32 hex>`` of the
      case-folded title and the date. Ids are unique within the result: items sharing an id
      but differing get ``<id>#<12 hex>`` from their link (all of them, so the order in the
      document does not matter); exact repeats are dropped.
    - ``url``: absolute http(s) only, via :func:`digest.urls.safe_http_url` (tracking
      parameters removed); JSON Feed prefers ``external_url`` (what Atom calls alternate);
      an item without a link takes its enclosure's (podcasts), else the feed's link (which
      then is not its identity).
    - ``title``: plain text (HTML titles: markup stripped, entities decoded once; Atom
      ``type="text"``: taken literally; whitespace collapsed, controls removed, at most
      :data:`MAX_TITLE` chars; ``=?`` neutralised, see
      :func:`digest.sanitize.neutralise_encoded_words`). An item without one takes its
      ``media:title``, else the first sentence of its text (which the summary then leaves
      out), else its image's alt text. Items with neither title, text nor link are skipped
      with a warning.
    - ``summary_html``: content:encoded / atom:content / content_html, else the description
      or summary, else ``media:description``, sanitised (:func:`digest.sanitize.sanitize_html`, at most
      :data:`MAX_SUMMARY_HTML` chars); ``summary_text`` its plain text.
    - ``published``: published, else updated, via :func:`parse_date`; missing or unusable ->
      ``None`` and flag ``"date-missing"``; later than ``now`` -> ``now`` and ``"date-future"``.
    - ``flags`` also holds :data:`~digest.types.AUDIO_FLAG` (``"audio"``) for a podcast
      episode: the item carries an audio file (enclosure, attachment, ``media:content``) or
      the iTunes tags of an episode (``itunes:duration``, ``itunes:episode``).
    - ``image``: thumbnail, then largest non-avatar media image, then image enclosure or
      attachment, then first inline ``<img>`` that is not a tracking pixel.
    - ``language``: the item's, else the feed's, else ``language`` (lower-case, ``-``).
    - ``content_hash``: sha256 hex of the case-folded title and the whitespace-collapsed text.

    Raises :class:`~digest.exceptions.ParseError` (``reason`` starts with ``"not a feed"``)
    when the bytes are not a feed (an HTML page, JSON that is not a JSON Feed, garbage,
    nothing); never any other exception. A feed whose every item is unusable is still a
    feed: no entries, its title and link, and a ``"no usable entries"`` warning. ``ParseError.status`` is ``None``: the caller knows the HTTP status.
    """
    try:
        return _parse_feed(
            content, source=source, now=now, url=url, headers=headers, language=language
        )
    except ParseError:
        raise
    except RecursionError as exc:
        raise ParseError(source, "not a feed: document nested too deeply") from exc
    except Exception as exc:  # the promise: ParseError only, whatever the bytes
        log.exception("parse.bug source=%s", source)
        raise ParseError(source, f"not a feed: unexpected {type(exc).__name__}: {exc}") from exc


def _parse_feed(
    content: bytes,
    *,
    source: str,
    now: datetime,
    url: str | None,
    headers: Mapping[str, str] | None,
    language: str | None,
) -> ParsedFeed:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise ParseError(source, "not a feed: content is not bytes")
    content = bytes(content)
    if not content.strip():
        raise ParseError(source, "not a feed: empty document")
    feed_url = url if is_http_url(url) else None
    pre_warnings: list[str] = []
    if content[:2] == b"\x1f\x8b":
        content = _gunzip(content, source)
        pre_warnings.append("body was gzip-compressed without being decoded; decompressed")
    if _looks_json(content):
        kind, title, link, lang, items, warnings = _parse_json(
            content, source, {k.lower(): v for k, v in (headers or {}).items()}
        )
    else:
        kind, title, link, lang, items, warnings = _parse_xml(
            content, headers or {}, feed_url, source
        )
    warnings = pre_warnings + warnings
    feed_lang = normalise_language(lang) or normalise_language(language)
    made: list[tuple[Entry, str | None]] = []
    for r in items:
        res = _make_entry(
            r,
            source=source,
            now=now,
            feed_url=feed_url,
            feed_link=link,
            language=feed_lang,
            warnings=warnings,
        )
        if res is not None:
            made.append(res)
    entries = _disambiguate(made, warnings)
    if items and not entries:  # the feed itself is still readable: its title, its link
        warnings.append(f"no usable entries: all {len(items)} items lacked a title and a link")
    warnings = list(dict.fromkeys(warnings))
    if len(warnings) > MAX_WARNINGS:
        extra = len(warnings) - MAX_WARNINGS
        warnings = warnings[:MAX_WARNINGS] + [f"... and {extra} more warnings"]
    log.debug(
        "parse.done source=%s kind=%s entries=%d warnings=%d",
        source,
        kind,
        len(entries),
        len(warnings),
    )
    return ParsedFeed(
        entries=tuple(entries),
        kind=kind,
        title=neutralise_encoded_words(title),
        link=link,
        language=feed_lang,
        warnings=tuple(warnings),
    )
