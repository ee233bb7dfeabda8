"""The store: SQLAlchemy tables and the queries digest runs on them.

One engine from ``database.url`` (SQLite by default, with WAL and a busy timeout; PostgreSQL
through ``postgresql+psycopg://``). The schema is created and upgraded by the alembic
migrations in ``digest/migrations`` when a store is opened, so an upgrade never loses data.

Tables (see DESIGN.md, "Storage"):

- ``sources``: per configured source, the fetch validators and the last outcome.
- ``entries``: unique per (source, entry_id); ``first_seen`` is written once.
- ``editions``: unique per (list_name, period); the rendered parts are kept for the archive.
- ``edition_variants``: an edition rendered once per subscriber topic choice, with its
  per-recipient placeholders, so a restart delivers exactly what was built.
- ``edition_entries``: which entries an edition carried (so later editions leave them out).
- ``subscribers``: unique per (list_name, email_lower).
- ``deliveries``: unique per (edition_id, subscriber_id); the ledger of exactly-once sending.
- ``suppressions``: addresses that must never receive mail (globally or for one list).
- ``settings``: small key/value facts of the installation (e.g. the generated token secret).
- ``leases``: who owns a singleton role (the scheduler) and until when.
- ``runs``: one report per poll or send run.

All times are stored as UTC and come back timezone-aware.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from digest.adjust import Adjustment
from digest.exceptions import EditionExists, StoreError
from digest.ledger_state import OPEN_STATES, RowUpdate, edition_phase
from digest.types import Entry, Image, RenderedEdition, Subscriber, SubscriberStatus

if TYPE_CHECKING:
    from digest.polling import SourceUpdate

log = logging.getLogger("digest.store")


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DateTime`` that stores naive UTC and always returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("last_status", String(32), nullable=True),
    Column("last_http_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_fetch_at", UTCDateTime, nullable=True),
    Column("last_ok_at", UTCDateTime, nullable=True),
    Column("last_new_at", UTCDateTime, nullable=True),
    Column("error_count", Integer, nullable=False, default=0),
    Column("not_modified_count", Integer, nullable=False, default=0),
    Column("redirect_to", Text, nullable=True),
    Column("redirect_count", Integer, nullable=False, default=0),
    Column("next_poll_at", UTCDateTime, nullable=True),
    Column("disabled_reason", Text, nullable=True),
    Column("body_hash", Text, nullable=True),  # of the last body parsed: unchanged, not parsed again
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("url", Text, nullable=True),
    Column("title", Text, nullable=False),
    Column("summary_html", Text, nullable=False, default=""),
    Column("summary_text", Text, nullable=False, default=""),
    Column("image", JSON, nullable=True),
    Column("author", Text, nullable=True),
    Column("published", UTCDateTime, nullable=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("categories", JSON, nullable=False, default=list),
    Column("language", String(35), nullable=True),
    Column("content_hash", String(64), nullable=False, default=""),
    Column("flags", JSON, nullable=False, default=list),
    UniqueConstraint("source", "entry_id", name="uq_entries_source_entry"),
    Index("ix_entries_published", "published"),
    Index("ix_entries_first_seen", "first_seen"),
)

editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(64), nullable=False),
    Column("period", String(64), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, default="built"),
    Column("subject", Text, nullable=False, default=""),
    Column("preheader", Text, nullable=False, default=""),
    Column("html", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("story_count", Integer, nullable=False, default=0),
    Column("completed_at", UTCDateTime, nullable=True),
    UniqueConstraint("list_name", "period", name="uq_editions_list_period"),
)

edition_variants = Table(
    "edition_variants",
    metadata,
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
    Column("topics", String(512), primary_key=True),
    Column("subject", Text, nullable=False),
    Column("preheader", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("omitted", Integer, nullable=False, default=0),
)

edition_entries = Table(
    "edition_entries",
    metadata,
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("entry_id", Text, primary_key=True),
    Column("story_key", Text, nullable=False),
    Column("section", String(64), nullable=True),
    Column("position", Integer, nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(64), nullable=False),
    Column("email", Text, nullable=False),
    Column("email_lower", Text, nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("topics", JSON, nullable=False, default=list),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("list_name", "email_lower", name="uq_subscribers_list_email"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("state", String(16), nullable=False, default="queued"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_id", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("not_before", UTCDateTime, nullable=True),
    UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
    Index("ix_deliveries_state", "edition_id", "state"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email_lower", Text, nullable=False),
    Column("list_name", String(64), nullable=False, default=""),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("email_lower", "list_name", name="uq_suppressions_email_list"),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", Text, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("ok", Boolean, nullable=False, default=True),
    Column("report", JSON, nullable=False, default=dict),
)


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about a source between polls."""

    name: str
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    last_fetch_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_new_at: datetime | None = None
    error_count: int = 0
    not_modified_count: int = 0
    redirect_to: str | None = None
    redirect_count: int = 0
    next_poll_at: datetime | None = None
    disabled_reason: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class Claim:
    """A ledger row a run claimed: its id, the subscriber, and ``attempts`` counting this one."""

    delivery_id: int
    subscriber: Subscriber
    attempts: int


@dataclass(frozen=True)
class EditionRow:
    """An edition as stored (without its HTML and text)."""

    id: int
    list_name: str
    period: str
    window_start: datetime
    window_end: datetime
    created_at: datetime
    status: str
    subject: str
    story_count: int


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite, creates the file on the first run (refusing an
    empty, unreadable or foreign one: :mod:`digest.dbfile`) and sets WAL + busy timeout.

    Raises :class:`StoreError` when the URL is malformed, its driver is missing or the
    database file is damaged.
    """
    from digest import dbfile

    dbfile.prepare(url)
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise StoreError(f"cannot open database {url}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the latest alembic revision, all pending migrations
    in one transaction, so that a kill leaves the previous revision (:mod:`digest.schema`).

    Raises :class:`StoreError` when a migration fails.
    """
    from digest.schema import upgrade

    upgrade(engine)


