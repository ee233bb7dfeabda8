"""A scriptable loopback HTTP server for tests that cross the network (never the internet).

Usage in a test module::

    from tests.feedserver import FeedServer, Reply, feed_server, loopback_fetch_config  # noqa: F401

    def test_something(feed_server: FeedServer) -> None:
        feed_server.serve("/feed.xml", b"<rss .../>", headers={"Content-Type": "application/rss+xml"})
        result = fetch(feed_server.url("/feed.xml"), source="s", settings=loopback_fetch_config(), now=NOW)
        assert feed_server.requests[0].headers["user-agent"].startswith("digest/")

Every path maps to a *handler*: a function from the :class:`RecordedRequest` to a
:class:`Reply` (status, headers, body, optional delays). Helpers build the usual ones:
:meth:`FeedServer.serve`, :meth:`~FeedServer.serve_file`, :meth:`~FeedServer.script` (a
sequence of replies, the last one repeating), :meth:`~FeedServer.redirect`,
:meth:`~FeedServer.conditional` (304 when the validators match), :meth:`~FeedServer.trickle`,
:meth:`~FeedServer.stall`, :meth:`~FeedServer.gzip_bomb`, :meth:`~FeedServer.retry_after`,
and :meth:`~FeedServer.serve_badfeeds` (every file of ``../shared/badfeeds`` with the
response its ``.headers.txt`` describes). Unknown paths answer 404. Every request is logged
in :attr:`FeedServer.requests`, in arrival order.

The server speaks HTTP/1.1 but closes the connection after each response, so a body without
``Content-Length`` is delimited by the close (RFC 9112 §6.3).
"""

from __future__ import annotations

import functools
import re
import ssl
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest

from digest.config import FetchConfig

REPO = Path(__file__).resolve().parent.parent


def bad_feeds_dir() -> Path:
    """The shared hostile-feed folder (``BAD_FEEDS`` of tests/conftest.py)."""
    from tests.conftest import BAD_FEEDS

    return BAD_FEEDS


