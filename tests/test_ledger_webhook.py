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


@pytest.mark.parametrize("event", ["bounce", "dropped", "spamreport"])
def test_provider_refusal_events_suppress_the_address_for_every_later_send(
    tmp_path: Path, db_url: str, event: str
) -> None:
    from digest.web import create_app

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = parse_config(
        {
            "site": {"postal_address": "1 Example Street, London, UK"},
            "sources": [{"name": "s", "title": "S", "url": "https://example.org/feed"}],
            "lists": [{"name": "world", "title": "World", "sender": "w@example.org"}],
        },
        tmp_path,
    )
    store = Store.open(db_url)
    ada, _ = store.add_subscriber(Subscriber("world", "ada@example.com"), now=NOW)
    bob, _ = store.add_subscriber(Subscriber("world", "bob@example.com"), now=NOW)
    led = Ledger(store, clock=lambda: NOW)
    first = make_edition(store)
    led.queue(first, [ada, bob])
    # SendGrid took both; later it reports that it could not deliver to ada
    assert led.run(first, list_name="world", transport=MemoryTransport(), compose=compose) == {"sent": 2}
    body = json.dumps([{"event": event, "email": "ada@example.com", "sg_event_id": f"x-{event}",
                        "reason": "550 5.1.1 no such user"}]).encode()
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
