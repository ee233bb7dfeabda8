"""Leave-one-window-out choice of the core check's least similarity (``core_similarity``,
:func:`digest.cluster._prune`): the real windows w1, w0, w2, w3 and g1 on the build path and
the GoogleNews halves, chosen and reported as ``bench/phrases_cv.py`` does (the objective of
``bench/cluster_cv.py``; among equals the first of the grid, main's 0.35 first).

    python bench/core_cv.py             # 6 settings, about 2 minutes on 2 shared cores
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from phrases_cv import cross_validate  # noqa: E402

from digest.similarity import Params  # noqa: E402

GRID = (0.35, 0.36, 0.37, 0.38, 0.39, 0.4)  # main's 0.35 first


def main() -> None:
    cross_validate([(core, replace(Params(), core_similarity=core)) for core in GRID])


if __name__ == "__main__":
    main()
