"""fetch(): results, conditional GET, status handling, Retry-After, local files, poll schedule.

Hostile-server behaviour (deadline, bombs, redirects, address guard) is in test_fetch_hostile.py.
"""

from __future__ import annotations

import gzip
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from digest.config import FetchConfig
from digest.exceptions import FetchError, NotModified
from digest.fetch import (
    RETRY_AFTER_MAX,
    RETRY_AFTER_MIN,
    RetryLater,
    fetch,
    parse_retry_after,
)
from tests import feedserver
from tests.feedserver import (
    FeedServer,
    Reply,
    bad_feeds_dir,
    loopback_fetch_config,
    parse_headers_txt,
)

feed_server = feedserver.feed_server  # the loopback server fixture
NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
RSS = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title></channel></rss>'
SETTINGS = loopback_fetch_config()


def test_fetch_returns_body_status_headers_and_validators(feed_server: FeedServer) -> None:
    url = feed_server.serve(
        "/feed.xml",
        RSS,
        headers={
            "Content-Type": "application/rss+xml",
            "ETag": 'W/"abc-1"',
            "Last-Modified": "Tue, 17 Feb 2026 10:00:00 GMT",
        },
    )
    result = fetch(url, source="news", settings=SETTINGS, now=NOW)
    assert result.content == RSS
    assert result.source == "news"
    assert result.status == 200
    assert result.url == url
    assert result.fetched_at == NOW
    assert result.etag == 'W/"abc-1"'
    assert result.last_modified == "Tue, 17 Feb 2026 10:00:00 GMT"
    assert result.headers["content-type"] == "application/rss+xml"
    assert all(name == name.lower() for name in result.headers)
    assert result.permanent_redirect is None


def test_request_identifies_itself_and_prefers_feeds(feed_server: FeedServer) -> None:
    url = feed_server.serve("/feed.xml", RSS)
    settings = loopback_fetch_config(user_agent="digest-test/9 (+https://example.org/bot)")
    fetch(url, source="news", settings=settings, now=NOW)
    (req,) = feed_server.requests
    assert req.headers["user-agent"] == "digest-test/9 (+https://example.org/bot)"
    assert req.headers["accept"].startswith("application/rss+xml, application/atom+xml")
    assert req.headers["accept-encoding"] == "gzip"
    assert "if-none-match" not in req.headers and "if-modified-since" not in req.headers


def test_conditional_get_round_trip_gives_not_modified(feed_server: FeedServer) -> None:
    url = feed_server.conditional(
        "/feed.xml", RSS, etag='"v1"', last_modified="Tue, 17 Feb 2026 10:00:00 GMT"
    )
    first = fetch(url, source="news", settings=SETTINGS, now=NOW)
    with pytest.raises(NotModified) as info:
        fetch(
            url,
            source="news",
            settings=SETTINGS,
            now=NOW,
            etag=first.etag,
            last_modified=first.last_modified,
        )
    assert info.value.status == 304
    assert isinstance(info.value, FetchError)
    second = feed_server.requests[1]
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == "Tue, 17 Feb 2026 10:00:00 GMT"


def test_if_modified_since_alone_gives_not_modified(feed_server: FeedServer) -> None:
    url = feed_server.conditional("/feed.xml", RSS, last_modified="Tue, 17 Feb 2026 10:00:00 GMT")
    with pytest.raises(NotModified):
        fetch(
            url,
            source="news",
            settings=SETTINGS,
            now=NOW,
            last_modified="Tue, 17 Feb 2026 10:00:00 GMT",
        )


def test_future_last_modified_is_never_sent(feed_server: FeedServer) -> None:
    url = feed_server.conditional("/feed.xml", RSS, last_modified="Tue, 17 Feb 2026 10:00:00 GMT")
    future = "Fri, 20 Feb 2026 10:00:00 GMT"  # after NOW: a server clock error, not a real date
    result = fetch(url, source="news", settings=SETTINGS, now=NOW, last_modified=future)
    assert result.content == RSS
    assert "if-modified-since" not in feed_server.requests[0].headers


@pytest.mark.parametrize("etag", ['"caf\u00e9"', '"caf\u00c3\u00a9"'])  # Latin-1 and UTF-8 octets
def test_non_ascii_etag_is_sent_back_byte_for_byte(feed_server: FeedServer, etag: str) -> None:
    url = feed_server.conditional("/feed.xml", RSS, etag=etag)
    first = fetch(url, source="news", settings=SETTINGS, now=NOW)
    with pytest.raises(NotModified):
        fetch(url, source="news", settings=SETTINGS, now=NOW, etag=first.etag)
    assert feed_server.requests[1].headers["if-none-match"] == etag


