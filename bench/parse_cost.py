"""Benchmark: what digest's parsing adds to feedparser, on the real feeds, in this process.

Every feed file of ``../shared/feeds/real`` is read into memory and parsed with
:func:`digest.parse.parse_feed` ``--repeat`` times (the first pass pays the first-use costs,
such as chardet's models, the others do not); the CPU time of each pass (``process_time``)
is split into feedparser's own (``feedparser.parse``, timed around each call) and the rest:
encoding, byte-level preparation, normalising, nh3, HTML to text, identity, dates. Printed:
the minimum and median of each, in seconds. ``--profile`` adds a cProfile of the last pass
with feedparser's calls left out (the profiler is paused inside them), sorted by own time.

    python bench/parse_cost.py [--repeat 7] [--profile]

Pin it for a steadier figure (``taskset -c 0``); on a shared machine compare two trees in
alternating runs, not one run with another day's.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FEEDS = Path(os.environ.get("DIGEST_SHARED") or REPO.parent / "shared") / "feeds" / "real"
NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    import feedparser

    from digest.parse import parse_feed

    bodies = [(p.name, p.read_bytes()) for p in sorted(FEEDS.iterdir()) if p.suffix in (".xml", ".json")]
    profile = cProfile.Profile()
    profiling = [False]  # the last pass of --profile
    spent = [0.0]
    real = feedparser.parse

    def timed(*a: Any, **k: Any) -> Any:
        if profiling[0]:
            profile.disable()
        start = time.process_time()
        try:
            return real(*a, **k)
        finally:
            spent[0] += time.process_time() - start
            if profiling[0]:
                profile.enable()

    feedparser.parse = timed
    totals, theirs = [], []
    entries = 0
    for i in range(args.repeat):
        spent[0] = 0.0
        profiling[0] = args.profile and i == args.repeat - 1
        if profiling[0]:
            profile.enable()
        start = time.process_time()
        entries = sum(len(parse_feed(body, source=name, now=NOW).entries) for name, body in bodies)
        totals.append(time.process_time() - start)
        if profiling[0]:
            profile.disable()
        theirs.append(spent[0])
    own = [t - f for t, f in zip(totals, theirs, strict=True)]
    print(f"{len(bodies)} feeds, {entries} entries, {args.repeat} passes (CPU s, min / median):")
    for label, values in (("parse_feed", totals), ("feedparser.parse", theirs), ("digest's own", own)):
        print(f"  {label:18s} {min(values):.3f} / {statistics.median(values):.3f}")
    if args.profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
