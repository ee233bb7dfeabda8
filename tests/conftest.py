"""Shared fixtures. Real captured feeds are read from ../shared, never copied into the repo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import databases

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
# ``db_url`` is parametrized ``["sqlite", "postgresql"]``, each case with a database of its own
# (tests/databases.py says how, and which server: ``$DIGEST_TEST_PG``); ``pg_url`` is the
# PostgreSQL case alone; ``empty_db_url``/``empty_pg_url`` have no migration applied. The
# PostgreSQL cases are skipped, with the reason, when no server answers, and carry the
# ``postgresql`` mark: ``-m "not postgresql"`` leaves them out.

DIALECTS = databases.DIALECTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the session's PostgreSQL test databases."""
    if databases.SERVER is not None:
        databases.SERVER.close()


_PG_FIXTURES = ("pg_url", "empty_pg_url")
_DIALECT_OF: dict[str, str] = {}  # test node id -> the dialect it runs on


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every PostgreSQL case ``postgresql`` (select or leave them out with ``-m``) and
    remember each database test's dialect for the summary line."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        dialect = next((v for v in params.values() if isinstance(v, str) and v in DIALECTS), None)
        if dialect is None and any(name in item.fixturenames for name in _PG_FIXTURES):
            dialect = "postgresql"
        if dialect is None:
            continue
        _DIALECT_OF[item.nodeid] = dialect
        if dialect == "postgresql":
            item.add_marker(pytest.mark.postgresql)


@pytest.fixture(params=DIALECTS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL of the test's own, once per dialect: ``sqlite:///<tmp>/digest.db``
    (not created yet) or a new PostgreSQL database already at the head revision, dropped
    after the test. The PostgreSQL case is skipped when no server answers."""
    with databases.database(request.param, tmp_path, at_head=True) as url:
        yield url


@pytest.fixture(scope="module", params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``, for module-scoped fixtures that build a database once
    per dialect with :func:`tests.databases.database`."""
    return request.param


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new PostgreSQL database at the head revision (``postgresql+psycopg://``), dropped
    after the test; skipped when no server answers."""
    with databases.database("postgresql", tmp_path, at_head=True) as url:
        yield url


@pytest.fixture(params=DIALECTS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like :func:`db_url`, but the database has no migration applied (no tables at all)."""
    with databases.database(request.param, tmp_path, at_head=False) as url:
        yield url


@pytest.fixture
def empty_pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like :func:`pg_url`, but the database has no migration applied."""
    with databases.database("postgresql", tmp_path, at_head=False) as url:
        yield url


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
