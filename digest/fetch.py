"""Fetch one feed's bytes over HTTP(S) or from a local file, defensively.

A feed server is untrusted input. :func:`fetch` therefore:

- enforces a **total deadline** per fetch (DNS, connect, TLS, headers and body together), on
  top of the per-operation connect/read timeouts; when fetch opens its own connections the
  deadline is applied at the socket (every read and write waits at most the time left), so a
  server trickling one byte a second is cut at the deadline, not after it;
- streams the body and caps its **decoded** size (``max_bytes``) while decoding, so a small
  gzip body that inflates to a gigabyte costs at most ``max_bytes`` of memory; gzip is
  recognised by its magic bytes ``1f 8b`` even without ``Content-Encoding`` (RFC 1952);
- follows **redirects itself** (RFC 9110 §15.4), at most ``max_redirects``, checking every hop
  (http/https only, address guard, loop detection) and reporting a 301/308 chain as
  ``permanent_redirect`` so the caller can update the stored URL;
- refuses **private destinations** (loopback, RFC 1918, link-local, CGNAT 100.64/10,
  multicast, reserved, unspecified, IPv4-mapped/6to4/NAT64 forms of them) unless
  ``allow_private_addresses``: the host name is resolved here and the connection is made to
  the very address that was checked, on every hop, so DNS rebinding cannot slip past;
- makes **conditional GETs** (RFC 9110 §13.1: ``If-None-Match``, ``If-Modified-Since``) and
  turns 304 into :class:`~digest.exceptions.NotModified`; parses ``Retry-After`` of 429/503
  into :attr:`RetryLater.retry_after`.

Proxies from the environment are not used: a proxy would connect, on our behalf, to
addresses this module never checked. DNS lookups run in a small shared thread pool so they
too are bounded by the connect timeout and the deadline.

Order of checks for an HTTP location: scheme → literal address guard → request (resolve,
guard, connect) → status (304, redirect, 410, 429/503, other >= 400) → streamed, decoded,
capped body. Local files are read through the same decoder and cap.

The pure helper :func:`parse_retry_after` takes ``now`` as an argument and reads no clock;
when to poll next is :mod:`digest.polling`'s decision.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import socket
import ssl
import stat
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from digest.config import FetchConfig
from digest.exceptions import FetchError, NotModified
from digest.types import FetchResult

log = logging.getLogger("digest.fetch")

#: Sent as ``Accept``: feed types first, generic XML/JSON next, anything last (RFC 9110 §12.5.1).
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)
#: Sent as ``Accept-Encoding``: gzip is the one compression every feed server speaks.
ACCEPT_ENCODING = "gzip"

#: Retry-After values are clamped to this range, in seconds (one minute to one day).
RETRY_AFTER_MIN = 60.0
RETRY_AFTER_MAX = 24 * 3600.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_GZIP_LAYERS = 2  # a gzipped .gz file served with Content-Encoding: gzip is two layers
_DNS_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="digest-dns")  # shared by threads
_SSL_CONTEXT: ssl.SSLContext | None = None


class RetryLater(FetchError):
    """The server asked us to come back later (HTTP 429 Too Many Requests or 503).

    ``retry_after`` is the server's ``Retry-After`` (RFC 9110 §10.2.3) in seconds, clamped to
    [60 s, 24 h], or ``None`` when the header was missing or unreadable. ``status`` is 429 or
    503. The caller should not poll the source again before that delay (see :func:`digest.polling.decide`).
    """

    def __init__(
        self,
        source: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source, message, status=status)
        self.retry_after = retry_after


class _AddressRefused(Exception):
    """Internal: the destination address is not allowed. Turned into FetchError by fetch()."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"refused to connect to {host} ({address}): {why} address")
        self.host = host
        self.address = address
        self.why = why


# --------------------------------------------------------------------------------------------
# Public entry point


