"""The scheduler's decisions with an injected clock: catch-up, misfire grace, DST, local-time
delivery, polling intervals and backoff, and the APScheduler timer wiring."""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from digest.config import Config, parse_config
from digest.exceptions import ConfigError
from digest.lease import Lease, current_lease
from digest.scheduler import (
    Decider,
    Missed,
    Poll,
    Publish,
    Resume,
    SchedulerSettings,
    Service,
    Snapshot,
    next_runs,
)
from digest.schedule import fires, latest, local_send_time, next_after
from digest.store import SourceState, Store
from digest.types import Subscriber
from tests.scheduler_fakes import FakeJobs, edition_count

SETTINGS = SchedulerSettings()


def make_config(tmp_path: Path, lists: list[dict[str, Any]], sources: int = 2) -> Config:
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>")
    data = {
        "site": {"postal_address": "1 Example Street, London"},
        "database": {"url": f"sqlite:///{tmp_path / 'digest.db'}"},
        "sources": [
            {"name": f"s{i}", "title": f"S{i}", "path": str(feed)} for i in range(sources)
        ],
        "lists": [{"title": item["name"].title(), "sender": "news@example.org", **item} for item in lists],
    }
    return parse_config(data, tmp_path)


@pytest.fixture
def store(db_url: str) -> Store:
    with Store.open(db_url) as s:
        yield s


def berlin(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Europe/Berlin"))


def service(config: Config, store: Store, **kw: Any) -> tuple[Service, FakeJobs]:
    jobs = FakeJobs(store=store)
    return Service(config, store, jobs=jobs, settings=kw.pop("settings", SETTINGS), **kw), jobs


# -- catch-up and misfire grace -----------------------------------------------------------


def test_one_catch_up_send_after_downtime_across_the_send_time(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}}])
    svc, jobs = service(config, store)
    # up the day before; down from 06:00 until 07:40 (the send time 07:00 passed while down)
    svc.tick(berlin(2026, 2, 17, 7, 1).astimezone(UTC))
    assert [p[2] for p in jobs.published] == ["2026-02-17"]
    outcomes = svc.tick(berlin(2026, 2, 18, 7, 40).astimezone(UTC))
    publishes = [o for o in outcomes if isinstance(o.action, Publish)]
    assert len(publishes) == 1 and publishes[0].status == "sent"
    assert publishes[0].action.at == berlin(2026, 2, 18, 7).astimezone(UTC)  # built for its own time
    # the sources were polled before the publish in the same tick
    assert isinstance(outcomes[0].action, Poll)
    for minute in range(41, 120, 7):
        svc.tick(berlin(2026, 2, 18, 7, 40).astimezone(UTC) + timedelta(minutes=minute - 40))
    assert [p[2] for p in jobs.published] == ["2026-02-17", "2026-02-18"]
    assert edition_count(store) == 2
    run = store.last_runs("send", limit=1)[0]
    assert run.ok and run.report["period"] == "2026-02-18" and run.report["status"] == "sent"


def test_days_of_downtime_coalesce_into_one_send(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}}])
    svc, jobs = service(config, store)
    svc.tick(berlin(2026, 2, 14, 7, 5).astimezone(UTC))
    svc.tick(berlin(2026, 2, 18, 7, 20).astimezone(UTC))  # down for four days
    assert [p[2] for p in jobs.published] == ["2026-02-14", "2026-02-18"]


