"""Cross-validation of the clustering settings ACROSS windows and data sets (issue 12).

Three hand-labelled real-feed windows of the same capture (``../shared/feeds/real``), held out
in turn (leave one window out), and the GoogleNews stories split in two halves by story
(seed 5; title + text and titles only):

- ``w1``: the demo window (``../shared/datasets/realstories/realfeeds_w1.jsonl``);
- ``w0``: the windows before it and the other same-day outlets
  (``tests/data/realstories_w0.labels.jsonl``);
- ``w2``: TIME, The Economist (Asia), EL PAÍS, kottke and 404 Media from 2026-01-14 to w0
  (``tests/data/realstories_w2.labels.jsonl``);
- ``w3``: The Economist (Asia) and EL PAÍS before w2, 278 entries, none the same story
  (``tests/data/realstories_w3.labels.jsonl``): a guard against false merges;

the label files hold ids and labels, joined with the feeds by ``tests/realstories.py``.

The real windows are scored on the build path, as ``digest eval stories`` scores them (noise
filter, dedupe, the config's 48-hour story window); ``--path clusters`` scores them as
``digest eval clusters`` does (24-hour window), which is what this bench did before w3. The
GoogleNews halves (undated) are scored as ``digest eval clusters`` does.

Every setting of a small grid (:class:`digest.similarity.Params`) is scored on every set. For
each held-out real window *H* and GoogleNews half *X*, the setting is chosen on the other
real windows and half *X* — mean pairwise precision ≥ 0.9 on those windows first, then the
mean of their B-cubed F1, *X*'s B-cubed F1 (title + text and titles only) plus a tenth of
their mean pairwise recall — and reported on *H* and the other half, which it never saw.

    python bench/cluster_cv.py            # 24 settings, about 10 minutes on 2 shared cores
    python bench/cluster_cv.py --results FILE   # choose and report from saved JSON lines
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import digest.cluster as cluster_module  # noqa: E402
from digest.evaluate import bcubed, load_jsonl, pairwise, rows_to_entries  # noqa: E402
from digest.similarity import Params  # noqa: E402
from tests.conftest import DATASETS  # noqa: E402
from tests.realstories import W0_LABELS, W2_LABELS, W3_LABELS, load_labelled  # noqa: E402

GRID: dict[str, tuple[Any, ...]] = {
    "text_weight": (0.5, 0.6, 0.7),
    "names_weight": (0.2, 0.3),
    "pair_distance": (0.55, 0.6),
    "core_similarity": (0.35, 0.4),
}
REAL = ("w1", "w0", "w2", "w3")
HALVES = {"GA": "GB", "GB": "GA"}


def score(rows: list[dict], params: Params, title_only: bool) -> tuple[float, float, float]:
    """(B-cubed F1, pairwise precision, pairwise recall) of ``cluster`` on ``rows``, with the
    24-hour window ``digest eval clusters`` uses."""
    entries = rows_to_entries(rows, title_only=title_only)
    index = {e.entry_id: i for i, e in enumerate(entries)}
    pred = [0] * len(rows)
    stories = cluster_module.cluster(entries, weights={}, window_hours=24.0, params=params)
    for k, story in enumerate(stories):
        for e in story.entries:
            pred[index[e.entry_id]] = k
    gold = [r["story"] for r in rows]
    return round(bcubed(gold, pred)[2], 4), *(round(x, 3) for x in pairwise(gold, pred)[:2])


def score_build(rows: list[dict], params: Params) -> tuple[float, float, float]:
    """(B-cubed F1, pairwise precision, pairwise recall) of ``digest eval stories`` (the whole
    build path with the repository's config and its first list) on ``rows``, with ``params``
    as the clusterer's defaults. Rows without ``section`` (w2, w3) get one."""
    from digest.config import load_config
    from digest.evaluate import evaluate_stories

    config = load_config(REPO / "config.yaml")
    rows = [{**r, "section": r.get("section", "more")} for r in rows]
    default = cluster_module.Params
    cluster_module.Params = lambda: params  # type: ignore[assignment,misc]  # the build's defaults
    try:
        s = evaluate_stories(rows, config, config.lists[0])
    finally:
        cluster_module.Params = default  # type: ignore[misc]
    return round(s.bcubed_f1, 4), round(s.pairwise_precision, 3), round(s.pairwise_recall, 3)


def sets() -> dict[str, tuple[list[dict], bool]]:
    gn = load_jsonl(DATASETS / "clustering" / "googlenews_stories_shared.jsonl")
    stories = sorted({r["story"] for r in gn})
    random.Random(5).shuffle(stories)
    half = set(stories[: len(stories) // 2])
    ga = [r for r in gn if r["story"] in half]
    gb = [r for r in gn if r["story"] not in half]
    return {
        "w1": (load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"), False),
        "w0": (load_labelled(W0_LABELS), False),
        "w2": (load_labelled(W2_LABELS), False),
        "w3": (load_labelled(W3_LABELS), False),
        "GA": (ga, False),
        "GB": (gb, False),
        "GAt": (ga, True),
        "GBt": (gb, True),
    }


def _cached_signals() -> None:
    """The signals depend on the entries only, not on the settings: compute them once."""
    signals, vectors = cluster_module.signals, cluster_module._vectors
    cache: dict[tuple[str, str], Any] = {}

    def digest_of(parts: list[str]) -> str:
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    def cached_signals(entries: Any, x: Any, **kw: Any) -> Any:
        key = ("s", digest_of([e.entry_id + e.title + e.summary_text for e in entries]))
        return cache[key] if key in cache else cache.setdefault(key, signals(entries, x, **kw))

    def cached_vectors(docs: Any) -> Any:
        key = ("v", digest_of(list(docs)))
        return cache[key] if key in cache else cache.setdefault(key, vectors(docs))

    cluster_module.signals = cached_signals  # type: ignore[assignment]
    cluster_module._vectors = cached_vectors  # type: ignore[assignment]


def objective(result: dict, tune: tuple[str, ...], half: str) -> tuple[bool, float]:
    precision = sum(result[n][1] for n in tune) / len(tune)
    mean_f1 = sum(result[n][0] for n in tune) / len(tune)
    recall = sum(result[n][2] for n in tune) / len(tune)
    return precision >= 0.9, (mean_f1 + result[half][0] + result[half + "t"][0]) / 3 + recall / 10


def report(results: list[dict]) -> None:
    for held, half in itertools.product(REAL, HALVES):
        tune = tuple(n for n in REAL if n != held)
        best = max(results, key=lambda r: objective(r, tune, half))
        other = HALVES[half]
        print(f"held out {held} + {other}: chosen on {'+'.join(tune)} + {half}: {best['params']}")
        print("  tuned   ", {n: best[n] for n in (*tune, half, half + "t")}, "(B3 F1, pairwise P, R)")
        print("  HELD OUT", {n: best[n] for n in (held, other, other + "t")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="JSON lines of an earlier run")
    parser.add_argument(
        "--path", choices=("build", "clusters"), default="build",
        help="score the real windows as 'digest eval stories' (build) or 'eval clusters' does",
    )
    args = parser.parse_args()
    if args.results:
        report([json.loads(line) for line in args.results.read_text().splitlines() if line])
        return
    _cached_signals()
    data = sets()
    results = []
    for values in itertools.product(*GRID.values()):
        chosen = dict(zip(GRID, values, strict=True))
        params = Params(**chosen)
        result = {
            name: score_build(rows, params)
            if name in REAL and args.path == "build"
            else score(rows, params, t)
            for name, (rows, t) in data.items()
        }
        results.append({"params": chosen, **result})
        print(json.dumps(results[-1]), flush=True)
    report(results)


if __name__ == "__main__":
    main()
