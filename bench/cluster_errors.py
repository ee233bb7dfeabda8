"""The clustering errors of the build path, to read: per labelled real window, every false
pair (joined, different gold stories) and every missed pair (same gold story, apart), with
titles, outlets and hours apart, scored as ``digest eval stories`` scores them.

    python bench/cluster_errors.py [w0 w1 w2 w3 g1 h1]   # default: all of them
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import digest.evaluate as evaluate  # noqa: E402
from digest.config import load_config  # noqa: E402
from tests.conftest import DATASETS  # noqa: E402
from tests.realstories import (  # noqa: E402
    G1_LABELS,
    H1_LABELS,
    W0_LABELS,
    W2_LABELS,
    W3_LABELS,
    load_labelled,
)

WINDOWS = {
    "w0": lambda: load_labelled(W0_LABELS),
    "w1": lambda: evaluate.load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl"),
    "w2": lambda: load_labelled(W2_LABELS),
    "w3": lambda: load_labelled(W3_LABELS),
    "g1": lambda: load_labelled(G1_LABELS),
    "h1": lambda: load_labelled(H1_LABELS),
}


def predicted(rows: list[dict]) -> tuple[list, object]:
    """The build path's story number per row and its scores (``evaluate_stories``)."""
    config = load_config(REPO / "config.yaml")
    rows = [{**r, "section": r.get("section", "more")} for r in rows]
    captured: dict[str, list] = {}
    score = evaluate.bcubed

    def spy(gold, pred):  # type: ignore[no-untyped-def]
        captured["pred"] = list(pred)
        return score(gold, pred)

    evaluate.bcubed = spy  # type: ignore[assignment]
    try:
        scores = evaluate.evaluate_stories(rows, config, config.lists[0])
    finally:
        evaluate.bcubed = score  # type: ignore[assignment]
    return captured["pred"], scores


def _hours(a: dict, b: dict) -> str:
    if not (a.get("published") and b.get("published")):
        return "?"
    ta, tb = (datetime.fromisoformat(x["published"].replace("Z", "+00:00")) for x in (a, b))
    return f"{abs((ta - tb).total_seconds()) / 3600:.1f}h"


def _line(r: dict) -> str:
    return f"[{r['source']}] {r['title'][:90]}"


def report(name: str, rows: list[dict]) -> None:
    pred, s = predicted(rows)
    gold = [str(r["story"]) for r in rows]
    print(f"== {name}: pairwise P {s.pairwise_precision:.3f} R {s.pairwise_recall:.3f} "
          f"B3 F1 {s.bcubed_f1:.4f}")
    n = len(rows)
    for i in range(n):
        for j in range(i + 1, n):
            same_pred, same_gold = pred[i] == pred[j], gold[i] == gold[j]
            if same_pred == same_gold:
                continue
            tag = "FALSE " if same_pred else "MISSED"
            print(f"  {tag} {_hours(rows[i], rows[j]):>6} {gold[i]} / {gold[j]}")
            print(f"         {_line(rows[i])}")
            print(f"         {_line(rows[j])}")


def main() -> None:
    for name in sys.argv[1:] or list(WINDOWS):
        report(name, WINDOWS[name]())


if __name__ == "__main__":
    main()
