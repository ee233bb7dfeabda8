"""Fake scheduler jobs for the scheduler tests (in-process and in `digest schedule`
subprocesses via ``DIGEST_SCHEDULER_JOBS=tests.scheduler_fakes:make_jobs``).

The fakes stand in for the pipeline and the delivery ledger, which are built elsewhere: a
publish stores a real edition row (so the (list, period) uniqueness of the store is what
guards against a second edition) and queues one ledger row per active subscriber with its
``not_before``; rows are "sent" by marking them ``sent`` one at a time, and every send is
also appended to a log file (``DIGEST_FAKE_LOG``) as ``holder pid edition subscriber``, so a
test can count sends across processes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, insert, or_, select, update

from digest import polling
from digest.config import Config, ListConfig, SourceConfig
from digest.exceptions import EditionExists
from digest.store import Store, deliveries, editions
from digest.types import ListReport, SourceReport


@dataclass
class FakeJobs:
    """:class:`digest.scheduler.Jobs` over a real store, without the pipeline."""

    store: Store
    clock: Callable[[], datetime] | None = None
    send_delay: float = 0.0
    log_path: Path | None = None
    holder: str = ""
    lease_seconds: float = 300.0
    resend_unknown: bool = False
    polled: list[tuple[datetime, tuple[str, ...]]] = field(default_factory=list)
    published: list[tuple[str, datetime, str]] = field(default_factory=list)
    sent: list[tuple[int, int, datetime]] = field(default_factory=list)  # edition, subscriber, at
    lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self, sources: Sequence[SourceConfig], *, now: datetime) -> list[SourceReport]:
        self.polled.append((now, tuple(s.name for s in sources)))
        reports = []
        for source in sources:  # the pipeline's own rule for the next poll, as a real poll
            policy = polling.Policy(interval=timedelta(minutes=source.poll_interval_minutes or 30))
            update = polling.decide(
                self.store.source_state(source.name), polling.Fetched(new_entries=1), now, policy
            )
            self.store.apply_source_update(source.name, update)
            reports.append(
                SourceReport(source=source.name, status="ok", new_entries=1, next_poll_at=update.next_poll_at)
            )
        return reports

    def publish(
        self,
        list_config: ListConfig,
        *,
        at: datetime,
        now: datetime,
        stop: threading.Event | None = None,
    ) -> ListReport:
        from digest.edition import period_of
        from digest.pipeline import local_send_times

        period = period_of(list_config, at)
        not_before = local_send_times(list_config, at)
        report = ListReport(list_name=list_config.name, status="failed", period=period)
        try:
            edition_id = self.store.create_edition(
                list_name=list_config.name,
                period=period,
                window_start=at,
                window_end=at,
                now=now,
                subject=f"{list_config.title} {period}",
                preheader="",
                html="<p>fake</p>",
                text="fake",
                carried=[("src", f"{period}-1", "story", None)],
            )
        except EditionExists:
            report.status = "exists"
            return report
        self.published.append((list_config.name, at, period))
        subs = self.store.subscribers_of(list_config.name)
        rows = [
            {
                "edition_id": edition_id,
                "subscriber_id": s.id,
                "state": "queued",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
                "not_before": not_before(s.timezone or "UTC") if not_before else None,
            }
            for s in subs
        ]
        if rows:
            with self.store.begin() as conn:
                conn.execute(insert(deliveries), rows)
        report.recipients = len(subs)
        done = self._deliver(now, stop or threading.Event())
        report.deliveries = self.store.delivery_counts(edition_id)
        report.status = "sent" if not report.deliveries.get("queued") else "failed"
        report.message = f"{done} sent now"
        return report

    def resume(self, *, now: datetime, stop: threading.Event) -> list[ListReport]:
        done = self._deliver(now, stop)
        return [ListReport(list_name="*", status="sent", message=f"{done} sent")] if done else []

    def _deliver(self, now: datetime, stop: threading.Event) -> int:
        """Send due queued rows one by one (claim under a lease, "send", mark sent), stopping
        between rows once ``stop`` is set, like the ledger pauses between batches. Rows a dead
        process left ``sending`` are taken over as the ledger does (once their lease expired,
        on PostgreSQL) and, with ``resend_unknown``, sent again."""
        done = 0
        if self.store.recover_sending(None, now=datetime.now(UTC)) and self.resend_unknown:
            self.store.requeue(None, "unknown", now=now)
        while not stop.is_set():
            with self.store.begin() as conn:
                row = conn.execute(
                    select(deliveries.c.id, deliveries.c.edition_id, deliveries.c.subscriber_id)
                    .where(deliveries.c.state == "queued")
                    .where(or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now))
                    .order_by(deliveries.c.id)
                    .limit(1)
                ).first()
                if row is None:
                    return done
                claimed = conn.execute(
                    update(deliveries)
                    .where(and_(deliveries.c.id == row.id, deliveries.c.state == "queued"))
                    .values(
                        state="sending", updated_at=now, lease_holder=self.holder or "fake",
                        lease_expires_at=datetime.now(UTC) + timedelta(seconds=self.lease_seconds),
                    )
                ).rowcount
            if not claimed:
                continue
            if self.send_delay:
                time.sleep(self.send_delay)
            sent_at = self.clock() if self.clock else now
            with self.lock:
                self.sent.append((row.edition_id, row.subscriber_id, sent_at))
            if self.log_path is not None:
                with self.log_path.open("a") as fh:
                    fh.write(f"{self.holder} {os.getpid()} {row.edition_id} {row.subscriber_id}\n")
            with self.store.begin() as conn:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == row.id)
                    .values(state="sent", updated_at=sent_at, attempts=1)
                )
            done += 1
        return done


def make_jobs(config: Config, store: Store) -> FakeJobs:
    """Factory for ``DIGEST_SCHEDULER_JOBS``: reads ``DIGEST_FAKE_LOG``,
    ``DIGEST_FAKE_SEND_DELAY`` (seconds per delivery), ``DIGEST_FAKE_LEASE`` (seconds a
    row in flight is the process's own) and ``DIGEST_FAKE_RESEND_UNKNOWN`` (``1``: re-send
    rows a dead process left in doubt)."""
    log_path = os.environ.get("DIGEST_FAKE_LOG")
    return FakeJobs(
        store=store,
        send_delay=float(os.environ.get("DIGEST_FAKE_SEND_DELAY", "0")),
        log_path=Path(log_path) if log_path else None,
        holder=os.environ.get("DIGEST_FAKE_NAME", ""),
        lease_seconds=float(os.environ.get("DIGEST_FAKE_LEASE", "300")),
        resend_unknown=os.environ.get("DIGEST_FAKE_RESEND_UNKNOWN") == "1",
    )


def edition_count(store: Store) -> int:
    """How many editions the store holds."""
    with store.begin() as conn:
        return len(conn.execute(select(editions.c.id)).all())
