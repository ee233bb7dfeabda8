"""Web hardening (issue 11, failure 7): request bodies are limited before they are read, on
every POST endpoint; failed logins are throttled per client address; short secrets are
refused; logging out or changing the token ends every editor session."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import resource
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from digest.exceptions import ConfigError
from digest.store import Store
from digest.tokens import make_token
from digest.types import Subscriber
from digest.web import create_app, serve_in_thread
from tests.editor_support import TOKEN, SampleBackend, editor_config
from tests.sample_edition import NOW

INBOUND = "inbound-secret-0123456789abcdef-0123456789"
MB = 1024 * 1024
CHUNK = 64 * 1024
HUGE = 200 * MB


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW - timedelta(hours=1)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def _webhook_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def make(tmp_path: Path, clock: Callable[[], Any] | None = None, token: str = TOKEN, store: Store | None = None):  # type: ignore[no-untyped-def]
    config = editor_config(tmp_path)
    store = store or Store.open(config.database.url)
    app = create_app(config, store, clock=clock or Clock(), editor_token=token, inbound_secret=INBOUND,
                     editor_backend=SampleBackend(), webhook_public_key=_webhook_key())  # fmt: skip
    return app, store, config


def login(client: TestClient, token: str = TOKEN) -> str:
    r = client.post("/editor/login", data={"token": token, "next": "/editor/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/editor/lists/world/preview")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


# -- body limits ------------------------------------------------------------------------------


def post_endpoints(store: Store) -> list[str]:
    sub, _ = store.add_subscriber(Subscriber("world", "ada@example.com"), now=NOW)
    assert sub.id is not None
    token = make_token(store.secret(), sub.id)
    return [
        "/webhooks/sendgrid",
        f"/webhooks/inbound/{INBOUND}",
        f"/u/{token}",
        f"/p/{token}",
        "/editor/login",
        "/editor/logout",
        "/editor/lists/world/adjust",
        "/editor/lists/world/test",
        "/editor/lists/world/approve",
    ]


async def _post(app, path: str, headers: list[tuple[bytes, bytes]], total: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """POST ``total`` bytes of body to ``app`` in 64 KiB chunks made on demand; returns the
    status and how many body bytes the app pulled (nothing is ever held but one chunk)."""
    pulled = 0
    status = 0
    chunk = b"x" * CHUNK

    async def receive():  # type: ignore[no-untyped-def]
        nonlocal pulled
        if pulled >= total:
            return {"type": "http.disconnect"}
        pulled += CHUNK
        return {"type": "http.request", "body": chunk, "more_body": pulled < total}

    async def send(message):  # type: ignore[no-untyped-def]
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    return status, pulled


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_200_mb_post_is_refused_on_every_endpoint_without_being_buffered(tmp_path: Path, declared: bool) -> None:
    app, store, config = make(tmp_path)
    with TestClient(app) as client:
        login(client)
        cookie = client.cookies.get("digest_editor")
    limit = config.web.max_webhook_bytes  # the largest limit of any route
    for path in post_endpoints(store):
        headers = [(b"host", b"testserver"), (b"cookie", f"digest_editor={cookie}".encode()),
                   (b"content-type", b"application/x-www-form-urlencoded")]  # fmt: skip
        if declared:
            headers.append((b"content-length", str(HUGE).encode()))
        status, pulled = asyncio.run(_post(app, path, headers, HUGE))
        assert status == 413, path
        if declared:
            assert pulled == 0, path  # refused from Content-Length, before reading anything
        else:
            assert pulled <= limit + CHUNK, (path, pulled)  # stopped as soon as the count passed
    store.close()


def test_bodies_under_the_limit_still_work(tmp_path: Path) -> None:
    app, store, config = make(tmp_path)
    with TestClient(app) as client:
        r = client.post("/editor/login", data={"token": TOKEN, "pad": "x" * (config.web.max_body_bytes - 200)},
                        follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
        r = client.post("/editor/login", data={"token": TOKEN, "pad": "x" * config.web.max_body_bytes})
        assert r.status_code == 413
    store.close()


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_real_server_answers_413_to_a_streamed_200_mb_post_without_growing(tmp_path: Path) -> None:
    """Through uvicorn and a socket, as an attacker would: the declared 200 MB body gets its
    413 before a byte of it is sent; a chunked one gets its 413 and the server's memory does
    not grow by anything like the body's size."""
    app, store, _ = make(tmp_path)
    before = _rss_peak_mb()
    with serve_in_thread(app) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /editor/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                         + f"Content-Length: {HUGE}\r\n\r\n".encode())  # fmt: skip
            assert sock.recv(4096).startswith(b"HTTP/1.1 413")
        sent = 0
        answer = b""
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /editor/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")  # fmt: skip
            chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
            sock.settimeout(5)
            try:
                while sent < HUGE:
                    sock.sendall(chunk)
                    sent += CHUNK
            except OSError:  # the server answered and closed: our send fails
                pass
            try:
                answer = sock.recv(4096)
            except OSError:
                answer = b""
    store.close()
    # uvicorn reads and discards what follows a refused body (to keep the connection usable);
    # what matters is that nothing holds it: the peak memory of this process (server and
    # client) grows by a few MB for 200 MB sent
    grown = _rss_peak_mb() - before
    print(f"sent {sent / MB:.0f} MB, answer {answer[:12]!r}, peak RSS +{grown:.1f} MB")
    assert sent == HUGE and answer.startswith(b"HTTP/1.1 413"), answer[:40]
    assert grown < 64, grown


