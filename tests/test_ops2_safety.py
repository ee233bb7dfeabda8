"""Delivery safety through the CLI: the recovery commands never send to a suppressed
address, a complaint is not lifted by a casual remove, a full PostgreSQL disk reads like a
full SQLite one, and a SendGrid drop without our delivery reference still finds its row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def _digest(config: Path, *args: str, code: int = 0) -> str:
    """Run ``digest -c CONFIG ARGS`` in-process; its output on one line (whitespace folded)."""
    from digest.cli import cli

    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def test_retry_unknown_leaves_suppressed_addresses_unknown_and_says_why(
    db_url: str, tmp_path: Path
) -> None:
    """`deliveries retry-unknown` after a crash, when one address bounced meanwhile (from
    another edition) and one subscriber unsubscribed: only the third row is queued again; the
    two stay unknown (never sent) and the output counts them by reason."""
    from sqlalchemy import select, update

    from digest.store import Store, deliveries, subscribers
    from tests.worker_support import seed, write_config

    edition = seed(db_url, 3, html_size=200)
    with Store.open(db_url) as store:
        with store.begin() as conn:
            conn.execute(update(deliveries).values(state="unknown", last_error="timeout"))
            emails = sorted(conn.scalars(select(subscribers.c.email)))
        store.suppress(emails[0], "bounce", now=AT)
    config = write_config(tmp_path, db_url, "http://127.0.0.1:9")
    _digest(config, "subscribers", "remove", "world", emails[1])

    said = _digest(config, "deliveries", "retry-unknown")
    assert said.startswith("1 deliveries queued again;"), said
    assert "1 unknown deliveries stay unknown (address suppressed)" in said, said
    assert "`digest suppressions remove EMAIL` lifts one, then run retry-unknown again" in said
    assert "1 unknown deliveries stay unknown (subscriber unsubscribed)" in said, said
    with Store.open(db_url) as store:
        assert store.delivery_counts(edition) == {"queued": 1, "unknown": 2}
