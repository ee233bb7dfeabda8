"""Outages of the SQLite disk: a WAL that grew gives its room back after a checkpoint, and
the full-disk message says how much room the next run needs (the WAL's size)."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cron_support import install
from tests.test_ops_findings import no_room

AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def _wal(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_grown_wal_is_cut_back_after_a_checkpoint(tmp_path: Path) -> None:
    """A long-running process's connection (schedule, worker, web) writes a 3 MB
    transaction: the WAL grows to hold it; after the next checkpoint and write it is cut
    back to ``WAL_SIZE_LIMIT`` instead of keeping its largest size on a disk that was full."""
    from sqlalchemy import text

    from digest.store.engine import WAL_SIZE_LIMIT, make_engine

    db = tmp_path / "d.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (x BLOB)"))
            conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": os.urandom(1000)}] * 3000)
            conn.commit()
            grown = _wal(db)
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.commit()
            assert grown > 3_000_000 and _wal(db) <= WAL_SIZE_LIMIT, (grown, _wal(db))
    finally:
        engine.dispose()


def test_the_full_disk_message_asks_for_the_room_of_the_wal(tmp_path: Path) -> None:
    """SQLite's disk full with a WAL of N bytes on the disk: the one line asks to free at
    least N (rounded up to 0.1 MB) and names the WAL, so freeing that much is enough for the
    next run to checkpoint it; what was stored before is intact."""
    from sqlalchemy.pool import Pool

    db = tmp_path / "d.db"
    inst = install(tmp_path, f"sqlite:///{db}", {"world": ("0 7 * * *", "UTC")})
    inst.add_item(AT - timedelta(hours=2))
    assert inst.cli("poll").exit_code == 0
    wal = db.with_name(db.name + "-wal")
    other = sqlite3.connect(db)  # a scheduler holding the file open, its WAL grown to 2 MB
    other.execute("CREATE TABLE filler (x BLOB)")
    other.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(1000),)] * 2000)
    other.commit()

    for k in range(1, 40):
        inst.add_item(AT - timedelta(hours=2) + timedelta(minutes=k))
    try:
        code, said = inst.main_with(Pool, "connect", no_room, "poll")
        size = _wal(db)
    finally:
        other.close()
    assert code == 1 and size > 2_000_000
    assert f"error: the disk holding database file {db} is full" in said, said
    assert f"free at least {-(-size // 100_000) / 10:.1f} MB on that disk" in said, said
    assert f"(the size of its write-ahead log {wal}, which the next run copies" in said, said
