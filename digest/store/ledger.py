"""The delivery ledger: queueing, claiming, outcomes, requeueing and the overview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update

from digest.ledger_state import RowUpdate
from digest.store.engine import StoreBase
from digest.store.rows import Claim, DeliveryRow, EditionOverview, StateCounts
from digest.store.subscribers import _row_subscriber
from digest.store.tables import deliveries, editions, subscribers, suppressions
from digest.types import Subscriber


def _queued_rows(
    edition_id: int,
    subscriber_ids: Sequence[int],
    *,
    now: datetime,
    not_before: Mapping[int, datetime | None],
) -> list[dict[str, Any]]:
    """New ``queued`` ledger rows for ``subscriber_ids`` of an edition."""
    return [
        {
            "edition_id": edition_id,
            "subscriber_id": sid,
            "state": "queued",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "not_before": not_before.get(sid),
        }
        for sid in subscriber_ids
    ]


class LedgerStore(StoreBase):
    """The ``deliveries`` ledger (part of :class:`~digest.store.Store`)."""

    def queue_deliveries(
        self,
        edition_id: int,
        subscriber_ids: Sequence[int],
        *,
        now: datetime,
        not_before: Mapping[int, datetime] | None = None,
    ) -> int:
        """Add a ``queued`` ledger row per subscriber unless (edition, subscriber) has one.
        ``not_before`` maps a subscriber id to the earliest time its row may be sent.

        Idempotent; returns how many rows were added. Inserts in chunks of 1000.
        """
        added = 0
        with self.begin() as conn:
            for start in range(0, len(subscriber_ids), 1000):
                chunk = list(dict.fromkeys(subscriber_ids[start : start + 1000]))
                known = set(
                    conn.scalars(
                        select(deliveries.c.subscriber_id)
                        .where(deliveries.c.edition_id == edition_id)
                        .where(deliveries.c.subscriber_id.in_(chunk))
                    )
                )
                rows = _queued_rows(
                    edition_id, [sid for sid in chunk if sid not in known], now=now,
                    not_before=not_before or {},
                )
                if rows:
                    conn.execute(insert(deliveries), rows)
                    added += len(rows)
        return added

    def recover_sending(self, edition_id: int | None, *, now: datetime) -> list[int]:
        """Rows of an edition (of every edition when None) left in ``sending`` (a run died
        between handing them to the provider and recording the answer) become ``unknown``:
        whether the provider took them cannot be known. Rows left ``claimed`` (never handed
        over) go back to ``queued`` with their attempt uncounted. Returns the ids that became
        ``unknown``. Only call it when no run of the edition is alive."""
        def of_edition(stmt: Any) -> Any:
            return stmt if edition_id is None else stmt.where(deliveries.c.edition_id == edition_id)

        with self.begin() as conn:
            conn.execute(
                of_edition(update(deliveries))
                .where(deliveries.c.state == "claimed")
                .values(state="queued", attempts=deliveries.c.attempts - 1, updated_at=now)
            )
            ids = list(
                conn.scalars(
                    of_edition(select(deliveries.c.id)).where(deliveries.c.state == "sending")
                )
            )
            if ids:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids))
                    .where(deliveries.c.state == "sending")
                    .values(state="unknown", last_error="interrupted while sending", updated_at=now)
                )
        return ids

    def claim_deliveries(
        self, edition_id: int, *, list_name: str, limit: int, now: datetime
    ) -> list[Claim]:
        """Claim up to ``limit`` due ``queued`` rows of an edition, oldest first, in one
        transaction: rows whose subscriber is no longer active or whose address is suppressed
        (globally or for ``list_name``) become ``skipped``; the others become ``claimed``
        (attempts + 1; :meth:`mark_sending` makes them ``sending`` when they are handed to
        the provider) and are returned as :class:`Claim`.

        On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` so several workers
        can claim side by side.
        """
        due = or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now)
        query = (
            select(
                deliveries.c.id.label("delivery_id"),
                deliveries.c.attempts.label("delivery_attempts"),
                subscribers,
            )
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.state == "queued")
            .where(due)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=deliveries)
        with self.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            emails = list({r.email_lower for r in rows})
            suppressed = set(
                conn.scalars(
                    select(suppressions.c.email_lower)
                    .where(suppressions.c.email_lower.in_(emails))
                    .where(or_(suppressions.c.list_name == "", suppressions.c.list_name == list_name))
                )
            )
            claimed: list[Claim] = []
            skipped: dict[str, list[int]] = {}
            for row in rows:
                if row.status != "active":
                    skipped.setdefault(f"subscriber {row.status}", []).append(row.delivery_id)
                elif row.email_lower in suppressed:
                    skipped.setdefault("address suppressed", []).append(row.delivery_id)
                else:
                    claimed.append(
                        Claim(row.delivery_id, _row_subscriber(row), row.delivery_attempts + 1)
                    )
            for reason, ids in skipped.items():
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids))
                    .values(state="skipped", last_error=reason, updated_at=now)
                )
            if claimed:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_([c.delivery_id for c in claimed]))
                    .where(deliveries.c.state == "queued")
                    .values(state="claimed", attempts=deliveries.c.attempts + 1, updated_at=now)
                )
        return claimed

    def mark_sending(self, delivery_ids: Sequence[int], *, now: datetime) -> None:
        """``claimed`` rows are about to be handed to the provider: they become ``sending``
        (a kill from here on leaves their outcome unknown)."""
        with self.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .where(deliveries.c.state == "claimed")
                .values(state="sending", updated_at=now)
            )

    def record_outcomes(self, updates: Sequence[RowUpdate], *, now: datetime) -> None:
        """Record each :class:`~digest.ledger_state.RowUpdate` (state, provider id, error,
        ``not_before``) in one transaction. Only rows in ``claimed``, ``sending`` or
        ``unknown`` change (an answer that arrives late still upgrades ``unknown``)."""
        outcomes = updates
        if not outcomes:
            return
        from sqlalchemy import bindparam

        stmt = (
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .where(
                or_(
                    deliveries.c.state == "claimed",
                    deliveries.c.state == "sending",
                    deliveries.c.state == "unknown",
                )
            )
            .values(
                state=bindparam("b_state"),
                provider_id=func.coalesce(bindparam("b_provider"), deliveries.c.provider_id),
                last_error=bindparam("b_error"),
                not_before=bindparam("b_not_before"),
                updated_at=now,
            )
        )
        params = [
            {
                "b_id": u.delivery_id,
                "b_state": str(u.state),
                "b_provider": u.provider_id,
                "b_error": u.error,
                "b_not_before": u.not_before,
            }
            for u in outcomes
        ]
        with self.begin() as conn:
            conn.execute(stmt, params)

    def requeue(self, edition_id: int | None, state: str, *, now: datetime) -> int:
        """Move rows in ``state`` (``unknown`` or ``failed``; of one edition, or of all when
        None) back to ``queued``, due now, with a fresh retry budget (attempts 0). Rows
        waiting for a retry (``queued`` with attempts and a ``not_before``) become due now as
        well: the operator says the provider is back. Rows waiting for a local send time
        (never attempted) keep it. ``not_before`` is compared with no clock here, since a
        command run with ``--at`` records retries on its own clock. Returns how many rows
        moved from ``state``."""
        moved = update(deliveries).where(deliveries.c.state == state).values(
            state="queued", not_before=None, attempts=0, updated_at=now
        )
        waiting = (
            update(deliveries)
            .where(deliveries.c.state == "queued")
            .where(deliveries.c.attempts > 0)
            .where(deliveries.c.not_before.is_not(None))
            .values(not_before=None, updated_at=now)
        )
        if edition_id is not None:
            moved = moved.where(deliveries.c.edition_id == edition_id)
            waiting = waiting.where(deliveries.c.edition_id == edition_id)
        with self.begin() as conn:
            conn.execute(waiting)
            return int(conn.execute(moved).rowcount or 0)

    def waiting_retries(self, edition_id: int | None) -> int:
        """Rows (of one edition, or of all when None) waiting for a retry: ``queued`` after
        an attempt, with a ``not_before`` (what :meth:`requeue` makes due now)."""
        query = (
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.state == "queued")
            .where(deliveries.c.attempts > 0)
            .where(deliveries.c.not_before.is_not(None))
        )
        if edition_id is not None:
            query = query.where(deliveries.c.edition_id == edition_id)
        with self.begin() as conn:
            return int(conn.scalar(query) or 0)

    def deliveries_in(
        self, edition_id: int | None, states: Sequence[str], *, limit: int | None = None
    ) -> list[DeliveryRow]:
        """Ledger rows in ``states`` (of one edition or all), with the address
        (:class:`~digest.store.rows.DeliveryRow`); by id."""
        query = (
            select(
                deliveries.c.id, deliveries.c.edition_id, deliveries.c.subscriber_id,
                subscribers.c.email, deliveries.c.state, deliveries.c.attempts,
                deliveries.c.provider_id, deliveries.c.last_error, deliveries.c.updated_at,
            )
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.state.in_(list(states)))
            .order_by(deliveries.c.id)
        )
        if edition_id is not None:
            query = query.where(deliveries.c.edition_id == edition_id)
        if limit is not None:
            query = query.limit(limit)
        with self.begin() as conn:
            return [DeliveryRow(**r._mapping) for r in conn.execute(query)]

    def delivery_counts(self, edition_id: int) -> StateCounts:
        """Ledger rows of an edition per state (``counts.sent``; as a mapping ``{"sent": 5}``)."""
        with self.begin() as conn:
            rows = conn.execute(
                select(deliveries.c.state, func.count())
                .where(deliveries.c.edition_id == edition_id)
                .group_by(deliveries.c.state)
            ).all()
        return StateCounts.of((state, int(n)) for state, n in rows)

    def delivery_overview(self, limit: int = 20) -> list[EditionOverview]:
        """Per edition with ledger rows (newest first): its list, period and rows per
        state; its ``status`` (:func:`~digest.ledger_state.edition_phase`) is derived
        from those rows."""
        with self.begin() as conn:
            eds = conn.execute(
                select(editions.c.id, editions.c.list_name, editions.c.period, editions.c.status)
                .where(editions.c.id.in_(select(deliveries.c.edition_id).distinct()))
                .order_by(editions.c.id.desc())
                .limit(limit)
            ).all()
            out = []
            for ed in eds:
                counts = conn.execute(
                    select(deliveries.c.state, func.count())
                    .where(deliveries.c.edition_id == ed.id)
                    .group_by(deliveries.c.state)
                ).all()
                out.append(
                    EditionOverview(
                        edition_id=ed.id, list_name=ed.list_name, period=ed.period,
                        counts=StateCounts.of((s, int(n)) for s, n in counts),
                    )
                )
        return out

    def delivery_states(self, since: datetime | None = None) -> StateCounts:
        """Ledger rows per state over every edition (created at or after ``since``)."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        if since is not None:
            query = query.where(deliveries.c.created_at >= since)
        with self.begin() as conn:
            return StateCounts.of((state, int(n)) for state, n in conn.execute(query).all())

    def queued_deliveries(self, now: datetime) -> tuple[int, datetime | None]:
        """``(due, next_at)``: queued ledger rows whose ``not_before`` is unset or at or
        before ``now``, and the earliest ``not_before`` still in the future (or None)."""
        due_query = (
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.state == "queued")
            .where(or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now))
        )
        next_query = (
            select(func.min(deliveries.c.not_before))
            .where(deliveries.c.state == "queued")
            .where(deliveries.c.not_before > now)
        )
        with self.begin() as conn:
            due = int(conn.scalar(due_query) or 0)
            raw = conn.scalar(next_query)
        # func.min() loses the column type: bring the naive UTC value back to aware UTC.
        if isinstance(raw, str):
            raw = datetime.fromisoformat(raw)
        next_at = raw.replace(tzinfo=UTC) if isinstance(raw, datetime) and raw.tzinfo is None else raw
        return due, next_at

    def delivery_subscriber(self, delivery_id: int) -> Subscriber | None:
        """The subscriber a ledger row was for, if the row exists."""
        with self.begin() as conn:
            row = conn.execute(
                select(subscribers)
                .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
                .where(deliveries.c.id == delivery_id)
            ).first()
        return _row_subscriber(row) if row else None
