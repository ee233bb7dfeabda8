"""The store: SQLAlchemy tables and the queries digest runs on them, split by noun.

One engine from ``database.url`` (SQLite by default, with WAL and a busy timeout; PostgreSQL
through ``postgresql+psycopg://``). The schema is created and upgraded by the alembic
migrations in ``digest/migrations`` when a store is opened, so an upgrade never loses data.

Modules (see DESIGN.md, "Storage"):

- :mod:`~digest.store.engine`: :func:`make_engine`, :func:`migrate`, ``UTCDateTime``,
  the SQLite pragmas, and ``StoreBase`` (engine + transaction helper).
- :mod:`~digest.store.tables`: every table, in one ``metadata``.
- :mod:`~digest.store.rows`: the typed values the store returns.
- :mod:`~digest.store.sources`: sources and entries.
- :mod:`~digest.store.editions`: editions, renderings, adjustments, approvals, archive.
- :mod:`~digest.store.subscribers`: subscribers and suppressions.
- :mod:`~digest.store.ledger`: deliveries (queue, claim, outcomes, requeue, overview).
- :mod:`~digest.store.ops`: runs, leases, settings, counters, ``mark_once``.

:class:`Store` is the one facade every caller uses: it is composed of one mixin per module,
all sharing one engine. All times are stored as UTC and come back timezone-aware.
"""

from __future__ import annotations

from digest.store.editions import EditionsStore
from typing import Any

from digest.ledger_state import HeldBatch
from digest.store.engine import StoreBase, UTCDateTime, make_engine, migrate, normalize_url
from digest.store.ledger import LedgerStore
from digest.store.ops import OpsStore
from digest.store.rows import (
    Claim,
    DeliveryRow,
    EditionOverview,
    EditionParts,
    EditionRow,
    LeaseRow,
    ListOutcome,
    RunRecord,
    SourceState,
    StateCounts,
    SubscriberCounts,
    UnmatchedEvent,
)
from digest.store.sources import SourcesStore
from digest.store.subscribers import SubscribersStore
from digest.store.tables import (
    deliveries,
    edition_adjustments,
    edition_approvals,
    edition_entries,
    edition_variants,
    editions,
    entries,
    leases,
    metadata,
    runs,
    settings,
    sources,
    subscribers,
    suppressions,
)


class Store(SourcesStore, EditionsStore, SubscribersStore, LedgerStore, OpsStore, StoreBase):
    """Queries on the digest database. Each method runs in its own transaction.

    Create with :meth:`Store.open`; close with :meth:`close` (or use as a context manager).
    Methods raise :class:`StoreError` when the database fails.
    """

    @classmethod
    def open(cls, url: str, **pool: Any) -> Store:
        """Open (creating or upgrading as needed) the store at SQLAlchemy ``url``; ``pool``:
        the PostgreSQL pool settings of :func:`make_engine`. A database already at head is
        opened without alembic (:func:`digest.schema.at_head`)."""
        from digest.schema import at_head

        engine = make_engine(url, **pool)
        if not at_head(engine):
            migrate(engine)  # looked up here, in digest.store, at call time
        return cls(engine)


__all__ = [
    "Claim",
    "DeliveryRow",
    "EditionOverview",
    "EditionParts",
    "EditionRow",
    "HeldBatch",
    "LeaseRow",
    "ListOutcome",
    "RunRecord",
    "SourceState",
    "StateCounts",
    "Store",
    "StoreBase",
    "SubscriberCounts",
    "UnmatchedEvent",
    "UTCDateTime",
    "deliveries",
    "edition_adjustments",
    "edition_approvals",
    "edition_entries",
    "edition_variants",
    "editions",
    "entries",
    "leases",
    "make_engine",
    "metadata",
    "migrate",
    "normalize_url",
    "runs",
    "settings",
    "sources",
    "subscribers",
    "suppressions",
]
