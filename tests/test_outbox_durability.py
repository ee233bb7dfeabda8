"""Issue 14: the outbox syncs once per batch, and a row is ``sent`` only after its message
file and the folder's entry for it are on disk."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from unittest import mock

from digest.deliver import Ledger
from digest.store import Store
from digest.transports import Outgoing, outbox
from digest.transports.outbox import OutboxTransport
from digest.types import DeliveryState
from tests import deliver_helpers as h

REAL_FSYNC, REAL_REPLACE, REAL_WRITE = os.fsync, os.replace, os.write


def _path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_rows_are_sent_only_after_files_and_folder_are_synced(db_url: str, tmp_path: Path) -> None:
    store = Store.open(db_url)
    edition = h.make_edition(store)
    h.add_subscribers(store, 5)
    ledger = Ledger(store, clock=lambda: h.NOW)
    ledger.queue(edition, store.subscribers_of("world"))
    folder = tmp_path / "outbox"
    events: list[tuple[str, str]] = []

    def fsync(fd: int) -> None:
        events.append(("fsync", _path(fd)))
        REAL_FSYNC(fd)

    def replace(src: str, dst: object) -> None:
        events.append(("rename", str(dst)))
        REAL_REPLACE(src, dst)  # type: ignore[arg-type]

    recorded = store.record_outcomes

    def record(updates, **kw):  # type: ignore[no-untyped-def]
        events.append(("record", ",".join(str(u.state) for u in updates)))
        return recorded(updates, **kw)

    real_syncfs = outbox._syncfs

    def syncfs(fd: int) -> bool:
        events.append(("syncfs", _path(fd)))
        return real_syncfs(fd)

    with mock.patch("os.fsync", fsync), mock.patch("os.replace", replace), \
            mock.patch.object(outbox, "_syncfs", syncfs), \
            mock.patch.object(store, "record_outcomes", record):  # fmt: skip
        counts = ledger.run(edition, list_name="world", transport=OutboxTransport(folder),
                            compose=h.compose, batch_size=3)  # fmt: skip
    store.close()
    assert counts == {"sent": 5}
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 5 and not [f for f in files if f.startswith(".tmp-")]
    records = [i for i, e in enumerate(events) if e[0] == "record"]
    assert len(records) == 2  # one per batch of 3 and 2, not one per message
    start = 0
    for at in records:
        batch = events[start:at]
        renamed = [Path(p).name for kind, p in batch if kind == "rename"]
        assert renamed and events[at][1].split(",") == ["sent"] * len(renamed)
        file_syncs = [i for i, (kind, p) in enumerate(batch) if kind == "fsync" and ".tmp-" in p]
        whole = [i for i, (kind, _) in enumerate(batch) if kind == "syncfs"]
        renames = [i for i, (kind, _) in enumerate(batch) if kind == "rename"]
        folder_syncs = [i for i, (kind, p) in enumerate(batch)
                        if kind == "fsync" and Path(p) == folder.resolve()]  # fmt: skip
        # every file synced (one syncfs for the batch, or an fsync each where it is not
        # available) before any rename; the folder once, after the renames, before the
        # outcomes are recorded
        if outbox._SYNCFS is not None:
            assert len(whole) == 1 and not file_syncs and whole[0] < min(renames)
        else:
            assert len(file_syncs) == len(renamed) and max(file_syncs) < min(renames)
        assert len(folder_syncs) == 1 and folder_syncs[0] > max(renames)
        start = at + 1


def _items(n: int) -> list[Outgoing]:
    subs = [h.Subscriber(list_name="world", email=f"r{i}@example.com", name=f"R {i}", id=i + 1)
            for i in range(n)]  # fmt: skip
    return [Outgoing(s.id or 0, s.email, h.compose(s, s.id or 0)) for s in subs]


def test_full_disk_refuses_that_message_for_now_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    writes = []

    def write(fd: int, data: object) -> int:
        writes.append(fd)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return REAL_WRITE(fd, data)  # type: ignore[arg-type]

    with mock.patch("os.write", write):
        outcomes = OutboxTransport(tmp_path).send(_items(3))
    assert [o.state for o in outcomes] == [DeliveryState.SENT, DeliveryState.QUEUED,
                                           DeliveryState.SENT]  # fmt: skip
    assert "No space left" in (outcomes[1].error or "")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "0001-r0_at_example.com.eml", "0003-r2_at_example.com.eml",
    ]


def test_without_syncfs_each_file_is_fsynced(tmp_path: Path) -> None:
    synced: list[str] = []

    def fsync(fd: int) -> None:
        synced.append(_path(fd))
        REAL_FSYNC(fd)

    with mock.patch.object(outbox, "_SYNCFS", None), mock.patch("os.fsync", fsync):
        outcomes = OutboxTransport(tmp_path).send(_items(3))
    assert all(o.state is DeliveryState.SENT for o in outcomes)
    assert sum(p.endswith(".part") for p in synced) == 3 and synced[-1] == str(tmp_path)


def test_a_failed_fsync_is_not_sent(tmp_path: Path) -> None:
    # a failing syncfs falls back to an fsync per file, which tells which one failed
    failed: list[str] = []

    def fsync(fd: int) -> None:
        if _path(fd).endswith(".part") and not failed:  # the batch's first file
            failed.append(_path(fd))
            raise OSError(errno.EIO, "Input/output error")
        REAL_FSYNC(fd)

    with mock.patch("os.fsync", fsync), mock.patch.object(outbox, "_SYNCFS", lambda fd: -1):
        outcomes = OutboxTransport(tmp_path).send(_items(2))
    assert [o.state for o in outcomes] == [DeliveryState.QUEUED, DeliveryState.SENT]
    assert [p.name for p in tmp_path.iterdir()] == ["0002-r1_at_example.com.eml"]
