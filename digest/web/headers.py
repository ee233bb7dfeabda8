"""Security headers of every response of the web app: Content-Security-Policy and friends.

Two policies: :data:`PAGE_CSP` for the app's own pages (no script at all, styles and
images only from this origin) and :data:`EMAIL_CSP` for an email's HTML (preview frame,
archive page: the email's inline styles and remote images, no script, a sandbox with an
opaque origin). The subscriber pages (unsubscribe, preferences) carry their one style
inline and use :data:`CSP`, which allows only that style by its hash.
:class:`SecurityHeadersMiddleware` adds :data:`PAGE_CSP` and the other headers to any
response that did not choose its own policy.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Content-Security-Policy of every page: no script at all, nothing from elsewhere."""

EMAIL_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
"""Content-Security-Policy of an email's HTML (preview frame, archive page): the email's
inline styles and remote images, no script, and a sandbox with an opaque origin; links may
open (a reader's click) but nothing runs."""

FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
"""The preview ``<iframe sandbox>`` flags: never ``allow-scripts`` or ``allow-same-origin``."""

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}

SUBSCRIBER_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#222;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}"
    "label{display:block;margin:.25rem 0}"
)
"""The one inline style of the subscriber pages (allowed by its hash in :data:`CSP`)."""
_STYLE_HASH = base64.b64encode(hashlib.sha256(SUBSCRIBER_STYLE.encode()).digest()).decode()
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{_STYLE_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Content-Security-Policy of the subscriber pages (unsubscribe, preferences)."""
SUBSCRIBER_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
"""Headers of the subscriber pages: the token is in their URL, so no referrer, no caching."""


def security_headers(response: Response, csp: str = PAGE_CSP) -> Response:
    """Set the Content-Security-Policy ``csp`` and the other security headers on
    ``response`` (``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options``, and
    ``Cache-Control: no-store`` unless the response chose its own caching); returns it."""
    response.headers["content-security-policy"] = csp
    if "cache-control" not in response.headers:
        response.headers["cache-control"] = "no-store"
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    response.headers["x-frame-options"] = "SAMEORIGIN" if "frame-ancestors 'self'" in csp else "DENY"
    return response


class SecurityHeadersMiddleware:
    """ASGI middleware: every HTTP response that has no Content-Security-Policy gets
    :data:`PAGE_CSP` (and the headers of :func:`security_headers`); responses that set
    their own (the email pages) keep it. Use as ``Middleware(SecurityHeadersMiddleware)``."""

    def __init__(self, app: ASGIApp, csp: str = PAGE_CSP) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {"content-security-policy": self.csp, **SECURITY_HEADERS}
                if b"content-security-policy" not in names:
                    extra["x-frame-options"] = "DENY"
                for name, value in extra.items():
                    if name.encode() not in names:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = [
    "CSP",
    "EMAIL_CSP",
    "FRAME_SANDBOX",
    "PAGE_CSP",
    "SECURITY_HEADERS",
    "SUBSCRIBER_HEADERS",
    "SUBSCRIBER_STYLE",
    "SecurityHeadersMiddleware",
    "security_headers",
]
