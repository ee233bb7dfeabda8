"""The delivery ledger: every eligible subscriber gets an edition, and nobody gets it twice.

One ``deliveries`` row per (edition, subscriber); its states and the one definition of a
complete edition are in :mod:`digest.ledger_state`. A run repeats, batch by batch:

1. **claim** (one transaction): up to ``batch_size`` due ``queued`` rows become ``claimed``;
   rows whose subscriber left or
   whose address is suppressed become ``skipped`` instead (the unsubscribe/suppression
   re-check happens here, so it takes effect before the next message);
2. **compose** each claimed row's message (a failure there fails that row only);
3. **send** through the transport (the only step outside the database). Rows become
   ``sending`` just before they are handed over: the whole batch for a transport that takes
   a batch at once (SendGrid, the outbox); one by one for a transport that goes message by
   message (SMTP), which also reports each outcome so it is recorded as soon as it is known;
4. **record** (one transaction for what is left): each row becomes ``sent``, ``failed``
   (permanent, with the reason), ``unknown`` (the provider's answer never came) or, for a
   transient refusal (SMTP 4xx, SendGrid 429 or a 5xx refusal, an outbox write error such as
   a full disk), ``queued`` again with a back-off ``not_before``
   (:class:`~digest.ledger_state.RetryPolicy`) until ``max_attempts``, then ``failed`` with
   the reason. A permanent refusal of the address (SMTP 5xx on RCPT or DATA) also
   suppresses it.

A crash between 1 and 4 leaves rows in ``sending``; the next run turns them into ``unknown``
first, since whether the provider took them cannot be known (``claimed`` rows, never handed
over, just go back to ``queued``). ``unknown`` rows are not sent again unless the operator
asks (:meth:`Ledger.retry_unknown`, ``digest deliveries retry-unknown``) or the
``delivery.resend_unknown`` policy says so; ``failed`` ones on ``digest deliveries
retry-failed``. Both re-open the edition, so the next ``run``/``schedule`` sends them. The
worst case after a crash is one batch in doubt through SendGrid (one request per batch) and
one message through SMTP -- never a whole run re-sent (rss2email) or a batch lost (listmonk
checkpointing at fetch time).

After ``max_consecutive_failures`` batches in a row with no message accepted, the run pauses
and leaves the remaining rows ``queued``. A run that handed messages to the provider and had
none accepted is a failed run (:attr:`~digest.ledger_state.LedgerRun.provider_down`).

On PostgreSQL several workers (``digest worker``, ``digest deliver --workers N``, the
scheduler) may deliver one edition side by side: claims use ``SKIP LOCKED`` and a claimed
batch carries a lease (``lease_holder``, ``lease_expires_at``: claimed for ``lease``, renewed
when handed to the provider). A run takes over only the rows whose lease expired
(:func:`digest.ledger_state.reclaim`), so a live worker's batch is never marked ``unknown``
under it, and a dead one's rows come back after the lease, marked as a restart would mark
them. Leases are stamped and compared on the lease clock (the database server's on
PostgreSQL, the machine's on SQLite), never on ``--at``. On SQLite (one machine) a run takes
over the rows in flight whose holder process is gone at once, and never those of a holder
that still runs, whatever their lease says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage

from digest.exceptions import DigestError
from digest.lease import holder_id
from digest.ledger_state import LedgerRun, RetryPolicy, RowUpdate, settle
from digest.store import Claim, DeliveryRow, Store
from digest.templated import Templated
from digest.transports import Outgoing, Transport
from digest.types import DeliveryState, SendOutcome, Subscriber, SubscriberStatus

log = logging.getLogger("digest.deliver")

#: Names of the points a test hook is called at, in order, once per batch.
HOOK_POINTS = ("claimed", "before_send", "accepted", "committed")

Compose = Callable[[Subscriber, int], EmailMessage | Templated]
"""``compose(subscriber, delivery_id)``: the whole message, or a
:class:`~digest.templated.Templated` one (shared parts plus the recipient's values)."""

_KNOWN_STATES = (
    DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNKNOWN, DeliveryState.QUEUED,
)


class Ledger:
    """Crash-safe sending of editions through a :class:`~digest.transports.Transport`.

    ``clock`` returns the current aware UTC time of the run's decisions (a command's
    ``--at``): when rows are due, ``updated_at``, retries' back-off. Leases are not on it:
    the store stamps and compares them on the lease clock
    (:meth:`~digest.store.Store.lease_now`: the PostgreSQL server's, or this machine's), so
    runs on different ``--at`` clocks agree on who holds what. ``retry`` is the
    back-off and attempt limit for transient refusals. ``resend_unknown`` is the policy for rows whose outcome is unknown: False
    (default) leaves them for the operator; True re-queues them at the start of each run.
    ``holder`` names this worker in the rows it claims (``host:pid:random`` by default) and
    ``lease`` is how long a claimed batch is its own before others may take it over: longer
    than one provider request can take (its timeout) and the composing of one batch.
    ``_hook`` is for tests only: called with one of :data:`HOOK_POINTS` and the batch's
    delivery ids.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        retry: RetryPolicy | None = None,
        resend_unknown: bool = False,
        holder: str | None = None,
        lease: timedelta = timedelta(seconds=300),
        _hook: Callable[[str, list[int]], None] | None = None,
    ) -> None:
        self.store = store
        self.holder = holder or holder_id()
        self.lease = lease
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.resend_unknown = resend_unknown
        self._hook = _hook

    def queue(
        self,
        edition_id: int,
        subscribers: Sequence[Subscriber],
        *,
        not_before: Callable[[Subscriber], datetime | None] | None = None,
    ) -> int:
        """Queue ``subscribers`` (stored ones, with ids) for ``edition_id``.

        ``not_before(subscriber)`` gives the earliest time that subscriber's row may be sent
        (local-time delivery), or ``None`` for at once.

        Idempotent: a subscriber already in the ledger for this edition is left as is, so a
        restarted build never queues anyone twice. Returns how many rows were added.
        Raises :class:`DeliveryError` for a subscriber without an id.
        """
        from digest.exceptions import DeliveryError

        ids = []
        for sub in subscribers:
            if sub.id is None:
                raise DeliveryError("subscriber has no id; store it first", recipient=sub.email)
            ids.append(sub.id)
        later = {}
        if not_before is not None:
            for sub in subscribers:
                when = not_before(sub)
                if when is not None and sub.id is not None:
                    later[sub.id] = when
        added = self.store.queue_deliveries(edition_id, ids, now=self.clock(), not_before=later)
        log.info("deliver.queue edition=%s added=%d given=%d", edition_id, added, len(ids))
        return added

    def queue_list(self, edition_id: int, list_name: str) -> int:
        """Queue every active subscriber of ``list_name`` for ``edition_id``, due now, in one
        ``INSERT … SELECT`` (:meth:`~digest.store.Store.queue_list_deliveries`: no subscriber
        is loaded into Python). Idempotent like :meth:`queue`; returns how many rows were
        added."""
        added = self.store.queue_list_deliveries(edition_id, list_name, now=self.clock())
        log.info("deliver.queue edition=%s list=%s added=%d", edition_id, list_name, added)
        return added

    def retry_unknown(
        self, edition_id: int | None = None, *, held: dict[str, int] | None = None
    ) -> int:
        """Re-queue ``unknown`` rows of ``edition_id`` (or of every edition when None), due
        now; rows waiting for a retry become due now too. The next :meth:`run` (``digest
        run``, ``send``, ``schedule``) sends them. Recipients the provider did take get a
        second copy: this is the operator's decision. A row whose address has since been
        suppressed (bounce, complaint, unsubscribe) or whose subscriber is no longer active
        stays ``unknown`` (:func:`~digest.ledger_state.skip_reason`, as for
        :meth:`retry_failed`), counted per reason in ``held`` when given. Rows a killed run left in flight
        (``sending``) are unknown too and re-queued with them: on SQLite at once when
        their holder process is gone, never while it runs; on PostgreSQL only once their
        lease (``delivery.lease_seconds``, on the server's clock) has expired, since another
        worker may still be sending them (:meth:`~digest.store.Store.recover_sending`;
        :meth:`~digest.store.Store.held_batches` says which are left and until when).
        Returns how many rows were re-queued."""
        # edition by edition, so each warning names its edition (rows in flight keep theirs open)
        for edition in (
            [edition_id] if edition_id is not None
            else [row.id for row in self.store.unfinished_editions()]
        ):
            interrupted = self.store.recover_sending(edition, now=self.clock())
            if interrupted:
                log.warning(
                    "deliver.interrupted edition=%s unknown=%d first=%s",
                    edition, len(interrupted), interrupted[0],
                )
        held = {} if held is None else held
        n = self.store.requeue(edition_id, DeliveryState.UNKNOWN, now=self.clock(), held=held)
        log.info("deliver.retry_unknown edition=%s requeued=%d held=%s", edition_id, n, held)
        return n

    def retry_failed(
        self, edition_id: int | None = None, *, held: dict[str, int] | None = None
    ) -> int:
        """Re-queue ``failed`` rows (after a provider outage or a full disk), due now with a
        fresh retry budget; rows waiting for a retry become due now too. A row whose address
        is suppressed or whose subscriber is no longer active stays ``failed`` (a claim would
        only skip it; kept, it is retried once the suppression is lifted), counted per reason
        in ``held`` when given ("address suppressed": 40). Returns how many rows were
        re-queued."""
        held = {} if held is None else held
        n = self.store.requeue(edition_id, DeliveryState.FAILED, now=self.clock(), held=held)
        log.info("deliver.retry_failed edition=%s requeued=%d held=%s", edition_id, n, held)
        return n

    def unknown(self, edition_id: int | None = None) -> list[DeliveryRow]:
        """The ``unknown`` rows (with ``email`` and ``last_error``), for the operator to see."""
        return self.store.deliveries_in(edition_id, ["unknown"])

    def _call_hook(self, point: str, ids: list[int]) -> None:
        if self._hook is not None:
            self._hook(point, ids)

    def run(
        self,
        edition_id: int,
        *,
        list_name: str,
        transport: Transport,
        compose: Compose,
        batch_size: int = 100,
        max_consecutive_failures: int = 5,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, int]:
        """:meth:`deliver`, returning only the ledger's counts per state afterwards."""
        return dict(
            self.deliver(
                edition_id, list_name=list_name, transport=transport, compose=compose,
                batch_size=batch_size, max_consecutive_failures=max_consecutive_failures,
                should_stop=should_stop,
            ).counts
        )

    def deliver(
        self,
        edition_id: int,
        *,
        list_name: str,
        transport: Transport,
        compose: Compose,
        batch_size: int = 100,
        max_consecutive_failures: int = 5,
        should_stop: Callable[[], bool] | None = None,
    ) -> LedgerRun:
        """Send every due ``queued`` row of ``edition_id``; return a
        :class:`~digest.ledger_state.LedgerRun` (counts per state afterwards, provider calls
        and acceptances of this run).

        ``compose(subscriber, delivery_id)`` builds one message (RFC 5322
        ``EmailMessage``, or a :class:`~digest.templated.Templated` one for a
        transport that personalises server-side); an exception there fails that row
        only. ``batch_size`` bounds the
        recipients in doubt after a crash. Rows refused for now stay ``queued`` with a
        back-off ``not_before`` and are left for a later run. ``should_stop()`` is asked
        between batches (a SIGTERM finishes the batch in flight, then returns with the rest
        queued). Raises :class:`~digest.exceptions.StoreError` when the database fails.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        interrupted = self.store.recover_sending(edition_id, now=self.clock())
        if interrupted:
            log.warning(
                "deliver.interrupted edition=%s unknown=%d first=%s",
                edition_id, len(interrupted), interrupted[0],
            )
        if self.resend_unknown:
            self.retry_unknown(edition_id)
        if (
            self.store.delivery_counts(edition_id).queued
            and self.store.edition_status(edition_id) == "built"
        ):
            # "sending" here means "delivery has started" (the archive shows it); whether the
            # edition is complete is derived from its rows (digest.ledger_state)
            self.store.set_edition_status(edition_id, "sending", now=self.clock())
        streaming = bool(getattr(transport, "reports_each", False))
        stats = _Stats()
        failures = 0
        batches = 0
        last: int | None = None  # the last id claimed: the next claim's scan starts there
        while True:
            if should_stop is not None and should_stop():
                log.info("deliver.stopped edition=%s batches=%d", edition_id, batches)
                break
            claimed = self.store.claim_deliveries(
                edition_id, list_name=list_name, limit=batch_size, now=self.clock(),
                holder=self.holder, lease=self.lease, after=last,
            )
            if not claimed and last is not None:  # rows back in the queue behind us
                last = None
                continue
            if not claimed:
                break
            last = claimed[-1].delivery_id
            batches += 1
            ids = [c.delivery_id for c in claimed]
            self._call_hook("claimed", ids)
            states = self._batch(claimed, transport, compose, streaming, stats)
            self._call_hook("committed", ids)
            if DeliveryState.SENT in states or not states:
                failures = 0
            else:
                failures += 1
                log.warning(
                    "deliver.batch_failed edition=%s consecutive=%d states=%s",
                    edition_id, failures, sorted({str(s) for s in states}),
                )
                if failures >= max_consecutive_failures:
                    log.error(
                        "deliver.paused edition=%s after=%d consecutive failed batches",
                        edition_id, failures,
                    )
                    break
        counts = self.store.delivery_counts(edition_id)
        log.info(
            "deliver.run edition=%s batches=%d calls=%d accepted=%d counts=%s",
            edition_id, batches, stats.calls, stats.accepted, counts,
        )
        return LedgerRun(
            counts=counts, calls=stats.calls, accepted=stats.accepted,
            interrupted=len(interrupted), first_error=stats.first_error,
        )

    def _batch(
        self,
        claimed: list[Claim],
        transport: Transport,
        compose: Compose,
        streaming: bool,
        stats: _Stats,
    ) -> list[DeliveryState]:
        """Compose, send and record one claimed batch; return the recorded states."""
        attempts = {c.delivery_id: c.attempts for c in claimed}
        emails = {c.delivery_id: c.subscriber.email for c in claimed}
        recorded: dict[int, DeliveryState] = {}

        def record(outcomes: Sequence[SendOutcome], from_provider: bool = True) -> None:
            now = self.clock()
            fresh = [o for o in outcomes if o.delivery_id not in recorded]
            if not fresh:
                return
            updates = [settle(o, attempts.get(o.delivery_id, 1), self.retry, now) for o in fresh]
            self.store.record_outcomes(updates, now=now)
            for outcome, update in zip(fresh, updates, strict=True):
                recorded[update.delivery_id] = update.state
                if from_provider:
                    self._note(outcome, update, emails.get(outcome.delivery_id), stats)

        items: list[Outgoing] = []
        failed_compose: list[SendOutcome] = []
        for claim in claimed:
            try:
                message = compose(claim.subscriber, claim.delivery_id)
            except Exception as exc:  # noqa: BLE001 - a bad subscriber or template fails one row
                log.warning("deliver.compose_failed delivery=%s error=%s", claim.delivery_id, exc)
                failed_compose.append(
                    SendOutcome(claim.delivery_id, DeliveryState.FAILED, error=f"compose: {exc}")
                )
                continue
            items.append(
                Outgoing(delivery_id=claim.delivery_id, recipient=claim.subscriber.email,
                         message=message)
            )
        record(failed_compose, from_provider=False)
        self._call_hook("before_send", [o.delivery_id for o in items])
        if items:
            answers = self._send(items, transport, streaming, record)
            self._call_hook("accepted", [o.delivery_id for o in items])
            record(answers)
        return list(recorded.values())

    def _send(
        self,
        items: list[Outgoing],
        transport: Transport,
        streaming: bool,
        record: Callable[[Sequence[SendOutcome]], None],
    ) -> list[SendOutcome]:
        """Hand ``items`` to the transport; exactly one checked outcome per item."""
        store, clock, lease, holder = self.store, self.clock, self.lease, self.holder
        batch = [o.delivery_id for o in items]
        lost: set[int] = set()  # rows another worker took over: neither sent nor recorded here

        class _Progress:
            def attempting(self, delivery_id: int) -> bool:
                # one message at a time: the rest of the batch keeps its lease meanwhile
                store.renew_delivery_lease(batch, holder=holder, lease=lease)
                if store.mark_sending([delivery_id], now=clock(), lease=lease, holder=holder):
                    return True
                lost.add(delivery_id)
                log.warning("deliver.lease_lost delivery=%s holder=%s: not sent", delivery_id, holder)
                return False

            def settled(self, outcome: SendOutcome) -> None:
                if outcome.delivery_id not in lost:
                    record([_checked(outcome)])

        try:
            if streaming:
                answers = transport.send(items, progress=_Progress())  # type: ignore[call-arg]
            else:
                marked = store.mark_sending(batch, now=clock(), lease=lease, holder=holder)
                if marked < len(batch):
                    # some rows' lease ran out and another worker took them: send only ours
                    ours = store.sending_rows(batch, holder=holder)
                    lost.update(i for i in batch if i not in ours)
                    log.warning("deliver.lease_lost rows=%d holder=%s: not sent", len(lost), holder)
                    items = [o for o in items if o.delivery_id in ours]
                answers = transport.send(items) if items else []
        except Exception as exc:  # noqa: BLE001 - a transport must not raise; if it does, we cannot know
            kind = "transport error" if isinstance(exc, DigestError) else "transport crashed"
            log.error("deliver.transport_raised transport=%s error=%r", transport.name, exc)
            answers = [
                SendOutcome(o.delivery_id, DeliveryState.UNKNOWN, error=f"{kind}: {exc}")
                for o in items
            ]
        by_id = {a.delivery_id: a for a in answers}
        out = []
        for item in items:
            if item.delivery_id in lost:
                continue
            answer = by_id.get(item.delivery_id)
            if answer is None:
                answer = SendOutcome(
                    item.delivery_id, DeliveryState.UNKNOWN, error="transport gave no outcome"
                )
            out.append(_checked(answer))
        return out

    def _note(
        self, outcome: SendOutcome, update: RowUpdate, email: str | None, stats: _Stats
    ) -> None:
        """Count a provider's recorded outcome for the run; suppress a bounced address (for
        every list, as the SendGrid webhook does)."""
        stats.calls += 1
        if update.state == DeliveryState.SENT:
            stats.accepted += 1
        elif stats.first_error is None:
            stats.first_error = outcome.error
        if outcome.bounced and email:
            self.store.suppress(email, "bounce", now=self.clock(), detail=(outcome.error or "")[:500])
            sub = self.store.delivery_subscriber(outcome.delivery_id)
            if sub is not None and sub.id is not None and sub.status == SubscriberStatus.ACTIVE:
                self.store.set_subscriber_status(sub.id, SubscriberStatus.BOUNCED, now=self.clock())
            log.info("deliver.suppressed delivery=%s reason=bounce", outcome.delivery_id)


class _Stats:
    """Provider calls and acceptances of one run (mutable, private to :meth:`Ledger.deliver`)."""

    def __init__(self) -> None:
        self.calls = 0
        self.accepted = 0
        self.first_error: str | None = None


def _checked(answer: SendOutcome) -> SendOutcome:
    if answer.state in _KNOWN_STATES:
        return answer
    return SendOutcome(
        answer.delivery_id, DeliveryState.UNKNOWN, error=f"transport gave state {answer.state}"
    )


__all__ = ["HOOK_POINTS", "Compose", "Ledger"]
