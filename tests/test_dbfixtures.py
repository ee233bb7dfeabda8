"""The database fixtures of tests/conftest.py: each case gets a database of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect

from digest import schema
from digest.store import Store, make_engine

NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)


def test_db_url_is_a_fresh_database_at_head(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert store.setting("probe") is None
        assert store.mark_once("probe")
        with store.engine.connect() as conn:
            assert schema.current(conn) == schema.head()


def test_db_url_does_not_see_the_previous_case(db_url: str) -> None:
    # same key as the test above: a shared database would have it already
    with Store.open(db_url) as store:
        assert store.mark_once("probe")
        assert store.record_run("poll", started_at=NOW, finished_at=NOW, ok=True, report={}) == 1  # ids start again at 1


def test_db_url_ids_start_at_one_in_every_case(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert store.record_run("poll", started_at=NOW, finished_at=NOW, ok=True, report={}) == 1


def test_empty_db_url_has_no_tables(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_pg_url_is_postgresql(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://")
    with Store.open(pg_url) as store:
        assert store.engine.dialect.name == "postgresql"
