"""Sources (what a poll remembers) and their entries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, select, update

from digest.store.engine import StoreBase
from digest.store.rows import SourceState
from digest.store.tables import entries, sources
from digest.types import Entry, Image

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from digest.polling import SourceUpdate


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


class SourcesStore(StoreBase):
    """Sources and entries (part of :class:`~digest.store.Store`)."""

    def source_state(self, name: str) -> SourceState:
        """What is known about source ``name`` (defaults when it was never polled)."""
        with self.begin() as conn:
            row = conn.execute(select(sources).where(sources.c.name == name)).first()
        return SourceState(**row._mapping) if row else SourceState(name=name)

    def source_states(self, names: Iterable[str] | None = None) -> dict[str, SourceState]:
        """Every source the store knows, by name; only those of ``names`` when given (a
        source never polled is absent)."""
        rows: list[Any] = []
        with self.begin() as conn:
            if names is None:
                rows.extend(conn.execute(select(sources)))
            else:
                wanted = list(names)
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    rows.extend(conn.execute(select(sources).where(sources.c.name.in_(chunk))))
        return {row.name: SourceState(**row._mapping) for row in rows}

    def _write_source(self, name: str, values: Mapping[str, Any]) -> None:
        """Create or update the ``sources`` row ``name`` with column ``values`` (only the
        named methods below call it: callers never write raw columns)."""
        with self.begin() as conn:
            _write_source_row(conn, name, values)

    def apply_source_update(self, name: str, update: SourceUpdate) -> None:
        """Write the state :func:`digest.polling.decide` computed for source ``name``."""
        self._write_source(name, update.columns())

    def save_source_state(self, state: SourceState) -> None:
        """Store ``state`` as the whole remembered state of source ``state.name`` (every
        field, defaults included), creating the source when it is new."""
        values = {f.name: getattr(state, f.name) for f in fields(state) if f.name != "name"}
        self._write_source(state.name, values)

    def enable_source(self, name: str) -> None:
        """Re-enable source ``name`` (``digest sources enable``): clear its disabled reason
        and error streak and make it due at the next poll. Creates the row when unknown."""
        self._write_source(name, {"disabled_reason": None, "error_count": 0, "next_poll_at": None})

    def upsert_entries(self, items: Sequence[Entry], *, now: datetime) -> tuple[int, int]:
        """Store ``items``: new ones are inserted; known ones are updated in place when their
        content changed, keeping their original ``first_seen``.

        Returns ``(new, seen)``: how many were new and how many were already stored.
        """
        if not items:
            return 0, 0
        with self.begin() as conn:
            return _upsert_entries(conn, items, now)

    def store_poll(
        self, name: str, items: Sequence[Entry], *, now: datetime,
        decide: Callable[[int], SourceUpdate],
    ) -> tuple[int, int, SourceUpdate]:
        """What one poll of source ``name`` parsed, in one transaction: ``items`` stored as
        :meth:`upsert_entries` does, and the state ``decide(new)`` gives (``new``: how many
        of them were new) written as :meth:`apply_source_update` does. A crash so stores
        both or neither: never the entries without the source's ``body_hash`` and next poll.

        Returns ``(new, seen, update)``.
        """
        with self.begin() as conn:
            new, seen = _upsert_entries(conn, items, now) if items else (0, 0)
            update = decide(new)
            _write_source_row(conn, name, update.columns())
        return new, seen, update

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


def _write_source_row(conn: Connection, name: str, values: Mapping[str, Any]) -> None:
    done = conn.execute(update(sources).where(sources.c.name == name).values(**values))
    if done.rowcount == 0:
        conn.execute(
            insert(sources).values(
                **{"name": name, "error_count": 0, "not_modified_count": 0, "redirect_count": 0, **values}
            )
        )


def _upsert_entries(conn: Connection, items: Sequence[Entry], now: datetime) -> tuple[int, int]:
    """:meth:`SourcesStore.upsert_entries` on ``conn``, inside the caller's transaction."""
    new = seen = 0
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
