"""Subscriber lists: import from CSV files into the store, export back to CSV.

The CSV format (``subscribers/<list>.csv``, UTF-8 with or without a byte-order mark, header
row required; cells separated by commas, or by semicolons or tabs as the header row shows,
:func:`header_delimiter`)::

    email,name,topics,timezone,status
    ada@example.com,Ada Lovelace,ukraine;europe,Europe/London,active

- ``email`` is required and validated with email-validator (syntax only, no DNS lookups);
  addresses are compared case-insensitively (one subscriber per list and lower-cased address).
- ``topics`` is a ``;``-separated list of topic names (empty: every section of the list).
- ``timezone`` is an IANA name (empty: ``UTC``); ``status`` one of
  :class:`~digest.types.SubscriberStatus` (empty: ``active``).

A bad row is reported as ``"file:line: message"`` in the :class:`ImportReport` while the
other rows import: a bad cell, a topic the list does not have (when the list's topics are
given), or an address already on an earlier line (the earlier row counts). An address that unsubscribed, bounced or complained is never made active
again by an import (:meth:`Store.add_subscriber` keeps the stored status).

Exports protect against spreadsheet formula injection (OWASP "CSV Injection"): a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from digest.exceptions import DigestError
from digest.store import Store
from digest.types import Subscriber, SubscriberStatus

if TYPE_CHECKING:
    from digest.config import Config, ListConfig

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


def list_topics(config: Config, list_config: ListConfig) -> frozenset[str]:
    """The topic names a subscriber of ``list_config`` may choose: the list's sections (all
    configured topics when it names none) and its fallback section, if it has one."""
    names = list_config.topics or tuple(t.name for t in config.topics)
    fallback = {list_config.fallback.name} if list_config.fallback is not None else set()
    return frozenset(names) | fallback


def parse_row(
    row: dict[str, str | None], list_name: str, topics: Collection[str] | None = None
) -> Subscriber:
    """One CSV row (a :class:`csv.DictReader` dict) as a :class:`Subscriber` without an id.
    ``topics``, when given, are the topic names the row may choose (:func:`list_topics`).

    Raises ``ValueError`` naming every bad column of the row, in column order, joined by
    ``"; "`` (an unknown topic does not hide a bad timezone on the same row).
    """
    def cell(name: str) -> str:
        value = row.get(name)
        return (value or "").strip()

    problems: list[str] = []
    raw_email = cell("email")
    email = ""
    if not raw_email:
        problems.append("email is empty")
    name = cell("name")
    if len(name) > MAX_NAME:
        problems.append(f"name is {len(name)} characters long (at most {MAX_NAME})")
    if raw_email:
        try:
            email = normalise_email(raw_email)
        except ValueError as exc:
            problems.append(f"email {raw_email!r}: {exc}")
    chosen = tuple(dict.fromkeys(t.strip() for t in cell("topics").split(";") if t.strip()))
    unknown = [t for t in chosen if topics is not None and t not in topics]
    if unknown:
        allowed = ", ".join(sorted(topics or ()))
        problems.append(
            f"unknown topic{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(topics of list {list_name}: {allowed})"
        )
    tz = cell("timezone") or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone {tz!r} is not an IANA timezone name")
    status_raw = cell("status").lower() or "active"
    status = SubscriberStatus.ACTIVE
    try:
        status = SubscriberStatus(status_raw)
    except ValueError:
        allowed = ", ".join(s.value for s in SubscriberStatus)
        problems.append(f"status {status_raw!r} is not one of {allowed}")
    if problems:
        raise ValueError("; ".join(problems))
    return Subscriber(
        list_name=list_name, email=email, name=name, topics=chosen, timezone=tz,
        status=status,
    )


DELIMITERS = (",", ";", "\t")
"""Cell separators a subscriber file may use: commas, or the semicolons and tabs that
spreadsheets write in locales whose decimal mark is a comma."""


def header_delimiter(header: str) -> str:
    """The cell separator of a subscriber file, from its header row ``header`` (one line of
    text): the first of :data:`DELIMITERS` that makes one of its cells ``email``
    (case-insensitive, spaces around it ignored); ``","`` when none does (the caller then
    reports the missing ``email`` column). Raises ``csv.Error`` on a malformed header row."""
    for delimiter in DELIMITERS:
        cells = next(csv.reader([header], delimiter=delimiter, strict=True), [])
        if any(cell.strip().lower() == "email" for cell in cells):
            return delimiter
    return ","


@dataclass(frozen=True)
class SubscriberFile:
    """A subscriber CSV file as read: ``rows`` are ``(line, subscriber)`` for the good rows
    (line numbers count from 1, the header being line 1); ``problems`` one
    ``"file:line: message"`` per rejected row."""

    path: str
    rows: tuple[tuple[int, Subscriber], ...]
    problems: tuple[str, ...]


def read_csv(
    path: str | Path, list_name: str, *, topics: Collection[str] | None = None
) -> SubscriberFile:
    """Read and check the subscriber CSV file ``path`` for list ``list_name`` without
    storing anything (``digest config check`` and :func:`import_csv` use it).

    ``topics``, when given, are the topic names a row may choose (:func:`list_topics`); an
    address that repeats an earlier line (case-insensitively) is rejected, the earlier row
    counts. Raises :class:`SubscriberFileError` when the file cannot be read (missing,
    unreadable, not UTF-8) or has no ``email`` column.
    """
    path = Path(path)
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
        delimiter = header_delimiter(lines[0] if lines else "")
        header = next(csv.reader(lines[:1], delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        raise SubscriberFileError(str(path), f"unreadable header row: {exc}") from None
    fields = [f.strip().lower() for f in header]
    if "email" not in fields:
        shown = lines[0][:80] if lines else ""
        raise SubscriberFileError(
            str(path),
            f"no 'email' column in the header row {shown!r} (expected {','.join(COLUMNS)}, "
            "separated by commas, semicolons or tabs)",
        )
    rows: list[tuple[int, Subscriber]] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue  # blank line
        try:
            cells = next(csv.reader([raw], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            hint = " (an unclosed quote?)" if "end of data" in str(exc) else ""
            problems.append(f"{path}:{line}: {exc}{hint}")
            continue
        if len(cells) > len(fields):
            problems.append(f"{path}:{line}: {len(cells)} cells for {len(fields)} columns")
            continue
        row: dict[str, str | None] = dict(zip(fields, cells, strict=False))
        try:
            sub = parse_row(row, list_name, topics)
        except ValueError as exc:
            problems.append(f"{path}:{line}: {exc}")
            continue
        key = sub.email.lower()
        if key in first_line:
            problems.append(
                f"{path}:{line}: {sub.email} is already on line {first_line[key]}; this row is ignored"
            )
            continue
        first_line[key] = line
        rows.append((line, sub))
    return SubscriberFile(path=str(path), rows=tuple(rows), problems=tuple(problems))


def import_csv(
    store: Store,
    list_name: str,
    path: str | Path,
    *,
    now: datetime,
    topics: Collection[str] | None = None,
) -> ImportReport:
    """Import the subscribers in CSV file ``path`` into list ``list_name``.

    Returns an :class:`ImportReport`; bad rows (see :func:`read_csv`, which also explains
    ``topics``) become ``problems`` and the rest import. Raises
    :class:`SubscriberFileError` when the file cannot be read or has no ``email`` column,
    and :class:`~digest.exceptions.StoreError` when the database fails.
    """
    read = read_csv(path, list_name, topics=topics)
    report = ImportReport(path=read.path, list_name=list_name, problems=list(read.problems))
    for _line, sub in read.rows:
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
        list_name, read.path, report.added, report.existing, report.kept_status, len(report.problems),
    )
    return report


def rejected_rows_note(problems: Sequence[str], shown: int = 5) -> str:
    """One line for a run report: how many rows were rejected and the first ``shown`` of
    them (``"file:line: message"``)."""
    more = f"; {len(problems) - shown} more in `digest config check`" if len(problems) > shown else ""
    return f"{len(problems)} subscriber row(s) rejected: " + "; ".join(problems[:shown]) + more


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
    "DELIMITERS",
    "ImportReport",
    "SubscriberFile",
    "SubscriberFileError",
    "export_csv",
    "header_delimiter",
    "import_csv",
    "list_topics",
    "normalise_email",
    "parse_row",
    "read_csv",
    "rejected_rows_note",
    "safe_cell",
]
