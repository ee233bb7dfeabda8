"""The engine and the column type every table uses: :func:`make_engine` (SQLite pragmas),
:func:`migrate`, :class:`UTCDateTime`, and :class:`StoreBase`, the connection handling each
part of the :class:`~digest.store.Store` facade shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import DateTime, TypeDecorator, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from digest.dbfile import full_error
from digest.exceptions import StoreError


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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # a WAL that grew (up to the ~4 MB of the auto-checkpoint, more in a big transaction)
    # is cut back after each checkpoint instead of keeping its largest size while a
    # long-running process (schedule, worker, web) holds the file open: after a full disk
    # the room comes back (https://www.sqlite.org/pragma.html#pragma_journal_size_limit)
    cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cur.close()


#: Bytes SQLite keeps of the WAL after a checkpoint resets it (``journal_size_limit``).
WAL_SIZE_LIMIT = 1 << 20


def normalize_url(url: str) -> str:
    """``url`` with the PostgreSQL driver made explicit: ``postgresql://`` and ``postgres://``
    become ``postgresql+psycopg://`` (psycopg 3, the driver digest installs); any other URL
    is returned unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _shown(url: str) -> str:
    """``url`` as it may be printed: its password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return url.split("@")[-1]


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 5, pool_timeout: float = 30.0
) -> Engine:
    """An engine for ``url``; for SQLite, creates the file on the first run (refusing an
    empty, unreadable or foreign one: :mod:`digest.dbfile`) and sets WAL + busy timeout.
    For PostgreSQL (``postgresql+psycopg://``; a bare ``postgresql://`` means the same), a
    pool of ``pool_size`` connections plus ``max_overflow`` under load, a wait of at most
    ``pool_timeout`` seconds for one, and each checked before use (``pool_pre_ping``).

    Raises :class:`StoreError` when the URL is malformed, its driver is missing or the
    database file is damaged.
    """
    from digest import dbfile

    url = normalize_url(url)
    dbfile.prepare(url)
    options: dict[str, Any] = {}
    if url.startswith("postgresql"):
        options = {
            "pool_pre_ping": True,
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
        }
    try:
        engine = create_engine(url, future=True, **options)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise StoreError(f"cannot open database {_shown(url)}: {exc}") from exc
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


class StoreBase:
    """The engine and the transaction helper shared by the parts of the store. Each
    method of a part runs in its own transaction (:meth:`begin`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
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
            raise full_error(exc, self.engine.url) or StoreError(str(exc)) from exc
