"""Several delivery workers: the lease decisions (pure), the store's lease-aware claim and
take-over on SQLite and PostgreSQL, `digest deliver --workers N` refused on SQLite, and the
failover proof: real `digest worker` processes on PostgreSQL, one SIGKILLed mid-batch."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest.cli import cli
from digest.ledger_state import (
    LedgerActivity,
    WorkerStep,
    lease_expired,
    may_claim,
    reclaim,
    worker_step,
)
from digest.store import Store, deliveries
from digest.types import DeliveryState, ListReport, SendOutcome
from digest.workers import WorkSummary
from tests.deliver_helpers import NOW, bulk_subscribers, expire_leases, make_edition
from tests.fake_sendgrid import FakeSendgrid
from tests.worker_support import seed, write_config

REPO = Path(__file__).resolve().parent.parent
LEASE = timedelta(seconds=60)


# -- the pure decisions ----------------------------------------------------------------


def test_reclaim_marks_a_dead_workers_rows_as_a_restart_would() -> None:
    live, dead = NOW + timedelta(seconds=1), NOW - timedelta(seconds=1)
    assert reclaim("claimed", dead, NOW) == DeliveryState.QUEUED
    assert reclaim("sending", dead, NOW) == DeliveryState.UNKNOWN
    assert reclaim("claimed", live, NOW) is None  # its worker is alive
    assert reclaim("sending", live, NOW) is None
    # SQLite (one machine): the holder process is asked; the lease only when it cannot be
    assert reclaim("sending", live, NOW, holder_alive=False) == DeliveryState.UNKNOWN
    assert reclaim("sending", dead, NOW, holder_alive=True) is None
    assert reclaim("sending", live, NOW) is None  # another host: by the lease
    assert reclaim("sending", None, NOW) == DeliveryState.UNKNOWN  # no lease
    for settled in ("queued", "sent", "failed", "unknown", "skipped"):
        assert reclaim(settled, dead, NOW) is None
    assert lease_expired(NOW, NOW) and not lease_expired(live, NOW)
    assert may_claim("queued", None, NOW) and may_claim("queued", NOW, NOW)
    assert not may_claim("queued", live, NOW) and not may_claim("claimed", None, NOW)


def test_worker_step_waits_for_a_live_lease_before_it_calls_itself_idle() -> None:
    later = NOW + timedelta(minutes=5)
    def step(until_idle: bool = True, **seen: object) -> WorkerStep:
        return worker_step(LedgerActivity(**seen), now=NOW, until_idle=until_idle)  # type: ignore[arg-type]

    assert step(due=3).action == "deliver"
    assert step(reclaimable=2, held_until=later).action == "deliver"
    assert step(held_until=later) == WorkerStep("wait", later)
    # rows waiting for a local send time: --until-idle leaves, a long-running worker waits
    assert step(next_due=later).action == "idle"
    assert step(False, next_due=later) == WorkerStep("wait", later)
    assert step() == WorkerStep("idle")


# -- the store: claims carry a lease; only expired ones are taken over ------------------


def _row_states(store: Store, ids: list[int]) -> dict[int, tuple[str, int, str | None]]:
    with store.begin() as conn:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.state, deliveries.c.attempts,
                   deliveries.c.lease_holder).where(deliveries.c.id.in_(ids))
        ).all()
    return {r.id: (r.state, r.attempts, r.lease_holder) for r in rows}


def test_a_live_lease_is_left_alone_an_expired_one_is_taken_over(db_url: str) -> None:
    with Store.open(db_url) as store:
        edition = make_edition(store)
        subs = bulk_subscribers(store, 6)
        store.queue_deliveries(edition, [s.id for s in subs if s.id], now=NOW)
        claimed = store.claim_deliveries(
            edition, list_name="world", limit=4, now=NOW, holder="w1", lease=LEASE
        )
        ids = [c.delivery_id for c in claimed]
        assert store.mark_sending(ids[:2], now=NOW, lease=LEASE, holder="w1") == 2
        assert store.mark_sending(ids[2:], now=NOW, holder="someone-else") == 0
        states = _row_states(store, ids)
        assert [states[i][0] for i in ids] == ["sending", "sending", "claimed", "claimed"]
        assert {states[i][2] for i in ids} == {"w1"}
        # another worker claims the rest, never the rows w1 holds
        other = store.claim_deliveries(
            edition, list_name="world", limit=10, now=NOW, holder="w2", lease=LEASE
        )
        assert len(other) == 2 and not {c.delivery_id for c in other} & set(ids)

        # the leases run on the lease clock, whatever the caller's clock (--at) says: a run
        # "a year later" finds both workers' rows held ("w1", "w2" name no process to ask)
        late = NOW + timedelta(days=365)
        assert store.recover_sending(edition, now=late) == []
        activity = store.ledger_activity(late)
        assert activity.reclaimable == 0 and activity.held_until is not None
        # said on the caller's clock: about LEASE after it
        assert timedelta(seconds=30) < activity.held_until - late <= LEASE
        expire_leases(store)
        assert store.ledger_activity(late).reclaimable == 6
        assert sorted(store.recover_sending(edition, now=late)) == sorted(ids[:2])
        states = _row_states(store, ids)
        assert [states[i] for i in ids] == [
            ("unknown", 1, None), ("unknown", 1, None), ("queued", 0, None), ("queued", 0, None)
        ]
        assert store.delivery_counts(edition) == {"unknown": 2, "queued": 4}


def test_concurrent_claims_on_postgresql_never_take_a_row_twice(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        edition = make_edition(store)
        subs = bulk_subscribers(store, 400)
        store.queue_deliveries(edition, [s.id for s in subs if s.id], now=NOW)
    taken: list[list[int]] = [[], [], [], []]

    def claimer(k: int) -> None:
        with Store.open(pg_url) as own:
            while batch := own.claim_deliveries(
                edition, list_name="world", limit=7, now=NOW, holder=f"w{k}",
                lease=LEASE,
            ):
                taken[k].extend(c.delivery_id for c in batch)

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for part in taken for i in part]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for part in taken if part) >= 2  # the claims really ran side by side


def test_a_worker_is_judged_by_its_last_word_on_each_edition() -> None:
    """A pass can end just as a dead worker's rows come back to the queue ("still queued":
    failed); the next pass sends them. Only the last report per edition counts (CI saw a
    worker exit 1 for an edition it had finished)."""
    early = ListReport(list_name="world", status="failed", period="2026-02-18")
    later = ListReport(list_name="world", status="sent", period="2026-02-18")
    other = ListReport(list_name="asia", status="sent", period="2026-02-18")
    summary = WorkSummary(reports=[early, other, later])
    assert summary.ok and summary.final == [other, later]
    assert not WorkSummary(reports=[later, early]).ok


# SQLite only: the refusal of --workers N > 1 on SQLite
def test_a_worker_that_stops_idle_reports_what_the_ledger_says(tmp_path: Path) -> None:
    """The race CI hit twice: a pass ends as another worker's reclaim puts rows back in the
    queue (its report: "still queued", failed); the other worker sends them; this worker
    then finds nothing to do. Its outcome is the ledger's, not that stale report's."""
    from sqlalchemy import update

    from digest.config import load_config
    from digest.workers import work

    url = f"sqlite:///{tmp_path / 'd.db'}"
    edition = seed(url, 3, html_size=200)
    config = load_config(write_config(tmp_path, url, "http://127.0.0.1:9"))
    with Store.open(url) as store:
        def deliver(now: datetime, stop: threading.Event) -> list[ListReport]:
            with store.begin() as conn:  # "another worker" sends every row meanwhile
                conn.execute(update(deliveries).values(state="sent"))
            return [ListReport(list_name="world", status="failed", period="2026-02-18",
                               message="3 still queued")]

        summary = work(config, store, clock=lambda: NOW, until_idle=True, deliver=deliver)
        assert store.delivery_counts(edition) == {"sent": 3}
    assert summary.ok, summary.final
    assert [r.status for r in summary.final] == ["sent"]


def test_several_workers_on_sqlite_are_refused_with_the_way_out(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", "http://127.0.0.1:9")
    result = CliRunner().invoke(cli, ["-c", str(config), "deliver", "--workers", "3"])
    assert result.exit_code == 2
    assert "needs PostgreSQL" in result.output and "one writer" in result.output


# SQLite only: `digest deliver` where one process sends at a time (the rest run on PostgreSQL)
def test_one_worker_delivers_every_open_edition_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    url = f"sqlite:///{tmp_path / 'd.db'}"
    edition = seed(url, 30, html_size=200)
    with FakeSendgrid() as fake:
        config = write_config(tmp_path, url, fake.url, batch_size=10)
        result = CliRunner().invoke(cli, ["-c", str(config), "deliver"])
        assert result.exit_code == 0, result.output
        assert len(set(fake.accepted_emails())) == 30 and fake.requests == 3
    with Store.open(url) as store:
        assert store.delivery_counts(edition) == {"sent": 30}


# -- failover: real processes, SIGKILL mid-batch ----------------------------------------


@pytest.mark.slow
def test_a_worker_killed_mid_batch_leaves_its_rows_to_the_others(pg_url: str, tmp_path: Path) -> None:
    """Three `digest worker --until-idle` on PostgreSQL; the worker whose request the fake
    SendGrid is answering is SIGKILLed; the other two finish the edition, take over the dead
    one's rows once its lease expires (sending -> unknown, re-sent by resend_unknown):
    nobody is missing, and only that one request's recipients get a second copy."""
    n, batch, lease = 1000, 50, 3.0
    edition = seed(pg_url, n, html_size=500)
    victim: dict[str, object] = {}
    with FakeSendgrid() as fake, Store.open(pg_url) as store:
        def on_request(number: int) -> None:
            if number != 4 or victim:
                return
            with store.begin() as conn:
                rows = conn.execute(
                    select(deliveries.c.lease_holder, deliveries.c.subscriber_id)
                    .where(deliveries.c.state == "sending")
                ).all()
            holders = collections.Counter(r.lease_holder for r in rows)
            holder = holders.most_common(1)[0][0]
            pid = int(holder.split(":")[1])
            victim.update(holder=holder, pid=pid, in_flight={
                r.subscriber_id for r in rows if r.lease_holder == holder})
            os.kill(pid, signal.SIGKILL)

        fake.on_request = on_request
        config = write_config(tmp_path, pg_url, fake.url, lease_seconds=lease,
                              batch_size=batch, resend_unknown=True)
        env = {**os.environ, "PYTHONPATH": str(REPO), "SENDGRID_API_KEY": "SG.test"}
        cmd = [sys.executable, "-m", "digest", "-c", str(config), "worker", "--until-idle",
               "--idle-seconds", "0.5"]
        procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        try:
            codes = {p.pid: p.wait(timeout=120) for p in procs}
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        assert victim, "the kill never happened"
        assert codes.pop(victim["pid"]) == -signal.SIGKILL  # type: ignore[call-overload]
        assert set(codes.values()) == {0}, [p.stderr.read() for p in procs if p.stderr]
        got = collections.Counter(fake.accepted_emails())
        counts = store.delivery_counts(edition)
        emails = {
            s.id: s.email for s in store.subscribers_of("world")
        }
    assert len(got) == n  # 0 missing
    twice = {email for email, k in got.items() if k > 1}
    in_flight = {emails[i] for i in victim["in_flight"]}  # type: ignore[attr-defined]
    assert 0 < len(in_flight) <= batch
    assert twice <= in_flight  # duplicates only from the killed worker's request in flight
    assert counts == {"sent": n}


