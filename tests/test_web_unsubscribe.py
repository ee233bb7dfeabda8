"""Unsubscribe and preferences pages, and the SendGrid Event Webhook."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from digest.config import Config, parse_config
from digest.deliver import Ledger
from digest.store import Store
from digest.tokens import make_token
from digest.transports.sendgrid import delivery_ref
from digest.types import Subscriber, SubscriberStatus
from digest.web import create_app
from tests.deliver_helpers import NOW, MemoryTransport, compose, make_edition


def config(tmp_path: Path) -> Config:
    return parse_config(
        {
            "site": {"postal_address": "1 Example Street, London, UK"},
            "sources": [{"name": "s", "title": "S", "url": "https://example.org/feed"}],
            "topics": [
                {"name": "europe", "title": "Europe & <friends>"},
                {"name": "asia", "title": "Asia"},
            ],
            "lists": [{"name": "world", "title": "World", "sender": "w@example.org",
                       "topics": ["europe", "asia"]}],
        },
        tmp_path,
    )


@pytest.fixture()
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def env(
    db_url: str, tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> Iterator[tuple[TestClient, Store, Subscriber]]:
    store = Store.open(db_url)
    sub, _ = store.add_subscriber(
        Subscriber("world", "Ada@Example.com", name="<script>alert(1)</script>"), now=NOW
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = create_app(config(tmp_path), store, webhook_public_key=base64.b64encode(public).decode(),
                     clock=lambda: NOW)
    with TestClient(app) as client:
        yield client, store, sub
    store.close()


def token(store: Store, sub: Subscriber) -> str:
    assert sub.id is not None
    return make_token(store.secret(), sub.id)


def status(store: Store, sub: Subscriber) -> SubscriberStatus:
    assert sub.id is not None
    found = store.subscriber(sub.id)
    assert found is not None
    return found.status


def test_get_shows_a_confirm_page_and_never_unsubscribes(env) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    for _ in range(3):
        r = client.get(f"/u/{token(store, sub)}")
        assert r.status_code == 200
        assert "<form method=post" in r.text and "List-Unsubscribe" in r.text
    assert status(store, sub) == SubscriberStatus.ACTIVE
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "script-src" not in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"


def test_one_click_post_unsubscribes_at_once_without_cookies_idempotently(env) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    tok = token(store, sub)
    r = client.post(f"/u/{tok}", content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    assert "set-cookie" not in r.headers
    assert status(store, sub) == SubscriberStatus.UNSUBSCRIBED
    # again, and as multipart/form-data (RFC 8058 says SHOULD): still fine, still unsubscribed
    r = client.post(f"/u/{tok}", files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200
    assert status(store, sub) == SubscriberStatus.UNSUBSCRIBED


def test_post_without_the_one_click_body_changes_nothing(env) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    r = client.post(f"/u/{token(store, sub)}", content=b"x=y",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    assert status(store, sub) == SubscriberStatus.ACTIVE


def test_tampered_and_unknown_tokens_get_the_same_answer(env) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    good = token(store, sub)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    unknown = make_token(store.secret(), 999_999)
    foreign = make_token("someone-else", sub.id)  # type: ignore[arg-type]
    answers = set()
    for bad in (tampered, unknown, foreign, "nonsense"):
        for method in ("get", "post"):
            r = getattr(client, method)(f"/u/{bad}")
            answers.add((r.status_code, r.text))
    assert len(answers) == 1 and next(iter(answers))[0] == 400
    assert status(store, sub) == SubscriberStatus.ACTIVE


def test_expired_token_gets_the_same_answer(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    store = Store.open(db_url)
    sub, _ = store.add_subscriber(Subscriber("world", "old@example.com"), now=NOW)
    app = create_app(config(tmp_path), store, clock=lambda: NOW, token_max_age=3600)
    tok = token(store, sub)
    with TestClient(app) as client:
        assert client.get(f"/u/{tok}").status_code == 200
        later = time.time() + 7200
        monkeypatch.setattr(time, "time", lambda: later)
        expired = client.get(f"/u/{tok}")
        bad = client.get("/u/nonsense")
        assert expired.status_code == 400 and expired.text == bad.text
    store.close()


def test_echoed_values_are_escaped(env) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    r = client.get(f"/p/{token(store, sub)}")
    assert "Europe &amp; &lt;friends&gt;" in r.text
    assert "<script>" not in r.text


def test_preferences_change_topics(env) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    r = client.post(f"/p/{token(store, sub)}", content=b"topic=asia&topic=bogus",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "Saved" in r.text
    assert store.subscriber(sub.id).topics == ("asia",)  # type: ignore[union-attr]
    assert "value='asia' checked" in r.text


def test_unsubscribe_during_a_slow_send_stops_the_next_message(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    others = [store.add_subscriber(Subscriber("world", f"o{i}@example.com"), now=NOW)[0] for i in range(3)]
    ed = make_edition(store)
    led = Ledger(store, clock=lambda: NOW)
    led.queue(ed, [*others, sub])  # Ada is last

    def hook(point: str, ids: list[int]) -> None:
        if point == "accepted" and t.calls == 1:  # she clicks while the first batch is out
            client.post(f"/u/{token(store, sub)}", content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})

    t = MemoryTransport()
    led._hook = hook
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=2)
    assert sub.email not in t.accepted
    assert counts == {"sent": 3, "skipped": 1}


# -- webhook -------------------------------------------------------------------------------


def signed(key: ec.EllipticCurvePrivateKey, events: list[dict], ts: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    sig = key.sign(str(ts).encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(ts),
        "Content-Type": "application/json",
    }


def test_webhook_applies_signed_events_once(env, key) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    ed = make_edition(store)
    Ledger(store, clock=lambda: NOW).queue(ed, [sub])
    (row,) = store.deliveries_in(ed, ["queued"])
    ref = delivery_ref(store.secret(), row.id)
    events = [
        {"event": "bounce", "type": "bounce", "email": "ada@example.com", "sg_event_id": "e1",
         "digest_delivery": ref, "reason": "550 no such user"},
        {"event": "spamreport", "email": "spam@example.com", "sg_event_id": "e2"},
        {"event": "unsubscribe", "email": "Ada@example.com", "sg_event_id": "e5",
         "digest_delivery": ref},
        {"event": "bounce", "type": "blocked", "email": "soft@example.com", "sg_event_id": "e3"},
        {"event": "delivered", "email": "ok@example.com", "sg_event_id": "e4"},
    ]
    body, headers = signed(key, events, int(NOW.timestamp()))
    r = client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"applied": 5, "duplicates": 0}
    assert store.is_suppressed("ADA@example.com", "world")
    assert store.is_suppressed("spam@example.com", "world")
    assert not store.is_suppressed("soft@example.com", "world")
    assert not store.is_suppressed("ok@example.com", "world")
    assert status(store, sub) == SubscriberStatus.BOUNCED
    assert store.setting("sendgrid:soft_bounces") == "1"
    # the same events again (SendGrid retries): nothing applied twice
    r = client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert r.json() == {"applied": 0, "duplicates": 5}
    assert store.setting("sendgrid:soft_bounces") == "1"


def test_webhook_unsubscribe_is_for_the_list_of_the_delivery(env, key) -> None:  # type: ignore[no-untyped-def]
    client, store, sub = env
    ed = make_edition(store)
    Ledger(store, clock=lambda: NOW).queue(ed, [sub])
    (row,) = store.deliveries_in(ed, ["queued"])
    events = [{"event": "unsubscribe", "email": "ada@example.com", "sg_event_id": "u9",
               "digest_delivery": delivery_ref(store.secret(), row.id)}]
    body, headers = signed(key, events, int(NOW.timestamp()))
    assert client.post("/webhooks/sendgrid", content=body, headers=headers).status_code == 200
    assert store.is_suppressed("ada@example.com", "world")
    assert not store.is_suppressed("ada@example.com", "another-list")
    assert status(store, sub) == SubscriberStatus.UNSUBSCRIBED


def test_webhook_refuses_bad_signatures_and_stale_timestamps(env, key) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = env
    events = [{"event": "unsubscribe", "email": "x@example.com", "sg_event_id": "u1"}]
    body, headers = signed(key, events, int(NOW.timestamp()))
    forged = body.replace(b"x@example.com", b"y@example.com")
    assert client.post("/webhooks/sendgrid", content=forged, headers=headers).status_code == 403
    other = ec.generate_private_key(ec.SECP256R1())
    body2, headers2 = signed(other, events, int(NOW.timestamp()))
    assert client.post("/webhooks/sendgrid", content=body2, headers=headers2).status_code == 403
    old = int((NOW - timedelta(minutes=6)).timestamp())
    body3, headers3 = signed(key, events, old)
    assert client.post("/webhooks/sendgrid", content=body3, headers=headers3).status_code == 403
    assert client.post("/webhooks/sendgrid", content=body).status_code == 403
    assert not store.is_suppressed("x@example.com", "world")
    assert not store.is_suppressed("y@example.com", "world")
