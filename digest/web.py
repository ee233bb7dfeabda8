"""The public web app: unsubscribe, preferences and the SendGrid Event Webhook (Starlette).

Routes (``create_app(config, store)``; served by ``digest web``):

- ``GET /u/{token}``: a page with a confirm button. It never unsubscribes: link scanners and
  mail previewers follow GETs.
- ``POST /u/{token}``: RFC 8058 one-click unsubscribe. The body must carry
  ``List-Unsubscribe=One-Click`` (``application/x-www-form-urlencoded`` or
  ``multipart/form-data``); the subscriber is unsubscribed at once, idempotently, with no
  cookie, session or CSRF token involved (the signed token is the authority). Takes effect
  before the next message: the ledger re-checks the status when it claims a row.
- ``GET /p/{token}`` and ``POST /p/{token}``: the topics a subscriber receives (none ticked:
  every section).
- ``POST /webhooks/sendgrid``: the Event Webhook. The ECDSA signature over timestamp + body
  is verified with the ``sendgrid`` package's ``EventWebhook`` helper against the public key
  in the environment variable ``delivery.sendgrid.webhook_key_env``; a signed timestamp more
  than five minutes away from now is refused (replay). Each event is applied once (its
  ``sg_event_id`` is remembered): ``bounce`` (hard), ``dropped``, ``spamreport``,
  ``unsubscribe`` and ``group_unsubscribe`` suppress the address (an unsubscribe only for the
  list of the delivery named in ``custom_args``, when there is one) and mark that subscriber
  (bounced, complained, unsubscribed); ``blocked`` bounces and ``deferred`` are soft and only
  counted (setting ``sendgrid:soft_bounces``).

A tampered, expired or unknown token gets the same ``400`` page. Every page is sent with a
strict Content-Security-Policy (no scripts; one hashed inline style), ``no-referrer`` (the
token is in the URL), ``no-store`` and ``nosniff``; every echoed value is HTML-escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from digest.config import Config
from digest.editor import SecurityHeadersMiddleware, editor_routes
from digest.store import Store
from digest.tokens import BadToken, read_token
from digest.transports.sendgrid import read_delivery_ref
from digest.types import Subscriber, SubscriberStatus

log = logging.getLogger("digest.web")

REPLAY_WINDOW_S = 300
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#222;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}"
    "label{display:block;margin:.25rem 0}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{_STYLE_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_SUPPRESSING = {
    "bounce": ("bounce", SubscriberStatus.BOUNCED),
    "dropped": ("dropped", SubscriberStatus.BOUNCED),
    "spamreport": ("spamreport", SubscriberStatus.COMPLAINED),
    "unsubscribe": ("unsubscribe", SubscriberStatus.UNSUBSCRIBED),
    "group_unsubscribe": ("unsubscribe", SubscriberStatus.UNSUBSCRIBED),
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=_SECURITY_HEADERS)


def _bad_link() -> HTMLResponse:
    return _page(
        "This link is not valid",
        "<p>The link may be incomplete or out of date. Use the link in your most recent "
        "email, or reply to it and we will remove you by hand.</p>",
        status=400,
    )


async def _form(request: Request) -> dict[str, list[str]]:
    """The submitted form fields (urlencoded or multipart), each with all its values."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        out: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                out.setdefault(key, []).append(value)
        return out
    body = (await request.body())[:65536].decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True)


