"""Apply the alembic migrations (``digest/migrations``) so that a kill cannot break them.

Every pending migration runs inside one database transaction, together with the update of
``alembic_version``: killed at any statement, the database is left exactly at the revision it
had before, and the next ``digest`` command simply upgrades again.

PostgreSQL has transactional DDL. SQLite has it too, but Python's ``sqlite3`` driver in its
default ("legacy") transaction control emits no ``BEGIN`` before ``CREATE``/``ALTER``/``DROP``,
so each of those statements commits on its own. For the migration connection only, the
driver's transaction handling is switched off (``isolation_level = None``) and the
transaction is opened explicitly with ``BEGIN IMMEDIATE`` -- the recipe of SQLAlchemy's
SQLite dialect documentation, "Enabling Non-Legacy SQLite Transactional Modes" (formerly
"Serializable isolation / Savepoints / Transactional DDL"). ``IMMEDIATE`` takes the write
lock first, so two processes opening an old database one after the other upgrade it once:
the second waits (busy timeout), then finds it at head and does nothing. On PostgreSQL the
same order comes from a transaction-level advisory lock (``pg_advisory_xact_lock``, key
:data:`MIGRATION_LOCK`) taken before alembic reads the version: without it, two processes
would both create the same tables and one would fail (or wait on the other's locks).

Opening a store first asks :func:`at_head` (one ``SELECT`` of ``alembic_version`` against
the head read from the migration files' ``revision``/``down_revision`` lines), so a database
that is already at head is opened without importing alembic at all (issue 14: alembic's
import and migration check cost 0.2-0.45 s of every cron run). A new database (none of the
tables, no ``alembic_version``) is created from the declared tables and stamped at head in
the same kind of transaction (:func:`create_new`), again without alembic: the first run of
an installation (and every test database) no longer runs each migration in turn.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.dbfile import full_error
from digest.exceptions import StoreError

SCRIPT_LOCATION = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x64696765  # "dige": the PostgreSQL advisory lock key of migrations


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)


_QUOTED = re.compile(r"""(['"])([^'"\\]*)\1""")


def _literal(text: str) -> str | tuple[str, ...] | None:
    """The value of a migration file's ``revision``/``down_revision`` right-hand side:
    ``None``, one quoted id, or a tuple/list of quoted ids (a merge). Raises ``ValueError`` for
    anything else. Written out rather than ``ast.literal_eval``: CPython 3.11's AST conversion
    keeps its recursion depth in shared state, so processes' threads opening stores at once
    (the web app, the scheduler) raised "SystemError: AST constructor recursion depth
    mismatch" from it."""
    text = text.strip()
    if text == "None":
        return None
    if text[:1] in "([" and text[-1:] in ")]":
        inner = text[1:-1]
        ids = tuple(m.group(2) for m in _QUOTED.finditer(inner))
        if _QUOTED.sub("", inner).replace(",", "").strip():
            raise ValueError(f"not a tuple of revision ids: {text}")
        return ids
    quoted = _QUOTED.fullmatch(text)
    if quoted is None:
        raise ValueError(f"not a revision id: {text}")
    return quoted.group(2)


def head_revision() -> str | None:
    """The newest revision id read from the migration files themselves (their module-level
    ``revision = "..."`` and ``down_revision = ...`` assignments), without importing alembic:
    the one revision no other names as its ``down_revision``. ``None`` when that is not
    exactly one (a file it cannot read, or several heads): then ask alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (SCRIPT_LOCATION / "versions").glob("*.py"):
        if path.name.startswith("_"):
            continue
        try:
            found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
            revision = _literal(found["revision"])
            down = _literal(found.get("down_revision", "None"))
        except (OSError, UnicodeDecodeError, KeyError, ValueError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        parents.update([down] if isinstance(down, str) else (down or ()))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: Engine) -> bool:
    """True when the database of ``engine`` is at the newest revision, by one read of its
    ``alembic_version`` table (no alembic import; nothing written). False when it is not,
    has no schema yet, or cannot tell: then :func:`upgrade` decides."""
    newest = head_revision()
    if newest is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:  # no such table yet, or a database that cannot be read: upgrade says
        return False
    return rows == [newest]


def _alembic_config(conn: Connection) -> object:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["connection"] = conn
    return cfg


def revisions() -> list[str]:
    """Every revision id, oldest first (``["0001", "0004", ...]``)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(SCRIPT_LOCATION))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def head() -> str:
    """The newest revision id."""
    return revisions()[-1]