def test_no_send_when_down_longer_than_the_grace(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}}])
    svc, jobs = service(config, store)
    caplog.set_level(logging.WARNING, logger="digest")
    outcomes = svc.tick(berlin(2026, 2, 18, 8, 30).astimezone(UTC))  # 90 min late, grace 60
    assert jobs.published == []
    missed = [o for o in outcomes if isinstance(o.action, Missed)]
    assert len(missed) == 1 and missed[0].action.period == "2026-02-18"
    lines = [r.getMessage() for r in caplog.records if "send_missed" in r.getMessage()]
    assert len(lines) == 1
    assert "list=daily period=2026-02-18" in lines[0]
    assert "late_seconds=5400 grace_seconds=3600: not sent" in lines[0]
    run = store.last_runs("send", limit=1)[0]
    assert not run.ok and run.report["status"] == "missed"
    assert "digest send daily --at 2026-02-18T06:00Z" in run.report["message"]
    # digest status: the send job names the next period and the missed one
    job = {j.id: j for j in next_runs(config, store, now=berlin(2026, 2, 18, 8, 30).astimezone(UTC))}["send:daily"]
    assert job.next_run == berlin(2026, 2, 19, 7).astimezone(UTC)
    assert job.note.startswith("period 2026-02-19; missed: period 2026-02-18 is 1 h 30 min late")
    # later ticks neither send nor repeat the warning; the next day sends on time
    for hour in range(9, 24):
        svc.tick(berlin(2026, 2, 18, hour).astimezone(UTC))
    assert len([r for r in caplog.records if "send_missed" in r.getMessage()]) == 1
    # nor does a restarted service: the warning was given once for the period (stored)
    again, _jobs = service(config, store)
    again.tick(berlin(2026, 2, 18, 23, 30).astimezone(UTC))
    assert len([r for r in caplog.records if "send_missed" in r.getMessage()]) == 1
    svc.tick(berlin(2026, 2, 19, 7, 0).astimezone(UTC))
    assert [p[2] for p in jobs.published] == ["2026-02-19"]


def test_grace_is_a_setting(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}])
    svc, jobs = service(config, store, settings=SchedulerSettings(misfire_grace_seconds=3 * 3600))
    svc.tick(datetime(2026, 2, 18, 9, 59, tzinfo=UTC))
    assert [p[2] for p in jobs.published] == ["2026-02-18"]


def test_an_empty_edition_is_not_retried_every_tick(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}])
    svc, jobs = service(config, store)
    calls = []

    def empty(list_config: Any, *, at: datetime, now: datetime, **_kw: Any) -> Any:
        from digest.types import ListReport

        calls.append(at)
        store.record_empty_period(list_config.name, "2026-02-18", at=now)  # as publish does
        return ListReport(list_name=list_config.name, status="empty", period="2026-02-18")

    jobs.publish = empty  # type: ignore[method-assign]
    for minute in range(0, 50, 5):
        svc.tick(datetime(2026, 2, 18, 7, minute, tzinfo=UTC))
    assert len(calls) == 1
    # a restarted service knows it from the store: the empty period is not reported missed
    again, jobs = service(config, store)
    outcomes = again.tick(datetime(2026, 2, 18, 9, 30, tzinfo=UTC))
    assert [o.status for o in outcomes if o.status == "missed"] == []
    assert jobs.published == []


# -- DST: exactly one edition per list per local day ------------------------------------


DST_CASES = [
    # zone, cron, first local day simulated (the change is on the second or third day)
    ("America/New_York", "0 7 * * *", date(2026, 3, 7)),
    ("America/New_York", "30 2 * * *", date(2026, 3, 7)),  # 02:30 does not exist on 03-08
    ("America/New_York", "0 7 * * *", date(2026, 10, 31)),
    ("America/New_York", "30 1 * * *", date(2026, 10, 31)),  # 01:30 happens twice on 11-01
    ("Europe/Berlin", "0 7 * * *", date(2026, 3, 28)),
    ("Europe/Berlin", "30 2 * * *", date(2026, 3, 28)),  # 02:30 does not exist on 03-29
    ("Europe/Berlin", "0 7 * * *", date(2026, 10, 24)),
    ("Europe/Berlin", "30 2 * * *", date(2026, 10, 24)),  # 02:30 happens twice on 10-25
    # midnight the day after a change: APScheduler's cron trigger lost these (issue 10.1)
    ("America/New_York", "0 0 * * *", date(2026, 3, 7)),  # 03-09
    ("Europe/Berlin", "0 0 * * *", date(2026, 3, 28)),  # 03-30
    ("America/Santiago", "0 0 * * *", date(2026, 9, 4)),  # 09-06: midnight does not exist
    ("Australia/Sydney", "0 0 * * *", date(2026, 10, 3)),  # 10-05
]


