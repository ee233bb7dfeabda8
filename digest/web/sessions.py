"""The editor's sessions: Starlette's ``SessionMiddleware`` (an itsdangerous-signed cookie)
holding a server-side epoch, so a logout or a token change ends every session at once.

A session is ``{"epoch": E, "token": F, "csrf": C, "since": T}``: ``E`` is the integer kept
in the ``settings`` table under :data:`EPOCH_KEY` when the editor logged in, ``F`` a
fingerprint of the editor token then in use (HMAC of the token under the installation's
session secret, never the token), ``C`` a random CSRF token every editor form carries back
(the synchronizer token pattern), ``T`` the login time (Unix seconds). It is valid only while
``E`` is still the stored epoch, ``F`` matches the current token and ``T`` is less than
``max_age`` seconds old. Logging out raises the epoch: every cookie issued before is void.
The cookie is ``HttpOnly``, ``SameSite=Strict`` and ``Secure`` on https requests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.store import Store

EPOCH_KEY = "editor_session_epoch"
"""The ``settings`` key of the session epoch (an integer, raised by each logout)."""
SECRET_KEY = "editor_session_secret"
"""The ``settings`` key of the installation's session signing secret."""


class _SchemeSessionMiddleware:
    """``SessionMiddleware`` whose cookie is ``Secure`` when the request came over https
    (one app serves the loopback demo over http and production behind https)."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.plain = SessionMiddleware(app, https_only=False, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.secure if scope.get("scheme") in ("https", "wss") else self.plain
        await chosen(scope, receive, send)


class EditorSessions:
    """Log the editor in and out and read their session, for the editor token ``token``
    (``None`` or empty: the editor is off) over ``store``'s ``settings``.

    :meth:`middleware` must wrap every route that calls the other methods.
    """

    def __init__(self, token: str | None, store: Store, *, cookie: str, max_age: int) -> None:
        self.token = token or None
        self.store = store
        self.cookie = cookie
        self.max_age = max_age
        self.key = store.secret(SECRET_KEY)
        self.fingerprint = hmac.new(self.key.encode(), (token or "").encode(), hashlib.sha256).hexdigest()[:32]

    @property
    def enabled(self) -> bool:
        """Whether the editor pages are on (a token is set)."""
        return self.token is not None

    def middleware(self) -> list[Middleware]:
        """The session middleware for the editor's routes."""
        return [
            Middleware(
                _SchemeSessionMiddleware,  # type: ignore[arg-type]
                secret_key=self.key,
                session_cookie=self.cookie,
                max_age=self.max_age,
                same_site="strict",
                path="/",
            )
        ]

    def check_token(self, given: str) -> bool:
        """Whether ``given`` is the editor token (constant-time)."""
        return self.token is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.token.encode("utf-8")
        )

    def _epoch(self) -> int:
        try:
            return int(self.store.setting(EPOCH_KEY, "0") or 0)
        except ValueError:
            return 0

    def login(self, request: Request) -> None:
        """Start a session on ``request`` (the cookie is set on its response)."""
        request.session.clear()
        request.session.update(
            epoch=self._epoch(), token=self.fingerprint, csrf=secrets.token_hex(16), since=int(time.time())
        )

    def logout_everywhere(self, request: Request) -> None:
        """End ``request``'s session and every other one (the epoch moves on)."""
        self.store.bump_counter(EPOCH_KEY)
        if "session" in request.scope:
            request.session.clear()

    def csrf(self, request: Request) -> str | None:
        """The CSRF token of ``request``'s valid session, or ``None`` without one."""
        if not self.enabled or "session" not in request.scope:
            return None
        data = request.session
        if not data:
            return None
        try:
            valid = (
                int(data.get("epoch", -1)) == self._epoch()
                and hmac.compare_digest(str(data.get("token", "")), self.fingerprint)
                and 0 <= time.time() - float(data.get("since", 0)) < self.max_age
            )
        except (TypeError, ValueError):
            valid = False
        csrf = data.get("csrf")
        return csrf if valid and isinstance(csrf, str) and csrf else None


__all__ = ["EPOCH_KEY", "SECRET_KEY", "EditorSessions"]
