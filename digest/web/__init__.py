"""The web app (Starlette), served by ``digest web``: one module per kind of page.

- :mod:`digest.web.public`: the subscriber's pages (one-click unsubscribe, preferences) and
  the front page.
- :mod:`digest.web.editor`: the editor's pages, the public archive and its Atom feed.
- :mod:`digest.web.webhooks`: the SendGrid Event Webhook and Inbound Parse.
- :mod:`digest.web.headers`: the Content-Security-Policy and other security headers.
- :mod:`digest.web.sessions`, :mod:`digest.web.throttle`, :mod:`digest.web.checks`: the
  editor's sessions, login throttling, and the length rule of the web app's secrets.

:func:`create_app` mounts them all behind Starlette's ``RequestBodyLimitMiddleware``: every
request body is limited to ``web.max_body_bytes`` (the Event Webhook to ``web.max_webhook_bytes``)
and answered ``413`` past it, from ``Content-Length`` before anything is read, else when the
streamed bytes pass the limit, so an oversized body is never buffered.
:func:`serve_in_thread` serves an app on loopback (for browser tests and screenshot scripts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from digest.config import Config
from digest.store import Store
from digest.web.editor import EditorBackend, editor_routes
from digest.web.headers import SecurityHeadersMiddleware
from digest.web.public import public_routes
from digest.web.webhooks import webhook_routes


def create_app(
    config: Config,
    store: Store,
    *,
    webhook_public_key: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    token_max_age: int | None = None,
    editor_token: str | None = None,
    inbound_secret: str | None = None,
    editor_backend: EditorBackend | None = None,
) -> Starlette:
    """The Starlette app for ``config`` and ``store``: every route of the modules above.

    ``webhook_public_key`` (base64 DER), ``editor_token`` and ``inbound_secret`` override
    their environment variables; without a key the webhook answers 503, without a token the
    editor is off, without an inbound secret Inbound Parse answers 404. ``clock`` is the
    only clock read (injectable for tests); ``token_max_age`` (seconds) limits how old an
    unsubscribe link may be (default: no limit, since an unsubscribe link must keep working
    in old emails); ``editor_backend`` reaches the pipeline (tests give a fake).
    Raises :class:`~digest.exceptions.ConfigError` when a secret is shorter than
    :data:`~digest.web.checks.MIN_SECRET_CHARS` characters.
    """
    hooks = webhook_routes(
        config, store, clock=clock, webhook_public_key=webhook_public_key, inbound_secret=inbound_secret
    )
    routes = [
        *public_routes(config, store, clock=clock, token_max_age=token_max_age),
        *hooks,
        *editor_routes(config, store, clock=clock, token=editor_token, backend=editor_backend),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeadersMiddleware)],
        max_body_size=config.web.max_body_bytes,
    )
    app.state.config = config
    app.state.store = store
    return app


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn on 127.0.0.1 and a free port in a background
    thread (for browser tests and screenshot scripts); yields its base URL, stops it after.

    Raises ``RuntimeError`` when the server does not start within 10 seconds.
    """
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


__all__ = ["create_app", "serve_in_thread"]
