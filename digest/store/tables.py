"""The declared tables (SQLAlchemy Core) in one :data:`metadata`: what the alembic
migrations in ``digest/migrations`` create and what a test compares them with.

- ``sources``: per configured source, the fetch validators and the last outcome.
- ``entries``: unique per (source, entry_id); ``first_seen`` is written once.
- ``editions``: unique per (list_name, period); the rendered parts are kept for the archive.
- ``edition_variants``: an edition rendered once per subscriber topic choice, with its
  per-recipient placeholders, so a restart delivers exactly what was built.
- ``edition_entries``: which entries an edition carried (so later editions leave them out).
- ``edition_adjustments`` / ``edition_approvals``: the editor's changes and approvals.
- ``subscribers``: unique per (list_name, email_lower).
- ``deliveries``: unique per (edition_id, subscriber_id); the ledger of exactly-once sending.
- ``suppressions``: addresses that must never receive mail (globally or for one list).
- ``settings``: small key/value facts of the installation (e.g. the generated token secret).
- ``leases``: who owns a singleton role (the scheduler) and until when.
- ``runs``: one report per poll or send run.

All times are stored as naive UTC (:class:`~digest.store.engine.UTCDateTime`) and come back
timezone-aware.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from digest.store.engine import UTCDateTime

metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("last_status", String(32), nullable=True),
    Column("last_http_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_fetch_at", UTCDateTime, nullable=True),
    Column("last_ok_at", UTCDateTime, nullable=True),
    Column("last_new_at", UTCDateTime, nullable=True),
    Column("error_count", Integer, nullable=False, default=0),
    Column("not_modified_count", Integer, nullable=False, default=0),
    Column("redirect_to", Text, nullable=True),
    Column("redirect_count", Integer, nullable=False, default=0),
    Column("next_poll_at", UTCDateTime, nullable=True),
    Column("disabled_reason", Text, nullable=True),
    Column("body_hash", Text, nullable=True),  # of the last body parsed: unchanged, not parsed again
)


entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("entry_id", Text, nullable=False),
    Column("url", Text, nullable=True),
    Column("title", Text, nullable=False),
    Column("summary_html", Text, nullable=False, default=""),
    Column("summary_text", Text, nullable=False, default=""),
    Column("image", JSON, nullable=True),
    Column("author", Text, nullable=True),
    Column("published", UTCDateTime, nullable=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("categories", JSON, nullable=False, default=list),
    Column("language", String(35), nullable=True),
    Column("content_hash", String(64), nullable=False, default=""),
    Column("flags", JSON, nullable=False, default=list),
    UniqueConstraint("source", "entry_id", name="uq_entries_source_entry"),
    Index("ix_entries_published", "published"),
    Index("ix_entries_first_seen", "first_seen"),
)


editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(64), nullable=False),
    Column("period", String(64), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, default="built"),
    Column("subject", Text, nullable=False, default=""),
    Column("preheader", Text, nullable=False, default=""),
    Column("html", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("story_count", Integer, nullable=False, default=0),
    Column("completed_at", UTCDateTime, nullable=True),
    UniqueConstraint("list_name", "period", name="uq_editions_list_period"),
)


edition_variants = Table(
    "edition_variants",
    metadata,
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
    Column("topics", String(512), primary_key=True),
    Column("subject", Text, nullable=False),
    Column("preheader", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("omitted", Integer, nullable=False, default=0),
)


edition_entries = Table(
    "edition_entries",
    metadata,
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("entry_id", Text, primary_key=True),
    Column("story_key", Text, nullable=False),
    Column("section", String(64), nullable=True),
    Column("position", Integer, nullable=False),
)


subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(64), nullable=False),
    Column("email", Text, nullable=False),
    Column("email_lower", Text, nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("topics", JSON, nullable=False, default=list),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("list_name", "email_lower", name="uq_subscribers_list_email"),
)


deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("state", String(16), nullable=False, default="queued"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("provider_id", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("not_before", UTCDateTime, nullable=True),
    Column("lease_holder", Text, nullable=True),  # the worker holding a claimed/sending row
    Column("lease_expires_at", UTCDateTime, nullable=True),
    UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
    Index("ix_deliveries_state", "edition_id", "state"),
    # a claim takes the oldest queued rows of an edition: read in id order, stop at the batch
    Index("ix_deliveries_claim", "edition_id", "state", "id"),
)


suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email_lower", Text, nullable=False),
    Column("list_name", String(64), nullable=False, default=""),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("email_lower", "list_name", name="uq_suppressions_email_list"),
)


settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", Text, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)


runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("ok", Boolean, nullable=False, default=True),
    Column("report", JSON, nullable=False, default=dict),
)


# -- editor (editor.py): per-edition adjustments (migration 0004) -------------------------

edition_adjustments = Table(
    "edition_adjustments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(64), nullable=False),
    Column("period", String(64), nullable=False),
    Column("story_key", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("value", Text, nullable=False, default=""),
    Column("lead_source", String(64), nullable=False, default=""),
    Column("lead_entry_id", Text, nullable=False, default=""),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "list_name", "period", "story_key", "action", name="uq_edition_adjustments_story_action"
    ),
)

edition_approvals = Table(
    "edition_approvals",
    metadata,
    Column("list_name", String(64), primary_key=True),
    Column("period", String(64), primary_key=True),
    Column("approved_at", UTCDateTime, nullable=False),
    Column("approved_by", Text, nullable=False, default=""),
)
