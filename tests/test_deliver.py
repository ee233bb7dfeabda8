"""The delivery ledger: states, idempotence, re-checks, unknown handling, pausing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from digest.deliver import Ledger
from digest.ledger_state import edition_complete
from digest.store import Store
from digest.types import DeliveryState, SubscriberStatus
from tests.deliver_helpers import (
    NOW,
    MemoryTransport,
    add_subscribers,
    bulk_subscribers,
    compose,
    make_edition,
)


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def ledger(store: Store, **kw: object) -> Ledger:
    return Ledger(store, clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def test_queue_is_idempotent_and_run_sends_each_once(store: Store) -> None:
    ed = make_edition(store)
    subs = add_subscribers(store, 25)
    led = ledger(store)
    assert led.queue(ed, subs) == 25
    assert led.queue(ed, subs) == 0
    t = MemoryTransport()
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10)
    assert counts == {"sent": 25}
    assert t.calls == 3
    assert sorted(t.accepted) == sorted(s.email for s in subs)
    assert edition_complete(store.delivery_counts(ed))
    # a second run sends nothing more
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10)
    assert t.calls == 3 and counts == {"sent": 25}


def test_unsubscribe_and_suppression_are_rechecked_at_claim(store: Store) -> None:
    ed = make_edition(store)
    subs = add_subscribers(store, 30)
    led = ledger(store)
    led.queue(ed, subs)
    t = MemoryTransport()

    def hook(point: str, ids: list[int]) -> None:
        # while the first batch is in flight, one later subscriber leaves and one is suppressed
        if point == "accepted" and t.calls == 1:
            store.set_subscriber_status(subs[15].id, SubscriberStatus.UNSUBSCRIBED, now=NOW)  # type: ignore[arg-type]
            store.suppress(subs[25].email.upper(), "bounce", now=NOW)

    led._hook = hook
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10)
    assert counts == {"sent": 28, "skipped": 2}
    assert subs[15].email not in t.accepted and subs[25].email not in t.accepted
    skipped = store.deliveries_in(ed, ["skipped"])
    assert {r.last_error for r in skipped} == {"subscriber unsubscribed", "address suppressed"}


def test_a_batch_whose_every_row_is_skipped_does_not_end_the_run(store: Store) -> None:
    """A claim that finds only suppressed or unsubscribed subscribers (the bounced rows
    `retry-failed` queues again, a run of unsubscribes) skips them and goes on to the next
    rows: the run used to stop there, leaving the rest queued for the next run (one batch
    per cron run) and reporting the list failed, "paused after provider failures"."""
    ed = make_edition(store)
    subs = add_subscribers(store, 30)
    for sub in subs[:20]:
        store.suppress(sub.email, "bounce", now=NOW)
    led = ledger(store)
    led.queue(ed, subs)
    t = MemoryTransport()
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10)
    assert counts == {"skipped": 20, "sent": 10}
    assert sorted(t.accepted) == sorted(s.email for s in subs[20:])


def test_unknown_is_not_resent_until_the_operator_asks(store: Store) -> None:
    ed = make_edition(store)
    subs = add_subscribers(store, 20)
    led = ledger(store)
    led.queue(ed, subs)
    t = MemoryTransport([DeliveryState.SENT, DeliveryState.UNKNOWN])
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10)
    assert counts == {"sent": 10, "unknown": 10}
    # complete: nothing queued; the unknown rows are the operator's call
    assert edition_complete(store.delivery_counts(ed))
    assert [e.id for e in store.unfinished_editions()] == []
    led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10)
    assert t.calls == 2
    assert len(led.unknown(ed)) == 10
    assert led.retry_unknown(ed) == 10
    # re-queued rows re-open the edition: derived from the rows, never a stale flag
    assert not edition_complete(store.delivery_counts(ed))
    assert [e.id for e in store.unfinished_editions()] == [ed]
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10)
    assert counts == {"sent": 20}
    assert sorted(t.accepted) == sorted(s.email for s in subs)


def test_resend_unknown_policy_requeues_at_start(store: Store) -> None:
    ed = make_edition(store)
    led = ledger(store, resend_unknown=True)
    led.queue(ed, add_subscribers(store, 5))
    t = MemoryTransport([DeliveryState.UNKNOWN])
    assert led.run(ed, list_name="world", transport=t, compose=compose) == {"unknown": 5}
    assert led.run(ed, list_name="world", transport=t, compose=compose) == {"sent": 5}


def test_consecutive_failures_pause_with_rows_still_queued(store: Store) -> None:
    ed = make_edition(store)
    led = ledger(store)
    led.queue(ed, add_subscribers(store, 100))
    t = MemoryTransport([DeliveryState.FAILED] * 3)
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=10,
                     max_consecutive_failures=3)
    assert t.calls == 3
    assert counts == {"failed": 30, "queued": 70}
    assert not edition_complete(store.delivery_counts(ed))


def test_temporary_refusal_waits_for_not_before(store: Store) -> None:
    ed = make_edition(store)
    clock = [NOW]
    led = Ledger(store, clock=lambda: clock[0])
    led.queue(ed, add_subscribers(store, 5))
    t = MemoryTransport([DeliveryState.QUEUED])
    assert led.run(ed, list_name="world", transport=t, compose=compose) == {"queued": 5}
    assert t.calls == 1  # not retried at once
    assert not edition_complete(store.delivery_counts(ed))
    from datetime import timedelta

    clock[0] = NOW + timedelta(minutes=6)
    assert led.run(ed, list_name="world", transport=t, compose=compose) == {"sent": 5}


def test_compose_failure_fails_one_row_only(store: Store) -> None:
    ed = make_edition(store)
    subs = add_subscribers(store, 5)
    led = ledger(store)
    led.queue(ed, subs)

    def bad_compose(sub, delivery_id):  # type: ignore[no-untyped-def]
        if sub.email == subs[2].email:
            raise KeyError("name")
        return compose(sub, delivery_id)

    counts = led.run(ed, list_name="world", transport=MemoryTransport(), compose=bad_compose)
    assert counts == {"sent": 4, "failed": 1}
    (row,) = store.deliveries_in(ed, ["failed"])
    assert row.email == subs[2].email and "compose" in row.last_error


def test_a_transport_that_raises_makes_rows_unknown(store: Store) -> None:
    ed = make_edition(store)
    led = ledger(store)
    led.queue(ed, add_subscribers(store, 3))

    class Boom(MemoryTransport):
        def send(self, batch):  # type: ignore[no-untyped-def]
            raise RuntimeError("socket closed")

    assert led.run(ed, list_name="world", transport=Boom(), compose=compose,
                   max_consecutive_failures=1) == {"unknown": 3}


def test_rows_left_sending_by_a_crash_become_unknown(store: Store) -> None:
    ed = make_edition(store)
    led = ledger(store)
    led.queue(ed, add_subscribers(store, 10))
    claimed = store.claim_deliveries(ed, list_name="world", limit=6, now=NOW)
    assert len(claimed) == 6
    # four were handed to the provider, two were only claimed when the run died
    store.mark_sending([c.delivery_id for c in claimed[:4]], now=NOW)
    t = MemoryTransport()
    counts = led.run(ed, list_name="world", transport=t, compose=compose)
    assert counts == {"sent": 6, "unknown": 4}
    assert {r.last_error for r in led.unknown(ed)} == {"interrupted while sending"}


def test_queue_list_queues_active_subscribers_once_in_sql(db_url):
    """Queueing a whole list is one INSERT … SELECT: active subscribers only, idempotent,
    and a subscriber queued before keeps its row."""
    from digest.types import SubscriberStatus

    store = Store.open(db_url)
    ed = make_edition(store)
    subs = add_subscribers(store, 6)
    store.set_subscriber_status(subs[5].id, SubscriberStatus.UNSUBSCRIBED, now=NOW)
    led = Ledger(store, clock=lambda: NOW)
    assert led.queue(ed, subs[:2]) == 2
    assert led.queue_list(ed, "world") == 3
    assert led.queue_list(ed, "world") == 0
    assert store.delivery_counts(ed) == {"queued": 5}
    done = led.run(ed, list_name="world", transport=MemoryTransport(), compose=compose)
    assert done == {"sent": 5}


def test_a_batch_is_claimed_and_recorded_in_a_few_statements(store: Store) -> None:
    """Issue 13: claiming 1500 rows is one UPDATE … RETURNING plus the subscribers' select
    (in chunks of 1000 on SQLite), and recording them, all accepted in one request, one
    UPDATE (two on SQLite): not a statement per row."""
    from sqlalchemy import event

    from digest.ledger_state import RowUpdate

    ed = make_edition(store)
    bulk_subscribers(store, 1500)
    Ledger(store, clock=lambda: NOW).queue_list(ed, "world")
    statements: list[str] = []

    def count(conn, cursor, statement, *rest):  # type: ignore[no-untyped-def]
        if "deliveries" in statement or "subscribers" in statement:  # not the pool's pings
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    claimed = store.claim_deliveries(ed, list_name="world", limit=1500, now=NOW, holder="h",
                                     lease=timedelta(0))
    claim_statements, statements[:] = len(statements), []
    store.record_outcomes(
        [RowUpdate(c.delivery_id, DeliveryState.SENT, "msg-1") for c in claimed], now=NOW
    )
    event.remove(store.engine, "before_cursor_execute", count)
    chunks = 1 if store.engine.dialect.name == "postgresql" else 2
    ids = [c.delivery_id for c in claimed]
    assert len(claimed) == 1500 and ids == sorted(ids)
    assert claim_statements == 1 + chunks
    assert len(statements) == chunks
    assert store.delivery_counts(ed) == {"sent": 1500}
