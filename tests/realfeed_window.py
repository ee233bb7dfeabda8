"""STAND-IN for ``digest.parse.parse_feed``: Entries from the real same-day feeds via feedparser.

Replace with ``digest.parse.parse_feed`` once the parser lands. It keeps only what clustering,
ranking and sectioning need: title, summary text (description with tags stripped), link,
published time (UTC), categories, and ``source`` = the file name without its extension(s).
"""

from __future__ import annotations

import calendar
import html
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from digest.types import Entry

WINDOW_START = datetime(2026, 2, 16, 19, tzinfo=UTC)
WINDOW_END = datetime(2026, 2, 18, 7, tzinfo=UTC)

_TAG = re.compile(r"<[^>]+>")


def _text(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", markup))).strip()


def window_entries(
    folder: Path, start: datetime = WINDOW_START, end: datetime = WINDOW_END
) -> list[Entry]:
    """Entries of every feed file in ``folder`` published in [start, end], file order."""
    entries: list[Entry] = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".xml", ".json"):
            continue
        source = path.name.split(".")[0]
        parsed = feedparser.parse(path.read_bytes())
        for item in parsed.entries:
            with warnings.catch_warnings():  # feedparser's updated/published fallback notice
                warnings.simplefilter("ignore", DeprecationWarning)
                stamp = item.get("published_parsed") or item.get("updated_parsed")
            if not stamp:
                continue
            when = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
            if not start <= when <= end:
                continue
            link = item.get("link")
            entries.append(
                Entry(
                    source=source,
                    entry_id=str(item.get("id") or link or item.get("title")),
                    title=_text(item.get("title", "")),
                    url=link,
                    summary_text=_text(item.get("summary", "")),
                    published=when,
                    first_seen=when,
                    categories=tuple(
                        t.get("term", "") for t in item.get("tags", []) if t.get("term")
                    ),
                )
            )
    return entries
