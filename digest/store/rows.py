"""Typed values the store returns (frozen dataclasses; no dict shapes to parse)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.types import Subscriber


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about a source between polls."""

    name: str
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    last_fetch_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_new_at: datetime | None = None
    error_count: int = 0
    not_modified_count: int = 0
    redirect_to: str | None = None
    redirect_count: int = 0
    next_poll_at: datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True)
class Claim:
    """A ledger row a run claimed: its id, the subscriber, and ``attempts`` counting this one."""

    delivery_id: int
    subscriber: Subscriber
    attempts: int


@dataclass(frozen=True)
class EditionRow:
    """An edition as stored (without its HTML and text)."""

    id: int
    list_name: str
    period: str
    window_start: datetime
    window_end: datetime
    created_at: datetime
    status: str
    subject: str
    story_count: int
