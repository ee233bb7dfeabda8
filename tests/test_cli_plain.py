"""The CLI prints every status value plainly, and a wrong list or source name is an error.

Status values are enumerated from ``digest.types.ListStatus``/``SourceStatus``, so a status
added there is rendered here without anyone touching this test.
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import click
import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from digest import cli as cli_module
from digest.cli import cli
from digest.types import ListReport, ListStatus, RunReport, SourceReport, SourceStatus

from .conftest import REPO

DIGEST = Path(sys.executable).with_name("digest")


def _config(tmp_path: Path, lists: list[dict] | None = None) -> Path:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": f"sqlite:///{tmp_path / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp_path / "outbox")
    data["sources"] = data["sources"][:3]  # enough stories, and a quicker poll
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    if lists is not None:
        data["lists"] = lists
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_the_status_values_are_declared_once() -> None:
    assert {"awaiting-approval", "scheduled", "not-due", "sent", "failed"} <= set(get_args(ListStatus))
    assert {"ok", "not-modified", "skipped", "failed"} <= set(get_args(SourceStatus))


@pytest.mark.parametrize("status", get_args(ListStatus))
def test_every_list_status_prints_plainly(status: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(cli_module, "console", Console(file=out, width=200))
    monkeypatch.setattr(cli_module, "err_console", Console(file=io.StringIO(), width=200))
    report = RunReport(
        started_at=datetime(2026, 2, 18, 7, tzinfo=UTC),
        lists=[ListReport(list_name="world", status=status, period="2026-02-18",  # type: ignore[arg-type]
                          stories=3, sections=2, recipients=4, deliveries={"queued": 2, "sent": 2},
                          message="because [brackets] are words")],
    )
    with pytest.raises(click.exceptions.Exit) as ended, click.Context(cli) as ctx:
        cli_module._finish(ctx, report)  # ends the command with its exit code
    assert ended.value.exit_code == (1 if status == "failed" else 0)
    assert f"list world edition 2026-02-18: {status}\n" in out.getvalue()
    assert "because [brackets] are words" in out.getvalue()


@pytest.mark.parametrize("status", get_args(SourceStatus))
def test_every_source_status_prints_plainly(status: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(cli_module, "console", Console(file=out, width=200))
    cli_module._print_sources([SourceReport(source="bbc-world", status=status, error="[/] odd")])  # type: ignore[arg-type]
    assert status in out.getvalue() and "[/] odd" in out.getvalue()


def test_a_cron_run_of_a_list_awaiting_approval_and_a_send_not_due_print_and_exit_0(tmp_path: Path) -> None:
    """The issue's cron run of a ``require_approval: true`` list crashed with MarkupError
    after the work was done, exit 1; so did ``not-due`` (``scheduled`` comes from the
    service's local-time sending and is covered by the rendering test above)."""
    world = yaml.safe_load((REPO / "config.yaml").read_text())["lists"][0]
    world["subscribers"] = str(REPO / "subscribers" / "world.csv")
    config = _config(tmp_path, [{**world, "require_approval": True}])
    run = subprocess.run(
        [str(DIGEST), "-c", str(config), "run", "--at", "2026-02-18T07:00Z"],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "list world edition 2026-02-18: awaiting-approval" in run.stdout
    assert "Traceback" not in run.stderr and "MarkupError" not in run.stderr
    not_due = subprocess.run(
        [str(DIGEST), "-c", str(config), "send", "world", "--at", "0001-01-01T00:00Z"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert not_due.returncode == 0, not_due.stderr
    assert "list world edition -: not-due" in not_due.stdout


# -- wrong names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "bad", "valid"),
    [
        (["poll", "--source", "nosuch"], "nosuch", "bbc-world"),
        (["poll", "--source", "bbc-world", "--source", "nosuch"], "nosuch", "bbc-world"),
        (["sources", "enable", "nosuch"], "nosuch", "bbc-world"),
        (["subscribers", "list", "wrld"], "wrld", "world"),
        (["subscribers", "export", "wrld"], "wrld", "world"),
        (["subscribers", "remove", "wrld", "ada@example.com"], "wrld", "world"),
        (["subscribers", "import", "wrld"], "wrld", "world"),
        (["run", "--list", "wrld"], "wrld", "world"),
        (["send", "wrld"], "wrld", "world"),
        (["build", "wrld"], "wrld", "world"),
    ],
)
def test_a_wrong_list_or_source_name_is_an_error_naming_it_and_the_valid_ones(
    tmp_path: Path, args: list[str], bad: str, valid: str
) -> None:
    result = CliRunner().invoke(cli, ["-c", str(_config(tmp_path)), *args])
    assert result.exit_code == 2, result.output
    assert repr(bad) in result.output and valid in result.output
    assert not (tmp_path / "digest.db").exists()  # refused before anything was opened


@pytest.mark.parametrize(
    ("args", "bad"),
    [(["poll", "--source", "nosuch"], "'nosuch'"), (["subscribers", "list", "wrld"], "'wrld'")],
)
def test_the_issues_wrong_names_through_the_command(tmp_path: Path, args: list[str], bad: str) -> None:
    """``poll --source nosuch`` and ``subscribers list wrld`` printed nothing and exited 0."""
    result = subprocess.run(
        [str(DIGEST), "-c", str(_config(tmp_path)), *args],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert bad in result.stderr and result.stdout == ""