@pytest.mark.parametrize(("zone", "cron", "first"), DST_CASES)
def test_exactly_one_edition_per_day_across_dst(
    tmp_path: Path, store: Store, zone: str, cron: str, first: date
) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": cron, "timezone": zone}}], sources=1)
    svc, jobs = service(config, store)
    tz = ZoneInfo(zone)
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = start + timedelta(days=4) - timedelta(hours=2)  # before day 5's midnight
    now = start
    while now < end:
        svc.tick(now)
        now += timedelta(minutes=30)
    periods = [p[2] for p in jobs.published]
    expected = [(first + timedelta(days=i)).isoformat() for i in range(4)]
    assert periods == expected  # one per day, none skipped, none twice
    hour, minute = int(cron.split()[1]), int(cron.split()[0])
    for _name, at, period in jobs.published:
        local = at.astimezone(tz)
        assert local.date().isoformat() == period
        # the wall time is the cron's, or an hour later on the spring day it does not exist
        assert (local.hour, local.minute) in {(hour, minute), (hour + 1, minute)}
    # the timer firing twice in the repeated hour changes nothing: tick at both instants again
    for fire in fires(config.lists[0].schedule, start, end):
        svc.tick(fire.at)
        svc.tick(fire.at + timedelta(seconds=1))
    assert [p[2] for p in jobs.published] == expected


def test_schedule_arithmetic_in_the_repeated_hour() -> None:
    from digest.config import ListConfig, ScheduleConfig

    lc = ListConfig(
        name="x", title="X", sender="a@example.org",
        schedule=ScheduleConfig(cron="30 1 * * *", timezone="America/New_York"),
    )
    day = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    found = fires(lc.schedule, day, day + timedelta(days=1))
    # 01:30 happens twice (EDT, then EST): it fires once, at the first
    assert [f.at for f in found] == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]
    assert found[0].period == "2026-11-01"
    assert latest(lc.schedule, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)) == found[0]
    assert next_after(lc.schedule, found[0].at).at == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


# -- local-time delivery ----------------------------------------------------------------


ZONES = ("America/New_York", "Europe/Berlin", "Asia/Tokyo")


# each window holds one DST change: New York spring, Berlin spring, Berlin autumn, New York autumn
@pytest.mark.parametrize("first", [date(2026, 3, 6), date(2026, 3, 27), date(2026, 10, 23), date(2026, 10, 30)])
def test_local_time_delivery_in_three_timezones(tmp_path: Path, store: Store, first: date) -> None:
    """One edition a day (built 04:00 UTC); each subscriber gets it at 07:00 on their own
    clock, one per local day, across the DST changes of New York and Berlin."""
    config = make_config(
        tmp_path,
        [{"name": "morning", "schedule": {"cron": "0 4 * * *", "timezone": "UTC"}, "send_at": "07:00"}],
        sources=1,
    )
    start = datetime.combine(first, time(0), UTC)
    subs = {}
    for zone in ZONES:
        sub, _ = store.add_subscriber(
            Subscriber(list_name="morning", email=f"{zone.split('/')[1].lower()}@example.org", timezone=zone),
            now=start,
        )
        subs[sub.id] = zone
    svc, jobs = service(config, store)
    days = 4
    now = start
    while now < start + timedelta(days=days):
        svc.tick(now)
        now += timedelta(hours=1)
    assert len(jobs.published) == days  # one edition per day
    by_sub: dict[int, list[datetime]] = defaultdict(list)
    for _edition, subscriber, at in jobs.sent:
        by_sub[subscriber].append(at)
    assert set(by_sub) == set(subs)
    for sub_id, zone in subs.items():
        local = [t.astimezone(ZoneInfo(zone)) for t in by_sub[sub_id]]
        assert all((t.hour, t.minute) == (7, 0) for t in local), (zone, local)
        dates = [t.date() for t in local]
        assert len(dates) == len(set(dates))  # never twice on one local day
        # consecutive local days, none skipped
        assert dates == [dates[0] + timedelta(days=i) for i in range(len(dates))]
        assert len(dates) >= days - 1
    # each edition went to each subscriber at most once
    pairs = Counter((e, s) for e, s, _ in jobs.sent)
    assert max(pairs.values()) == 1


