"""SendGrid's permanent refusals arrive later, by the Event Webhook: a bounce, dropped or spam
report suppresses the address, and the ledger never tries it again (not on retry-failed, not
in the next edition)."""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.config import parse_config
from digest.deliver import Ledger
from digest.types import DeliveryState, Subscriber
from digest.store import Store
from tests.deliver_helpers import NOW, MemoryTransport, compose, make_edition

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _world(tmp_path: Path):  # type: ignore[no-untyped-def]
    return parse_config(
        {
            "site": {"postal_address": "1 Example Street, London, UK"},
            "sources": [{"name": "s", "title": "S", "url": "https://example.org/feed"}],
            "lists": [{"name": "world", "title": "World", "sender": "w@example.org"}],
        },
        tmp_path,
    )


def _post_events(config, store: Store, events: list[dict[str, object]]) -> None:  # type: ignore[no-untyped-def]
    """POST ``events`` to the Event Webhook, signed as SendGrid signs them."""
    from digest.web import create_app

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = json.dumps(events).encode()
    ts = str(int(NOW.timestamp()))
    sig = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    app = create_app(config, store, webhook_public_key=base64.b64encode(public).decode(),
                     clock=lambda: NOW)
    with TestClient(app) as client:
        r = client.post("/webhooks/sendgrid", content=body, headers={
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts, "Content-Type": "application/json",
        })
    assert r.status_code == 200


@pytest.mark.parametrize(("event", "reason"), [
    ("bounce", "550 5.1.1 no such user"), ("dropped", "Bounced Address"),
    ("dropped", "Invalid"), ("dropped", "Spam Reporting Address"),
    ("spamreport", "550 5.1.1 no such user"),
])
def test_provider_refusal_events_suppress_the_address_for_every_later_send(
    tmp_path: Path, db_url: str, event: str, reason: str
) -> None:
    config = _world(tmp_path)
    store = Store.open(db_url)
    ada, _ = store.add_subscriber(Subscriber("world", "ada@example.com"), now=NOW)
    bob, _ = store.add_subscriber(Subscriber("world", "bob@example.com"), now=NOW)
    led = Ledger(store, clock=lambda: NOW)
    first = make_edition(store)
    led.queue(first, [ada, bob])
    # SendGrid took both; later it reports that it could not deliver to ada
    assert led.run(first, list_name="world", transport=MemoryTransport(), compose=compose) == {"sent": 2}
    _post_events(config, store, [{"event": event, "email": "ada@example.com",
                                  "sg_event_id": f"x-{event}", "reason": reason}])
    assert store.is_suppressed("ada@example.com", "world")
    # the next edition, and a retry-failed on it, never hand ada's address to the provider
    second = make_edition(store, period="2026-02-19")
    led.queue(second, [ada, bob])
    down = MemoryTransport([DeliveryState.FAILED])
    led.run(second, list_name="world", transport=down, compose=compose)
    led.retry_failed(second)
    up = MemoryTransport()
    led.run(second, list_name="world", transport=up, compose=compose)
    assert up.accepted == ["bob@example.com"]
    assert store.delivery_counts(second) == {"sent": 1, "skipped": 1}
    store.close()


@pytest.mark.parametrize("reason", [
    "Spam Content", "Invalid SMTPAPI header", "Recipient List over Package Quota", "",
])
def test_a_drop_about_the_message_fails_the_delivery_and_keeps_every_subscriber(
    tmp_path: Path, db_url: str, reason: str
) -> None:
    """SendGrid's spam checker drops the edition for every recipient: no address is
    suppressed, each delivery is ``failed`` with the reason, and ``retry-failed`` sends it
    again (once the content is fixed) to the same subscribers."""
    from digest.transports.sendgrid import delivery_ref

    config = _world(tmp_path)
    store = Store.open(db_url)
    subs = [store.add_subscriber(Subscriber("world", f"{n}@example.com"), now=NOW)[0]
            for n in ("ada", "bob")]
    led = Ledger(store, clock=lambda: NOW)
    first = make_edition(store)
    led.queue(first, subs)
    assert led.run(first, list_name="world", transport=MemoryTransport(), compose=compose) == {"sent": 2}
    rows = store.deliveries_in(first, ["sent"])
    _post_events(config, store, [
        {"event": "dropped", "email": row.email, "sg_event_id": f"drop-{row.id}", "reason": reason,
         "digest_delivery": delivery_ref(store.secret(), row.id)}
        for row in rows
    ])
    assert not store.is_suppressed("ada@example.com", "world")
    assert not store.is_suppressed("bob@example.com", "world")
    assert {s.email for s in store.subscribers_of("world")} == {"ada@example.com", "bob@example.com"}
    failed = store.deliveries_in(first, ["failed"])
    assert len(failed) == 2 and all("SendGrid dropped" in (r.last_error or "") for r in failed)
    assert led.retry_failed(first) == 2
    up = MemoryTransport()
    led.run(first, list_name="world", transport=up, compose=compose)
    assert sorted(up.accepted) == ["ada@example.com", "bob@example.com"]
    store.close()
