"""Subscriber lists: import from CSV files into the store, export back to CSV.

The CSV format (``subscribers/<list>.csv``, UTF-8, header row required)::

    email,name,topics,timezone,status
    ada@example.com,Ada Lovelace,ukraine;europe,Europe/London,active

- ``email`` is required and validated with email-validator (syntax only, no DNS lookups);
  addresses are compared case-insensitively (one subscriber per list and lower-cased address).
- ``topics`` is a ``;``-separated list of topic names (empty: every section of the list).
- ``timezone`` is an IANA name (empty: ``UTC``); ``status`` one of
  :class:`~digest.types.SubscriberStatus` (empty: ``active``).

A bad row is reported as ``"file:line: message"`` in the :class:`ImportReport` while the
other rows import. An address that unsubscribed, bounced or complained is never made active
again by an import (:meth:`Store.add_subscriber` keeps the stored status).

Exports protect against spreadsheet formula injection (OWASP "CSV Injection"): a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from digest.exceptions import DigestError
from digest.store import Store
from digest.types import Subscriber, SubscriberStatus

log = logging.getLogger("digest.subscribers")

COLUMNS = ("email", "name", "topics", "timezone", "status")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class SubscriberFileError(DigestError):
    """A subscriber CSV file cannot be read at all (missing, not UTF-8, no ``email`` column)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass
class ImportReport:
    """What an import did. ``problems`` holds one ``"file:line: message"`` per bad row;
    ``existing`` counts addresses already on the list (their name, topics and timezone are
    refreshed while active; a non-active status in the file is applied); ``kept_status``
    counts rows whose address had left (unsubscribed, bounced, complained) and so stayed out,
    whatever the file said."""

    path: str
    list_name: str
    added: int = 0
    existing: int = 0
    kept_status: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows read, good and bad."""
        return self.added + self.existing + self.kept_status + len(self.problems)


MAX_NAME = 200
"""Longest subscriber name accepted, in characters (it goes into the To header)."""


def normalise_email(raw: str) -> str:
    """The address as email-validator normalises it (syntax only, no DNS).

    Raises ``ValueError`` with the validator's explanation when it is not a valid address.
    """
    try:
        # no SMTPUTF8: a non-ASCII local part would be refused by most relays at send time
        return validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def parse_row(row: dict[str, str | None], list_name: str) -> Subscriber:
    """One CSV row (a :class:`csv.DictReader` dict) as a :class:`Subscriber` without an id.

    Raises ``ValueError`` naming the bad column.
    """
    def cell(name: str) -> str:
        value = row.get(name)
        return (value or "").strip()

    raw_email = cell("email")
    if not raw_email:
        raise ValueError("email is empty")
    name = cell("name")
    if len(name) > MAX_NAME:
        raise ValueError(f"name is {len(name)} characters long (at most {MAX_NAME})")
    try:
        email = normalise_email(raw_email)
    except ValueError as exc:
        raise ValueError(f"email {raw_email!r}: {exc}") from None
    topics = tuple(dict.fromkeys(t.strip() for t in cell("topics").split(";") if t.strip()))
    tz = cell("timezone") or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {tz!r} is not an IANA timezone name") from None
    status_raw = cell("status").lower() or "active"
    try:
        status = SubscriberStatus(status_raw)
    except ValueError:
        allowed = ", ".join(s.value for s in SubscriberStatus)
        raise ValueError(f"status {status_raw!r} is not one of {allowed}") from None
    return Subscriber(
        list_name=list_name, email=email, name=name, topics=topics, timezone=tz,
        status=status,
    )


def import_csv(store: Store, list_name: str, path: str | Path, *, now: datetime) -> ImportReport:
    """Import the subscribers in CSV file ``path`` into list ``list_name``.

    Returns an :class:`ImportReport`; bad rows become ``problems`` and the rest import.
    A repeated address (case-insensitive) later in the same file updates the earlier row.
    Raises :class:`SubscriberFileError` when the file cannot be read or has no ``email``
    column, and :class:`~digest.exceptions.StoreError` when the database fails.
    """
    path = Path(path)
    report = ImportReport(path=str(path), list_name=list_name)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SubscriberFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SubscriberFileError(str(path), f"not UTF-8: {exc}") from None
    # One record per line: a quoted cell never spans lines in a subscriber file, so an
    # unclosed quote costs its own row only, never the rows after it.
    lines = text.splitlines()
    try:
        header = next(csv.reader(lines[:1], strict=True), [])
    except csv.Error as exc:
        raise SubscriberFileError(str(path), f"unreadable header row: {exc}") from None
    fields = [f.strip().lower() for f in header]
    if "email" not in fields:
        raise SubscriberFileError(str(path), "no 'email' column in the header row")
    for line, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue  # blank line
        try:
            cells = next(csv.reader([raw], strict=True))
        except csv.Error as exc:
            hint = " (an unclosed quote?)" if "end of data" in str(exc) else ""
            report.problems.append(f"{path}:{line}: {exc}{hint}")
            continue
        if len(cells) > len(fields):
            report.problems.append(f"{path}:{line}: {len(cells)} cells for {len(fields)} columns")
            continue
        row: dict[str, str | None] = dict(zip(fields, cells, strict=False))
        try:
            sub = parse_row(row, list_name)
        except ValueError as exc:
            report.problems.append(f"{path}:{line}: {exc}")
            continue
        stored, inserted = store.add_subscriber(sub, now=now)
        if inserted:
            report.added += 1
        elif stored.status != SubscriberStatus.ACTIVE:
            # left earlier (unsubscribed, bounced, complained): an import never brings them back
            report.kept_status += 1
        elif sub.status != SubscriberStatus.ACTIVE:
            # the file records a departure the store did not know yet: apply it
            assert stored.id is not None
            store.set_subscriber_status(stored.id, sub.status, now=now)
            report.existing += 1
        else:
            report.existing += 1
    log.info(
        "subscribers.import list=%s path=%s added=%d existing=%d kept_status=%d problems=%d",
        list_name, path, report.added, report.existing, report.kept_status, len(report.problems),
    )
    return report


def safe_cell(value: str) -> str:
    """``value`` made safe for spreadsheets: a leading ``'`` when it starts with ``=``, ``+``,
    ``-``, ``@``, tab or carriage return (OWASP CSV injection guidance)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(subscribers: Iterable[Subscriber], out: TextIO) -> int:
    """Write ``subscribers`` as CSV (the import format, header first) to ``out``.

    Every cell goes through :func:`safe_cell`. Returns the number of rows written.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for sub in subscribers:
        writer.writerow(
            [safe_cell(v) for v in (sub.email, sub.name, ";".join(sub.topics), sub.timezone,
                                    str(sub.status))]
        )
        n += 1
    return n


__all__ = [
    "COLUMNS",
    "ImportReport",
    "SubscriberFileError",
    "export_csv",
    "import_csv",
    "normalise_email",
    "parse_row",
    "safe_cell",
]
