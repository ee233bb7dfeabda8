"""What `digest subscribers import` and `subscribers list` print: every problem of a bad row
in its one message, errors as `error: …` like every other command, a help text naming each
column the list prints."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from digest.cli import cli
from tests.cron_support import install


def _inst(tmp_path: Path) -> Path:
    inst = install(tmp_path, f"sqlite:///{tmp_path / 'digest.db'}", {"morning": ("0 7 * * *", "UTC")})
    return inst.config


def test_a_bad_row_names_every_problem(tmp_path: Path) -> None:
    config = _inst(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("email,name,topics,timezone,status\nada@example.org,,nosuchtopic,Mars/Olympus,paused\n")
    r = CliRunner().invoke(cli, ["-c", str(config), "subscribers", "import", "morning", "--file", str(bad)])
    assert r.exit_code == 1, r.output
    lines = [line for line in r.output.splitlines() if "bad.csv:2:" in line]
    assert len(lines) == 1, r.output  # one message for the row
    assert "unknown topic 'nosuchtopic'" in lines[0]
    assert "timezone 'Mars/Olympus'" in lines[0]
    assert "status 'paused'" in lines[0]


def test_import_errors_read_as_every_other_error_line(tmp_path: Path) -> None:
    config = _inst(tmp_path)
    r = CliRunner().invoke(
        cli, ["-c", str(config), "subscribers", "import", "morning", "--file", str(tmp_path / "none.csv")]
    )
    assert r.exit_code == 1
    assert r.output.startswith("error: "), r.output
    assert "Error:" not in r.output


def test_list_help_names_every_column_it_prints(tmp_path: Path) -> None:
    config = _inst(tmp_path)
    runner = CliRunner()
    header = runner.invoke(cli, ["-c", str(config), "subscribers", "list", "morning"]).output.splitlines()[0]
    help_text = " ".join(runner.invoke(cli, ["subscribers", "list", "--help"]).output.split())
    for column in header.split("\t"):
        assert column in help_text, (column, help_text)
