"""``digest db copy SOURCE_URL TARGET_URL``: move an installation to another database.

The usual move is from the SQLite file to PostgreSQL (README, "Moving to PostgreSQL"):

1. both databases are migrated to the head revision (the source as any ``digest`` command
   would; the target from nothing);
2. the target must hold no row in any of digest's tables -- like ``pg_restore`` into a used
   database or ``pgloader``'s default, a copy never merges into existing data -- unless
   ``force`` is given, which empties those tables first;
3. every table of :data:`digest.store.metadata` is copied in dependency order (parents before
   the rows that refer to them), ``batch_size`` rows at a time read from a streaming cursor,
   so memory stays bounded whatever the size; all of it in one transaction on the target,
   so a failed copy leaves it as it was;
4. PostgreSQL sequences are set past the highest copied id, so new rows do not collide;
5. the rows of each table are counted on both sides (:func:`mismatches` decides).

Not copied: ``alembic_version`` (the target is migrated itself) and APScheduler's
``apscheduler_jobs`` (``digest schedule`` re-creates its jobs from the config on start).
Any other table found in the source that digest does not declare is named in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Integer, Table, delete, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.exceptions import StoreError

#: Tables of the database that are deliberately not copied (see the module docstring).
NOT_COPIED = frozenset({"alembic_version", "apscheduler_jobs"})


@dataclass(frozen=True)
class TableCount:
    """Rows of one table: ``source`` in the source database, ``target`` after the copy."""

    table: str
    source: int
    target: int


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_database` did: per-table counts in copy order, and the source's
    tables it did not know (left alone)."""

    counts: tuple[TableCount, ...]
    unknown_tables: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Every table has as many rows in the target as in the source."""
        return not mismatches(self.counts)


class TargetNotEmpty(StoreError):
    """The target database already holds rows (``tables``: name -> rows); nothing was written."""

    def __init__(self, tables: dict[str, int]) -> None:
        self.tables = tables
        listed = ", ".join(f"{name} ({n})" for name, n in tables.items())
        super().__init__(
            f"the target database is not empty: {listed}; copy into an empty database, "
            "or pass --force to delete those rows first"
        )


def copy_order(tables: Sequence[Table]) -> list[Table]:
    """``tables`` sorted so that every table comes after the tables its foreign keys name
    (SQLAlchemy's ``sort_tables``); the order rows are inserted in."""
    from sqlalchemy.schema import sort_tables

    return list(sort_tables(tables))


def mismatches(counts: Sequence[TableCount]) -> list[TableCount]:
    """The tables whose target count differs from the source count."""
    return [c for c in counts if c.source != c.target]


def _count(conn: Connection, table: Table) -> int:
    return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def _serial_columns(table: Table) -> list[str]:
    return [
        c.name
        for c in table.primary_key.columns
        if isinstance(c.type, Integer) and c.autoincrement in (True, "auto")
    ]


def _reset_sequences(conn: Connection, table: Table) -> None:
    """Set the PostgreSQL sequence behind each serial primary key of ``table`` past its
    highest value (``setval(seq, max, true)``; an empty table restarts at 1)."""
    for column in _serial_columns(table):
        seq = conn.scalar(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column}
        )
        if seq is None:
            continue
        top = conn.scalar(select(func.max(table.c[column])))
        if top is None:
            conn.execute(text("SELECT setval(CAST(:s AS regclass), 1, false)"), {"s": seq})
        else:
            conn.execute(text("SELECT setval(CAST(:s AS regclass), :v, true)"), {"s": seq, "v": top})


def copy_database(
    source: Engine,
    target: Engine,
    tables: Sequence[Table],
    *,
    force: bool = False,
    batch_size: int = 1000,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of ``tables`` from ``source`` to ``target`` (both already at the same
    revision), ``batch_size`` rows at a time, in one target transaction; then count.

    ``progress(table, rows_so_far)`` is called after each batch. Raises
    :class:`TargetNotEmpty` when the target holds rows and ``force`` is false (nothing is
    written), :class:`StoreError` when either database fails (the target is left as it was).
    """
    ordered = copy_order(tables)
    names = {t.name for t in ordered}
    try:
        unknown = tuple(
            sorted(set(inspect(source).get_table_names()) - names - NOT_COPIED)
        )
        with source.connect() as src, target.begin() as dst:
            present = {t.name: n for t in ordered if (n := _count(dst, t))}
            if present and not force:
                raise TargetNotEmpty(present)
            for table in reversed(ordered):  # children first
                if table.name in present:
                    dst.execute(delete(table))
            for table in ordered:
                done = 0
                result = src.execution_options(stream_results=True, yield_per=batch_size).execute(
                    select(table)
                )
                for rows in result.mappings().partitions(batch_size):
                    dst.execute(table.insert(), [dict(r) for r in rows])
                    done += len(rows)
                    if progress is not None:
                        progress(table.name, done)
                if dst.dialect.name == "postgresql":
                    _reset_sequences(dst, table)
            src.rollback()
        with source.connect() as src, target.connect() as dst:
            counts = tuple(TableCount(t.name, _count(src, t), _count(dst, t)) for t in ordered)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise StoreError(f"database copy failed: {' '.join(str(cause).split())}") from exc
    return CopyReport(counts=counts, unknown_tables=unknown)
