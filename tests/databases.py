"""Test databases on both dialects (used by the fixtures in tests/conftest.py).

SQLite: a file URL under a folder of the test's (not created yet: the first ``Store.open``
creates and migrates it). PostgreSQL: a fresh database of its own on the test server, copied
with ``CREATE DATABASE ... TEMPLATE`` from one database migrated once per session (measured
on this machine: about 0.1 s to create and 0.05 s to drop, against 0.26 s to migrate an empty
database), or an empty one (``at_head=False``), dropped afterwards.

The server is ``$DIGEST_TEST_PG`` (an SQLAlchemy URL naming a maintenance database the tests
may connect to and create databases from), else ``DEFAULT_TEST_PG``. ``DIGEST_TEST_PG=off``
(or an unreachable server) makes :func:`database` skip the test with a reason saying so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DIALECTS = ("sqlite", "postgresql")
DEFAULT_TEST_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class _PostgresServer:
    """The test PostgreSQL server: whether it answers, and creating/dropping databases on it."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.template: str | None = None
        self._tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._count = 0
        self._error: str | None = None
        self._checked = False

    def _conninfo(self) -> str:
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

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
            except Exception as exc:  # noqa: BLE001  (any failure means: no PostgreSQL here)
                where = self.url.render_as_string(hide_password=True)
                self._error = f"PostgreSQL not reachable at {where} ($DIGEST_TEST_PG): {' '.join(str(exc).split())}"
        return self._error

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create(self, *, at_head: bool) -> str:
        """Create a new database (at the head revision, or empty) and return its name."""
        self._count += 1
        name = f"digest_t_{self._tag}_{self._count}"
        if at_head:
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.head_template()}" STRATEGY FILE_COPY')
        else:
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop(self, name: str) -> None:
        """Drop database ``name``, ending any connection a test left open."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def head_template(self) -> str:
        """The template database migrated to head, built on first use."""
        if self.template is None:
            from digest.store import make_engine, migrate

            name = f"digest_tpl_{self._tag}"
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
            engine = make_engine(self.url_of(name))
            try:
                migrate(engine)
            finally:
                engine.dispose()
            self.template = name
        return self.template


SERVER: _PostgresServer | None = None


def server() -> _PostgresServer:
    global SERVER  # noqa: PLW0603
    if SERVER is None:
        setting = os.environ.get("DIGEST_TEST_PG", "").strip()
        SERVER = _PostgresServer(DEFAULT_TEST_PG if setting.lower() in ("", "off") else setting)
        if setting.lower() == "off":
            SERVER._checked = True
            SERVER._error = "PostgreSQL tests switched off (DIGEST_TEST_PG=off)"
    return SERVER




@contextmanager
def database(dialect: str, folder: Path, *, at_head: bool = True) -> Iterator[str]:
    """A database URL of its own on ``dialect`` (``"sqlite"``: a file in ``folder``;
    ``"postgresql"``: a new database, at head unless ``at_head`` is false, dropped after the
    block). Skips the test when PostgreSQL is wanted and absent."""
    if dialect == "sqlite":
        yield f"sqlite:///{folder / 'digest.db'}"
        return
    pg = server()
    reason = pg.unavailable()
    if reason:
        pytest.skip(reason)
    name = pg.create(at_head=at_head)
    try:
        yield pg.url_of(name)
    finally:
        pg.drop(name)
