"""How the noise rules are checked (DESIGN.md, "Noise: how the rules are checked").

1. False noise on news-only sets: every verdict :func:`digest.noise.split_noise` gives on AG
   News and BBC News (``../shared/datasets/topics``) and the GoogleNews stories
   (``../shared/datasets/clustering``). Every one is news, so each verdict is a false one
   (the standing figures: 0, 0 and 4, GoogleNews's "correction …" items).
2. Leave one window out for the two thresholds a labelled window could choose: the number
   of regions that makes a newsletter edition a roundup (:data:`digest.noise.MANY_REGIONS`)
   and a candidate "no-news video" rule (a video post, by its ``/video/`` link or a
   YouTube/Vimeo link in its text, whose plain text is at most L characters). For each
   window, the setting is chosen on the other windows (objective: caught noise minus twice
   the news wrongly caught, precision first; ties go to the setting that catches less) and
   scored on the held-out one.

The labelled windows are w0, w1, w2, w3, g1, h1 (``tests/realstories.py``; w1 is
``../shared/datasets/realstories/realfeeds_w1.jsonl``). Each row is joined with its item in
its source's captured feed file, as ``digest eval stories`` does. Usage:
``.venv/bin/python bench/noise_cv.py`` (about 20 s of CPU).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.config import load_config  # noqa: E402
from digest.evaluate import (  # noqa: E402
    _source_names,
    _with_feed_details,
    load_jsonl,
    rows_to_entries,
)
from digest.parse import parse_feed  # noqa: E402
from digest.noise import _NEWSLETTER_CATEGORY, _regions, split_noise  # noqa: E402
from digest.types import Entry  # noqa: E402
from tests.conftest import DATASETS, REAL_FEEDS  # noqa: E402

from bench.cluster_errors import WINDOWS  # noqa: E402

NEWS_ONLY = {
    "AG News": DATASETS / "topics" / "agnews_shared.jsonl",
    "BBC News": DATASETS / "topics" / "bbc_shared.jsonl",
    "GoogleNews": DATASETS / "clustering" / "googlenews_stories_shared.jsonl",
}
_VIDEO_LINK = re.compile(r"youtube\.com|youtu\.be|vimeo\.com", re.IGNORECASE)


def false_noise() -> None:
    """Print the verdicts on each news-only set (every one is false noise)."""
    for name, path in NEWS_ONLY.items():
        entries = rows_to_entries(load_jsonl(path))
        _, noise = split_noise(entries)
        kinds = Counter(v.kind for _, v in noise)
        print(f"false noise {name}: {len(noise)} of {len(entries)} {dict(kinds)}")
        for entry, verdict in noise:
            print(f"    {entry.title[:70]!r}: {verdict.reason}")


_FEEDS: dict[str, dict[str, Entry]] = {}


def _feed_item(feed: str, row: dict[str, Any]) -> Entry | None:
    """The item of captured feed file ``feed`` that ``row`` (its ``guid`` or ``url``) names
    (every captured feed, configured as a source or not)."""
    if feed not in _FEEDS:
        path = REAL_FEEDS / feed
        items: dict[str, Entry] = {}
        if path.is_file():
            for entry in parse_feed(path.read_bytes(), source=feed, now=datetime.now(UTC)).entries:
                for key in (entry.entry_id, entry.url):
                    if key:
                        items.setdefault(key, entry)
        _FEEDS[feed] = items
    found = _FEEDS[feed]
    return next((found[k] for k in (row.get("guid"), row.get("url")) if k in found), None)


def windows() -> dict[str, list[tuple[dict[str, Any], Entry]]]:
    """Each labelled window's rows with their entries, feed details joined as in a build;
    the row also gets ``html``, the feed item's summary HTML (its links), when found."""
    config = load_config(REPO / "config.yaml")
    out = {}
    for name, load in WINDOWS.items():
        raw = load()
        names = _source_names(raw, config.sources)
        rows = [{**r, "source": s} for r, s in zip(raw, names, strict=True)]
        entries = _with_feed_details(rows_to_entries(rows), rows, config.sources)
        for row in rows:
            parsed = _feed_item(str(row.get("feed") or ""), row)
            row["html"] = parsed.summary_html if parsed is not None else ""
        out[name] = list(zip(rows, entries, strict=True))
    return out


def leave_one_out(
    name: str,
    sets: dict[str, list[tuple[dict[str, Any], Entry]]],
    candidate: Callable[[dict[str, Any], Entry], float | None],
    settings: Sequence[float],
    catches: Callable[[float, float], bool],
) -> None:
    """Per held-out window: the setting chosen on the others and its caught/false counts.
    ``candidate`` gives an entry's value (``None``: the rule does not apply to it)."""
    values = {
        w: [
            (v, row["story"].startswith("noise-"))
            for row, e in items
            if (v := candidate(row, e)) is not None
        ]
        for w, items in sets.items()
    }
    for w, vs in values.items():
        print(f"  {name} {w}: {sorted(vs)}")

    def score(ws: Sequence[str], s: float) -> tuple[int, int]:
        hits = [gold for w in ws for v, gold in values[w] if catches(v, s)]
        return sum(hits), len(hits) - sum(hits)

    for held in sets:
        rest = [w for w in sets if w != held]
        def gain(s: float) -> tuple[int, int]:
            tp, fp = score(rest, s)
            return tp - 2 * fp, -settings.index(s)

        best = max(settings, key=gain)
        tp, fp = score([held], best)
        print(
            f"  {name} held {held}: chosen {best} (on the others {score(rest, best)}),"
            f" held out: {tp} caught, {fp} news wrongly"
        )


def main() -> None:
    false_noise()
    sets = windows()

    def newsletter_regions(_row: dict[str, Any], entry: Entry) -> float | None:
        if not any(_NEWSLETTER_CATEGORY.search(c) for c in entry.categories):
            return None
        return float(len(_regions(entry)))

    def video_text(row: dict[str, Any], entry: Entry) -> float | None:
        link = re.search(r"/videos?/", entry.url or "")
        video = link or _VIDEO_LINK.search(row["html"])
        return float(len(entry.summary_text)) if video else None

    print("newsletter edition: MANY_REGIONS (99: rule off)")
    leave_one_out("regions", sets, newsletter_regions, [99, 4, 3, 2, 1, 0], lambda v, s: v >= s)
    lengths = sorted(
        {v for items in sets.values() for row, e in items if (v := video_text(row, e)) is not None}
    )
    print("no-news video: text at most L characters (-1: rule off)")
    leave_one_out("video", sets, video_text, [-1.0, *lengths], lambda v, s: v <= s)


if __name__ == "__main__":
    main()
