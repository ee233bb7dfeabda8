"""The outbox transport: each message becomes one ``.eml`` file (RFC 5322, CRLF) in a folder.

Used for previews, demos and tests. ``outbox/<list>/<period>/`` holds ``edition.html`` and
``edition.txt`` (:func:`write_edition_files`) and one ``NNNN-<recipient>.eml`` per delivery,
where ``NNNN`` is the delivery id: sending the same delivery again rewrites the same file.
Every file is written to a temporary name in the same folder, then renamed, so a reader
never sees half a message.

Durability, per batch (the ledger records a row ``sent`` only after :meth:`OutboxTransport.send`
returns): every message of the batch is written to its temporary file, then the files are
synced (one ``syncfs`` on Linux, else an fsync each), renamed into place, and the folder is
fsynced once; only then are the outcomes returned. So a row is ``sent`` only once its
message is on disk under its final name, at the cost of two journal commits per batch
instead of one per message. A kill in the middle leaves the batch ``sending``
(``unknown``); sending it again rewrites the same files, so nobody gets two.

Temporary files are named after their writer (``.tmp-<host>:<pid>:<random>.part``,
:mod:`digest.tempnames`). Opening the transport on a folder removes the ones a killed
writer left there (its process no longer runs, :func:`digest.liveness.holder_alive`), and
never a running writer's (:func:`remove_left_over_temp_files`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from digest.liveness import holder_alive
from digest.message import message_bytes
from digest.tempnames import TEMP_SUFFIX, is_left_over, temp_prefix, writer_of
from digest.transports import Outgoing, Progress
from digest.types import DeliveryState, RenderedEdition, SendOutcome

log = logging.getLogger("digest.transports.outbox")

_UNSAFE = re.compile(r"[^a-z0-9._+-]+")


def safe_file_part(recipient: str, limit: int = 80) -> str:
    """``recipient`` as a file-name part: lower case, ``@`` as ``_at_``, anything outside
    ``[a-z0-9._+-]`` as ``_``, no leading dots, at most ``limit`` characters."""
    text = recipient.strip().lower().replace("@", "_at_")
    text = _UNSAFE.sub("_", text).lstrip("._")
    return text[:limit] or "recipient"


def _mkstemp(folder: Path) -> tuple[int, str]:
    """A new temporary file in ``folder`` named after this process (:mod:`digest.tempnames`),
    open for writing: ``(fd, path)``. Raises ``OSError``."""
    return tempfile.mkstemp(
        prefix=temp_prefix(socket.gethostname(), os.getpid()), suffix=TEMP_SUFFIX, dir=folder
    )


def remove_left_over_temp_files(folder: Path, *, now: float | None = None) -> list[str]:
    """Remove the temporary files of ``folder`` (not its subfolders) that writers killed
    mid-write left behind: those whose writer's process is gone, and those whose writer
    cannot be told once older than :data:`digest.tempnames.UNKNOWN_WRITER_GRACE`
    (:func:`digest.tempnames.is_left_over`); a running writer's files are never touched.
    ``now`` is the clock in seconds since the epoch (file times are compared to it).
    Returns the names removed. Never raises: a folder that is missing or unreadable, or a
    file that cannot be removed, is skipped (logged)."""
    removed: list[str] = []
    clock = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("outbox.temp_scan_failed folder=%s error=%s", folder, exc)
        return removed
    alive: dict[str | None, bool | None] = {}
    for entry in entries:
        name = entry.name
        if not name.endswith(TEMP_SUFFIX):
            continue
        writer = writer_of(name)
        if writer not in alive:
            alive[writer] = holder_alive(writer)
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = clock - entry.stat(follow_symlinks=False).st_mtime
            if is_left_over(name, writer_alive=alive[writer], age_seconds=age):
                os.unlink(entry.path)
                removed.append(name)
        except FileNotFoundError:  # its writer finished (renamed it) meanwhile
            continue
        except OSError as exc:
            log.warning("outbox.temp_remove_failed file=%s error=%s", entry.path, exc)
    if removed:
        log.warning(
            "outbox.left_over_temp_files_removed folder=%s count=%d", folder, len(removed)
        )
    return removed


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path.parent)
    try:
        os.fchmod(fd, 0o644)  # like any file the user writes, not mkstemp's private 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_folder(folder: Path) -> None:
    """fsync the directory ``folder`` itself, so the renames into it survive a power loss
    (POSIX: a rename is durable once its directory is). Raises ``OSError``."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_OPEN_FILES = 64
"""At most this many temporary files of a batch are open at once (written, not yet synced)."""


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):  # not Linux/glibc: fsync file by file
        return None
    call.argtypes, call.restype = [ctypes.c_int], ctypes.c_int
    return call  # type: ignore[no-any-return]


_SYNCFS = _load_syncfs() if sys.platform.startswith("linux") else None


def _syncfs(fd: int) -> bool:
    """Linux ``syncfs(2)`` on the file system holding ``fd``: every written file of the
    batch to disk in one journal commit instead of one per file. Since Linux 5.8 it reports
    write-back errors like ``fsync``. Returns False where it is not available or failed (the
    caller then fsyncs each file, which tells which one failed)."""
    if _SYNCFS is None or _SYNCFS(fd) == 0:
        return _SYNCFS is not None
    log.warning("outbox.syncfs_failed errno=%s", ctypes.get_errno())
    return False


