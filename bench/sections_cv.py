"""Leave-one-window-out choice of a section setting over the five labelled windows.

The windows are w0, w1, w2, g1 and h1 (``tests/realstories.py``; h2 is the lead's held-out
set and is never read here). Each setting of a grid patches module constants of
:mod:`digest.topics` / :mod:`digest.places` or adds words to a topic's keywords; every window
is scored on the build path (``digest eval stories``: the shipped ``world`` list, no
classifier). For each held-out window the setting is chosen on the other four (highest mean
sections macro-F1; among equals the first of the grid, main's), and the held-out window's
figure under that choice is printed beside main's: the only figure to report.

    python bench/sections_cv.py                  # every grid, about 1 minute per 3 settings
    python bench/sections_cv.py --grid cues      # one grid
    python bench/sections_cv.py --errors         # main's per-entry errors, each window
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest import edition as editions  # noqa: E402
from digest import places, topics  # noqa: E402
from digest.config import load_config  # noqa: E402
from digest.evaluate import evaluate_stories, load_jsonl  # noqa: E402
from tests.conftest import DATASETS  # noqa: E402
from tests.realstories import G1_LABELS, H1_LABELS, W0_LABELS, W2_LABELS, load_labelled  # noqa: E402

WINDOWS = ("w0", "w1", "w2", "g1", "h1")
SHARED_TOPICS = DATASETS / "topics"


def windows() -> dict[str, list[dict[str, Any]]]:
    """The five windows' rows (``digest eval stories`` input), by name."""
    rows = {
        name: load_labelled(path)
        for name, path in (("w0", W0_LABELS), ("w2", W2_LABELS), ("g1", G1_LABELS), ("h1", H1_LABELS))
    }
    rows["w1"] = load_jsonl(DATASETS / "realstories" / "realfeeds_w1.jsonl")
    return {name: rows[name] for name in WINDOWS}


@contextmanager
def constants(**values: float) -> Iterator[None]:
    """Set module constants of ``digest.topics`` or ``digest.places`` (whichever has the name)
    for the block."""
    saved = []
    for name, value in values.items():
        module = topics if hasattr(topics, name) else places
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def mined_business_words(precision: float, support: int) -> list[str]:
    """Title words of the shared AG News and BBC files (``../shared/datasets/topics``) found in
    at least ``support`` business titles, business in at least ``precision`` of the titles that
    hold them (against world, politics, sport and entertainment; scitech and tech hold company
    news and are left out), not already a business keyword, a gazetteer name or a stop word."""
    from digest.tfidf import STOP_WORDS

    config = load_config(REPO / "config.yaml")
    have = {k.casefold() for t in config.topics if t.name == "business" for k in t.keywords}
    names = {p.name.casefold() for p in places.gazetteer()}
    word = re.compile(r"[a-z][a-z\-]+")
    pos: collections.Counter[str] = collections.Counter()
    neg: collections.Counter[str] = collections.Counter()
    for file in ("agnews_shared.jsonl", "bbc_shared.jsonl"):
        for line in (SHARED_TOPICS / file).read_text().splitlines():
            row = json.loads(line)
            if row["label"] in ("scitech", "tech"):
                continue
            (pos if row["label"] == "business" else neg).update(set(word.findall(row["title"].lower())))
    return sorted(
        w
        for w, n in pos.items()
        if n >= support
        and len(w) > 2
        and w not in have | names | set(STOP_WORDS)
        and n / (n + neg[w]) >= precision
    )


Setting = tuple[str, dict[str, float], list[str]]  # label, constants, extra business words


