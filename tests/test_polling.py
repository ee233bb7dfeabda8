"""digest.polling: one next-poll rule, a typed update applied by one store call, used by
`digest poll`, `digest run` and `digest schedule` alike (issue 10, point 4)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from digest import polling
from digest.config import parse_config
from digest.pipeline import poll_source
from digest.scheduler import Service
from digest.store import SourceState, Store
from tests import databases
from tests.conftest import REPO
from tests.feedserver import FeedServer, feed_server  # noqa: F401

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
POLICY = polling.Policy(interval=timedelta(minutes=30), max_backoff=timedelta(hours=24))


def test_backoff_doubles_and_is_capped() -> None:
    base = timedelta(minutes=30)
    assert polling.backoff(0, interval=base) == base
    assert polling.backoff(1, interval=base) == timedelta(hours=1)
    assert polling.backoff(3, interval=base) == timedelta(hours=4)
    assert polling.backoff(10, interval=base) == timedelta(hours=24)
    assert polling.backoff(10_000, interval=base) == timedelta(hours=24)
    assert polling.backoff(5, interval=base, cap=timedelta(hours=2)) == timedelta(hours=2)


def test_decide_success_failure_retry_after_and_gone() -> None:
    state = SourceState(name="a", etag='"old"', error_count=2, not_modified_count=3, last_ok_at=NOW - timedelta(days=1))
    ok = polling.decide(state, polling.Fetched(status=200, etag='"v2"', new_entries=2), NOW, POLICY)
    assert (ok.next_poll_at, ok.error_count, ok.not_modified_count, ok.etag) == (NOW + timedelta(minutes=30), 0, 0, '"v2"')
    assert ok.last_new_at == NOW and ok.failure is None
    same = polling.decide(state, polling.NotModified(), NOW, POLICY)
    assert (same.last_status, same.not_modified_count, same.etag) == ("not-modified", 4, '"old"')
    failed = polling.decide(state, polling.Failed("HTTP 500", status=500), NOW, POLICY)
    assert failed.error_count == 3 and failed.next_poll_at == NOW + timedelta(hours=4)
    assert failed.last_ok_at == state.last_ok_at and failed.failure == polling.Failed("HTTP 500", status=500)
    busy = polling.decide(SourceState(name="a"), polling.Failed("busy", status=503, retry_after=7200), NOW, POLICY)
    assert busy.next_poll_at == NOW + timedelta(hours=2) and busy.failure.retry_after == 7200
    capped = polling.decide(SourceState(name="a", error_count=40), polling.Failed("x", status=500), NOW, POLICY)
    assert capped.next_poll_at == NOW + timedelta(hours=24)
    gone = polling.decide(SourceState(name="a"), polling.Failed("gone", status=410), NOW, POLICY)
    assert gone.disabled_reason and "410" in gone.disabled_reason
    assert polling.skip_reason(SourceState(name="a", disabled_reason=gone.disabled_reason), NOW, local=False)
    assert set(ok.columns()) == set(SourceState.__dataclass_fields__) - {"name"}


def test_a_source_backing_off_says_how_to_fetch_it_now() -> None:
    """The issue: a user who fixed a failing source's setting ran ``digest poll --source``
    and read only "backing off until" an hour later, with no way out named."""
    failed = polling.decide(SourceState(name="mine"), polling.Failed("refused"), NOW, POLICY)
    state = SourceState(name="mine", last_status=failed.last_status, next_poll_at=failed.next_poll_at)
    reason = polling.skip_reason(state, NOW, local=False)
    assert reason is not None and reason.startswith("backing off after errors until")
    assert "`digest sources enable mine`" in reason


def test_decide_moves_a_feed_after_three_identical_permanent_redirects() -> None:
    state = SourceState(name="a", url="https://old.example/feed")
    moved = polling.Fetched(permanent_redirect="https://new.example/feed")
    for _ in range(polling.MOVE_AFTER_REDIRECTS - 1):
        update = polling.decide(state, moved, NOW, POLICY)
        assert update.url == "https://old.example/feed"
        state = SourceState(name="a", url=update.url, redirect_to=update.redirect_to, redirect_count=update.redirect_count)
    assert polling.decide(state, moved, NOW, POLICY).url == "https://new.example/feed"


def _config(tmp_path: Path, url: str, db_url: str):
    """A config (also written to ``tmp_path/config.yaml``) with one source at ``url`` on the
    database ``db_url``."""
    data = {
        "site": {"postal_address": "1 Example Street, Springfield"},
        "database": {"url": db_url},
        "fetch": {"allow_private_addresses": True, "deadline": 5, "read_timeout": 2, "connect_timeout": 2},
        "sources": [{"name": "busy", "title": "Busy", "url": url}],
        "lists": [{"name": "l", "title": "L", "sender": "L <l@example.org>", "schedule": {"cron": "0 7 * * *"}}],
        "delivery": {"outbox_dir": str(tmp_path / "outbox")},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    return parse_config(data, tmp_path)


def test_the_service_keeps_a_retry_after_of_two_hours(
    db_url: str, feed_server: FeedServer, tmp_path: Path  # noqa: F811
) -> None:
    """Issue 10.4: a 503 with Retry-After: 7200 through the service (the real pipeline as
    its jobs) polls again after 2 h, as `digest poll` does; it used to write +0:30."""
    url = feed_server.retry_after("/busy", status=503, value="7200")
    config = _config(tmp_path, url, db_url)
    with Store.open(config.database.url) as store:
        service = Service(config, store, clock=lambda: NOW)
        outcomes = service.tick(NOW)
        assert [o.status for o in outcomes if type(o.action).__name__ == "Poll"] == ["failed"]
        state = store.source_state("busy")
        assert state.next_poll_at == NOW + timedelta(hours=2)
        assert state.error_count == 1 and state.last_http_status == 503
        report = store.last_runs("poll", limit=1)[0].report["sources"][0]
        assert report["retry_after"] == 7200
        # ticks inside the two hours do not poll it again
        service.tick(NOW + timedelta(minutes=31))
        service.tick(NOW + timedelta(minutes=90))
    assert len(feed_server.requests_for("/busy")) == 1
    # the same rule through `digest poll` on a fresh store of the same dialect
    dialect = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    with databases.database(dialect, tmp_path / "fresh") as fresh:
        (tmp_path / "fresh").mkdir()
        config = _config(tmp_path, url, fresh)
        cli = subprocess.run(
            [sys.executable, "-m", "digest", "--config", str(tmp_path / "config.yaml"), "poll"],
            capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
        )
        assert cli.returncode == 1, cli.stderr
        with Store.open(config.database.url) as store:
            state = store.source_state("busy")
            assert state.last_fetch_at is not None
            assert state.next_poll_at - state.last_fetch_at == timedelta(hours=2)



def test_poll_source_applies_one_update(
    db_url: str, feed_server: FeedServer, tmp_path: Path  # noqa: F811
) -> None:
    url = feed_server.retry_after("/busy", status=429, value="3600")
    config = _config(tmp_path, url, db_url)
    with Store.open(config.database.url) as store:
        calls: list[polling.SourceUpdate] = []
        apply = store.apply_source_update
        store.apply_source_update = lambda name, update: (calls.append(update), apply(name, update))[1]  # type: ignore[method-assign]
        report = poll_source(config, store, config.sources[0], now=NOW)
        assert len(calls) == 1 and calls[0].failure == polling.Failed(report.error, status=429, retry_after=3600)
        assert report.next_poll_at == NOW + timedelta(hours=1) and report.retry_after == 3600
