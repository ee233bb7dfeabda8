"""A tiny installation for driving the public CLI as cron would: one local feed that gains an
item before every run, lists in one zone, an outbox, a few subscribers, on the database a
test gives (its ``db_url``: SQLite or PostgreSQL). Used by tests/test_cron_dst.py
(in-process `digest run --at`, and real `faketime` subprocesses) and
tests/test_local_time_readers.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from digest.cli import cli

WORDS = (  # noqa: SIM905 -- one word list, read as text
    "harbour vote storm bridge market council river election drought festival vaccine strike "
    "satellite railway glacier budget summit museum wildfire treaty orchestra harvest tunnel "
    "volcano court airline reservoir parliament telescope marathon factory border pipeline "
    "earthquake library stadium ferry university hospital canal forest mine port census"
).split()


@dataclass
class Install:
    """One installation under ``root`` on the database at ``url``: ``config`` is its
    config.yaml."""

    root: Path
    url: str

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def feed(self) -> Path:
        return self.root / "feed.xml"

    def add_item(self, at: datetime) -> None:
        """Rewrite the feed with one more item, published at ``at`` (the run's clock)."""
        stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        seed = int(hashlib.sha256(stamp.encode()).hexdigest(), 16)
        title = " ".join(WORDS[(seed >> (8 * k)) % len(WORDS)] for k in range(6))
        items = self.feed.read_text().split("<!--items-->")[1] if self.feed.exists() else ""
        item = (
            f"<item><title>{title.capitalize()}</title><link>https://news.example.org/{stamp}</link>"
            f"<guid>https://news.example.org/{stamp}</guid>"
            f"<pubDate>{format_datetime(at.astimezone(UTC))}</pubDate>"
            f"<description>{title} ({stamp}).</description></item>"
        )
        items = (item + items)[: 40 * len(item)]  # the feed keeps its latest items
        self.feed.write_text(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>'
            f"<link>https://news.example.org/</link><!--items-->{items}<!--items--></channel></rss>"
        )

    def main_with(self, target: Any, name: str, listener: Any, *args: str) -> tuple[int, str]:
        """Run ``digest -c config.yaml ARGS`` through :func:`digest.cli.main` (the console
        script: its one-line errors and exit code) while SQLAlchemy event ``name`` of
        ``target`` calls ``listener``; returns the exit code and stderr, whitespace folded."""
        import contextlib
        import io
        import sys

        from sqlalchemy import event

        from digest.cli import main

        err = io.StringIO()
        argv = sys.argv
        event.listen(target, name, listener)
        try:
            sys.argv = ["digest", "-c", str(self.config), *args]
            with contextlib.redirect_stderr(err):
                try:
                    main()
                    code = 0
                except SystemExit as done:
                    code = int(done.code or 0)
        finally:
            event.remove(target, name, listener)
            sys.argv = argv
        return code, " ".join(err.getvalue().split())

    def cli(self, *args: str, at: datetime | None = None) -> Any:
        """``digest -c config.yaml ARGS`` in this process (``--at`` appended when given)."""
        argv = ["-c", str(self.config), *args]
        if at is not None:
            argv += ["--at", at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]
        return CliRunner().invoke(cli, argv)

    def _query(self, query: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(query))]
        finally:
            engine.dispose()

    def editions(self) -> list[tuple[str, str]]:
        """``(list, period)`` of every stored edition, oldest first."""
        rows = self._query("SELECT list_name, period FROM editions ORDER BY id")
        return [(r[0], r[1]) for r in rows]

    def sent(self) -> list[tuple[str, str, str, str]]:
        """``(list, period, email, updated_at)`` of every delivery marked sent; ``updated_at``
        as UTC text ``YYYY-MM-DD HH:MM:SS[.ffffff]`` on either dialect."""
        rows = self._query(
            "SELECT e.list_name, e.period, s.email, d.updated_at FROM deliveries d "
            "JOIN editions e ON e.id = d.edition_id JOIN subscribers s ON s.id = d.subscriber_id "
            "WHERE d.state = 'sent' ORDER BY d.id"
        )
        return [(r[0], r[1], r[2], _utc_text(r[3])) for r in rows]


def _utc_text(value: datetime | str) -> str:
    """A stored timestamp as UTC text: SQLite gives it as text already, PostgreSQL as an
    aware datetime."""
    if isinstance(value, datetime):
        value = str(value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value)
    return value


def install(
    root: Path,
    url: str,
    lists: dict[str, tuple[str, str]],
    *,
    send_at: str | None = None,
    subscribers: list[tuple[str, str]] = (("ada@example.org", "UTC"),),
    grace_seconds: int = 3600,
) -> Install:
    """An installation on the database at ``url`` with ``lists`` (name -> (cron, zone)) and
    ``subscribers`` ((email, timezone)) on each list."""
    root.mkdir(parents=True, exist_ok=True)
    csv = root / "subscribers.csv"
    csv.write_text("email,name,topics,timezone,status\n" + "".join(f"{e},,,{tz},active\n" for e, tz in subscribers))
    data = {
        "site": {"postal_address": "1 Example Street, Springfield", "base_url": "https://digest.example.org"},
        "database": {"url": url},
        "sources": [{"name": "local", "title": "Local news", "path": str(root / "feed.xml")}],
        "lists": [
            {
                "name": name,
                "title": name.title(),
                "sender": "News <news@example.org>",
                "schedule": {"cron": cron, "timezone": zone},
                "subscribers": str(csv),
                "max_age_hours": 30,
                **({"send_at": send_at} if send_at else {}),
            }
            for name, (cron, zone) in lists.items()
        ],
        "delivery": {"outbox_dir": str(root / "outbox")},
        "scheduler": {"misfire_grace_seconds": grace_seconds},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(data))
    result = Install(root, url)
    result.add_item(datetime(2026, 1, 1, tzinfo=UTC))
    return result
