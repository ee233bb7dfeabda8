"""`digest run` as cron runs it, through the public CLI: every 30 minutes around each list's
send time on the nights of the 2026 DST changes in eight zones, lists at 00:00, 01:30 and
02:30 local: each local day gets exactly one edition (issue 10, point 1). The clock is the
command's ``--at`` (many instants in one process); a few real runs under Debian's
``faketime`` check the same without ``--at``. Also: a run long after the send time reports
the edition missed and sends nothing (point 2), ``digest send --at`` sends it on purpose,
and ``send_at`` delivers each subscriber at their local time under cron (point 3).

docs/operations.md ("DST nights and missed mornings") is exercised sentence by sentence by
the tests named there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import REPO
from tests.cron_support import install

LISTS = {"midnight": "0 0 * * *", "half": "30 1 * * *", "early": "30 2 * * *"}
# the local dates of each zone's 2026 offset changes
CHANGES = {
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),
    "America/Los_Angeles": (date(2026, 3, 8), date(2026, 11, 1)),
    "America/Santiago": (date(2026, 4, 5), date(2026, 9, 6)),
    "Europe/Berlin": (date(2026, 3, 29), date(2026, 10, 25)),
    "Europe/London": (date(2026, 3, 29), date(2026, 10, 25)),
    "Australia/Sydney": (date(2026, 4, 5), date(2026, 10, 4)),
    "Australia/Lord_Howe": (date(2026, 4, 5), date(2026, 10, 4)),
    "Pacific/Chatham": (date(2026, 4, 5), date(2026, 9, 27)),
}
CRON_EVERY = timedelta(minutes=30)


def _cron_instants(zone: str, day: date) -> list[datetime]:
    """`*/30 * * * *` from 23:30 local the evening before ``day`` to 04:00 local on it."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day - timedelta(days=1), time(23, 30), tz).astimezone(UTC)
    end = datetime.combine(day, time(4, 0), tz).astimezone(UTC)
    out, at = [], start
    while at <= end:
        out.append(at)
        at += CRON_EVERY
    return out


# every zone on SQLite, New York (a gap and an overlap for lists at 00:00, 01:30, 02:30) on
# PostgreSQL too: what the database adds, one edition per (list, period), is the same in
# every zone, and tests/test_scheduler.py runs its DST test on both dialects in every zone
ZONE_CASES = [("sqlite", zone) for zone in sorted(CHANGES)] + [("postgresql", "America/New_York")]


@pytest.mark.slow
@pytest.mark.parametrize(("db_url", "zone"), ZONE_CASES, indirect=["db_url"])
def test_cron_every_30_minutes_gives_one_edition_per_local_day(
    db_url: str, tmp_path: Path, zone: str
) -> None:
    inst = install(tmp_path, db_url, {name: (cron, zone) for name, cron in LISTS.items()})
    days = [d + timedelta(days=k) for d in CHANGES[zone] for k in (0, 1)]
    for day in days:
        for at in _cron_instants(zone, day):
            inst.add_item(at - timedelta(minutes=1))
            result = inst.cli("run", at=at)
            assert result.exit_code == 0, (at, result.output)
    editions = inst.editions()
    for name in LISTS:
        periods = [p for n, p in editions if n == name]
        assert periods == [d.isoformat() for d in days], (zone, name, periods)


