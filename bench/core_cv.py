"""Leave-one-window-out choice of the core check's least similarity (``core_similarity``,
:func:`digest.cluster._prune`): the real windows w1, w0, w2, w3 and g1 on the build path and
the GoogleNews halves, chosen and reported as ``bench/phrases_cv.py`` does (the objective of
``bench/cluster_cv.py``; among equals the first of the grid, main's 0.35 first).

    python bench/core_cv.py             # 6 settings, about 2 minutes on 2 shared cores
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

from cluster_cv import HALVES, _cached_signals, objective, score, score_build, sets  # noqa: E402
from phrases_cv import REAL  # noqa: E402

from digest.similarity import Params  # noqa: E402
from tests.realstories import G1_LABELS, load_labelled  # noqa: E402

GRID = (0.35, 0.36, 0.37, 0.38, 0.39, 0.4)


def main() -> None:
    _cached_signals()
    data = sets()
    data["g1"] = (load_labelled(G1_LABELS), False)
    results = []
    for core in GRID:
        params = replace(Params(), core_similarity=core)
        result: dict = {"params": core}
        for name, (rows, titles) in data.items():
            result[name] = (
                score_build(rows, params) if name in REAL else score(rows, params, titles)
            )
        results.append(result)
        print(json.dumps(result), flush=True)
    for held, half in itertools.product(REAL, HALVES):
        tune = tuple(n for n in REAL if n != held)
        best = max(results, key=lambda r: objective(r, tune, half))  # max keeps the first
        other = HALVES[half]
        print(f"held out {held} + {other}: chosen on {'+'.join(tune)} + {half}: {best['params']}")
        print("  HELD OUT", {n: best[n] for n in (held, other, other + "t")},
              "main:", {n: results[0][n] for n in (held, other, other + "t")})


if __name__ == "__main__":
    main()
