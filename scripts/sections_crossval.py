"""Cross-window check of the section rules: choose on one labelled window, score on the other.

    python scripts/sections_crossval.py A.jsonl B.jsonl [--config config.yaml] [--list world]

Both files are in the format of ``../shared/datasets/realstories/README.md``. For each
direction (A→B, B→A) it prints:

- the shipped rules' sections macro-F1 on the scored file (``digest eval sections``, no
  classifier): nothing was chosen on it;
- the setting of the lede, cue and other-headline weights (``topics.LEAD_SENTENCES``,
  ``places.SUBJECT_CUE``, ``places.PLACE_CUE``, ``topics.OTHER_TITLES``) that is best on the
  *choosing* file, and its figure on the scored file, against the shipped setting's;
- the rules plus a classifier (``topics.fit_classifier``) trained on the choosing file's
  entries, scored on the other file.

A shipped setting whose figure moves little when chosen on either window is not fitted to
one. Takes about three minutes on the two real windows on an idle core.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

from digest import places, topics
from digest.config import load_config
from digest.evaluate import evaluate_sections, load_jsonl

GRID = {
    "LEAD_SENTENCES": (1, 2, 3),
    "SUBJECT_CUE": (1.0, 1.5, 2.0),
    "PLACE_CUE": (1.5, 2.0, 3.0),
    "OTHER_TITLES": (0.0, 0.25, 0.5),
}


def _set(lead: int, subject: float, place: float, others: float) -> None:
    assert topics.lead_text.__kwdefaults__ is not None
    topics.lead_text.__kwdefaults__["sentences"] = lead
    places.SUBJECT_CUE, places.PLACE_CUE = subject, place
    topics.OTHER_TITLES = others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--config", default=str(Path(__file__).resolve().parent.parent / "config.yaml"))
    parser.add_argument("--list", dest="list_name", default="world")
    args = parser.parse_args()
    config = load_config(args.config)
    files = {"A": load_jsonl(args.a), "B": load_jsonl(args.b)}
    shipped = (topics.LEAD_SENTENCES, places.SUBJECT_CUE, places.PLACE_CUE, topics.OTHER_TITLES)

    def f1(rows: list[dict], cfg=config) -> float:  # type: ignore[no-untyped-def]
        return evaluate_sections(rows, config=cfg, list_name=args.list_name).macro_f1

    scores = {}
    for setting in itertools.product(*GRID.values()):
        _set(*setting)
        scores[setting] = {name: f1(rows) for name, rows in files.items()}
    _set(*shipped)
    for choose, score in (("A", "B"), ("B", "A")):
        best = max(scores, key=lambda s: (scores[s][choose], s == shipped))
        print(f"choose on {choose}, score on {score}:")
        print(f"  shipped {shipped}: {scores[shipped][score]:.4f}  (on {choose}: {scores[shipped][choose]:.4f})")
        print(f"  best on {choose} {best}: {scores[best][score]:.4f}  (on {choose}: {scores[best][choose]:.4f})")
        rows = files[choose]
        model = topics.fit_classifier(
            [topics.example_text(r["title"], r.get("text", "")) for r in rows],
            [str(r["section"]) for r in rows],
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.joblib"
            topics.save_model(model, path)
            lists = [
                lst.model_copy(update={"topic_model": path}) if lst.name == args.list_name else lst
                for lst in config.lists
            ]
            with_model = config.model_copy(update={"lists": lists})
            print(f"  shipped rules + classifier trained on {choose}: {f1(files[score], with_model):.4f}")


if __name__ == "__main__":
    main()
