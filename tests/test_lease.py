"""The scheduler lease: one holder at a time, renewed while running, taken over when expired."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.lease import Lease, LeaseKeeper, current_lease, holder_id
from digest.store import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock shared by the leases of one test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(db_url: str) -> Store:
    with Store.open(db_url) as s:
        yield s


def test_one_holder_at_a_time(store: Store) -> None:
    clock = Clock(T0)
    a = Lease(store, holder="a", ttl=timedelta(seconds=60), clock=clock)
    b = Lease(store, holder="b", ttl=timedelta(seconds=60), clock=clock)
    assert a.acquire()
    assert not b.acquire()
    info = b.current()
    assert info is not None and info.holder == "a"
    assert info.expires_at == T0 + timedelta(seconds=60)
    assert a.held() and not b.held()
    # acquiring again is a renewal for the holder
    clock.now = T0 + timedelta(seconds=30)
    assert a.acquire()
    assert a.current().acquired_at == T0  # type: ignore[union-attr]
    assert a.current().expires_at == T0 + timedelta(seconds=90)  # type: ignore[union-attr]


def test_expired_lease_is_taken_over_and_old_holder_cannot_renew(store: Store) -> None:
    clock = Clock(T0)
    a = Lease(store, holder="a", ttl=timedelta(seconds=60), clock=clock)
    b = Lease(store, holder="b", ttl=timedelta(seconds=60), clock=clock)
    assert a.acquire()
    clock.now = T0 + timedelta(seconds=60)
    assert not b.acquire()  # expires_at == now: not yet expired
    clock.now = T0 + timedelta(seconds=61)
    assert b.acquire()
    assert current_lease(store).holder == "b"  # type: ignore[union-attr]
    assert current_lease(store).acquired_at == clock.now  # type: ignore[union-attr]
    assert not a.renew()
    assert not a.release()
    assert current_lease(store).holder == "b"  # type: ignore[union-attr]


def test_release_lets_the_next_one_in_at_once(store: Store) -> None:
    clock = Clock(T0)
    a = Lease(store, holder="a", clock=clock)
    b = Lease(store, holder="b", clock=clock)
    assert a.acquire()
    assert a.release()
    assert current_lease(store) is None
    assert b.acquire()


def test_keeper_renews_and_notices_a_takeover(store: Store) -> None:
    a = Lease(store, holder="a", ttl=timedelta(seconds=30))
    assert a.acquire()
    first = a.current().expires_at  # type: ignore[union-attr]
    keeper = LeaseKeeper(a, interval=0.05)
    keeper.start()
    time.sleep(0.3)
    assert a.current().expires_at > first  # type: ignore[union-attr]
    assert not keeper.lost.is_set()
    # another process takes the lease over (as if ours had expired)
    store.release_lease("scheduler", "a")
    assert Lease(store, holder="b").acquire()
    assert keeper.lost.wait(2)
    keeper.stop()
    assert current_lease(store).holder == "b"  # type: ignore[union-attr]


def test_racing_threads_elect_one_holder(store: Store) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contend(name: str) -> None:
        lease = Lease(store, holder=name)
        barrier.wait()
        if lease.acquire():
            winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert current_lease(store).holder == winners[0]  # type: ignore[union-attr]


def test_holder_id_names_host_and_pid() -> None:
    import os
    import socket

    host, pid, rand = holder_id().split(":")[:3]
    assert host == socket.gethostname() and pid == str(os.getpid())
    assert len(rand.rpartition(".")[2]) == 6  # after the process's start time, where known
