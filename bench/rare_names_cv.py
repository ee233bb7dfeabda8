"""Leave-one-window-out choice of the rare-names rule (:func:`digest.anchors.join_by_rare_names`).

The four hand-labelled real windows of ``bench/cluster_cv.py`` (w1, w0, w2, w3) are scored on
the build path (``digest eval stories``) with the other settings at their defaults, for the
rule off (``rare_names`` 0) and every setting of a small grid (names shared, the largest
document frequency of a rare name, hours apart). For each held-out window the setting is
chosen on the other three (mean pairwise precision ≥ 0.9 first, then their mean B-cubed F1
plus a tenth of their mean pairwise recall; among equals the first of the grid, which starts
with the rule off and then the strictest settings) and reported on the held-out window,
which it never saw. The GoogleNews sets are lower-cased (no names): the rule cannot touch
them, and ``bench/cluster_cv.py`` scores them.

    python bench/rare_names_cv.py          # 25 settings x 4 windows, about 4 minutes
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from cluster_cv import REAL, _cached_signals, score_build, sets  # noqa: E402

from digest.similarity import Params  # noqa: E402

GRID = [(0, 5, 36.0)] + [
    (k, df, hours)
    for k, df, hours in itertools.product((3, 2), (3, 5, 8, 12), (24.0, 36.0, 48.0))
]


def objective(result: dict, tune: tuple[str, ...]) -> tuple[bool, float]:
    precision = sum(result[n][1] for n in tune) / len(tune)
    f1 = sum(result[n][0] for n in tune) / len(tune)
    recall = sum(result[n][2] for n in tune) / len(tune)
    return precision >= 0.9, round(f1 + recall / 10, 6)


def main() -> None:
    _cached_signals()
    data = sets()
    results = []
    for k, df, hours in GRID:
        params = replace(Params(), rare_names=k, rare_df=df, rare_hours=hours)
        result = {"params": [k, df, hours]}
        result.update({n: score_build(data[n][0], params) for n in REAL})
        results.append(result)
        print(json.dumps(result), flush=True)
    for held in REAL:
        tune = tuple(n for n in REAL if n != held)
        best = max(results, key=lambda r: objective(r, tune))  # max keeps the first of equals
        print(f"held out {held}: chosen on {'+'.join(tune)}: {best['params']}")
        print("  tuned   ", {n: best[n] for n in tune}, "(B3 F1, pairwise P, R)")
        print("  HELD OUT", {held: best[held]}, "rule off:", results[0][held])


if __name__ == "__main__":
    main()
