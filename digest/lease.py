"""The scheduler lease: one row in the ``leases`` table says which process may act.

Only the holder of the ``scheduler`` lease runs jobs. The holder renews it every
``renew_seconds`` while it runs (a :class:`LeaseKeeper` thread); a lease that was not renewed
before ``expires_at`` may be taken over by any other process; a clean shutdown releases it at
once. ``digest schedule`` stamps and compares it on the store's lease clock
(:meth:`digest.store.Store.lease_now`: the PostgreSQL server's ``now()``, this machine's
clock on SQLite), as delivery leases are, so a host whose clock runs ahead does not take a
live holder's lease (it did, at once, with each process's own clock); a :class:`Lease` made
without a ``clock`` uses the process's own.

A holder id names the process for operators: ``host:pid:random:kernel`` (:func:`holder_id`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from digest.exceptions import DigestError
from digest.store import LeaseRow, Store

log = logging.getLogger("digest.lease")

SCHEDULER_LEASE = "scheduler"


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def holder_id() -> str:
    """A holder id for this process: ``host:pid:start.6 hex digits:kernel`` (``start``: when
    the process started, :func:`digest.liveness.process_start`, so a later process given the
    same pid is not taken for it; left out, ``host:pid:hex``, where the system does not tell;
    the random part keeps two processes on different hosts with the same pid apart;
    ``kernel``: the boot id and pid namespace, :func:`digest.liveness.kernel_id`, so a worker
    of the same boot and namespace may ask whether the holder runs; left out where unknown)."""
    from digest.liveness import kernel_id, process_start

    start = process_start(os.getpid())
    token = secrets.token_hex(3)
    kernel = kernel_id()
    name = f"{socket.gethostname()}:{os.getpid()}:{token if start is None else f'{start}.{token}'}"
    return name if kernel is None else f"{name}:{kernel}"


#: Who holds a lease and until when: the store's typed row (kept under its old name).
LeaseInfo = LeaseRow


class Lease:
    """One named lease in the store, seen from one would-be holder.

    ``ttl`` is how long a take or renewal holds it. Methods raise
    :class:`~digest.exceptions.StoreError` when the database fails.
    """

    def __init__(
        self,
        store: Store,
        *,
        name: str = SCHEDULER_LEASE,
        holder: str | None = None,
        ttl: timedelta = timedelta(seconds=90),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder or holder_id()
        self.ttl = ttl
        self.clock = clock

    def acquire(self) -> bool:
        """Take the lease (or renew it when it is already ours); False when another holder's
        lease has not expired."""
        now = self.clock()
        won = self.store.take_lease(self.name, self.holder, now=now, expires_at=now + self.ttl)
        if won:
            log.info(
                "lease_acquired lease=%s holder=%s ttl=%ss",
                self.name,
                self.holder,
                self.ttl.total_seconds(),
            )
        return won

    def renew(self) -> bool:
        """Push the expiry ``ttl`` past now; False when the lease is no longer ours (it expired
        and another process took it over)."""
        return self.store.renew_lease(self.name, self.holder, expires_at=self.clock() + self.ttl)

    def release(self) -> bool:
        """Give the lease up so a waiting process can take it at once; False when not ours."""
        released = self.store.release_lease(self.name, self.holder)
        if released:
            log.info("lease_released lease=%s holder=%s", self.name, self.holder)
        return released

    def current(self) -> LeaseInfo | None:
        """The lease as stored now, whoever holds it; None when nobody does."""
        return current_lease(self.store, self.name)

    def held(self) -> bool:
        """True when the stored lease is ours and has not expired."""
        info = self.current()
        return info is not None and info.holder == self.holder and not info.expired(self.clock())


def current_lease(store: Store, name: str = SCHEDULER_LEASE) -> LeaseInfo | None:
    """The lease ``name`` as stored, or None when nobody holds it."""
    return store.lease(name)


class LeaseKeeper(threading.Thread):
    """Renews ``lease`` every ``interval`` seconds until :meth:`stop`; sets :attr:`lost`,
    calls ``on_lost`` and stops when a renewal finds the lease taken by someone else.

    A database error during renewal is logged and retried at the next interval (the lease
    is lost only when it really changed hands).
    """

    def __init__(
        self, lease: Lease, interval: float, *, on_lost: Callable[[], None] | None = None
    ) -> None:
        super().__init__(name="digest-lease", daemon=True)
        self.lease = lease
        self.interval = interval
        self.on_lost = on_lost
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                if not self.lease.renew():
                    info = self.lease.current()
                    log.error(
                        "lease_lost lease=%s holder=%s now_held_by=%s",
                        self.lease.name,
                        self.lease.holder,
                        info.holder if info else None,
                    )
                    self.lost.set()
                    if self.on_lost is not None:
                        self.on_lost()
                    return
            except DigestError as exc:
                log.warning("lease_renew_failed lease=%s error=%r", self.lease.name, str(exc))

    def stop(self) -> None:
        """Stop renewing (the lease is left as it is; release it separately)."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
