"""Compare digest's feed reading with feedparser alone, file by file, over a corpus directory.

Meant for feedparser's own test corpus (not shipped here; fetch it with
``pip download --no-deps --no-binary :all: feedparser==6.0.11`` and unpack the sdist's
``tests/``), but any directory of feed files works:

    python bench/feedparser_corpus.py /tmp/feedparser-6.0.11/tests [--show worse|better|all]

Reference ("feedparser alone"): ``feedparser.parse(bytes)`` with its defaults, read the way a
user of feedparser would: the feed title, and per item the title (literal for ``text/plain``,
markup removed otherwise), the link and the text of ``content[0]`` else ``summary``.
Measured: :func:`digest.parse.parse_feed` on the same bytes (a ``ParseError`` counts as a
feed without title or entries).

Each fact is compared after whitespace is collapsed: equal is *same*; a fact feedparser has
and digest lacks, or a word of it digest lost, is *worse*; a fact digest adds or words it
adds without losing any are *better*. A file is worse when any fact is worse, better when
some are better and none worse, else same. Where feedparser's own ``Expect:`` line in the
file quotes digest's value, digest's differing value counts as better.

Not counted, because digest differs from feedparser there on purpose: items feedparser
reads with neither title, link nor text, and exact repeats of an earlier item (digest skips
both); undefined entities left as ``&name;`` (digest removes them); feedparser's mojibake when
digest's text is what the UTF-8 bytes said (``CafÃ©`` against ``Café``); words feedparser shows
only because its sanitiser unwrapped them from ``<script>``/``<style>``/``<title>``/``<head>``
(words found inside those elements when feedparser reads the file with its sanitiser off). For an RSS
item with two bodies (``description`` and ``summary``), either may be digest's text.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import feedparser

from digest.encoding import MIXED, EncodingDecision, decode
from digest.exceptions import ParseError
from digest.parse import parse_feed
from digest.sanitize import clean_text, html_to_text

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json"}
_WORDS = re.compile(r"\w+")


_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_ENTITY_TOKEN = re.compile(r"&[A-Za-z][A-Za-z0-9._\-]*;")


@dataclass(frozen=True)
class Fact:
    """One compared value: ``where`` (e.g. ``entries[0].title``), reference and digest text.

    ``hidden``: text inside script/style/title/head elements of feedparser's unsanitised
    value (its words are not counted); ``expected``: string literals of the ``Expect:`` line.
    """

    where: str
    reference: str
    digest: str
    hidden: str | None = None
    expected: frozenset[str] = frozenset()

    def verdict(self) -> str:
        """``"same"``, ``"better"`` or ``"worse"`` (see the module docstring)."""
        ref = clean_text(_ENTITY_TOKEN.sub(" ", self.reference))
        got = clean_text(self.digest)
        if ref == got:
            return "same"
        if not got:
            return "worse"
        if not ref:
            return "better"
        if self.where.endswith(".link"):
            return "same"  # digest normalises URLs (tracking parameters, case); presence counts
        if got in self.expected or _unmojibake(ref) == got:
            return "better"
        words = set(_WORDS.findall(ref.casefold()))
        if self.hidden:
            words -= set(_WORDS.findall(self.hidden.casefold()))
        lost = words - set(_WORDS.findall(got.casefold()))
        return "worse" if lost else "better"


def _unmojibake(text: str) -> str:
    """``text`` as it reads when it was UTF-8 bytes misread as windows-1252 ("CafÃ©" ->
    "Café"; bytes that were not UTF-8 stay windows-1252); ``text`` itself otherwise."""
    raw = bytearray()
    for ch in text:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return text
            raw += ch.encode("latin-1")
    return clean_text(decode(bytes(raw), EncodingDecision(MIXED, "utf-8")))


def _expected_literals(content: bytes) -> frozenset[str]:
    m = re.search(rb"Expect:(.*?)(?:\n-->|\n[A-Z][a-z]+:)", content[:4096], re.DOTALL)
    if not m:
        return frozenset()
    out = set()
    text = m.group(1).decode("utf-8", "replace")
    for lit in _STRING_LITERAL.findall(text):
        try:
            value = ast.literal_eval(lit)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, str):
            out.add(clean_text(value))
    return frozenset(out)


_HIDDEN = re.compile(r"<(script|style|title|head)\b[^>]*>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)


def _text(value: Any, detail: Any, *, hidden: bool = False) -> str:
    value = value if isinstance(value, str) else ""
    if hidden:
        return " ".join(m.group(2) for m in _HIDDEN.finditer(value))
    typ = (detail or {}).get("type", "text/html") if isinstance(detail, dict) else "text/html"
    return value if typ == "text/plain" else html_to_text(value).replace("\n", " ")


@dataclass(frozen=True)
class Reading:
    """What one reading of a document gives: the feed title and (title, link, texts) per
    item, ``texts`` being the candidate bodies (the first is the main one)."""

    title: str
    items: tuple[tuple[str, str, tuple[str, ...]], ...]


def reference(content: bytes, *, hidden: bool = False) -> Reading:
    """feedparser alone (its defaults), or with its sanitiser off, only the ``hidden`` text."""
    d = feedparser.parse(io.BytesIO(content), sanitize_html=not hidden)
    f = d.get("feed") or {}
    title = _text(f.get("title"), f.get("title_detail"), hidden=hidden)
    items = []
    seen = set()
    for e in d.get("entries") or []:
        t = _text(e.get("title"), e.get("title_detail"), hidden=hidden)
        link = e.get("link") if isinstance(e.get("link"), str) else ""
        link = link if link.startswith(("http://", "https://")) else ""
        bodies = [_text(c.get("value"), c, hidden=hidden) for c in (e.get("content") or [])[:1]]
        if e.get("summary"):
            bodies.append(_text(e.get("summary"), e.get("summary_detail"), hidden=hidden))
        texts = tuple(dict.fromkeys(bodies)) or ("",)
        key = (clean_text(t), link, clean_text(texts[0]))
        if any(key) and key not in seen:
            seen.add(key)
            items.append((t, link, texts))
    return Reading(title, tuple(items))


def measured(content: bytes) -> tuple[str, list[tuple[str, str, str]]]:
    """digest: the feed title and (title, link, text) per entry."""
    try:
        feed = parse_feed(content, source="corpus", now=NOW, url=None)
    except ParseError:
        return "", []
    return feed.title, [(e.title, e.url or "", e.summary_text) for e in feed.entries]


def compare(content: bytes) -> list[Fact]:
    """Every fact of one document, feedparser alone against digest."""
    ref = reference(content)
    raw = reference(content, hidden=True)
    expected = _expected_literals(content)
    got_title, got_items = measured(content)

    def raw_item(i: int) -> tuple[str, str, tuple[str, ...]] | None:
        return raw.items[i] if i < len(raw.items) else None

    facts = [Fact("feed.title", ref.title, got_title, raw.title, expected)]
    for i, (rt, rl, texts) in enumerate(ref.items):
        gt, gl, gb = got_items[i] if i < len(got_items) else ("", "", "")
        ri = raw_item(i)
        facts += [
            Fact(f"entries[{i}].title", rt, gt, ri[0] if ri else None, expected),
            Fact(f"entries[{i}].link", rl, gl),
        ]
        # digest takes an untitled item's title from its text; count both together
        got_text = gb if clean_text(rt) else f"{gt} {gb}"
        options = [
            Fact(
                f"entries[{i}].text",
                text,
                got_text,
                ri[2][k] if ri and k < len(ri[2]) else None,
                expected,
            )
            for k, text in enumerate(texts)
        ]
        rank = {"same": 0, "better": 1, "worse": 2}
        facts.append(min(options, key=lambda f: rank[f.verdict()]))
    return facts


def file_verdict(facts: list[Fact]) -> str:
    """``"worse"`` if any fact is worse, ``"better"`` if some are better, else ``"same"``."""
    verdicts = {f.verdict() for f in facts}
    if "worse" in verdicts:
        return "worse"
    return "better" if "better" in verdicts else "same"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path, help="directory searched recursively for feed files")
    ap.add_argument("--show", choices=("none", "worse", "better", "all"), default="worse")
    args = ap.parse_args(argv)
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    counts: Counter[str] = Counter()
    for path in files:
        facts = compare(path.read_bytes())
        verdict = file_verdict(facts)
        counts[verdict] += 1
        if args.show == "all" or args.show == verdict:
            print(f"{verdict}: {path.relative_to(args.corpus)}")
            for f in facts:
                if f.verdict() == verdict != "same":
                    print(f"    {f.where}: feedparser {f.reference[:90]!r}")
                    print(f"    {' ' * len(f.where)}  digest     {f.digest[:90]!r}")
    print(
        f"{len(files)} files: better {counts['better']}, same {counts['same']}, "
        f"worse {counts['worse']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
