"""Operational facts: settings, counters, ``mark_once``, leases and run reports."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.store.engine import StoreBase
from digest.store.rows import LeaseRow, RunRecord
from digest.store.tables import leases, runs, settings


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

    def lease(self, name: str) -> LeaseRow | None:
        """The lease ``name`` as stored, or None when free."""
        with self.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return LeaseRow(**row._mapping) if row else None
