"""The delivery ledger: every eligible subscriber gets an edition, and nobody gets it twice.

One ``deliveries`` row per (edition, subscriber). A run repeats, batch by batch:

1. **claim** (one transaction): up to ``batch_size`` due ``queued`` rows become ``sending``;
   rows whose subscriber left or whose address is suppressed become ``skipped`` instead
   (the unsubscribe/suppression re-check happens here, so it takes effect before the next
   message);
2. **compose** each claimed row's message (a failure there fails that row only);
3. **send** the batch through the transport (the only step outside the database);
4. **record** (one transaction): each row becomes ``sent``, ``failed`` (permanent, with the
   reason), ``unknown`` (the provider's answer never came) or ``queued`` again with
   ``not_before`` (a temporary refusal, e.g. SMTP 4xx).

A crash between 1 and 4 leaves rows in ``sending``; the next run turns them into ``unknown``
first, since whether the provider took them cannot be known. ``unknown`` rows are not sent
again unless the operator asks (:meth:`Ledger.retry_unknown`, ``digest deliveries
retry-unknown``) or the ``delivery.resend_unknown`` policy says so. The worst case after a
crash is therefore one batch (``batch_size`` recipients) in doubt -- never a whole run re-sent
(rss2email) or a batch lost (listmonk checkpointing at fetch time).

After ``max_consecutive_failures`` batches in a row with no message accepted, the run pauses
and leaves the remaining rows ``queued``. An edition is marked ``sent`` only when no row is
``queued`` or ``sending``.

One run per edition at a time (the pipeline/scheduler guarantees it); on PostgreSQL several
workers may run side by side since claims use ``SKIP LOCKED``, but a *restart* turns every
``sending`` row of the edition into ``unknown``, so start them together, not over a live one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage

from digest.exceptions import DigestError
from digest.store import Store
from digest.transports import Outgoing, Transport
from digest.types import DeliveryState, SendOutcome, Subscriber

log = logging.getLogger("digest.deliver")

#: Names of the points a test hook is called at, in order, once per batch.
HOOK_POINTS = ("claimed", "before_send", "accepted", "committed")

Compose = Callable[[Subscriber, int], EmailMessage]


class Ledger:
    """Crash-safe sending of editions through a :class:`~digest.transports.Transport`.

    ``clock`` returns the current aware UTC time (the only clock read). ``retry_delay`` is
    how long a temporarily refused row waits (``not_before``). ``resend_unknown`` is the
    policy for rows whose outcome is unknown: False (default) leaves them for the operator;
    True re-queues them at the start of each run. ``_hook`` is for tests only: called with
    one of :data:`HOOK_POINTS` and the batch's delivery ids.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        retry_delay: timedelta = timedelta(minutes=5),
        resend_unknown: bool = False,
        _hook: Callable[[str, list[int]], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.retry_delay = retry_delay
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

    def retry_unknown(self, edition_id: int | None = None) -> int:
        """Re-queue ``unknown`` rows of ``edition_id`` (or of every edition when None) so the
        next :meth:`run` sends them. Recipients the provider did take get a second copy:
        this is the operator's decision. Returns how many rows were re-queued."""
        n = self.store.requeue_unknown(edition_id, now=self.clock())
        log.info("deliver.retry_unknown edition=%s requeued=%d", edition_id, n)
        return n

    def unknown(self, edition_id: int | None = None) -> list[dict[str, object]]:
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
        """Send every due ``queued`` row of ``edition_id``; return the ledger's counts per state.

        ``compose(subscriber, delivery_id)`` builds one message (RFC 5322
        ``EmailMessage``); an exception there fails that row only. ``batch_size`` bounds the
        recipients in doubt after a crash. Rows refused for now stay ``queued`` with a
        ``not_before`` and are left for a later run. Marks the edition ``sent`` when no row is
        ``queued`` or ``sending`` any more. ``should_stop()`` is asked between batches (a
        SIGTERM finishes the batch in flight, then returns with the rest queued). Raises
        :class:`~digest.exceptions.StoreError` when the database fails.
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
            self.store.delivery_counts(edition_id).get("queued")
            and self.store.edition_status(edition_id) != "sending"
        ):
            self.store.set_edition_status(edition_id, "sending", now=self.clock())
        failures = 0
        batches = 0
        while True:
            if should_stop is not None and should_stop():
                log.info("deliver.stopped edition=%s batches=%d", edition_id, batches)
                break
            claimed = self.store.claim_deliveries(
                edition_id, list_name=list_name, limit=batch_size, now=self.clock()
            )
            if not claimed:
                break
            batches += 1
            ids = [d for d, _ in claimed]
            self._call_hook("claimed", ids)
            outcomes = self._send(claimed, transport, compose)
            self._call_hook("accepted", ids)
            now = self.clock()
            self.store.record_outcomes(
                [(o.delivery_id, str(o.state), o.provider_id, o.error) for o in outcomes],
                now=now,
                retry_at=now + self.retry_delay,
            )
            self._call_hook("committed", ids)
            states = [o.state for o in outcomes]
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
        done = not counts.get("queued") and not counts.get("sending")
        if done and self.store.edition_status(edition_id) != "sent":
            self.store.set_edition_status(edition_id, "sent", now=self.clock())
        log.info("deliver.run edition=%s batches=%d counts=%s", edition_id, batches, counts)
        return counts

    def _send(
        self, claimed: list[tuple[int, Subscriber]], transport: Transport, compose: Compose
    ) -> list[SendOutcome]:
        outcomes: list[SendOutcome] = []
        batch: list[Outgoing] = []
        for delivery_id, sub in claimed:
            try:
                message = compose(sub, delivery_id)
            except Exception as exc:  # noqa: BLE001 - a bad subscriber or template fails one row
                log.warning("deliver.compose_failed delivery=%s error=%s", delivery_id, exc)
                outcomes.append(
                    SendOutcome(delivery_id, DeliveryState.FAILED, error=f"compose: {exc}")
                )
                continue
            batch.append(Outgoing(delivery_id=delivery_id, recipient=sub.email, message=message))
        self._call_hook("before_send", [o.delivery_id for o in batch])
        if not batch:
            return outcomes
        try:
            answers = transport.send(batch)
        except Exception as exc:  # noqa: BLE001 - a transport must not raise; if it does, we cannot know
            kind = "transport error" if isinstance(exc, DigestError) else "transport crashed"
            log.error("deliver.transport_raised transport=%s error=%r", transport.name, exc)
            answers = [
                SendOutcome(o.delivery_id, DeliveryState.UNKNOWN, error=f"{kind}: {exc}")
                for o in batch
            ]
        by_id = {a.delivery_id: a for a in answers}
        for item in batch:
            answer = by_id.get(item.delivery_id)
            if answer is None:
                answer = SendOutcome(
                    item.delivery_id, DeliveryState.UNKNOWN, error="transport gave no outcome"
                )
            elif answer.state not in (
                DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNKNOWN,
                DeliveryState.QUEUED,
            ):
                answer = SendOutcome(
                    item.delivery_id, DeliveryState.UNKNOWN,
                    error=f"transport gave state {answer.state}",
                )
            outcomes.append(answer)
        return outcomes


__all__ = ["HOOK_POINTS", "Compose", "Ledger"]