# -- login throttling -------------------------------------------------------------------------


def test_failed_logins_are_throttled_per_client_address(tmp_path: Path) -> None:
    clock = Clock()
    app, store, config = make(tmp_path, clock=clock)
    attempts = config.web.login_attempts
    with TestClient(app, client=("203.0.113.7", 4000)) as attacker, TestClient(app, client=("198.51.100.2", 4000)) as editor:
        for _ in range(attempts):
            assert attacker.post("/editor/login", data={"token": "guess"}).status_code == 403
        r = attacker.post("/editor/login", data={"token": TOKEN}, follow_redirects=False)
        assert r.status_code == 429 and "Too many" in r.text  # even the right token waits
        assert int(r.headers["retry-after"]) == int(config.web.login_window_minutes * 60)
        assert "digest_editor" not in attacker.cookies
        login(editor)  # another address is not affected
        clock.now += timedelta(minutes=config.web.login_window_minutes, seconds=1)
        login(attacker)  # the window has passed
    store.close()


# -- secrets of at least 32 characters --------------------------------------------------------


def test_a_short_editor_token_or_inbound_secret_is_refused(tmp_path: Path) -> None:
    config = editor_config(tmp_path)
    store = Store.open(config.database.url)
    with pytest.raises(ConfigError, match="DIGEST_EDITOR_TOKEN is 1 characters long; it needs at least 32"):
        create_app(config, store, editor_token="x")
    with pytest.raises(ConfigError, match="SENDGRID_INBOUND_SECRET is 5 characters"):
        create_app(config, store, editor_token=TOKEN, inbound_secret="short")
    store.close()


