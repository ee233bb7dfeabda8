"""Polling hostile feeds end to end: a loopback server serves each file of ../shared/badfeeds
with the headers its .headers.txt describes; fetch → parse → store must give the behaviour
the badfeeds README states, and a failure must never lose stored entries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.config import parse_config
from digest.pipeline import poll_source
from digest.store import Store
from tests.conftest import BAD_FEEDS, REPO
from tests.feedserver import FeedServer, Reply, feed_server  # noqa: F401

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
UNSAFE_URL = re.compile(r"""(href|src)\s*=\s*["']?\s*(javascript|data|vbscript):""", re.I)
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _setup(db_url: str, url: str):
    """A config with one source at ``url`` on the database ``db_url``, and its store."""
    config = parse_config(
        {
            "site": {"postal_address": "1 Example Street, Springfield"},
            "database": {"url": db_url},
            "fetch": {"allow_private_addresses": True, "deadline": 5, "read_timeout": 2, "connect_timeout": 2},
            "sources": [{"name": "bad", "title": "Bad", "url": url}],
            "lists": [{"name": "l", "title": "L", "sender": "L <l@example.org>"}],
        },
        REPO,
    )
    return config, Store.open(config.database.url)


def _poll(db_url: str, url: str, now: datetime = NOW):
    config, store = _setup(db_url, url)
    report = poll_source(config, store, config.sources[0], now=now)
    return report, store.entries_of("bad", limit=1000), store, config


@pytest.mark.parametrize(
    "name",
    [
        "B01-undefined-html-entity.xml",
        "B04-utf8-no-charset-header.xml",
        "B08-utf8-bom.xml",
        "B10-control-characters.xml",
        "B11-german-dates.xml",
        "B13-one-bad-date.xml",
        "B17-no-dates.xml",
        "B24-escaped-cdata.xml",
        "B26-unsafe-item-links.xml",
        "B27-script-in-content.xml",
        "B32-gzip-always.xml.gz",
        "B/B32-gzip-always.xml.gz",
        "B36-media-images.xml",
    ],
)
def test_each_bad_feed_keeps_its_items_clean(db_url: str, feed_server: FeedServer, name: str) -> None:  # noqa: F811
    urls = feed_server.serve_badfeeds()
    report, entries, store, _config = _poll(db_url, urls[name])
    store.close()
    assert report.status == "ok", report
    assert entries and report.new_entries == len(entries)
    for e in entries:
        for value in (e.title, e.summary_html, e.summary_text, e.url or "", e.entry_id):
            assert not CONTROLS.search(value), (e.entry_id, value)
            assert "â€" not in value  # mojibake of UTF-8 read as windows-1252
        assert e.url is None or e.url.startswith(("http://", "https://"))
        assert "<script" not in e.summary_html.lower()
        assert not UNSAFE_URL.search(e.summary_html), e.summary_html
        assert not re.search(r"<\s*(script|iframe|style|a|b|img)\b", e.title, re.I)  # plain text
    if name.startswith("B01"):
        assert report.warnings
    if name.startswith("B11"):
        got = sorted(e.published for e in entries)
        assert got == [
            datetime(2024, 10, 24, 22, 30, tzinfo=UTC),
            datetime(2025, 1, 14, 6, 0, tzinfo=UTC),
            datetime(2025, 3, 15, 6, 5, 9, tzinfo=UTC),
            datetime(2025, 5, 5, 10, 0, tzinfo=UTC),
            datetime(2025, 12, 3, 7, 0, tzinfo=UTC),
        ]
    if name.startswith("B13"):
        assert len(entries) == 5
    if name.startswith("B24"):
        assert any("Council approves new bike lanes on Main Street" in e.summary_text for e in entries)


