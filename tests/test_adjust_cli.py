"""``digest adjust`` from a terminal: a story or entry the edition does not hold is a usage
error (exit 2, as README's exit codes say of a name that is not configured) naming it and
the command that lists the valid ones; a refused edition already sent stays a failure
(exit 1, tested with the real pipeline in ``test_editor_pipeline.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from tests.test_cli import _write_config


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["pin", "no-such-story"], "'no-such-story'"),
        (["split", "bbc-world/nope"], "'bbc-world/nope'"),
        (["pin"], "name the story or entry (TARGET)"),
    ],
)
def test_an_unknown_story_or_entry_is_a_usage_error_naming_it(
    tmp_path: Path, args: list[str], named: str
) -> None:
    path = _write_config(tmp_path)
    result = CliRunner().invoke(
        cli, ["-c", str(path), "adjust", "world", *args, "--at", "2026-02-18T07:00Z"]
    )
    assert result.exit_code == 2, result.output
    assert named in result.output
    if named.startswith("'"):
        assert "in edition world/2026-02-18" in result.output
        assert "`digest adjust world show --at 2026-02-18T07:00Z` lists" in result.output


@pytest.mark.parametrize("at", ["2026-02-18", "2026-02-18T07:00Z"])
def test_a_date_alone_names_that_days_edition_as_everywhere_else(tmp_path: Path, at: str) -> None:
    """README: a date alone is a valid TIME (that day's edition in the list's timezone); adjust
    crashed on it with "'datetime.date' object has no attribute 'astimezone'"."""
    path = _write_config(tmp_path)
    result = CliRunner().invoke(cli, ["-c", str(path), "adjust", "world", "show", "--at", at])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    # nothing polled: the edition is empty, and show says so instead of printing nothing
    assert "edition world/2026-02-18: no stories" in result.output
    assert "--explain" in result.output
