"""Set-up shared by the worker tests and ``bench/send.py``: a PostgreSQL database of one's
own, a configuration for `digest worker` through a SendGrid fake, and an edition with its
rendering and ``n`` queued ledger rows (bulk SQL, so a million rows take seconds)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert, literal, select, text

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
PG_SERVER = os.environ.get("DIGEST_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def pg_available() -> bool:
    """True when the local PostgreSQL answers (tests that need it skip otherwise)."""
    try:
        import psycopg

        with psycopg.connect(_plain(PG_SERVER) + "/postgres", connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - no driver, no server: skip
        return False


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def pg_database(prefix: str = "workers") -> Iterator[str]:
    """A fresh PostgreSQL database of one's own; yields its SQLAlchemy URL, drops it after."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(_plain(PG_SERVER) + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(_plain(PG_SERVER) + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_config(
    folder: Path,
    db_url: str,
    sendgrid_url: str,
    *,
    lease_seconds: float = 300,
    batch_size: int = 1000,
    resend_unknown: bool = False,
    transport: dict[str, Any] | None = None,
) -> Path:
    """A config.yaml in ``folder``: one list ``world`` (never due while a test runs) sent
    through SendGrid at ``sendgrid_url``, on ``db_url``; ``transport`` replaces the SendGrid
    settings of ``delivery`` (``{"transport": "smtp", "smtp": {...}}``)."""
    feed = folder / "feed.xml"
    feed.write_text("<rss/>")
    data = {
        "site": {"postal_address": "1 Example Street, London", "base_url": "https://news.example.org"},
        "database": {"url": db_url},
        "delivery": {
            "transport": "sendgrid", "batch_size": batch_size, "lease_seconds": lease_seconds,
            "resend_unknown": resend_unknown,
            **(transport or {"sendgrid": {"host": sendgrid_url, "timeout": 60}}),
        },
        "sources": [{"name": "s0", "title": "S0", "path": "feed.xml"}],
        "lists": [
            {"name": "world", "title": "World", "sender": "news@example.org",
             "schedule": {"cron": "0 7 1 1 *", "timezone": "UTC"}},
        ],
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def seed_settled(db_url: str, n: int, state: str, error: str) -> tuple[int, list[str]]:
    """:func:`seed` ``n`` subscribers with every ledger row in ``state`` (``unknown``,
    ``failed``) with ``error``; returns the edition id and the addresses, sorted."""
    from sqlalchemy import update

    from digest.store import Store, deliveries, subscribers

    edition = seed(db_url, n, html_size=200)
    with Store.open(db_url) as store, store.begin() as conn:
        conn.execute(update(deliveries).values(state=state, last_error=error))
        emails = sorted(conn.scalars(select(subscribers.c.email)))
    return edition, emails


def seed(
    db_url: str, n: int, *, html_size: int = 30_000, period: str = "2026-02-18", queue: bool = True
) -> int:
    """Migrate ``db_url``; add ``n`` active subscribers of ``world``, an edition with one
    rendering (about ``html_size`` bytes of HTML with the per-recipient placeholders) and,
    when ``queue``, a queued ledger row per subscriber. Returns the edition id."""
    from digest.store import Store, deliveries, subscribers
    from digest.types import RenderedEdition

    para = "<p>A paragraph of the day's news, long enough to look like a real story card.</p>"
    html = (
        "<!doctype html><html><body><p>Hello %%name%%</p>"
        + para * max(1, html_size // len(para))
        + '<a href="%%unsubscribe_url%%">Unsubscribe</a></body></html>'
    )
    rendering = RenderedEdition(
        list_name="world", period=period, html=html, text="Hello %%name%%\n%%unsubscribe_url%%",
        subject="World news", preheader="Today",
    )
    with Store.open(db_url) as store:
        rows = (
            {"list_name": "world", "email": f"reader{i:07d}@example.com",
             "email_lower": f"reader{i:07d}@example.com", "name": f"Reader {i}", "topics": [],
             "timezone": "UTC", "status": "active", "created_at": NOW, "updated_at": NOW}
            for i in range(n)
        )
        chunk: list[dict[str, object]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == 20_000:
                with store.begin() as conn:
                    conn.execute(insert(subscribers), chunk)
                chunk = []
        if chunk:
            with store.begin() as conn:
                conn.execute(insert(subscribers), chunk)
        edition = store.create_edition(
            list_name="world", period=period, window_start=NOW - timedelta(days=1),
            window_end=NOW, now=NOW, subject="World news", preheader="Today", html=html,
            text="hi", carried=[], variants={(): rendering},
        )
        if not queue:
            return edition
        with store.begin() as conn:
            conn.execute(
                insert(deliveries).from_select(
                    ["edition_id", "subscriber_id", "state", "attempts", "created_at", "updated_at"],
                    select(
                        literal(edition), subscribers.c.id, literal("queued"), literal(0),
                        literal(NOW, type_=deliveries.c.created_at.type),
                        literal(NOW, type_=deliveries.c.updated_at.type),
                    ).where(subscribers.c.list_name == "world"),
                )
            )
            if store.engine.dialect.name == "postgresql":
                conn.execute(text("ANALYZE deliveries"))
                conn.execute(text("ANALYZE subscribers"))
    return edition
