"""Editions with their carried entries and renderings, the editor's adjustments and
approvals, and the archive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.adjust import Adjustment
from digest.exceptions import EditionExists, StoreError
from digest.ledger_state import OPEN_STATES
from digest.store.engine import StoreBase
from digest.store.ledger import _queued_rows
from digest.store.rows import EditionParts, EditionRow, EditionStatus
from digest.store.tables import (
    deliveries,
    edition_adjustments,
    edition_approvals,
    edition_entries,
    edition_variants,
    editions,
)
from digest.types import RenderedEdition


def _variant_rows(
    edition_id: int, variants: Mapping[tuple[str, ...], RenderedEdition]
) -> list[dict[str, Any]]:
    return [
        {
            "edition_id": edition_id,
            "topics": ",".join(key),
            "subject": r.subject,
            "preheader": r.preheader,
            "html": r.html,
            "text": r.text,
            "omitted": r.omitted,
        }
        for key, r in variants.items()
    ]


def _edition_row(row: Any) -> EditionRow:
    return EditionRow(
        id=row.id,
        list_name=row.list_name,
        period=row.period,
        window_start=row.window_start,
        window_end=row.window_end,
        created_at=row.created_at,
        status=row.status,
        subject=row.subject,
        story_count=row.story_count,
    )


class EditionsStore(StoreBase):
    """Editions, renderings, adjustments, approvals (part of :class:`~digest.store.Store`)."""

    def previous_edition(self, list_name: str, before: datetime) -> EditionRow | None:
        """The latest edition of ``list_name`` whose window ended at or before ``before``."""
        query = (
            select(editions)
            .where(editions.c.list_name == list_name)
            .where(editions.c.window_end <= before)
            .order_by(editions.c.window_end.desc())
            .limit(1)
        )
        with self.begin() as conn:
            row = conn.execute(query).first()
        return _edition_row(row) if row else None

    def edition(self, list_name: str, period: str) -> EditionRow | None:
        """The edition of ``list_name`` for ``period``, if it exists."""
        with self.begin() as conn:
            row = conn.execute(
                select(editions).where(
                    and_(editions.c.list_name == list_name, editions.c.period == period)
                )
            ).first()
        return _edition_row(row) if row else None

    def edition_parts(self, edition_id: int) -> EditionParts:
        """The stored ``subject``, ``preheader``, ``html`` and ``text`` of an edition."""
        with self.begin() as conn:
            row = conn.execute(
                select(editions.c.subject, editions.c.preheader, editions.c.html, editions.c.text)
                .where(editions.c.id == edition_id)
            ).first()
        if row is None:
            raise StoreError(f"no edition with id {edition_id}")
        return EditionParts(**row._mapping)

    def editions_of(self, list_name: str, limit: int = 50) -> list[EditionRow]:
        """The latest editions of a list, newest first."""
        with self.begin() as conn:
            rows = conn.execute(
                select(editions)
                .where(editions.c.list_name == list_name)
                .order_by(editions.c.window_end.desc())
                .limit(limit)
            ).all()
        return [_edition_row(r) for r in rows]

    def sent_entries(self, list_name: str, since: datetime) -> dict[tuple[str, str], str]:
        """Entries carried by editions of ``list_name`` whose window ended after ``since``:
        ``(source, entry_id) -> period`` of the earliest edition that carried it."""
        query = (
            select(edition_entries.c.source, edition_entries.c.entry_id, editions.c.period)
            .join(editions, editions.c.id == edition_entries.c.edition_id)
            .where(editions.c.list_name == list_name)
            .where(editions.c.window_end > since)
            .order_by(editions.c.window_end.desc())
        )
        with self.begin() as conn:
            return {(r.source, r.entry_id): r.period for r in conn.execute(query)}

    def create_edition(
        self,
        *,
        list_name: str,
        period: str,
        window_start: datetime,
        window_end: datetime,
        now: datetime,
        subject: str,
        preheader: str,
        html: str,
        text: str,
        carried: Sequence[tuple[str, str, str, str | None]],
        variants: Mapping[tuple[str, ...], RenderedEdition] | None = None,
        recipients: Sequence[tuple[int, datetime | None]] = (),
    ) -> int:
        """Store a new edition, the entries it carried, its renderings and its queued
        deliveries, all in one transaction (so a crash can never leave an edition that exists
        but has nobody to deliver to); returns its id.

        ``carried`` holds ``(source, entry_id, story_key, section)`` in reading order;
        ``variants`` the renderings by topic choice (see :meth:`save_variants`);
        ``recipients`` ``(subscriber_id, not_before)`` for the ledger rows to queue.
        Raises :class:`EditionExists` when (list_name, period) is taken, whoever took it.
        """
        try:
            with self.begin() as conn:
                edition_id = conn.execute(
                    insert(editions).values(
                        list_name=list_name,
                        period=period,
                        window_start=window_start,
                        window_end=window_end,
                        created_at=now,
                        status="built",
                        subject=subject,
                        preheader=preheader,
                        html=html,
                        text=text,
                        story_count=len({c[2] for c in carried}),
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                rows = [
                    {
                        "edition_id": edition_id,
                        "source": source,
                        "entry_id": entry_id,
                        "story_key": key,
                        "section": section,
                        "position": i,
                    }
                    for i, (source, entry_id, key, section) in enumerate(carried)
                ]
                if rows:
                    conn.execute(insert(edition_entries), rows)
                if variants:
                    conn.execute(insert(edition_variants), _variant_rows(edition_id, variants))
                wanted = dict(recipients)
                queued = _queued_rows(edition_id, list(wanted), now=now, not_before=wanted)
                if queued:
                    conn.execute(insert(deliveries), queued)
        except IntegrityError as exc:
            raise EditionExists(list_name, period) from exc
        return int(edition_id)

    def set_edition_status(self, edition_id: int, status: EditionStatus, *, now: datetime) -> None:
        """Move an edition to ``status`` (``built``, ``sending``, ``sent``; ``sent`` also
        records ``completed_at``)."""
        values: dict[str, Any] = {"status": status}
        if status == "sent":
            values["completed_at"] = now
        with self.begin() as conn:
            conn.execute(update(editions).where(editions.c.id == edition_id).values(**values))

    def save_variants(self, edition_id: int, variants: Mapping[tuple[str, ...], RenderedEdition]) -> None:
        """Keep an edition's renderings, keyed by sorted topic choice (``()``: the whole)."""
        with self.begin() as conn:
            conn.execute(insert(edition_variants), _variant_rows(edition_id, variants))

    def variants(self, edition_id: int) -> dict[tuple[str, ...], RenderedEdition]:
        """The renderings :meth:`save_variants` kept for an edition."""
        query = (
            select(edition_variants, editions.c.list_name, editions.c.period)
            .join(editions, editions.c.id == edition_variants.c.edition_id)
            .where(edition_variants.c.edition_id == edition_id)
        )
        with self.begin() as conn:
            rows = conn.execute(query).all()
        return {
            tuple(t for t in row.topics.split(",") if t): RenderedEdition(
                list_name=row.list_name,
                period=row.period,
                html=row.html,
                text=row.text,
                subject=row.subject,
                preheader=row.preheader,
                omitted=row.omitted,
            )
            for row in rows
        }

    def unfinished_editions(self) -> list[EditionRow]:
        """Editions that are not complete: some ledger row is open
        (:data:`digest.ledger_state.OPEN_STATES`), derived from the rows each time; by id."""
        open_ids = (
            select(deliveries.c.edition_id)
            .where(deliveries.c.state.in_(sorted(OPEN_STATES)))
            .distinct()
        )
        with self.begin() as conn:
            rows = conn.execute(
                select(editions).where(editions.c.id.in_(open_ids)).order_by(editions.c.id)
            ).all()
        return [_edition_row(r) for r in rows]

    def edition_status(self, edition_id: int) -> str | None:
        """The status of an edition (``built``, ``sending``, ``sent``), or None if none."""
        with self.begin() as conn:
            return conn.scalar(select(editions.c.status).where(editions.c.id == edition_id))

    def edition_periods(self, list_name: str, limit: int = 10) -> frozenset[str]:
        """The periods of the latest ``limit`` editions of ``list_name``."""
        with self.begin() as conn:
            rows = conn.execute(
                select(editions.c.period)
                .where(editions.c.list_name == list_name)
                .order_by(editions.c.window_end.desc(), editions.c.id.desc())
                .limit(limit)
            ).all()
        return frozenset(r.period for r in rows)

    def archived_editions(self, list_name: str, limit: int = 50) -> list[EditionRow]:
        """Editions of ``list_name`` that went out (status ``sending`` or ``sent``), newest
        first: what the public archive and its feed show."""
        with self.begin() as conn:
            rows = conn.execute(
                select(editions)
                .where(editions.c.list_name == list_name)
                .where(editions.c.status.in_(("sending", "sent")))
                .order_by(editions.c.window_end.desc())
                .limit(limit)
            ).all()
        return [_edition_row(r) for r in rows]

    def adjustments(self, list_name: str, period: str) -> list[Adjustment]:
        """The editor's adjustments of edition ``list_name``/``period``, oldest first."""
        query = (
            select(edition_adjustments)
            .where(edition_adjustments.c.list_name == list_name)
            .where(edition_adjustments.c.period == period)
            .order_by(edition_adjustments.c.id)
        )
        with self.begin() as conn:
            return [
                Adjustment(
                    story_key=r.story_key,
                    action=r.action,
                    value=r.value,
                    lead_source=r.lead_source,
                    lead_entry_id=r.lead_entry_id,
                )
                for r in conn.execute(query)
            ]

    def set_adjustment(
        self, list_name: str, period: str, adjustment: Adjustment, *, now: datetime
    ) -> None:
        """Store ``adjustment`` for edition ``list_name``/``period``, replacing the same
        action on the same story (one pin, one boost, one drop, one summary per story)."""
        key = and_(
            edition_adjustments.c.list_name == list_name,
            edition_adjustments.c.period == period,
            edition_adjustments.c.story_key == adjustment.story_key,
            edition_adjustments.c.action == adjustment.action,
        )
        values = {
            "value": adjustment.value,
            "lead_source": adjustment.lead_source,
            "lead_entry_id": adjustment.lead_entry_id,
            "updated_at": now,
        }
        for _attempt in range(2):
            try:
                with self.begin() as conn:
                    done = conn.execute(update(edition_adjustments).where(key).values(**values))
                    if done.rowcount == 0:
                        conn.execute(
                            insert(edition_adjustments).values(
                                list_name=list_name,
                                period=period,
                                story_key=adjustment.story_key,
                                action=adjustment.action,
                                **values,
                            )
                        )
                return
            except IntegrityError:
                continue  # another editor inserted it first: update theirs
        raise StoreError(f"could not store the adjustment of {list_name}/{period}")

    def clear_adjustment(self, list_name: str, period: str, story_key: str, action: str) -> bool:
        """Remove one adjustment; returns False when there was none."""
        with self.begin() as conn:
            done = conn.execute(
                edition_adjustments.delete().where(
                    and_(
                        edition_adjustments.c.list_name == list_name,
                        edition_adjustments.c.period == period,
                        edition_adjustments.c.story_key == story_key,
                        edition_adjustments.c.action == action,
                    )
                )
            )
        return bool(done.rowcount)

    def approve_edition(self, list_name: str, period: str, *, by: str, now: datetime) -> None:
        """Record an editor's approval of edition ``list_name``/``period`` (idempotent: a
        second approval keeps the first one's time)."""
        try:
            with self.begin() as conn:
                conn.execute(
                    insert(edition_approvals).values(
                        list_name=list_name, period=period, approved_at=now, approved_by=by
                    )
                )
        except IntegrityError:
            pass  # already approved

    def revoke_approval(self, list_name: str, period: str) -> bool:
        """Withdraw the approval of an edition; returns False when it had none."""
        with self.begin() as conn:
            done = conn.execute(
                edition_approvals.delete().where(
                    and_(
                        edition_approvals.c.list_name == list_name,
                        edition_approvals.c.period == period,
                    )
                )
            )
        return bool(done.rowcount)

    def approval(self, list_name: str, period: str) -> datetime | None:
        """When edition ``list_name``/``period`` was approved, or ``None``."""
        with self.begin() as conn:
            return conn.scalar(
                select(edition_approvals.c.approved_at).where(
                    and_(
                        edition_approvals.c.list_name == list_name,
                        edition_approvals.c.period == period,
                    )
                )
            )
