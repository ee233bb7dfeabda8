"""Operator findings, through the CLI: a transport secret that is not set, one summary per
command, config check's verdict and exit codes, a partly written outbox, the editor's list
page before the first edition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.cron_support import Install, install

AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def _change(inst: Install, **delivery: object) -> None:
    data = yaml.safe_load(inst.config.read_text())
    data["delivery"].update(delivery)
    inst.config.write_text(yaml.safe_dump(data))


def test_sendgrid_without_its_api_key(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`transport: sendgrid` without SENDGRID_API_KEY: config check names the variable
    (error, exit 2); a run reports the list once, with its period."""
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    inst = install(tmp_path, db_url, {"world": ("0 7 * * *", "UTC")})
    _change(inst, transport="sendgrid")
    inst.add_item(AT - timedelta(hours=1))
    check = inst.cli("config", "check")
    assert check.exit_code == 2, check.output
    said = " ".join(check.output.split())
    assert "error: transport sendgrid (list world): the API key is read from $SENDGRID_API_KEY" in said
    assert not said.startswith("ok")
    run = inst.cli("run", at=AT)
    assert run.exit_code == 1, run.output
    said = " ".join(run.output.split())
    assert said.count("list world edition") == 1, said
    assert "list world edition 2026-02-18: failed" in said
    assert "1 list(s) failed: world" in said and "world, world" not in said
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    assert inst.cli("config", "check").exit_code == 0
