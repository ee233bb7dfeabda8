"""The store: migrations match the tables, entries keep first-seen, editions are unique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from digest.exceptions import EditionExists
from digest.store import Store, metadata
from digest.types import Entry, Subscriber, SubscriberStatus

NOW = datetime(2026, 2, 18, 7, tzinfo=UTC)


@pytest.fixture()
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    yield s
    s.close()


def _entry(entry_id: str = "1", **kw) -> Entry:
    base = dict(source="bbc", entry_id=entry_id, title="Title", content_hash="h1",
                published=NOW - timedelta(hours=2), first_seen=NOW)
    base.update(kw)
    return Entry(**base)


def test_migrations_create_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_reopening_is_idempotent(empty_db_url: str) -> None:
    Store.open(empty_db_url).close()
    Store.open(empty_db_url).close()


def test_a_missing_folder_of_the_database_file_is_created(tmp_path: Path) -> None:
    # SQLite only: a database file's folder
    Store.open(f"sqlite:///{tmp_path / 'x' / 'digest.db'}").close()
    assert (tmp_path / "x" / "digest.db").is_file()


def test_first_seen_is_stored_once_and_edits_update_in_place(store: Store) -> None:
    undated = _entry("u", published=None, first_seen=NOW - timedelta(days=1))
    assert store.upsert_entries([undated, _entry()], now=NOW) == (2, 0)
    later = NOW + timedelta(hours=5)
    edited = _entry(title="Title, updated", content_hash="h2", first_seen=later)
    again = _entry("u", published=None, first_seen=later)
    assert store.upsert_entries([edited, again], now=later) == (0, 2)
    stored = {e.entry_id: e for e in store.entries_of("bbc")}
    assert stored["u"].first_seen == NOW - timedelta(days=1)
    assert stored["1"].title == "Title, updated"
    assert stored["1"].first_seen == NOW


def test_entries_between_uses_published_else_first_seen(store: Store) -> None:
    store.upsert_entries(
        [
            _entry("old", published=NOW - timedelta(days=3)),
            _entry("in", published=NOW - timedelta(hours=3)),
            _entry("undated", published=None, first_seen=NOW - timedelta(hours=1)),
            _entry("future", published=NOW + timedelta(hours=1)),
        ],
        now=NOW,
    )
    got = store.entries_between(["bbc"], NOW - timedelta(hours=36), NOW)
    assert [e.entry_id for e in got] == ["in", "undated"]


def test_editions_are_unique_per_list_and_period(store: Store) -> None:
    args = dict(list_name="world", period="2026-02-18", window_start=NOW - timedelta(hours=36),
                window_end=NOW, now=NOW, subject="s", preheader="p", html="<p>", text="t",
                carried=[("bbc", "1", "story-1", "europe")])
    edition_id = store.create_edition(**args)
    with pytest.raises(EditionExists):
        store.create_edition(**args)
    assert store.edition("world", "2026-02-18").id == edition_id
    assert store.sent_entries("world", NOW - timedelta(days=2)) == {("bbc", "1"): "2026-02-18"}
    assert store.previous_edition("world", NOW + timedelta(days=1)).period == "2026-02-18"
    assert store.previous_edition("world", NOW - timedelta(seconds=1)) is None


def test_imports_never_resubscribe(store: Store) -> None:
    sub, added = store.add_subscriber(Subscriber(list_name="world", email="Ada@Example.com"), now=NOW)
    assert added and sub.id is not None
    store.set_subscriber_status(sub.id, SubscriberStatus.UNSUBSCRIBED, now=NOW)
    again, added = store.add_subscriber(Subscriber(list_name="world", email="ada@example.COM"), now=NOW)
    assert not added and again.status is SubscriberStatus.UNSUBSCRIBED
    assert store.subscribers_of("world") == []


def test_secret_is_generated_once(store: Store) -> None:
    assert store.secret() == store.secret()
    assert len(store.secret()) >= 32