def _cli_config(tmp_path: Path) -> Path:
    cfg = {
        "site": {"postal_address": "1 Example Street, London, UK"},
        "database": {"url": "sqlite:///digest.db"},
        "sources": [{"name": "s", "title": "S", "url": "https://example.org/feed"}],
        "lists": [{"name": "world", "title": "World", "sender": "w@example.org"}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _digest(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("DIGEST_EDITOR_TOKEN", "SENDGRID_INBOUND_SECRET")}
    return subprocess.run([sys.executable, "-m", "digest", *args], capture_output=True, text=True, check=False,
                          env={**full, **env}, timeout=timeout)  # fmt: skip


def test_config_check_and_digest_web_refuse_a_short_token_or_secret(tmp_path: Path) -> None:
    cfg = str(_cli_config(tmp_path))
    r = _digest(["-c", cfg, "config", "check"], {"DIGEST_EDITOR_TOKEN": "hunter2"})
    assert r.returncode == 1 and "DIGEST_EDITOR_TOKEN is 7 characters long; it needs at least 32" in r.stderr
    r = _digest(["-c", cfg, "config", "check"], {"DIGEST_EDITOR_TOKEN": TOKEN, "SENDGRID_INBOUND_SECRET": "abc"})
    assert r.returncode == 1 and "SENDGRID_INBOUND_SECRET is 3 characters long" in r.stderr
    r = _digest(["-c", cfg, "config", "check"], {"DIGEST_EDITOR_TOKEN": TOKEN})
    assert r.returncode == 0 and r.stdout.startswith("ok:"), r.stderr
    started = time.monotonic()
    r = _digest(["-c", cfg, "web", "--port", "0"], {"DIGEST_EDITOR_TOKEN": "hunter2"}, timeout=30)
    assert r.returncode == 1 and "at least 32" in r.stderr
    assert time.monotonic() - started < 30


# -- sessions: logout and token change end every session ---------------------------------------


def test_logout_ends_every_session_and_an_old_cookie_does_not_come_back(tmp_path: Path) -> None:
    app, store, _ = make(tmp_path)
    with TestClient(app) as laptop, TestClient(app) as phone:
        csrf = login(laptop)
        login(phone)
        stolen = laptop.cookies.get("digest_editor")
        assert laptop.get("/editor/", follow_redirects=False).status_code == 200
        r = laptop.post("/editor/logout", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/editor/login"
        for client in (laptop, phone):
            r = client.get("/editor/", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/editor/login"), client
        with TestClient(app, cookies={"digest_editor": stolen}) as thief:
            assert thief.get("/editor/", follow_redirects=False).status_code == 303
            r = thief.post("/editor/lists/world/approve", data={"csrf": csrf, "period": "2026-02-18"})
            assert r.status_code == 403
        login(phone)  # logging in again works
        assert phone.get("/editor/", follow_redirects=False).status_code == 200
    store.close()


def test_a_new_editor_token_ends_every_session(tmp_path: Path) -> None:
    app, store, _ = make(tmp_path)
    with TestClient(app) as client:
        login(client)
        cookie = client.cookies.get("digest_editor")
    new_token = TOKEN + "-rotated"
    rotated, _, _ = make(tmp_path, token=new_token, store=store)  # digest web restarted
    with TestClient(rotated, cookies={"digest_editor": cookie}) as client:
        assert client.get("/editor/", follow_redirects=False).status_code == 303
        assert client.post("/editor/login", data={"token": TOKEN}).status_code == 403
        login(client, new_token)
    store.close()


def test_the_csrf_token_belongs_to_the_session(tmp_path: Path) -> None:
    app, store, _ = make(tmp_path)
    with TestClient(app) as one, TestClient(app) as two:
        csrf_one = login(one)
        csrf_two = login(two)
        assert csrf_one != csrf_two
        r = two.post("/editor/lists/world/approve", data={"csrf": csrf_one, "period": "2026-02-18"})
        assert r.status_code == 403 and "out of date" in r.text
        r = two.post("/editor/lists/world/approve", data={"csrf": csrf_two, "period": "2026-02-18"},
                     follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
    store.close()


def test_the_throttle_decision_counts_only_failures_inside_the_window() -> None:
    from digest.web.throttle import ThrottlePolicy, wait_before_next

    policy = ThrottlePolicy(attempts=3, window=timedelta(minutes=10))
    t0 = NOW
    fails = (t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=2))
    assert wait_before_next(fails[:2], t0 + timedelta(minutes=2), policy) == 0.0
    assert wait_before_next(fails, t0 + timedelta(minutes=3), policy) == 7 * 60
    assert wait_before_next(fails, t0 + timedelta(minutes=10), policy) == 0.0  # the first aged out
