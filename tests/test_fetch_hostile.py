"""fetch() against hostile servers: deadline, decoded-size cap, redirects, private-address guard.

Every test uses loopback servers only. Tests that must reach the loopback server pass
``allow_private_addresses=True``; tests of the guard pretend one loopback address
(127.0.0.2) is public by wrapping ``digest.fetch.refusal_reason``, so a second listener on
127.0.0.1 plays the private network that must never receive a request.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import digest.fetch as fetch_module
from digest.config import FetchConfig
from digest.exceptions import FetchError
from digest.fetch import fetch, refusal_reason
from tests import feedserver
from tests.feedserver import FeedServer, Reply, loopback_fetch_config

feed_server = feedserver.feed_server  # the loopback server fixture
NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
PUBLIC_LOOPBACK = "127.0.0.2"  # treated as a public address in guard tests


def _timed_fetch_error(url: str, settings: FetchConfig) -> tuple[FetchError, float]:
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch(url, source="slow", settings=settings, now=NOW)
    return info.value, time.monotonic() - started


# -- 1. total deadline and timeouts -----------------------------------------------------------


def test_trickling_body_is_cut_at_the_deadline(feed_server: FeedServer) -> None:
    url = feed_server.trickle("/feed.xml", RSS * 10, interval=0.1)  # would take ~80 s
    exc, elapsed = _timed_fetch_error(url, loopback_fetch_config(deadline=1.0, read_timeout=5.0))
    assert "deadline of 1 s exceeded" in str(exc)
    assert 0.9 <= elapsed < 1.6


def test_silent_body_is_cut_at_the_deadline_not_the_read_timeout(feed_server: FeedServer) -> None:
    url = feed_server.stall("/feed.xml", after_headers=30)
    exc, elapsed = _timed_fetch_error(url, loopback_fetch_config(deadline=0.8, read_timeout=20.0))
    assert "deadline" in str(exc)
    assert elapsed < 1.5


def test_slow_headers_are_cut_at_the_deadline(feed_server: FeedServer) -> None:
    url = feed_server.stall("/feed.xml", before_headers=30)
    exc, elapsed = _timed_fetch_error(url, loopback_fetch_config(deadline=0.8, read_timeout=20.0))
    assert "deadline" in str(exc)
    assert elapsed < 1.5


def test_a_read_started_late_waits_only_for_the_time_left(feed_server: FeedServer) -> None:
    """Bytes at 0, 0.45 and 0.9 s, then silence: the read begun at 0.9 s may wait only 0.1 s,
    not a whole read timeout (0.95 s), so the fetch ends at the 1 s deadline, not at ~1.85 s."""

    def reply(_req: object) -> Reply:
        def body() -> Iterator[bytes]:
            yield from (b"<", b"r", b"s")
            feed_server.stopping.wait(30)

        return Reply(headers={"Content-Length": "1000"}, body=body(), chunk_delay=0.45)

    url = feed_server.route("/feed.xml", reply)
    exc, elapsed = _timed_fetch_error(url, loopback_fetch_config(deadline=1.0, read_timeout=0.95))
    assert "deadline" in str(exc)
    assert elapsed < 1.4


def test_read_timeout_applies_per_read(feed_server: FeedServer) -> None:
    url = feed_server.stall("/feed.xml", after_headers=30)
    exc, elapsed = _timed_fetch_error(url, loopback_fetch_config(deadline=10.0, read_timeout=0.3))
    assert "read timeout" in str(exc)
    assert elapsed < 1.5


def test_deadline_is_checked_between_chunks_with_a_custom_transport() -> None:
    def slow_chunks() -> Iterator[bytes]:
        for _ in range(100):
            time.sleep(0.05)
            yield b"x"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_IterStream(slow_chunks()))

    started = time.monotonic()
    with pytest.raises(FetchError, match="deadline"):
        fetch(
            "https://feeds.example.org/rss",
            source="s",
            settings=FetchConfig(deadline=0.5),
            now=NOW,
            transport=httpx.MockTransport(answer),
        )
    assert time.monotonic() - started < 1.5


class _IterStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


# -- 2. decoded-size cap ----------------------------------------------------------------------


@pytest.mark.parametrize("content_encoding", [True, False])
def test_gzip_bomb_is_stopped_at_the_cap_with_bounded_memory(
    feed_server: FeedServer, content_encoding: bool
) -> None:
    url = feed_server.gzip_bomb(
        "/bomb.xml", decoded_size=1 << 30, content_encoding=content_encoding
    )  # 1 GiB
    cap = 1_000_000
    tracemalloc.start()
    try:
        exc, elapsed = _timed_fetch_error(url, loopback_fetch_config(max_bytes=cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than the cap of 1000000 bytes once decoded" in str(exc)
    assert peak < 4 * cap, f"peak traced memory {peak} bytes"
    assert elapsed < 2


def test_single_stream_gzip_bomb_is_stopped(feed_server: FeedServer) -> None:
    url = feed_server.gzip_bomb("/bomb.xml", decoded_size=64 << 20, single_member=True)
    with pytest.raises(FetchError, match="once decoded"):
        fetch(url, source="s", settings=loopback_fetch_config(max_bytes=2_000_000), now=NOW)


def test_body_just_under_and_over_the_cap(feed_server: FeedServer) -> None:
    feed_server.serve("/ok.xml", b"x" * 5000)
    feed_server.serve("/big.xml", b"x" * 5001)
    settings = loopback_fetch_config(max_bytes=5000)
    assert (
        len(fetch(feed_server.url("/ok.xml"), source="s", settings=settings, now=NOW).content)
        == 5000
    )
    with pytest.raises(FetchError, match="cap of 5000 bytes"):
        fetch(feed_server.url("/big.xml"), source="s", settings=settings, now=NOW)


def test_uncompressed_body_without_length_is_capped_while_streaming(
    feed_server: FeedServer,
) -> None:
    def endless(_req: object) -> Reply:
        return Reply(
            body=iter([b"x" * 65536] * 100_000), headers={"Content-Type": "application/rss+xml"}
        )

    url = feed_server.route("/endless.xml", endless)
    exc, elapsed = _timed_fetch_error(url, loopback_fetch_config(max_bytes=1_000_000))
    assert "cap of 1000000 bytes" in str(exc)
    assert elapsed < 2


def test_double_gzip_is_decoded(feed_server: FeedServer) -> None:
    twice = _gzip(_gzip(RSS))
    url = feed_server.serve("/feed.xml.gz", twice, headers={"Content-Encoding": "gzip"})
    assert fetch(url, source="s", settings=loopback_fetch_config(), now=NOW).content == RSS


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_zlib_and_raw_are_decoded(feed_server: FeedServer, wbits: int) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = compressor.compress(RSS) + compressor.flush()
    url = feed_server.serve("/feed.xml", body, headers={"Content-Encoding": "deflate"})
    assert fetch(url, source="s", settings=loopback_fetch_config(), now=NOW).content == RSS


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip", "corrupt gzip"),
        (zlib.compress(b"x"), "br", "unsupported Content-Encoding br"),
        (zlib.compress(b"x"), "gzip, zstd", "unsupported Content-Encoding zstd"),
    ],
    ids=["corrupt-gzip", "brotli", "zstd"],
)
def test_bad_encodings_are_fetch_errors(
    feed_server: FeedServer, body: bytes, encoding: str, message: str
) -> None:
    url = feed_server.serve("/feed.xml", body, headers={"Content-Encoding": encoding})
    with pytest.raises(FetchError, match=message):
        fetch(url, source="s", settings=loopback_fetch_config(), now=NOW)


def test_truncated_gzip_is_a_fetch_error(feed_server: FeedServer) -> None:
    body = _gzip(RSS * 50)
    url = feed_server.serve("/feed.xml", body[: len(body) // 2])
    with pytest.raises(FetchError, match="truncated gzip"):
        fetch(url, source="s", settings=loopback_fetch_config(), now=NOW)


# -- 3. redirects -----------------------------------------------------------------------------


def test_permanent_redirect_chain_is_reported(feed_server: FeedServer) -> None:
    feed_server.redirect("/old", "/older", status=301)
    feed_server.redirect("/older", feed_server.url("/new"), status=308)
    final = feed_server.serve("/new", RSS)
    result = fetch(feed_server.url("/old"), source="s", settings=loopback_fetch_config(), now=NOW)
    assert result.content == RSS
    assert result.url == final
    assert result.permanent_redirect == final
    assert [r.path for r in feed_server.requests] == ["/old", "/older", "/new"]


def test_temporary_redirect_is_not_permanent(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "/b", status=302)
    feed_server.redirect("/b", "/c", status=301)  # permanent, but behind a temporary hop
    feed_server.serve("/c", RSS)
    result = fetch(feed_server.url("/a"), source="s", settings=loopback_fetch_config(), now=NOW)
    assert result.url == feed_server.url("/c")
    assert result.permanent_redirect is None


def test_permanent_then_temporary_reports_the_permanent_hop(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "/b", status=301)
    feed_server.redirect("/b", "/c", status=307)
    feed_server.serve("/c", RSS)
    result = fetch(feed_server.url("/a"), source="s", settings=loopback_fetch_config(), now=NOW)
    assert result.permanent_redirect == feed_server.url("/b")


def test_too_many_redirects(feed_server: FeedServer) -> None:
    for i in range(3):
        feed_server.redirect(f"/r{i}", f"/r{i + 1}")
    feed_server.serve("/r3", RSS)
    assert (
        fetch(
            feed_server.url("/r0"),
            source="s",
            settings=loopback_fetch_config(max_redirects=3),
            now=NOW,
        ).content
        == RSS
    )
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(
            feed_server.url("/r0"),
            source="s",
            settings=loopback_fetch_config(max_redirects=2),
            now=NOW,
        )
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(
            feed_server.url("/r2"),
            source="s",
            settings=loopback_fetch_config(max_redirects=0),
            now=NOW,
        )


def test_redirect_loop_is_detected(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")
    with pytest.raises(FetchError, match="redirect loop"):
        fetch(
            feed_server.url("/a"),
            source="s",
            settings=loopback_fetch_config(max_redirects=20),
            now=NOW,
        )
    assert len(feed_server.requests) == 2


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://example.org/feed", "gopher://x/", "javascript:alert(1)"]
)
def test_redirect_to_another_scheme_is_refused(feed_server: FeedServer, target: str) -> None:
    url = feed_server.redirect("/feed", target)
    with pytest.raises(FetchError, match="refused redirect"):
        fetch(url, source="s", settings=loopback_fetch_config(), now=NOW)


def test_redirect_without_location(feed_server: FeedServer) -> None:
    url = feed_server.serve("/feed", b"", status=302)
    with pytest.raises(FetchError, match="without a Location") as info:
        fetch(url, source="s", settings=loopback_fetch_config(), now=NOW)
    assert info.value.status == 302


def test_redirect_to_gone_feed(feed_server: FeedServer) -> None:
    feed_server.redirect("/feed", "/gone", status=301)
    feed_server.serve("/gone", b"", status=410)
    with pytest.raises(FetchError, match="gone") as info:
        fetch(feed_server.url("/feed"), source="s", settings=loopback_fetch_config(), now=NOW)
    assert info.value.status == 410


# -- 4. private-address guard -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("0.0.0.0", "unspecified"),
        ("192.0.2.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("not-an-ip", "invalid"),
    ],
)
def test_refusal_reasons(address: str, reason: str) -> None:
    assert refusal_reason(address) == reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(address) is None


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "127.1",
        "017700000001",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "0.0.0.0",
    ],
)
def test_loopback_spellings_are_refused_before_any_request(
    feed_server: FeedServer, host: str
) -> None:
    url = f"http://{host}:{feed_server.port}/feed.xml"
    feed_server.serve("/feed.xml", RSS)
    # the message names the setting that allows it (a new user's feed on 127.0.0.1 was
    # refused with no word of how to allow it)
    with pytest.raises(FetchError, match=r"refused.*\(fetch\.allow_private_addresses: true lets"):
        fetch(url, source="s", settings=FetchConfig(), now=NOW)
    assert feed_server.requests == []


def test_literal_private_address_is_refused_even_with_a_custom_transport() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=RSS)

    transport = httpx.MockTransport(answer)
    with pytest.raises(FetchError, match="link-local address 169.254.169.254"):
        fetch(
            "http://169.254.169.254/latest/meta-data/",
            source="s",
            settings=FetchConfig(),
            now=NOW,
            transport=transport,
        )
    assert calls == []


def _fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    asked: list[str] = []

    def getaddrinfo(host: str, port: int) -> list[str]:
        asked.append(host)
        literal = fetch_module._literal_address(host)
        if literal is not None:
            return [literal]
        if host in table:
            return table[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch_module, "_getaddrinfo", getaddrinfo)
    return asked


def test_hostname_resolving_to_loopback_is_refused(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.serve("/feed.xml", RSS)
    asked = _fake_dns(monkeypatch, {"feeds.example.test": ["127.0.0.1"]})
    with pytest.raises(
        FetchError,
        match=r"refused to connect to feeds.example.test \(127.0.0.1\): loopback address "
        r"\(fetch\.allow_private_addresses: true",
    ):
        fetch(
            f"http://feeds.example.test:{feed_server.port}/feed.xml",
            source="s",
            settings=FetchConfig(),
            now=NOW,
        )
    assert asked == ["feeds.example.test"]  # the guard resolved the name itself
    assert feed_server.requests == []


def test_unknown_host_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {})
    with pytest.raises(FetchError, match="DNS lookup of nowhere.example.test failed"):
        fetch("http://nowhere.example.test/feed", source="s", settings=FetchConfig(), now=NOW)


def test_allow_private_addresses_lets_a_resolved_loopback_through(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.serve("/feed.xml", RSS)
    _fake_dns(monkeypatch, {"feeds.example.test": ["127.0.0.1"]})
    url = f"http://feeds.example.test:{feed_server.port}/feed.xml"
    assert fetch(url, source="s", settings=loopback_fetch_config(), now=NOW).content == RSS
    assert feed_server.requests[0].headers["host"] == f"feeds.example.test:{feed_server.port}"


@pytest.fixture
def public_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedServer]:
    """A feed server on 127.0.0.2, which the guard is told to treat as a public address."""
    try:
        server = FeedServer(host=PUBLIC_LOOPBACK)
    except OSError:
        pytest.skip("cannot bind 127.0.0.2 on this machine")
    real = fetch_module.refusal_reason
    monkeypatch.setattr(
        fetch_module, "refusal_reason", lambda a: None if a == PUBLIC_LOOPBACK else real(a)
    )
    with server:
        yield server


@pytest.mark.parametrize(
    "spelling", ["127.0.0.1", "2130706433", "[::ffff:127.0.0.1]", "internal.example.test"]
)
def test_redirect_to_a_private_address_never_reaches_it(
    public_server: FeedServer,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    spelling: str,
) -> None:
    _fake_dns(monkeypatch, {"internal.example.test": ["127.0.0.1"]})
    feed_server.serve("/admin", b"secret")  # the private service on 127.0.0.1
    url = public_server.redirect("/feed.xml", f"http://{spelling}:{feed_server.port}/admin")
    with pytest.raises(FetchError, match="refused"):
        fetch(url, source="s", settings=FetchConfig(), now=NOW)
    assert [r.path for r in public_server.requests] == ["/feed.xml"]
    assert feed_server.requests == []


def test_fetch_from_an_allowed_address_works_with_the_guard_on(public_server: FeedServer) -> None:
    url = public_server.serve("/feed.xml", RSS)
    assert fetch(url, source="s", settings=FetchConfig(), now=NOW).content == RSS


def test_dns_rebinding_cannot_switch_to_a_private_address(
    public_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves to an allowed address when checked and to loopback afterwards; the
    connection must go to the checked address, never to a listener on 127.0.0.1."""
    public_server.serve("/feed.xml", RSS)
    with FeedServer(host="127.0.0.1", port=public_server.port) as private:
        private.serve("/feed.xml", b"private data")
        answers = iter([[PUBLIC_LOOPBACK]])
        monkeypatch.setattr(
            fetch_module, "_getaddrinfo", lambda host, port: next(answers, ["127.0.0.1"])
        )
        url = f"http://rebind.example.test:{public_server.port}/feed.xml"
        result = fetch(url, source="s", settings=FetchConfig(), now=NOW)
        assert result.content == RSS
        assert private.requests == []