class _SlowStream:
    """A message-by-message transport (like SMTP) whose first message takes so long that
    the worker's lease runs out and ``takeover()`` (another worker) runs meanwhile."""

    name = "slow-stream"
    reports_each = True

    def __init__(self, takeover: object) -> None:
        self.takeover = takeover
        self.sent: list[int] = []

    def send(self, batch: list, progress: object = None) -> list:  # type: ignore[type-arg]
        out = []
        for n, item in enumerate(batch):
            if progress is not None and progress.attempting(item.delivery_id) is False:  # type: ignore[attr-defined]
                continue
            if n == 0:
                self.takeover()  # type: ignore[operator]
            self.sent.append(item.delivery_id)
            outcome = SendOutcome(item.delivery_id, DeliveryState.SENT, provider_id="m")
            progress.settled(outcome)  # type: ignore[attr-defined]
            out.append(outcome)
        return out

    def close(self) -> None:
        pass


class _SlowBatch(_SlowStream):
    """A batch transport (like SendGrid) whose rows are taken over between the claim and the
    hand-over (``mark_sending``)."""

    reports_each = False

    def send(self, batch: list, progress: object = None) -> list:  # type: ignore[type-arg]
        self.sent.extend(item.delivery_id for item in batch)
        return [SendOutcome(i.delivery_id, DeliveryState.SENT, provider_id="m") for i in batch]


