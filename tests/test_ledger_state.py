"""The delivery state machine's pure decisions (digest.ledger_state) and the ledger applying
them: derived completeness, back-off, the attempt limit, bounces, retry-failed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from digest.deliver import Ledger
from digest.ledger_state import LedgerRun, RetryPolicy, edition_complete, edition_phase, settle
from digest.store import Store
from digest.types import DeliveryState, SendOutcome, SubscriberStatus
from tests.deliver_helpers import (
    NOW,
    MemoryTransport,
    add_subscribers,
    compose,
    make_edition,
)


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def test_an_edition_is_complete_only_without_open_rows() -> None:
    assert edition_complete({})
    assert edition_complete({"sent": 3, "failed": 1, "unknown": 2, "skipped": 1})
    for state in ("queued", "claimed", "sending"):
        assert not edition_complete({"sent": 3, state: 1})
        assert edition_phase({"sent": 3, state: 1}) == "sending"
    assert edition_phase({"sent": 3}) == "delivered"


def test_transient_refusal_backs_off_then_fails_with_the_reason() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=timedelta(minutes=5), max_delay=timedelta(minutes=8))
    refusal = SendOutcome(7, DeliveryState.QUEUED, error="SMTP 451 try later")
    first = settle(refusal, 1, policy, NOW)
    assert first.state == DeliveryState.QUEUED and first.not_before == NOW + timedelta(minutes=5)
    second = settle(refusal, 2, policy, NOW)
    assert second.not_before == NOW + timedelta(minutes=8)  # doubled, capped
    last = settle(refusal, 3, policy, NOW)
    assert last.state == DeliveryState.FAILED and last.not_before is None
    assert last.error == "gave up after 3 attempts: SMTP 451 try later"
    sent = settle(SendOutcome(7, DeliveryState.SENT, provider_id="x"), 1, policy, NOW)
    assert (sent.state, sent.provider_id) == (DeliveryState.SENT, "x")


def test_provider_down_means_calls_and_no_acceptance() -> None:
    assert LedgerRun(counts={}, calls=4, accepted=0).provider_down
    assert not LedgerRun(counts={}, calls=4, accepted=1).provider_down
    assert not LedgerRun(counts={}, calls=0, accepted=0).provider_down


def test_ledger_retries_up_to_the_limit_then_retry_failed_sends(store: Store) -> None:
    ed = make_edition(store)
    clock = [NOW]
    led = Ledger(store, clock=lambda: clock[0],
                 retry=RetryPolicy(max_attempts=2, base_delay=timedelta(minutes=1)))
    subs = add_subscribers(store, 4)
    led.queue(ed, subs)
    down = MemoryTransport([DeliveryState.QUEUED] * 10)
    done = led.deliver(ed, list_name="world", transport=down, compose=compose)
    assert done.counts == {"queued": 4} and done.provider_down and done.calls == 4
    assert not edition_complete(done.counts)
    clock[0] += timedelta(minutes=2)
    done = led.deliver(ed, list_name="world", transport=down, compose=compose)
    assert done.counts == {"failed": 4}
    assert {r.last_error for r in store.deliveries_in(ed, ["failed"])} == {
        "gave up after 2 attempts: scripted queued"
    }
    assert edition_complete(done.counts) and store.unfinished_editions() == []
    # the provider is back: retry-failed re-opens the edition with a fresh budget
    assert led.retry_failed(ed) == 4
    assert [e.id for e in store.unfinished_editions()] == [ed]
    up = MemoryTransport()
    done = led.deliver(ed, list_name="world", transport=up, compose=compose)
    assert done.counts == {"sent": 4} and sorted(up.accepted) == sorted(s.email for s in subs)


def test_retry_commands_make_waiting_retries_due_but_keep_local_send_times(store: Store) -> None:
    ed = make_edition(store)
    led = Ledger(store, clock=lambda: NOW)
    subs = add_subscribers(store, 3)
    later = NOW + timedelta(hours=5)
    led.queue(ed, subs[:2])
    led.queue(ed, subs[2:], not_before=lambda s: later)  # local-time delivery
    led.deliver(ed, list_name="world", transport=MemoryTransport([DeliveryState.QUEUED]),
                compose=compose)
    assert store.queued_deliveries(NOW) == (0, NOW + timedelta(minutes=5))
    assert led.retry_failed(ed) == 0
    due, next_at = store.queued_deliveries(NOW)
    assert due == 2 and next_at == later


def test_a_bounce_suppresses_the_address_for_later_editions(store: Store) -> None:
    ed = make_edition(store)
    led = Ledger(store, clock=lambda: NOW)
    subs = add_subscribers(store, 2)
    led.queue(ed, subs)

    class Bouncing(MemoryTransport):
        def send(self, batch):  # type: ignore[no-untyped-def]
            out = super().send([b for b in batch if b.recipient != subs[0].email])
            return out + [
                SendOutcome(b.delivery_id, DeliveryState.FAILED, error="RCPT TO: 550 5.1.1 no such user",
                            bounced=True)
                for b in batch if b.recipient == subs[0].email
            ]

    assert led.run(ed, list_name="world", transport=Bouncing(), compose=compose) == {
        "sent": 1, "failed": 1,
    }
    assert store.is_suppressed(subs[0].email, "world")
    assert store.subscriber_by_email("world", subs[0].email).status == SubscriberStatus.BOUNCED  # type: ignore[union-attr]
    # retry-failed does not try the bounced address again: its row stays failed, counted
    held: dict[str, int] = {}
    assert led.retry_failed(ed, held=held) == 0
    assert held == {"subscriber bounced": 1}
    t = MemoryTransport()
    led.run(ed, list_name="world", transport=t, compose=compose)
    assert store.delivery_counts(ed) == {"sent": 1, "failed": 1}
    assert t.accepted == []