def current(conn: Connection) -> str | None:
    """The revision the database at ``conn`` is at (``None``: no schema yet)."""
    from alembic.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


@contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """One transaction on ``conn`` that DDL statements join, committed when the block ends
    and rolled back when it raises."""
    if conn.dialect.name != "sqlite":
        with conn.begin():
            if conn.dialect.name == "postgresql":  # one migrating process at a time
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            yield
        return
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    legacy = dbapi.isolation_level  # type: ignore[attr-defined]
    dbapi.isolation_level = None  # type: ignore[attr-defined]  # sqlite3: no implicit BEGIN/COMMIT
    try:
        with conn.begin():  # commit()/rollback() on the driver end the BEGIN below
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield
    finally:
        with suppress(sqlite3.Error):  # a connection the error closed goes back to no pool
            dbapi.isolation_level = legacy  # type: ignore[attr-defined]


def version_table() -> Table:
    """The table in which alembic records the revision, as alembic creates it
    (``alembic.ddl.impl.DefaultImpl.version_table_impl``: ``version_num VARCHAR(32) NOT
    NULL``, primary key ``alembic_version_pkc``)."""
    return Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )


def _no_schema(conn: Connection) -> bool:
    """True when the database of ``conn`` holds none of digest's tables and no
    ``alembic_version``: a new database (other tables, such as another application's in a
    shared PostgreSQL database, do not count)."""
    from digest.store.tables import metadata

    present = set(inspect(conn).get_table_names())
    return not present & {*metadata.tables, "alembic_version"}


def create_new(engine: Engine) -> bool:
    """On a new database (:func:`_no_schema`), create the schema from the declared tables
    and record the newest revision, in one transaction, without importing alembic: what
    alembic's cookbook "Building an Up to Date Database from Scratch" does
    (``metadata.create_all`` then ``command.stamp(cfg, "head")``), with the version row
    written directly (:func:`version_table`, :func:`head_revision`), because importing
    alembic is most of what migrating a new database costs (0.14 s of 0.17 s CPU; issue 14).
    ``tests/test_schema_new.py`` checks that the result is the migrated schema and what
    ``stamp`` writes. Returns False, writing nothing, when the database is not new (or the
    head cannot be read from the migration files): then the migrations run.

    Raises :class:`~digest.exceptions.StoreError` when the database refuses it.
    """
    newest = head_revision()
    if newest is None:
        return False
    from digest.store.tables import metadata

    try:
        with engine.connect() as conn:
            fresh = _no_schema(conn)
            conn.rollback()
            if not fresh:
                return False
            with _transaction(conn):  # the write lock first: two new processes create once
                if not _no_schema(conn):
                    return False
                metadata.create_all(conn)
                versions = version_table()
                versions.create(conn)
                conn.execute(versions.insert().values(version_num=newest))
        return True
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        full = full_error(exc, engine.url)
        raise full or StoreError(f"database creation failed: {' '.join(str(cause).split())}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database of ``engine`` to ``revision`` (default: the newest), all pending
    migrations in one transaction. Nothing is written when it is already there. A new
    database brought to the newest revision is created from the declared tables instead
    (:func:`create_new`), the same schema without running each migration.

    Raises :class:`~digest.exceptions.StoreError` when a migration fails (nothing of it
    is kept).
    """
    if revision == "head" and create_new(engine):
        return
    from alembic import command
    from alembic.util.exc import CommandError

    target = head() if revision == "head" else revision
    try:
        with engine.connect() as conn:
            at = current(conn)
            conn.rollback()
            if at == target:
                return
            with _transaction(conn):
                command.upgrade(_alembic_config(conn), target)  # type: ignore[arg-type]
    except (SQLAlchemyError, CommandError) as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's words, without SQL and links
        full = full_error(exc, engine.url)
        raise full or StoreError(f"database migration failed: {' '.join(str(cause).split())}") from exc
