"""Transports: how a batch of addressed messages leaves digest.

One small protocol (:class:`Transport`): ``send(batch)`` returns one
:class:`~digest.types.SendOutcome` per :class:`Outgoing` item, in the same order, and never
raises for a per-recipient problem (that becomes a ``FAILED``/``QUEUED``/``UNKNOWN`` outcome);
``close()`` releases connections. Implementations: ``outbox`` (files, here), ``smtp`` and
``sendgrid`` (separate modules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from digest.types import SendOutcome


@dataclass(frozen=True)
class Outgoing:
    """One message to send: the ledger row's ``delivery_id``, the envelope ``recipient``
    address, and the complete ``message`` (headers and body) from ``digest.message``."""

    delivery_id: int
    recipient: str
    message: EmailMessage


@runtime_checkable
class Transport(Protocol):
    """A way out for messages. ``name`` is the config name (``"outbox"``, ``"smtp"``, ...)."""

    name: str

    def send(self, batch: Sequence[Outgoing]) -> list[SendOutcome]:
        """Send ``batch``; return exactly one outcome per item, in order (``delivery_id`` set)."""
        ...

    def close(self) -> None:
        """Release connections or files; the transport is not used afterwards."""
        ...


__all__ = ["Outgoing", "Transport"]