def test_local_send_time_keeps_one_day_offset_through_the_year() -> None:
    """Built 06:30 UTC; a London reader at 07:00: in summer 07:00 BST is 06:00 UTC, before
    the build, so the row goes out at the build (late, once), never twice on one day."""
    seen: set[date] = set()
    previous: date | None = None
    for offset in range(366):
        built = datetime(2026, 1, 1, 6, 30, tzinfo=UTC) + timedelta(days=offset)
        at = local_send_time(
            scheduled=built, list_timezone="UTC", subscriber_timezone="Europe/London", send_at=time(7)
        )
        local_day = at.astimezone(ZoneInfo("Europe/London")).date()
        assert local_day not in seen
        assert previous is None or local_day == previous + timedelta(days=1)
        seen.add(local_day)
        previous = local_day
        assert at.astimezone(ZoneInfo("Europe/London")).time() == time(7)


def test_local_send_time_for_a_reader_ahead_of_the_list() -> None:
    built = datetime(2026, 2, 18, 7, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 06:00 UTC
    tokyo = local_send_time(scheduled=built, list_timezone="Europe/Berlin", subscriber_timezone="Asia/Tokyo", send_at=time(7))
    assert tokyo == datetime(2026, 2, 19, 7, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # next morning there
    la = local_send_time(scheduled=built, list_timezone="Europe/Berlin", subscriber_timezone="America/Los_Angeles", send_at=time(7))
    assert la == datetime(2026, 2, 18, 7, 0, tzinfo=ZoneInfo("America/Los_Angeles"))


def test_send_at_must_be_a_clock_time(tmp_path: Path) -> None:
    assert make_config(tmp_path, [{"name": "m", "send_at": "07:00"}]).lists[0].send_at == "07:00"
    with pytest.raises(ConfigError):
        make_config(tmp_path, [{"name": "m", "send_at": "7am"}])
    with pytest.raises(ValueError):
        SchedulerSettings(lease_seconds=30, renew_seconds=20)


# -- polling -----------------------------------------------------------------------------


def test_decider_polls_due_sources_and_skips_backing_off_ones(tmp_path: Path) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}], sources=3)
    decider = Decider(config, SETTINGS)
    now = datetime(2026, 2, 18, 12, tzinfo=UTC)
    snapshot = Snapshot(
        editions={"daily": frozenset({"2026-02-18"})},
        sources={
            "s0": SourceState(name="s0", next_poll_at=now - timedelta(minutes=1)),
            "s1": SourceState(name="s1", next_poll_at=now + timedelta(minutes=5)),
        },
    )
    assert decider.decide(now, snapshot) == [Poll(("s0", "s2"))]  # s2 never polled
    # at send time: sources polled first, but a failing source backing off is left alone
    at7 = datetime(2026, 2, 19, 7, tzinfo=UTC)
    snapshot = Snapshot(
        editions={"daily": frozenset({"2026-02-18"})},
        sources={
            "s0": SourceState(name="s0", last_fetch_at=at7 - timedelta(minutes=20), next_poll_at=at7 + timedelta(minutes=10)),
            "s1": SourceState(name="s1", last_fetch_at=at7 - timedelta(minutes=1), next_poll_at=at7 + timedelta(minutes=29)),
            "s2": SourceState(name="s2", error_count=3, next_poll_at=at7 + timedelta(hours=3)),
        },
        due_deliveries=4,
    )
    assert decider.decide(at7, snapshot) == [
        Poll(("s0",)),
        Publish("daily", at7, "2026-02-19"),
        Resume(4),
    ]


