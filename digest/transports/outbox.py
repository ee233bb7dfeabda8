"""The outbox transport: each message becomes one ``.eml`` file (RFC 5322, CRLF) in a folder.

Used for previews, demos and tests. ``outbox/<list>/<period>/`` holds ``edition.html`` and
``edition.txt`` (:func:`write_edition_files`) and one ``NNNN-<recipient>.eml`` per delivery,
where ``NNNN`` is the delivery id: sending the same delivery again rewrites the same file.
Every file is written to a temporary name in the same folder, flushed, then renamed, so a
reader never sees half a message.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from digest.message import POLICY
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


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=path.parent)
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


class OutboxTransport:
    """Writes each message as ``<folder>/<delivery id, 4+ digits>-<safe recipient>.eml``.

    ``folder`` is ``outbox/<list>/<period>/``; it is created on first send. ``send`` returns
    ``SENT`` with ``provider_id`` = the file name; ``QUEUED`` (try later) when the file
    cannot be written (``OSError``: a full disk, ``ENOSPC``; a read-only or missing folder),
    with the error text; ``FAILED`` when the message itself cannot be serialised. One bad
    item never stops the batch. It reports each message as it is written
    (``reports_each``, :class:`~digest.transports.Progress`).
    """

    name = "outbox"
    reports_each = True

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def file_name(self, item: Outgoing) -> str:
        """The file an item is written to, e.g. ``0001-ada_at_example.com.eml``."""
        return f"{item.delivery_id:04d}-{safe_file_part(item.recipient)}.eml"

    def send(self, batch: Sequence[Outgoing], progress: Progress | None = None) -> list[SendOutcome]:
        """Write one ``.eml`` per item; one :class:`SendOutcome` per item, in order."""
        outcomes = []
        for item in batch:
            if progress is not None:
                progress.attempting(item.delivery_id)
            outcome = self._write(item)
            if progress is not None:
                progress.settled(outcome)
            outcomes.append(outcome)
        return outcomes

    def _write(self, item: Outgoing) -> SendOutcome:
        name = self.file_name(item)
        try:
            data = item.message.as_bytes(policy=POLICY)
        except Exception as exc:  # noqa: BLE001 -- a malformed message fails itself only
            log.warning("outbox.bad_message delivery=%s error=%s", item.delivery_id, exc)
            return SendOutcome(
                item.delivery_id, DeliveryState.FAILED, error=f"message: {type(exc).__name__}: {exc}"
            )
        try:
            _write_atomic(self.folder / name, data)
        except OSError as exc:
            log.warning("outbox.failed delivery=%s file=%s error=%s", item.delivery_id, name, exc)
            return SendOutcome(
                item.delivery_id, DeliveryState.QUEUED, error=f"{type(exc).__name__}: {exc}"
            )
        log.debug("outbox.written delivery=%s file=%s bytes=%d", item.delivery_id, name, len(data))
        return SendOutcome(item.delivery_id, DeliveryState.SENT, provider_id=name)

    def close(self) -> None:
        """Nothing to release."""


def write_edition_files(folder: Path, rendered: RenderedEdition) -> None:
    """Write ``edition.html`` and ``edition.txt`` (UTF-8, with the per-recipient placeholders
    as rendered) into ``folder``, atomically. Raises ``OSError`` when the folder is unwritable."""
    folder = Path(folder)
    _write_atomic(folder / "edition.html", rendered.html.encode("utf-8"))
    _write_atomic(folder / "edition.txt", rendered.text.encode("utf-8"))


__all__ = ["OutboxTransport", "safe_file_part", "write_edition_files"]
