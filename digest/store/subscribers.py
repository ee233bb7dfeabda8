"""Subscribers and the suppression list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from digest.store.engine import StoreBase
from digest.store.rows import SubscriberCounts
from digest.store.tables import subscribers, suppressions
from digest.types import Subscriber, SubscriberStatus


def _row_subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        list_name=row.list_name,
        email=row.email,
        name=row.name,
        topics=tuple(row.topics or ()),
        timezone=row.timezone,
        status=SubscriberStatus(row.status),
    )


class SubscribersStore(StoreBase):
    """Subscribers and suppressions (part of :class:`~digest.store.Store`)."""

    def add_subscriber(self, sub: Subscriber, *, now: datetime) -> tuple[Subscriber, bool]:
        """Insert ``sub`` unless its (list, lower(email)) exists; returns the stored subscriber
        and whether it was inserted. An existing row keeps its status (an import never
        re-subscribes someone who left); its name, topics and timezone are updated only while
        it is active. Another process inserting the same address meanwhile (two runs
        importing one file) is not an error: its row is the stored one."""
        try:
            return self._add_subscriber(sub, now=now)
        except IntegrityError:  # inserted by another process between our look and our insert
            return self._add_subscriber(sub, now=now)

    def _add_subscriber(self, sub: Subscriber, *, now: datetime) -> tuple[Subscriber, bool]:
        email_lower = sub.email.lower()
        with self.begin() as conn:
            row = conn.execute(
                select(subscribers).where(
                    and_(
                        subscribers.c.list_name == sub.list_name,
                        subscribers.c.email_lower == email_lower,
                    )
                )
            ).first()
            if row is None:
                new_id = conn.execute(
                    insert(subscribers).values(
                        list_name=sub.list_name,
                        email=sub.email,
                        email_lower=email_lower,
                        name=sub.name,
                        topics=list(sub.topics),
                        timezone=sub.timezone,
                        status=str(sub.status),
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                return sub.__class__(**{**sub.__dict__, "id": int(new_id)}), True
            if row.status == SubscriberStatus.ACTIVE and (
                row.name != sub.name or list(row.topics or []) != list(sub.topics)
                or row.timezone != sub.timezone
            ):
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == row.id)
                    .values(name=sub.name, topics=list(sub.topics), timezone=sub.timezone, updated_at=now)
                )
                row = conn.execute(select(subscribers).where(subscribers.c.id == row.id)).first()
            return _row_subscriber(row), False

    def subscribers_of(self, list_name: str, *, status: str | None = "active") -> list[Subscriber]:
        """Subscribers of ``list_name`` (only ``status`` ones unless it is None), by id."""
        query = select(subscribers).where(subscribers.c.list_name == list_name)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with self.begin() as conn:
            return [_row_subscriber(r) for r in conn.execute(query.order_by(subscribers.c.id))]

    def subscriber(self, subscriber_id: int) -> Subscriber | None:
        """The subscriber with row id ``subscriber_id``, if any."""
        with self.begin() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        return _row_subscriber(row) if row else None

    def subscriber_by_email(self, list_name: str, email: str) -> Subscriber | None:
        """The subscriber of ``list_name`` with address ``email`` (case-insensitive), if any."""
        with self.begin() as conn:
            row = conn.execute(
                select(subscribers)
                .where(subscribers.c.list_name == list_name)
                .where(subscribers.c.email_lower == email.lower())
            ).first()
        return _row_subscriber(row) if row else None

    def set_subscriber_status(
        self, subscriber_id: int, status: SubscriberStatus, *, now: datetime
    ) -> None:
        """Set a subscriber's status (e.g. ``unsubscribed``); idempotent."""
        with self.begin() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(status=str(status), updated_at=now)
            )

    def set_subscriber_topics(
        self, subscriber_id: int, topics: Sequence[str], *, now: datetime
    ) -> None:
        """Replace a subscriber's topic choice (empty: every section)."""
        with self.begin() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(topics=list(topics), updated_at=now)
            )

    def subscriber_counts(self, list_name: str) -> SubscriberCounts:
        """Subscribers of ``list_name`` per status (``counts.active``)."""
        with self.begin() as conn:
            rows = conn.execute(
                select(subscribers.c.status, func.count())
                .where(subscribers.c.list_name == list_name)
                .group_by(subscribers.c.status)
            ).all()
        return SubscriberCounts.of((status, int(n)) for status, n in rows)

    def is_suppressed(self, email: str, list_name: str) -> bool:
        """True when ``email`` is on the suppression list globally or for ``list_name``."""
        with self.begin() as conn:
            found = conn.scalar(
                select(func.count())
                .select_from(suppressions)
                .where(suppressions.c.email_lower == email.lower())
                .where(or_(suppressions.c.list_name == "", suppressions.c.list_name == list_name))
            )
        return bool(found)

    def suppress(
        self, email: str, reason: str, *, now: datetime, list_name: str = "", detail: str | None = None
    ) -> bool:
        """Add ``email`` to the suppression list (``list_name`` empty: every list).
        Returns False when it was already there; a complaint then replaces the reason of an
        earlier bounce or drop (:func:`digest.suppression.outranks`), so that
        ``suppressions remove`` still sees it."""
        from digest.suppression import outranks

        try:
            with self.begin() as conn:
                conn.execute(
                    insert(suppressions).values(
                        email_lower=email.lower(),
                        list_name=list_name,
                        reason=reason,
                        detail=detail,
                        created_at=now,
                    )
                )
        except IntegrityError:
            same = and_(
                suppressions.c.email_lower == email.lower(), suppressions.c.list_name == list_name
            )
            with self.begin() as conn:
                old = conn.execute(select(suppressions.c.reason, suppressions.c.detail).where(same)).first()
                if old is not None and outranks(reason, detail, old.reason, old.detail):
                    conn.execute(update(suppressions).where(same).values(reason=reason, detail=detail))
            return False
        return True

    def suppressions_of(self, email: str | None = None) -> list[tuple[str, str, str, datetime]]:
        """``(email_lower, list_name, reason, created_at)`` of every suppression (of
        ``email`` only when given), newest first; ``list_name`` is empty for every list."""
        query = select(
            suppressions.c.email_lower, suppressions.c.list_name, suppressions.c.reason,
            suppressions.c.created_at,
        ).order_by(suppressions.c.created_at.desc(), suppressions.c.id.desc())
        if email is not None:
            query = query.where(suppressions.c.email_lower == email.lower())
        with self.begin() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]

    def lift_suppression(
        self, email: str, *, now: datetime, complaint: bool = False
    ) -> tuple[int, int, int]:
        """Lift what a refusal of ``email`` set (the operator says the address works again):
        its suppressions that :func:`digest.suppression.liftable` allows go (a bounce, a
        drop; a complaint only with ``complaint``, the recipient asked to receive mail
        again; never an unsubscribe), and its subscribers marked ``bounced`` (and
        ``complained``, with ``complaint``) become ``active``. Returns ``(suppressions
        removed, subscribers made active, complaints kept)``."""
        from digest.suppression import is_complaint, liftable

        key = email.lower()
        revive = [str(SubscriberStatus.BOUNCED)]
        if complaint:
            revive.append(str(SubscriberStatus.COMPLAINED))
        with self.begin() as conn:
            found = conn.execute(
                select(suppressions.c.id, suppressions.c.reason, suppressions.c.detail)
                .where(suppressions.c.email_lower == key)
            ).all()
            going = [r.id for r in found if liftable(r.reason, r.detail, complaint=complaint)]
            kept = sum(
                1 for r in found if is_complaint(r.reason, r.detail) and r.id not in going
            )
            if not complaint and not kept:  # a complained subscriber whose suppression went
                kept = int(conn.scalar(
                    select(func.count()).select_from(subscribers)
                    .where(subscribers.c.email_lower == key)
                    .where(subscribers.c.status == str(SubscriberStatus.COMPLAINED))
                ) or 0)
            removed = conn.execute(delete(suppressions).where(suppressions.c.id.in_(going))).rowcount if going else 0
            revived = conn.execute(
                update(subscribers)
                .where(subscribers.c.email_lower == key)
                .where(subscribers.c.status.in_(revive))
                .values(status=str(SubscriberStatus.ACTIVE), updated_at=now)
            ).rowcount
        return int(removed or 0), int(revived or 0), kept
