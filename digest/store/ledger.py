"""The delivery ledger: queueing, claiming, outcomes, requeueing and the overview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY, Integer, any_, bindparam, func, insert, literal, or_, select, text, update,
)
from sqlalchemy.engine import Connection

from digest.ledger_state import (
    IN_FLIGHT_STATES, HeldBatch, LedgerActivity, RowUpdate, reclaim, skip_reason,
)
from digest.liveness import holder_alive
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


#: What a claim reads of each subscriber (what :func:`_row_subscriber` needs; not the
#: timestamps, whose conversion is a Python call per row).
_CLAIM_COLUMNS = (
    subscribers.c.id, subscribers.c.list_name, subscribers.c.email, subscribers.c.email_lower,
    subscribers.c.name, subscribers.c.topics, subscribers.c.timezone, subscribers.c.status,
)


def _address_suppressed() -> Any:
    """``EXISTS`` (correlated with ``subscribers``): the subscriber's address is suppressed
    for its list or for every list."""
    return (
        select(suppressions.c.id)
        .where(suppressions.c.email_lower == subscribers.c.email_lower)
        .where(or_(suppressions.c.list_name == "", suppressions.c.list_name == subscribers.c.list_name))
        .exists()
    )


class _Liveness:
    """:func:`~digest.liveness.holder_alive` once per holder: of any holder of this host when
    ``exclusive`` (one machine, SQLite), else only of one of this boot and pid namespace
    (``same_kernel``: several machines share PostgreSQL). When ``exclusive``, a holder of
    this very process counts as gone: a ledger started again in-process (after an exception
    left its rows) takes them over, as a restart would."""

    def __init__(self, exclusive: bool) -> None:
        self.exclusive = exclusive
        self.seen: dict[str, bool | None] = {}

    def __call__(self, holder: str | None) -> bool | None:
        if holder is None:
            return None
        if holder not in self.seen:
            alive = holder_alive(holder, same_kernel=not self.exclusive)
            if alive is None and self.exclusive and _this_process(holder):
                alive = False
            self.seen[holder] = alive
        return self.seen[holder]


def _this_process(holder: str) -> bool:
    """True when ``holder`` (``host:pid:random``) names this process of this host."""
    import os
    import socket

    host, _, rest = holder.partition(":")
    return host == socket.gethostname() and rest.partition(":")[0] == str(os.getpid())


def _lease_now(conn: Connection) -> datetime:
    """The lease clock (aware UTC), read inside the caller's transaction: the PostgreSQL
    server's ``now()`` (its transaction's start), so workers on hosts whose clocks disagree
    stamp and compare leases on one clock; on SQLite (one machine) this machine's clock.
    Never a command's ``--at``: a lease is about processes, not about an edition's time."""
    if conn.dialect.name == "postgresql":
        value = conn.scalar(text("SELECT now()"))
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _id_chunks(dialect: str, column: Any, ids: Sequence[int]) -> list[Any]:
    """Conditions "``column`` is one of ``ids``" covering all of ``ids``: on PostgreSQL one
    ``column = ANY(:array)`` (a single parameter, nothing to expand or parse per id); on
    SQLite ``IN`` lists of at most 1000 (its parameter limit)."""
    if not ids:
        return []
    if dialect == "postgresql":
        return [column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))]
    return [column.in_(list(ids[start : start + 1000])) for start in range(0, len(ids), 1000)]


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

    def queue_list_deliveries(self, edition_id: int, list_name: str, *, now: datetime) -> int:
        """Add a ``queued`` ledger row (due now) for every active subscriber of
        ``list_name`` that has none for this edition, in one ``INSERT … SELECT`` (nobody is
        loaded into Python, so a million subscribers cost one statement). Idempotent;
        returns how many rows were added."""
        known = (
            select(deliveries.c.id)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.subscriber_id == subscribers.c.id)
            .exists()
        )
        when = deliveries.c.created_at.type
        rows = select(
            literal(edition_id), subscribers.c.id, literal("queued"), literal(0),
            literal(now, type_=when), literal(now, type_=when),
        ).where(subscribers.c.list_name == list_name, subscribers.c.status == "active", ~known)
        stmt = insert(deliveries).from_select(
            ["edition_id", "subscriber_id", "state", "attempts", "created_at", "updated_at"], rows
        )
        count = (
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.edition_id == edition_id)
        )
        with self.begin() as conn:
            # counted, not rowcount: SQLAlchemy reports -1 for INSERT … SELECT on psycopg
            before = int(conn.scalar(count) or 0)
            conn.execute(stmt)
            return int(conn.scalar(count) or 0) - before

    def lease_now(self) -> datetime:
        """The lease clock now (aware UTC): the PostgreSQL server's ``now()``, or this
        machine's clock on SQLite; what delivery leases are stamped and compared on."""
        with self.begin() as conn:
            return _lease_now(conn)

    def recover_sending(
        self, edition_id: int | None, *, now: datetime, exclusive: bool | None = None
    ) -> list[int]:
        """Take over rows in flight (``claimed``/``sending``) of an edition (of every edition
        when None) whose worker is gone, as :func:`digest.ledger_state.reclaim` decides:
        ``sending`` rows (handed to the provider, answer never recorded) become ``unknown``;
        ``claimed`` rows (never handed over) go back to ``queued`` with their attempt
        uncounted. Leases are compared on the lease clock (:meth:`lease_now`), not on
        ``now``, which only stamps ``updated_at``. When ``exclusive`` (default: on SQLite,
        one machine) the holder process is asked (:func:`digest.liveness.holder_alive`): a
        running one keeps its rows whatever their lease, a gone one loses them at once; else
        a row whose lease has not expired is left to its worker. On PostgreSQL
        the rows are locked with ``SKIP LOCKED``. Returns the ids that became ``unknown``."""
        if exclusive is None:
            exclusive = self.engine.dialect.name != "postgresql"
        query = select(
            deliveries.c.id, deliveries.c.state, deliveries.c.lease_expires_at,
            deliveries.c.lease_holder,
        ).where(deliveries.c.state.in_(sorted(IN_FLIGHT_STATES)))
        if edition_id is not None:
            query = query.where(deliveries.c.edition_id == edition_id)
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        unknown: list[int] = []
        with self.begin() as conn:
            back: list[int] = []
            alive = _Liveness(exclusive)
            lease_now = _lease_now(conn)
            for row in conn.execute(query).all():
                verdict = reclaim(
                    row.state, row.lease_expires_at, lease_now,
                    holder_alive=alive(row.lease_holder),
                )
                if verdict == "queued":
                    back.append(row.id)
                elif verdict == "unknown":
                    unknown.append(row.id)
            released = {"lease_holder": None, "lease_expires_at": None, "updated_at": now}
            dialect = self.engine.dialect.name
            for among in _id_chunks(dialect, deliveries.c.id, back):
                conn.execute(
                    update(deliveries)
                    .where(among)
                    .where(deliveries.c.state == "claimed")
                    .values(state="queued", attempts=deliveries.c.attempts - 1, **released)
                )
            for among in _id_chunks(dialect, deliveries.c.id, unknown):
                conn.execute(
                    update(deliveries)
                    .where(among)
                    .where(deliveries.c.state == "sending")
                    .values(state="unknown", last_error="interrupted while sending", **released)
                )
        return unknown

    def ledger_activity(self, now: datetime, *, exclusive: bool | None = None) -> LedgerActivity:
        """What the ledger holds for a worker (:func:`digest.ledger_state.worker_step`), over
        every edition: due queued rows (at ``now``), rows in flight that
        :func:`~digest.ledger_state.reclaim` would take over (leases on the lease clock,
        :meth:`lease_now`; holders asked when ``exclusive``, default on SQLite), when the
        earliest held lease ends, said on ``now``'s clock (at least a second ahead, for a
        live holder whose lease ran out), and the next ``not_before``."""
        if exclusive is None:
            exclusive = self.engine.dialect.name != "postgresql"
        due, next_due = self.queued_deliveries(now)
        query = (
            select(deliveries.c.state, deliveries.c.lease_expires_at, deliveries.c.lease_holder,
                   func.count())
            .where(deliveries.c.state.in_(sorted(IN_FLIGHT_STATES)))
            .group_by(deliveries.c.state, deliveries.c.lease_expires_at, deliveries.c.lease_holder)
        )
        reclaimable = 0
        held: list[datetime] = []
        alive = _Liveness(exclusive)
        with self.begin() as conn:
            lease_now = _lease_now(conn)
            for state, expires_at, holder, n in conn.execute(query).all():
                verdict = reclaim(state, expires_at, lease_now,
                                  holder_alive=alive(holder))
                if verdict is not None:
                    reclaimable += int(n)
                elif expires_at is not None:
                    # the lease clock's time, said on the caller's clock (which may be --at)
                    left = max(expires_at - lease_now, timedelta(seconds=1))
                    held.append(now + left)
        return LedgerActivity(
            due=due, reclaimable=reclaimable, held_until=min(held) if held else None,
            next_due=next_due,
        )

    def held_batches(self, edition_id: int | None = None) -> list[HeldBatch]:
        """Rows in flight (of one edition, or of all when None) per holder, with when the
        holder's lease ends (the latest expiry of its rows, on the lease clock), whether
        :func:`~digest.ledger_state.reclaim` would take them over now, and the lease clock's
        time it was asked at; for ``digest deliveries`` and ``retry-unknown`` to say why rows
        in flight are not re-queued yet and when they will be."""
        exclusive = self.engine.dialect.name != "postgresql"
        query = (
            select(deliveries.c.lease_holder, deliveries.c.state, deliveries.c.lease_expires_at,
                   func.count())
            .where(deliveries.c.state.in_(sorted(IN_FLIGHT_STATES)))
            .group_by(deliveries.c.lease_holder, deliveries.c.state,
                      deliveries.c.lease_expires_at)
        )
        if edition_id is not None:
            query = query.where(deliveries.c.edition_id == edition_id)
        alive = _Liveness(exclusive)
        found: dict[str | None, dict[str, Any]] = {}
        with self.begin() as conn:
            lease_now = _lease_now(conn)
            for holder, state, expires_at, n in conn.execute(query).all():
                batch = found.setdefault(
                    holder, {"rows": 0, "expires_at": None, "taken": False,
                             "alive": alive(holder)},
                )
                batch["rows"] += int(n)
                if expires_at is not None and (
                    batch["expires_at"] is None or expires_at > batch["expires_at"]
                ):
                    batch["expires_at"] = expires_at
                if reclaim(state, expires_at, lease_now,
                           holder_alive=batch["alive"]) is not None:
                    batch["taken"] = True
        return [
            HeldBatch(holder=holder, rows=b["rows"], expires_at=b["expires_at"],
                      holder_alive=b["alive"], reclaimable=b["taken"], lease_now=lease_now)
            for holder, b in sorted(found.items(), key=lambda kv: kv[0] or "")
        ]

    def claim_deliveries(
        self,
        edition_id: int,
        *,
        list_name: str,
        limit: int,
        now: datetime,
        holder: str | None = None,
        lease: timedelta | None = None,
        after: int | None = None,
    ) -> list[Claim]:
        """Claim up to ``limit`` due ``queued`` rows of an edition (with an id above
        ``after`` when given), oldest first, in one
        transaction of two statements in the usual case: ``UPDATE … SET state = 'claimed'
        WHERE id IN (SELECT … ORDER BY id LIMIT n) RETURNING …`` (attempts + 1, the lease),
        then one ``SELECT`` of those rows' subscribers. Rows whose subscriber is no longer
        active or whose address is suppressed (globally or for ``list_name``) become
        ``skipped`` instead (attempt uncounted, ``last_error`` says why); when every row of
        a claim is skipped, the next due rows are claimed (a transaction each), so an empty
        list means nothing due is left, never "a batch of suppressed addresses". The claimed
        rows are returned as :class:`Claim`, by id; :meth:`mark_sending` makes them
        ``sending`` when they are handed to the provider.

        ``after`` (the last id this run claimed) lets the scan start there: PostgreSQL
        reads queued rows in primary-key order and would otherwise walk past every row
        already sent, so that each claim read the whole edition (6.8 s per claim with
        900,000 rows sent). A caller that gets nothing above ``after`` asks once more
        without it, for rows that came back to the queue behind it.

        On PostgreSQL the inner select locks the rows with ``FOR UPDATE SKIP LOCKED`` so
        several workers can claim side by side. The claimed rows carry the lease ``holder``
        for ``lease`` from the lease clock's now (:meth:`lease_now`, read in the same
        transaction; ``now``, maybe a command's ``--at``, decides only which rows are due):
        :meth:`recover_sending` leaves them alone until then. Without ``lease`` the rows
        carry no expiry (counted as expired).
        """
        due = or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now)
        picked = (
            select(deliveries.c.id)
            .where(deliveries.c.edition_id == edition_id)
            .where(deliveries.c.state == "queued")
            .where(due)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        if after is not None:
            picked = picked.where(deliveries.c.id > after)
        if self.engine.dialect.name == "postgresql":
            picked = picked.with_for_update(skip_locked=True)
        claim = (
            update(deliveries)
            .where(deliveries.c.id.in_(picked.scalar_subquery()))
            .where(deliveries.c.state == "queued")
            .values(
                state="claimed", attempts=deliveries.c.attempts + 1, updated_at=now,
                lease_holder=holder, lease_expires_at=None,
            )
            .returning(deliveries.c.id, deliveries.c.subscriber_id, deliveries.c.attempts)
        )
        suppressed = _address_suppressed().label("suppressed")
        while True:
            picked_any, claimed = self._claim_once(claim, suppressed, lease)
            if claimed or not picked_any:
                return claimed

    def _claim_once(
        self, claim: Any, suppressed: Any, lease: timedelta | None
    ) -> tuple[bool, list[Claim]]:
        """One transaction of :meth:`claim_deliveries`: whether ``claim`` picked any row,
        and those of its rows whose subscriber may still receive (the others skipped)."""
        with self.begin() as conn:
            if lease is not None:
                claim = claim.values(lease_expires_at=_lease_now(conn) + lease)
            rows = sorted(conn.execute(claim).all())
            if not rows:
                return False, []
            people = {}
            dialect = self.engine.dialect.name
            for among in _id_chunks(dialect, subscribers.c.id, [r.subscriber_id for r in rows]):
                for sub in conn.execute(select(*_CLAIM_COLUMNS, suppressed).where(among)):
                    people[sub.id] = sub
            claimed: list[Claim] = []
            skipped: dict[str, list[int]] = {}
            for row in rows:
                sub = people[row.subscriber_id]
                reason = skip_reason(sub.status, bool(sub.suppressed))
                if reason is not None:
                    skipped.setdefault(reason, []).append(row.id)
                else:
                    claimed.append(Claim(row.id, _row_subscriber(sub), row.attempts))
            for reason, skip in skipped.items():
                for among in _id_chunks(dialect, deliveries.c.id, skip):
                    conn.execute(
                        update(deliveries)
                        .where(among)
                        .values(
                            state="skipped", last_error=reason,
                            attempts=deliveries.c.attempts - 1, lease_holder=None,
                            lease_expires_at=None,
                        )
                    )
        return True, claimed

    def mark_sending(
        self,
        delivery_ids: Sequence[int],
        *,
        now: datetime,
        lease: timedelta | None = None,
        holder: str | None = None,
    ) -> int:
        """``claimed`` rows are about to be handed to the provider: they become ``sending``
        (a kill from here on leaves their outcome unknown); ``lease`` renews their lease for
        the request, from the lease clock's now (kept as it is when None). With ``holder``,
        only rows whose lease is still that worker's change (another worker may have taken
        over an expired one). Returns how many rows became ``sending``."""
        values: dict[str, Any] = {"state": "sending", "updated_at": now}
        stmt = update(deliveries).where(deliveries.c.state == "claimed")
        if holder is not None:
            stmt = stmt.where(deliveries.c.lease_holder == holder)
        done = 0
        with self.begin() as conn:
            if lease is not None:
                values["lease_expires_at"] = _lease_now(conn) + lease
            for among in _id_chunks(self.engine.dialect.name, deliveries.c.id, list(delivery_ids)):
                done += int(conn.execute(stmt.where(among).values(**values)).rowcount or 0)
        return done

    def sending_rows(self, delivery_ids: Sequence[int], *, holder: str) -> set[int]:
        """The ids among ``delivery_ids`` that are ``sending`` under ``holder``'s lease: what
        a worker still holds after :meth:`mark_sending` changed fewer rows than it asked."""
        found: set[int] = set()
        with self.begin() as conn:
            for among in _id_chunks(self.engine.dialect.name, deliveries.c.id, list(delivery_ids)):
                found.update(conn.scalars(
                    select(deliveries.c.id).where(among)
                    .where(deliveries.c.state == "sending")
                    .where(deliveries.c.lease_holder == holder)
                ))
        return found

    def renew_delivery_lease(
        self, delivery_ids: Sequence[int], *, holder: str, lease: timedelta
    ) -> int:
        """Push the lease of ``holder``'s rows among ``delivery_ids`` still in flight to
        ``lease`` past the lease clock's now (a slow batch keeps its rows). Returns how many
        rows were renewed."""
        done = 0
        with self.begin() as conn:
            stmt = (
                update(deliveries)
                .where(deliveries.c.lease_holder == holder)
                .where(deliveries.c.state.in_(sorted(IN_FLIGHT_STATES)))
                .values(lease_expires_at=_lease_now(conn) + lease)
            )
            for among in _id_chunks(self.engine.dialect.name, deliveries.c.id, list(delivery_ids)):
                done += int(conn.execute(stmt.where(among)).rowcount or 0)
        return done

    def record_outcomes(self, updates: Sequence[RowUpdate], *, now: datetime) -> None:
        """Record each :class:`~digest.ledger_state.RowUpdate` (state, provider id, error,
        ``not_before``) in one transaction, with one ``UPDATE … WHERE id IN (…)`` per
        distinct outcome (a batch SendGrid accepted is one statement: every row has the
        request's message id). Only rows in ``claimed``, ``sending`` or ``unknown`` change
        (an answer that arrives late still upgrades ``unknown``); a row without a provider
        id keeps the one it has."""
        groups: dict[tuple[str, str | None, str | None, datetime | None], list[int]] = {}
        for u in updates:
            groups.setdefault((str(u.state), u.provider_id, u.error, u.not_before), []).append(
                u.delivery_id
            )
        if not groups:
            return
        open_states = deliveries.c.state.in_(("claimed", "sending", "unknown"))
        with self.begin() as conn:
            for (state, provider, error, not_before), ids in groups.items():
                values: dict[str, Any] = {
                    "state": state, "last_error": error, "not_before": not_before,
                    "updated_at": now, "lease_holder": None, "lease_expires_at": None,
                }
                if provider is not None:
                    values["provider_id"] = provider
                for among in _id_chunks(self.engine.dialect.name, deliveries.c.id, ids):
                    conn.execute(
                        update(deliveries).where(among).where(open_states).values(**values)
                    )

    def delivery_by_message(self, email: str, message_ids: Sequence[str]) -> int | None:
        """The ledger row (newest first) to ``email`` (case-insensitive) whose provider id is
        one of ``message_ids`` (:func:`digest.transports.sendgrid.message_id_candidates` of an
        event's ``sg_message_id``), or None: how a SendGrid event that lacks our signed
        delivery reference finds its row. A request's message id is shared by its batch, the
        address picks the row within it."""
        if not message_ids or not email:
            return None
        with self.begin() as conn:
            found = conn.scalar(
                select(deliveries.c.id)
                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                .where(subscribers.c.email_lower == email.lower())
                .where(deliveries.c.provider_id.in_(list(message_ids)))
                .order_by(deliveries.c.id.desc())
                .limit(1)
            )
        return int(found) if found is not None else None

    def fail_delivered(self, delivery_id: int, error: str, *, now: datetime) -> bool:
        """Mark a ``sent`` row ``failed`` with ``error``: the provider took the message and
        reported later that it never sent it (a SendGrid ``dropped`` for a reason about the
        message), so ``retry-failed`` may send it again without a second copy reaching
        anyone. Returns False when the row is not ``sent`` (unknown id, or already moved)."""
        stmt = (
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .where(deliveries.c.state == "sent")
            .values(state="failed", last_error=error[:500], updated_at=now)
        )
        with self.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def requeue(
        self, edition_id: int | None, state: str, *, now: datetime, held: dict[str, int] | None = None
    ) -> int:
        """Move rows in ``state`` (``unknown`` or ``failed``; of one edition, or of all when
        None) back to ``queued``, due now, with a fresh retry budget (attempts 0). Rows
        waiting for a retry (``queued`` with attempts and a ``not_before``) become due now as
        well: the operator says the provider is back. Rows waiting for a local send time
        (never attempted) keep it. ``not_before`` is compared with no clock here, since a
        command run with ``--at`` records retries on its own clock. Returns how many rows
        moved from ``state``.

        Rows a claim would skip stay in ``state`` whatever the caller
        (:func:`~digest.ledger_state.skip_reason`: the subscriber is no longer active or the
        address is suppressed), counted per reason in ``held`` when given (a dict, filled
        in): re-queued, a suppressed address would only wait on the claim's re-check, and
        kept they can still be retried once the suppression is lifted."""
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
        rows = (
            select(deliveries.c.id, subscribers.c.status, _address_suppressed().label("suppressed"))
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.state == state)
        )
        if edition_id is not None:
            moved = moved.where(deliveries.c.edition_id == edition_id)
            waiting = waiting.where(deliveries.c.edition_id == edition_id)
            rows = rows.where(deliveries.c.edition_id == edition_id)
        held = {} if held is None else held
        with self.begin() as conn:
            conn.execute(waiting)
            going = []
            for row in conn.execute(rows):
                reason = skip_reason(row.status, bool(row.suppressed))
                if reason is None:
                    going.append(row.id)
                else:
                    held[reason] = held.get(reason, 0) + 1
            dialect = self.engine.dialect.name
            return sum(
                int(conn.execute(moved.where(among)).rowcount or 0)
                for among in _id_chunks(dialect, deliveries.c.id, going)
            )

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
        """Ledger rows in ``states`` (of one edition or all), with the address, the
        subscriber's status and whether the address is suppressed now
        (:class:`~digest.store.rows.DeliveryRow`); by id."""
        query = (
            select(
                deliveries.c.id, deliveries.c.edition_id, deliveries.c.subscriber_id,
                subscribers.c.email, deliveries.c.state, deliveries.c.attempts,
                deliveries.c.provider_id, deliveries.c.last_error, deliveries.c.updated_at,
                subscribers.c.status, _address_suppressed().label("suppressed"),
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
            return [
                DeliveryRow(**{**r._mapping, "suppressed": bool(r.suppressed)})
                for r in conn.execute(query)
            ]

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
