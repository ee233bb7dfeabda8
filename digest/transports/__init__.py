"""Transports: how a batch of messages leaves digest (outbox folder, SMTP, SendGrid).

One small protocol: :meth:`Transport.send` takes a batch of :class:`Outgoing` messages and
returns one :class:`~digest.types.SendOutcome` per message, in any order, never raising for a
per-recipient problem. A failure of the whole batch is reported as outcomes too: ``FAILED``
for a permanent refusal, ``QUEUED`` for "try later" (rate limit, 4xx SMTP reply) and
``UNKNOWN`` when the provider's answer never came (timeout, reset connection), so the ledger
can decide without guessing.

A transport with ``reports_each = True`` also accepts ``send(batch, progress=...)`` and calls
the :class:`Progress` for each message as it goes (SMTP, the outbox); the others are recorded
per batch (SendGrid: one API request carries the whole batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from digest.types import SendOutcome


@dataclass(frozen=True)
class Outgoing:
    """One message for one recipient, tied to its ledger row ``delivery_id``."""

    delivery_id: int
    recipient: str
    message: EmailMessage


class Progress(Protocol):
    """Told by a transport that sends message by message (``reports_each = True``) about
    each message as it goes, so the ledger records it at once: ``attempting(id)`` just
    before the message is handed over, ``settled(outcome)`` as soon as its answer is known.
    A kill then leaves at most the message in flight in doubt."""

    def attempting(self, delivery_id: int) -> None: ...

    def settled(self, outcome: SendOutcome) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """What the delivery ledger needs from a transport."""

    name: str

    def send(self, batch: Sequence[Outgoing]) -> list[SendOutcome]:
        """Send ``batch``; return exactly one outcome per item (matched by ``delivery_id``)."""
        ...

    def close(self) -> None:
        """Release connections; safe to call twice."""
        ...