def loopback_fetch_config(**overrides: Any) -> FetchConfig:
    """FetchConfig for fetching from this server: private addresses allowed, short timeouts."""
    values: dict[str, Any] = {
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "deadline": 5.0,
        "allow_private_addresses": True,
    }
    values.update(overrides)
    return FetchConfig(**values)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: ``path`` includes the query; ``headers`` have lower-case names."""

    method: str
    path: str
    headers: dict[str, str]
    client: tuple[str, int]


@dataclass
class Reply:
    """One response to send.

    ``body`` is bytes (sent with ``Content-Length`` unless ``content_length`` is false) or an
    iterable of byte chunks (sent as they come, then the connection closes). ``delay`` waits
    before the status line; ``chunk_delay`` waits before each body chunk after the first.
    """

    status: int = 200
    headers: dict[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0
    chunk_delay: float = 0.0
    content_length: bool = True

    def header_items(self) -> list[tuple[str, str]]:
        return list(self.headers.items()) if isinstance(self.headers, dict) else list(self.headers)


Handler = Callable[[RecordedRequest], Reply]


class FeedServer:
    """A threaded loopback HTTP server; see the module docstring. Use as a context manager."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        """Bind ``host:port`` (port 0: a free one). With ``ssl_context`` (a server-side
        context holding a certificate) the server speaks HTTPS and :meth:`url` says https."""
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self.scheme = "http"
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server, e.g. ``http://127.0.0.1:40123/feed.xml``."""
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="feedserver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request log -----------------------------------------------------------------------

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Requests received for ``path`` (query included in the comparison when given)."""
        with self._lock:
            return [r for r in self.requests if r.path == path or r.path.split("?", 1)[0] == path]

    def _record(self, request: RecordedRequest) -> Handler | None:
        with self._lock:
            self.requests.append(request)
            return self._routes.get(request.path) or self._routes.get(request.path.split("?", 1)[0])

    # -- routes ----------------------------------------------------------------------------

    def route(self, path: str, handler: Handler) -> str:
        """Answer requests for ``path`` with ``handler(request)``; returns the path's URL."""
        with self._lock:
            self._routes[path] = handler
        return self.url(path)

    def serve(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> str:
        """Always answer ``status`` with ``headers`` and ``body``."""
        reply = Reply(status=status, headers=headers or {}, body=body)
        return self.route(path, lambda _req: reply)

    def serve_file(
        self,
        path: str,
        file: Path,
        *,
        status: int = 200,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> str:
        """Answer with the bytes of ``file`` (read now) and ``headers``."""
        return self.serve(path, file.read_bytes(), status=status, headers=headers)

    def script(self, path: str, replies: list[Reply]) -> str:
        """Answer successive requests with successive ``replies``; the last one repeats."""
        queue = list(replies)
        lock = threading.Lock()

        def handler(_req: RecordedRequest) -> Reply:
            with lock:
                return queue.pop(0) if len(queue) > 1 else queue[0]

        return self.route(path, handler)

    def redirect(self, path: str, location: str, *, status: int = 302) -> str:
        """Answer ``status`` with ``Location: location`` (absolute or relative, sent as given)."""
        return self.serve(path, b"", status=status, headers={"Location": location})

    def conditional(
        self,
        path: str,
        body: bytes,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``body`` with validators; answer 304 when the request's validators match.

        ``If-None-Match`` is compared with ``etag`` (exact, or ``*``, or one of a list); when
        absent, ``If-Modified-Since`` at or after ``last_modified`` gives 304 (RFC 9110 §13.1).
        """
        base = dict(headers or {})
        if etag is not None:
            base["ETag"] = etag
        if last_modified is not None:
            base["Last-Modified"] = last_modified

        def handler(req: RecordedRequest) -> Reply:
            inm = req.headers.get("if-none-match")
            ims = req.headers.get("if-modified-since")
            if inm is not None and etag is not None:
                tags = [t.strip() for t in inm.split(",")]
                if "*" in tags or etag in tags:
                    return Reply(status=304, headers=base)
            elif ims is not None and last_modified is not None:
                try:
                    if parsedate_to_datetime(ims) >= parsedate_to_datetime(last_modified):
                        return Reply(status=304, headers=base)
                except (TypeError, ValueError):
                    pass
            return Reply(status=200, headers=base, body=body)

        return self.route(path, handler)

    def trickle(
        self,
        path: str,
        body: bytes,
        *,
        interval: float = 0.2,
        chunk: int = 1,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Send headers at once, then ``body`` ``chunk`` bytes at a time every ``interval`` s."""
        pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        hdrs = {
            "Content-Type": "application/rss+xml",
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        reply = Reply(status=200, headers=hdrs, body=pieces, chunk_delay=interval)
        return self.route(path, lambda _req: reply)

    def stall(self, path: str, *, before_headers: float = 0.0, after_headers: float = 0.0) -> str:
        """Wait ``before_headers`` s before the status line, or send headers promising a body
        and then wait ``after_headers`` s before sending its first byte."""

        def slow_body() -> Iterator[bytes]:
            if after_headers and self.stopping.wait(after_headers):
                return
            yield b"<rss/>"

        hdrs = {"Content-Type": "application/rss+xml", "Content-Length": "6"}
        reply_factory = lambda _req: Reply(
            status=200, headers=hdrs, body=slow_body(), delay=before_headers
        )
        return self.route(path, reply_factory)

    def gzip_bomb(
        self,
        path: str,
        *,
        decoded_size: int = 1 << 30,
        content_encoding: bool = True,
        single_member: bool = False,
    ) -> str:
        """Serve gzip data that decodes to ``decoded_size`` zero bytes.

        By default the body is many concatenated gzip members of 1 MiB each (about 1 KiB per
        MiB decoded: a 1 GiB bomb is ~1 MB on the wire, built in milliseconds). With
        ``single_member`` it is one gzip stream (slower to build: ~3 s per GiB, cached).
        ``content_encoding`` false leaves out the header (the decoder must sniff 1f 8b).
        """
        body = _single_bomb(decoded_size) if single_member else _multi_bomb(decoded_size)
        hdrs = {"Content-Type": "application/rss+xml"}
        if content_encoding:
            hdrs["Content-Encoding"] = "gzip"
        return self.serve(path, body, headers=hdrs)

    def retry_after(self, path: str, *, status: int = 429, value: str | None = "120") -> str:
        """Answer ``status`` (429 or 503) with ``Retry-After: value`` (omitted when None)."""
        hdrs = {"Content-Type": "text/plain"}
        if value is not None:
            hdrs["Retry-After"] = value
        return self.serve(path, b"slow down\n", status=status, headers=hdrs)

    # -- shared hostile feeds --------------------------------------------------------------

    def serve_badfeeds(self, directory: Path | None = None, prefix: str = "/bad") -> dict[str, str]:
        """Serve every file of the badfeeds folder as ``{prefix}/{filename}``.

        A body file with a ``<stem>.headers.txt`` gets the status and headers described there;
        with several variants (``Variant A: HTTP/1.1 403 ...``), variant A is served at
        ``{prefix}/{filename}`` and each variant X also at ``{prefix}/X/{filename}``. Files
        without a ``.headers.txt`` are served 200 with ``Content-Type: application/xml``.
        Returns ``{"B32-gzip-always.xml.gz": url, "B/B32-gzip-always.xml.gz": url, ...}``.
        """
        folder = directory or bad_feeds_dir()
        urls: dict[str, str] = {}
        for body_file in sorted(folder.iterdir()):
            name = body_file.name
            if not body_file.is_file() or name.endswith(".headers.txt") or name == "README.md":
                continue
            variants = badfeed_responses(body_file)
            body = body_file.read_bytes()
            for i, (variant, (status, headers)) in enumerate(variants.items()):
                if i == 0:
                    urls[name] = self.serve(
                        f"{prefix}/{name}", body, status=status, headers=headers
                    )
                if variant:
                    urls[f"{variant}/{name}"] = self.serve(
                        f"{prefix}/{variant}/{name}", body, status=status, headers=headers
                    )
        return urls


def badfeed_responses(body_file: Path) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """The response(s) the ``.headers.txt`` beside ``body_file`` describes.

    Returns ``{variant: (status, [(name, value), ...])}``; the variant is ``""`` when the file
    describes a single response. Without a headers file: ``{"": (200, [content-type xml])}``.
    """
    stem = body_file.name.split(".", 1)[0]
    headers_file = body_file.with_name(f"{stem}.headers.txt")
    if not headers_file.is_file():
        return {"": (200, [("Content-Type", "application/xml")])}
    return parse_headers_txt(headers_file.read_text(encoding="utf-8"))


_STATUS_LINE = re.compile(r"^(?:Variant\s+(\w+)[^:]*:\s*)?HTTP/1\.[01]\s+(\d{3})\b")
_HEADER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$")


def parse_headers_txt(text: str) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """Parse the badfeeds ``.headers.txt`` format.

    A status line (``HTTP/1.1 200 OK``, optionally prefixed ``Variant X (note):``) opens a
    response; ``Name: value`` lines after it are its headers until a blank line. Lines before
    any status line (``Request: ...``) and parenthesised notes are ignored.
    """
    responses: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            current = None
            continue
        match = _STATUS_LINE.match(line)
        if match:
            current = []
            responses[match.group(1) or ""] = (int(match.group(2)), current)
            continue
        header = _HEADER_LINE.match(line)
        if current is not None and header and not line.startswith("("):
            current.append((header.group(1), header.group(2)))
    return responses


@functools.lru_cache(maxsize=4)
def _multi_bomb(decoded_size: int) -> bytes:
    mib = 1 << 20
    member = _gzip(bytes(mib))
    count, rest = divmod(decoded_size, mib)
    return member * count + (_gzip(bytes(rest)) if rest else b"")


@functools.lru_cache(maxsize=2)
def _single_bomb(decoded_size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = []
    left = decoded_size
    while left > 0:
        parts.append(compressor.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts.append(compressor.flush())
    return b"".join(parts)


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return compressor.compress(data) + compressor.flush()


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer()

        def do_HEAD(self) -> None:
            self._answer()

        def _answer(self) -> None:
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                client=(str(self.client_address[0]), int(self.client_address[1])),
            )
            handler = server._record(request)
            reply = handler(request) if handler else Reply(status=404, body=b"not found\n")
            self.close_connection = True
            try:
                if reply.delay and server.stopping.wait(reply.delay):
                    return
                self.send_response(reply.status)
                items = reply.header_items()
                names = {k.lower() for k, _ in items}
                for name, value in items:
                    self.send_header(name, value)
                if (
                    isinstance(reply.body, bytes | bytearray)
                    and reply.content_length
                    and "content-length" not in names
                ):
                    self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                if isinstance(reply.body, bytes | bytearray):
                    self.wfile.write(reply.body)
                    return
                self.wfile.flush()
                for i, chunk in enumerate(reply.body):
                    if i and reply.chunk_delay and server.stopping.wait(reply.chunk_delay):
                        return
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet; the request log is server.requests

    return _Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started :class:`FeedServer` on 127.0.0.1 (random port), stopped after the test."""
    with FeedServer() as server:
        yield server
