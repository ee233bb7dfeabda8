"""What the ledger learns from SMTP, message by message, and from the outbox, batch by batch:
which 5xx refuse the address for good (RCPT, DATA) and which do not (MAIL FROM); each SMTP
outcome reported as it happens, so a kill in the middle of a batch leaves only the message in
flight in doubt; an outbox kill leaves its batch in doubt, re-sent without duplicates."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from digest.config import SmtpConfig
from digest.deliver import Ledger
from digest.transports import Outgoing
from digest.transports.outbox import OutboxTransport
from digest.transports.smtp import SmtpTransport
from digest.types import DeliveryState, SendOutcome
from digest.store import Store
from tests.deliver_helpers import NOW, add_subscribers, compose, expire_leases, make_edition


class Refusing:
    """RCPT ``gone*``: 550 5.1.1; DATA to ``spam*``: 554 5.7.1; MAIL FROM ``blocked*``: 553."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if address.startswith("blocked"):
            return "553 5.7.1 Sender address rejected"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.startswith("gone"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if any(r.startswith("spam") for r in envelope.rcpt_tos):
            return "554 5.7.1 Message rejected as spam"
        return "250 2.0.0 Ok: queued"


@pytest.fixture()
def port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    controller = Controller(Refusing(), hostname="127.0.0.1", port=free)
    controller.start()
    yield free
    controller.stop()


def item(n: int, to: str, sender: str = "world@digest.example.org") -> Outgoing:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = "World news"
    m.set_content("Hello\n")
    return Outgoing(n, to, m)


class Heard:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def attempting(self, delivery_id: int) -> None:
        self.events.append(("attempting", delivery_id))

    def settled(self, outcome: SendOutcome) -> None:
        self.events.append(("settled", outcome.delivery_id))


def test_a_5xx_about_the_address_bounces_it_one_about_the_message_or_sender_does_not(
    port: int,
) -> None:
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"))
    heard = Heard()
    out = {o.delivery_id: o for o in t.send(
        [item(1, "a@example.com"), item(2, "gone@example.com"), item(3, "spam@example.com"),
         item(4, "b@example.com", sender="blocked@digest.example.org")],
        progress=heard,
    )}
    assert out[1].state == DeliveryState.SENT and not out[1].bounced
    assert out[2].state == DeliveryState.FAILED and out[2].bounced and "RCPT TO: 550 5.1.1" in (out[2].error or "")
    # a content filter's refusal is about the message: failed, the subscriber kept
    assert out[3].state == DeliveryState.FAILED and not out[3].bounced
    assert "DATA: 554 5.7.1" in (out[3].error or "")
    assert out[4].state == DeliveryState.FAILED and not out[4].bounced  # the sender, not them
    # each message reported before the next one starts
    assert heard.events == [(kind, n) for n in (1, 2, 3, 4) for kind in ("attempting", "settled")]


class Killed(BaseException):
    pass


def test_outbox_killed_mid_batch_leaves_the_batch_in_doubt_and_resending_it_duplicates_nothing(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14: the outbox syncs once per batch, so it reports the batch at once: a kill
    # while the fourth file is written leaves the whole batch in flight (none is "sent"
    # before its file is on disk); re-sending it rewrites the same files, one per delivery.
    store = Store.open(db_url)
    ed = make_edition(store)
    led = Ledger(store, clock=lambda: NOW)
    led.queue(ed, add_subscribers(store, 6))
    real = os.write
    written: list[int] = []

    def dies_on_the_fourth(fd: int, data: object) -> int:
        if len(written) == 3:
            raise Killed  # the power goes while the fourth file is written
        written.append(fd)
        return real(fd, data)  # type: ignore[arg-type]

    out = tmp_path / "out"
    monkeypatch.setattr(os, "write", dies_on_the_fourth)
    with pytest.raises(Killed):
        led.run(ed, list_name="world", transport=OutboxTransport(out), compose=compose)
    assert store.delivery_counts(ed) == {"sending": 6}
    assert not list(out.glob("*.eml"))  # nothing renamed into place before the sync
    monkeypatch.setattr(os, "write", real)
    # the restart, once the dead run's lease is over (on PostgreSQL a live worker's rows are
    # never taken over; on SQLite, this very process's rows would be at once)
    expire_leases(store)
    restarted = Ledger(store, clock=lambda: NOW + timedelta(seconds=1))
    counts = restarted.run(ed, list_name="world", transport=OutboxTransport(out), compose=compose)
    assert counts == {"unknown": 6}
    restarted.retry_unknown(ed)
    counts = restarted.run(ed, list_name="world", transport=OutboxTransport(out), compose=compose)
    assert counts == {"sent": 6}
    assert len(list(out.glob("*.eml"))) == 6  # one file per delivery, none twice
    store.close()
