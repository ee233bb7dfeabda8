"""The HTTP(S) half of :func:`digest.fetch.fetch`: the total deadline at the socket, the
address guard on the address connected to, redirects checked hop by hop, conditional
requests and the status checks (the module docstring of :mod:`digest.fetch` says what and
why). A module of its own so that a poll of local files only, the demo's and the
benchmark's, never imports httpx and httpcore (about 0.04 s of CPU, issue 14): ``fetch``
imports it at its first URL.

Tests patch ``digest.fetch._getaddrinfo``, ``refusal_reason`` and ``_SSL_CONTEXT``: they are
looked up there at each use.
"""

from __future__ import annotations

import itertools
import logging
import ssl
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx

from digest import fetch as _fetch
from digest.config import FetchConfig
from digest.exceptions import FetchError, NotModified
from digest.fetch import (
    _PERMANENT,
    _REDIRECTS,
    ACCEPT,
    ACCEPT_ENCODING,
    RetryLater,
    _AddressRefused,
    _describe,
    _read_capped,
    parse_retry_after,
)
from digest.types import FetchResult

log = logging.getLogger("digest.fetch")

_DNS_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="digest-dns")  # shared by threads


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    future = _DNS_POOL.submit(lambda: _fetch._getaddrinfo(host, port))
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
            why = None if self._allow_private else _fetch.refusal_reason(address)
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
    if _fetch._SSL_CONTEXT is None:  # kept in digest.fetch: one context per process
        _fetch._SSL_CONTEXT = httpx.create_ssl_context(trust_env=False)
    return _fetch._SSL_CONTEXT


def _check_url(url: httpx.URL, source: str, allow_private: bool) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchError(source, f"refused URL scheme {url.scheme!r} in {url}: only http and https")
    host = url.host
    if not host:
        raise FetchError(source, f"URL has no host: {url}")
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise FetchError(source, f"refused to fetch {url}: loopback host name ({_fetch.PRIVATE_HINT})")
    literal = _fetch._literal_address(host)
    if literal is not None:
        why = _fetch.refusal_reason(literal)
        if why is not None:
            raise FetchError(source, f"refused to fetch {url}: {why} address {literal} ({_fetch.PRIVATE_HINT})")


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


def fetch_http(
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
