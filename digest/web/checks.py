"""Checks of the web app's secrets, shared by ``digest config check`` and startup.

The editor token (``DIGEST_EDITOR_TOKEN``) and the Inbound Parse secret
(``delivery.sendgrid.inbound_secret_env``) guard the web app; each must be at least
:data:`MIN_SECRET_CHARS` characters (``python -c 'import secrets;
print(secrets.token_urlsafe(32))'`` makes one of 43).
"""

from __future__ import annotations

from collections.abc import Mapping

from digest.config import Config

MIN_SECRET_CHARS = 32
EDITOR_TOKEN_ENV = "DIGEST_EDITOR_TOKEN"


def short_secret(env_name: str, value: str) -> str | None:
    """The problem with secret ``value`` read from ``env_name``, or ``None`` when it is long
    enough (an empty value means the feature is off, which is no problem)."""
    if not value or len(value) >= MIN_SECRET_CHARS:
        return None
    return (
        f"{env_name} is {len(value)} characters long; it needs at least {MIN_SECRET_CHARS} "
        "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


def secret_problems(config: Config, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Every problem with the web app's secrets in ``environ`` (an ``os.environ``-like
    mapping) for ``config``: too short an editor token or Inbound Parse secret."""
    names = (EDITOR_TOKEN_ENV, config.delivery.sendgrid.inbound_secret_env)
    found = (short_secret(name, environ.get(name, "")) for name in names)
    return tuple(p for p in found if p)


__all__ = ["EDITOR_TOKEN_ENV", "MIN_SECRET_CHARS", "secret_problems", "short_secret"]
