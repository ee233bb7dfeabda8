"""Kill a ``digest`` command in the middle of its database migration.

``python -m tests.migration_kill once CONFIG K ARGS...`` runs ``digest -c CONFIG ARGS...``
in this process and SIGKILLs it right after the K-th SQL statement of the migration that
opening the store runs (a ``after_cursor_execute`` hook; no cleanup, like a power cut). The
statement is first written to ``$DIGEST_KILL_NOTE`` when that is set.

``python -m tests.migration_kill sweep CONFIG START`` does that for K = 1, 2, ... until the
command gets through its migration: for each K the database is reset to revision START
(``base``: no database file at all; else a copy of a database migrated to START holding a
``settings`` row that must survive; on PostgreSQL the schema is emptied and migrated to
START in place), a forked child runs ``digest deliveries`` killed at
statement K, then another child runs ``digest deliveries`` normally. One JSON line per K:
``k``, ``statement`` (the statement the kill followed, or null when the run finished),
``killed`` (the child died of SIGKILL), ``unchanged_by_kill`` (after the kill the database
had the revision and the tables it had before), ``exit`` (of the normal run), ``revision`` (after
it), ``schema_diff`` (differences between the migrated schema and the declared tables),
``kept`` (the ``settings`` row survived; null for ``base``), ``output`` (the normal run's
output when it failed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

import digest.store as store_module
from digest import cli, schema


def _install_kill(k: int, note: str | None) -> None:
    """SIGKILL this process after the k-th statement run inside ``store.migrate``."""
    active = [False]
    seen = [0]
    real = store_module.migrate

    def counting(engine: Engine) -> None:
        active[0] = True
        try:
            real(engine)
        finally:
            active[0] = False

    @event.listens_for(Engine, "after_cursor_execute")
    def kill(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not active[0]:
            return
        seen[0] += 1
        if seen[0] == k:
            if note:
                Path(note).write_text(" ".join(statement.split()))
            os.kill(os.getpid(), signal.SIGKILL)

    store_module.migrate = counting  # type: ignore[assignment]


def _run_cli(args: list[str]) -> int:
    sys.argv = ["digest", *args]
    try:
        cli.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _fork(fn: Any, out: Path) -> int:
    """Run ``fn()`` in a forked child with stdout/stderr to ``out``; its wait status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = fn()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def _database(config: str) -> str:
    from digest.config import load_config

    return load_config(config).database.url


def _path(url: str) -> Path | None:
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None


def _keep_row(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO settings (key, value) VALUES ('kill-test', 'kept')"))


def _template(url: str, start: str) -> Path | None:
    """SQLite: a database file at revision ``start`` with a row to keep, beside the
    database (None for base, and for PostgreSQL, which :func:`_reset` rebuilds in place)."""
    db = _path(url)
    if start == "base" or db is None:
        return None
    template = db.with_name("template-" + start + ".db")
    from digest import dbfile

    dbfile.prepare(f"sqlite:///{template}")
    engine = store_module.make_engine(f"sqlite:///{template}")
    schema.upgrade(engine, start)
    _keep_row(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    assert not Path(str(template) + "-wal").exists()
    return template


def _reset(url: str, template: Path | None, start: str) -> None:
    db = _path(url)
    if db is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        if template is not None:
            shutil.copyfile(template, db)
        return
    engine = create_engine(url)  # PostgreSQL: empty the schema, then migrate to start
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        if start != "base":
            schema.upgrade(engine, start)
            _keep_row(engine)
    finally:
        engine.dispose()


def _check(url: str, start: str) -> dict[str, Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), store_module.metadata)
            kept = None
            if start != "base":
                kept = conn.execute(
                    text("SELECT value FROM settings WHERE key = 'kill-test'")
                ).scalar() == "kept"
            return {"revision": schema.current(conn), "schema_diff": [str(d) for d in diff], "kept": kept}
    finally:
        engine.dispose()


def _tables(url: str) -> tuple[str | None, list[str]]:
    """The revision and the table names of the database as they are on disk."""
    db = _path(url)
    if db is not None and not db.exists():
        return None, []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if db is not None:
                query = "SELECT name FROM sqlite_master WHERE type = 'table'"
            else:
                query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            names = sorted(conn.exec_driver_sql(query).scalars())
            return (schema.current(conn) if "alembic_version" in names else None), names
    finally:
        engine.dispose()


def sweep(config: str, start: str) -> None:
    import alembic.autogenerate  # imported once here, not in every forked child
    import alembic.command
    import alembic.config  # noqa: F401

    url = _database(config)
    template = _template(url, start)
    before: tuple[str | None, list[str]] | None = None
    folder = Path(config).parent
    note = folder / "kill-note.txt"
    out = folder / "child-output.txt"
    k = 0
    while True:
        k += 1
        _reset(url, template, start)
        if before is None:
            before = _tables(url)
        note.unlink(missing_ok=True)

        def killed_run(k: int = k) -> int:
            _install_kill(k, str(note))
            return _run_cli(["-c", config, "deliveries"])

        status = _fork(killed_run, out)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        statement = note.read_text() if note.exists() else None
        after_kill = _tables(url)
        status2 = _fork(lambda: _run_cli(["-c", config, "deliveries"]), out)
        code = os.WEXITSTATUS(status2) if os.WIFEXITED(status2) else -1
        row: dict[str, Any] = {
            "start": start, "k": k, "statement": statement, "killed": killed,
            "unchanged_by_kill": after_kill == before or not killed, "exit": code,
        }
        row.update(_check(url, start))
        if code != 0:
            row["output"] = out.read_text()[-2000:]
        print(json.dumps(row), flush=True)
        if not killed or k > 500:
            return


def main(argv: list[str]) -> int:
    mode, config = argv[1], argv[2]
    if mode == "once":
        _install_kill(int(argv[3]), os.environ.get("DIGEST_KILL_NOTE"))
        return _run_cli(["-c", config, *argv[4:]])
    if mode == "sweep":
        sweep(config, argv[3])
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
