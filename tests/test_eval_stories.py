"""`digest eval stories` and `digest eval clusters` on small labelled files, through the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli

from .conftest import REPO

T0 = "2026-02-17T08:00:00Z"


def row(i: int, story: str, section: str, title: str, text: str, source: str, published: str = T0, kind: str = "news") -> dict:
    return {
        "id": f"{source}:{i}",
        "source": source,
        "url": f"https://{source}.example/{i}",
        "title": title,
        "text": text,
        "published": published,
        "story": story,
        "section": section,
        "kind": kind,
    }


ROWS = [
    row(0, "peru", "americas", "Peru's Congress removes interim President José Jerí",
        "Lawmakers in Peru voted to remove President José Jerí after a corruption scandal.", "a"),
    row(1, "peru", "americas", "Peru Votes to Impeach President José Jerí",
        "Peru's Congress impeached President José Jerí on Tuesday over a corruption scandal.", "b"),
    row(2, "kosovo", "europe", "Thousands in Kosovo march on independence anniversary",
        "Thousands marched in Pristina, Kosovo, to mark the anniversary of independence.", "c"),
    row(3, "noise-1", "more", "Up First: the news you need to start your day",
        "Peru's president is removed. And, Kosovo marks independence.", "d", kind="roundup"),
]


def _digest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", "-c", str(REPO / "config.yaml"), *args],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _figures(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+", line)]


def test_eval_stories_prints_clustering_sections_and_noise(tmp_path: Path) -> None:
    result = _digest("eval", "stories", str(_write(tmp_path / "set.jsonl", ROWS)), "--list", "world")
    assert result.returncode == 0, result.stderr
    b3 = next(line for line in result.stdout.splitlines() if line.startswith("B-cubed P"))
    pw = next(line for line in result.stdout.splitlines() if line.startswith("pairwise P"))
    sec = next(line for line in result.stdout.splitlines() if line.startswith("sections macro-F1"))
    noise = next(line for line in result.stdout.splitlines() if line.startswith("noise P"))
    assert _figures(b3) == [1.0, 1.0, 1.0]
    assert _figures(pw) == [1.0, 1.0, 1.0]
    assert _figures(sec)[0] == 1.0  # Peru → americas, Kosovo → europe by the list's rules
    assert _figures(noise)[:2] == [1.0, 1.0]  # the newsletter is left out, nothing else is
    lines = result.stdout.splitlines()
    at = lines.index("sections confusion (entries; rows: gold, columns: predicted)")
    header = lines[at + 1].split()
    rows = {line.split()[0]: [int(n) for n in line.split()[1:]] for line in lines[at + 2 :]}
    assert set(header) == set(rows) and {"americas", "europe"} <= set(header)
    for gold, counts in rows.items():  # every entry on the diagonal: all sectioned as labelled
        assert all(n == 0 for label, n in zip(header, counts, strict=True) if label != gold)
    news = [r for r in ROWS if not r["story"].startswith("noise-")]
    assert sum(map(sum, rows.values())) == len(news)


def test_eval_stories_needs_gold_sections(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "section"} for r in ROWS]
    result = _digest("eval", "stories", str(_write(tmp_path / "bad.jsonl", rows)))
    assert result.returncode != 0 and "section" in result.stderr


def test_eval_clusters_uses_source_and_published(tmp_path: Path) -> None:
    """The same headline a week apart is two stories when the file gives the dates."""
    rows = [
        row(0, "s1", "europe", "Storm Amy floods villages in northern Spain", "Floods in Spain.", "a"),
        row(1, "s2", "europe", "Storm Amy floods villages in northern Spain", "Floods in Spain.", "b",
            published="2026-02-24T08:00:00Z"),
    ]
    result = _digest("eval", "clusters", str(_write(tmp_path / "dated.jsonl", rows)))
    assert result.returncode == 0, result.stderr
    pairwise = next(line for line in result.stdout.splitlines() if line.startswith("pairwise"))
    assert "clusters 2" in result.stdout, result.stdout
    assert _figures(pairwise)[0] == 1.0


def _bad(rows: list[dict], change: dict) -> list[dict]:
    return [ROWS[0], {**ROWS[1], **change}, *ROWS[2:]]


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("empty", "", "no rows"),
        ("blank lines", "\n  \n", "no rows"),
        ("a line not JSON", json.dumps(ROWS[0]) + "\n{not json\n", ":2: not JSON"),
        ("an array", json.dumps(ROWS[0]) + "\n[1, 2]\n", ":2: expected an object"),
        ("a title null", "".join(json.dumps(r) + "\n" for r in _bad(ROWS, {"title": None})), ":2: expected an object with a 'title'"),
        ("no story", "".join(json.dumps(r) + "\n" for r in _bad(ROWS, {"story": None})), "row 2 (id 'b:1'): needs a 'story'"),
        ("no section", "".join(json.dumps({k: v for k, v in r.items() if k != "section" or r is not ROWS[1]}) + "\n" for r in ROWS), "row 2 (id 'b:1'): needs a 'section'"),
        ("a date in words", "".join(json.dumps(r) + "\n" for r in _bad(ROWS, {"published": "yesterday"})), "'published' 'yesterday' is not an ISO 8601 time"),
        ("a date that does not exist", "".join(json.dumps(r) + "\n" for r in _bad(ROWS, {"published": "2026-02-30T10:00:00Z"})), "is not an ISO 8601 time"),
        ("a date as a number", "".join(json.dumps(r) + "\n" for r in _bad(ROWS, {"published": 1771300000})), "'published' 1771300000"),
        ("the same id twice", "".join(json.dumps(r) + "\n" for r in _bad(ROWS, {"id": "a:0", "source": "a"})), "row 2 (id 'a:0'): the same source and id as row 1"),
    ],
)
@pytest.mark.parametrize("command", ["stories", "clusters"])
def test_a_bad_file_is_a_usage_error_naming_the_row(tmp_path: Path, command: str, name: str, content: str, said: str) -> None:
    """Exit 2 and one line saying what is wrong where, never a traceback or a score of a file
    the scores would be wrong on (a bad date used to put its row on 2026-01-01, a repeated id
    made two rows one entry)."""
    if command == "clusters" and name == "no section":
        pytest.skip("clustering needs no section")
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(cli, ["-c", str(REPO / "config.yaml"), "eval", command, str(path)])
    assert result.exit_code == 2, (name, result.output)
    assert said in result.output and "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_file_of_noise_alone_is_scored(tmp_path: Path) -> None:
    """Nothing to section is not a crash (sklearn refused the empty lists: a traceback)."""
    noise = [ROWS[3], {**ROWS[3], "id": "d:4", "title": "World Brief: the day in five stories"}]
    result = CliRunner().invoke(
        cli, ["-c", str(REPO / "config.yaml"), "eval", "stories", str(_write(tmp_path / "n.jsonl", noise))]
    )
    assert result.exit_code == 0, result.output
    assert "B-cubed P" in result.output and "noise P" in result.output
    assert "sections macro-F1 0.0000" in result.output
