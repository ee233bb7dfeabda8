"""Helpers shared by the delivery tests: a store with an edition and subscribers, a simple
compose function and an in-memory transport."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from digest.store import Store
from digest.transports import Outgoing
from digest.types import DeliveryState, SendOutcome, Subscriber

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def make_edition(store: Store, list_name: str = "world", period: str = "2026-02-18") -> int:
    return store.create_edition(
        list_name=list_name, period=period, window_start=NOW - timedelta(days=1),
        window_end=NOW, now=NOW, subject="World news", preheader="", html="<p>hi</p>",
        text="hi", carried=[],
    )


def add_subscribers(store: Store, n: int, list_name: str = "world") -> list[Subscriber]:
    out = []
    for i in range(n):
        sub, _ = store.add_subscriber(
            Subscriber(list_name=list_name, email=f"user{i:06d}@example.com", name=f"User {i}"),
            now=NOW,
        )
        out.append(sub)
    return out


def bulk_subscribers(store: Store, n: int, list_name: str = "world") -> list[Subscriber]:
    """``n`` subscribers inserted in one statement (fast set-up for big lists)."""
    from sqlalchemy import insert

    from digest.store import subscribers

    rows = [
        {"list_name": list_name, "email": f"user{i:06d}@example.com",
         "email_lower": f"user{i:06d}@example.com", "name": f"User {i}", "topics": [],
         "timezone": "UTC", "status": "active", "created_at": NOW, "updated_at": NOW}
        for i in range(n)
    ]
    with store.begin() as conn:
        conn.execute(insert(subscribers), rows)
    return store.subscribers_of(list_name)


def compose(sub: Subscriber, delivery_id: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "World news <world@digest.example.org>"
    msg["To"] = sub.email
    msg["Subject"] = "World news"
    msg.set_content(f"Hello {sub.name}\n")
    return msg


class MemoryTransport:
    """Accepts everything (or answers with ``script``: a list of states, one per call)."""

    name = "memory"

    def __init__(self, script: Sequence[DeliveryState] = ()) -> None:
        self.script = list(script)
        self.accepted: list[str] = []
        self.calls = 0
        self.before: list[int] = []

    def send(self, batch: Sequence[Outgoing]) -> list[SendOutcome]:
        self.calls += 1
        state = self.script.pop(0) if self.script else DeliveryState.SENT
        if state == DeliveryState.SENT:
            self.accepted.extend(o.recipient for o in batch)
        return [
            SendOutcome(o.delivery_id, state, provider_id=f"m{o.delivery_id}" if state == "sent" else None,
                        error=None if state == "sent" else f"scripted {state}")
            for o in batch
        ]

    def close(self) -> None:
        pass


class SharedCompose:
    """A compose function that renders the parts once and shares them between recipients,
    as the pipeline does per topic choice: only To, List-Unsubscribe and the substitution
    values differ per message. Placeholders stay in the body (see transports.sendgrid)."""

    def __init__(self, html_size: int = 2000, subject: str = "World news for %%name%%") -> None:
        from email.message import MIMEPart

        self.text = MIMEPart()
        self.text.set_content("Hello %%name%%\n" + "News " * 200 + "\nUnsubscribe: %%unsubscribe_url%%\n")
        self.html = MIMEPart()
        self.html.set_content(
            "<p>Hello %%name%%</p>" + "<p>" + "x" * html_size + "</p>"
            + "<a href='%%unsubscribe_url%%'>unsubscribe</a>",
            subtype="html",
        )
        head = EmailMessage()
        head["From"] = "World news <world@digest.example.org>"
        head["Subject"] = subject
        head["MIME-Version"] = "1.0"
        head["Content-Type"] = 'multipart/alternative; boundary="==digest-alt=="'
        self.head = list(head.raw_items())

    def __call__(self, sub: Subscriber, delivery_id: int) -> EmailMessage:
        import json
        from email.utils import formataddr

        url = f"https://digest.example.org/u/t{delivery_id}"
        msg = EmailMessage()
        for name, value in self.head:
            msg.set_raw(name, value)
        msg.set_raw("To", formataddr((sub.name, sub.email)) if sub.name.isascii() else sub.email)
        msg.set_raw("List-Unsubscribe", f"<{url}>")
        msg.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        msg.set_raw("X-Digest-Substitutions", json.dumps({"name": sub.name, "unsubscribe_url": url}))
        msg.set_payload([self.text, self.html])
        return msg


def expire_leases(store: Store) -> None:
    """Let every delivery lease run out on the lease clock (the database server's or this
    machine's, :meth:`~digest.store.Store.lease_now`), as waiting out the lease would: a
    command's clock (``--at``) cannot do that any more."""
    from sqlalchemy import update

    from digest.store import deliveries

    past = store.lease_now() - timedelta(seconds=1)
    with store.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.lease_expires_at.is_not(None))
            .values(lease_expires_at=past)
        )
