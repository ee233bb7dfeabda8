"""Polling shared by several workers on PostgreSQL: hosts are claimed with SKIP LOCKED, every
source is polled once per round, and the per-host limit holds across workers."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path


from digest.config import parse_config
from digest.pipeline import poll_shared
from digest.polling import host_key, polled_in_round
from digest.store import SourceState, Store
from tests.feedserver import FeedServer, RecordedRequest, Reply

RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
       b"<item><title>One</title><link>https://example.org/1</link><guid>1</guid></item>"
       b"</channel></rss>")


def test_host_keys_and_rounds() -> None:
    assert host_key("a", "Feeds.Example.org") == "host:feeds.example.org"
    assert host_key("a", None) == "file:a"
    start = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
    assert not polled_in_round(None, start)
    assert not polled_in_round(SourceState(name="a"), start)
    assert polled_in_round(SourceState(name="a", last_fetch_at=start), start)


class Counting:
    """A handler that answers after ``delay`` and records the most requests at once."""

    def __init__(self, delay: float) -> None:
        self.delay, self.now, self.most = delay, 0, 0
        self.lock = threading.Lock()

    def __call__(self, _req: RecordedRequest) -> Reply:
        import time

        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        return Reply(200, {"Content-Type": "application/rss+xml"}, RSS)


def test_three_workers_share_a_round_and_hold_the_per_host_limit(pg_url: str, tmp_path: Path) -> None:
    servers = [FeedServer(host=f"127.0.0.{i}").start() for i in (1, 2, 3)]
    counters = [Counting(0.15) for _ in servers]
    try:
        sources = []
        for k, (server, counter) in enumerate(zip(servers, counters, strict=True)):
            for j in range(6):
                server.route(f"/f{j}.xml", counter)
                sources.append({"name": f"h{k}f{j}", "title": "T", "url": server.url(f"/f{j}.xml")})
        for j in range(6):
            (tmp_path / f"local{j}.xml").write_bytes(RSS)
            sources.append({"name": f"local{j}", "title": "L", "path": f"local{j}.xml"})
        config = parse_config({
            "site": {"postal_address": "1 Example Street, London"},
            "database": {"url": pg_url},
            "fetch": {"max_per_host": 2, "allow_private_addresses": True},
            "sources": sources,
            "lists": [{"name": "world", "title": "W", "sender": "news@example.org",
                       "schedule": {"cron": "0 7 * * *", "timezone": "UTC"}}],
        }, tmp_path)
        round_start = datetime.now(UTC)
        polled: dict[str, list[str]] = {}

        def worker(name: str) -> None:
            with Store.open(pg_url) as store:
                reports = poll_shared(config, store, now=datetime.now(UTC), round_start=round_start,
                                      holder=name)
            polled[name] = [r.source for r in reports]

        Store.open(pg_url).close()  # migrate once, before the workers race
        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for server in servers:
            server.stop()
    every = Counter(name for names in polled.values() for name in names)
    assert set(every) == {s["name"] for s in sources} and set(every.values()) == {1}
    assert sum(1 for names in polled.values() if names) >= 2  # the round was shared
    for server, counter in zip(servers, counters, strict=True):
        assert len(server.requests) == 6  # each feed fetched once in the round
        assert 1 <= counter.most <= 2  # fetch.max_per_host across all workers
