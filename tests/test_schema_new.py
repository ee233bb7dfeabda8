"""A new database is created from the declared tables and stamped at head (issue 14:
``schema.create_new``), not migrated revision by revision: the same schema as the
migrations give, the same version row as alembic's ``stamp``, and no alembic import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from digest import schema
from digest.store import Store, make_engine, metadata
from tests import databases
from tests.conftest import REPO


def _shape(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys, indexes and constraints as the database reports them."""
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        insp = inspect(conn)
        for table in sorted(insp.get_table_names()):
            columns = [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                for c in insp.get_columns(table)
            ]
            out[table] = {
                "columns": columns,
                "pk": insp.get_pk_constraint(table),
                "fks": sorted(insp.get_foreign_keys(table), key=repr),
                "indexes": sorted(insp.get_indexes(table), key=repr),
                "unique": sorted(insp.get_unique_constraints(table), key=repr),
                "checks": sorted(insp.get_check_constraints(table), key=repr),
            }
        out["alembic_version rows"] = conn.execute(
            text("SELECT version_num FROM alembic_version")
        ).scalars().all()
    return out


@pytest.mark.parametrize("dialect", databases.DIALECTS)
def test_a_new_database_is_the_migrated_schema_at_head(dialect: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        databases.database(dialect, tmp_path / "a", at_head=False) as created_url,
        databases.database(dialect, tmp_path / "b", at_head=False) as migrated_url,
    ):
        created, migrated = make_engine(created_url), make_engine(migrated_url)
        try:
            assert schema.create_new(created) is True
            assert schema.create_new(created) is False  # not new any more: nothing written
            schema.upgrade(migrated, schema.head())  # a revision named: every migration runs
            assert _shape(created) == _shape(migrated)
            with created.connect() as conn:
                assert schema.current(conn) == schema.head()
                assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert schema.at_head(created)
        finally:
            created.dispose()
            migrated.dispose()


def test_the_version_row_is_what_alembic_stamp_writes(tmp_path: Path) -> None:
    """SQLite only: alembic's own ``stamp`` on an empty database, against ours."""
    ours = make_engine(f"sqlite:///{tmp_path / 'ours.db'}")
    theirs = make_engine(f"sqlite:///{tmp_path / 'theirs.db'}")
    try:
        schema.create_new(ours)
        with theirs.connect() as conn:
            metadata.create_all(conn)
            command.stamp(schema._alembic_config(conn), "head")  # type: ignore[arg-type]
            conn.commit()
        assert _shape(ours) == _shape(theirs)
    finally:
        ours.dispose()
        theirs.dispose()


def test_opening_a_new_database_imports_no_alembic(tmp_path: Path) -> None:
    """SQLite only: in a fresh interpreter, as the first ``digest run`` of an installation."""
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    code = (
        "import json, sys\n"
        "from digest.store import Store\n"
        f"Store.open({url!r}).close()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('alembic'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            assert schema.current(conn) == schema.head()
    finally:
        store.close()


def test_a_database_with_some_tables_but_no_version_is_not_taken_for_new(tmp_path: Path) -> None:
    """SQLite only: a half-made schema goes to the migrations, never gets tables added."""
    engine = make_engine(f"sqlite:///{tmp_path / 'digest.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE sources (name TEXT PRIMARY KEY)"))
        assert schema.create_new(engine) is False
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == ["sources"]
    finally:
        engine.dispose()