def test_digest_run_at_22_does_not_send_the_07_edition(db_url: str, tmp_path: Path) -> None:
    """Issue 10.2: one lateness rule. At 22:00 the 07:00 edition is 15 h late, more than the
    misfire grace: `digest run` records it missed (run report, `digest status`) and sends
    nothing; `digest send LIST --at 07:00` sends it on purpose."""
    inst = install(tmp_path, db_url, {"morning": ("0 7 * * *", "Europe/Berlin")})
    evening = datetime(2026, 2, 18, 21, 0, tzinfo=UTC)  # 22:00 in Berlin
    inst.add_item(datetime(2026, 2, 18, 5, 0, tzinfo=UTC))
    result = inst.cli("run", at=evening)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "morning edition 2026-02-18: missed" in said
    assert "digest send morning --at 2026-02-18T06:00Z" in said
    assert "is 15 h 0 min late" in said  # as `status` says it (one wording: schedule.lateness)
    assert inst.editions() == []
    assert not (tmp_path / "outbox").exists()
    status = inst.cli("status", "--json")
    last = json.loads(status.output)["lists"][0]["last_run"]
    assert (last["status"], last["period"], last["ok"]) == ("missed", "2026-02-18", False)
    # a second cron run the same evening still sends nothing
    assert inst.cli("run", at=evening + timedelta(minutes=30)).exit_code == 0
    assert inst.editions() == []
    sent = inst.cli("send", "morning", at=datetime(2026, 2, 18, 6, 0, tzinfo=UTC))
    assert sent.exit_code == 0, sent.output
    assert inst.editions() == [("morning", "2026-02-18")]
    assert [row[:3] for row in inst.sent()] == [("morning", "2026-02-18", "ada@example.org")]
    # within the grace the cron run sends as usual
    inst.add_item(datetime(2026, 2, 19, 5, 0, tzinfo=UTC))
    assert inst.cli("run", at=datetime(2026, 2, 19, 6, 50, tzinfo=UTC)).exit_code == 0
    assert inst.editions()[-1] == ("morning", "2026-02-19")


def test_send_at_is_the_clock_of_every_decision(db_url: str, tmp_path: Path) -> None:
    """`digest send --at T` builds the edition due at T with T as the clock: the ledger
    and the run's timestamps say T, not the wall clock."""
    inst = install(tmp_path, db_url, {"morning": ("0 7 * * *", "UTC")})
    at = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
    inst.add_item(at - timedelta(hours=1))
    assert inst.cli("poll").exit_code == 0
    assert inst.cli("send", "morning", at=at).exit_code == 0
    (_name, period, _email, updated) = inst.sent()[0]
    assert period == "2026-02-18" and updated.startswith("2026-02-18 07:00")


def test_an_edition_already_started_is_finished_however_late(db_url: str, tmp_path: Path) -> None:
    """A run that finds an unfinished edition of a period past the grace finishes it."""
    inst = install(
        tmp_path,
        db_url,
        {"morning": ("0 7 * * *", "UTC")},
        send_at="07:00",
        subscribers=[("ada@example.org", "UTC"), ("kim@example.org", "Asia/Tokyo")],
    )
    at = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
    inst.add_item(at - timedelta(hours=1))
    assert inst.cli("run", at=at).exit_code == 0
    assert [r[2] for r in inst.sent()] == ["ada@example.org"]  # Tokyo waits for its morning
    late = datetime(2026, 2, 18, 23, 0, tzinfo=UTC)  # 08:00 on 02-19 in Tokyo; 16 h late
    result = inst.cli("run", at=late)
    assert result.exit_code == 0, result.output
    assert sorted(r[2] for r in inst.sent()) == ["ada@example.org", "kim@example.org"]


SUBSCRIBERS = [
    ("ada@example.org", "Europe/London"),
    ("grace@example.org", "America/New_York"),
    ("kim@example.org", "Asia/Tokyo"),
    ("ana@example.org", "America/Santiago"),
]


def _around_the_mornings(first: date, last: date, zones: list[str]) -> list[datetime]:
    """`*/10 * * * *` instants from ``first`` to ``last`` (UTC days) within 10 minutes of the
    04:00 UTC build or of 07:00 in one of ``zones``: the runs where anything can happen. A
    row due early goes out at the run before (or earlier), one due late at the run after
    (or later, or never): either is caught, as it was with every run within 40 minutes,
    at a third of the runs."""
    centres = []
    day = first - timedelta(days=1)
    while day <= last + timedelta(days=1):
        centres.append(datetime.combine(day, time(4, 0), UTC))
        centres += [datetime.combine(day, time(7, 0), ZoneInfo(z)).astimezone(UTC) for z in zones]
        day += timedelta(days=1)
    start, end = datetime.combine(first, time(3, 50), UTC), datetime.combine(last, time(23, 50), UTC)
    out = set()
    for centre in centres:
        for k in (-1, 0, 1):
            at = centre + timedelta(minutes=10 * k)
            if start <= at <= end:
                out.add(at)
    return sorted(out)


