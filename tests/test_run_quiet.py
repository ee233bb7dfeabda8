"""`digest run` under cron prints nothing when nothing happened (cron mails any output):
a run that fetched, built, sent or failed still says so; a missed edition is told by the
first run that finds it missed only (the stored fact of :meth:`Store.record_missed_period`);
``-v`` prints every row. The rule is :mod:`digest.quiet`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.quiet import nothing_to_tell, worth_telling
from digest.types import ListReport, RunReport, SourceReport
from tests.cron_support import install

T0 = datetime(2026, 2, 18, 7, 5, tzinfo=UTC)


def test_a_run_with_nothing_new_prints_nothing(db_url: str, tmp_path: Path) -> None:
    inst = install(tmp_path, db_url, {"morning": ("0 7 * * *", "UTC")})
    inst.add_item(datetime(2026, 2, 18, 5, 0, tzinfo=UTC))
    first = inst.cli("run", at=T0)
    assert first.exit_code == 0, first.output
    assert "morning edition 2026-02-18: sent" in first.output
    assert "local" in first.output  # the source that brought the entries
    quiet = inst.cli("run", at=T0 + timedelta(minutes=10))
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output == ""
    loud = inst.cli("-v", "run", at=T0 + timedelta(minutes=20))
    assert loud.exit_code == 0, loud.output
    assert "Sources" in loud.output and "local" in loud.output


def test_a_missed_edition_is_told_by_the_first_run_only(db_url: str, tmp_path: Path) -> None:
    inst = install(tmp_path, db_url, {"morning": ("0 7 * * *", "UTC")})
    inst.add_item(datetime(2026, 2, 18, 5, 0, tzinfo=UTC))
    start = datetime(2026, 2, 18, 9, 0, tzinfo=UTC)
    runs = [inst.cli("run", at=start + timedelta(minutes=10 * k)) for k in range(3)]
    assert [r.exit_code for r in runs] == [0, 0, 0]
    said = " ".join(runs[0].output.split())
    assert "morning edition 2026-02-18: missed" in said
    assert "level=WARNING send_missed" in said
    assert [r.output for r in runs[1:]] == ["", ""]
    again = inst.cli("-v", "run", at=start + timedelta(minutes=40))
    assert "morning edition 2026-02-18: missed" in " ".join(again.output.split())


def test_failures_and_new_entries_are_always_told() -> None:
    report = RunReport(
        started_at=T0,
        sources=[
            SourceReport("a", "ok", unchanged=True),
            SourceReport("b", "skipped", error="not due until 08:00"),
            SourceReport("c", "failed", error="HTTP 500"),
            SourceReport("d", "ok", new_entries=3),
            SourceReport("e", "not-modified", http_status=304),
        ],
        lists=[
            ListReport("x", "missed", period="2026-02-18", repeated=True),
            ListReport("y", "exists", period="2026-02-18"),
            ListReport("z", "failed", message="boom"),
            ListReport("w", "empty", period="2026-02-18"),  # decided by this run
            ListReport("v", "empty", period="2026-02-17", repeated=True),  # decided before
        ],
    )
    told = worth_telling(report)
    assert [s.source for s in told.sources] == ["c", "d"]
    assert [r.list_name for r in told.lists] == ["z", "w"]
    assert told.ok is report.ok is False
    assert nothing_to_tell(RunReport(started_at=T0, sources=report.sources[:2] + report.sources[4:]))
    assert not nothing_to_tell(RunReport(started_at=T0, errors=["database locked"]))