def _entry_row(entry: Entry, now: datetime) -> dict[str, Any]:
    image = None
    if entry.image is not None:
        image = {
            "url": entry.image.url,
            "alt": entry.image.alt,
            "width": entry.image.width,
            "height": entry.image.height,
        }
    return {
        "source": entry.source,
        "entry_id": entry.entry_id,
        "url": entry.url,
        "title": entry.title,
        "summary_html": entry.summary_html,
        "summary_text": entry.summary_text,
        "image": image,
        "author": entry.author,
        "published": entry.published,
        "first_seen": entry.first_seen or now,
        "updated_at": now,
        "categories": list(entry.categories),
        "language": entry.language,
        "content_hash": entry.content_hash,
        "flags": list(entry.flags),
    }


def _row_entry(row: Any) -> Entry:
    image = Image(**row.image) if row.image else None
    return Entry(
        source=row.source,
        entry_id=row.entry_id,
        title=row.title,
        url=row.url,
        summary_html=row.summary_html,
        summary_text=row.summary_text,
        image=image,
        author=row.author,
        published=row.published,
        first_seen=row.first_seen,
        categories=tuple(row.categories or ()),
        language=row.language,
        content_hash=row.content_hash,
        flags=tuple(row.flags or ()),
    )


def _row_subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        list_name=row.list_name,
        email=row.email,
        name=row.name,
        topics=tuple(row.topics or ()),
        timezone=row.timezone,
        status=SubscriberStatus(row.status),
    )


