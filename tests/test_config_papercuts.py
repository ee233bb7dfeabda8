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


@pytest.mark.parametrize("loader", ["libyaml", "python"])
@pytest.mark.parametrize("command", COMMANDS, ids=["check", "run"])
def test_a_duplicate_key_is_refused_with_its_line(
    tmp_path: Path, command: list[str], loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest import config

    if loader == "python":
        monkeypatch.setattr(config, "_YAML_LOADER", config._PY_YAML_LOADER)
    else:
        assert issubclass(config._YAML_LOADER, yaml.CSafeLoader)  # the fast path is the one used
    lines = _write_config(tmp_path).read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("max_stories:"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, f"{indent}max_stories: 3")  # the later would win, silently
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = _invoke(path, command)
    assert result.exit_code == 2, result.output
    assert f"line {at + 2}: duplicate key 'max_stories' (first at line {at + 1})" in result.output


@pytest.mark.parametrize("loader", ["libyaml", "python"])
def test_merge_keys_may_still_be_overridden(loader: str) -> None:
    from digest import config

    chosen = config._PY_YAML_LOADER if loader == "python" else config._YAML_LOADER
    doc = "base: &b {x: 1, y: 2}\nthis:\n  <<: *b\n  x: 5\n"
    assert yaml.load(doc, Loader=chosen)["this"] == {"x": 5, "y": 2}  # noqa: S506
    with pytest.raises(config.DuplicateKeyError):
        yaml.load("{a: 1, b: 2, a: 3}", Loader=chosen)  # noqa: S506
