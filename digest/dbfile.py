"""The SQLite database file: created atomically on the first run, refused when damaged.

SQLite treats an empty (0-byte) file as an empty database and would quietly build a new
schema in it: after a truncation (a full disk, a botched copy, ``> digest.db``) the ledger
would be gone without a word. So an existing file must be a regular, readable and writable
file that starts with the SQLite header (``"SQLite format 3\\0"``, the first 16 bytes of
every database file, https://www.sqlite.org/fileformat.html#the_database_header); anything
else is refused with :class:`DatabaseFileError` and left untouched for the operator.

A missing file is the first run. It is created under a temporary name, put in WAL mode (which
writes the header) and hard-linked into place, so no kill can leave a 0-byte ``digest.db`` behind
that the next run would then refuse.

A write that finds the disk (or the file's ``max_page_count``) full is refused by SQLite with
``SQLITE_FULL`` and its transaction rolled back: :func:`full_error` turns it into
:class:`DatabaseFullError`, which names the file and says what to do, instead of the driver's
words and SQLAlchemy's link. PostgreSQL's ``53100 disk_full`` and ``53200 out_of_memory``
become the same error, naming the database and its server, so both stores end a command
the same way.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.exceptions import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"


class DatabaseFileError(StoreError):
    """The SQLite database file exists but is empty, unreadable or not a database.

    ``path`` is the file; the message is one line saying what is wrong and what to do.
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"database file {path} {problem}: refusing to use it; restore it from a backup, "
            "or move it away to start with a new, empty database"
        )
        self.path = path


class DatabaseFullError(StoreError):
    """The database refused a write for want of room, and rolled its transaction back, so
    what was stored before is intact: SQLite's ``SQLITE_FULL`` (the disk holding the file,
    https://www.sqlite.org/rescode.html#full; ``path`` is the file, None when unknown), or
    PostgreSQL's SQLSTATE class 53 "insufficient resources" ``53100 disk_full`` or ``53200
    out_of_memory`` (``server`` names the database and host, never the password;
    ``sqlstate`` is the code). Every command ends on it the same way: one line saying what
    to do, exit 1. For SQLite, ``wal_bytes`` is the size of the file's write-ahead log when
    the write failed (0: none, or unknown): the message asks for at least that much room,
    what the next run's checkpoint may add to the database file before the log shrinks."""

    def __init__(
        self, path: Path | None, *, server: str | None = None, sqlstate: str | None = None,
        wal_bytes: int = 0,
    ) -> None:
        after = "so nothing stored before was lost; "
        if server is None:
            where = f"database file {path}" if path is not None else "the database"
            # a checkpoint copies the WAL's pages into the database file, which may grow by
            # as much: with that much free, the next run checkpoints, writes, and SQLite
            # truncates the WAL (journal_size_limit, digest.store.engine)
            need = (f"free at least {_mb(wal_bytes)} on that disk (the size of its "
                    f"write-ahead log {path}-wal, which the next run copies into the "
                    "database file)" if wal_bytes else "free some space on that disk")
            said = (f"the disk holding {where} is full: SQLite refused the write and rolled it "
                    f"back, {after}{need}, then run the command again")
        elif sqlstate == PG_OUT_OF_MEMORY:
            said = (f"the PostgreSQL server of {server} is out of memory (SQLSTATE {sqlstate}): "
                    f"it refused the write and rolled it back, {after}free memory on that "
                    "server, then run the command again")
        else:
            said = (f"the disk of the PostgreSQL server of {server} is full (SQLSTATE "
                    f"{sqlstate}): it refused the write and rolled it back, {after}free some "
                    "space on that disk, then run the command again")
        super().__init__(said)
        self.path = path
        self.sqlstate = sqlstate
        self.wal_bytes = wal_bytes


def _mb(n: int) -> str:
    """``n`` bytes as megabytes (10**6), rounded up to a tenth: "3.3 MB"."""
    return f"{-(-n // 100_000) / 10:.1f} MB"


#: PostgreSQL's SQLSTATEs that :func:`full_error` translates (Appendix A, class 53).
PG_DISK_FULL = "53100"
PG_OUT_OF_MEMORY = "53200"


def full_error(exc: BaseException, url: object) -> DatabaseFullError | None:
    """A :class:`DatabaseFullError` for the database at ``url`` (an SQLAlchemy URL or its
    text) when ``exc`` (an SQLAlchemy error or the driver's own) is SQLite's ``SQLITE_FULL``
    or PostgreSQL's ``53100`` (disk full) or ``53200`` (out of memory); ``None`` for any
    other error."""
    cause = getattr(exc, "orig", None) or exc
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate in (PG_DISK_FULL, PG_OUT_OF_MEMORY):
        return DatabaseFullError(None, server=_server_name(str(url)), sqlstate=sqlstate)
    if not isinstance(cause, sqlite3.Error) or getattr(cause, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
        return None
    path = sqlite_path(str(url))
    return DatabaseFullError(path, wal_bytes=_wal_bytes(path))


def _wal_bytes(path: Path | None) -> int:
    """The size of ``path``'s write-ahead log (``PATH-wal``) in bytes; 0 without one."""
    if path is None:
        return 0
    try:
        return path.with_name(path.name + "-wal").stat().st_size
    except OSError:
        return 0


def _server_name(url: str) -> str:
    """``database NAME on HOST:PORT`` of a server ``url``, without its user or password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "the database"
    host = parsed.host or "localhost"
    if parsed.port:
        host = f"{host}:{parsed.port}"
    return f"database {parsed.database or '(default)'} on {host}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite ``url`` (``sqlite:///var/digest.db``), or ``None`` for another
    database, an in-memory one or a ``file:`` URI."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database)


def file_problem(path: Path) -> str | None:
    """What is wrong with the existing database file at ``path`` (words that follow "database
    file PATH"), or ``None`` when it is a regular, readable, writable SQLite file."""
    if not path.is_file():
        return "is not a regular file"
    if not os.access(path, os.R_OK | os.W_OK):
        return "is not readable and writable by this user"
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not head:
        return "is empty (0 bytes)"
    if head != SQLITE_HEADER:
        return "is not an SQLite database"
    return None


def prepare(url: str) -> None:
    """Make the SQLite file of ``url`` ready to open: create it (and its folder) when it does
    not exist; refuse it when it exists but is damaged. Other URLs are left alone.

    Raises :class:`DatabaseFileError` for a damaged file and :class:`StoreError` when the
    file cannot be created.
    """
    path = sqlite_path(url)
    if path is None:
        return
    if os.path.lexists(path):
        problem = file_problem(path)
        if problem is not None:
            raise DatabaseFileError(path, problem)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot create database file {path}: {exc}") from exc


def _create(path: Path) -> None:
    """A new, empty SQLite database in WAL mode at ``path``, linked into place at once."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.new")
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # writes the header: the file is no longer empty
        finally:
            conn.close()
        try:
            os.link(tmp, path)  # atomic, and never replaces a file another process just made
        except FileExistsError:
            pass  # another process created it meanwhile: theirs it is
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)
