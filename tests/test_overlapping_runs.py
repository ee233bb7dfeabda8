"""Two senders on one SQLite database (cron firing again before the last run ended; an
operator's `digest deliver` beside a running scheduler): the second must leave the first's
batch alone while that process lives, and take it over at once when it has been killed --
the operator's recovery after a crash (`retry-unknown`, then `run`) does not wait out the
lease. Found by an operator trying two overlapping `digest run`: 55 recipients got two
copies while the ledger said each was sent once."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.ledger_state import DeliveryState, reclaim
from digest.liveness import holder_alive
from digest.store import Store
from tests.fake_sendgrid import FakeSendgrid
from tests.worker_support import seed, write_config

REPO = Path(__file__).resolve().parent.parent
SOON = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)

# The holder: claims 10 rows, hands 4 to the "provider" (sending), says so, then waits to be
# killed -- a `digest run` in the middle of its batch.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime, timedelta
    from digest.lease import holder_id
    from digest.store import Store
    url, edition = sys.argv[1], int(sys.argv[2])
    now = datetime.now(UTC)
    me = holder_id()
    with Store.open(url) as store:
        claims = store.claim_deliveries(edition, list_name="world", limit=10, now=now,
                                        holder=me, lease=timedelta(minutes=10))
        store.mark_sending([c.delivery_id for c in claims[:4]], now=now, holder=me)
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_reclaim_leaves_a_live_holders_rows_and_takes_a_dead_ones_at_once() -> None:
    live_lease = SOON + timedelta(minutes=5)
    assert reclaim("claimed", live_lease, SOON, holder_alive=True) is None
    assert reclaim("sending", live_lease, SOON, holder_alive=True) is None
    assert reclaim("claimed", live_lease, SOON, holder_alive=False) == DeliveryState.QUEUED
    # a holder that cannot be asked (another host): its lease, on the lease clock, decides
    assert reclaim("sending", live_lease, SOON, holder_alive=None) is None
    assert reclaim("sending", SOON, SOON, holder_alive=None) == DeliveryState.UNKNOWN
    # a live holder keeps its rows whatever its lease says: a run on another clock (--at,
    # faketime) sees that lease as long over, and must still not send its batch again
    assert reclaim("sending", SOON, SOON, holder_alive=True) is None
    assert reclaim("claimed", None, SOON, holder_alive=True) is None


def test_holder_alive_asks_only_this_hosts_other_processes() -> None:
    import socket

    host = socket.gethostname()
    assert holder_alive(None) is None and holder_alive("w1") is None
    assert holder_alive(f"elsewhere-{host}:1:abc") is None
    assert holder_alive(f"{host}:{os.getpid()}:abc") is None  # this process: as after a crash
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert holder_alive(f"{host}:{child.pid}:abc") is True
    finally:
        child.kill()
        child.wait()
    assert holder_alive(f"{host}:{child.pid}:abc") is False


def test_a_pid_given_again_to_another_process_is_not_the_holder() -> None:
    """A holder id carries its process's start time: once the holder is dead and the system
    has given its pid to a process that started later (containers restart with the same
    low pids), the rows are not held by that stranger for ever; an id without a start time
    (another system's) still goes by the pid alone."""
    import socket

    from digest.lease import holder_id
    from digest.liveness import process_start

    if process_start(os.getpid()) is None:
        pytest.skip("no /proc here: the system does not tell a process's start time")
    host = socket.gethostname()
    mine = holder_id()
    assert mine.split(":")[2].startswith(f"{process_start(os.getpid())}.")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = process_start(child.pid)
        assert start is not None
        assert holder_alive(f"{host}:{child.pid}:{start}.abc123") is True
        assert holder_alive(f"{host}:{child.pid}:{start - 1}.abc123") is False  # the pid reused
        assert holder_alive(f"{host}:{child.pid}:abc123") is True
        stranger = holder_alive(f"{host}:{child.pid}:{start - 1}.abc123")
        assert reclaim("sending", SOON + timedelta(hours=1), SOON,
                       holder_alive=stranger) == DeliveryState.UNKNOWN
    finally:
        child.kill()
        child.wait()


@pytest.mark.slow
def test_a_second_sender_on_sqlite_leaves_a_live_runs_batch_and_recovers_a_killed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    url = f"sqlite:///{tmp_path / 'd.db'}"
    n = 60
    edition = seed(url, n, html_size=200)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(edition)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with FakeSendgrid() as fake:
            config = write_config(tmp_path, url, fake.url, batch_size=20)
            second = CliRunner().invoke(cli, ["-c", str(config), "run"])
            assert "in flight with another worker" in second.output, second.output
            # not "sent": a live run holds 10 rows (exit 0: nothing failed), and says whose
            assert ": in-flight" in second.output and ": sent" not in second.output, second.output
            assert "a running process: left to it" in second.output, second.output
            assert second.exit_code == 0, second.output
            with Store.open(url) as store:
                counts = store.delivery_counts(edition)
            # the live run's batch is untouched: nobody of it sent twice, none marked unknown
            assert counts == {"sent": n - 10, "claimed": 6, "sending": 4}, counts
            assert len(fake.accepted_emails()) == n - 10

            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
            # the documented recovery, at once (no lease to wait out): the killed run's
            # unsent rows go back to the queue, the ones it handed over become unknown
            retry = CliRunner().invoke(cli, ["-c", str(config), "deliveries", "retry-unknown"])
            assert retry.exit_code == 0, retry.output
            again = CliRunner().invoke(cli, ["-c", str(config), "run"])
            assert again.exit_code == 0, again.output
            with Store.open(url) as store:
                assert store.delivery_counts(edition) == {"sent": n}
            got = collections.Counter(fake.accepted_emails())
            assert len(got) == n and max(got.values()) == 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_on_postgresql_a_killed_worker_of_this_host_is_recovered_at_once_a_live_one_never(
    pg_url: str,
) -> None:
    """Several machines share PostgreSQL, so a host name alone proves nothing; but a holder id
    that carries this boot id and pid namespace names a process this worker can ask. A live
    one keeps its batch even once its lease has run out (a worker slower than its lease on a
    stalled provider); a killed one (not yet reaped by its parent, a zombie, then reaped) loses
    it at once instead of after its 10-minute lease."""
    import time

    from sqlalchemy import text

    from tests.deliver_helpers import expire_leases

    if not Path("/proc/sys/kernel/random/boot_id").exists() or not Path("/proc/self/ns/pid").exists():
        pytest.skip("no /proc here: no boot id or pid namespace to compare")
    edition = seed(pg_url, 20, html_size=200)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, pg_url, str(edition)], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with Store.open(pg_url) as store:
            expire_leases(store)  # its lease is over, the process is not: left to it
            assert store.recover_sending(edition, now=SOON) == []
            assert store.delivery_counts(edition) == {"queued": 10, "claimed": 6, "sending": 4}
            assert [b.holder_alive for b in store.held_batches(edition)] == [True]
            holder.send_signal(signal.SIGKILL)
            for _ in range(100):  # until the kernel has made it a zombie (its parent: us)
                if holder_alive(store.held_batches(edition)[0].holder) is False:
                    break
                time.sleep(0.05)
        with Store.open(pg_url) as store, store.begin() as conn:
            # a fresh 10-minute lease: only the holder's death can free the rows now
            conn.execute(text("UPDATE deliveries SET lease_expires_at = now() + interval '10 minutes' "
                              "WHERE lease_holder IS NOT NULL"))
        with Store.open(pg_url) as store:
            assert len(store.recover_sending(edition, now=SOON)) == 4
            assert store.delivery_counts(edition) == {"queued": 16, "unknown": 4}
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()


def test_a_holder_of_another_boot_is_gone_and_of_another_pid_namespace_unknown() -> None:
    """Same host name: an id of an earlier boot names a process that died with it; one of
    another pid namespace (another container) names a pid that means nothing here; on
    PostgreSQL (``same_kernel``) an id without this boot and namespace is never asked."""
    import socket

    from digest.liveness import kernel_id

    here = kernel_id()
    if here is None:
        pytest.skip("no /proc here: no boot id or pid namespace to compare")
    boot, _, namespace = here.partition(".")
    host = socket.gethostname()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid = child.pid
        assert holder_alive(f"{host}:{pid}:abc:{here}", same_kernel=True) is True
        assert holder_alive(f"{host}:{pid}:abc:{here}") is True
        assert holder_alive(f"{host}:{pid}:abc:other-boot.{namespace}") is False
        assert holder_alive(f"{host}:{pid}:abc:{boot}.1") is None
        assert holder_alive(f"{host}:{pid}:abc", same_kernel=True) is None
        assert holder_alive(f"{host}:{pid}:abc:other-boot.{namespace}", same_kernel=True) is None
    finally:
        child.kill()
        child.wait()