def test_service_records_next_poll_and_a_poll_run(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}])
    svc, jobs = service(config, store)
    now = datetime(2026, 2, 18, 12, tzinfo=UTC)
    svc.tick(now)
    svc.tick(now + timedelta(minutes=10))
    assert len(jobs.polled) == 1  # not due again for 30 minutes
    assert store.source_state("s0").next_poll_at == now + timedelta(minutes=30)
    svc.tick(now + timedelta(minutes=30))
    assert len(jobs.polled) == 2
    run = store.last_runs("poll", limit=1)[0]
    assert run.ok and run.report["counts"] == {"ok": 2}
    jobs_now = {j.id: j for j in next_runs(config, store, now=now + timedelta(minutes=31))}
    assert jobs_now["poll:s0"].next_run == now + timedelta(minutes=60)
    assert jobs_now["send:daily"].next_run == datetime(2026, 2, 19, 7, tzinfo=UTC)


# -- restart: queued deliveries continue ----------------------------------------------------


def test_a_restart_continues_queued_deliveries(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}], sources=1)
    for i in range(5):
        store.add_subscriber(Subscriber(list_name="daily", email=f"r{i}@example.org"), now=datetime(2026, 2, 1, tzinfo=UTC))
    svc, jobs = service(config, store)
    stop_after = 2
    original = jobs._deliver

    def interrupted(now: datetime, stop: threading.Event) -> int:
        # a SIGTERM arrives during the third delivery: that one finishes, the rest wait
        class StopAfter(threading.Event):
            def is_set(self) -> bool:
                return len(jobs.sent) >= stop_after

        return original(now, StopAfter())

    jobs._deliver = interrupted  # type: ignore[method-assign]
    svc.tick(datetime(2026, 2, 18, 7, 0, tzinfo=UTC))
    assert len(jobs.sent) == 2
    # restarted process, same store
    svc2, jobs2 = service(config, store)
    outcomes = svc2.tick(datetime(2026, 2, 18, 7, 3, tzinfo=UTC))
    assert [type(o.action) for o in outcomes] == [Resume]
    assert len(jobs2.sent) == 3
    assert len(jobs2.published) == 0
    assert sorted(s for _, s, _ in jobs.sent + jobs2.sent) == [1, 2, 3, 4, 5]


# -- the long-running service: lease, timer, stop ------------------------------------------


def test_serve_registers_timer_jobs_and_releases_the_lease_on_stop(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [
        {"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}},
        {"name": "weekly", "schedule": {"cron": "0 8 * * mon", "timezone": "America/New_York"}},
    ])
    settings = SchedulerSettings(tick_seconds=0.2, lease_seconds=10, renew_seconds=0.1, misfire_grace_seconds=1800)
    svc, _jobs = service(config, store, settings=settings, holder="tester")
    ticks: list[datetime] = []
    real_tick = svc.tick

    def counting_tick(now: datetime | None = None) -> Any:
        ticks.append(datetime.now(UTC))
        return real_tick(now)

    svc.tick = counting_tick  # type: ignore[method-assign]
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(svc.serve()))
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while len(ticks) < 3 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        assert len(ticks) >= 3  # the catch-up tick, then the timer's ticks
        assert current_lease(store).holder == "tester"  # type: ignore[union-attr]
    finally:
        svc.request_stop()
        thread.join(5)
    assert result == [0]
    assert current_lease(store) is None
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    jobstore = SQLAlchemyJobStore(engine=store.engine, tablename="apscheduler_jobs")
    jobstore.start(None, "default")  # type: ignore[arg-type]
    stored = {job.id: job for job in jobstore.get_all_jobs()}
    assert set(stored) == {"tick", "send:daily", "send:weekly"}
    for job in stored.values():
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 1800
        assert job.func_ref == "digest.scheduler:run_job"
    trigger = stored["send:daily"].trigger
    assert (trigger.cron, trigger.timezone) == ("0 7 * * *", "Europe/Berlin")
    # its fire times are digest.schedule's, which APScheduler's CronTrigger gets wrong:
    ny = type(trigger)("0 0 * * *", "America/New_York")
    after = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # midnight of 03-08 in New York
    assert ny.get_next_fire_time(after, after) == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)


