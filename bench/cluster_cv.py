"""Cross-validation of the clustering settings ACROSS windows and data sets (issue 12).

Two folds, each a real-feed window plus half of the GoogleNews stories (split by story,
seed 5; title + text and titles only):

- A: ``realfeeds_w1`` (the demo window, ../shared/datasets/realstories) + GoogleNews half A
- B: ``realstories_w0`` (the windows before it and the other same-day outlets, labelled by
  hand for this purpose, ``tests/data/realstories_w0.labels.jsonl`` joined with the feeds by
  ``tests/realstories.py``) + GoogleNews half B

Every setting of a small grid (:class:`digest.similarity.Params`) is scored on all six sets;
the setting chosen on one fold (pairwise precision ≥ 0.9 on its real window first, then the
mean of the real, GoogleNews and titles-only B-cubed F1 plus a tenth of the real pairwise
recall) is reported on the *other* fold, which it never saw. Nothing is fitted to one file.

    python bench/cluster_cv.py            # about 5-10 minutes on 2 shared cores
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.cluster import cluster  # noqa: E402
from digest.evaluate import bcubed, load_jsonl, pairwise, rows_to_entries  # noqa: E402
from digest.similarity import Params  # noqa: E402
from tests.conftest import DATASETS  # noqa: E402
from tests.realstories import load_labelled  # noqa: E402

GRID = {
    "pair_distance": (0.55, 0.6),
    "core_similarity": (0.35, 0.4),
    "names_weight": (0.2, 0.3),
    "core_meaning": (0.0, 0.45, 0.5, 0.55),
}
FOLDS = {"A": ("w1", "GA", "GAt"), "B": ("w0", "GB", "GBt")}


def score(rows: list[dict], params: Params, title_only: bool) -> tuple[float, float, float]:
    """(B-cubed F1, pairwise precision, pairwise recall) of ``cluster`` on ``rows``, with the
    24-hour window ``digest eval clusters`` uses."""
    entries = rows_to_entries(rows, title_only=title_only)
    index = {e.entry_id: i for i, e in enumerate(entries)}
    pred = [0] * len(rows)
    for k, story in enumerate(cluster(entries, weights={}, window_hours=24.0, params=params)):
        for e in story.entries:
            pred[index[e.entry_id]] = k
    gold = [r["story"] for r in rows]
    return round(bcubed(gold, pred)[2], 4), *(round(x, 3) for x in pairwise(gold, pred)[:2])


def sets() -> dict[str, tuple[list[dict], bool]]:
    gn = load_jsonl(DATASETS / "clustering" / "googlenews_stories_shared.jsonl")
    stories = sorted({r["story"] for r in gn})
    random.Random(5).shuffle(stories)
    half = set(stories[: len(stories) // 2])
    ga = [r for r in gn if r["story"] in half]
    gb = [r for r in gn if r["story"] not in half]
    return {
        "w1": (load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"), False),
        "w0": (load_labelled(), False),
        "GA": (ga, False),
        "GB": (gb, False),
        "GAt": (ga, True),
        "GBt": (gb, True),
    }


def objective(result: dict, names: tuple[str, str, str]) -> tuple[bool, float]:
    real, gn, gnt = (result[n] for n in names)
    return real[1] >= 0.9, (real[0] + gn[0] + gnt[0]) / 3 + real[2] / 10


def main() -> None:
    data = sets()
    results = []
    for values in itertools.product(*GRID.values()):
        params = Params(**dict(zip(GRID, values, strict=True)))
        result = {name: score(rows, params, t) for name, (rows, t) in data.items()}
        results.append((values, result))
        print(json.dumps({"params": dict(zip(GRID, values, strict=True)), **result}), flush=True)
    for tune, test in (("A", "B"), ("B", "A")):
        values, result = max(results, key=lambda vr: objective(vr[1], FOLDS[tune]))
        print(f"chosen on fold {tune}: {dict(zip(GRID, values, strict=True))}")
        print("  tuned   ", {n: result[n] for n in FOLDS[tune]}, "(B3 F1, pairwise P, R)")
        print("  HELD OUT", {n: result[n] for n in FOLDS[test]})


if __name__ == "__main__":
    main()
