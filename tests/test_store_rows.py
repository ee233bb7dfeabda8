"""The store returns typed rows, never dict shapes: what status, the web app, the CLI and
the ledger read are attributes of frozen dataclasses."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime, timedelta

import pytest

from digest.ledger_state import RowUpdate, edition_complete
from digest.store import (
    DeliveryRow,
    EditionOverview,
    EditionParts,
    LeaseRow,
    RunRecord,
    SourceState,
    StateCounts,
    Store,
    SubscriberCounts,
)
from digest.types import DeliveryState, Subscriber, SubscriberStatus

NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)

#: Methods that return a mapping keyed by data (a name, a topic choice, a day): a lookup
#: table of typed values, not a row in dict shape.
KEYED = {
    "source_states": "name -> SourceState",
    "variants": "topic choice -> RenderedEdition",
    "sent_entries": "(source, entry_id) -> period",
    "entry_days": "source -> day -> entries",
    "latest_entry_times": "source -> datetime",
}


def test_no_store_method_promises_a_dict_row() -> None:
    offenders = []
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        if name.startswith("_") or name in KEYED:
            continue
        returns = str(inspect.signature(method).return_annotation)
        if "dict[" in returns or "Mapping[" in returns or returns in ("dict", "Any"):
            offenders.append(f"{name} -> {returns}")
    assert offenders == []


@pytest.fixture()
def store(db_url: str) -> Store:
    s = Store.open(db_url)  # SQLite and PostgreSQL (tests/conftest.py)
    yield s
    s.close()


def _populated(store: Store) -> int:
    subs = [
        store.add_subscriber(Subscriber("world", f"r{i}@example.org"), now=NOW)[0] for i in range(4)
    ]
    store.add_subscriber(
        Subscriber("world", "gone@example.org", status=SubscriberStatus.UNSUBSCRIBED), now=NOW
    )
    edition_id = store.create_edition(
        list_name="world", period="2026-02-18", window_start=NOW - timedelta(days=1),
        window_end=NOW, now=NOW, subject="World", preheader="Also", html="<p>h</p>", text="h",
        carried=[], recipients=[(s.id, None) for s in subs if s.id is not None],
    )
    claims = store.claim_deliveries(edition_id, list_name="world", limit=3, now=NOW)
    store.mark_sending([c.delivery_id for c in claims], now=NOW)
    store.record_outcomes(
        [
            RowUpdate(claims[0].delivery_id, DeliveryState.SENT, provider_id="p-1"),
            RowUpdate(claims[1].delivery_id, DeliveryState.FAILED, error="refused"),
            RowUpdate(claims[2].delivery_id, DeliveryState.UNKNOWN, error="timeout"),
        ],
        now=NOW,
    )
    return edition_id


def _typed(value: object, cls: type) -> None:
    assert isinstance(value, cls) and dataclasses.is_dataclass(value), value
    assert not isinstance(value, dict)


def test_ledger_reads_are_typed(store: Store) -> None:
    edition_id = _populated(store)
    counts = store.delivery_counts(edition_id)
    _typed(counts, StateCounts)
    assert (counts.queued, counts.sent, counts.failed, counts.unknown) == (1, 1, 1, 1)
    assert counts.open == 1 and not counts.complete and counts.phase == "sending"
    # the pure decisions still take it as a mapping of the states with rows
    assert not edition_complete(counts) and dict(counts) == {
        "queued": 1, "sent": 1, "failed": 1, "unknown": 1
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        counts.sent = 5  # type: ignore[misc]
    _typed(store.delivery_states(), StateCounts)
    assert store.delivery_states().total == 4

    (failed,) = store.deliveries_in(edition_id, ["failed"])
    _typed(failed, DeliveryRow)
    assert failed.state == "failed" and failed.last_error == "refused" and failed.attempts == 1
    assert failed.email.endswith("@example.org") and failed.updated_at.tzinfo is not None
    with pytest.raises(TypeError):
        failed["email"]  # type: ignore[index]

    (overview,) = store.delivery_overview()
    _typed(overview, EditionOverview)
    assert overview.edition_id == edition_id and overview.list_name == "world"
    assert overview.status == "sending" and overview.counts == counts


def test_edition_subscriber_run_and_lease_reads_are_typed(store: Store) -> None:
    edition_id = _populated(store)
    parts = store.edition_parts(edition_id)
    _typed(parts, EditionParts)
    assert (parts.subject, parts.preheader, parts.html, parts.text) == ("World", "Also", "<p>h</p>", "h")

    tally = store.subscriber_counts("world")
    _typed(tally, SubscriberCounts)
    assert (tally.active, tally.unsubscribed, tally.bounced) == (4, 1, 0)
    assert tally.nonzero() == (("active", 4), ("unsubscribed", 1))

    store.record_run(
        "send", started_at=NOW, finished_at=NOW + timedelta(seconds=3), ok=False,
        report={"list_name": "world", "period": "2026-02-18", "status": "failed",
                "message": "provider down", "deliveries": {"failed": 1}},
    )
    store.record_run("run", started_at=NOW, finished_at=None, ok=True, report={"lists": [3, {}]})
    run, send = store.last_runs(limit=2)
    _typed(send, RunRecord)
    assert send.kind == "send" and not send.ok and send.at == NOW + timedelta(seconds=3)
    (outcome,) = send.list_outcomes()
    assert (outcome.list_name, outcome.status, outcome.ok) == ("world", "failed", False)
    assert outcome.deliveries == {"failed": 1}
    assert run.at == NOW and run.list_outcomes() == ()  # a malformed report reads as none

    assert store.lease("scheduler") is None
    assert store.take_lease("scheduler", "me", now=NOW, expires_at=NOW + timedelta(minutes=1))
    lease = store.lease("scheduler")
    _typed(lease, LeaseRow)
    assert lease.holder == "me" and not lease.expired(NOW) and lease.expired(NOW + timedelta(hours=1))


def test_sources_are_written_by_named_methods(store: Store) -> None:
    assert not hasattr(store, "record_source")  # no raw-column writer left
    store.save_source_state(
        SourceState("dawn", last_status="gone", error_count=3, disabled_reason="410 Gone",
                    next_poll_at=NOW)
    )
    assert store.source_state("dawn").disabled_reason == "410 Gone"
    store.enable_source("dawn")
    state = store.source_state("dawn")
    assert (state.disabled_reason, state.error_count, state.next_poll_at) == (None, 0, None)
    assert state.last_status == "gone"  # the rest of what was remembered stays
