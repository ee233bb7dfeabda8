"""Per-subscriber tokens for the unsubscribe and preferences links.

A token names one subscriber without showing who they are: it carries neither the email
address nor the sequential row id. The id is first passed through a keyed permutation of
64-bit integers (a 4-round Feistel network whose round function is HMAC-SHA256 under the
per-installation secret), and the result is signed with itsdangerous'
``URLSafeTimedSerializer`` (HMAC, with a salt per purpose and a timestamp). So a token

- cannot be forged or altered (the signature is checked before anything else),
- cannot be walked (``id + 1`` does not give the next subscriber's token),
- can be given a maximum age when read (``max_age`` seconds).

The secret is the installation's ``Store.secret()`` (generated once, kept in the database).
Reading a bad token raises :class:`BadToken` whatever was wrong with it, so pages can answer
a tampered, expired or unknown token the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import zlib
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from itsdangerous import BadData, URLSafeTimedSerializer

from digest.exceptions import DigestError

UNSUBSCRIBE = "digest-unsubscribe-v1"
_MASK32 = 0xFFFFFFFF


class BadToken(DigestError):
    """The token was tampered with, has expired, or names no subscriber."""


@lru_cache(maxsize=8)
def _keyed(secret: str) -> Any:
    """HMAC-SHA256 keyed with the secret, to be copied per use (keying costs as much as
    hashing the message)."""
    return hmac.new(secret.encode(), digestmod="sha256")


def _round(secret: str, i: int, half: int) -> int:
    mac = _keyed(secret).copy()
    mac.update(f"{i}:{half}".encode())
    return int.from_bytes(mac.digest()[:4], "big")


def _permute(secret: str, value: int, *, inverse: bool = False) -> int:
    left, right = value >> 32 & _MASK32, value & _MASK32
    rounds = range(4)
    if not inverse:
        for i in rounds:
            left, right = right, left ^ _round(secret, i, right)
    else:
        for i in reversed(rounds):
            left, right = right ^ _round(secret, i, left), left
    return left << 32 | right


def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=salt)


def make_token(secret: str, subscriber_id: int, *, purpose: str = UNSUBSCRIBE) -> str:
    """A URL-safe token for ``subscriber_id`` (a positive row id below 2**63).

    ``purpose`` is the itsdangerous salt: a token made for one purpose does not read as
    another. Raises ``ValueError`` for an id out of range.
    """
    if not 0 < subscriber_id < 2**63:
        raise ValueError(f"subscriber id out of range: {subscriber_id}")
    opaque = format(_permute(secret, subscriber_id), "016x")
    return _timed_dumps(secret, purpose, opaque)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _timed_dumps(secret: str, salt: str, opaque: str) -> str:
    """``URLSafeTimedSerializer(secret, salt=salt).dumps(opaque)`` for a short string,
    written out (a token is made for every recipient of every edition): base64url of the
    JSON string (or ``.`` and base64url of it zlib-compressed when that is at least two
    bytes shorter), ``.``, base64url of the big-endian epoch seconds, ``.``, base64url of
    the HMAC-SHA1 of the two under the key itsdangerous derives (``django-concat``:
    ``sha1(salt + b"signer" + secret)``)."""
    payload = f'"{opaque}"'.encode()
    head = _b64(payload)
    # deflate only wins on repeats of 3 bytes or more; without any, skip the costly try
    trigrams = {payload[i : i + 3] for i in range(len(payload) - 2)}
    if len(trigrams) < len(payload) - 2 or len(payload) > 64:
        packed = zlib.compress(payload)
        if len(packed) < len(payload) - 1:
            head = b"." + _b64(packed)
    stamp = int(time.time())
    value = head + b"." + _b64(stamp.to_bytes((stamp.bit_length() + 7) // 8 or 1, "big"))
    mac = _signer(secret, salt).copy()
    mac.update(value)
    return (value + b"." + _b64(mac.digest())).decode("ascii")


@lru_cache(maxsize=8)
def _signer(secret: str, salt: str) -> Any:
    return hmac.new(
        hashlib.sha1(salt.encode() + b"signer" + secret.encode()).digest(), digestmod="sha1"
    )


def read_token(
    secret: str, token: str, max_age: int | None = None, *, purpose: str = UNSUBSCRIBE
) -> int:
    """The subscriber id in ``token``.

    ``max_age`` (seconds) refuses tokens signed longer ago than that. Raises
    :class:`BadToken` when the signature does not match, the token expired, or its
    content is not one :func:`make_token` produces.
    """
    try:
        opaque = _serializer(secret, purpose).loads(token, max_age=max_age)
    except BadData as exc:
        raise BadToken("invalid or expired token") from exc
    if not isinstance(opaque, str) or len(opaque) != 16:
        raise BadToken("invalid or expired token")
    try:
        value = _permute(secret, int(opaque, 16), inverse=True)
    except ValueError as exc:
        raise BadToken("invalid or expired token") from exc
    if not 0 < value < 2**63:
        raise BadToken("invalid or expired token")
    return value


def unsubscribe_url(site_base: str, token: str) -> str:
    """The one-click unsubscribe URL: ``{site_base}/u/{token}`` (RFC 8058 target)."""
    return f"{site_base.rstrip('/')}/u/{quote(token, safe='')}"


def preferences_url(site_base: str, token: str) -> str:
    """The preferences page URL: ``{site_base}/p/{token}``."""
    return f"{site_base.rstrip('/')}/p/{quote(token, safe='')}"


__all__ = [
    "UNSUBSCRIBE",
    "BadToken",
    "make_token",
    "preferences_url",
    "read_token",
    "unsubscribe_url",
]
