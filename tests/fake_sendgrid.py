"""A fake SendGrid v3 Mail Send server on loopback, for tests and the benchmark.

Modes (``server.mode`` is the default; ``server.script`` holds modes for the next requests):

- ``"ok"``: 202 with an ``X-Message-Id``; the recipients go to ``server.accepted``;
- ``"429"``: 429 with ``X-RateLimit-Reset`` one second ahead (nothing accepted);
- ``"retry-after"``: 429 with ``Retry-After: 2`` only;
- ``"500"``: 500 with SendGrid's JSON error document (nothing accepted: a refusal);
- ``"502"``: logs the recipients as accepted, then a gateway's 502 HTML page (the request
  may have been taken: unknown);
- ``"hang"``: reads the body, logs the recipients as accepted, then never answers
  (until the server stops) -- the client times out not knowing;
- ``"reset"``: reads the body, logs the recipients as accepted, then resets the connection;
- ``"400"``: 400 with an error naming personalization 1 (``bad_index``) and nothing accepted;
- ``"401"``: 401 with a general error.

``choose()``, when set, picks the mode of each request not in ``script`` (random faults);
``on_request(n)``, when set, is called as request ``n`` arrives, before it is answered (a test
kills the sender there: the request is still processed, the answer never read).

``accepted`` is a list of ``(email, digest_delivery ref, substitutions)`` (``{}`` for the
substitutions unless ``keep_substitutions``, on by default and off when run as a program for
the benchmark, so a million recipients stay small); ``requests``
counts every request; ``bodies`` keeps the JSON bodies when ``keep_bodies`` is set.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: FakeSendgrid
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """``GET /stats``: ``{"requests": n, "accepted": n}``; ``GET /duplicates``:
        ``{"distinct": n, "twice": [emails accepted more than once]}`` (for the benchmark)."""
        srv = self.server
        with srv.lock:
            if self.path == "/duplicates":
                seen: dict[str, int] = {}
                for email, _ref, _subs in srv.accepted:
                    seen[email] = seen.get(email, 0) + 1
                stats = {"distinct": len(seen), "twice": sorted(e for e, n in seen.items() if n > 1)}
            else:
                stats = {"requests": srv.requests, "accepted": len(srv.accepted)}
        self._reply(200, json.dumps(stats).encode(), {"Content-Type": "application/json"})

    def do_POST(self) -> None:
        srv = self.server
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        with srv.lock:
            srv.requests += 1
            mode = srv.script.pop(0) if srv.script else (srv.choose() if srv.choose else srv.mode)
            srv.auth_seen.append(self.headers.get("Authorization", ""))
            number = srv.requests
        if srv.on_request is not None:
            srv.on_request(number)
        if self.path != "/v3/mail/send":
            self._reply(404, b'{"errors":[{"message":"not found"}]}')
            return
        body = json.loads(raw)
        if srv.keep_bodies:
            srv.bodies.append(body)

        def accept() -> None:
            keep = srv.keep_substitutions
            with srv.lock:
                for p in body["personalizations"]:
                    for to in p["to"]:
                        srv.accepted.append(
                            (to["email"], p.get("custom_args", {}).get("digest_delivery"),
                             p.get("substitutions", {}) if keep else {})
                        )

        if mode == "ok":
            accept()
            self._reply(202, headers={"X-Message-Id": f"fake-{srv.requests}"})
        elif mode == "429":
            reset = int(srv.clock() + 1)
            self._reply(429, b'{"errors":[{"message":"too many requests"}]}',
                        {"X-RateLimit-Reset": str(reset), "X-RateLimit-Remaining": "0"})
        elif mode == "retry-after":
            self._reply(429, b'{"errors":[{"message":"too many requests"}]}', {"Retry-After": "2"})
        elif mode == "500":
            self._reply(500, b'{"errors":[{"message":"internal error"}]}')
        elif mode == "502":
            accept()
            self._reply(502, b"<html><body>Bad Gateway</body></html>", {"Content-Type": "text/html"})
        elif mode == "400":
            err = {"errors": [{"message": "Does not contain a valid address.",
                               "field": f"personalizations.{srv.bad_index}.to.0.email"}]}
            self._reply(400, json.dumps(err).encode())
        elif mode == "401":
            self._reply(401, b'{"errors":[{"message":"The provided authorization grant is invalid"}]}')
        elif mode == "hang":
            accept()
            srv.stopping.wait(30)
            self.close_connection = True
        elif mode == "reset":
            accept()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:  # pragma: no cover - test mistake
            self._reply(500, b"unknown mode")


class FakeSendgrid(ThreadingHTTPServer):
    """The fake server; use as a context manager. ``url`` is its base URL."""

    daemon_threads = True

    def __init__(self, mode: str = "ok", *, keep_bodies: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.script: list[str] = []
        self.accepted: list[tuple[str, str | None, dict[str, str]]] = []
        self.bodies: list[dict[str, Any]] = []
        self.keep_bodies = keep_bodies
        self.keep_substitutions = True
        self.requests = 0
        self.auth_seen: list[str] = []
        self.bad_index = 1
        self.choose: Callable[[], str] | None = None
        self.on_request: Callable[[int], None] | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.clock = time.time
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeSendgrid:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def accepted_emails(self) -> list[str]:
        with self.lock:
            return [a[0] for a in self.accepted]


def main() -> None:  # pragma: no cover - manual use
    """Run the fake in the foreground: ``python -m tests.fake_sendgrid``."""
    with FakeSendgrid() as fake:
        fake.keep_substitutions = False  # the benchmark's million recipients: keep it lean
        print(fake.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    main()
