"""Edition periods and windows: pure functions of the schedule and the times given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.config import parse_config
from digest.edition import edition_time, edition_window, next_edition_time, period_of


def _list(cron: str = "0 7 * * *", tz: str = "UTC"):
    config = parse_config(
        {
            "site": {"postal_address": "1 Example Street, Springfield"},
            "sources": [{"name": "a", "title": "A", "path": "a.xml"}],
            "lists": [
                {
                    "name": "daily",
                    "title": "Daily",
                    "sender": "D <d@example.org>",
                    "schedule": {"cron": cron, "timezone": tz},
                }
            ],
        },
        Path("/tmp"),
    )
    return config.lists[0]


def test_demo_time_names_the_morning_edition() -> None:
    lst = _list()
    at = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
    scheduled = edition_time(lst, at)
    assert scheduled == at
    assert period_of(lst, scheduled) == "2026-02-18"
    # an hour before the send time, the edition due is the previous morning's
    before = edition_time(lst, at - timedelta(hours=1))
    assert period_of(lst, before) == "2026-02-17"
    assert next_edition_time(lst, at) == at + timedelta(days=1)


def test_local_timezone_schedule() -> None:
    lst = _list(tz="America/New_York")
    at = datetime(2026, 3, 8, 12, 30, tzinfo=UTC)  # DST starts in New York that morning
    scheduled = edition_time(lst, at)
    assert scheduled.hour == 7 and scheduled.utcoffset() == timedelta(hours=-4)
    assert period_of(lst, scheduled) == "2026-03-08"


def test_several_times_a_day_get_distinct_periods() -> None:
    lst = _list(cron="0 7,19 * * *")
    morning = edition_time(lst, datetime(2026, 2, 18, 8, tzinfo=UTC))
    evening = edition_time(lst, datetime(2026, 2, 18, 20, tzinfo=UTC))
    assert period_of(lst, morning) != period_of(lst, evening)


def test_window_starts_at_previous_edition_but_never_beyond_max_age() -> None:
    end = datetime(2026, 2, 18, 7, tzinfo=UTC)
    assert edition_window(end, None, 36) == (end - timedelta(hours=36), end)
    prev = end - timedelta(hours=24)
    assert edition_window(end, prev, 36) == (prev, end)
    long_ago = end - timedelta(days=10)
    assert edition_window(end, long_ago, 36) == (end - timedelta(hours=36), end)


def test_crontab_weekday_numbers_mean_what_crontab_means() -> None:
    # 1 is Monday in crontab; APScheduler's own from_crontab would take it as Tuesday
    lst = _list(cron="0 8 * * 1")
    fire = edition_time(lst, datetime(2026, 2, 22, 12, tzinfo=UTC))  # a Sunday
    assert fire.strftime("%A") == "Monday"
    weekend = _list(cron="0 9 * * 0,6")
    assert {edition_time(weekend, datetime(2026, 2, d, 12, tzinfo=UTC)).strftime("%a") for d in range(16, 23)} == {"Sat", "Sun"}
    weekdays = _list(cron="0 9 * * 1-5")
    assert edition_time(weekdays, datetime(2026, 2, 22, 12, tzinfo=UTC)).strftime("%a") == "Fri"


def test_repeated_autumn_hour_neither_hangs_nor_looks_ahead() -> None:
    lst = _list(cron="30 1 * * *", tz="America/New_York")
    at = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT->EST night, second 01:30
    scheduled = edition_time(lst, at)
    assert scheduled is not None and scheduled <= at
    assert period_of(lst, scheduled) == "2026-11-01"
