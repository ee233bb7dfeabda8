"""The demo edition on the real captured feeds, through the CLI as an operator runs it.

``digest poll`` then ``digest build world --at 2026-02-18T07:00Z --json`` / ``--explain`` with
the shipped ``config.yaml`` (its paths made absolute, a temporary database). Checks the false
merges issue 12 found, that the big stories of the window stay whole, and that noise is left
out with its reason.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REAL_FEEDS, REPO

AT = "2026-02-18T07:00:00Z"


def _digest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin", "HOME": str(config.parent)},
    )


# SQLite only, for time (a poll and a build of the demo): these tests are about clustering and
# sections; the same stored entries are read on both dialects in tests/test_world_edition.py
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    if not REAL_FEEDS.is_dir():
        pytest.fail(f"missing {REAL_FEEDS}")
    tmp = tmp_path_factory.mktemp("demo")
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": f"sqlite:///{tmp / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp / "outbox")
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    polled = _digest(config, "poll")
    assert polled.returncode == 0, polled.stderr
    built = _digest(config, "build", "world", "--at", AT, "--json")
    assert built.returncode == 0, built.stderr
    explained = _digest(config, "build", "world", "--at", AT, "--out", str(tmp / "b"), "--explain")
    assert explained.returncode == 0, explained.stderr
    return json.loads(built.stdout), explained.stdout


def _story_of(edition: dict, fragment: str) -> dict:
    found = [s for s in edition["stories"] if any(fragment in e["title"] for e in s["entries"])]
    assert len(found) == 1, (fragment, [s["title"] for s in found])
    return found[0]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Jesse Jackson dies", "Gold fever hits South Africa"),
        ("Tarique Rahman sworn in", "Takaichi will be reappointed"),
        ("Taylor Swift", "Climber on trial"),
        ("Trump Bets on Diplomacy", "Labubu Diplomacy"),
        ("Russia-Ukraine peace talks", "Food prices are surging in Russia"),
        ("guiding principles", "Russia-Ukraine peace talks"),
    ],
)
def test_demo_edition_has_none_of_the_false_merges(demo, one: str, other: str) -> None:
    edition, _ = demo
    for story in edition["stories"]:
        titles = " | ".join(e["title"] for e in story["entries"])
        assert not (one in titles and other in titles), titles


@pytest.mark.parametrize(
    ("fragments", "outlets"),
    [
        # US–Iran talks in Geneva, with ABC's Strait of Hormuz item (drills during the talks)
        (
            ("guiding principles", "second round of nuclear talks", "Good Progress",
             "Strait of Hormuz"),
            {"bbc-world", "nyt-world", "aljazeera", "npr-world", "dawn", "japan-today"},
        ),
        (
            ("Russia-Ukraine peace talks ends", "Ukraine and Russia Hold New Round",
             "Expectations are low", "Russian and Ukrainian officials meet in Geneva"),
            {"nyt-world", "bbc-world", "abc-news", "japan-today"},
        ),
        # NYT's "In Africa, Jesse Jackson Was Esteemed…" is still a story of its own
        (
            ("Jesse Jackson dies aged 84", "Tributes pour in", "Jesse Jackson, veteran"),
            {"bbc-world", "aljazeera", "elpais", "japan-today"},
        ),
        (
            ("Peru Votes to Impeach", "Peru's Congress removes"),
            {"nyt-world", "aljazeera", "abc-news", "japan-today"},
        ),
    ],
)
def test_demo_edition_keeps_each_big_story_whole(demo, fragments, outlets) -> None:
    edition, _ = demo
    stories = {_story_of(edition, f)["key"] for f in fragments}
    assert len(stories) == 1, fragments
    story = _story_of(edition, fragments[0])
    assert outlets <= set(story["outlets"]), story["outlets"]


def test_build_json_gives_each_story_its_entries_urls_section_and_reasons(demo) -> None:
    edition, _ = demo
    assert edition["list"] == "world" and edition["period"] == "2026-02-18"
    first = edition["stories"][0]
    assert first["position"] == 1 and first["section"]
    assert {r["name"] for r in first["reasons"]} >= {"outlets", "score"}
    assert all(e["url"].startswith("https://") for s in edition["stories"] for e in s["entries"])
    assert {s["section"] for s in edition["stories"]} <= {
        "ukraine", "middle-east", "americas", "europe", "asia", "business", "more"
    }


def test_noise_is_left_out_with_its_reason_in_explain(demo) -> None:
    edition, explained = demo
    titles = {e["title"] for s in edition["stories"] for e in s["entries"]}
    left = {item["title"]: item for item in edition["left_out"]}
    for fragment, kind in [
        ("Rev. Jesse Jackson has died. And,", "roundup"),  # NPR's Up First newsletter
        ("List of key events", "roundup"),
        ("A Hectic Day for U.S. Negotiators", "programme"),  # Foreign Policy's World Brief
        ("Anna Akhmatova, Leading Soviet Poet, Is Dead", "archive"),
        ("Fania Fénelon, 74;", "archive"),
        ("Millvina Dean, Titanic", "archive"),  # died 2009, republished beside the two above
        ("Who should control our digital world?", "programme"),  # a TV show, not news
    ]:
        [title] = [t for t in left if fragment in t]
        assert left[title]["kind"] == kind and left[title]["reason"]
        assert not any(fragment in t for t in titles)
    assert "Left out as not news" in explained
    assert re.search(r"World Brief", explained)
    assert re.search(r"obituary published \d+ min from the archive item", explained)
