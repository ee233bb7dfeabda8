"""``digest unsubscribe-mail MAILDIR|MBOX``: unsubscribe by the messages in a local mailbox.

For SMTP installations whose unsubscribe address delivers into a Maildir (a folder with
``cur``, ``new``, ``tmp``) or an mbox file, read with Python's :mod:`mailbox`. Each message
is applied with :func:`digest.unsubscribe.unsubscribe_mail` (the same unsubscribe as the
https link), from its ``Subject`` and its recipients
(:data:`digest.unsubscribe.RECIPIENT_HEADERS`), and remembered in the store by the SHA-256 of its
bytes, so a message is processed once however often the command runs (cron); the mailbox
itself is never changed. A message that cannot be read or parsed is reported, never fatal.
"""

from __future__ import annotations

import hashlib
import logging
import mailbox
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.exceptions import DigestError
from digest.store import Store
from digest.unsubscribe import MailOutcome, message_fields, unsubscribe_mail

log = logging.getLogger("digest.unsubscribe")

_SEEN_PREFIX = "unsub-mail:"


class MailboxError(DigestError):
    """The mailbox cannot be opened (missing, not a Maildir or mbox, unreadable)."""


@dataclass(frozen=True)
class MessageReport:
    """One message newly processed: its mailbox key, outcome and, when it unsubscribed
    someone, their list; ``detail`` for a message that could not be read."""

    key: str
    outcome: MailOutcome | None
    list_name: str = ""
    detail: str = ""


@dataclass(frozen=True)
class MailboxReport:
    """What one run did: the messages it processed (new ones only) and how many it skipped
    because an earlier run processed them."""

    messages: tuple[MessageReport, ...] = field(default=())
    skipped: int = 0

    def count(self, outcome: MailOutcome | None) -> int:
        """How many processed messages had ``outcome`` (``None``: unreadable)."""
        return sum(1 for m in self.messages if m.outcome == outcome)


def open_mailbox(path: Path) -> mailbox.Mailbox:
    """``path`` as a read-only Maildir (a folder) or mbox (a file).

    Raises :class:`MailboxError` when it is neither.
    """
    if path.is_dir():
        if not all((path / sub).is_dir() for sub in ("cur", "new")):
            raise MailboxError(f"{path}: a folder but not a Maildir (no cur/ and new/)")
        return mailbox.Maildir(str(path), factory=None, create=False)
    if path.is_file():
        return mailbox.mbox(str(path), factory=None, create=False)
    raise MailboxError(f"{path}: no such Maildir or mbox")


def _messages(box: mailbox.Mailbox) -> Iterator[tuple[str, bytes | Exception]]:
    try:
        keys = list(box.iterkeys())
    except (OSError, mailbox.Error) as exc:
        raise MailboxError(f"cannot read the mailbox: {exc}") from exc
    for key in keys:
        try:
            yield str(key), box.get_bytes(key)
        except (OSError, KeyError, mailbox.Error) as exc:  # removed meanwhile, unreadable
            yield str(key), exc


def process_mailbox(path: Path, store: Store, *, now: datetime) -> MailboxReport:
    """Unsubscribe by every message in the Maildir or mbox at ``path`` not processed
    before; see the module docstring. Raises :class:`MailboxError` when the mailbox itself
    cannot be opened; a bad message is a :class:`MessageReport` with ``outcome=None``."""
    box = open_mailbox(path)
    done: list[MessageReport] = []
    skipped = 0
    try:
        for key, raw in _messages(box):
            if isinstance(raw, Exception):
                done.append(MessageReport(key, None, detail=f"unreadable: {raw}"))
                continue
            seen = _SEEN_PREFIX + hashlib.sha256(raw).hexdigest()[:48]
            if store.setting(seen) is not None:
                skipped += 1
                continue
            report = _apply(key, raw, store, now)
            store.mark_once(seen, report.outcome.value if report.outcome else "unreadable")
            done.append(report)
    finally:
        box.close()
    return MailboxReport(tuple(done), skipped)


def _apply(key: str, raw: bytes, store: Store, now: datetime) -> MessageReport:
    try:
        subject, recipients = message_fields(raw)
    except ValueError as exc:
        return MessageReport(key, None, detail=str(exc))
    result = unsubscribe_mail(store, subject=subject, recipients=recipients, now=now, via="mailbox")
    list_name = result.subscriber.list_name if result.subscriber else ""
    return MessageReport(key, result.outcome, list_name=list_name)


__all__ = ["MailboxError", "MailboxReport", "MessageReport", "open_mailbox", "process_mailbox"]
