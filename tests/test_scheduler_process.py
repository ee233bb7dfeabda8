"""`digest schedule` as real processes on one database (each test on SQLite and on
PostgreSQL): one acts, the other waits and names the holder; SIGTERM during a delivery
finishes it, releases the lease and exits 0; a restart delivers the rest; a killed holder's
lease is taken over once it expires.

The pipeline is replaced by tests/scheduler_fakes.py (DIGEST_SCHEDULER_JOBS), which stores
real editions and ledger rows and logs every send to a file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import insert

from digest.lease import current_lease
from digest.store import Store, deliveries
from digest.types import Subscriber
from tests.scheduler_fakes import edition_count

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def setup_db(tmp_path: Path, url: str, subscribers: int) -> Path:
    """A config whose daily list was due a minute ago, on the database at ``url`` (migrated
    here), with subscribers."""
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>")
    due = datetime.now(UTC) - timedelta(minutes=1)
    data = {
        "site": {"postal_address": "1 Example Street, London"},
        "database": {"url": url},
        "sources": [{"name": "s0", "title": "S0", "path": "feed.xml"}],
        "lists": [
            {"name": "daily", "title": "Daily", "sender": "news@example.org",
             "schedule": {"cron": f"{due.minute} {due.hour} * * *", "timezone": "UTC"}},
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with Store.open(url) as store:
        for i in range(subscribers):
            store.add_subscriber(Subscriber(list_name="daily", email=f"r{i}@example.org"), now=due)
    return path


def start(config: Path, name: str, log: Path, *, delay: float = 0.0, lease: float = 3.0) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DIGEST_SCHEDULER_JOBS": "tests.scheduler_fakes:make_jobs",
        "DIGEST_FAKE_LOG": str(log),
        "DIGEST_FAKE_NAME": name,
        "DIGEST_FAKE_SEND_DELAY": str(delay),
    }
    err = (log.parent / f"{name}.err").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", "-c", str(config), "schedule",
         "--tick-seconds", "0.3", "--lease-seconds", str(lease)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True,
    )
    err.close()
    proc.err_path = log.parent / f"{name}.err"  # type: ignore[attr-defined]
    return proc


def stderr_of(proc: subprocess.Popen[str]) -> str:
    return proc.err_path.read_text()  # type: ignore[attr-defined,no-any-return]


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def sends(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"process did not stop: {stderr_of(proc)}")
    return proc.returncode, stderr_of(proc)


@pytest.mark.slow
def test_two_schedulers_one_acts_the_other_names_the_holder(db_url: str, tmp_path: Path) -> None:
    config = setup_db(tmp_path, db_url, subscribers=4)
    log = tmp_path / "sends.log"
    first = start(config, "first", log)
    with Store.open(db_url) as store:
        assert wait_for(lambda: current_lease(store) is not None)
        holder = current_lease(store).holder  # type: ignore[union-attr]
    second = start(config, "second", log)
    try:
        assert wait_for(lambda: "waiting: another scheduler" in stderr_of(second), timeout=30)
        assert wait_for(lambda: len(sends(log)) == 4)
        time.sleep(1.0)  # several ticks of both processes
    finally:
        code2, err2 = stop(second)
        code1, err1 = stop(first)
    assert code1 == 0 and code2 == 0, (err1, err2)
    assert f"waiting: another scheduler holds the lease: {holder}" in err2
    assert str(first.pid) in holder
    lines = sends(log)
    assert len(lines) == 4
    assert {line[0] for line in lines} == {"first"}  # exactly one process acted
    assert Counter(line[3] for line in lines) == Counter({"1": 1, "2": 1, "3": 1, "4": 1})
    with Store.open(db_url) as store:
        assert edition_count(store) == 1
        assert current_lease(store) is None  # released on SIGTERM


@pytest.mark.slow
def test_sigterm_during_delivery_then_restart_no_duplicate_nothing_lost(
    db_url: str, tmp_path: Path
) -> None:
    config = setup_db(tmp_path, db_url, subscribers=6)
    log = tmp_path / "sends.log"
    proc = start(config, "before", log, delay=0.4)
    assert wait_for(lambda: len(sends(log)) >= 2)
    code, err = stop(proc)
    assert code == 0, err
    assert "signal_received signal=SIGTERM" in err
    interrupted = len(sends(log))
    assert 2 <= interrupted < 6  # the send in flight finished; the rest waited
    with Store.open(db_url) as store:
        assert current_lease(store) is None
        runs = store.last_runs("send", limit=5)
        assert runs and runs[0].report["list_name"] == "daily"  # the run was recorded
        assert store.queued_deliveries(datetime.now(UTC))[0] == 6 - interrupted
    again = start(config, "after", log)
    try:
        assert wait_for(lambda: len(sends(log)) >= 6)
        time.sleep(1.0)
    finally:
        code, err = stop(again, signal.SIGINT)
    assert code == 0, err
    lines = sends(log)
    assert len(lines) == 6
    assert sorted(int(line[3]) for line in lines) == [1, 2, 3, 4, 5, 6]  # each once
    assert {line[0] for line in lines[interrupted:]} == {"after"}
    with Store.open(db_url) as store:
        assert edition_count(store) == 1
        assert store.delivery_states() == {"sent": 6}


@pytest.mark.slow
def test_a_killed_holder_is_taken_over_when_its_lease_expires(db_url: str, tmp_path: Path) -> None:
    config = setup_db(tmp_path, db_url, subscribers=1)
    log = tmp_path / "sends.log"
    first = start(config, "first", log, lease=2.0)
    with Store.open(db_url) as store:
        assert wait_for(lambda: current_lease(store) is not None and len(sends(log)) == 1)
        second = start(config, "second", log, lease=2.0)
        try:
            assert wait_for(lambda: "waiting: another scheduler" in stderr_of(second), timeout=30)
            first.send_signal(signal.SIGKILL)  # no release: the lease must expire
            first.wait(timeout=10)
            assert wait_for(lambda: (current_lease(store) or None) is not None
                            and str(second.pid) in current_lease(store).holder, timeout=15)  # type: ignore[union-attr]
        finally:
            code, err = stop(second)
    assert code == 0, err
    assert len(sends(log)) == 1  # the edition was not sent again by the new holder


@pytest.mark.slow
def test_sigterm_while_the_timer_thread_delivers(db_url: str, tmp_path: Path) -> None:
    """The delivery runs in an APScheduler worker thread (queued rows found by a timer tick),
    not in the start-up tick: SIGTERM still finishes the row in flight and exits 0."""
    config = setup_db(tmp_path, db_url, subscribers=5)
    data = yaml.safe_load(config.read_text())
    later = datetime.now(UTC) + timedelta(hours=12)  # nothing due while the test runs
    data["lists"][0]["schedule"]["cron"] = f"{later.minute} {later.hour} * * *"
    config.write_text(yaml.safe_dump(data))
    log = tmp_path / "sends.log"
    proc = start(config, "timer", log, delay=0.4)
    with Store.open(db_url) as store:
        assert wait_for(lambda: current_lease(store) is not None)
        time.sleep(0.5)  # past the start-up tick
        assert sends(log) == []
        now = datetime.now(UTC)
        edition_id = store.create_edition(
            list_name="daily", period="by-hand", window_start=now, window_end=now, now=now,
            subject="s", preheader="", html="", text="", carried=[],
        )
        with store.begin() as conn:
            conn.execute(insert(deliveries), [
                {"edition_id": edition_id, "subscriber_id": s.id, "state": "queued", "attempts": 0,
                 "created_at": now, "updated_at": now}
                for s in store.subscribers_of("daily")
            ])
        assert wait_for(lambda: len(sends(log)) >= 2)
        code, err = stop(proc)
        assert code == 0, err
        done = len(sends(log))
        assert 2 <= done < 5
        assert store.delivery_states() == {"sent": done, "queued": 5 - done}
        assert current_lease(store) is None