def grids() -> dict[str, list[Setting]]:
    """The grids tried by the sixth sections stop; each starts with main's setting."""
    main: Setting = ("main", {}, [])
    mined: list[Setting] = [
        (f"AG/BBC business words p>={p} n>={n}", {}, mined_business_words(p, n))
        for p in (0.9, 0.85, 0.8)
        for n in (5, 8)
    ]
    return {
        "words": [main, *mined],
        "cues": [main]
        + [(f"SUBJECT_CUE={v}", {"SUBJECT_CUE": v}, []) for v in (1.0, 1.25, 2.0)]
        + [(f"ACTOR_CUE={v}", {"ACTOR_CUE": v}, []) for v in (0.25, 0.75)]
        + [(f"PLACE_CUE={v}", {"PLACE_CUE": v}, []) for v in (1.5, 3.0)],
        "keywords": [main]
        + [(f"KEYWORD_TITLE={v}", {"KEYWORD_TITLE": v}, []) for v in (5.0, 6.0, 8.0, 9.0)]
        + [(f"KEYWORD_SUMMARY={v}", {"KEYWORD_SUMMARY": v}, []) for v in (1.0, 2.0)],
        "weights": [main]
        + [(f"TITLE_WEIGHT={v}", {"TITLE_WEIGHT": v}, []) for v in (2.0, 4.0)]
        + [(f"OTHER_TITLES={v}", {"OTHER_TITLES": v}, []) for v in (0.0, 0.5)]
        + [(f"EVENT_CUE={v}", {"EVENT_CUE": v}, []) for v in (2.0, 4.0)]
        + [(f"DOMINANT={v}", {"DOMINANT": v}, []) for v in (1.25, 2.0)]
        + [(f"VENUE_CUE={v}", {"VENUE_CUE": v}, []) for v in (0.5,)],
    }


def score(config: Any, rows: list[dict[str, Any]]) -> tuple[float, dict[str, float]]:
    """Sections macro-F1 and per-section F1 of one window on the build path."""
    scores = evaluate_stories(rows, config, config.list("world"))
    return scores.sections_macro_f1, scores.per_section_f1


def with_business_words(config: Any, words: list[str]) -> Any:
    """``config`` with ``words`` added to the business topic's keywords."""
    if not words:
        return config
    updated = [
        t.model_copy(update={"keywords": [*t.keywords, *(w for w in words if w not in t.keywords)]})
        if t.name == "business"
        else t
        for t in config.topics
    ]
    return config.model_copy(update={"topics": updated})


def cross_validate(settings: list[Setting], data: dict[str, list[dict[str, Any]]]) -> None:
    """Score every setting on every window, then print each fold's choice and its held-out
    figure against main's (the first setting)."""
    config = load_config(REPO / "config.yaml")
    table: dict[str, dict[str, tuple[float, dict[str, float]]]] = {}
    for label, values, words in settings:
        with constants(**values):
            table[label] = {n: score(with_business_words(config, words), rows) for n, rows in data.items()}
        print(
            f"{label:<34}",
            " ".join(f"{n} {table[label][n][0]:.3f}" for n in data),
            "| business",
            " ".join(f"{table[label][n][1].get('business', 0.0):.2f}" for n in data),
            flush=True,
        )
    first = settings[0][0]
    for held in data:
        tune = [n for n in data if n != held]
        best = max(settings, key=lambda s: sum(table[s[0]][n][0] for n in tune))[0]  # max: first
        print(f"held out {held}: chosen on {'+'.join(tune)}: {best!r}: "
              f"{table[first][held][0]:.3f} -> {table[best][held][0]:.3f}")


def errors(data: dict[str, list[dict[str, Any]]]) -> None:
    """Main's per-entry section errors: gold -> predicted, id, title and the story's reason."""
    config = load_config(REPO / "config.yaml")
    seen: dict[str, Any] = {}
    assemble: Callable[..., Any] = editions.assemble

    def keep(**kwargs: Any) -> Any:
        seen["built"], seen["entries"] = assemble(**kwargs), kwargs["entries"]
        return seen["built"]

    editions.assemble = keep  # type: ignore[assignment]
    try:
        for name, rows in data.items():
            macro, per = score(config, rows)
            print(f"== {name} macro-F1 {macro:.3f}", {k: round(v, 2) for k, v in per.items()})
            index = {(e.source, e.entry_id): i for i, e in enumerate(seen["entries"])}
            placed = {
                index[(e.source, e.entry_id)]: story
                for story in seen["built"].stories
                for e in story.entries
            }
            for i, row in enumerate(rows):
                story = placed.get(i)
                got = story.section if story is not None else "(left out)"
                if row["story"].startswith("noise-") or got == row["section"]:
                    continue
                why = story.section_reason if story is not None else ""
                print(f"  {row['section']:>11} -> {got:<11} {row['id']:<24} "
                      f"{row['title'][:80]!r} | {why[:100]}")
    finally:
        editions.assemble = assemble  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(grids()), action="append")
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()
    data = windows()
    if args.errors:
        errors(data)
        return
    every = grids()
    for name in args.grid or sorted(every):
        print(f"-- grid {name}")
        cross_validate(every[name], data)


if __name__ == "__main__":
    main()
