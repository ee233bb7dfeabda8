"""Config errors an operator met through the CLI: each is one clear message, exit 2, from
``digest config check`` and ``digest run`` alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from digest.cli import cli
from tests.test_cli import _write_config

COMMANDS = [["config", "check"], ["run", "--at", "2026-02-18T07:00Z"]]


def _invoke(path: Path, command: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["-c", str(path), *command])


@pytest.mark.parametrize("command", COMMANDS, ids=["check", "run"])
def test_a_bad_value_in_a_list_prints_only_its_own_error(tmp_path: Path, command: list[str]) -> None:
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["lists"][0]["max_stories"] = "lots"
    data["sources"][1]["poll_interval_minutes"] = "often"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = _invoke(path, command)
    assert result.exit_code == 2, result.output
    assert "lists[0].max_stories:" in result.output
    assert "sources[1].poll_interval_minutes:" in result.output
    assert "at least 1 item" not in result.output, result.output  # no echo of the items' errors


def test_no_list_at_all_still_says_so(tmp_path: Path) -> None:
    path = _write_config(tmp_path, lists=[])
    result = _invoke(path, ["config", "check"])
    assert result.exit_code == 2 and "lists: Tuple should have at least 1 item" in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=["check", "run"])
def test_an_unsupported_database_url_is_a_config_error(tmp_path: Path, command: list[str]) -> None:
    path = _write_config(tmp_path, database={"url": "mysql://digest:s3cret@db.example/digest"})
    result = _invoke(path, command)
    assert result.exit_code == 2, result.output
    assert "database.url: unsupported database URL scheme 'mysql'" in result.output
    assert "sqlite:///" in result.output and "postgresql://" in result.output  # what is supported
    assert "s3cret" not in result.output


def test_an_unsupported_database_url_from_the_environment_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "oracle+cx_oracle://u:pw@h/x")
    result = _invoke(_write_config(tmp_path), ["config", "check"])
    assert result.exit_code == 2, result.output
    assert "$DIGEST_DATABASE_URL: unsupported database URL scheme 'oracle+cx_oracle'" in result.output
    monkeypatch.setenv("DIGEST_DATABASE_URL", "var/digest.db")
    result = _invoke(_write_config(tmp_path), ["config", "check"])
    assert result.exit_code == 2 and "not a database URL" in result.output, result.output


def test_db_copy_refuses_an_unsupported_url_as_usage(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "copy", f"sqlite:///{tmp_path / 'a.db'}", "mysql://h/d"])
    assert result.exit_code == 2 and "TARGET_URL" in result.output and "'mysql'" in result.output


@pytest.mark.parametrize(
    "url", ["sqlite:///var/d.db", "sqlite://", "postgresql://u@h/d", "postgres://u@h/d",
            "postgresql+psycopg://u:p@h:5432/d", "SQLite:///x.db"],
)  # fmt: skip
def test_supported_database_urls_pass(url: str) -> None:
    from digest.config import database_url_problem

    assert database_url_problem(url) is None
