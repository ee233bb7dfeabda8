"""Test databases on both dialects (used by the fixtures in tests/conftest.py).

SQLite: a file URL under a folder of the test's (not created yet: the first ``Store.open``
creates and migrates it).

PostgreSQL: a database no other test is using, at the head revision, with every table empty
and every sequence at 1. Creating a database per test was measured on this machine at 0.3 to
2 s a test under the load of a shared machine (``CREATE``/``DROP DATABASE`` checkpoint and
fsync; a template copy as well as a schema migrated per test), emptying one with ``DELETE``
and ``setval`` at about 0.015 s. So the databases are pooled: one is migrated when no free one
is left, and when a test ends it is emptied and handed to the next test -- unless the test
changed its schema (revision or tables other than the migrated ones, except tables created
at run time such as APScheduler's, which are dropped), in which case it is dropped. Other
connections to it are ended first, so a store a test forgot to close cannot leak rows into
the next test. ``at_head=False`` gives a new empty database (no migration applied), dropped
afterwards. Every database of the session is dropped when it ends.

The server is ``$DIGEST_TEST_PG`` (an SQLAlchemy URL naming a maintenance database the tests
may connect to and create databases from), else ``DEFAULT_TEST_PG``. ``DIGEST_TEST_PG=off``
(or an unreachable server) makes :func:`database` skip the test with a reason saying so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

DIALECTS = ("sqlite", "postgresql")
DEFAULT_TEST_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_SETTING = "DIGEST_TEST_PG"


class PostgresServer:
    """The test PostgreSQL server: whether it answers, and its pool of test databases."""

    def __init__(self, url: str, *, off: bool = False) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self._tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._count = 0
        self._free: list[str] = []  # at head, empty, no connection
        self._all: set[str] = set()
        self._shape: tuple[str, frozenset[str]] | None = None  # (head revision, tables)
        self._checked = off
        self._error = f"PostgreSQL tests switched off ({PG_SETTING}=off)" if off else None

    def _conninfo(self, database: str | None = None) -> str:
        url = self.url.set(drivername="postgresql")
        if database is not None:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def url_of(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server (``postgresql+psycopg://``)."""
        return self.url.set(drivername="postgresql+psycopg", database=database).render_as_string(
            hide_password=False
        )

    def unavailable(self) -> str | None:
        """Why the PostgreSQL cases are skipped, or ``None`` when the server answers."""
        if not self._checked:
            self._checked = True
            try:
                import psycopg

                with psycopg.connect(self._conninfo(), connect_timeout=3):
                    pass
                self._sweep_dead_sessions()
            except Exception as exc:  # noqa: BLE001  (any failure means: no PostgreSQL here)
                where = self.url.render_as_string(hide_password=True)
                words = " ".join(str(exc).split())
                self._error = f"PostgreSQL not reachable at {where} (${PG_SETTING}): {words}"
        return self._error

    def _sweep_dead_sessions(self) -> None:
        """Drop the ``digest_t_<pid>_…`` databases of test sessions on this machine whose
        process is gone (a pytest killed before its teardown cannot drop its own)."""
        with self._connect() as conn:
            names = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'digest\\_t\\_%'"
            )]
        for name in names:
            pid = name.split("_")[2]
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                with suppress(Exception):
                    self.drop(name)
            except PermissionError:  # alive, someone else's
                continue

    def _connect(self, database: str | None = None) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo(database), autocommit=True, connect_timeout=10)

    def _new(self, template: str = "template0") -> str:
        self._count += 1
        name = f"digest_t_{self._tag}_{self._count}"
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            # a test database need not survive a power cut: commits do not wait for fsync
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
        self._all.add(name)
        return name

    def copy(self, template: str) -> str:
        """A new database copied from ``template`` (which nobody may be connected to),
        dropped when the session ends."""
        return self._new(template)

    def drop(self, name: str) -> None:
        """Drop database ``name``, ending any connection a test left open."""
        with self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._all.discard(name)

    def _read_shape(self, conn: Any) -> tuple[str, frozenset[str]]:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return (version[0][0] if len(version) == 1 else "?"), frozenset(r[0] for r in tables)

    def take(self, *, at_head: bool) -> str:
        """A database for one test: from the pool (at head, empty) or a new empty one."""
        if not at_head:
            return self._new()
        if self._free:
            return self._free.pop()
        from digest.store import make_engine, migrate

        name = self._new()
        engine = make_engine(self.url_of(name))
        try:
            migrate(engine)
        finally:
            engine.dispose()
        if self._shape is None:
            with self._connect(name) as conn:
                self._shape = self._read_shape(conn)
        return name

    def give_back(self, name: str, *, at_head: bool) -> None:
        """The test using ``name`` ended: empty the database for the next one, or drop it."""
        if not at_head or self._shape is None or not self._reset(name):
            self.drop(name)
            return
        self._free.append(name)

    def _reset(self, name: str) -> bool:
        """Empty every table of ``name`` and restart its sequences; ``False`` when its schema
        is no longer the migrated one (then it must be dropped)."""
        assert self._shape is not None
        revision, tables = self._shape
        with self._connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        try:
            with self._connect(name) as conn:
                at, now = self._read_shape(conn)
                if at != revision or not tables <= now:
                    return False
                seqs = [r[0] for r in conn.execute(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                )]
                with conn.transaction():
                    conn.execute("SET LOCAL synchronous_commit TO off")
                    conn.execute("SET LOCAL session_replication_role TO replica")  # no FK order
                    for table in sorted(now - tables):  # made at run time (APScheduler's jobs)
                        conn.execute(f'DROP TABLE "{table}" CASCADE')
                    for table in sorted(tables - {"alembic_version"}):
                        conn.execute(f'DELETE FROM "{table}"')
                    for seq in seqs:
                        conn.execute("SELECT setval(%s, 1, false)", (f'"{seq}"',))
        except Exception:  # noqa: BLE001  (whatever went wrong, a dropped database is clean)
            return False
        return True

    def close(self) -> None:
        """Drop every database this session made."""
        for name in sorted(self._all):
            with suppress(Exception):
                self.drop(name)
        self._free.clear()


SERVER: PostgresServer | None = None


def server() -> PostgresServer:
    """The session's test server (``$DIGEST_TEST_PG``), made on first use."""
    global SERVER  # noqa: PLW0603
    if SERVER is None:
        setting = os.environ.get(PG_SETTING, "").strip()
        off = setting.lower() == "off"
        SERVER = PostgresServer(setting if setting and not off else DEFAULT_TEST_PG, off=off)
    return SERVER


@contextmanager
def database(dialect: str, folder: Path, *, at_head: bool = True) -> Iterator[str]:
    """A database URL of its own on ``dialect`` (``"sqlite"``: a file in ``folder``;
    ``"postgresql"``: a database no other test uses, at head and empty, or with no migration
    applied when ``at_head`` is false). Skips the test when PostgreSQL is wanted and absent."""
    if dialect == "sqlite":
        yield f"sqlite:///{folder / 'digest.db'}"
        return
    pg = server()
    reason = pg.unavailable()
    if reason:
        pytest.skip(reason)
    name = pg.take(at_head=at_head)
    try:
        yield pg.url_of(name)
    finally:
        pg.give_back(name, at_head=at_head)
