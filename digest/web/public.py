"""The subscriber's pages: unsubscribe and preferences, and the site's front pages.

Routes (:func:`public_routes`, mounted by ``digest.web.create_app``):

- ``GET /u/{token}``: a page with a confirm button. It never unsubscribes: link scanners and
  mail previewers follow GETs.
- ``POST /u/{token}``: RFC 8058 one-click unsubscribe. The body must carry
  ``List-Unsubscribe=One-Click`` (``application/x-www-form-urlencoded`` or
  ``multipart/form-data``); the subscriber is unsubscribed at once, idempotently, with no
  cookie, session or CSRF token involved (the signed token is the authority). Takes effect
  before the next message: the ledger re-checks the status when it claims a row.
- ``GET /p/{token}`` and ``POST /p/{token}``: the topics a subscriber receives (none ticked:
  every section).
- ``GET /`` (the lists and their archives) and ``GET /subscription`` (where the links of
  the public copy of an edition lead).

A tampered, expired or unknown token gets the same ``400`` page. Every page is sent with a
strict Content-Security-Policy (``digest.web.headers.CSP``: no scripts; one hashed inline
style), ``no-referrer`` (the token is in the URL), ``no-store`` and ``nosniff``; every
echoed value is HTML-escaped.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from digest.config import Config
from digest.store import Store
from digest.tokens import BadToken, read_token
from digest.types import Subscriber, SubscriberStatus
from digest.unsubscribe import unsubscribe_token
from digest.web.headers import SUBSCRIBER_HEADERS, SUBSCRIBER_STYLE

log = logging.getLogger("digest.web")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{SUBSCRIBER_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=SUBSCRIBER_HEADERS)


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


def public_routes(
    config: Config,
    store: Store,
    *,
    clock: Callable[[], datetime],
    token_max_age: int | None = None,
) -> list[BaseRoute]:
    """The routes of the module docstring for ``config`` and ``store``.

    ``clock`` is the only clock read; ``token_max_age`` (seconds) limits how old an
    unsubscribe link may be (default: no limit, since an unsubscribe link must keep working
    in old emails).
    """
    secret = store.secret()

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
        if subscriber_for(token) is None:
            return _bad_link()
        form = await _form(request)
        if "One-Click" not in form.get("List-Unsubscribe", []):
            return _page(
                "Nothing changed",
                "<p>The request did not ask to unsubscribe (RFC 8058 needs "
                "<code>List-Unsubscribe=One-Click</code>).</p>",
                status=400,
            )
        try:
            done = unsubscribe_token(store, token, now=clock(), max_age=token_max_age, via="web")
        except BadToken:
            return _bad_link()
        return _page(
            "You are unsubscribed",
            f"<p>{html.escape(done.subscriber.email)} will receive no more emails from this list.</p>",
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

    return [
        Route("/", home, methods=["GET"]),
        Route("/subscription", subscription_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe, methods=["POST"]),
        Route("/p/{token}", preferences_page, methods=["GET"]),
        Route("/p/{token}", preferences_save, methods=["POST"]),
    ]


__all__ = ["public_routes"]
