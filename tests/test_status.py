"""`digest status`: next runs, last runs per list, deliveries per state, failing and silent
sources, the lease holder; as data, as JSON and as the printed command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import insert

from digest.cli import cli
from digest.config import Config, load_config
from digest.lease import Lease
from digest.status import gather, silent_for, usual_gap
from digest.store import SourceState, Store, deliveries
from digest.types import Entry, Subscriber

NOW = datetime(2026, 2, 18, 9, 30, tzinfo=UTC)


def write_config(tmp_path: Path, db_url: str) -> Path:
    """A config with three sources and two lists on the database ``db_url``."""
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>")
    data = {
        "site": {"postal_address": "1 Example Street, London"},
        "database": {"url": db_url},
        "sources": [
            {"name": "steady", "title": "Steady", "path": "feed.xml"},
            {"name": "broken", "title": "Broken", "path": "feed.xml"},
            {"name": "quiet", "title": "Quiet", "path": "feed.xml"},
        ],
        "lists": [
            {"name": "daily", "title": "Daily", "sender": "news@example.org",
             "schedule": {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}},
            {"name": "weekly", "title": "Weekly", "sender": "news@example.org",
             "schedule": {"cron": "0 8 * * mon", "timezone": "UTC"}},  # numeric weekdays: see report
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def entry(source: str, n: int, at: datetime) -> Entry:
    return Entry(source=source, entry_id=f"{source}-{n}", title=f"{source} {n}", content_hash=str(n),
                 published=at, first_seen=at)


@pytest.fixture
def populated(db_url: str, tmp_path: Path) -> Iterator[tuple[Config, Store]]:
    config = load_config(write_config(tmp_path, db_url))
    store = Store.open(config.database.url)
    # steady: an entry every hour, the last one 30 minutes ago
    store.upsert_entries([entry("steady", i, NOW - timedelta(minutes=30) - timedelta(hours=i)) for i in range(20)], now=NOW)
    store.save_source_state(SourceState("steady", last_status="ok", last_ok_at=NOW, last_new_at=NOW - timedelta(minutes=30),
                                        next_poll_at=NOW + timedelta(minutes=20)))
    # quiet: usually every two hours, nothing new for three days
    store.upsert_entries([entry("quiet", i, NOW - timedelta(days=3) - timedelta(hours=2 * i)) for i in range(10)], now=NOW - timedelta(days=3))
    store.save_source_state(SourceState("quiet", last_status="ok", last_ok_at=NOW, last_new_at=NOW - timedelta(days=3),
                                        next_poll_at=NOW + timedelta(minutes=5)))
    # broken: four failures in a row
    store.save_source_state(SourceState("broken", last_status="failed", last_error="HTTP 503", error_count=4,
                                        last_ok_at=NOW - timedelta(hours=5), next_poll_at=NOW + timedelta(hours=4)))
    # today's daily edition: 3 sent, 1 failed, 1 queued for later (local-time delivery)
    edition_id = store.create_edition(list_name="daily", period="2026-02-18", window_start=NOW - timedelta(days=1),
                                      window_end=NOW - timedelta(hours=3, minutes=30), now=NOW - timedelta(hours=3),
                                      subject="Daily", preheader="", html="", text="",
                                      carried=[("steady", "steady-1", "k1", None), ("steady", "steady-2", "k2", None)])
    subs = [store.add_subscriber(Subscriber(list_name="daily", email=f"r{i}@example.org"), now=NOW)[0] for i in range(5)]
    states = ["sent", "sent", "sent", "failed", "queued"]
    with store.begin() as conn:
        conn.execute(insert(deliveries), [
            {"edition_id": edition_id, "subscriber_id": s.id, "state": st, "attempts": 1,
             "created_at": NOW, "updated_at": NOW,
             "not_before": NOW + timedelta(hours=2) if st == "queued" else None}
            for s, st in zip(subs, states, strict=True)
        ])
    store.record_run("send", started_at=NOW - timedelta(hours=3), finished_at=NOW - timedelta(hours=3), ok=False,
                     report={"list_name": "daily", "period": "2026-02-18", "status": "failed",
                             "message": "1 failed, 1 still queued", "deliveries": {"sent": 3, "failed": 1, "queued": 1}})
    store.record_run("send", started_at=NOW - timedelta(days=2), finished_at=NOW - timedelta(days=2), ok=False,
                     report={"list_name": "weekly", "period": "2026-02-16", "status": "missed",
                             "message": "the edition scheduled at 2026-02-16 08:00 UTC is 7200s late"})
    store.record_run("poll", started_at=NOW, finished_at=NOW, ok=False,
                     report={"counts": {"ok": 2, "failed": 1}, "new_entries": 4, "sources": []})
    assert Lease(store, holder="host-a:4242:abcdef", ttl=timedelta(seconds=90), clock=lambda: NOW).acquire()
    yield config, store
    store.close()


def test_gather_reports_every_part(populated: tuple[Config, Store]) -> None:
    config, store = populated
    status = gather(config, store, now=NOW)
    assert status.lease is not None and status.lease.holder == "host-a:4242:abcdef"
    assert not status.lease_expired
    jobs = {j.id: j for j in status.jobs}
    assert jobs["send:daily"].next_run == datetime(2026, 2, 19, 6, 0, tzinfo=UTC)  # 07:00 Berlin
    assert jobs["send:weekly"].next_run == datetime(2026, 2, 23, 8, 0, tzinfo=UTC)
    assert jobs["poll:steady"].next_run == NOW + timedelta(minutes=20)
    assert "backing off after 4 failures" in jobs["poll:broken"].note
    assert jobs["deliver"].next_run == NOW + timedelta(hours=2)
    daily, weekly = status.lists
    assert daily.last_edition is not None and daily.last_edition.period == "2026-02-18"
    assert daily.last_edition.deliveries == {"sent": 3, "failed": 1, "queued": 1}
    assert daily.last_run is not None and daily.last_run.status == "failed" and not daily.last_run.ok
    assert weekly.last_edition is None and weekly.last_run.status == "missed"  # type: ignore[union-attr]
    assert status.deliveries == {"sent": 3, "failed": 1, "queued": 1}
    problems = {s.name: s for s in status.sources}
    assert set(problems) == {"broken", "quiet"}  # steady is fine
    assert problems["broken"].problem == "failing" and "HTTP 503" in problems["broken"].detail
    assert problems["quiet"].problem == "silent"
    assert "no new entry for 3d (usually every 2h)" == problems["quiet"].detail
    assert [r.kind for r in status.runs] == ["poll", "send", "send"]
    assert status.runs[0].summary == "3 sources (failed 1, ok 2), 4 new entries"


def test_expired_lease_is_flagged(populated: tuple[Config, Store]) -> None:
    config, store = populated
    status = gather(config, store, now=NOW + timedelta(minutes=5))
    assert status.lease_expired
    assert status.to_dict()["lease"]["expired"] is True


def test_due_list_shows_as_due_now(populated: tuple[Config, Store]) -> None:
    config, store = populated
    at = datetime(2026, 2, 23, 8, 20, tzinfo=UTC)  # Monday, 20 min after the weekly send
    jobs = {j.id: j for j in gather(config, store, now=at).jobs}
    assert jobs["send:weekly"].next_run == datetime(2026, 2, 23, 8, 0, tzinfo=UTC)
    assert jobs["send:weekly"].note == "due now (period 2026-02-23)"


def test_silence_is_relative_to_the_usual_gap() -> None:
    hourly = [NOW - timedelta(hours=i) for i in range(10)]
    assert usual_gap(hourly) == timedelta(hours=1)
    assert usual_gap(hourly[:2]) is None
    # hourly source quiet for 30 hours: silent (4 x 1h, at least 24h)
    assert silent_for(NOW - timedelta(hours=30), hourly, now=NOW, factor=4, min_hours=24) == timedelta(hours=30)
    assert silent_for(NOW - timedelta(hours=20), hourly, now=NOW, factor=4, min_hours=24) is None
    # a weekly source quiet for 10 days is as usual
    weekly = [NOW - timedelta(days=7 * i) for i in range(6)]
    assert silent_for(NOW - timedelta(days=10), weekly, now=NOW, factor=4, min_hours=24) is None
    assert silent_for(None, weekly, now=NOW, factor=4, min_hours=24) is None


def test_status_command_json_and_text(populated: tuple[Config, Store], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", str(tmp_path / "config.yaml"), "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"now", "lease", "jobs", "timer", "lists", "deliveries", "sources", "runs"}
    assert data["lease"]["holder"] == "host-a:4242:abcdef"
    assert data["deliveries"] == {"failed": 1, "queued": 1, "sent": 3}
    problems = {s["name"]: s["problem"] for s in data["sources"]}
    assert problems["broken"] == "failing" and problems["quiet"] == "silent"  # (steady too: the real clock is later)
    assert [item["name"] for item in data["lists"]] == ["daily", "weekly"]
    assert data["lists"][0]["last_edition"]["created_at"] == "2026-02-18T06:30:00Z"
    assert {j["id"] for j in data["jobs"]} >= {"send:daily", "send:weekly", "poll:steady", "poll:broken", "poll:quiet"}

    result = runner.invoke(cli, ["-c", str(tmp_path / "config.yaml"), "status"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    # the real clock is later than NOW: the lease has expired by now
    assert "expired" in out and "host-a:4242:abcdef" in out
    for text in ("send:daily", "poll:broken", "failing", "silent", "HTTP 503", "sent 3", "failed 1", "queued 1"):
        assert text in out, text


def test_a_source_with_entries_more_often_than_hourly_shows_its_gap_in_minutes(
    db_url: str, tmp_path: Path
) -> None:
    """An operator saw "usually every 0h" for a source that posts every 20 minutes."""
    config = load_config(write_config(tmp_path, db_url))
    now = datetime.now(UTC)
    last = now - timedelta(days=3)
    with Store.open(config.database.url) as store:
        store.upsert_entries([entry("quiet", i, last - timedelta(minutes=20 * i)) for i in range(30)], now=last)
        store.save_source_state(SourceState("quiet", last_status="ok", last_ok_at=now, last_new_at=last,
                                            next_poll_at=now + timedelta(minutes=5)))
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "config.yaml"), "status"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "no new entry for 3d (usually every 20m)" in result.output, result.output
    assert "every 0h" not in result.output