@pytest.mark.parametrize("bad", ['"a"\r\nX-Injected: 1', "not a date at all", "\u2603 snowman"])
def test_unsafe_or_unreadable_validators_are_dropped(feed_server: FeedServer, bad: str) -> None:
    url = feed_server.serve("/feed.xml", RSS)
    result = fetch(
        url,
        source="news",
        settings=SETTINGS,
        now=NOW,
        etag=bad if "X-" in bad else None,
        last_modified=bad,
    )
    assert result.content == RSS
    req = feed_server.requests[0]
    assert "x-injected" not in req.headers
    assert "if-modified-since" not in req.headers


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502])
def test_http_error_status_is_a_fetch_error_with_status(
    feed_server: FeedServer, status: int
) -> None:
    url = feed_server.serve(
        "/feed.xml", b"<html>nope</html>", status=status, headers={"Content-Type": "text/html"}
    )
    with pytest.raises(FetchError) as info:
        fetch(url, source="news", settings=SETTINGS, now=NOW)
    assert info.value.status == status
    assert str(status) in str(info.value)
    assert info.value.source == "news"
    assert not isinstance(info.value, (NotModified, RetryLater))


def test_gone_says_the_feed_is_gone(feed_server: FeedServer) -> None:
    url = feed_server.serve("/feed.xml", b"", status=410)
    with pytest.raises(FetchError) as info:
        fetch(url, source="news", settings=SETTINGS, now=NOW)
    assert info.value.status == 410
    assert "gone" in str(info.value)


def test_429_carries_retry_after_seconds(feed_server: FeedServer) -> None:
    url = feed_server.retry_after("/feed.xml", status=429, value="120")
    with pytest.raises(RetryLater) as info:
        fetch(url, source="news", settings=SETTINGS, now=NOW)
    assert info.value.status == 429
    assert info.value.retry_after == 120.0
    assert isinstance(info.value, FetchError)


def test_503_carries_retry_after_from_http_date(feed_server: FeedServer) -> None:
    url = feed_server.retry_after("/feed.xml", status=503, value="Wed, 18 Feb 2026 09:00:00 GMT")
    with pytest.raises(RetryLater) as info:
        fetch(url, source="news", settings=SETTINGS, now=NOW)
    assert info.value.status == 503
    assert info.value.retry_after == 7200.0


def test_429_without_retry_after_has_none(feed_server: FeedServer) -> None:
    url = feed_server.retry_after("/feed.xml", status=429, value=None)
    with pytest.raises(RetryLater) as info:
        fetch(url, source="news", settings=SETTINGS, now=NOW)
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("  300 ", 300.0),
        ("0", RETRY_AFTER_MIN),
        ("5", RETRY_AFTER_MIN),
        ("99999999999999999999", RETRY_AFTER_MAX),
        ("Wed, 18 Feb 2026 07:30:00 GMT", 1800.0),
        ("Wed, 18 Feb 2026 06:00:00 GMT", RETRY_AFTER_MIN),  # in the past
        ("Sat, 18 Apr 2026 07:00:00 GMT", RETRY_AFTER_MAX),  # two months ahead
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


# -- shared hostile feeds served as described -------------------------------------------------


def test_headers_txt_parser_reads_variants() -> None:
    text = (bad_feeds_dir() / "B32-gzip-always.headers.txt").read_text(encoding="utf-8")
    parsed = parse_headers_txt(text)
    assert parsed["A"] == (
        200,
        [("Content-Type", "application/rss+xml; charset=utf-8"), ("Content-Encoding", "gzip")],
    )
    assert parsed["B"] == (200, [("Content-Type", "application/rss+xml")])


@pytest.mark.parametrize("variant", ["A", "B"])
def test_b32_gzip_always_is_decoded_with_or_without_content_encoding(
    feed_server: FeedServer, variant: str
) -> None:
    urls = feed_server.serve_badfeeds()
    expected = gzip.decompress((bad_feeds_dir() / "B32-gzip-always.xml.gz").read_bytes())
    result = fetch(
        urls[f"{variant}/B32-gzip-always.xml.gz"], source="b32", settings=SETTINGS, now=NOW
    )
    assert result.content == expected
    assert result.content.startswith(b"<?xml")
    assert ("content-encoding" in result.headers) == (variant == "A")


def test_b09_challenge_page_403_is_an_error_and_200_passes_through(feed_server: FeedServer) -> None:
    urls = feed_server.serve_badfeeds()
    with pytest.raises(FetchError) as info:
        fetch(urls["A/B09-html-challenge-page.xml"], source="b09", settings=SETTINGS, now=NOW)
    assert info.value.status == 403
    result = fetch(urls["B/B09-html-challenge-page.xml"], source="b09", settings=SETTINGS, now=NOW)
    assert result.status == 200
    assert result.headers["content-type"] == "text/html; charset=UTF-8"
    assert result.content == (bad_feeds_dir() / "B09-html-challenge-page.xml").read_bytes()


def test_b04_content_type_without_charset_is_passed_through(feed_server: FeedServer) -> None:
    urls = feed_server.serve_badfeeds()
    result = fetch(urls["B04-utf8-no-charset-header.xml"], source="b04", settings=SETTINGS, now=NOW)
    assert result.headers["content-type"] == "text/xml"
    assert result.content == (bad_feeds_dir() / "B04-utf8-no-charset-header.xml").read_bytes()


# -- local files -------------------------------------------------------------------------------


