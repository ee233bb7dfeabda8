"""Migrations a kill cannot break, and database files that are refused rather than recreated.

The kill tests SIGKILL a real ``digest`` command right after each SQL statement of every
migration, from every earlier revision (``tests/migration_kill.py``), then run ``digest``
again: it must upgrade to head and work, and what the database held must still be there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from digest import schema
from digest.store import Store, make_engine

REPO = Path(__file__).resolve().parent.parent
DIGEST = Path(sys.executable).with_name("digest")


def _config(tmp_path: Path, db_url: str | None = None) -> Path:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": db_url or f"sqlite:///{tmp_path / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp_path / "outbox")
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _sweep(tmp_path: Path, start: str, db_url: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.migration_kill", "sweep", str(_config(tmp_path, db_url)), start],
        cwd=REPO, env=_env(), check=False, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


# SQLite from every earlier revision; PostgreSQL from the one before head (the upgrade an
# installation meets; from base it takes ~80 s on two busy cores). Plain upgrades from every
# revision run on both dialects below.
KILL_SWEEPS = [("sqlite", start) for start in ["base", *schema.revisions()[:-1]]] + [
    ("postgresql", schema.revisions()[-2])
]


@pytest.mark.slow  # about 30 kills and restarts: 5-30 s on two busy cores
@pytest.mark.parametrize(("empty_db_url", "start"), KILL_SWEEPS, indirect=["empty_db_url"])
def test_a_kill_at_any_statement_of_any_migration_leaves_a_usable_database(
    tmp_path: Path, empty_db_url: str, start: str
) -> None:
    rows = _sweep(tmp_path, start, empty_db_url)
    kills = [r for r in rows if r["killed"]]
    # every statement of the pending migrations was a kill point, then one run got through
    assert not rows[-1]["killed"] and len(kills) == len(rows) - 1
    ddl = [r for r in kills if r["statement"].startswith(("CREATE", "ALTER", "DROP"))]
    later = schema.revisions()[schema.revisions().index(start) + 1 :] if start != "base" else schema.revisions()
    assert len(ddl) >= 2 * len(later) - 1, [r["statement"] for r in kills]
    for row in rows:
        where = f"killed after statement {row['k']}: {row['statement']}"
        assert row["unchanged_by_kill"], where  # the previous revision, exactly
        assert row["exit"] == 0, f"{where}\n{row.get('output')}"
        assert row["revision"] == schema.head(), where
        assert row["schema_diff"] == [], where
        assert row["kept"] in (None, True), where  # the data already there survives


# SQLite only: the case on a file; the kill-at-every-statement sweep above runs on both
def test_killed_at_the_first_create_of_0004_the_next_command_works(tmp_path: Path) -> None:
    """The issue's case: killed right after the first statement of 0004, every later command
    failed with "table already exists"."""
    config = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    engine = make_engine(url)
    schema.upgrade(engine, "0001")
    engine.dispose()
    note = tmp_path / "note.txt"
    # statement 1 asks whether the database is new (schema.create_new), 2-6 read the version
    # and open the transaction; 7 is 0004's first CREATE TABLE
    killed = subprocess.run(
        [sys.executable, "-m", "tests.migration_kill", "once", str(config), "7", "deliveries"],
        cwd=REPO, env={**_env(), "DIGEST_KILL_NOTE": str(note)}, check=False, capture_output=True, text=True,
        timeout=120,
    )
    assert killed.returncode == -9
    assert note.read_text().startswith("CREATE TABLE edition_adjustments")
    again = subprocess.run(
        [str(DIGEST), "-c", str(config), "deliveries"], check=False, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    with Store.open(url) as store, store.engine.connect() as conn:
        assert schema.current(conn) == schema.head()


@pytest.mark.parametrize("start", schema.revisions()[:-1])
def test_a_database_at_any_earlier_revision_upgrades_and_keeps_its_rows(empty_db_url: str, start: str) -> None:
    url = empty_db_url
    engine = make_engine(url)
    schema.upgrade(engine, start)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO settings (key, value) VALUES ('token_secret', 'old')"))
    engine.dispose()
    with Store.open(url) as store:
        assert store.setting("token_secret") == "old"
        with store.engine.connect() as conn:
            assert schema.current(conn) == schema.head()


def test_opening_a_database_at_head_writes_nothing(db_url: str) -> None:
    url = db_url
    Store.open(url).close()
    statements: list[str] = []
    from sqlalchemy import event

    engine = make_engine(url)
    event.listen(engine, "before_cursor_execute", lambda c, cur, s, *a: statements.append(s))
    schema.upgrade(engine)
    engine.dispose()
    assert not any(s.lstrip().upper().startswith(("BEGIN", "CREATE", "INSERT", "UPDATE")) for s in statements)


# -- the database file -----------------------------------------------------------------------


def _digest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DIGEST), "-c", str(config), *args], check=False, capture_output=True, text=True, timeout=120
    )


# SQLite only: a database file (digest/dbfile.py)
@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "is empty (0 bytes)"), (b"not a database at all\n" * 10, "is not an SQLite database")],
)
def test_an_empty_or_foreign_database_file_is_refused_never_recreated(
    tmp_path: Path, content: bytes, words: str
) -> None:
    config = _config(tmp_path)
    db = tmp_path / "digest.db"
    db.write_bytes(content)
    result = _digest(config, "deliveries")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{db} {words}" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == content  # left as it was, for the operator
    assert not Path(f"{db}-wal").exists()


# SQLite only: file permissions (digest/dbfile.py)
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_database_file_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    db = tmp_path / "digest.db"
    Store.open(f"sqlite:///{db}").close()
    db.chmod(0o000)
    try:
        result = _digest(config, "deliveries")
    finally:
        db.chmod(0o644)
    assert result.returncode == 1
    assert f"{db} is not readable and writable" in result.stderr


# SQLite only: a database path that is not a file (digest/dbfile.py)
def test_an_unreadable_database_file_is_refused_even_for_root(tmp_path: Path) -> None:
    """A directory where the file should be cannot be read as a database by anyone."""
    config = _config(tmp_path)
    (tmp_path / "digest.db").mkdir()
    result = _digest(config, "deliveries")
    assert result.returncode == 1
    assert "is not a regular file" in result.stderr and "Traceback" not in result.stderr


# SQLite only: the database file is created (digest/dbfile.py)
def test_a_missing_database_file_is_created_on_the_first_run(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _digest(config, "deliveries").returncode == 0
    db = tmp_path / "digest.db"
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    assert not list(tmp_path.glob(".digest.db.*"))  # no temporary file left behind
    assert _digest(config, "deliveries").returncode == 0


@pytest.mark.parametrize("start", ["base", *schema.revisions()[:-1]])
def test_processes_opening_an_old_database_at_once_upgrade_it_once(empty_db_url: str, start: str) -> None:
    """A scheduler, a cron run and the web app started together after an upgrade: the first
    migrates, the others wait for its transaction and find the database at head."""
    import threading

    url = empty_db_url
    if start != "base":
        engine = make_engine(url)
        schema.upgrade(engine, start)
        engine.dispose()
    errors: list[str] = []
    barrier = threading.Barrier(4)

    def open_store() -> None:
        try:
            barrier.wait()
            Store.open(url).close()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_the_head_is_read_from_the_files_without_the_ast_module() -> None:
    """CPython 3.11's AST conversion keeps its recursion depth in shared state: four threads
    opening stores at once (the test above) raised "SystemError: AST constructor recursion
    depth mismatch" from ``ast.literal_eval`` in ``head_revision``. The ids are read by a
    plain pattern, so no thread reaches the ``ast`` module there."""
    import ast

    calls: list[object] = []
    parse = ast.parse

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[:1])
        return parse(*args, **kwargs)  # type: ignore[arg-type]

    ast.parse = counted  # type: ignore[assignment]
    try:
        head = schema.head_revision()
    finally:
        ast.parse = parse
    assert calls == [] and head == schema.revisions()[-1]
    assert schema._literal('("0004_a", "0004_b")') == ("0004_a", "0004_b")
    assert schema._literal("None") is None
    with pytest.raises(ValueError):
        schema._literal('"a" + "b"')
