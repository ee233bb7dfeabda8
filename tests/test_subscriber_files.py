"""A missing or unreadable subscriber file fails that list before any edition is stored;
``config check`` reports it; bad rows (unknown topics, repeated addresses) are reported with
their line, by ``subscribers import``, ``config check`` and the run report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from digest import pipeline
from digest.config import load_config
from digest.store import Store

from .conftest import REPO

DIGEST = Path(sys.executable).with_name("digest")
AT = "2026-02-18T07:00Z"


def _config(tmp_path: Path, world_csv: Path, db_url: str | None = None) -> Path:
    """Two lists: ``world`` reads ``world_csv``; ``other`` reads the shipped file; on the
    database ``db_url``, else a ``digest.db`` in ``tmp_path``."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": db_url or f"sqlite:///{tmp_path / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp_path / "outbox")
    data["sources"] = data["sources"][:3]  # enough stories, and a quicker poll
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    world = data["lists"][0]
    world["subscribers"] = str(world_csv)
    data["lists"] = [world, {**world, "name": "other", "subscribers": str(REPO / "subscribers" / "world.csv")}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _digest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DIGEST), "-c", str(config), *args], check=False, capture_output=True, text=True, timeout=300
    )


# SQLite only, for time (four subprocesses, two full runs): what the store does with a list
# whose file fails (nothing stored) runs on both dialects in the in-process test below
@pytest.mark.slow  # four digest commands, two of them full runs
def test_a_missing_subscriber_file_fails_that_list_only_and_the_next_run_sends(tmp_path: Path) -> None:
    """The issue: the edition was stored with 0 recipients and marked delivered; once the
    file existed, nothing was sent."""
    csv_path = tmp_path / "lists" / "world.csv"
    config = _config(tmp_path, csv_path)
    check = _digest(config, "config", "check")
    assert check.returncode == 1
    assert f"list world: subscriber file {csv_path}: cannot read" in check.stderr

    first = _digest(config, "run", "--at", AT)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "list world edition 2026-02-18: failed" in first.stdout
    assert str(csv_path) in first.stdout and str(csv_path) in first.stderr
    assert "list other edition 2026-02-18: sent" in first.stdout  # the other list goes on
    with Store.open(load_config(config).database.url) as store:
        assert store.edition("world", "2026-02-18") is None  # nothing stored for world
        assert store.edition("other", "2026-02-18") is not None

    csv_path.parent.mkdir()
    shutil.copyfile(REPO / "subscribers" / "world.csv", csv_path)
    assert _digest(config, "config", "check").returncode == 0
    second = _digest(config, "run", "--at", AT)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "list world edition 2026-02-18: sent" in second.stdout
    assert "deliveries: 5 sent" in second.stdout
    assert len(list((tmp_path / "outbox" / "world" / "2026-02-18").glob("*.eml"))) == 5


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.mkdir(), "cannot read"),
        (lambda p: p.write_bytes(b"email\n\xff\xfe@example.com\n"), "not UTF-8"),
        (lambda p: p.write_text("name\nAda\n"), "no 'email' column"),
    ],
)
def test_an_unreadable_subscriber_file_fails_the_list_before_anything_is_stored(
    db_url: str, tmp_path: Path, make, words: str
) -> None:
    csv_path = tmp_path / "world.csv"
    make(csv_path)
    config = load_config(_config(tmp_path, csv_path, db_url))
    with Store.open(config.database.url) as store:
        from tests.test_world_edition import AT as at
        from tests.test_world_edition import NOW

        pipeline.poll(config, store, now=NOW)
        report = pipeline.publish(config, store, config.list("world"), at=at, now=NOW, clock=lambda: NOW)
        assert report.status == "failed"
        assert str(csv_path) in report.message and words in report.message
        assert store.edition("world", "2026-02-18") is None
        assert store.subscribers_of("world") == []


BAD_ROWS = (
    "email,name,topics,timezone,status\n"
    "ada@example.com,Ada,europe,Europe/London,active\n"
    "ken@example.com,Ken,europe;sprots,America/Los_Angeles,active\n"
    "ADA@example.com,Ada twice,,Europe/London,active\n"
    "grace@example.com,Grace,,America/New_York,active\n"
)


# SQLite only, for time (three subprocesses): the messages come from the file's rules; the
# import into the store runs on both dialects in tests/test_subscribers.py
def test_unknown_topics_and_repeated_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "world.csv"
    csv_path.write_text(BAD_ROWS)
    config = _config(tmp_path, csv_path)
    unknown = f"{csv_path}:3: unknown topic 'sprots'"
    repeated = f"{csv_path}:4: ADA@example.com is already on line 2; this row is ignored"

    check = _digest(config, "config", "check")
    assert check.returncode == 0  # bad rows are warnings: the list still goes out
    assert unknown in check.stderr and repeated in check.stderr

    imported = _digest(config, "subscribers", "import", "world")
    assert imported.returncode == 1
    assert "world: 2 added, 0 existing, 0 kept out (left earlier), 2 bad" in imported.stdout
    assert unknown in imported.stderr and repeated in imported.stderr

    run = _digest(config, "send", "world", "--at", AT)
    assert "2 subscriber row(s) rejected" in run.stdout
    assert unknown in run.stdout and repeated in run.stdout


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_semicolon_or_tab_separated_file_reads_like_a_comma_separated_one(tmp_path: Path, sep: str) -> None:
    """The issue: a file saved by a spreadsheet in a locale whose decimal mark is a comma
    (``email;name;...``) was refused whole with "no 'email' column in the header row"."""
    from digest.subscribers import read_csv

    csv_path = tmp_path / "world.csv"
    csv_path.write_text(
        "\ufeff" + sep.join(["Email", "name", "topics", "timezone", "status"]) + "\n"
        + sep.join(["ada@example.com", "Ada", '"europe;asia"', "Europe/London", "active"]) + "\n"
        + sep.join(["not-an-address", "Bad", "", "", ""]) + "\n",
        encoding="utf-8",
    )
    read = read_csv(csv_path, "world", topics={"europe", "asia"})
    assert [(line, s.email, s.name, s.topics, s.timezone) for line, s in read.rows] == [
        (2, "ada@example.com", "Ada", ("europe", "asia"), "Europe/London")
    ]
    assert len(read.problems) == 1 and read.problems[0].startswith(f"{csv_path}:3: email 'not-an-address'")


def test_a_file_without_an_email_column_shows_its_header_row(tmp_path: Path) -> None:
    from digest.subscribers import SubscriberFileError, read_csv

    csv_path = tmp_path / "world.csv"
    csv_path.write_text("mail|name\nada@example.com|Ada\n")
    with pytest.raises(SubscriberFileError, match=r"no 'email' column in the header row 'mail\|name' \(expected email,name,topics,timezone,status"):
        read_csv(csv_path, "world")
