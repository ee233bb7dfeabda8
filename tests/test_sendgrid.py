"""SendGrid transport against the fake SendGrid server on loopback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path

import pytest

from digest.config import SendgridConfig
from digest.deliver import Ledger
from digest.exceptions import DeliveryError
from digest.store import Store
from digest.transports import Outgoing
from digest.transports.sendgrid import SendgridTransport, read_delivery_ref, with_substitutions
from digest.types import DeliveryState, Subscriber
from tests.deliver_helpers import NOW, SharedCompose, add_subscribers, make_edition
from tests.fake_sendgrid import FakeSendgrid

KEY = "SG.test-key-that-must-never-be-logged"
SECRET = "delivery-secret"


@pytest.fixture()
def fake() -> Iterator[FakeSendgrid]:
    with FakeSendgrid() as server:
        yield server


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    """A store on each dialect (the ledger's rows must match the requests on both)."""
    with Store.open(db_url) as s:
        yield s


def transport(fake: FakeSendgrid, sleeps: list[float] | None = None, **cfg: object) -> SendgridTransport:
    config = SendgridConfig(host=fake.url, **cfg)  # type: ignore[arg-type]
    return SendgridTransport(
        config, secret=SECRET, api_key=KEY,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        clock=fake.clock,
    )


def compose(sub: Subscriber, delivery_id: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "World news <world@digest.example.org>"
    msg["To"] = formataddr((sub.name, sub.email))
    msg["Subject"] = "World news for %%name%%"
    msg["List-Unsubscribe"] = f"<https://x.example/u/tok{delivery_id}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("Hello %%name%%\nUnsubscribe: %%unsubscribe_url%%\n")
    msg.add_alternative("<p>Hello %%name%%</p><a href='%%unsubscribe_url%%'>unsubscribe</a>",
                        subtype="html")
    return with_substitutions(
        msg, {"name": sub.name, "unsubscribe_url": f"https://x.example/u/tok{delivery_id}"}
    )


def outgoing(n: int) -> list[Outgoing]:
    shared = SharedCompose()
    return [
        Outgoing(i + 1, f"u{i}@example.com",
                 shared(Subscriber("world", f"u{i}@example.com", name=f"U{i}"), i + 1))
        for i in range(n)
    ]


def test_one_request_per_batch_with_personalisations_matching_the_ledger(
    fake: FakeSendgrid, store: Store
) -> None:
    fake.keep_bodies = True
    ed = make_edition(store)
    subs = add_subscribers(store, 250)
    store.add_subscriber(Subscriber("world", "tom@example.com", name="Tom <b>&</b> Jerry"), now=NOW)
    subs = store.subscribers_of("world")
    led = Ledger(store, clock=lambda: NOW)
    led.queue(ed, subs)
    t = transport(fake, categories=("digest", "world"), sandbox=True)
    counts = led.run(ed, list_name="world", transport=t, compose=compose, batch_size=251)
    assert counts == {"sent": 251}
    assert fake.requests == 1 == t.requests
    # the fake's log and the ledger agree, and the refs decode to the ledger's ids
    sent = store.deliveries_in(ed, ["sent"])
    assert sorted(fake.accepted_emails()) == sorted(r.email for r in sent)
    by_email = {r.email: r.id for r in sent}
    for email, ref, _ in fake.accepted:
        assert ref is not None and str(by_email[email]) != ref
        assert read_delivery_ref(SECRET, ref) == by_email[email]
    body = fake.bodies[0]
    assert body["categories"] == ["digest", "world"]
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert body["subject"] == "World news for %%name|text%%"
    text, html_part = body["content"]
    assert text["type"] == "text/plain" and "%%name|text%%" in text["value"]
    assert html_part["type"] == "text/html" and "%%name%%" in html_part["value"]
    tom = next(p for p in body["personalizations"] if p["to"][0]["email"] == "tom@example.com")
    assert tom["to"][0]["name"] == "Tom <b>&</b> Jerry"
    assert tom["substitutions"]["%%name%%"] == "Tom &lt;b&gt;&amp;&lt;/b&gt; Jerry"
    assert tom["substitutions"]["%%name|text%%"] == "Tom <b>&</b> Jerry"
    assert tom["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "X-Digest-Substitutions" not in body.get("headers", {})


def test_at_most_1000_personalisations_per_request(fake: FakeSendgrid) -> None:
    outcomes = transport(fake).send(outgoing(1500))
    assert fake.requests == 2
    assert len(outcomes) == 1500 and {o.state for o in outcomes} == {DeliveryState.SENT}


def test_different_content_goes_in_separate_requests(fake: FakeSendgrid) -> None:
    batch = outgoing(4)
    batch[3] = Outgoing(4, "u3@example.com",
                        SharedCompose(subject="Another")(Subscriber("world", "u3@example.com"), 4))
    transport(fake).send(batch)
    assert fake.requests == 2


def test_429_waits_until_the_reset_time(fake: FakeSendgrid) -> None:
    fake.script = ["429", "retry-after", "ok"]
    sleeps: list[float] = []
    outcomes = transport(fake, sleeps).send(outgoing(3))
    assert {o.state for o in outcomes} == {DeliveryState.SENT}
    assert fake.requests == 3
    assert 0 < sleeps[0] <= 1.0 and sleeps[1] == 2.0


def test_429_for_too_long_leaves_rows_queued(fake: FakeSendgrid) -> None:
    fake.mode = "429"
    outcomes = transport(fake, []).send(outgoing(2))
    assert {o.state for o in outcomes} == {DeliveryState.QUEUED}
    assert fake.accepted == []


@pytest.mark.parametrize("mode", ["502", "reset"])
def test_gateway_5xx_and_reset_are_unknown(fake: FakeSendgrid, mode: str) -> None:
    fake.mode = mode
    outcomes = transport(fake).send(outgoing(3))
    assert {o.state for o in outcomes} == {DeliveryState.UNKNOWN}
    assert all(o.error for o in outcomes)


def test_5xx_with_sendgrids_error_document_is_a_refusal_to_retry(fake: FakeSendgrid) -> None:
    fake.mode = "500"
    outcomes = transport(fake).send(outgoing(3))
    assert {o.state for o in outcomes} == {DeliveryState.QUEUED}
    assert all(o.error and "SendGrid 500: internal error" in o.error for o in outcomes)
    assert fake.accepted == []


def test_no_answer_times_out_as_unknown(fake: FakeSendgrid) -> None:
    fake.mode = "hang"
    outcomes = transport(fake, timeout=0.5).send(outgoing(2))
    assert {o.state for o in outcomes} == {DeliveryState.UNKNOWN}
    assert "timeout" in (outcomes[0].error or "") or "timed out" in (outcomes[0].error or "")
    assert len(fake.accepted) == 2  # the provider took them: unknown is the honest answer


def test_400_fails_the_named_recipient_and_sends_the_others(fake: FakeSendgrid) -> None:
    fake.script = ["400", "ok"]
    outcomes = {o.delivery_id: o for o in transport(fake).send(outgoing(3))}
    assert outcomes[2].state == DeliveryState.FAILED
    assert "valid address" in (outcomes[2].error or "")
    assert outcomes[1].state == outcomes[3].state == DeliveryState.SENT
    assert sorted(fake.accepted_emails()) == ["u0@example.com", "u2@example.com"]


def test_401_fails_every_row_with_the_reason(fake: FakeSendgrid) -> None:
    fake.mode = "401"
    outcomes = transport(fake).send(outgoing(2))
    assert {o.state for o in outcomes} == {DeliveryState.FAILED}
    assert "authorization grant" in (outcomes[0].error or "")


def test_connection_refused_is_queued_not_unknown() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = SendgridConfig(host=f"http://127.0.0.1:{port}")  # type: ignore[arg-type]
    t = SendgridTransport(config, secret=SECRET, api_key=KEY)
    outcomes = t.send(outgoing(2))
    assert {o.state for o in outcomes} == {DeliveryState.QUEUED}


def test_api_key_never_reaches_the_logs(fake: FakeSendgrid, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script = ["400", "ok"]
    transport(fake).send(outgoing(3))
    assert fake.auth_seen[0] == f"Bearer {KEY}"  # the key was really used
    assert any("HEADERS" in r.getMessage() for r in caplog.records)  # the client did log
    assert KEY not in caplog.text
    assert "test-key" not in caplog.text
    assert "u1@example.com" not in caplog.text  # payloads are not logged either


def test_missing_api_key_is_a_delivery_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    with pytest.raises(DeliveryError, match="SENDGRID_API_KEY"):
        SendgridTransport(SendgridConfig(), secret=SECRET)
