"""Benchmark: the whole digest pipeline against feedparser alone, on the same real feeds.

Baseline: parse every file in ../shared/feeds/real/ with feedparser (bytes in, nothing else).
Measured: digest's pipeline on the same files as sources of one list: poll (read, parse,
normalise, sanitise, store), build (select, dedupe, cluster, rank, sections), render (Jinja2,
MJML, premailer) and deliver to the outbox, into a temporary folder.

Each side runs in its own subprocess, REPEAT times, so the peak memory (max RSS) of one does
not hide the other's; the best time of each is compared as a ratio, because these machines
are noisy. Usage: ``python bench/pipeline.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FEEDS = REPO.parent / "shared" / "feeds" / "real"
AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def feed_files() -> list[Path]:
    return sorted(p for p in FEEDS.iterdir() if p.suffix in (".xml", ".json"))


def phase_feedparser() -> dict[str, float]:
    import feedparser

    files = feed_files()
    start = time.perf_counter()
    items = 0
    for path in files:
        items += len(feedparser.parse(io.BytesIO(path.read_bytes())).entries)
    return {"seconds": time.perf_counter() - start, "items": items, "feeds": len(files)}


def phase_pipeline() -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from digest import pipeline
    from digest.config import parse_config
    from digest.store import Store

    files = feed_files()
    with tempfile.TemporaryDirectory() as tmp:
        data = {
            "site": {"postal_address": "Digest Example Ltd, 1 Example Street, London"},
            "database": {"url": f"sqlite:///{tmp}/bench.db"},
            "delivery": {"outbox_dir": f"{tmp}/outbox"},
            "sources": [
                {"name": p.stem.lower().replace(".", "-")[:60], "title": p.stem, "path": str(p)}
                for p in files
            ],
            "lists": [
                {
                    "name": "bench",
                    "title": "Benchmark",
                    "sender": "Bench <bench@example.org>",
                    "subscribers": str(REPO / "subscribers" / "world.csv"),
                }
            ],
        }
        config = parse_config(data, REPO)
        now = datetime(2026, 11, 29, 12, tzinfo=UTC)
        start = time.perf_counter()
        with Store.open(config.database.url) as store:
            report = pipeline.run(config, store, now=now, at=AT, clock=lambda: now)
        seconds = time.perf_counter() - start
        entries = sum(s.new_entries for s in report.sources)
        [lst] = report.lists
        return {
            "seconds": seconds,
            "items": entries,
            "feeds": len(files),
            "failed_sources": sum(s.status == "failed" for s in report.sources),
            "stories": lst.stories,
            "delivered": lst.deliveries.get("sent", 0),
        }


def run_phase(name: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=["feedparser", "pipeline"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.phase:
        result = phase_feedparser() if args.phase == "feedparser" else phase_pipeline()
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    runs = {name: [run_phase(name) for _ in range(args.repeat)] for name in ("feedparser", "pipeline")}
    best = {name: min(r, key=lambda x: x["seconds"]) for name, r in runs.items()}
    base, ours = best["feedparser"], best["pipeline"]
    print(f"feeds: {base['feeds']} files in {FEEDS}")
    print(
        f"feedparser alone : {base['seconds']:.2f} s  {base['items']} items  "
        f"peak RSS {base['max_rss_mb']:.0f} MB"
    )
    print(
        f"digest pipeline  : {ours['seconds']:.2f} s  {ours['items']} entries stored, "
        f"{ours['stories']} stories, {ours['delivered']} messages, "
        f"{ours['failed_sources']} failed sources  peak RSS {ours['max_rss_mb']:.0f} MB"
    )
    print(f"ratio pipeline / feedparser: {ours['seconds'] / base['seconds']:.2f}x (best of {args.repeat})")


if __name__ == "__main__":
    main()
