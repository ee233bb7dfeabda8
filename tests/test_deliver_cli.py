"""The thin CLI commands: subscribers import/list/export/remove, deliveries, retry-unknown."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from digest.cli import cli
from digest.deliver import Ledger
from digest.store import Store
from digest.types import DeliveryState
from tests.deliver_helpers import NOW, MemoryTransport, compose, make_edition


def setup(tmp_path: Path, url: str) -> Path:
    """A config (with a subscriber file of three rows, one bad) on the database at ``url``."""
    (tmp_path / "world.csv").write_text(
        "email,name,topics,timezone,status\n"
        "ada@example.com,=cmd|' /C calc'!A0,,UTC,active\n"
        "grace@example.com,Grace,,UTC,active\n"
        "broken,Nope,,UTC,active\n",
        encoding="utf-8",
    )
    cfg = {
        "site": {"postal_address": "1 Example Street, London, UK"},
        "database": {"url": url},
        "sources": [{"name": "s", "title": "S", "url": "https://example.org/feed"}],
        "lists": [{"name": "world", "title": "World", "sender": "w@example.org",
                   "subscribers": "world.csv"}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_subscriber_commands(db_url: str, tmp_path: Path) -> None:
    cfg = str(setup(tmp_path, db_url))
    runner = CliRunner()
    r = runner.invoke(cli, ["-c", cfg, "subscribers", "import"])
    assert r.exit_code == 1  # one bad row
    assert "2 added" in r.output and "world.csv:4" in r.output
    r = runner.invoke(cli, ["-c", cfg, "subscribers", "export", "world"])
    assert r.exit_code == 0 and "'=cmd" in r.output
    r = runner.invoke(cli, ["-c", cfg, "subscribers", "remove", "world", "GRACE@example.com"])
    assert r.exit_code == 0
    r = runner.invoke(cli, ["-c", cfg, "subscribers", "list", "world"])
    assert r.output.splitlines()[0] == "email\tstatus\ttopics\ttimezone\tname"
    assert "ada@example.com" in r.output and "grace@example.com" not in r.output
    r = runner.invoke(cli, ["-c", cfg, "subscribers", "remove", "world", "nobody@example.com"])
    assert r.exit_code != 0


def test_deliveries_lists_unknown_and_retry_requeues(db_url: str, tmp_path: Path) -> None:
    cfg = str(setup(tmp_path, db_url))
    runner = CliRunner()
    runner.invoke(cli, ["-c", cfg, "subscribers", "import"])
    store = Store.open(db_url)
    ed = make_edition(store)
    led = Ledger(store, clock=lambda: NOW)
    led.queue(ed, store.subscribers_of("world"))
    led.run(ed, list_name="world", transport=MemoryTransport([DeliveryState.UNKNOWN]),
            compose=compose)
    r = runner.invoke(cli, ["-c", cfg, "deliveries"])
    assert r.exit_code == 0
    assert "unknown 2" in r.output and "ada@example.com" in r.output
    r = runner.invoke(cli, ["-c", cfg, "deliveries", "retry-unknown", "--edition", str(ed)])
    assert "2 deliveries queued again" in r.output
    assert store.delivery_counts(ed) == {"queued": 2}
    store.close()