def test_mixed_answers_connect_only_to_allowed_addresses(
    public_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    public_server.serve("/feed.xml", RSS)
    with FeedServer(host="127.0.0.1", port=public_server.port) as private:
        _fake_dns(monkeypatch, {"mixed.example.test": ["127.0.0.1", PUBLIC_LOOPBACK]})
        result = fetch(
            f"http://mixed.example.test:{public_server.port}/feed.xml",
            source="s",
            settings=FetchConfig(),
            now=NOW,
        )
        assert result.content == RSS
        assert private.requests == []


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return compressor.compress(data) + compressor.flush()


# -- TLS through the guarded connection ------------------------------------------------------


def _tls_contexts(hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for ``hostname``, client context trusting it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    start = datetime(2020, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start.replace(year=2099))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    return server, client


@pytest.mark.parametrize(
    ("cert_name", "ok"), [("secure.example.test", True), ("other.example.test", False)]
)
def test_https_verifies_the_host_name_while_connecting_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, cert_name: str, ok: bool
) -> None:
    """The guard connects to an IP address; TLS must still send SNI and verify the certificate
    against the URL's host name (a certificate for another name is refused)."""
    server_ctx, client_ctx = _tls_contexts(cert_name)
    monkeypatch.setattr(fetch_module, "_SSL_CONTEXT", client_ctx)
    _fake_dns(monkeypatch, {"secure.example.test": ["127.0.0.1"]})
    with FeedServer(ssl_context=server_ctx) as server:
        server.serve("/feed.xml", RSS)
        url = f"https://secure.example.test:{server.port}/feed.xml"
        if ok:
            result = fetch(url, source="s", settings=loopback_fetch_config(), now=NOW)
            assert result.content == RSS
            assert server.requests[0].headers["host"] == f"secure.example.test:{server.port}"
        else:
            with pytest.raises(FetchError, match="network error.*(certificate|hostname)"):
                fetch(url, source="s", settings=loopback_fetch_config(), now=NOW)


def test_a_foreign_exception_becomes_a_fetch_error() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("transport bug")

    with pytest.raises(FetchError, match="unexpected error.*transport bug") as info:
        fetch(
            "https://feeds.example.org/rss",
            source="s",
            settings=FetchConfig(),
            now=NOW,
            transport=httpx.MockTransport(explode),
        )
    assert isinstance(info.value.__cause__, RuntimeError)
