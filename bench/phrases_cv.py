"""Leave-one-window-out choice of the headline-phrase rule (``digest.phrases``).

The five hand-labelled real windows (w1, w0, w2, w3 of ``bench/cluster_cv.py`` and g1, the
Guardian US feed of ``tests/realstories.py``) are scored on the build path (``digest eval
stories``), the GoogleNews halves (title + text and titles only) as ``digest eval clusters``
scores them, with the other settings at their defaults, for the rule off (``phrase_df`` 0)
and every setting of a small grid (the most headlines a rare phrase may be in, hours apart,
the least embedding cosine). For each held-out real window *H* and GoogleNews half *X* the
setting is chosen on the other real windows and *X* (``cluster_cv.objective``: mean pairwise
precision ≥ 0.9 first, then the mean of their B-cubed F1 and *X*'s plus a tenth of their
mean recall; among equals the first of the grid: the rule off, then the strictest) and
reported on *H* and the other half, which it never saw.

    python bench/phrases_cv.py             # 37 settings, about 9 minutes on 2 shared cores
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

from digest.similarity import Params  # noqa: E402
from tests.realstories import G1_LABELS, load_labelled  # noqa: E402

REAL = ("w1", "w0", "w2", "w3", "g1")
GRID = [(0, 48.0, 0.45)] + list(
    itertools.product((2, 3, 4), (24.0, 36.0, 48.0), (0.55, 0.5, 0.45, 0.4))
)


def cross_validate(settings: list[tuple[object, Params]]) -> None:
    """Score every ``(label, params)`` on the real windows and GoogleNews halves, print each
    as a JSON line, then each fold's choice and its held-out figures against the first
    setting's (main's, or the rule off)."""
    _cached_signals()
    data = sets()
    data["g1"] = (load_labelled(G1_LABELS), False)
    results = []
    for label, params in settings:
        result: dict = {"params": label}
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
        tuned = {n: best[n] for n in (*tune, half, half + "t")}
        print("  tuned   ", tuned, "(B3 F1, pairwise P, R)")
        print("  HELD OUT", {n: best[n] for n in (held, other, other + "t")},
              "first setting:", {n: results[0][n] for n in (held, other, other + "t")})


def main() -> None:
    cross_validate([
        ([df, hours, meaning],
         replace(Params(), phrase_df=df, phrase_hours=hours, phrase_meaning=meaning))
        for df, hours, meaning in GRID
    ])


if __name__ == "__main__":
    main()