@pytest.mark.parametrize("streaming", [True, False])
def test_a_worker_whose_lease_ran_out_never_sends_the_rows_another_took_over(
    db_url: str, streaming: bool
) -> None:
    """A live worker slower than its lease (a provider that hangs) loses its rows to another
    worker: it must then not hand them to the provider as well (it did: mark_sending said 0
    rows changed and the batch was sent anyway), nor record outcomes for them."""
    from digest.deliver import Ledger

    with Store.open(db_url) as store:
        edition = make_edition(store)
        subs = bulk_subscribers(store, 5)
        store.queue_deliveries(edition, [s.id for s in subs if s.id], now=NOW)
        taken: list[int] = []

        def takeover() -> None:
            expire_leases(store)
            store.recover_sending(edition, now=NOW, exclusive=False)  # as on PostgreSQL
            taken.extend(c.delivery_id for c in store.claim_deliveries(
                edition, list_name="world", limit=10, now=NOW, holder="other:1:x", lease=LEASE))

        ledger = Ledger(store, clock=lambda: NOW, holder="slow:1:y")
        if streaming:
            transport: _SlowStream = _SlowStream(takeover)
        else:
            transport = _SlowBatch(takeover)
            real = store.mark_sending

            def late_mark(*args: object, **kw: object) -> int:
                takeover()  # the claim's lease ran out before the batch was handed over
                return real(*args, **kw)  # type: ignore[arg-type]

            store.mark_sending = late_mark  # type: ignore[method-assign]
        ledger.deliver(edition, list_name="world", transport=transport, compose=_compose,
                       batch_size=5)
        assert taken, "the other worker took nothing over"
        assert not set(transport.sent) & set(taken), (transport.sent, taken)
        counts = store.delivery_counts(edition)
        # the other worker's rows are still its own, claimed: not recorded by the slow one
        assert counts.claimed == len(taken), counts


def _compose(sub, delivery_id):  # type: ignore[no-untyped-def]
    from tests.deliver_helpers import compose

    return compose(sub, delivery_id)