def fetch(
    location: str,
    *,
    source: str,
    settings: FetchConfig,
    now: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
    allow_files: bool = True,
    transport: httpx.BaseTransport | None = None,
) -> FetchResult:
    """Fetch the feed at ``location`` and return its decoded bytes.

    ``location`` is an ``http``/``https`` URL, or a local file given as an absolute path or a
    ``file:`` URL; local files are read only when ``allow_files`` is true (they came from the
    operator's config, never from a feed or a redirect). ``source`` names the source in errors
    and logs. ``now`` (aware UTC; naive is taken as UTC) is the fetch time: it becomes ``fetched_at``, bounds
    ``If-Modified-Since`` (never sent when in the future) and resolves date-valued
    ``Retry-After``. ``etag``/``last_modified`` are the validators stored from the previous
    fetch, sent back exactly as received. ``transport`` replaces the network layer (tests use
    ``httpx.MockTransport``); with it, the address guard can only check literal IP hosts and
    the deadline is checked between body chunks rather than at the socket.

    Returns a :class:`~digest.types.FetchResult`: ``content`` is the decoded body (at most
    ``settings.max_bytes``), ``headers`` the final response's headers with lower-case names
    (as the server sent them, so ``content-encoding`` may still say gzip), ``status`` and
    ``url`` those of the final response, ``permanent_redirect`` the target of the leading
    chain of 301/308 redirects (the URL the source should be stored under from now on).

    Raises :class:`~digest.exceptions.NotModified` on 304; :class:`RetryLater` (a
    ``FetchError`` with ``retry_after``) on 429/503; :class:`~digest.exceptions.FetchError`
    for everything else: HTTP status >= 400 (``.status`` set; 410 says the feed is gone),
    network errors, timeouts, the total deadline, the size cap, a refused address or scheme,
    too many redirects or a redirect loop, a bad local path. ``NotModified`` and ``RetryLater``
    are subclasses of ``FetchError``: catch them first. Any other exception raised inside is
    logged and re-raised as ``FetchError`` (chained), so one source never crashes a batch.

    Thread-safe: each call opens and closes its own connections, so a pipeline may run many
    fetches at once in a thread pool.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # a naive time is taken as UTC, never compared naively
    try:
        kind, target = _classify(location, source)
        if kind == "file":
            if not allow_files:
                raise FetchError(source, f"local files are not allowed here: {location}")
            return _fetch_file(Path(target), source=source, settings=settings, now=now)
        return _fetch_http(
            target,
            source=source,
            settings=settings,
            now=now,
            etag=etag,
            last_modified=last_modified,
            transport=transport,
        )
    except FetchError:
        raise
    except Exception as exc:  # a hostile server must never crash the batch with a foreign error
        log.warning(
            "fetch.unexpected source=%s location=%s error=%r", source, location, exc, exc_info=True
        )
        raise FetchError(source, f"unexpected error fetching {location}: {_describe(exc)}") from exc


# --------------------------------------------------------------------------------------------
# Pure helpers: Retry-After and polling schedule


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Parse a ``Retry-After`` header (RFC 9110 §10.2.3) into seconds from ``now``.

    Accepts delay-seconds (``"120"``) or an HTTP date (``"Wed, 21 Oct 2026 07:28:00 GMT"``;
    a date without zone counts as UTC). The result is clamped to [``RETRY_AFTER_MIN``,
    ``RETRY_AFTER_MAX``] (60 s .. 24 h), so a past date gives 60. Returns ``None`` when the
    value is missing or unreadable. Never raises.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    if text.isdigit():
        seconds = float(int(text[:12]))  # 12 digits is already far beyond the clamp
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


# --------------------------------------------------------------------------------------------
# Address guard


def refusal_reason(address: str) -> str | None:
    """Why the IP ``address`` must not be fetched from, or ``None`` when it is public.

    Reasons: ``"loopback"``, ``"private"``, ``"link-local"``, ``"shared (CGNAT)"``,
    ``"multicast"``, ``"reserved"``, ``"unspecified"``, ``"non-global"``. IPv6 forms that
    embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo,
    NAT64 ``64:ff9b::/96``) are judged by the embedded address too. A string that is not an
    IP address is refused as ``"invalid"``.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "invalid"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if ip in _NAT64 or ip in _NAT64_LOCAL:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        for inner in embedded:
            reason = refusal_reason(str(inner))
            if reason is not None:
                return reason
        if ip.ipv4_mapped is not None:
            return None
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared (CGNAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-global"
    return None


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _literal_address(host: str) -> str | None:
    """The IP address a literal host spells, including legacy numeric IPv4 forms, else None.

    ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1`` all spell 127.0.0.1 for
    ``inet_aton`` (and so for ``getaddrinfo``); ``[::1]`` is an IPv6 literal.
    """
    name = host.strip("[]")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if name and all(c in "0123456789abcdefxABCDEFX." for c in name):
        try:
            return socket.inet_ntoa(socket.inet_aton(name))
        except OSError:
            return None
    return None


def _getaddrinfo(host: str, port: int) -> list[str]:
    """Resolve ``host`` to IP address strings (tests patch this to fake DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    future = _DNS_POOL.submit(lambda: _getaddrinfo(host, port))
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out") from None
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"DNS lookup of {host} failed: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Deadline and the guarded network layer


class _Deadline:
    """A total time budget, in seconds, measured on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def clip(self, timeout: float | None, exc: type[Exception]) -> float:
        """``timeout`` shortened to the time left; raises ``exc`` when none is left."""
        left = self.remaining()
        if left <= 0:
            raise exc(f"deadline of {self.seconds:g} s exceeded")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read/write waits at most the time left in the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, self._deadline.clip(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves host names itself, checks every address, connects only to a checked one."""

    def __init__(self, *, allow_private: bool, deadline: _Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, self._deadline.clip(timeout, httpcore.ConnectTimeout))
        if not addresses:
            raise httpcore.ConnectError(f"DNS lookup of {host} returned no address")
        allowed = []
        refused: tuple[str, str] | None = None
        for address in addresses:
            why = None if self._allow_private else refusal_reason(address)
            if why is None:
                allowed.append(address)
            elif refused is None:
                refused = (address, why)
        if not allowed:
            assert refused is not None
            raise _AddressRefused(host, *refused)
        last: Exception | None = None
        for address in allowed:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=self._deadline.clip(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for feeds")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport over a connection pool that uses :class:`_GuardedBackend`.

    No proxy, no environment (``trust_env`` off): a proxy would connect on our behalf to an
    address we never checked. ``HTTPTransport.handle_request`` only uses ``self._pool``; a
    test (``test_hostname_resolving_to_loopback_is_refused``) fails if an httpx upgrade
    changes that.
    """

    def __init__(self, backend: _GuardedBackend) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=4,
            max_keepalive_connections=4,
            retries=0,
            network_backend=backend,
        )


def _ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = httpx.create_ssl_context(trust_env=False)
    return _SSL_CONTEXT


# --------------------------------------------------------------------------------------------
# HTTP


def _classify(location: str, source: str) -> tuple[str, str]:
    """("http", url) or ("file", absolute path); FetchError for anything else."""
    text = location.strip()
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        return "http", text
    if lowered.startswith("file:"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(source, f"file URL with a remote host is not supported: {location}")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise FetchError(source, f"file URL must hold an absolute path: {location}")
        return "file", path
    if os.path.isabs(text):
        return "file", text
    scheme = urlsplit(text).scheme
    if scheme:
        raise FetchError(
            source, f"unsupported URL scheme {scheme!r}: only http, https and local files"
        )
    raise FetchError(source, f"not a URL or an absolute path: {location!r}")


def _check_url(url: httpx.URL, source: str, allow_private: bool) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchError(source, f"refused URL scheme {url.scheme!r} in {url}: only http and https")
    host = url.host
    if not host:
        raise FetchError(source, f"URL has no host: {url}")
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise FetchError(source, f"refused to fetch {url}: loopback host name")
    literal = _literal_address(host)
    if literal is not None:
        why = refusal_reason(literal)
        if why is not None:
            raise FetchError(source, f"refused to fetch {url}: {why} address {literal}")


def _valid_header(value: str | None) -> bool:
    """A header value we can send: non-empty, bounded, no control characters (no CR/LF)."""
    if not value or len(value) > 1024:
        return False
    return all(c == "\t" or 32 <= ord(c) != 127 for c in value)


def _header_bytes(value: str) -> bytes:
    """Encode a header value. Non-ASCII (obs-text, RFC 9110 §5.5) goes back as Latin-1 octets,
    the way httpx decoded it, else as UTF-8; so a stored validator is returned byte for byte."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _request_headers(
    settings: FetchConfig, etag: str | None, last_modified: str | None, now: datetime
) -> dict[str, str]:
    headers = {
        "User-Agent": settings.user_agent if _valid_header(settings.user_agent) else "digest",
        "Accept": ACCEPT,
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    if etag is not None:
        if _valid_header(etag):
            headers["If-None-Match"] = etag
        else:
            log.warning("fetch.validator_ignored header=etag value=%r", etag[:80])
    if last_modified is not None:
        when: datetime | None
        try:
            when = parsedate_to_datetime(last_modified) if _valid_header(last_modified) else None
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when is None:
            log.warning("fetch.validator_ignored header=last-modified value=%r", last_modified[:80])
        elif when > now:
            log.info("fetch.validator_future header=last-modified value=%r", last_modified)
        else:
            headers["If-Modified-Since"] = last_modified
    return headers


def _timeouts(settings: FetchConfig, deadline: _Deadline, source: str) -> dict[str, float]:
    left = deadline.remaining()
    if left <= 0:
        raise FetchError(source, f"deadline of {deadline.seconds:g} s exceeded")
    return {
        "connect": min(settings.connect_timeout, left),
        "read": min(settings.read_timeout, left),
        "write": min(settings.read_timeout, left),
        "pool": min(settings.connect_timeout, left),
    }


def _fetch_http(
    url_text: str,
    *,
    source: str,
    settings: FetchConfig,
    now: datetime,
    etag: str | None,
    last_modified: str | None,
    transport: httpx.BaseTransport | None,
) -> FetchResult:
    deadline = _Deadline(settings.deadline)
    own = transport is None
    if transport is None:
        backend = _GuardedBackend(allow_private=settings.allow_private_addresses, deadline=deadline)
        transport = _GuardedTransport(backend)
    try:
        return _follow(
            url_text,
            transport=transport,
            deadline=deadline,
            source=source,
            settings=settings,
            now=now,
            headers=_request_headers(settings, etag, last_modified, now),
        )
    finally:
        if own:
            transport.close()


def _follow(
    url_text: str,
    *,
    transport: httpx.BaseTransport,
    deadline: _Deadline,
    source: str,
    settings: FetchConfig,
    now: datetime,
    headers: dict[str, str],
) -> FetchResult:
    try:
        url = httpx.URL(url_text)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError(source, f"invalid URL {url_text!r}: {exc}") from None
    url = url.copy_with(fragment=None)
    seen = {str(url)}
    permanent: str | None = None
    still_permanent = True
    redirects = 0
    while True:
        _check_url(url, source, settings.allow_private_addresses)
        response = _send(transport, url, headers, deadline, source, settings)
        try:
            status = response.status_code
            log.debug("fetch.response source=%s url=%s status=%s", source, url, status)
            if status in _REDIRECTS:
                target = _redirect_target(response, url, source)
                redirects += 1
                if redirects > settings.max_redirects:
                    raise FetchError(
                        source,
                        f"too many redirects (more than {settings.max_redirects}), last to {target}",
                        status=status,
                    )
                if str(target) in seen:
                    raise FetchError(source, f"redirect loop at {target}", status=status)
                seen.add(str(target))
                if still_permanent and status in _PERMANENT:
                    permanent = str(target)
                else:
                    still_permanent = False
                log.info(
                    "fetch.redirect source=%s status=%s from=%s to=%s", source, status, url, target
                )
                url = target
                continue
            _check_status(response, source, now)
            content = _read_capped(
                _raw_chunks(response, deadline, source),
                source=source,
                max_bytes=settings.max_bytes,
                content_encoding=response.headers.get("content-encoding", ""),
            )
        finally:
            response.close()
        resp_headers = {k.lower(): v for k, v in response.headers.items()}
        log.info(
            "fetch.ok source=%s url=%s status=%s bytes=%d redirects=%d",
            source,
            url,
            status,
            len(content),
            redirects,
        )
        return FetchResult(
            source=source,
            url=str(url),
            content=content,
            fetched_at=now,
            status=status,
            headers=resp_headers,
            etag=_raw_header(response, b"etag"),
            last_modified=_raw_header(response, b"last-modified"),
            permanent_redirect=permanent,
        )


def _send(
    transport: httpx.BaseTransport,
    url: httpx.URL,
    headers: dict[str, str],
    deadline: _Deadline,
    source: str,
    settings: FetchConfig,
) -> httpx.Response:
    request = httpx.Request(
        "GET",
        url,
        headers=[(name.encode("ascii"), _header_bytes(value)) for name, value in headers.items()],
        extensions={"timeout": _timeouts(settings, deadline, source)},
    )
    try:
        response = transport.handle_request(request)
    except _AddressRefused as exc:
        log.warning(
            "fetch.refused source=%s url=%s address=%s why=%s", source, url, exc.address, exc.why
        )
        raise FetchError(source, f"{exc} (fetching {url})") from None
    except httpx.TimeoutException as exc:
        raise _timeout_error(exc, deadline, source, settings, url) from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        raise FetchError(source, f"network error fetching {url}: {_describe(exc)}") from exc
    response.request = request
    return response


def _raw_header(response: httpx.Response, name: bytes) -> str | None:
    """The first ``name`` header as Latin-1 text: a lossless view of its octets, so sending it
    back Latin-1-encoded (see :func:`_header_bytes`) repeats exactly what the server sent."""
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _timeout_error(
    exc: BaseException, deadline: _Deadline, source: str, settings: FetchConfig, url: httpx.URL
) -> FetchError:
    if deadline.expired or "deadline" in str(exc):
        return FetchError(source, f"deadline of {settings.deadline:g} s exceeded fetching {url}")
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchError(
            source, f"connect timeout ({settings.connect_timeout:g} s) fetching {url}"
        )
    if isinstance(exc, httpx.PoolTimeout):
        return FetchError(source, f"timeout waiting for a connection fetching {url}")
    return FetchError(source, f"read timeout ({settings.read_timeout:g} s) fetching {url}")


def _redirect_target(response: httpx.Response, url: httpx.URL, source: str) -> httpx.URL:
    location = response.headers.get("location")
    if not location or not location.strip():
        raise FetchError(
            source,
            f"HTTP {response.status_code} redirect without a Location header",
            status=response.status_code,
        )
    try:
        target = url.join(location.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError(
            source,
            f"invalid redirect Location {location[:200]!r}: {exc}",
            status=response.status_code,
        ) from None
    if target.scheme not in ("http", "https"):
        raise FetchError(
            source,
            f"refused redirect to {target.scheme!r} URL {str(target)[:200]}: only http and https",
            status=response.status_code,
        )
    return target.copy_with(fragment=None)


def _check_status(response: httpx.Response, source: str, now: datetime) -> None:
    status = response.status_code
    if status == 304:
        raise NotModified(source, "not modified (HTTP 304)", status=304)
    if 200 <= status < 300:
        return
    phrase = response.reason_phrase or ""
    label = f"HTTP {status} {phrase}".rstrip()
    if status == 410:
        raise FetchError(
            source, f"{label}: the feed is gone for good; remove or replace this source", status=410
        )
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        hint = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        raise RetryLater(
            source,
            f"{label}: server asks to retry later{hint}",
            status=status,
            retry_after=retry_after,
        )
    if status >= 400:
        raise FetchError(source, label, status=status)
    raise FetchError(source, f"{label}: unexpected status for a feed", status=status)


def _raw_chunks(response: httpx.Response, deadline: _Deadline, source: str) -> Iterator[bytes]:
    """The body as received on the wire, chunk by chunk, checking the deadline in between."""
    try:
        try:
            raw = response.iter_raw()  # no chunk_size: do not wait to fill a buffer
            first = next(raw, b"")
        except httpx.StreamConsumed:  # a test transport built the response from bytes
            raw, first = iter(()), response.content
        for chunk in itertools.chain([first], raw):
            yield chunk
            if deadline.expired:
                raise FetchError(
                    source, f"deadline of {deadline.seconds:g} s exceeded reading the body"
                )
    except httpx.TimeoutException as exc:
        if deadline.expired or "deadline" in str(exc):
            raise FetchError(
                source, f"deadline of {deadline.seconds:g} s exceeded reading the body"
            ) from None
        raise FetchError(source, f"read timeout reading the body: {_describe(exc)}") from None
    except httpx.HTTPError as exc:
        raise FetchError(source, f"network error reading the body: {_describe(exc)}") from exc


# --------------------------------------------------------------------------------------------
# Body decoding with a cap on the decoded size


def _read_capped(
    chunks: Iterator[bytes], *, source: str, max_bytes: int, content_encoding: str
) -> bytes:
    """Decode ``chunks`` (gzip/deflate by header or by magic bytes) and join them, capped.

    Raises FetchError as soon as the raw or the decoded size passes ``max_bytes``, or when the
    compressed data is corrupt or an encoding is unsupported.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    unsupported = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
    if unsupported:
        raise FetchError(source, f"unsupported Content-Encoding {', '.join(unsupported)}")
    stream: Iterator[bytes] = _capped(chunks, max_bytes, source, "received body")
    if "deflate" in codings:
        stream = _inflate(stream, source)
    for _ in range(_MAX_GZIP_LAYERS):
        stream = _maybe_gunzip(stream, source)
    parts: list[bytes] = []
    total = 0
    for part in stream:
        total += len(part)
        if total > max_bytes:
            raise FetchError(
                source, f"feed is larger than the cap of {max_bytes} bytes once decoded"
            )
        parts.append(part)
    return b"".join(parts)


def _capped(chunks: Iterator[bytes], max_bytes: int, source: str, what: str) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(source, f"{what} is larger than the cap of {max_bytes} bytes")
        yield chunk


def _peek(chunks: Iterator[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``size`` bytes or more (whole chunks) of ``chunks``, and the rest."""
    head = b""
    it = iter(chunks)
    while len(head) < size:
        try:
            head += next(it)
        except StopIteration:
            break
    return head, it


def _maybe_gunzip(chunks: Iterator[bytes], source: str) -> Iterator[bytes]:
    """Pass ``chunks`` through, gunzipping them when they start with the gzip magic bytes."""
    head, it = _peek(chunks, 2)
    rest = itertools.chain([head], it)
    if head.startswith(_GZIP_MAGIC):
        yield from _decompress(rest, source, zlib.MAX_WBITS | 16, "gzip")
    else:
        yield from (c for c in rest if c)


def _inflate(chunks: Iterator[bytes], source: str) -> Iterator[bytes]:
    """HTTP ``deflate`` is zlib-wrapped (RFC 9110 §8.4.1.2); some servers send raw deflate."""
    head, it = _peek(chunks, 2)
    if not head:
        return
    wrapped = (head[0] & 0x0F) == 8 and len(head) >= 2 and (head[0] << 8 | head[1]) % 31 == 0
    yield from _decompress(
        itertools.chain([head], it),
        source,
        zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS,
        "deflate",
    )


def _decompress(chunks: Iterable[bytes], source: str, wbits: int, name: str) -> Iterator[bytes]:
    """Decompress with bounded output per step (``_CHUNK``), so a bomb never inflates at once.

    Concatenated gzip members (RFC 1952 §2.2) are decoded one after another. Anything else
    after the end of the compressed data (padding, garbage) is ignored and not even read, as
    ``gzip -d`` does, so megabytes of trailing zeros cost nothing. Raises FetchError when the
    data is corrupt or ends before the compressed stream does.
    """
    multi_member = bool(wbits & 16)
    decoder = zlib.decompressobj(wbits)
    pending = b""
    try:
        for chunk in chunks:
            data = pending + chunk if pending else chunk
            pending = b""
            while data:
                if decoder.eof:
                    if (
                        multi_member
                        and len(data) < len(_GZIP_MAGIC)
                        and _GZIP_MAGIC.startswith(data)
                    ):
                        pending = data  # maybe the first byte of another member
                        break
                    if not (multi_member and data.startswith(_GZIP_MAGIC)):
                        log.debug("fetch.trailing_data_ignored source=%s encoding=%s", source, name)
                        return
                    decoder = zlib.decompressobj(wbits)
                out = decoder.decompress(data, _CHUNK)
                if out:
                    yield out
                if decoder.eof:
                    data = decoder.unused_data
                    continue
                data = decoder.unconsumed_tail
                while not data and len(out) == _CHUNK and not decoder.eof:
                    out = decoder.decompress(b"", _CHUNK)  # drain output still held inside zlib
                    if out:
                        yield out
                if decoder.eof:
                    data = decoder.unused_data
    except zlib.error as exc:
        raise FetchError(source, f"corrupt {name} body: {exc}") from None
    if not decoder.eof:
        raise FetchError(source, f"truncated {name} body")


# --------------------------------------------------------------------------------------------
# Local files


def _fetch_file(path: Path, *, source: str, settings: FetchConfig, now: datetime) -> FetchResult:
    """Read a local feed file through the same decoder and size cap as HTTP bodies."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FetchError(source, f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FetchError(source, f"not a regular file: {path}")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        try:

            def chunks() -> Iterator[bytes]:
                while block := fh.read(_CHUNK):
                    yield block

            content = _read_capped(
                chunks(), source=source, max_bytes=settings.max_bytes, content_encoding=""
            )
        except OSError as exc:
            raise FetchError(source, f"cannot read {path}: {exc.strerror or exc}") from None
    log.info("fetch.ok source=%s path=%s bytes=%d", source, path, len(content))
    return FetchResult(source=source, url=str(path.absolute()), content=content, fetched_at=now)
