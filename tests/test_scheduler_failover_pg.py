"""Scheduler failover on PostgreSQL with real processes: two `digest schedule` on one
database, the lease holder SIGKILLed while it delivers; the other takes over within the
lease time and finishes the edition. No edition is built twice, none is skipped, and every
subscriber gets it (the pipeline is tests/scheduler_fakes.py, as in test_scheduler_process)."""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from digest.lease import current_lease
from digest.store import Store
from digest.types import Subscriber
from tests.scheduler_fakes import edition_count
from tests.test_scheduler_process import sends, start, stderr_of, stop, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
LEASE = 2.0


def setup(tmp_path: Path, url: str, subscribers: int) -> Path:
    """A daily list due a minute ago on the PostgreSQL database ``url``, with subscribers."""
    (tmp_path / "feed.xml").write_text("<rss/>")
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


@pytest.mark.slow
def test_sigkill_the_holder_mid_delivery_the_other_takes_over_and_finishes(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_FAKE_LEASE", str(LEASE))  # the ledger rows' lease
    monkeypatch.setenv("DIGEST_FAKE_RESEND_UNKNOWN", "1")
    n = 30  # the first sends slowly (1 s each), so it is still delivering when it is killed
    config = setup(tmp_path, pg_url, subscribers=n)
    log = tmp_path / "sends.log"
    first = start(config, "first", log, delay=1.0, lease=LEASE)
    second = None
    with Store.open(pg_url) as store:
        try:
            assert wait_for(lambda: current_lease(store) is not None, timeout=60)  # a busy machine
            assert str(first.pid) in current_lease(store).holder  # type: ignore[union-attr]
            second = start(config, "second", log, delay=0.05, lease=LEASE)
            assert wait_for(lambda: "waiting: another scheduler" in stderr_of(second), timeout=60)
            assert wait_for(lambda: len(sends(log)) >= 2, timeout=30)
            first.send_signal(signal.SIGKILL)  # mid-delivery, no release
            killed_at = time.monotonic()
            first.wait(timeout=10)
            before = len(sends(log))
            assert before < n
            assert wait_for(
                lambda: str(second.pid) in getattr(current_lease(store), "holder", ""), timeout=15
            )
            took_over = time.monotonic() - killed_at
            assert wait_for(lambda: len({line[3] for line in sends(log)}) == n, timeout=60)
            time.sleep(1.0)  # several more ticks: nothing is built or sent again
        finally:
            if first.poll() is None:  # a failed step before the kill: leave no process behind
                first.kill()
                first.wait()
            code, err = stop(second) if second is not None else (None, "")
        assert code == 0, err
        # within the lease time (plus one tick and one wait of the second scheduler)
        assert took_over < LEASE + 2.0, took_over
        lines = sends(log)
        assert {line[0] for line in lines[before:]} == {"second"}
        per_subscriber = Counter(line[3] for line in lines)
        assert len(per_subscriber) == n  # none skipped
        # at most the one send in flight when the holder died is in doubt, and re-sent
        assert sum(k - 1 for k in per_subscriber.values()) <= 1
        assert edition_count(store) == 1  # never built twice
        assert store.delivery_states() == {"sent": n}
        assert current_lease(store) is None