class OutboxTransport:
    """Writes each message as ``<folder>/<delivery id, 4+ digits>-<safe recipient>.eml``.

    ``folder`` is ``outbox/<list>/<period>/``; it is created on first send. ``send`` returns
    ``SENT`` with ``provider_id`` = the file name once the file and the folder are fsynced;
    ``QUEUED`` (try later) when the file cannot be written (``OSError``: a full disk,
    ``ENOSPC``; a read-only or missing folder), with the error text; ``FAILED`` when the
    message itself cannot be serialised. One bad item never stops the batch. The whole batch
    is reported at once (``reports_each = False``), after the one folder fsync: see the
    module docstring. Opening it on a folder removes the temporary files writers killed
    mid-write left there (:func:`remove_left_over_temp_files`).
    """

    name = "outbox"
    reports_each = False

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        remove_left_over_temp_files(self.folder)

    def file_name(self, item: Outgoing) -> str:
        """The file an item is written to, e.g. ``0001-ada_at_example.com.eml``."""
        return f"{item.delivery_id:04d}-{safe_file_part(item.recipient)}.eml"

    def send(self, batch: Sequence[Outgoing], progress: Progress | None = None) -> list[SendOutcome]:
        """Write one ``.eml`` per item, durably (see the module docstring); one
        :class:`SendOutcome` per item, in order. ``progress``, when given, hears of each item
        only after the folder is synced."""
        outcomes: dict[int, SendOutcome] = {}
        pending: list[tuple[Outgoing, str, int, str]] = []  # item, name, fd, temporary path
        synced: list[tuple[Outgoing, str, str]] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return [self._refused(item, self.file_name(item), exc) for item in batch]
        for item in batch:
            name = self.file_name(item)
            try:
                data = message_bytes(item.message)
            except Exception as exc:  # noqa: BLE001 -- a malformed message fails itself only
                log.warning("outbox.bad_message delivery=%s error=%s", item.delivery_id, exc)
                outcomes[item.delivery_id] = SendOutcome(
                    item.delivery_id, DeliveryState.FAILED,
                    error=f"message: {type(exc).__name__}: {exc}",
                )
                continue
            try:
                fd, tmp = _mkstemp(self.folder)
            except OSError as exc:
                outcomes[item.delivery_id] = self._refused(item, name, exc)
                continue
            try:
                os.fchmod(fd, 0o644)  # like any file the user writes, not mkstemp's 0600
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except BaseException as exc:
                os.close(fd)
                Path(tmp).unlink(missing_ok=True)
                if not isinstance(exc, OSError):
                    raise
                outcomes[item.delivery_id] = self._refused(item, name, exc)
                continue
            pending.append((item, name, fd, tmp))
            if len(pending) >= _OPEN_FILES:
                synced += self._sync(pending, outcomes)
        synced += self._sync(pending, outcomes)
        placed = []
        for item, name, tmp in synced:
            try:
                os.replace(tmp, self.folder / name)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                outcomes[item.delivery_id] = self._refused(item, name, exc)
                continue
            placed.append((item, name))
        if placed:
            try:
                fsync_folder(self.folder)
            except OSError as exc:  # the files exist but may not survive a crash: try later
                for item, name in placed:
                    outcomes[item.delivery_id] = self._refused(item, name, exc)
                placed = []
        for item, name in placed:
            log.debug("outbox.written delivery=%s file=%s", item.delivery_id, name)
            outcomes[item.delivery_id] = SendOutcome(
                item.delivery_id, DeliveryState.SENT, provider_id=name
            )
        result = [outcomes[item.delivery_id] for item in batch]
        if progress is not None:
            for outcome in result:
                progress.attempting(outcome.delivery_id)
                progress.settled(outcome)
        return result

    def _sync(
        self, pending: list[tuple[Outgoing, str, int, str]], outcomes: dict[int, SendOutcome]
    ) -> list[tuple[Outgoing, str, str]]:
        """Sync (one ``syncfs`` where Linux has it, else an fsync each) and close the written
        temporary files of ``pending`` (emptied); return the ones now on disk. A failed fsync
        (``EIO``, ``ENOSPC`` on some file systems) refuses that item for now."""
        done = []
        synced = bool(pending) and _syncfs(pending[0][2])
        for item, name, fd, tmp in pending:
            try:
                if not synced:
                    os.fsync(fd)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                outcomes[item.delivery_id] = self._refused(item, name, exc)
                continue
            finally:
                os.close(fd)
            done.append((item, name, tmp))
        pending.clear()
        return done

    def _refused(self, item: Outgoing, name: str, exc: OSError) -> SendOutcome:
        log.warning("outbox.failed delivery=%s file=%s error=%s", item.delivery_id, name, exc)
        return SendOutcome(
            item.delivery_id, DeliveryState.QUEUED, error=f"{type(exc).__name__}: {exc}"
        )

    def close(self) -> None:
        """Nothing to release."""


def write_edition_files(folder: Path, rendered: RenderedEdition) -> None:
    """Write ``edition.html`` and ``edition.txt`` (UTF-8, with the per-recipient placeholders
    as rendered) into ``folder``, atomically. Raises ``OSError`` when the folder is unwritable."""
    folder = Path(folder)
    _write_atomic(folder / "edition.html", rendered.html.encode("utf-8"))
    _write_atomic(folder / "edition.txt", rendered.text.encode("utf-8"))


__all__ = [
    "OutboxTransport",
    "fsync_folder",
    "remove_left_over_temp_files",
    "safe_file_part",
    "write_edition_files",
]
