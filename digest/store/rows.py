"""Typed values the store returns (frozen dataclasses; no dict shapes to parse)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, Self

from digest.ledger_state import OPEN_STATES, edition_complete, edition_phase, skip_reason
from digest.types import Subscriber

#: The stored status of an edition (``editions.status``): built, handed to the ledger, done.
EditionStatus = Literal["built", "sending", "sent"]


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about a source between polls."""

    name: str
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    last_fetch_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_new_at: datetime | None = None
    error_count: int = 0
    not_modified_count: int = 0
    redirect_to: str | None = None
    redirect_count: int = 0
    next_poll_at: datetime | None = None
    disabled_reason: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class Claim:
    """A ledger row a run claimed: its id, the subscriber, and ``attempts`` counting this one."""

    delivery_id: int
    subscriber: Subscriber
    attempts: int


@dataclass(frozen=True)
class EditionRow:
    """An edition as stored (without its HTML and text)."""

    id: int
    list_name: str
    period: str
    window_start: datetime
    window_end: datetime
    created_at: datetime
    status: str
    subject: str
    story_count: int


class _Tally(Mapping[str, int]):
    """Rows per state as a frozen dataclass with one ``int`` field per state (0 when none).

    Read the fields (``counts.sent``). It is also a read-only mapping of the states with
    rows (``{"sent": 5}``; zero states are left out), which is what the pure decisions of
    :mod:`digest.ledger_state` take and what a report stores; equal to such a dict.
    """

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, int]]) -> Self:
        """The tally of ``(state, rows)`` pairs (a GROUP BY result). A state that is not a
        field is left out (the schema allows only the known ones)."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values: dict[str, int] = {}
        for state, n in pairs:
            if state in known:
                values[state] = values.get(state, 0) + int(n)
        return cls(**values)

    @property
    def total(self) -> int:
        """Rows in every state."""
        return sum(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]

    def nonzero(self) -> tuple[tuple[str, int], ...]:
        """``(state, rows)`` for the states with rows, by state name."""
        return tuple(sorted(
            (f.name, getattr(self, f.name)) for f in fields(self)  # type: ignore[arg-type]
            if getattr(self, f.name)
        ))

    def __getitem__(self, state: str) -> int:
        value = getattr(self, state, 0) if state in self._names() else 0
        if not value:
            raise KeyError(state)
        return int(value)

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _n in self.nonzero()])

    def __len__(self) -> int:
        return len(self.nonzero())

    @classmethod
    def _names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class StateCounts(_Tally):
    """Ledger rows per :class:`~digest.types.DeliveryState` (of one edition, or of all)."""

    queued: int = 0
    claimed: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0

    @property
    def open(self) -> int:
        """Rows that keep an edition open (:data:`digest.ledger_state.OPEN_STATES`)."""
        return sum(self.get(state, 0) for state in OPEN_STATES)

    @property
    def complete(self) -> bool:
        """True when no row is open (:func:`digest.ledger_state.edition_complete`)."""
        return edition_complete(self)

    @property
    def phase(self) -> str:
        """``delivered`` or ``sending`` (:func:`digest.ledger_state.edition_phase`)."""
        return edition_phase(self)


@dataclass(frozen=True, eq=False)
class SubscriberCounts(_Tally):
    """Subscribers of a list per :class:`~digest.types.SubscriberStatus`."""

    active: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0


@dataclass(frozen=True)
class DeliveryRow:
    """One ledger row with its subscriber's address (times aware UTC), the subscriber's
    ``status`` and whether the address is ``suppressed`` (for its list or every list)."""

    id: int
    edition_id: int
    subscriber_id: int
    email: str
    state: str
    attempts: int
    provider_id: str | None
    last_error: str | None
    updated_at: datetime
    status: str = "active"
    suppressed: bool = False

    @property
    def kept_reason(self) -> str | None:
        """Why ``retry-unknown`` / ``retry-failed`` leave this row as it is, or ``None`` when
        they re-queue it: the subscriber's ``status`` and whether the address is
        ``suppressed`` now, by :func:`digest.ledger_state.skip_reason` (the rule the
        commands themselves apply)."""
        return skip_reason(self.status, self.suppressed)


@dataclass(frozen=True)
class EditionOverview:
    """An edition with ledger rows: its rows per state and the phase derived from them."""

    edition_id: int
    list_name: str
    period: str
    counts: StateCounts

    @property
    def status(self) -> str:
        """``delivered`` or ``sending``, derived from :attr:`counts` each time."""
        return self.counts.phase


@dataclass(frozen=True)
class EditionParts:
    """The stored parts of an edition: what the archive shows and its feed carries."""

    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True)
class ListOutcome:
    """What a ``send`` or ``run`` report says about one list's edition."""

    list_name: str
    status: str | None
    period: str | None
    message: str
    deliveries: Mapping[str, int]

    @property
    def ok(self) -> bool:
        """False when the edition ``failed`` or was ``missed``."""
        return self.status not in ("failed", "missed")


@dataclass(frozen=True)
class RunRecord:
    """One stored run report. ``report`` is the JSON document the run wrote (its keys
    depend on ``kind``: ``poll``, ``send``, ``run``); :meth:`list_outcomes` reads the
    per-list part of it."""

    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    ok: bool
    report: Mapping[str, Any]

    @property
    def at(self) -> datetime:
        """When the run ended (its start when it has no end)."""
        return self.finished_at or self.started_at

    def list_outcomes(self) -> tuple[ListOutcome, ...]:
        """The lists a ``send`` or ``run`` report names, in report order (none for other
        kinds or malformed reports: a bad report never breaks ``status``)."""
        report = self.report if isinstance(self.report, Mapping) else {}
        if self.kind == "send" and report.get("list_name"):
            items: list[Any] = [report]
        elif self.kind == "run":
            items = list(report.get("lists") or [])
        else:
            return ()
        found = []
        for item in items:
            if not isinstance(item, Mapping) or not item.get("list_name"):
                continue
            deliveries = item.get("deliveries")
            found.append(
                ListOutcome(
                    list_name=str(item["list_name"]),
                    status=item.get("status"),
                    period=item.get("period"),
                    message=str(item.get("message") or ""),
                    deliveries=dict(deliveries) if isinstance(deliveries, Mapping) else {},
                )
            )
        return tuple(found)


@dataclass(frozen=True)
class LeaseRow:
    """Who holds a lease and until when (aware UTC times)."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        """True when the holder stopped renewing before ``now``: anyone may take it over."""
        return self.expires_at < now


@dataclass(frozen=True)
class UnmatchedEvent:
    """A provider event about a message that matched no delivery row (no signed delivery
    reference, and no sent row to that ``email`` under its message id): ``kind`` (SendGrid's
    ``dropped``), the address, the provider's ``reason``, its ``message_id`` (may be empty)
    and when it arrived (aware UTC). Kept for ``digest deliveries`` to show the operator,
    since no row records that the edition never reached this address."""

    kind: str
    email: str
    reason: str
    message_id: str
    at: datetime
