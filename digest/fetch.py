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
when to poll next is :mod:`digest.polling`'s decision. The HTTP half (httpx, httpcore) is
:mod:`digest.fetch_http`, imported at the first URL fetched: a poll of local files only
never loads it.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import socket
import ssl
import stat
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from digest.config import FetchConfig
from digest.exceptions import FetchError, NotModified
from digest.types import FetchResult

if TYPE_CHECKING:
    import httpx

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


PRIVATE_HINT = "fetch.allow_private_addresses: true lets digest fetch it"
"""Appended to every refusal of a loopback, private or link-local destination: the one
setting that allows such a feed (a feed served on this machine or the local network)."""


class _AddressRefused(Exception):
    """Internal: the destination address is not allowed. Turned into FetchError by fetch()."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"refused to connect to {host} ({address}): {why} address ({PRIVATE_HINT})")
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
        from digest.fetch_http import fetch_http  # httpx only for a URL (issue 14)

        return fetch_http(
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


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


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
