"""Shared fixtures. Real captured feeds are read from ../shared, never copied into the repo."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
# ../shared sits beside the repository (as in CI); DIGEST_SHARED points elsewhere if needed.
SHARED = Path(os.environ.get("DIGEST_SHARED") or REPO.parent / "shared")
REAL_FEEDS = SHARED / "feeds" / "real"
BAD_FEEDS = SHARED / "badfeeds"
DATASETS = SHARED / "datasets"


@pytest.fixture(scope="session")
def real_feeds() -> Path:
    """Folder of the real captured feeds (../shared/feeds/real)."""
    if not REAL_FEEDS.is_dir():
        pytest.fail(f"missing {REAL_FEEDS}: clone the repository beside ../shared")
    return REAL_FEEDS


MISSING_SHARED = (
    "missing ../shared ({path}): the tests read the captured feeds and data sets from it; "
    "clone it beside this repository or set DIGEST_SHARED to its folder"
)


def pytest_configure(config: pytest.Config) -> None:
    """Without ../shared, stop with one clear message instead of a traceback per test."""
    if not SHARED.is_dir():
        pytest.exit(MISSING_SHARED.format(path=SHARED), returncode=4)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ from the current output.",
    )


@pytest.fixture(scope="session")
def golden(request: pytest.FixtureRequest):
    """``golden(path, actual)``: compare ``actual`` with the golden file at ``path``; with
    ``pytest --update-golden`` rewrite the file instead (then review the diff)."""
    update = bool(request.config.getoption("--update-golden"))

    def check(path: Path, actual: str) -> None:
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(actual)
            return
        if not path.exists():
            pytest.fail(f"missing golden file {path}; run pytest --update-golden and review it")
        with open(path, encoding="utf-8", newline="") as handle:
            expected = handle.read()
        assert actual == expected, f"{path.name} changed; if intended, run pytest --update-golden"

    return check


# -- databases: every store test runs on SQLite and on PostgreSQL -------------------------------
#
# ``db_url`` is parametrized ``["sqlite", "postgresql"]``: SQLite is a file URL under the test's
# tmp_path (not created yet: the first ``Store.open`` creates and migrates it); PostgreSQL is a
# fresh database of its own, already at the head revision, copied with ``CREATE DATABASE ...
# TEMPLATE`` from one database migrated once per session (measured on this machine: about 0.1 s
# to create and 0.05 s to drop, against 0.26 s to migrate an empty database), dropped after the
# test. ``pg_url`` is the PostgreSQL case alone; ``empty_db_url``/``empty_pg_url`` give a
# database with no migration applied (for the migration tests).
#
# The server is ``$DIGEST_TEST_PG`` (an SQLAlchemy URL naming a maintenance database the tests
# may connect to and create databases from), else ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``.
# ``DIGEST_TEST_PG=off`` (or an unreachable server) skips the PostgreSQL cases, with a reason
# saying so. Each PostgreSQL case carries the ``postgresql`` mark: ``-m "not postgresql"``
# leaves them out.

DEFAULT_TEST_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DIALECTS = ("sqlite", "postgresql")


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


_PG_SERVER: _PostgresServer | None = None


def _pg_server() -> _PostgresServer:
    global _PG_SERVER
    if _PG_SERVER is None:
        setting = os.environ.get("DIGEST_TEST_PG", "").strip()
        _PG_SERVER = _PostgresServer(DEFAULT_TEST_PG if setting.lower() in ("", "off") else setting)
        if setting.lower() == "off":
            _PG_SERVER._checked = True
            _PG_SERVER._error = "PostgreSQL tests switched off (DIGEST_TEST_PG=off)"
    return _PG_SERVER


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the session's template database."""
    if _PG_SERVER is not None and _PG_SERVER.template is not None:
        with suppress(Exception):
            _PG_SERVER.drop(_PG_SERVER.template)


_DB_FIXTURES = ("db_url", "empty_db_url")
_PG_FIXTURES = ("pg_url", "empty_pg_url")
_DIALECT_OF: dict[str, str] = {}  # test node id -> the dialect it runs on


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every PostgreSQL case ``postgresql`` (select or leave them out with ``-m``) and
    remember each database test's dialect for the summary line."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        dialect = next((params[name] for name in _DB_FIXTURES if name in params), None)
        if dialect is None and any(name in item.fixturenames for name in _PG_FIXTURES):
            dialect = "postgresql"
        if dialect is None:
            continue
        _DIALECT_OF[item.nodeid] = dialect
        if dialect == "postgresql":
            item.add_marker(pytest.mark.postgresql)


def _database(request: pytest.FixtureRequest, tmp_path: Path, dialect: str, *, at_head: bool):
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'digest.db'}"
        return
    server = _pg_server()
    reason = server.unavailable()
    if reason:
        pytest.skip(reason)
    name = server.create(at_head=at_head)
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


@pytest.fixture(params=DIALECTS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL of the test's own, once per dialect: ``sqlite:///<tmp>/digest.db``
    (not created yet) or a new PostgreSQL database already at the head revision, dropped
    after the test. The PostgreSQL case is skipped when no server answers."""
    yield from _database(request, tmp_path, request.param, at_head=True)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new PostgreSQL database at the head revision (``postgresql+psycopg://``), dropped
    after the test; skipped when no server answers."""
    yield from _database(request, tmp_path, "postgresql", at_head=True)


@pytest.fixture(params=DIALECTS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like :func:`db_url`, but the database has no migration applied (no tables at all)."""
    yield from _database(request, tmp_path, request.param, at_head=False)


@pytest.fixture
def empty_pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like :func:`pg_url`, but the database has no migration applied."""
    yield from _database(request, tmp_path, "postgresql", at_head=False)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line: how many database tests passed on each dialect, and how many were skipped."""
    passed = {dialect: 0 for dialect in DIALECTS}
    skipped = {dialect: 0 for dialect in DIALECTS}
    for outcome, counts in (("passed", passed), ("skipped", skipped)):
        for report in terminalreporter.stats.get(outcome, []):
            dialect = _DIALECT_OF.get(getattr(report, "nodeid", ""))
            if dialect and (outcome == "skipped" or report.when == "call"):
                counts[dialect] += 1
    if any(passed.values()) or any(skipped.values()):
        terminalreporter.write_line(
            "databases: "
            + ", ".join(
                f"{dialect} {passed[dialect]} passed, {skipped[dialect]} skipped" for dialect in DIALECTS
            )
        )