def test_a_service_whose_clock_runs_ahead_waits_for_a_live_holders_lease(
    tmp_path: Path, store: Store
) -> None:
    """The scheduler lease is stamped and compared on the store's lease clock (PostgreSQL's
    now(), as delivery leases are), not on the service's own clock: a second `digest schedule`
    whose clock ran 5 minutes ahead (another host without NTP; `faketime -f +5m`) took a live
    holder's 90 s lease at once, and the holder found out only at its next renewal."""
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}])
    assert Lease(store, holder="host-a:123:abcdef", ttl=timedelta(seconds=90)).acquire()
    settings = SchedulerSettings(wait_seconds=0.05, lease_seconds=10, renew_seconds=1)
    ahead = lambda: datetime.now(UTC) + timedelta(minutes=5)  # noqa: E731
    svc, _ = service(config, store, settings=settings, holder="host-b:456:fedcba", clock=ahead)
    seen: list[str | None] = []

    def on_wait(info: Any) -> None:
        seen.append(info.holder if info else None)
        svc.request_stop()

    import threading

    stop = threading.Timer(3, svc.request_stop)  # a service that took the lease stops too
    stop.start()
    try:
        assert svc.serve(on_wait=on_wait) == 0
    finally:
        stop.cancel()
    assert seen == ["host-a:123:abcdef"]


def test_a_second_service_waits_and_names_the_holder(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}])
    assert Lease(store, holder="host-a:123:abcdef", ttl=timedelta(minutes=5)).acquire()
    settings = SchedulerSettings(wait_seconds=0.05, lease_seconds=10, renew_seconds=1)
    svc, jobs = service(config, store, settings=settings, holder="host-b:456:fedcba")
    seen: list[str | None] = []

    def on_wait(info: Any) -> None:
        seen.append(info.holder if info else None)
        svc.request_stop()

    assert svc.serve(on_wait=on_wait) == 0
    assert seen == ["host-a:123:abcdef"]
    assert jobs.polled == [] and jobs.published == []
    assert current_lease(store).holder == "host-a:123:abcdef"  # type: ignore[union-attr]


def test_a_crashing_action_is_reported_and_the_tick_goes_on(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, [{"name": "daily", "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}])
    svc, jobs = service(config, store)

    def broken_poll(sources: Any, *, now: datetime) -> Any:
        raise TypeError("a bug in polling")

    jobs.poll = broken_poll  # type: ignore[method-assign]
    outcomes = svc.tick(datetime(2026, 2, 18, 7, 5, tzinfo=UTC))
    assert [(type(o.action), o.status) for o in outcomes] == [(Poll, "failed"), (Publish, "sent")]
    assert "action_crashed action=poll" in caplog.text
    assert not store.last_runs("poll", limit=1)[0].ok


def test_pipeline_jobs_forward_the_local_time_and_stop_hooks(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default wiring hands the stop flag to digest.pipeline (which applies send_at)."""
    from digest import pipeline
    from digest.scheduler import PipelineJobs
    from digest.types import ListReport

    calls: list[dict[str, Any]] = []

    def fake_publish(config: Any, store: Any, list_config: Any, **kw: Any) -> Any:
        calls.append(kw)
        return ListReport(list_name=list_config.name, status="sent")

    def fake_resume(config: Any, store: Any, **kw: Any) -> Any:
        calls.append(kw)
        return []

    monkeypatch.setattr(pipeline, "publish", fake_publish)
    monkeypatch.setattr(pipeline, "resume", fake_resume)
    config = make_config(tmp_path, [{"name": "daily"}])
    jobs = PipelineJobs(config, store)
    at = datetime(2026, 2, 18, 7, tzinfo=UTC)
    stop = threading.Event()
    assert jobs.publish(config.lists[0], at=at, now=at, stop=stop).status == "sent"
    assert "not_before" not in calls[0]
    assert calls[0]["should_stop"]() is False
    stop.set()
    assert calls[0]["should_stop"]() is True
    assert jobs.resume(now=at, stop=stop) == [] and calls[1]["should_stop"]() is True

