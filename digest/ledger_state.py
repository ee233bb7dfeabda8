"""The delivery state machine, as pure decisions: one definition read everywhere.

Row states (``deliveries.state``, :class:`~digest.types.DeliveryState`)::

    queued ──claim──▶ claimed ──attempt──▶ sending ──▶ sent | failed | unknown
       ▲                 │ (kill: back to queued,          │ transient: queued again with
       │                 ▼  nothing was attempted)         ▼ not_before (back-off), until
       └──── retry-unknown / retry-failed ◀── unknown, failed   max_attempts, then failed

- ``queued``: waits to be sent; ``not_before`` (local send time, or a retry's back-off) may
  hold it back. A queued row with ``attempts > 0`` is a *retry*.
- ``claimed``: taken by a run, not yet handed to the provider. A kill leaves it to go back
  to ``queued`` (nothing was attempted).
- ``sending``: handed to the provider (the whole batch for SendGrid, one message at a time
  for SMTP and the outbox); the answer is not recorded yet. The next run, or
  ``retry-unknown``, makes such a row left over by a dead run ``unknown``.
- ``sent``, ``failed`` (permanent refusal, or transient ones beyond ``max_attempts``),
  ``unknown`` (the provider may have taken it) and ``skipped`` (unsubscribed or suppressed
  when claimed) are settled.

An edition is **complete** when none of its rows is open (:data:`OPEN_STATES`: queued --
retries included -- claimed or sending). Nothing stores "this edition was delivered": ``run``,
``send``, ``schedule``, ``status`` and ``deliveries`` all call :func:`edition_complete` (or
query :data:`OPEN_STATES`) on the rows as they are now, so re-queuing rows re-opens the
edition and the next run sends them.

**Leases: about processes, not about the edition's clock.** A claimed batch carries a
lease: ``lease_holder`` (the worker, ``host:pid:random``) and ``lease_expires_at``, set when
the rows are claimed and pushed forward when they are handed to the provider. Leases are
stamped and compared on the *lease clock*, never on a run's decision clock (``--at``): on
PostgreSQL the server's ``now()`` (hosts with skewed clocks agree), on SQLite the machine's
clock (:meth:`digest.store.Store.lease_now`). A ``digest send --at`` yesterday's edition and a
cron ``digest run`` on today's clock therefore see the same leases. While a lease runs, no
other worker touches the rows. When it has expired, the worker is presumed dead and
:func:`reclaim` says what its rows become, exactly as a restart of the single process would
mark them: ``claimed`` back to ``queued`` (attempt uncounted), ``sending`` to ``unknown``. On
SQLite (one machine: ``exclusive``) the holder process itself is asked: a live one's rows are
never taken over, whatever their lease says (a run under ``faketime`` cannot steal them), a
dead one's are taken at once, and only a holder that cannot be asked (another host) falls
back to the lease. :func:`worker_step` is what a ``digest worker`` does next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from digest.types import DeliveryState, SendOutcome

#: Row states that keep an edition open: the next run (or the scheduler) has work there.
OPEN_STATES: frozenset[str] = frozenset(
    {DeliveryState.QUEUED, DeliveryState.CLAIMED, DeliveryState.SENDING}
)


def edition_complete(counts: Mapping[str, int]) -> bool:
    """True when an edition's ledger ``counts`` (state -> rows) have no open row
    (:data:`OPEN_STATES`). An edition without rows is complete (nothing to deliver)."""
    return not any(counts.get(state, 0) for state in OPEN_STATES)


def edition_phase(counts: Mapping[str, int]) -> str:
    """What ``digest status`` and ``digest deliveries`` print for an edition: ``delivered``
    when :func:`edition_complete`, else ``sending``. Derived from ``counts`` each time."""
    return "delivered" if edition_complete(counts) else "sending"


#: Row states a worker holds under a lease while it works on them.
IN_FLIGHT_STATES: frozenset[str] = frozenset({DeliveryState.CLAIMED, DeliveryState.SENDING})


def lease_expired(expires_at: datetime | None, now: datetime) -> bool:
    """True when a row's lease (aware UTC ``expires_at``) is over at ``now``, a time of the
    lease clock (never a run's ``--at``): its holder is presumed dead. A row without a lease
    (written before leases existed) counts as expired."""
    return expires_at is None or expires_at <= now


def reclaim(
    state: str,
    expires_at: datetime | None,
    now: datetime,
    *,
    holder_alive: bool | None = None,
) -> DeliveryState | None:
    """What an in-flight row becomes when a worker finds it: ``QUEUED`` for a ``claimed`` row
    (never handed to the provider), ``UNKNOWN`` for a ``sending`` one (the provider may have
    taken it), or ``None`` to leave it to the worker that holds it.

    ``now`` is the lease clock's time (the database server's on PostgreSQL, the machine's on
    SQLite; never a run's ``--at``), the clock ``expires_at`` was stamped on.

    ``holder_alive`` says whether the holder process runs (:func:`digest.liveness.holder_alive`:
    on SQLite, one machine, for any holder of this host; on PostgreSQL, several machines,
    only for a holder of this boot and pid namespace): ``True``: never taken over, whatever
    the lease says (an overlapping run, on whatever clock, leaves a live run's batch alone);
    ``False``: taken over at once (a killed run is recovered without waiting out the lease);
    ``None`` (cannot be told: another host, another container): by the lease alone
    (:func:`lease_expired`).

    Rows in other states are never reclaimed (``None``)."""
    if state not in IN_FLIGHT_STATES:
        return None
    if holder_alive is True or (holder_alive is None and not lease_expired(expires_at, now)):
        return None
    return DeliveryState.QUEUED if state == DeliveryState.CLAIMED else DeliveryState.UNKNOWN


@dataclass(frozen=True)
class HeldBatch:
    """The rows in flight of one holder, as :meth:`digest.store.Store.held_batches` reads
    them: ``holder`` (``host:pid:random``, or None for rows without one), ``rows``,
    ``expires_at`` (the latest lease expiry of its rows, aware UTC on the lease clock; None:
    no lease), ``holder_alive`` (asked on SQLite only: :func:`digest.liveness.holder_alive`),
    ``reclaimable`` (:func:`reclaim` takes them over now) and ``lease_now``, the lease clock's
    time it was read at."""

    holder: str | None
    rows: int
    expires_at: datetime | None
    holder_alive: bool | None
    reclaimable: bool
    lease_now: datetime


def held_note(batch: HeldBatch) -> str:
    """Why ``batch``'s rows in flight are (or are not yet) re-queued by ``digest deliveries
    retry-unknown`` or the next run, and when they will be: one sentence for the operator,
    the same in ``digest deliveries`` and ``retry-unknown``. Times in UTC (the date too when
    it is not the lease clock's day)."""
    who = _holder_name(batch.holder)
    if batch.reclaimable:
        if batch.holder_alive is False:
            why = "whose process is gone"
        else:
            why = "whose lease has ended"
        return (f"{batch.rows} in flight held by {who} {why}: `digest deliveries retry-unknown` "
                "(or the next run) takes them over")
    until = _when(batch.expires_at, batch.lease_now)
    if batch.holder_alive is True:
        return (f"{batch.rows} in flight held by {who}, a running process: left to it whatever "
                f"its lease says (until {until}); retry when that process is gone")
    return (f"{batch.rows} in flight under a lease until {until} held by {who}; "
            "retry after that (its holder is then presumed gone)")


def _holder_name(holder: str | None) -> str:
    """``host:pid`` of a ``host:pid:random`` holder id (the id itself otherwise)."""
    if not holder:
        return "no recorded holder"
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return f"{host}:{pid}" if pid else holder


def _when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "an unknown time"
    at = at.astimezone(UTC)
    if at.date() == now.astimezone(UTC).date():
        return f"{at:%H:%M:%S} UTC"
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def may_claim(state: str, not_before: datetime | None, now: datetime) -> bool:
    """True when a row may be claimed at ``now``: ``queued`` and due (no ``not_before`` or one
    at or before ``now``). The store's claim query is this predicate in SQL."""
    return state == DeliveryState.QUEUED and (not_before is None or not_before <= now)


@dataclass(frozen=True)
class WorkerStep:
    """What a ``digest worker`` does next: ``deliver`` (due rows, or rows to reclaim, wait),
    ``wait`` until ``until`` (aware UTC: another worker's lease may expire then, or a row's
    ``not_before`` comes due) or ``idle`` (nothing open that this worker could ever take)."""

    action: Literal["deliver", "wait", "idle"]
    until: datetime | None = None


@dataclass(frozen=True)
class LedgerActivity:
    """The ledger as a worker sees it (every edition): ``due`` queued rows claimable now,
    ``reclaimable`` rows in flight that :func:`reclaim` would take over, ``held_until`` the
    earliest expiry of a live lease (None: nothing held), ``next_due`` the earliest future
    ``not_before`` of a queued row (aware UTC times)."""

    due: int = 0
    reclaimable: int = 0
    held_until: datetime | None = None
    next_due: datetime | None = None


def worker_step(activity: LedgerActivity, *, now: datetime, until_idle: bool) -> WorkerStep:
    """The next step of a worker from the ledger as it is (:class:`LedgerActivity`).

    Work first; then wait for live leases (their rows may come back, so a worker started
    with ``--until-idle`` does not leave while another one's batch is in doubt); a
    long-running worker also waits for the next ``not_before``; else it is idle."""
    if activity.due or activity.reclaimable:
        return WorkerStep("deliver")
    if activity.held_until is not None:
        return WorkerStep("wait", activity.held_until)
    if activity.next_due is not None and not until_idle:
        return WorkerStep("wait", activity.next_due)
    return WorkerStep("idle")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient refusals are retried: the n-th attempt's refusal waits
    ``base_delay * 2**(n-1)`` (at most ``max_delay``); a refusal of attempt ``max_attempts``
    fails the row with the reason."""

    max_attempts: int = 5
    base_delay: timedelta = timedelta(minutes=5)
    max_delay: timedelta = timedelta(hours=2)

    def delay(self, attempts: int) -> timedelta:
        """The back-off after ``attempts`` (>= 1) tries."""
        factor = 2 ** max(0, min(attempts - 1, 30))
        return min(self.base_delay * factor, self.max_delay)


@dataclass(frozen=True)
class RowUpdate:
    """What to record for one row after a provider outcome: its new ``state``, the
    provider's id, the error text and, for a retry, when it may go again (aware UTC)."""

    delivery_id: int
    state: DeliveryState
    provider_id: str | None = None
    error: str | None = None
    not_before: datetime | None = None


def skip_reason(status: str, suppressed: bool) -> str | None:
    """Why a claimed row is ``skipped`` instead of sent, or ``None`` to send it: its
    subscriber's ``status`` is no longer ``active`` ("subscriber unsubscribed"), or its
    address is ``suppressed`` for the list or globally ("address suppressed")."""
    if status != "active":
        return f"subscriber {status}"
    if suppressed:
        return "address suppressed"
    return None


def settle(outcome: SendOutcome, attempts: int, policy: RetryPolicy, now: datetime) -> RowUpdate:
    """The row update for a transport's ``outcome`` of a row tried ``attempts`` times
    (counting this one). ``QUEUED`` (a transient refusal) becomes a retry after
    :meth:`RetryPolicy.delay`, or ``FAILED`` ("gave up after N attempts: reason") once
    ``attempts >= policy.max_attempts``; other states are recorded as they are."""
    if outcome.state == DeliveryState.QUEUED:
        reason = outcome.error or "temporary failure"
        if attempts >= policy.max_attempts:
            return RowUpdate(
                outcome.delivery_id, DeliveryState.FAILED,
                error=f"gave up after {attempts} attempts: {reason}",
            )
        return RowUpdate(
            outcome.delivery_id, DeliveryState.QUEUED, error=reason,
            not_before=now + policy.delay(attempts),
        )
    return RowUpdate(outcome.delivery_id, outcome.state, outcome.provider_id, outcome.error)


@dataclass(frozen=True)
class LedgerRun:
    """What one :meth:`digest.deliver.Ledger.deliver` did: ``counts`` (the edition's rows per
    state afterwards), ``calls`` (messages handed to the provider in this run), ``accepted``
    (of those, ``sent``), ``interrupted`` (rows a dead run left in flight, now ``unknown``)
    and ``first_error`` (the first provider error of the run, for the report)."""

    counts: Mapping[str, int]
    calls: int = 0
    accepted: int = 0
    interrupted: int = 0
    first_error: str | None = None

    @property
    def provider_down(self) -> bool:
        """True when the run handed messages to the provider and none was accepted: the
        run failed as a whole (``digest run``/``send`` exit 1)."""
        return self.calls > 0 and self.accepted == 0


__all__ = [
    "IN_FLIGHT_STATES",
    "OPEN_STATES",
    "HeldBatch",
    "held_note",
    "LedgerActivity",
    "WorkerStep",
    "lease_expired",
    "may_claim",
    "reclaim",
    "worker_step",
    "LedgerRun",
    "RetryPolicy",
    "RowUpdate",
    "edition_complete",
    "edition_phase",
    "settle",
    "skip_reason",
]
