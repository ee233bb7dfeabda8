"""Unsubscribing by a subscriber's signed token: the one function behind every path.

The https one-click link (``POST /u/{token}``, RFC 8058), the SendGrid Inbound Parse
webhook and ``digest unsubscribe-mail`` all call :func:`unsubscribe_token`; the two mail
paths first find the token in the message with :func:`tokens_in`.

Unsubscribe by mail (RFC 2369 ``List-Unsubscribe: <mailto:...>``): when the list (or the
site) names an ``unsubscribe_mailto`` address, :func:`mailto_url` puts the token in the
subject, ``mailto:unsubscribe@example.org?subject=unsubscribe%20<token>``, which is what
a mail client sends when the reader clicks "unsubscribe". A token in a ``+tag`` of the
recipient (``unsubscribe+<token>@example.org``) is accepted as well, but not advertised:
the token is case-sensitive and longer than some mail systems allow a local part to be.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote

from digest.store import Store
from digest.tokens import BadToken, read_token
from digest.types import Subscriber, SubscriberStatus

log = logging.getLogger("digest.unsubscribe")

# payload.timestamp.signature of itsdangerous' URL-safe serializer (digest.tokens)
_TOKEN = re.compile(r"(?<![A-Za-z0-9_.-])[A-Za-z0-9_-]{8,200}\.[A-Za-z0-9_-]{4,20}\.[A-Za-z0-9_-]{20,100}(?![A-Za-z0-9_-])")
MAX_CANDIDATES = 10
"""At most this many token-shaped strings of one message are tried."""
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
"""The headers of a received message that may name the address it was sent to."""


class MailOutcome(StrEnum):
    """What a message sent to the unsubscribe address did."""

    UNSUBSCRIBED = "unsubscribed"
    ALREADY = "already unsubscribed"
    NO_TOKEN = "no token"
    BAD_TOKEN = "invalid token"


@dataclass(frozen=True)
class Unsubscribed:
    """The subscriber a token named, as it was before, and whether this call changed it
    (``False``: it was not active any more)."""

    subscriber: Subscriber
    changed: bool


@dataclass(frozen=True)
class MailResult:
    """The outcome of one message; ``subscriber`` when a valid token named one."""

    outcome: MailOutcome
    subscriber: Subscriber | None = None


def mailto_url(address: str | None, token: str) -> str | None:
    """The ``mailto:`` URI (RFC 6068) that unsubscribes the holder of ``token`` by mail:
    ``mailto:<address>?subject=unsubscribe%20<token>``; ``None`` when ``address`` is
    ``None`` (no mailbox is read, so none is advertised)."""
    if not address:
        return None
    return f"mailto:{address}?subject={quote('unsubscribe ' + token, safe='')}"


def tokens_in(subject: str, recipients: Iterable[str] = ()) -> tuple[str, ...]:
    """Token-shaped strings in a message's ``subject`` first, then in its ``recipients``
    (addresses such as ``unsubscribe+<token>@example.org``), in order, without repeats,
    at most :data:`MAX_CANDIDATES`. Pure; nothing is verified here."""
    found: list[str] = []
    for text in (subject, *recipients):
        for match in _TOKEN.finditer(text or ""):
            if match.group(0) not in found:
                found.append(match.group(0))
    return tuple(found[:MAX_CANDIDATES])


def message_fields(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """``(subject, recipients)`` of the raw RFC 5322 message ``raw`` (headers decoded,
    RFC 2047 words too; recipients from :data:`RECIPIENT_HEADERS`). Pure. Raises
    ``ValueError`` when the headers cannot be read at all."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(message.get("Subject", "") or "")
        recipients = tuple(str(v) for name in RECIPIENT_HEADERS for v in (message.get_all(name) or []))
    except Exception as exc:  # the email package raises many kinds on junk
        raise ValueError(f"not a readable message: {type(exc).__name__}: {exc}") from exc
    return subject, recipients


def unsubscribe_token(
    store: Store, token: str, *, now: datetime, max_age: int | None = None, via: str = "web"
) -> Unsubscribed:
    """Unsubscribe the subscriber ``token`` names (idempotent), recording ``now``.

    ``max_age`` (seconds) refuses older tokens; ``via`` names the path in the log
    (``web``, ``inbound``, ``mailbox``). Raises :class:`~digest.tokens.BadToken` when the
    token is tampered with, expired, or names no subscriber. Takes effect before the next
    message: the ledger re-checks the status when it claims a row.
    """
    subscriber = store.subscriber(read_token(store.secret(), token, max_age=max_age))
    if subscriber is None or subscriber.id is None:
        raise BadToken("invalid or expired token")
    changed = subscriber.status == SubscriberStatus.ACTIVE
    if changed:
        store.set_subscriber_status(subscriber.id, SubscriberStatus.UNSUBSCRIBED, now=now)
        log.info("unsubscribed subscriber=%s list=%s via=%s", subscriber.id, subscriber.list_name, via)
    return Unsubscribed(subscriber, changed)


def unsubscribe_mail(
    store: Store, *, subject: str, recipients: Iterable[str] = (), now: datetime, via: str
) -> MailResult:
    """Apply one message sent to the unsubscribe address: the first valid token in its
    ``subject`` or ``recipients`` (see :func:`tokens_in`) is unsubscribed with
    :func:`unsubscribe_token`. Never raises for bad input; the outcome says what happened."""
    candidates = tokens_in(subject, recipients)
    for token in candidates:
        try:
            done = unsubscribe_token(store, token, now=now, via=via)
        except BadToken:
            continue
        outcome = MailOutcome.UNSUBSCRIBED if done.changed else MailOutcome.ALREADY
        return MailResult(outcome, done.subscriber)
    return MailResult(MailOutcome.BAD_TOKEN if candidates else MailOutcome.NO_TOKEN)


__all__ = [
    "MAX_CANDIDATES",
    "RECIPIENT_HEADERS",
    "MailOutcome",
    "MailResult",
    "Unsubscribed",
    "mailto_url",
    "message_fields",
    "tokens_in",
    "unsubscribe_mail",
    "unsubscribe_token",
]
