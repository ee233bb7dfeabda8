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
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from digest.templated import Templated
from digest.types import SendOutcome


class Outgoing:
    """One message for one recipient, tied to its ledger row ``delivery_id``.

    ``message`` is given either whole (an ``EmailMessage``) or as a
    :class:`~digest.templated.Templated` (shared parts plus the recipient's values, what
    the pipeline composes for SendGrid); :attr:`templated` is the latter or ``None``, and
    :attr:`message` is always the whole message, built from the template on first use.
    """

    __slots__ = ("_message", "delivery_id", "recipient", "templated")

    def __init__(self, delivery_id: int, recipient: str, message: EmailMessage | Templated) -> None:
        self.delivery_id = delivery_id
        self.recipient = recipient
        self.templated: Templated | None = message if isinstance(message, Templated) else None
        whole = None if self.templated else message
        self._message: EmailMessage | None = whole  # type: ignore[assignment]

    @property
    def message(self) -> EmailMessage:
        """The whole RFC 5322 message (built from the template once, when there is one)."""
        if self._message is None:
            assert self.templated is not None
            self._message = self.templated.full()
        return self._message

    def __repr__(self) -> str:
        return f"Outgoing({self.delivery_id!r}, {self.recipient!r})"


class Progress(Protocol):
    """Told by a transport that sends message by message (``reports_each = True``) about
    each message as it goes, so the ledger records it at once: ``attempting(id)`` just
    before the message is handed over, ``settled(outcome)`` as soon as its answer is known.
    A kill then leaves at most the message in flight in doubt. ``attempting`` answering
    ``False`` means the row is no longer this sender's (another worker took it over after
    its lease ran out): the transport must not send that message, and gives it no outcome."""

    def attempting(self, delivery_id: int) -> bool | None: ...

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
