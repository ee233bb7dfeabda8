"""Operational facts: settings, counters, ``mark_once``, leases and run reports."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.store.engine import StoreBase
from digest.store.rows import LeaseRow, RunRecord, UnmatchedEvent
from digest.store.tables import leases, runs, settings


def period_fact_key(kind: str, list_name: str, period: str) -> str:
    """The ``settings`` key of a fact about one (list, period): ``KIND:LIST:PERIOD``, or
    ``KIND:`` and a SHA-256 prefix of ``LIST:PERIOD`` when that would pass the column's 64
    characters (a list name may have 64 on its own)."""
    key = f"{kind}:{list_name}:{period}"
    if len(key) <= 64:
        return key
    return f"{kind}:" + hashlib.sha256(f"{list_name}:{period}".encode()).hexdigest()[: 63 - len(kind)]


#: ``settings`` keys of :meth:`OpsStore.record_unmatched_event` start so.
UNMATCHED_PREFIX = "sg-unmatched:"


class OpsStore(StoreBase):
    """Settings, counters, leases and runs (part of :class:`~digest.store.Store`)."""

    def setting(self, key: str, default: str | None = None) -> str | None:
        """The stored value of setting ``key``, or ``default``."""
        with self.begin() as conn:
            value = conn.scalar(select(settings.c.value).where(settings.c.key == key))
        return default if value is None else value

    def secret(self, key: str = "token_secret") -> str:
        """A random secret generated once per installation and kept in ``settings``."""
        value = self.setting(key)
        if value is not None:
            return value
        try:
            with self.begin() as conn:
                conn.execute(insert(settings).values(key=key, value=secrets.token_urlsafe(32)))
        except IntegrityError:
            pass  # another process stored one first: use theirs
        value = self.setting(key)
        assert value is not None
        return value

    def record_run(
        self, kind: str, *, started_at: datetime, finished_at: datetime, ok: bool,
        report: Mapping[str, Any],
    ) -> int:
        """Keep a run report (JSON-serialisable ``report``); returns its id."""
        with self.begin() as conn:
            run_id = conn.execute(
                insert(runs).values(
                    kind=kind,
                    started_at=started_at,
                    finished_at=finished_at,
                    ok=ok,
                    report=json.loads(json.dumps(report, default=str)),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return int(run_id)

    def last_runs(self, kind: str | None = None, limit: int = 10) -> list[RunRecord]:
        """The latest run reports, newest first."""
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        with self.begin() as conn:
            return [
                RunRecord(
                    id=r.id, kind=r.kind, started_at=r.started_at, finished_at=r.finished_at,
                    ok=bool(r.ok), report=r.report if isinstance(r.report, dict) else {},
                )
                for r in conn.execute(query)
            ]

    def mark_once(self, key: str, value: str = "1") -> bool:
        """Remember ``key`` (at most 64 characters) in ``settings``; True the first time only.
        Used to apply each provider webhook event once."""
        try:
            with self.begin() as conn:
                conn.execute(insert(settings).values(key=key, value=value))
        except IntegrityError:
            return False
        return True

    def record_empty_period(self, list_name: str, period: str, *, at: datetime) -> None:
        """Keep the fact that ``list_name``'s edition of ``period`` was built at ``at``
        (aware) and had no stories: the period is decided, nothing was sent, and it is not
        missed (:func:`digest.schedule.standing`). Written once; later calls keep the first."""
        self.mark_once(period_fact_key("empty", list_name, period), at.astimezone(UTC).isoformat())

    def empty_period(self, list_name: str, period: str) -> datetime | None:
        """When ``list_name``'s edition of ``period`` was built empty (aware UTC), or None
        when it never was (:meth:`record_empty_period`)."""
        value = self.setting(period_fact_key("empty", list_name, period))
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:  # not written by record_empty_period: still a fact that it was
            return datetime(1970, 1, 1, tzinfo=UTC)

    def record_missed_period(self, list_name: str, period: str, *, at: datetime) -> bool:
        """Keep the fact that ``list_name``'s edition of ``period`` was first reported
        missed at ``at`` (aware); True the first time only, so the warning is given once
        per period however many runs find it missed."""
        key = period_fact_key("missed", list_name, period)
        if self.setting(key) is not None:  # a read, not a refused insert, on every later run
            return False
        return self.mark_once(key, at.astimezone(UTC).isoformat())

    def record_unmatched_event(self, event_key: str, event: UnmatchedEvent) -> bool:
        """Keep ``event`` (a provider event that matched no delivery) once per ``event_key``
        (its webhook event id), for :meth:`unmatched_events`. True the first time."""
        key = UNMATCHED_PREFIX + hashlib.sha256(event_key.encode()).hexdigest()[:40]
        value = json.dumps({
            "kind": event.kind, "email": event.email, "reason": event.reason,
            "message_id": event.message_id, "at": event.at.astimezone(UTC).isoformat(),
        })
        return self.mark_once(key, value)

    def unmatched_events(self) -> list[UnmatchedEvent]:
        """Every :class:`UnmatchedEvent` kept by :meth:`record_unmatched_event`, oldest
        first (a value not written by it is left out)."""
        with self.begin() as conn:
            values = list(conn.scalars(
                select(settings.c.value).where(settings.c.key.startswith(UNMATCHED_PREFIX))
            ))
        found = []
        for value in values:
            try:
                data = json.loads(value)
                found.append(UnmatchedEvent(
                    kind=str(data["kind"]), email=str(data["email"]), reason=str(data["reason"]),
                    message_id=str(data["message_id"]), at=datetime.fromisoformat(data["at"]),
                ))
            except (ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda e: e.at)

    def bump_counter(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the integer setting ``key`` (created at 0); returns the new value."""
        from sqlalchemy import cast as _cast

        with self.begin() as conn:
            done = conn.execute(
                update(settings)
                .where(settings.c.key == key)
                .values(value=_cast(_cast(settings.c.value, Integer) + by, String))
            )
            if done.rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(settings).values(key=key, value=str(by)))
                except IntegrityError:
                    conn.execute(
                        update(settings)
                        .where(settings.c.key == key)
                        .values(value=_cast(_cast(settings.c.value, Integer) + by, String))
                    )
            value = conn.scalar(select(settings.c.value).where(settings.c.key == key))
        return int(value or 0)

    def take_lease(self, name: str, holder: str, *, now: datetime, expires_at: datetime) -> bool:
        """Hold lease ``name`` for ``holder`` until ``expires_at``; True when it is ours now.

        The holder renews its own lease; anyone takes over a lease that expired before
        ``now``; otherwise the lease stays with its holder and False is returned. Each step is
        one conditional statement, so two processes racing for the lease never both win
        (SQLite serialises writers; PostgreSQL row-locks the updated row).
        """
        with self.begin() as conn:
            renewed = conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, leases.c.holder == holder))
                .values(expires_at=expires_at)
            )
            if renewed.rowcount:
                return True
        with self.begin() as conn:
            taken = conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, leases.c.expires_at < now))
                .values(holder=holder, acquired_at=now, expires_at=expires_at)
            )
            if taken.rowcount:
                return True
        try:
            with self.begin() as conn:
                conn.execute(
                    insert(leases).values(
                        name=name, holder=holder, acquired_at=now, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False
        return True

    def renew_lease(self, name: str, holder: str, *, expires_at: datetime) -> bool:
        """Extend ``holder``'s lease to ``expires_at``; False when someone else holds it now."""
        with self.begin() as conn:
            done = conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, leases.c.holder == holder))
                .values(expires_at=expires_at)
            )
        return bool(done.rowcount)

    def release_lease(self, name: str, holder: str) -> bool:
        """Give up ``holder``'s lease (a no-op, returning False, when it is not theirs)."""
        with self.begin() as conn:
            done = conn.execute(
                leases.delete().where(and_(leases.c.name == name, leases.c.holder == holder))
            )
        return bool(done.rowcount)

    def claim_poll_hosts(
        self, keys: Sequence[str], *, holder: str, now: datetime, until: datetime, limit: int
    ) -> list[str]:
        """Claim up to ``limit`` of the polling units ``keys`` (:func:`digest.polling.host_key`)
        that no live worker holds, for ``holder`` until ``until``; returns the keys won.

        Each key is a row ``poll:KEY`` of ``leases``, created when first seen; on PostgreSQL
        the free rows are locked with ``FOR UPDATE SKIP LOCKED``, so workers claiming side by
        side take different hosts and never wait for each other."""
        if not keys or limit < 1:
            return []
        names = [f"poll:{k}" for k in keys]
        free_since = datetime(1970, 1, 1, tzinfo=UTC)
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        with self.begin() as conn:
            for start in range(0, len(names), 1000):
                conn.execute(
                    upsert(leases).on_conflict_do_nothing(index_elements=["name"]),
                    [{"name": n, "holder": "", "acquired_at": free_since, "expires_at": free_since}
                     for n in names[start : start + 1000]],
                )
        query = (
            select(leases.c.name)
            .where(leases.c.name.in_(names))
            .where(leases.c.expires_at < now)
            .order_by(leases.c.name)
            .limit(limit)
        )
        if dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self.begin() as conn:
            won = list(conn.scalars(query))
            if won:
                conn.execute(
                    update(leases)
                    .where(leases.c.name.in_(won))
                    .where(leases.c.expires_at < now)
                    .values(holder=holder, acquired_at=now, expires_at=until)
                )
        return [n.removeprefix("poll:") for n in won]

    def release_poll_hosts(self, keys: Sequence[str], *, holder: str) -> None:
        """Give back ``holder``'s claims on the polling units ``keys`` at once."""
        free_since = datetime(1970, 1, 1, tzinfo=UTC)
        with self.begin() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.name.in_([f"poll:{k}" for k in keys]))
                .where(leases.c.holder == holder)
                .values(holder="", expires_at=free_since)
            )

    def lease(self, name: str) -> LeaseRow | None:
        """The lease ``name`` as stored, or None when free."""
        with self.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return LeaseRow(**row._mapping) if row else None
