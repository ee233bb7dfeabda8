"""Entries of the real same-day feeds in the demo window, parsed by ``digest.parse.parse_feed``.

The demo window is 2026-02-16T19:00Z to 2026-02-18T07:00Z (see ../shared/feeds/real/SOURCES.md);
``source`` is the file name without its extension(s).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from digest.parse import parse_feed
from digest.types import Entry

WINDOW_START = datetime(2026, 2, 16, 19, tzinfo=UTC)
WINDOW_END = datetime(2026, 2, 18, 7, tzinfo=UTC)


def window_entries(
    folder: Path, start: datetime = WINDOW_START, end: datetime = WINDOW_END
) -> list[Entry]:
    """Dated entries of every feed file in ``folder`` published in [start, end], file order."""
    entries: list[Entry] = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".xml", ".json"):
            continue
        source = path.name.split(".")[0]
        feed = parse_feed(path.read_bytes(), source=source, now=end, url=path.as_uri())
        entries.extend(e for e in feed.entries if e.published and start <= e.published <= end)
    return entries