@pytest.mark.slow
def test_cron_every_10_minutes_delivers_each_subscriber_at_their_local_time(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 10.3: `send_at` under cron. Built at 04:00 UTC; each subscriber gets it at
    07:00 on their own clock (within one cron interval), one per local day, across the
    change of 2026-03-08 in New York."""
    inst = install(
        tmp_path, db_url, {"morning": ("0 4 * * *", "UTC")}, send_at="07:00",
        subscribers=SUBSCRIBERS,
    )
    for at in _around_the_mornings(date(2026, 3, 7), date(2026, 3, 9), [tz for _, tz in SUBSCRIBERS]):
        if (at.hour, at.minute) == (3, 50):
            inst.add_item(at)
        result = inst.cli("run", at=at)
        assert result.exit_code == 0, (at, result.output)
    sent = inst.sent()
    zones = dict(SUBSCRIBERS)
    by_email: dict[str, list[datetime]] = {}
    for _name, _period, email, updated in sent:
        when = datetime.fromisoformat(updated).replace(tzinfo=UTC)
        by_email.setdefault(email, []).append(when)
    assert set(by_email) == set(zones)
    for email, times in by_email.items():
        local = [t.astimezone(ZoneInfo(zones[email])) for t in times]
        for t in local:  # 07:00 local, delivered by the first run at or after it
            minutes = t.hour * 60 + t.minute - 7 * 60
            assert 0 <= minutes < 10, (email, local)
        dates = [t.date() for t in local]
        assert len(dates) == len(set(dates)), (email, dates)  # never twice a local day
        assert len(dates) >= 2 and dates == [dates[0] + timedelta(days=i) for i in range(len(dates))]


# -- real runs under Debian's faketime (no --at) ---------------------------------------------

FAKETIME = shutil.which("faketime")


def _faketime_run(config: Path, at: datetime) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": "UTC", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [FAKETIME or "faketime", "-f", f"@{at:%Y-%m-%d %H:%M:%S}", sys.executable, "-m", "digest",
         "-c", str(config), "run"],
        capture_output=True, text=True, env=env, timeout=120, cwd=REPO, check=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(FAKETIME is None, reason="Debian's faketime is not installed (.ci/run installs it)")
def test_cron_under_faketime_builds_the_day_after_the_change(
    db_url: str, tmp_path: Path
) -> None:
    """The days APScheduler's cron trigger lost (issue 10.1): 2026-03-09 at 00:00 in New
    York and 2026-09-06 at 00:00 in Santiago, with the process clock faked."""
    inst = install(
        tmp_path, db_url,
        {"ny": ("0 0 * * *", "America/New_York"), "scl": ("0 0 * * *", "America/Santiago")},
    )
    for at in (
        datetime(2026, 3, 8, 5, 10, tzinfo=UTC),  # 00:10 EST on 03-08
        datetime(2026, 3, 9, 4, 10, tzinfo=UTC),  # 00:10 EDT on 03-09
        datetime(2026, 9, 6, 4, 10, tzinfo=UTC),  # 01:10 -03 on 09-06 (00:00 did not exist)
    ):
        inst.add_item(at - timedelta(minutes=15))  # before the edition time
        result = _faketime_run(inst.config, at)
        assert result.returncode == 0, result.stdout + result.stderr
    editions = inst.editions()
    assert [p for n, p in editions if n == "ny"][:2] == ["2026-03-08", "2026-03-09"]
    assert [p for n, p in editions if n == "scl"] == ["2026-09-06"]


def test_a_day_without_news_is_empty_not_missed(db_url: str, tmp_path: Path) -> None:
    """A period built with no stories is a stored fact: a later run of that period (past the
    grace, or within it with news that came later) reports it empty, ok, and builds nothing;
    `digest status` does not trip the `last_run.ok` alert; the late news goes into the next
    day's edition."""
    inst = install(tmp_path, db_url, {"morning": ("0 7 * * *", "UTC")})
    day1 = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
    inst.add_item(day1 - timedelta(hours=1))
    assert inst.cli("run", at=day1).exit_code == 0
    assert inst.editions() == [("morning", "2026-02-18")]
    day2 = day1 + timedelta(days=1)
    first = inst.cli("run", at=day2)  # nothing new since the 18th's edition
    assert first.exit_code == 0, first.output
    assert "morning edition 2026-02-19: empty" in " ".join(first.output.split())
    inst.add_item(day2 + timedelta(minutes=20))  # news after the period was decided
    # later runs restate the stored fact: with -v only (a plain run prints nothing)
    within = inst.cli("-v", "run", at=day2 + timedelta(minutes=40))
    late = inst.cli("-v", "run", at=day2 + timedelta(minutes=70))
    for result in (within, late):
        said = " ".join(result.output.split())
        assert result.exit_code == 0, result.output
        assert "morning edition 2026-02-19: empty" in said, said
        assert "missed" not in said, said
    assert inst.cli("run", at=day2 + timedelta(minutes=75)).output == ""
    assert inst.editions() == [("morning", "2026-02-18")]
    status = json.loads(inst.cli("status", "--json").output)
    last = status["lists"][0]["last_run"]
    assert (last["status"], last["period"], last["ok"]) == ("empty", "2026-02-19", True)
    assert not any("2026-02-19" in job["note"] for job in status["jobs"])
    assert inst.cli("run", at=day1 + timedelta(days=2)).exit_code == 0
    assert inst.editions()[-1] == ("morning", "2026-02-20")


def test_an_empty_build_with_a_source_unread_is_not_an_empty_day(db_url: str, tmp_path: Path) -> None:
    """An outage is not a day without news: when the edition comes out empty while a source
    of the list gave nothing at its last poll (here its file is gone), the run fails (exit 1,
    naming the source) and records no empty day; once the source is back within the grace,
    a later run builds and sends that period's edition."""
    inst = install(tmp_path, db_url, {"morning": ("0 7 * * *", "UTC")})
    day1 = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
    inst.add_item(day1 - timedelta(hours=1))
    assert inst.cli("run", at=day1).exit_code == 0
    day2 = day1 + timedelta(days=1)
    kept = inst.feed.read_text()
    inst.feed.unlink()  # the outage: nothing can be read
    down = inst.cli("run", at=day2)
    said = " ".join(down.output.split())
    assert down.exit_code == 1, down.output
    assert "morning edition 2026-02-19: failed" in said, said
    assert "local" in said and "not recorded as an empty day" in said, said
    inst.feed.write_text(kept)
    inst.add_item(day2 - timedelta(minutes=30))  # what the outage hid
    back = inst.cli("run", at=day2 + timedelta(minutes=50))
    assert back.exit_code == 0, back.output
    assert inst.editions() == [("morning", "2026-02-18"), ("morning", "2026-02-19")]


def test_a_missed_period_is_warned_about_once(db_url: str, tmp_path: Path) -> None:
    """Cron every 10 minutes after a missed morning: the first run logs the `send_missed`
    warning, the later ones of the same period an info line (the report still says missed),
    and the next missed period is warned about again."""
    inst = install(tmp_path, db_url, {"morning": ("0 7 * * *", "UTC")})
    inst.add_item(datetime(2026, 2, 18, 5, 0, tzinfo=UTC))
    start = datetime(2026, 2, 18, 9, 0, tzinfo=UTC)
    outputs = [inst.cli("-v", "run", at=start + timedelta(minutes=10 * k)) for k in range(4)]
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert "morning edition 2026-02-18: missed" in " ".join(result.output.split())
    warned = [r.output.count("level=WARNING send_missed") for r in outputs]
    assert warned == [1, 0, 0, 0], warned
    assert all("level=INFO send_missed" in r.output for r in outputs[1:])
    next_day = inst.cli("run", at=start + timedelta(days=1))
    assert next_day.output.count("level=WARNING send_missed list=morning period=2026-02-19") == 1