@pytest.mark.parametrize("variant", ["", "B/"])
def test_html_challenge_page_fails_and_keeps_earlier_entries(
    db_url: str, feed_server: FeedServer, variant: str  # noqa: F811
) -> None:
    challenge = (BAD_FEEDS / "B09-html-challenge-page.xml").read_bytes()
    good = (BAD_FEEDS / "B08-utf8-bom.xml").read_bytes()
    status = 403 if variant == "" else 200
    url = feed_server.script(
        "/feed",
        [
            Reply(200, {"Content-Type": "application/rss+xml"}, good),
            Reply(status, {"Content-Type": "text/html; charset=UTF-8"}, challenge),
        ],
    )
    config, store = _setup(db_url, url)
    first = poll_source(config, store, config.sources[0], now=NOW)
    assert first.status == "ok" and first.new_entries > 0
    later = NOW + timedelta(hours=1)
    second = poll_source(config, store, config.sources[0], now=later)
    assert second.status == "failed"
    assert second.http_status == status
    assert "not a feed" in second.error or "403" in second.error
    assert len(store.entries_of("bad")) == first.new_entries
    state = store.source_state("bad")
    assert state.last_status == "failed" and state.last_ok_at == NOW
    store.close()


def test_undated_items_keep_their_first_seen_time(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    urls = feed_server.serve_badfeeds()
    config, store = _setup(db_url, urls["B17-no-dates.xml"])
    poll_source(config, store, config.sources[0], now=NOW)
    later = NOW + timedelta(days=1)
    poll_source(config, store, config.sources[0], now=later)
    entries = store.entries_of("bad")
    assert entries and all(e.published is None and e.first_seen == NOW for e in entries)
    store.close()


def test_items_without_guid_are_new_only_once(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    url = feed_server.script(
        "/feed",
        [
            Reply(200, {"Content-Type": "application/rss+xml"}, (BAD_FEEDS / "B20-no-guid-fetch1.xml").read_bytes()),
            Reply(200, {"Content-Type": "application/rss+xml"}, (BAD_FEEDS / "B20-no-guid-fetch2.xml").read_bytes()),
        ],
    )
    config, store = _setup(db_url, url)
    first = poll_source(config, store, config.sources[0], now=NOW)
    second = poll_source(config, store, config.sources[0], now=NOW + timedelta(hours=1))
    assert first.new_entries >= 1
    assert second.new_entries == 1
    assert any("Ferry timetable changes" in e.title for e in store.entries_of("bad"))
    store.close()


def test_billion_laughs_is_not_expanded(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    urls = feed_server.serve_badfeeds()
    import time

    start = time.perf_counter()
    report, entries, store, _ = _poll(db_url, urls["B29-billion-laughs.xml"])
    store.close()
    assert time.perf_counter() - start < 2.0
    assert all(len(e.title) < 1000 and "lol" * 50 not in e.summary_text for e in entries)


def test_gone_feed_disables_the_source(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    url = feed_server.serve("/gone", b"gone", status=410)
    config, store = _setup(db_url, url)
    report = poll_source(config, store, config.sources[0], now=NOW)
    assert report.status == "failed" and report.http_status == 410
    assert "disabled" in report.error
    again = poll_source(config, store, config.sources[0], now=NOW + timedelta(days=1))
    assert again.status == "skipped" and "410" in again.error
    assert len(feed_server.requests_for("/gone")) == 1
    store.close()


def test_retry_after_postpones_the_next_poll(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    url = feed_server.retry_after("/busy", status=429, value="3600")
    config, store = _setup(db_url, url)
    report = poll_source(config, store, config.sources[0], now=NOW)
    assert report.status == "failed" and report.http_status == 429
    assert store.source_state("bad").next_poll_at >= NOW + timedelta(seconds=3600)
    skipped = poll_source(config, store, config.sources[0], now=NOW + timedelta(minutes=30))
    assert skipped.status == "skipped"
    assert len(feed_server.requests_for("/busy")) == 1
    store.close()


def test_not_modified_changes_nothing(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    body = (BAD_FEEDS / "B08-utf8-bom.xml").read_bytes()
    url = feed_server.conditional("/c", body, etag='"v1"')
    config, store = _setup(db_url, url)
    first = poll_source(config, store, config.sources[0], now=NOW)
    second = poll_source(config, store, config.sources[0], now=NOW + timedelta(hours=1))
    assert first.status == "ok" and second.status == "not-modified"
    assert feed_server.requests_for("/c")[-1].headers.get("if-none-match") == '"v1"'
    assert len(store.entries_of("bad")) == first.new_entries
    store.close()


def test_a_dtd_on_a_loopback_listener_is_never_fetched(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    dtd_url = feed_server.serve("/evil.dtd", b'<!ENTITY e "EXPANDED">', headers={"Content-Type": "application/xml-dtd"})
    feed = (
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{dtd_url}">'
        '<rss version="2.0"><channel><title>t</title><item><title>a &e; &amp; b</title>'
        "<link>https://example.org/1</link></item></channel></rss>"
    ).encode()
    url = feed_server.serve("/feed", feed, headers={"Content-Type": "application/rss+xml"})
    report, entries, store, _ = _poll(db_url, url)
    store.close()
    assert report.status == "ok" and entries
    assert "EXPANDED" not in entries[0].title
    assert feed_server.requests_for("/evil.dtd") == []


def test_a_permanent_redirect_seen_repeatedly_moves_the_feed(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    from digest.polling import MOVE_AFTER_REDIRECTS

    body = (BAD_FEEDS / "B08-utf8-bom.xml").read_bytes()
    new_url = feed_server.serve("/new", body, headers={"Content-Type": "application/rss+xml"})
    old_url = feed_server.redirect("/old", new_url, status=301)
    config, store = _setup(db_url, old_url)
    for i in range(MOVE_AFTER_REDIRECTS):
        assert store.source_state("bad").url in (None, old_url), i
        report = poll_source(config, store, config.sources[0], now=NOW + timedelta(hours=i))
        assert report.status == "ok"
    assert store.source_state("bad").url == new_url
    before = len(feed_server.requests_for("/old"))
    poll_source(config, store, config.sources[0], now=NOW + timedelta(days=1))
    assert len(feed_server.requests_for("/old")) == before  # the next poll goes straight there
    store.close()


def test_a_long_run_of_304s_ends_with_one_unconditional_fetch(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    from digest.polling import UNCONDITIONAL_AFTER_304S

    body = (BAD_FEEDS / "B08-utf8-bom.xml").read_bytes()
    url = feed_server.conditional("/c", body, etag='"v1"')
    config, store = _setup(db_url, url)
    poll_source(config, store, config.sources[0], now=NOW)
    for i in range(UNCONDITIONAL_AFTER_304S):
        assert poll_source(config, store, config.sources[0], now=NOW + timedelta(hours=i + 1)).status == "not-modified"
    last = poll_source(config, store, config.sources[0], now=NOW + timedelta(days=2))
    assert last.status == "ok"
    assert "if-none-match" not in feed_server.requests_for("/c")[-1].headers
    assert store.source_state("bad").not_modified_count == 0
    store.close()


def test_at_most_max_per_host_fetches_at_once(db_url: str, feed_server: FeedServer) -> None:  # noqa: F811
    import threading
    import time

    from digest.pipeline import poll

    body = (BAD_FEEDS / "B08-utf8-bom.xml").read_bytes()
    lock = threading.Lock()
    active = [0, 0]  # now, most

    def slow(_request):  # runs in the server's thread for each request
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1
        return Reply(200, {"Content-Type": "application/rss+xml"}, body)

    urls = [feed_server.route(f"/f{i}", slow) for i in range(4)]
    config, store = _setup(db_url, urls[0])
    data = config.model_dump()
    data["sources"] = [{"name": f"s{i}", "title": f"S{i}", "url": u} for i, u in enumerate(urls)]
    data["fetch"]["max_per_host"] = 1
    from digest.config import Config

    config = Config.model_validate(data)
    reports = poll(config, store, now=NOW)
    store.close()
    assert [r.status for r in reports] == ["ok"] * 4
    assert active[1] == 1