def create_app(
    config: Config,
    store: Store,
    *,
    webhook_public_key: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    token_max_age: int | None = None,
) -> Starlette:
    """The Starlette app for ``config`` and ``store``; see the module docstring for routes.

    ``webhook_public_key`` (base64 DER) overrides the environment variable; without either
    the webhook answers 503. ``clock`` is the only clock read (injectable for tests);
    ``token_max_age`` (seconds) limits how old an unsubscribe link may be (default: no
    limit, since an unsubscribe link must keep working in old emails).
    """
    secret = store.secret()
    key_b64 = webhook_public_key or config.secret(config.delivery.sendgrid.webhook_key_env)
    verifier: Any = None
    if key_b64:
        from sendgrid.helpers.eventwebhook import EventWebhook

        verifier = EventWebhook(key_b64)

    def subscriber_for(token: str) -> Subscriber | None:
        try:
            sid = read_token(secret, token, max_age=token_max_age)
        except BadToken:
            return None
        return store.subscriber(sid)

    async def unsubscribe_page(request: Request) -> Response:
        token = request.path_params["token"]
        sub = subscriber_for(token)
        if sub is None:
            return _bad_link()
        email = html.escape(sub.email)
        if sub.status != SubscriberStatus.ACTIVE:
            return _page("You are unsubscribed", f"<p>{email} receives no more emails from this list.</p>")
        action = html.escape(f"/u/{token}", quote=True)
        prefs = html.escape(f"/p/{token}", quote=True)
        return _page(
            "Unsubscribe?",
            f"<p>Stop sending this digest to <strong>{email}</strong>?</p>"
            f"<form method=post action='{action}'>"
            "<input type=hidden name=List-Unsubscribe value=One-Click>"
            "<button type=submit>Unsubscribe</button></form>"
            f"<p>Or <a href='{prefs}'>choose the topics you receive</a>.</p>",
        )

    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        sub = subscriber_for(token)
        if sub is None:
            return _bad_link()
        form = await _form(request)
        if "One-Click" not in form.get("List-Unsubscribe", []):
            return _page(
                "Nothing changed",
                "<p>The request did not ask to unsubscribe (RFC 8058 needs "
                "<code>List-Unsubscribe=One-Click</code>).</p>",
                status=400,
            )
        assert sub.id is not None
        if sub.status == SubscriberStatus.ACTIVE:
            store.set_subscriber_status(sub.id, SubscriberStatus.UNSUBSCRIBED, now=clock())
            log.info("web.unsubscribed subscriber=%s list=%s", sub.id, sub.list_name)
        return _page(
            "You are unsubscribed",
            f"<p>{html.escape(sub.email)} will receive no more emails from this list.</p>",
        )

    def topics_of(sub: Subscriber) -> list[tuple[str, str]]:
        try:
            lst = config.list(sub.list_name)
        except KeyError:
            return []
        out = []
        for name in lst.topics:
            try:
                out.append((name, config.topic(name).title))
            except KeyError:
                continue
        return out

    def preferences_form(token: str, sub: Subscriber, note: str = "") -> HTMLResponse:
        chosen = set(sub.topics)
        boxes = "".join(
            f"<label><input type=checkbox name=topic value='{html.escape(n, quote=True)}'"
            f"{' checked' if n in chosen else ''}> {html.escape(title)}</label>"
            for n, title in topics_of(sub)
        )
        action = html.escape(f"/p/{token}", quote=True)
        return _page(
            "Your topics",
            f"{note}<p>Topics for <strong>{html.escape(sub.email)}</strong> "
            "(none ticked: every section).</p>"
            f"<form method=post action='{action}'>{boxes}"
            "<button type=submit>Save</button></form>",
        )

    async def preferences_page(request: Request) -> Response:
        token = request.path_params["token"]
        sub = subscriber_for(token)
        if sub is None:
            return _bad_link()
        return preferences_form(token, sub)

    async def preferences_save(request: Request) -> Response:
        token = request.path_params["token"]
        sub = subscriber_for(token)
        if sub is None:
            return _bad_link()
        allowed = [n for n, _ in topics_of(sub)]
        chosen = set((await _form(request)).get("topic", []))
        topics = tuple(n for n in allowed if n in chosen)
        assert sub.id is not None
        store.set_subscriber_topics(sub.id, topics, now=clock())
        log.info("web.preferences subscriber=%s topics=%s", sub.id, ",".join(topics) or "all")
        updated = store.subscriber(sub.id) or sub
        return preferences_form(token, updated, "<p><strong>Saved.</strong></p>")

    async def sendgrid_webhook(request: Request) -> Response:
        if verifier is None:
            return JSONResponse({"error": "webhook key not configured"}, status_code=503)
        body = await request.body()
        signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
        timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
        try:
            ok = bool(signature and timestamp) and verifier.verify_signature(
                body.decode("utf-8"), signature, timestamp
            )
        except (ValueError, UnicodeDecodeError, TypeError):
            ok = False
        if not ok:
            log.warning("web.webhook_bad_signature")
            return JSONResponse({"error": "bad signature"}, status_code=403)
        try:
            age = abs(clock().timestamp() - float(timestamp))
        except ValueError:
            age = float("inf")
        if not math.isfinite(age) or age > REPLAY_WINDOW_S:  # "nan" compares False to all
            log.warning("web.webhook_stale age_s=%.0f", age)
            return JSONResponse({"error": "stale timestamp"}, status_code=403)
        try:
            events = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(events, list):
            return JSONResponse({"error": "expected a list of events"}, status_code=400)
        applied = duplicates = 0
        for event in events:
            if not isinstance(event, dict):
                continue
            if _apply_event(event):
                applied += 1
            else:
                duplicates += 1
        return JSONResponse({"applied": applied, "duplicates": duplicates})

    def _apply_event(event: dict[str, Any]) -> bool:
        event_id = str(event.get("sg_event_id") or "")
        if not event_id:
            event_id = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        key = "sg-event:" + (event_id if len(event_id) <= 55 else hashlib.sha256(
            event_id.encode()).hexdigest()[:55])
        if not store.mark_once(key, str(event.get("event", ""))):
            return False
        kind = str(event.get("event", ""))
        email = str(event.get("email", "")).strip()
        now = clock()
        ref = event.get("digest_delivery")
        sub = None
        if isinstance(ref, str):
            delivery_id = read_delivery_ref(secret, ref)
            if delivery_id is not None:
                sub = store.delivery_subscriber(delivery_id)
        soft = kind == "deferred" or (kind == "bounce" and event.get("type") == "blocked")
        if soft:
            total = store.bump_counter("sendgrid:soft_bounces")
            log.info("web.soft_bounce email_hash=%s total=%d", _hash(email), total)
            return True
        if kind in _SUPPRESSING and email:
            reason, status = _SUPPRESSING[kind]
            detail = str(event.get("reason") or event.get("status") or "")[:500] or None
            # an unsubscribe is from one list when we know which; bounces and complaints
            # concern the address, so they hold for every list
            scope = ""
            if reason == "unsubscribe" and sub is not None and sub.email.lower() == email.lower():
                scope = sub.list_name
            store.suppress(email, reason, now=now, list_name=scope, detail=detail)
            if (
                sub is not None and sub.id is not None and sub.email.lower() == email.lower()
                and sub.status == SubscriberStatus.ACTIVE
            ):
                store.set_subscriber_status(sub.id, status, now=now)
            log.info("web.suppressed reason=%s email_hash=%s", reason, _hash(email))
        return True

    async def subscription_page(request: Request) -> HTMLResponse:
        return _page(
            "Your subscription",
            "<p>To unsubscribe or choose your topics, use the links at the bottom of an email "
            "you received: they are personal to you. This page is linked from the public copy "
            "of an edition, which is the same for every reader.</p>",
        )

    async def home(request: Request) -> HTMLResponse:
        items = "".join(
            f'<li><a href="/archive/{html.escape(lst.name)}/">{html.escape(lst.title)}</a> '
            f'(<a href="/archive/{html.escape(lst.name)}/feed.atom">Atom feed</a>)</li>'
            for lst in config.lists
        )
        return _page(config.site.name, f"<p>Past editions:</p><ul>{items}</ul>")

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/subscription", subscription_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe, methods=["POST"]),
        Route("/p/{token}", preferences_page, methods=["GET"]),
        Route("/p/{token}", preferences_save, methods=["POST"]),
        Route("/webhooks/sendgrid", sendgrid_webhook, methods=["POST"]),
        *editor_routes(config, store, clock=clock),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeadersMiddleware)])
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


def _hash(email: str) -> str:
    """A short stable pseudonym for an address in logs (no addresses in logs)."""
    return hashlib.sha256(email.lower().encode()).hexdigest()[:12]


__all__ = ["CSP", "REPLAY_WINDOW_S", "create_app"]