class Store:
    """Queries on the digest database. Each method runs in its own transaction.

    Create with :meth:`Store.open`; close with :meth:`close` (or use as a context manager).
    Methods raise :class:`StoreError` when the database fails.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating or upgrading as needed) the store at SQLAlchemy ``url``; a database
        already at head is opened without alembic (:func:`digest.schema.at_head`)."""
        from digest.schema import at_head

        engine = make_engine(url)
        if not at_head(engine):
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success; database errors become StoreError."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc

    # -- settings ------------------------------------------------------------------------

    def setting(self, key: str, default: str | None = None) -> str | None:
        """The stored value of setting ``key``, or ``default``."""
        with self.begin() as conn:
            value = conn.scalar(select(settings.c.value).where(settings.c.key == key))
        return default if value is None else value

    def secret(self, key: str = "token_secret") -> str:
        """A random secret generated once per installation and kept in ``settings``."""
        value = self.setting(key)
        if value is not None:
            return value
        try:
            with self.begin() as conn:
                conn.execute(insert(settings).values(key=key, value=secrets.token_urlsafe(32)))
        except IntegrityError:
            pass  # another process stored one first: use theirs
        value = self.setting(key)
        assert value is not None
        return value

    # -- sources -------------------------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        """What is known about source ``name`` (defaults when it was never polled)."""
        with self.begin() as conn:
            row = conn.execute(select(sources).where(sources.c.name == name)).first()
        return SourceState(**row._mapping) if row else SourceState(name=name)

    def source_states(self) -> dict[str, SourceState]:
        """Every source the store knows, by name."""
        with self.begin() as conn:
            rows = conn.execute(select(sources)).all()
        return {row.name: SourceState(**row._mapping) for row in rows}

    def record_source(self, name: str, **values: Any) -> None:
        """Create or update source ``name`` with column ``values`` (see the ``sources`` table)."""
        with self.begin() as conn:
            done = conn.execute(update(sources).where(sources.c.name == name).values(**values))
            if done.rowcount == 0:
                conn.execute(
                    insert(sources).values(
                        **{
                            "name": name,
                            "error_count": 0,
                            "not_modified_count": 0,
                            "redirect_count": 0,
                            **values,
                        }
                    )
                )

    def apply_source_update(self, name: str, update: SourceUpdate) -> None:
        """Write the state :func:`digest.polling.decide` computed for source ``name``."""
        self.record_source(name, **update.columns())

    # -- entries -------------------------------------------------------------------------

    def upsert_entries(self, items: Sequence[Entry], *, now: datetime) -> tuple[int, int]:
        """Store ``items``: new ones are inserted; known ones are updated in place when their
        content changed, keeping their original ``first_seen``.

        Returns ``(new, seen)``: how many were new and how many were already stored.
        """
        new = seen = 0
        if not items:
            return 0, 0
        with self.begin() as conn:
            by_source: dict[str, list[Entry]] = {}
            for item in items:
                by_source.setdefault(item.source, []).append(item)
            for source_name, group in by_source.items():
                ids = [e.entry_id for e in group]
                known: dict[str, Any] = {}
                for chunk_start in range(0, len(ids), 500):
                    chunk = ids[chunk_start : chunk_start + 500]
                    rows = conn.execute(
                        select(entries.c.id, entries.c.entry_id, entries.c.content_hash).where(
                            and_(entries.c.source == source_name, entries.c.entry_id.in_(chunk))
                        )
                    ).all()
                    known.update({r.entry_id: r for r in rows})
                fresh = []
                for item in group:
                    row = known.get(item.entry_id)
                    if row is None:
                        fresh.append(_entry_row(item, now))
                        known[item.entry_id] = True  # a repeated id in one batch counts once
                        new += 1
                        continue
                    seen += 1
                    if row is not True and row.content_hash != item.content_hash:
                        values = _entry_row(item, now)
                        values.pop("first_seen")
                        conn.execute(update(entries).where(entries.c.id == row.id).values(**values))
                if fresh:
                    conn.execute(insert(entries), fresh)
        return new, seen

    def entries_between(
        self, source_names: Iterable[str], start: datetime, end: datetime
    ) -> list[Entry]:
        """Entries of ``source_names`` whose time (published, else first seen) is in
        ``[start, end)``, oldest first."""
        when = func.coalesce(entries.c.published, entries.c.first_seen)
        query = (
            select(entries)
            .where(entries.c.source.in_(list(source_names)))
            .where(when >= start)
            .where(when < end)
            .order_by(when, entries.c.id)
        )
        with self.begin() as conn:
            return [_row_entry(row) for row in conn.execute(query)]

    def entries_of(self, source_name: str, limit: int = 100) -> list[Entry]:
        """The latest ``limit`` entries of one source, newest first."""
        when = func.coalesce(entries.c.published, entries.c.first_seen)
        query = (
            select(entries)
            .where(entries.c.source == source_name)
            .order_by(when.desc(), entries.c.id.desc())
            .limit(limit)
        )
        with self.begin() as conn:
            return [_row_entry(row) for row in conn.execute(query)]

    # -- editions ------------------------------------------------------------------------

    def previous_edition(self, list_name: str, before: datetime) -> EditionRow | None:
        """The latest edition of ``list_name`` whose window ended at or before ``before``."""
        query = (
            select(editions)
            .where(editions.c.list_name == list_name)
            .where(editions.c.window_end <= before)
            .order_by(editions.c.window_end.desc())
            .limit(1)
        )
        with self.begin() as conn:
            row = conn.execute(query).first()
        return _edition_row(row) if row else None

    def edition(self, list_name: str, period: str) -> EditionRow | None:
        """The edition of ``list_name`` for ``period``, if it exists."""
        with self.begin() as conn:
            row = conn.execute(
                select(editions).where(
                    and_(editions.c.list_name == list_name, editions.c.period == period)
                )
            ).first()
        return _edition_row(row) if row else None

    def edition_parts(self, edition_id: int) -> dict[str, str]:
        """The stored ``subject``, ``preheader``, ``html`` and ``text`` of an edition."""
        with self.begin() as conn:
            row = conn.execute(
                select(editions.c.subject, editions.c.preheader, editions.c.html, editions.c.text)
                .where(editions.c.id == edition_id)
            ).first()
        if row is None:
            raise StoreError(f"no edition with id {edition_id}")
        return dict(row._mapping)

    def editions_of(self, list_name: str, limit: int = 50) -> list[EditionRow]:
        """The latest editions of a list, newest first."""
        with self.begin() as conn:
            rows = conn.execute(
                select(editions)
                .where(editions.c.list_name == list_name)
                .order_by(editions.c.window_end.desc())
                .limit(limit)
            ).all()
        return [_edition_row(r) for r in rows]

    def sent_entries(self, list_name: str, since: datetime) -> dict[tuple[str, str], str]:
        """Entries carried by editions of ``list_name`` whose window ended after ``since``:
        ``(source, entry_id) -> period`` of the earliest edition that carried it."""
        query = (
            select(edition_entries.c.source, edition_entries.c.entry_id, editions.c.period)
            .join(editions, editions.c.id == edition_entries.c.edition_id)
            .where(editions.c.list_name == list_name)
            .where(editions.c.window_end > since)
            .order_by(editions.c.window_end.desc())
        )
        with self.begin() as conn:
            return {(r.source, r.entry_id): r.period for r in conn.execute(query)}

    def create_edition(
        self,
        *,
        list_name: str,
        period: str,
        window_start: datetime,
        window_end: datetime,
        now: datetime,
        subject: str,
        preheader: str,
        html: str,
        text: str,
        carried: Sequence[tuple[str, str, str, str | None]],
        variants: Mapping[tuple[str, ...], RenderedEdition] | None = None,
        recipients: Sequence[tuple[int, datetime | None]] = (),
    ) -> int:
        """Store a new edition, the entries it carried, its renderings and its queued
        deliveries, all in one transaction (so a crash can never leave an edition that exists
        but has nobody to deliver to); returns its id.

        ``carried`` holds ``(source, entry_id, story_key, section)`` in reading order;
        ``variants`` the renderings by topic choice (see :meth:`save_variants`);
        ``recipients`` ``(subscriber_id, not_before)`` for the ledger rows to queue.
        Raises :class:`EditionExists` when (list_name, period) is taken, whoever took it.
        """
        try:
            with self.begin() as conn:
                edition_id = conn.execute(
                    insert(editions).values(
                        list_name=list_name,
                        period=period,
                        window_start=window_start,
                        window_end=window_end,
                        created_at=now,
                        status="built",
                        subject=subject,
                        preheader=preheader,
                        html=html,
                        text=text,
                        story_count=len({c[2] for c in carried}),
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                rows = [
                    {
                        "edition_id": edition_id,
                        "source": source,
                        "entry_id": entry_id,
                        "story_key": key,
                        "section": section,
                        "position": i,
                    }
                    for i, (source, entry_id, key, section) in enumerate(carried)
                ]
                if rows:
                    conn.execute(insert(edition_entries), rows)
                if variants:
                    conn.execute(insert(edition_variants), _variant_rows(edition_id, variants))
                wanted = dict(recipients)
                queued = _queued_rows(edition_id, list(wanted), now=now, not_before=wanted)
                if queued:
                    conn.execute(insert(deliveries), queued)
        except IntegrityError as exc:
            raise EditionExists(list_name, period) from exc
        return int(edition_id)

    def set_edition_status(self, edition_id: int, status: str, *, now: datetime) -> None:
        """Move an edition to ``status`` (``built``, ``sending``, ``sent``)."""
        values: dict[str, Any] = {"status": status}
        if status == "sent":
            values["completed_at"] = now
        with self.begin() as conn:
            conn.execute(update(editions).where(editions.c.id == edition_id).values(**values))

    def save_variants(self, edition_id: int, variants: Mapping[tuple[str, ...], RenderedEdition]) -> None:
        """Keep an edition's renderings, keyed by sorted topic choice (``()``: the whole)."""
        with self.begin() as conn:
            conn.execute(insert(edition_variants), _variant_rows(edition_id, variants))

    def variants(self, edition_id: int) -> dict[tuple[str, ...], RenderedEdition]:
        """The renderings :meth:`save_variants` kept for an edition."""
        query = (
            select(edition_variants, editions.c.list_name, editions.c.period)
            .join(editions, editions.c.id == edition_variants.c.edition_id)
            .where(edition_variants.c.edition_id == edition_id)
        )
        with self.begin() as conn:
            rows = conn.execute(query).all()
        return {
            tuple(t for t in row.topics.split(",") if t): RenderedEdition(
                list_name=row.list_name,
                period=row.period,
                html=row.html,
                text=row.text,
                subject=row.subject,
                preheader=row.preheader,
                omitted=row.omitted,
            )
            for row in rows
        }

    def unfinished_editions(self) -> list[EditionRow]:
        """Editions that are not complete: some ledger row is open
        (:data:`digest.ledger_state.OPEN_STATES`), derived from the rows each time; by id."""
        open_ids = (
            select(deliveries.c.edition_id)
            .where(deliveries.c.state.in_(sorted(OPEN_STATES)))
            .distinct()
        )
        with self.begin() as conn:
            rows = conn.execute(
                select(editions).where(editions.c.id.in_(open_ids)).order_by(editions.c.id)
            ).all()
        return [_edition_row(r) for r in rows]

    # -- subscribers ---------------------------------------------------------------------

    def add_subscriber(self, sub: Subscriber, *, now: datetime) -> tuple[Subscriber, bool]:
        """Insert ``sub`` unless its (list, lower(email)) exists; returns the stored subscriber
        and whether it was inserted. An existing row keeps its status (an import never
        re-subscribes someone who left); its name, topics and timezone are updated only while
        it is active."""
        email_lower = sub.email.lower()
        with self.begin() as conn:
            row = conn.execute(
                select(subscribers).where(
                    and_(
                        subscribers.c.list_name == sub.list_name,
                        subscribers.c.email_lower == email_lower,
                    )
                )
            ).first()
            if row is None:
                new_id = conn.execute(
                    insert(subscribers).values(
                        list_name=sub.list_name,
                        email=sub.email,
                        email_lower=email_lower,
                        name=sub.name,
                        topics=list(sub.topics),
                        timezone=sub.timezone,
                        status=str(sub.status),
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                return sub.__class__(**{**sub.__dict__, "id": int(new_id)}), True
            if row.status == SubscriberStatus.ACTIVE and (
                row.name != sub.name or list(row.topics or []) != list(sub.topics)
                or row.timezone != sub.timezone
            ):
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == row.id)
                    .values(name=sub.name, topics=list(sub.topics), timezone=sub.timezone, updated_at=now)
                )
                row = conn.execute(select(subscribers).where(subscribers.c.id == row.id)).first()
            return _row_subscriber(row), False

    def subscribers_of(self, list_name: str, *, status: str | None = "active") -> list[Subscriber]:
        """Subscribers of ``list_name`` (only ``status`` ones unless it is None), by id."""
        query = select(subscribers).where(subscribers.c.list_name == list_name)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with self.begin() as conn:
            return [_row_subscriber(r) for r in conn.execute(query.order_by(subscribers.c.id))]

    def subscriber(self, subscriber_id: int) -> Subscriber | None:
        """The subscriber with row id ``subscriber_id``, if any."""
        with self.begin() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        return _row_subscriber(row) if row else None

    def set_subscriber_status(
        self, subscriber_id: int, status: SubscriberStatus, *, now: datetime
    ) -> None:
        """Set a subscriber's status (e.g. ``unsubscribed``); idempotent."""
        with self.begin() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(status=str(status), updated_at=now)
            )

    def is_suppressed(self, email: str, list_name: str) -> bool:
        """True when ``email`` is on the suppression list globally or for ``list_name``."""
        with self.begin() as conn:
            found = conn.scalar(
                select(func.count())
                .select_from(suppressions)
                .where(suppressions.c.email_lower == email.lower())
                .where(or_(suppressions.c.list_name == "", suppressions.c.list_name == list_name))
            )
        return bool(found)

    def suppress(
        self, email: str, reason: str, *, now: datetime, list_name: str = "", detail: str | None = None
    ) -> bool:
        """Add ``email`` to the suppression list (``list_name`` empty: every list).
        Returns False when it was already there."""
        try:
            with self.begin() as conn:
                conn.execute(
                    insert(suppressions).values(
                        email_lower=email.lower(),
                        list_name=list_name,
                        reason=reason,
                        detail=detail,
                        created_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    # -- deliveries ----------------------------------------------------------------------

    def delivery_counts(self, edition_id: int) -> dict[str, int]:
        """Ledger rows of an edition per state, e.g. ``{"sent": 5}``."""
        with self.begin() as conn:
            rows = conn.execute(
                select(deliveries.c.state, func.count())
                .where(deliveries.c.edition_id == edition_id)
                .group_by(deliveries.c.state)
            ).all()
        return {state: int(n) for state, n in rows}

    # -- runs ----------------------------------------------------------------------------

    def record_run(
        self, kind: str, *, started_at: datetime, finished_at: datetime, ok: bool,
        report: Mapping[str, Any],
    ) -> int:
        """Keep a run report (JSON-serialisable ``report``); returns its id."""
        with self.begin() as conn:
            run_id = conn.execute(
                insert(runs).values(
                    kind=kind,
                    started_at=started_at,
                    finished_at=finished_at,
                    ok=ok,
                    report=json.loads(json.dumps(report, default=str)),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return int(run_id)

    def last_runs(self, kind: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """The latest run reports, newest first."""
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        with self.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- ledger (deliver.py) -------------------------------------------------------------

    def queue_deliveries(
        self,
        edition_id: int,
        subscriber_ids: Sequence[int],
        *,
        now: datetime,
        not_before: Mapping[int, datetime] | None = None,
    ) -> int:
        """Add a ``queued`` ledger row per subscriber unless (edition, subscriber) has one.
        ``not_before`` maps a subscriber id to the earliest time its row may be sent.

        Idempotent; returns how many rows were added. Inserts in chunks of 1000.
        """
        added = 0
        with self.begin() as conn:
            for start in range(0, len(subscriber_ids), 1000):
                chunk = list(dict.fromkeys(subscriber_ids[start : start + 1000]))
                known = set(
                    conn.scalars(
                        select(deliveries.c.subscriber_id)
                        .where(deliveries.c.edition_id == edition_id)
                        .where(deliveries.c.subscriber_id.in_(chunk))
                    )
                )
                rows = _queued_rows(
                    edition_id, [sid for sid in chunk if sid not in known], now=now,
                    not_before=not_before or {},
                )
                if rows:
                    conn.execute(insert(deliveries), rows)
                    added += len(rows)
        return added

    def recover_sending(self, edition_id: int | None, *, now: datetime) -> list[int]:
        """Rows of an edition (of every edition when None) left in ``sending`` (a run died
        between handing them to the provider and recording the answer) become ``unknown``:
        whether the provider took them cannot be known. Rows left ``claimed`` (never handed
        over) go back to ``queued`` with their attempt uncounted. Returns the ids that became
        ``unknown``. Only call it when no run of the edition is alive."""
        def of_edition(stmt: Any) -> Any:
            return stmt if edition_id is None else stmt.where(deliveries.c.edition_id == edition_id)

        with self.begin() as conn:
            conn.execute(
                of_edition(update(deliveries))
                .where(deliveries.c.state == "claimed")
                .values(state="queued", attempts=deliveries.c.attempts - 1, updated_at=now)
            )
            ids = list(
                conn.scalars(
                    of_edition(select(deliveries.c.id)).where(deliveries.c.state == "sending")
                )
            )
            if ids:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids))
                    .where(deliveries.c.state == "sending")
                    .values(state="unknown", last_error="interrupted while sending", updated_at=now)
                )
        return ids

    def claim_deliveries(
        self, edition_id: int, *, list_name: str, limit: int, now: datetime
    ) -> list[Claim]:
        """Claim up to ``limit`` due ``queued`` rows of an edition, oldest first, in one
        transaction: rows whose subscriber is no longer active or whose address is suppressed
        (globally or for ``list_name``) become ``skipped``; the others become ``claimed``
        (attempts + 1; :meth:`mark_sending` makes them ``sending`` when they are handed to
        the provider) and are returned as :class:`Claim`.

        On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` so several workers
        can claim side by side.
        """
        due = or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now)
        query = (
            select(
                deliveries.c.id.label("delivery_id"),
                deliveries.c.attempts.label("delivery_attempts"),
                subscribers,
            )
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.state == "queued")
            .where(due)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=deliveries)
        with self.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            emails = list({r.email_lower for r in rows})
            suppressed = set(
                conn.scalars(
                    select(suppressions.c.email_lower)
                    .where(suppressions.c.email_lower.in_(emails))
                    .where(or_(suppressions.c.list_name == "", suppressions.c.list_name == list_name))
                )
            )
            claimed: list[Claim] = []
            skipped: dict[str, list[int]] = {}
            for row in rows:
                if row.status != "active":
                    skipped.setdefault(f"subscriber {row.status}", []).append(row.delivery_id)
                elif row.email_lower in suppressed:
                    skipped.setdefault("address suppressed", []).append(row.delivery_id)
                else:
                    claimed.append(
                        Claim(row.delivery_id, _row_subscriber(row), row.delivery_attempts + 1)
                    )
            for reason, ids in skipped.items():
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids))
                    .values(state="skipped", last_error=reason, updated_at=now)
                )
            if claimed:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_([c.delivery_id for c in claimed]))
                    .where(deliveries.c.state == "queued")
                    .values(state="claimed", attempts=deliveries.c.attempts + 1, updated_at=now)
                )
        return claimed

    def mark_sending(self, delivery_ids: Sequence[int], *, now: datetime) -> None:
        """``claimed`` rows are about to be handed to the provider: they become ``sending``
        (a kill from here on leaves their outcome unknown)."""
        with self.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .where(deliveries.c.state == "claimed")
                .values(state="sending", updated_at=now)
            )

    def record_outcomes(self, updates: Sequence[RowUpdate], *, now: datetime) -> None:
        """Record each :class:`~digest.ledger_state.RowUpdate` (state, provider id, error,
        ``not_before``) in one transaction. Only rows in ``claimed``, ``sending`` or
        ``unknown`` change (an answer that arrives late still upgrades ``unknown``)."""
        outcomes = updates
        if not outcomes:
            return
        from sqlalchemy import bindparam

        stmt = (
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .where(
                or_(
                    deliveries.c.state == "claimed",
                    deliveries.c.state == "sending",
                    deliveries.c.state == "unknown",
                )
            )
            .values(
                state=bindparam("b_state"),
                provider_id=func.coalesce(bindparam("b_provider"), deliveries.c.provider_id),
                last_error=bindparam("b_error"),
                not_before=bindparam("b_not_before"),
                updated_at=now,
            )
        )
        params = [
            {
                "b_id": u.delivery_id,
                "b_state": str(u.state),
                "b_provider": u.provider_id,
                "b_error": u.error,
                "b_not_before": u.not_before,
            }
            for u in outcomes
        ]
        with self.begin() as conn:
            conn.execute(stmt, params)

    def requeue(self, edition_id: int | None, state: str, *, now: datetime) -> int:
        """Move rows in ``state`` (``unknown`` or ``failed``; of one edition, or of all when
        None) back to ``queued``, due now, with a fresh retry budget (attempts 0). Rows
        waiting for a retry (``queued`` with attempts and a ``not_before``) become due now as
        well: the operator says the provider is back. Rows waiting for a local send time
        (never attempted) keep it. ``not_before`` is compared with no clock here, since a
        command run with ``--at`` records retries on its own clock. Returns how many rows
        moved from ``state``."""
        moved = update(deliveries).where(deliveries.c.state == state).values(
            state="queued", not_before=None, attempts=0, updated_at=now
        )
        waiting = (
            update(deliveries)
            .where(deliveries.c.state == "queued")
            .where(deliveries.c.attempts > 0)
            .where(deliveries.c.not_before.is_not(None))
            .values(not_before=None, updated_at=now)
        )
        if edition_id is not None:
            moved = moved.where(deliveries.c.edition_id == edition_id)
            waiting = waiting.where(deliveries.c.edition_id == edition_id)
        with self.begin() as conn:
            conn.execute(waiting)
            return int(conn.execute(moved).rowcount or 0)

    def waiting_retries(self, edition_id: int | None) -> int:
        """Rows (of one edition, or of all when None) waiting for a retry: ``queued`` after
        an attempt, with a ``not_before`` (what :meth:`requeue` makes due now)."""
        query = (
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.state == "queued")
            .where(deliveries.c.attempts > 0)
            .where(deliveries.c.not_before.is_not(None))
        )
        if edition_id is not None:
            query = query.where(deliveries.c.edition_id == edition_id)
        with self.begin() as conn:
            return int(conn.scalar(query) or 0)

    def deliveries_in(
        self, edition_id: int | None, states: Sequence[str], *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Ledger rows in ``states`` (of one edition or all), with the address: dicts with
        ``id, edition_id, subscriber_id, email, state, attempts, provider_id, last_error,
        updated_at``; by id."""
        query = (
            select(
                deliveries.c.id, deliveries.c.edition_id, deliveries.c.subscriber_id,
                subscribers.c.email, deliveries.c.state, deliveries.c.attempts,
                deliveries.c.provider_id, deliveries.c.last_error, deliveries.c.updated_at,
            )
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.state.in_(list(states)))
            .order_by(deliveries.c.id)
        )
        if edition_id is not None:
            query = query.where(deliveries.c.edition_id == edition_id)
        if limit is not None:
            query = query.limit(limit)
        with self.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def delivery_overview(self, limit: int = 20) -> list[dict[str, Any]]:
        """Per edition with ledger rows (newest first): ``edition_id, list_name, period,
        status`` (:func:`~digest.ledger_state.edition_phase`, derived from the rows) and
        ``counts`` (state -> rows)."""

        with self.begin() as conn:
            eds = conn.execute(
                select(editions.c.id, editions.c.list_name, editions.c.period, editions.c.status)
                .where(editions.c.id.in_(select(deliveries.c.edition_id).distinct()))
                .order_by(editions.c.id.desc())
                .limit(limit)
            ).all()
            out = []
            for ed in eds:
                counts = conn.execute(
                    select(deliveries.c.state, func.count())
                    .where(deliveries.c.edition_id == ed.id)
                    .group_by(deliveries.c.state)
                ).all()
                by_state = {s: int(n) for s, n in counts}
                out.append(
                    {
                        "edition_id": ed.id, "list_name": ed.list_name, "period": ed.period,
                        "status": edition_phase(by_state), "counts": by_state,
                    }
                )
        return out

    def subscriber_by_email(self, list_name: str, email: str) -> Subscriber | None:
        """The subscriber of ``list_name`` with address ``email`` (case-insensitive), if any."""
        with self.begin() as conn:
            row = conn.execute(
                select(subscribers)
                .where(subscribers.c.list_name == list_name)
                .where(subscribers.c.email_lower == email.lower())
            ).first()
        return _row_subscriber(row) if row else None

    def set_subscriber_topics(
        self, subscriber_id: int, topics: Sequence[str], *, now: datetime
    ) -> None:
        """Replace a subscriber's topic choice (empty: every section)."""
        with self.begin() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(topics=list(topics), updated_at=now)
            )

    def edition_status(self, edition_id: int) -> str | None:
        """The status of an edition (``built``, ``sending``, ``sent``), or None if none."""
        with self.begin() as conn:
            return conn.scalar(select(editions.c.status).where(editions.c.id == edition_id))

    def delivery_subscriber(self, delivery_id: int) -> Subscriber | None:
        """The subscriber a ledger row was for, if the row exists."""
        with self.begin() as conn:
            row = conn.execute(
                select(subscribers)
                .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
                .where(deliveries.c.id == delivery_id)
            ).first()
        return _row_subscriber(row) if row else None

    def mark_once(self, key: str, value: str = "1") -> bool:
        """Remember ``key`` (at most 64 characters) in ``settings``; True the first time only.
        Used to apply each provider webhook event once."""
        try:
            with self.begin() as conn:
                conn.execute(insert(settings).values(key=key, value=value))
        except IntegrityError:
            return False
        return True

    def bump_counter(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the integer setting ``key`` (created at 0); returns the new value."""
        from sqlalchemy import cast as _cast

        with self.begin() as conn:
            done = conn.execute(
                update(settings)
                .where(settings.c.key == key)
                .values(value=_cast(_cast(settings.c.value, Integer) + by, String))
            )
            if done.rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(settings).values(key=key, value=str(by)))
                except IntegrityError:
                    conn.execute(
                        update(settings)
                        .where(settings.c.key == key)
                        .values(value=_cast(_cast(settings.c.value, Integer) + by, String))
                    )
            value = conn.scalar(select(settings.c.value).where(settings.c.key == key))
        return int(value or 0)

    # -- scheduler (scheduler.py, lease.py, status.py) --

    def take_lease(self, name: str, holder: str, *, now: datetime, expires_at: datetime) -> bool:
        """Hold lease ``name`` for ``holder`` until ``expires_at``; True when it is ours now.

        The holder renews its own lease; anyone takes over a lease that expired before
        ``now``; otherwise the lease stays with its holder and False is returned. Each step is
        one conditional statement, so two processes racing for the lease never both win
        (SQLite serialises writers; PostgreSQL row-locks the updated row).
        """
        with self.begin() as conn:
            renewed = conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, leases.c.holder == holder))
                .values(expires_at=expires_at)
            )
            if renewed.rowcount:
                return True
        with self.begin() as conn:
            taken = conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, leases.c.expires_at < now))
                .values(holder=holder, acquired_at=now, expires_at=expires_at)
            )
            if taken.rowcount:
                return True
        try:
            with self.begin() as conn:
                conn.execute(
                    insert(leases).values(
                        name=name, holder=holder, acquired_at=now, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False
        return True

    def renew_lease(self, name: str, holder: str, *, expires_at: datetime) -> bool:
        """Extend ``holder``'s lease to ``expires_at``; False when someone else holds it now."""
        with self.begin() as conn:
            done = conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, leases.c.holder == holder))
                .values(expires_at=expires_at)
            )
        return bool(done.rowcount)

    def release_lease(self, name: str, holder: str) -> bool:
        """Give up ``holder``'s lease (a no-op, returning False, when it is not theirs)."""
        with self.begin() as conn:
            done = conn.execute(
                leases.delete().where(and_(leases.c.name == name, leases.c.holder == holder))
            )
        return bool(done.rowcount)

    def lease(self, name: str) -> dict[str, Any] | None:
        """The lease row ``{name, holder, acquired_at, expires_at}``, or None when free."""
        with self.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return dict(row._mapping) if row else None

    def delivery_states(self, since: datetime | None = None) -> dict[str, int]:
        """Ledger rows per state over every edition (created at or after ``since``)."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        if since is not None:
            query = query.where(deliveries.c.created_at >= since)
        with self.begin() as conn:
            return {state: int(n) for state, n in conn.execute(query).all()}

    def queued_deliveries(self, now: datetime) -> tuple[int, datetime | None]:
        """``(due, next_at)``: queued ledger rows whose ``not_before`` is unset or at or
        before ``now``, and the earliest ``not_before`` still in the future (or None)."""
        due_query = (
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.state == "queued")
            .where(or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now))
        )
        next_query = (
            select(func.min(deliveries.c.not_before))
            .where(deliveries.c.state == "queued")
            .where(deliveries.c.not_before > now)
        )
        with self.begin() as conn:
            due = int(conn.scalar(due_query) or 0)
            raw = conn.scalar(next_query)
        # func.min() loses the column type: bring the naive UTC value back to aware UTC.
        if isinstance(raw, str):
            raw = datetime.fromisoformat(raw)
        next_at = raw.replace(tzinfo=UTC) if isinstance(raw, datetime) and raw.tzinfo is None else raw
        return due, next_at

    def edition_periods(self, list_name: str, limit: int = 10) -> frozenset[str]:
        """The periods of the latest ``limit`` editions of ``list_name``."""
        with self.begin() as conn:
            rows = conn.execute(
                select(editions.c.period)
                .where(editions.c.list_name == list_name)
                .order_by(editions.c.window_end.desc(), editions.c.id.desc())
                .limit(limit)
            ).all()
        return frozenset(r.period for r in rows)

    # -- editor (editor.py) --------------------------------------------------------------

    def adjustments(self, list_name: str, period: str) -> list[Adjustment]:
        """The editor's adjustments of edition ``list_name``/``period``, oldest first."""
        query = (
            select(edition_adjustments)
            .where(edition_adjustments.c.list_name == list_name)
            .where(edition_adjustments.c.period == period)
            .order_by(edition_adjustments.c.id)
        )
        with self.begin() as conn:
            return [
                Adjustment(
                    story_key=r.story_key,
                    action=r.action,
                    value=r.value,
                    lead_source=r.lead_source,
                    lead_entry_id=r.lead_entry_id,
                )
                for r in conn.execute(query)
            ]

    def set_adjustment(
        self, list_name: str, period: str, adjustment: Adjustment, *, now: datetime
    ) -> None:
        """Store ``adjustment`` for edition ``list_name``/``period``, replacing the same
        action on the same story (one pin, one boost, one drop, one summary per story)."""
        key = and_(
            edition_adjustments.c.list_name == list_name,
            edition_adjustments.c.period == period,
            edition_adjustments.c.story_key == adjustment.story_key,
            edition_adjustments.c.action == adjustment.action,
        )
        values = {
            "value": adjustment.value,
            "lead_source": adjustment.lead_source,
            "lead_entry_id": adjustment.lead_entry_id,
            "updated_at": now,
        }
        for _attempt in range(2):
            try:
                with self.begin() as conn:
                    done = conn.execute(update(edition_adjustments).where(key).values(**values))
                    if done.rowcount == 0:
                        conn.execute(
                            insert(edition_adjustments).values(
                                list_name=list_name,
                                period=period,
                                story_key=adjustment.story_key,
                                action=adjustment.action,
                                **values,
                            )
                        )
                return
            except IntegrityError:
                continue  # another editor inserted it first: update theirs
        raise StoreError(f"could not store the adjustment of {list_name}/{period}")

    def clear_adjustment(self, list_name: str, period: str, story_key: str, action: str) -> bool:
        """Remove one adjustment; returns False when there was none."""
        with self.begin() as conn:
            done = conn.execute(
                edition_adjustments.delete().where(
                    and_(
                        edition_adjustments.c.list_name == list_name,
                        edition_adjustments.c.period == period,
                        edition_adjustments.c.story_key == story_key,
                        edition_adjustments.c.action == action,
                    )
                )
            )
        return bool(done.rowcount)

    def subscriber_counts(self, list_name: str) -> dict[str, int]:
        """Subscribers of ``list_name`` per status, e.g. ``{"active": 3, "unsubscribed": 1}``."""
        with self.begin() as conn:
            rows = conn.execute(
                select(subscribers.c.status, func.count())
                .where(subscribers.c.list_name == list_name)
                .group_by(subscribers.c.status)
            ).all()
        return {status: int(n) for status, n in rows}

    def entry_days(self, since: datetime, until: datetime) -> dict[str, dict[str, int]]:
        """Entries per source per UTC day (``"2026-02-18"``) whose time (published, else first
        seen) is in ``[since, until)``."""
        when = func.coalesce(entries.c.published, entries.c.first_seen)
        query = select(entries.c.source, entries.c.published, entries.c.first_seen).where(
            and_(when >= since, when < until)
        )
        counts: dict[str, dict[str, int]] = {}
        with self.begin() as conn:
            for row in conn.execute(query):
                at = row.published or row.first_seen
                day = at.astimezone(UTC).strftime("%Y-%m-%d")
                per_day = counts.setdefault(row.source, {})
                per_day[day] = per_day.get(day, 0) + 1
        return counts

    def latest_entry_times(self) -> dict[str, datetime]:
        """Per source, the time (published, else first seen) of its newest stored entry."""
        when = func.max(func.coalesce(entries.c.published, entries.c.first_seen))
        with self.begin() as conn:
            rows = conn.execute(select(entries.c.source, when).group_by(entries.c.source)).all()
        result = {}
        for source_name, latest in rows:
            if isinstance(latest, str):  # SQLite returns max() of a coalesce as text
                latest = datetime.fromisoformat(latest)
            if latest is not None:
                result[source_name] = latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest
        return result

    def approve_edition(self, list_name: str, period: str, *, by: str, now: datetime) -> None:
        """Record an editor's approval of edition ``list_name``/``period`` (idempotent: a
        second approval keeps the first one's time)."""
        try:
            with self.begin() as conn:
                conn.execute(
                    insert(edition_approvals).values(
                        list_name=list_name, period=period, approved_at=now, approved_by=by
                    )
                )
        except IntegrityError:
            pass  # already approved

    def revoke_approval(self, list_name: str, period: str) -> bool:
        """Withdraw the approval of an edition; returns False when it had none."""
        with self.begin() as conn:
            done = conn.execute(
                edition_approvals.delete().where(
                    and_(
                        edition_approvals.c.list_name == list_name,
                        edition_approvals.c.period == period,
                    )
                )
            )
        return bool(done.rowcount)

    def approval(self, list_name: str, period: str) -> datetime | None:
        """When edition ``list_name``/``period`` was approved, or ``None``."""
        with self.begin() as conn:
            return conn.scalar(
                select(edition_approvals.c.approved_at).where(
                    and_(
                        edition_approvals.c.list_name == list_name,
                        edition_approvals.c.period == period,
                    )
                )
            )

    def archived_editions(self, list_name: str, limit: int = 50) -> list[EditionRow]:
        """Editions of ``list_name`` that went out (status ``sending`` or ``sent``), newest
        first: what the public archive and its feed show."""
        with self.begin() as conn:
            rows = conn.execute(
                select(editions)
                .where(editions.c.list_name == list_name)
                .where(editions.c.status.in_(("sending", "sent")))
                .order_by(editions.c.window_end.desc())
                .limit(limit)
            ).all()
        return [_edition_row(r) for r in rows]