def test_local_file_by_absolute_path_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "my feed.xml"
    path.write_bytes(RSS)
    for location in (str(path), path.as_uri(), f"file://{path}"):
        result = fetch(location, source="local", settings=FetchConfig(), now=NOW)
        assert result.content == RSS
        assert result.status is None
        assert result.headers == {}
        assert result.url == str(path)
        assert result.fetched_at == NOW


def test_local_gzip_file_is_decoded() -> None:
    path = bad_feeds_dir() / "B32-gzip-always.xml.gz"
    result = fetch(str(path), source="local", settings=FetchConfig(), now=NOW)
    assert result.content == gzip.decompress(path.read_bytes())


def test_local_files_refused_when_not_allowed(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    for location in (str(path), path.as_uri()):
        with pytest.raises(FetchError, match="local files are not allowed"):
            fetch(location, source="s", settings=FetchConfig(), now=NOW, allow_files=False)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("feeds/relative.xml", "not a URL or an absolute path"),
        ("ftp://example.org/feed.xml", "unsupported URL scheme 'ftp'"),
        ("javascript:alert(1)", "unsupported URL scheme"),
        ("file://otherhost/etc/feed.xml", "remote host"),
        ("/nonexistent/digest/feed.xml", "cannot read"),
    ],
)
def test_bad_locations_are_fetch_errors(location: str, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        fetch(location, source="s", settings=FetchConfig(), now=NOW)


def test_local_directory_and_fifo_are_refused_without_blocking(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="not a regular file|cannot read"):
        fetch(str(tmp_path), source="s", settings=FetchConfig(), now=NOW)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(FetchError, match="not a regular file"):
        fetch(str(fifo), source="s", settings=FetchConfig(), now=NOW)
    assert time.monotonic() - started < 1


def test_local_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(FetchError, match="cap of 1000 bytes"):
        fetch(str(path), source="s", settings=FetchConfig(max_bytes=1000), now=NOW)


# -- transport and network errors -------------------------------------------------------------


def test_mock_transport_can_stand_in_for_the_network() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"ETag": '"x"'}, content=RSS)

    result = fetch(
        "https://feeds.example.org/rss",
        source="s",
        settings=FetchConfig(),
        now=NOW,
        transport=httpx.MockTransport(answer),
    )
    assert result.content == RSS and result.etag == '"x"'
    assert seen[0].headers["accept-encoding"] == "gzip"


def test_connection_refused_is_a_network_fetch_error() -> None:
    with FeedServer() as server:
        url = server.url("/feed.xml")
    with pytest.raises(FetchError, match="network error") as info:
        fetch(url, source="s", settings=SETTINGS, now=NOW)
    assert info.value.status is None


def test_naive_now_is_taken_as_utc(feed_server: FeedServer) -> None:
    url = feed_server.retry_after("/feed.xml", status=503, value="Wed, 18 Feb 2026 09:00:00 GMT")
    with pytest.raises(RetryLater) as info:
        fetch(
            url,
            source="s",
            settings=SETTINGS,
            now=NOW.replace(tzinfo=None),
            last_modified="Tue, 17 Feb 2026 10:00:00 GMT",
        )
    assert info.value.retry_after == 7200.0
    assert feed_server.requests[0].headers["if-modified-since"] == "Tue, 17 Feb 2026 10:00:00 GMT"


def test_concurrent_fetches_from_threads(feed_server: FeedServer) -> None:
    for i in range(24):
        feed_server.serve(f"/feed{i}.xml", RSS + str(i).encode())
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(
            pool.map(
                lambda i: fetch(
                    feed_server.url(f"/feed{i}.xml"), source=f"s{i}", settings=SETTINGS, now=NOW
                ),
                range(24),
            )
        )
    assert [r.content for r in results] == [RSS + str(i).encode() for i in range(24)]
    assert [r.source for r in results] == [f"s{i}" for i in range(24)]


def test_scripted_replies_then_file(feed_server: FeedServer) -> None:
    """A source that is overloaded once and then recovers: the feed server's scripted replies."""
    body_file = bad_feeds_dir() / "B08-utf8-bom.xml"
    feed_server.serve_file("/file.xml", body_file, headers={"Content-Type": "application/rss+xml"})
    feed_server.script(
        "/feed.xml",
        [
            Reply(status=503, headers={"Retry-After": "90"}),
            Reply(status=200, body=RSS, headers={"ETag": '"2"'}),
        ],
    )
    url = feed_server.url("/feed.xml")
    with pytest.raises(RetryLater) as info:
        fetch(url, source="s", settings=SETTINGS, now=NOW)
    assert info.value.retry_after == 90.0
    assert fetch(url, source="s", settings=SETTINGS, now=NOW).etag == '"2"'
    assert fetch(url, source="s", settings=SETTINGS, now=NOW).content == RSS  # last reply repeats
    result = fetch(feed_server.url("/file.xml"), source="s", settings=SETTINGS, now=NOW)
    assert result.content == body_file.read_bytes()
    assert result.content.startswith(b"\xef\xbb\xbf<?xml")
    assert [r.path for r in feed_server.requests_for("/feed.xml")] == ["/feed.xml"] * 3
