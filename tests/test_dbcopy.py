"""``digest db copy``: an installation built by the real pipeline on SQLite, copied to
PostgreSQL, reads the same there; a used target is refused; counts that differ exit 1."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest import dbcopy
from digest.cli import cli
from digest.dbcopy import CopyReport, TableCount, copy_order, mismatches
from digest.store import Store, metadata
from digest.types import Subscriber

REPO = Path(__file__).resolve().parent.parent
AT = "2026-02-18T07:00:00Z"
LATER = datetime(2026, 2, 19, tzinfo=UTC)


def _digest(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["-c", str(REPO / "config.yaml"), *args], env={"DIGEST_DATABASE_URL": url}
    )
    return result.exit_code, result.output


def _same_clock(text: str) -> str:
    return re.sub(r"is \d[\w ]* late", "is N late", text)  # `status` measures lateness against now


@pytest.mark.slow  # the demo pipeline once (~10 s on two busy cores), then the copy
def test_a_demo_installation_copied_to_postgresql_reads_the_same(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo's outbox goes here, not into the repository
    lite = f"sqlite:///{tmp_path / 'digest.db'}"
    code, out = _digest(lite, "run", "--at", AT)
    assert code == 0, out
    copied = CliRunner().invoke(cli, ["db", "copy", lite, pg_url, "--batch-size", "50"])
    assert copied.exit_code == 0, copied.output
    for args in (["status"], ["deliveries", "show"]):
        (c1, on_sqlite), (c2, on_pg) = _digest(lite, *args), _digest(pg_url, *args)
        assert c1 == c2 == 0, on_pg
        assert _same_clock(on_pg) == _same_clock(on_sqlite)
    assert "sent 5" in on_pg
    # sequences were moved past the copied ids: a new row on PostgreSQL does not collide
    with Store.open(pg_url) as store:
        sub, created = store.add_subscriber(
            Subscriber(list_name="world", email="new@example.com"), now=LATER
        )
        assert created and sub.id == 6
    # copying again into the used target is refused, and leaves it as it was
    again = CliRunner().invoke(cli, ["db", "copy", lite, pg_url])
    assert again.exit_code == 1 and "not empty" in again.output
    assert "subscribers (6)" in again.output
    forced = CliRunner().invoke(cli, ["db", "copy", lite, pg_url, "--force"])
    assert forced.exit_code == 0, forced.output
    assert re.search(r"subscribers\s*│\s*5\s*│\s*5\s*│ ok", forced.output), forced.output
    assert re.search(r"entries\s*│\s*(\d+)\s*│\s*\1\s*│ ok", forced.output)


def test_tables_are_copied_parents_first() -> None:
    order = [t.name for t in copy_order(list(metadata.sorted_tables))]
    assert order.index("editions") < order.index("deliveries")
    assert order.index("subscribers") < order.index("deliveries")
    assert order.index("editions") < order.index("edition_variants")


def test_a_count_that_differs_is_a_mismatch() -> None:
    counts = [TableCount("entries", 3, 3), TableCount("deliveries", 5, 4)]
    assert mismatches(counts) == [counts[1]]
    assert not CopyReport(tuple(counts)).ok and CopyReport(tuple(counts[:1])).ok


def test_db_copy_exits_1_when_the_counts_differ(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    Store.open(source).close()
    monkeypatch.setattr(
        dbcopy, "copy_database",
        lambda *a, **k: CopyReport((TableCount("deliveries", 5, 4),)),
    )
    result = CliRunner().invoke(cli, ["db", "copy", source, db_url])
    assert result.exit_code == 1
    assert "MISMATCH" in result.output


def test_db_copy_refuses_a_missing_source_file(tmp_path: Path, db_url: str) -> None:
    result = CliRunner().invoke(cli, ["db", "copy", f"sqlite:///{tmp_path / 'nope.db'}", db_url])
    assert result.exit_code == 1 and "no database file" in result.output
    assert not (tmp_path / "nope.db").exists()