def _queued_rows(
    edition_id: int,
    subscriber_ids: Sequence[int],
    *,
    now: datetime,
    not_before: Mapping[int, datetime | None],
) -> list[dict[str, Any]]:
    """New ``queued`` ledger rows for ``subscriber_ids`` of an edition."""
    return [
        {
            "edition_id": edition_id,
            "subscriber_id": sid,
            "state": "queued",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "not_before": not_before.get(sid),
        }
        for sid in subscriber_ids
    ]


def _variant_rows(
    edition_id: int, variants: Mapping[tuple[str, ...], RenderedEdition]
) -> list[dict[str, Any]]:
    return [
        {
            "edition_id": edition_id,
            "topics": ",".join(key),
            "subject": r.subject,
            "preheader": r.preheader,
            "html": r.html,
            "text": r.text,
            "omitted": r.omitted,
        }
        for key, r in variants.items()
    ]


def _edition_row(row: Any) -> EditionRow:
    return EditionRow(
        id=row.id,
        list_name=row.list_name,
        period=row.period,
        window_start=row.window_start,
        window_end=row.window_end,
        created_at=row.created_at,
        status=row.status,
        subject=row.subject,
        story_count=row.story_count,
    )


# -- editor (editor.py): per-edition adjustments (migration 0004) -------------------------

edition_adjustments = Table(
    "edition_adjustments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(64), nullable=False),
    Column("period", String(64), nullable=False),
    Column("story_key", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("value", Text, nullable=False, default=""),
    Column("lead_source", String(64), nullable=False, default=""),
    Column("lead_entry_id", Text, nullable=False, default=""),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "list_name", "period", "story_key", "action", name="uq_edition_adjustments_story_action"
    ),
)

edition_approvals = Table(
    "edition_approvals",
    metadata,
    Column("list_name", String(64), primary_key=True),
    Column("period", String(64), primary_key=True),
    Column("approved_at", UTCDateTime, nullable=False),
    Column("approved_by", Text, nullable=False, default=""),
)


__all__ = [
    "EditionRow",
    "SourceState",
    "Store",
    "make_engine",
    "metadata",
    "migrate",
]
