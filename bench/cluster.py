"""Clustering benchmark: time and peak memory on about 7,600 items, ours vs the plain baseline.

Builds the items from the shared datasets (GoogleNews stories, AG News, BBC News; the
GoogleNews items are repeated with a suffix until the target count is reached), then runs
each method in a fresh subprocess limited to two threads and reports wall time, peak
resident memory (``ru_maxrss``), for the GoogleNews items B-cubed F1, and for digest the
time to import wordllama and load its weights (not part of the clustering time).

    python bench/cluster.py [--items 7600] [--datasets ../shared/datasets] [--no-window50x]

A second scenario (issue 14: 50x the sources) clusters one story window of the real captured
feeds at 50 times their number: the entries of the demo window (2026-02-16T19:00Z to
2026-02-18T07:00Z, ../shared/feeds/real) copied 50 times with distinct sources and ids, about
9,600 entries all inside one 48-hour story window (targets: under 30 s and 1 GB). It also
prints that the 1x window gives the same stories chunked and unchunked.

Baseline: TF-IDF (scikit-learn defaults) on title + text, scikit-learn
``AgglomerativeClustering(metric="precomputed", linkage="average", distance_threshold=0.94)``
on the dense cosine distance matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("DIGEST_SHARED") or REPO.parent / "shared")


def build_rows(datasets: Path, items: int) -> list[dict]:
    rows: list[dict] = []
    for name in (
        "clustering/googlenews_stories_shared.jsonl",
        "topics/agnews_shared.jsonl",
        "topics/bbc_shared.jsonl",
    ):
        with (datasets / name).open(encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    base = [r for r in rows if "story" in r]
    extra = 0
    while len(rows) < items:
        row = dict(base[extra % len(base)])
        row["id"] = f"{row['id']}-copy{extra}"
        row["text"] = f"{row['text']} copy{extra}"
        rows.append(row)
        extra += 1
    return rows[:items]


def window_entries(copies: int) -> list:
    """The demo window's entries of the real feeds (deduplicated), ``copies`` times over with
    distinct sources and entry ids (copy 0 is the original)."""
    sys.path.insert(0, str(REPO))
    from dataclasses import replace

    from tests.realfeed_window import window_entries as real_window

    from digest.cluster import dedupe

    base = dedupe(real_window(SHARED / "feeds" / "real"))
    out = []
    for k in range(copies):
        for e in base:
            copy = replace(e, source=f"{e.source}~{k}", entry_id=f"{e.entry_id}~{k}")
            out.append(e if k == 0 else copy)
    return out


def run_window(copies: int) -> dict:
    from digest import embed
    from digest.cluster import cluster

    embed.model()
    entries = window_entries(copies)
    started = time.perf_counter()
    cpu_started = time.process_time()
    stories = cluster(entries, weights={}, window_hours=48.0)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    same = None
    if copies == 1:
        chunked = cluster(entries, weights={}, window_hours=48.0, chunk_size=32)

        def key(found: list) -> list:
            return sorted(sorted((e.source, e.entry_id) for e in s.entries) for s in found)

        same = key(chunked) == key(stories)
    return {
        "method": f"window{copies}x",
        "items": len(entries),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "clusters": len(stories),
        "chunked_equal": same,
    }


def run_method(method: str, datasets: Path, items: int) -> dict:
    sys.path.insert(0, str(REPO))
    if method.startswith("window"):
        return run_window(int(method.removeprefix("window").removesuffix("x")))
    from digest.evaluate import bcubed, rows_to_entries

    rows = build_rows(datasets, items)
    started = time.perf_counter()
    cpu_started = time.process_time()
    load_seconds = 0.0
    if method == "digest":
        from digest import embed
        from digest.cluster import cluster

        loading = time.perf_counter()
        embed.model()  # import wordllama and load its bundled weights (once per process)
        load_seconds = time.perf_counter() - loading
        entries = rows_to_entries(rows)
        stories = cluster(entries, weights={}, window_hours=48.0)
        label = {}
        for number, story in enumerate(stories):
            for entry in story.entries:
                label[entry.entry_id] = number
        pred = [label[str(r["id"])] for r in rows]
    else:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics import pairwise_distances

        x = TfidfVectorizer().fit_transform([f"{r['title']} {r['text']}" for r in rows])
        model = AgglomerativeClustering(
            n_clusters=None, metric="precomputed", linkage="average", distance_threshold=0.94
        )
        pred = model.fit_predict(pairwise_distances(x, metric="cosine")).tolist()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gold_idx = [i for i, r in enumerate(rows) if "story" in r and "-copy" not in str(r["id"])]
    _, _, f1 = bcubed([rows[i]["story"] for i in gold_idx], [pred[i] for i in gold_idx])
    return {
        "method": method,
        "items": len(rows),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mib": peak_kib / 1024,
        "clusters": len(set(pred)),
        "model_load_seconds": load_seconds,
        "bcubed_f1_googlenews_part": f1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=7600)
    parser.add_argument("--datasets", type=Path, default=SHARED / "datasets")
    parser.add_argument("--no-window50x", action="store_true", help="skip the 50x window")
    parser.add_argument("--method", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        print(json.dumps(run_method(args.method, args.datasets, args.items)))
        return
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
    }
    print(
        f"{'method':<10} {'items':>6} {'seconds':>8} {'CPU s':>7} {'peak MiB':>9} {'clusters':>9} {'B3-F1*':>7} {'load s':>7}"
    )
    methods = ["baseline", "digest"] + ([] if args.no_window50x else ["window1x", "window50x"])
    for method in methods:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--method",
                method,
                "--items",
                str(args.items),
                "--datasets",
                str(args.datasets),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if method.startswith("window"):
            same = r["chunked_equal"]
            same = "" if same is None else f"  chunked == unchunked: {same}"
            print(
                f"{r['method']:<10} {r['items']:>6} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} "
                f"{r['peak_mib']:>9.0f} {r['clusters']:>9}{same}"
            )
            continue
        print(
            f"{r['method']:<10} {r['items']:>6} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} {r['peak_mib']:>9.0f} {r['clusters']:>9} "
            f"{r['bcubed_f1_googlenews_part']:>7.4f} {r['model_load_seconds']:>7.2f}"
        )
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall time suffers when it exceeds the CPUs)"
    )
    print(
        "* B-cubed F1 over the original GoogleNews items inside the mixed batch (peak = process max RSS)."
    )
    print("load s: loading the bundled wordllama model (digest.embed), before the timed clustering.")


if __name__ == "__main__":
    main()
