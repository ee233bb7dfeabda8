"""digest.schedule: fire times, periods and lateness on UTC instants, in every IANA zone.

The property: for a daily list at any hour or half hour, in any zone that changes its UTC
offset in 2026-2030, the days around each change get exactly one fire each (none skipped,
none twice), at the crontab's wall time, or the gap's length later when that wall time does
not exist that night; a repeated wall time fires at its first occurrence.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import SimpleNamespace
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest import schedule

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
TIMES = [time(m // 60, m % 60) for m in range(0, 24 * 60, 30)]  # every hour and half hour


def _sched(cron: str, zone: str) -> SimpleNamespace:
    return SimpleNamespace(cron=cron, timezone=zone)


def _daily(at: time, zone: str) -> SimpleNamespace:
    return _sched(f"{at.minute} {at.hour} * * *", zone)


@functools.cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """The UTC instants (to the minute) at which ``zone`` changes its offset in 2026-2030."""
    tz = ZoneInfo(zone)
    out = []
    t = START
    previous = t.astimezone(tz).utcoffset()
    while t < END:
        n = t + timedelta(days=1)
        offset = n.astimezone(tz).utcoffset()
        if offset != previous:
            lo, hi = t, n  # offset(lo) == previous != offset(hi)
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == previous:
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(second=0, microsecond=0))
            previous = offset
        t = n
    return tuple(out)


@functools.cache
def dst_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if transitions(z)))


def check_days_around(zone: str, at: time, change: datetime, *, lookups: bool = True) -> None:
    """Every local day from 3 days before ``change`` to 3 days after has exactly one fire."""
    tz = ZoneInfo(zone)
    found = schedule.fires(_daily(at, zone), change - timedelta(days=4), change + timedelta(days=4))
    days = [date.fromisoformat(f.period) for f in found]
    assert len(days) >= 7, (zone, at, change, days)
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))], (zone, at, change, days)
    assert all(a.at < b.at for a, b in pairwise(found))
    for fire in found:
        assert fire.wall == datetime.combine(date.fromisoformat(fire.period), at)
        local = fire.at.astimezone(tz).replace(tzinfo=None)
        if local != fire.wall:  # the wall time does not exist that night: the gap's length later
            before = (fire.at - timedelta(hours=3)).astimezone(tz).utcoffset()
            after = fire.at.astimezone(tz).utcoffset()
            assert local - fire.wall == after - before > timedelta(0), (zone, fire)
        else:  # it exists: the first occurrence of it
            assert fire.at == fire.wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if lookups:
            assert schedule.latest(_daily(at, zone), fire.at) == fire
            assert schedule.period_key(_daily(at, zone), fire.at) == fire.period


def test_the_zones_with_dst_changes_are_many() -> None:
    zones = dst_zones()
    assert {"America/New_York", "America/Santiago", "Australia/Lord_Howe", "Pacific/Chatham"} <= set(zones)
    assert len(zones) > 100


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_every_zone_and_half_hour_gets_one_fire_per_local_day(data: st.DataObject) -> None:
    zone = data.draw(st.sampled_from(dst_zones()), label="zone")
    at = data.draw(st.sampled_from(TIMES), label="time")
    change = data.draw(st.sampled_from(transitions(zone)), label="change")
    check_days_around(zone, at, change)


def test_every_kind_of_change_at_every_half_hour() -> None:
    """Exhaustive over what matters to the schedule: each distinct (local wall time of the
    change, offset before, offset after) seen in any zone in 2026-2030, at all 48 times."""
    kinds: dict[tuple[object, ...], tuple[str, datetime]] = {}
    for zone in dst_zones():
        tz = ZoneInfo(zone)
        for change in transitions(zone):
            before = (change - timedelta(hours=3)).astimezone(tz)
            after = change.astimezone(tz)
            key = ((change + before.utcoffset()).time(), before.utcoffset(), after.utcoffset())
            kinds.setdefault(key, (zone, change))
    assert len(kinds) > 20, len(kinds)
    for zone, change in kinds.values():
        for at in TIMES:
            check_days_around(zone, at, change, lookups=False)


HARD_CASES = [
    # zone, daily time, local date of the change, the UTC instant of that day's fire
    ("America/New_York", time(0), date(2026, 3, 9), datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),  # issue 10.1
    ("America/New_York", time(2, 30), date(2026, 3, 8), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),  # 03:30 EDT
    ("America/New_York", time(1, 30), date(2026, 11, 1), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),  # first 01:30
    ("America/Los_Angeles", time(0), date(2026, 3, 9), datetime(2026, 3, 9, 7, 0, tzinfo=UTC)),
    ("America/Chicago", time(0), date(2026, 3, 9), datetime(2026, 3, 9, 5, 0, tzinfo=UTC)),
    ("America/Santiago", time(0), date(2026, 9, 6), datetime(2026, 9, 6, 4, 0, tzinfo=UTC)),  # 00:00 skipped: 01:00
    ("America/Santiago", time(0), date(2026, 9, 7), datetime(2026, 9, 7, 3, 0, tzinfo=UTC)),
    ("America/Santiago", time(23, 30), date(2026, 4, 4), datetime(2026, 4, 5, 2, 30, tzinfo=UTC)),  # repeated
    ("Europe/Berlin", time(0), date(2026, 3, 30), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
    ("Europe/Berlin", time(2, 30), date(2026, 3, 29), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # 03:30 CEST
    ("Europe/Berlin", time(2, 30), date(2026, 10, 25), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # first 02:30
    ("Europe/London", time(1, 30), date(2026, 3, 29), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # 02:30 BST
    ("Europe/London", time(1, 30), date(2026, 10, 25), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ("Australia/Sydney", time(0), date(2026, 10, 5), datetime(2026, 10, 4, 13, 0, tzinfo=UTC)),
    ("Australia/Sydney", time(2, 30), date(2026, 10, 4), datetime(2026, 10, 3, 16, 30, tzinfo=UTC)),  # 03:30 AEDT
    ("Australia/Sydney", time(2, 30), date(2026, 4, 5), datetime(2026, 4, 4, 15, 30, tzinfo=UTC)),  # first 02:30
    ("Australia/Lord_Howe", time(2), date(2026, 10, 4), datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),  # 02:30 +11
    ("Australia/Lord_Howe", time(1, 30), date(2026, 4, 5), datetime(2026, 4, 4, 14, 30, tzinfo=UTC)),  # first
    ("Pacific/Chatham", time(2, 45), date(2026, 9, 27), datetime(2026, 9, 26, 14, 0, tzinfo=UTC)),  # 03:45 +13:45
    ("Pacific/Chatham", time(3), date(2026, 4, 5), datetime(2026, 4, 4, 13, 15, tzinfo=UTC)),  # first 03:00
]


@pytest.mark.parametrize(("zone", "at", "day", "fires_at"), HARD_CASES)
def test_hard_cases(zone: str, at: time, day: date, fires_at: datetime) -> None:
    sched = _daily(at, zone)
    found = schedule.fires(sched, fires_at - timedelta(days=3), fires_at + timedelta(days=3))
    days = [date.fromisoformat(f.period) for f in found]
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))] and len(days) >= 5
    i = days.index(day)
    assert found[i].at == fires_at
    # asked from any instant until the next fire, the latest fire is that one
    for minutes in range(0, 60 * 24, 50):
        probe = fires_at + timedelta(minutes=minutes)
        if probe < found[i + 1].at:
            assert schedule.latest(sched, probe) == found[i]
    assert schedule.latest(sched, fires_at - timedelta(seconds=1)) == found[i - 1]
    assert schedule.next_after(sched, found[i - 1].at) == found[i]


def test_a_repeated_hour_fires_once_per_period_for_an_hourly_list() -> None:
    hourly = _sched("30 * * * *", "America/New_York")
    day = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    found = schedule.fires(hourly, day, day + timedelta(hours=4))  # 00:00 EDT to 03:00 EST
    assert [f.period for f in found] == ["2026-11-01T0030", "2026-11-01T0130", "2026-11-01T0230"]
    assert found[2].at - found[1].at == timedelta(hours=2)  # 01:30 EST is not a second period


def test_weekday_numbers_are_crontabs() -> None:
    monday = _sched("0 8 * * 1", "UTC")
    assert schedule.latest(monday, datetime(2026, 2, 22, 12, tzinfo=UTC)).wall.strftime("%A") == "Monday"
    sunday = _sched("0 8 * * 0", "UTC")
    assert schedule.latest(sunday, datetime(2026, 2, 22, 12, tzinfo=UTC)).wall.strftime("%A") == "Sunday"


def test_due_within_the_grace_and_missed_after() -> None:
    """One lateness rule: due while now - fire <= grace, missed after (issue 10.2)."""
    morning = _daily(time(7), "Europe/Berlin")
    grace = timedelta(hours=1)
    fire_at = datetime(2026, 2, 18, 6, 0, tzinfo=UTC)  # 07:00 CET
    on_time = schedule.due(morning, fire_at + timedelta(minutes=59), grace)
    assert on_time is not None and on_time.status == "due" and on_time.fire.period == "2026-02-18"
    late = schedule.due(morning, datetime(2026, 2, 18, 21, 0, tzinfo=UTC), grace)  # 22:00
    assert late is not None and late.missed and late.late == timedelta(hours=15)
    assert schedule.due(_sched("0 7 29 2 *", "UTC"), datetime(2026, 2, 18, tzinfo=UTC), grace) is None


def test_invalid_crontab_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        schedule.validate_cron("0 7 * *")
    with pytest.raises(ValueError):
        schedule.validate_cron("61 7 * * *")
    assert schedule.fires(_daily(time(7), "UTC"), datetime.max.replace(tzinfo=UTC) - timedelta(days=1), datetime.max.replace(tzinfo=UTC)) == []


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(-5, "0 s"), (45, "45 s"), (720, "12 min"), (56074, "15 h 34 min"), (3 * 86400 + 4 * 3600 + 59, "3 days 4 h")],
)
def test_lateness_is_said_as_a_reader_says_it(seconds: int, said: str) -> None:
    """`digest status` said "56074s late" where `digest run` said "934 min late"."""
    assert schedule.lateness(timedelta(seconds=seconds)) == said


@pytest.mark.parametrize(
    ("weekday", "said"),
    [("1-8", "day numbers are 0-7"), ("8", "day numbers are 0-7"), ("5-1", "from low to high"), ("1-fri", "not both")],
)
def test_a_weekday_crontab_cannot_overflow_or_run_backwards(weekday: str, said: str) -> None:
    """The issue: ``0 8 * * 1-8`` (meant Monday to Friday, a typo) passed `digest config
    check` and was sent every day; ``8`` meant Monday (numbers were taken modulo 7)."""
    with pytest.raises(ValueError, match=f"day of week '{weekday}': .*{said}"):
        schedule.validate_cron(f"0 8 * * {weekday}")


def test_a_step_over_every_weekday_counts_from_sunday_as_crontab_does() -> None:
    """``*/2`` is Sunday, Tuesday, Thursday, Saturday in crontab(5); APScheduler, given it
    unchanged, counted from Monday."""
    start, end = datetime(2026, 2, 15, tzinfo=UTC), datetime(2026, 2, 22, tzinfo=UTC)  # Sun..Sun
    days = [f.at.strftime("%a") for f in schedule.fires(_sched("0 7 * * */2", "UTC"), start, end)]
    assert days == ["Sun", "Tue", "Thu", "Sat"]
