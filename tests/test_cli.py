"""The CLI's contract: exit codes, config errors that name the key path, the report."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from digest.cli import cli

from .conftest import REAL_FEEDS, REPO


def _write_config(tmp_path: Path, db_url: str | None = None, **changes) -> Path:
    """The shipped config in ``tmp_path`` on the database at ``db_url`` (a test's ``db_url``
    fixture), else a ``digest.db`` there; ``changes`` replace top-level keys."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": db_url or f"sqlite:///{tmp_path / 'digest.db'}"}
    data.setdefault("delivery", {})["outbox_dir"] = str(tmp_path / "outbox")
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    data.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_config_check_ok() -> None:
    result = CliRunner().invoke(cli, ["-c", str(REPO / "config.yaml"), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "11 sources" in result.output


def test_config_error_exits_2_and_names_the_key(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["lists"][0]["schedule"]["timezone"] = "Europe/Atlantis"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["-c", str(path), "config", "check"])
    assert result.exit_code == 2
    assert "lists[0].schedule.timezone" in result.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["-c", str(path), "build", "nosuchlist"]).exit_code == 2
    assert runner.invoke(cli, ["-c", str(path), "build", "world", "--at", "yesterday"]).exit_code == 2
    assert runner.invoke(cli, ["nosuchcommand"]).exit_code == 2


def test_run_prints_the_report_and_second_run_says_the_edition_exists(
    db_url: str, tmp_path: Path
) -> None:
    path = _write_config(tmp_path, db_url)
    runner = CliRunner()
    first = runner.invoke(cli, ["-c", str(path), "run", "--at", "2026-02-18T07:00Z"])
    assert first.exit_code == 0, first.output
    assert "bbc-world" in first.output and "sent" in first.output
    second = runner.invoke(cli, ["-c", str(path), "run", "--at", "2026-02-18T07:00Z"])
    assert second.exit_code == 0, second.output
    assert second.output == ""  # nothing happened: nothing for cron to mail (digest.quiet)
    told = runner.invoke(cli, ["-c", str(path), "-v", "run", "--at", "2026-02-18T07:00Z"])
    assert "already exists" in told.output


def test_run_exits_1_when_a_source_fails(db_url: str, tmp_path: Path) -> None:
    path = _write_config(tmp_path, db_url)
    data = yaml.safe_load(path.read_text())
    data["sources"].append({"name": "gone", "title": "Gone", "path": str(tmp_path / "missing.xml")})
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = CliRunner().invoke(cli, ["-c", str(path), "run", "--at", "2026-02-18T07:00Z"])
    assert result.exit_code == 1
    assert "gone" in result.output and "failed" in result.output


def test_build_explain_prints_scores_and_sends_nothing(db_url: str, tmp_path: Path) -> None:
    path = _write_config(tmp_path, db_url)
    runner = CliRunner()
    assert runner.invoke(cli, ["-c", str(path), "poll"]).exit_code == 0
    out = tmp_path / "preview"
    result = runner.invoke(
        cli, ["-c", str(path), "build", "world", "--at", "2026-02-18T07:00Z", "--out", str(out), "--explain"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "edition.html").exists() and (out / "edition.txt").exists()
    assert "score" in result.output and "outlets" in result.output
    assert not (tmp_path / "outbox").exists()


def test_inspect_any_file(tmp_path: Path) -> None:
    feed = REAL_FEEDS / "daringfireball-jsonfeed.json"
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "none.yaml"), "inspect", str(feed), "--json"])
    assert result.exit_code == 0, result.output
    import json

    payload = json.loads(result.output)
    assert len(payload["entries"]) == 20  # --limit default
    assert payload["entries"][0]["title"]


def test_inspect_shows_entries_and_warnings_of_every_bad_feed(tmp_path: Path) -> None:
    from tests.conftest import BAD_FEEDS

    runner = CliRunner()
    for feed in sorted(BAD_FEEDS.glob("B*")):
        if feed.name.endswith(".headers.txt"):
            continue
        result = runner.invoke(cli, ["-c", str(tmp_path / "none.yaml"), "inspect", str(feed)])
        if feed.name.startswith("B09"):  # an HTML challenge page is not a feed
            assert result.exit_code == 1 and "not a feed" in result.output, result.output
            continue
        assert result.exit_code == 0, (feed.name, result.output)
        assert ("entries" in result.output or ": 1 entry" in result.output) and "Traceback" not in result.output
    warned = runner.invoke(
        cli, ["-c", str(tmp_path / "none.yaml"), "inspect", str(BAD_FEEDS / "B01-undefined-html-entity.xml")]
    )
    assert "warning:" in warned.output


def test_sources_lists_state_last_error_and_next_poll(db_url: str, tmp_path: Path) -> None:
    path = _write_config(tmp_path, db_url)
    data = yaml.safe_load(path.read_text())
    data["sources"].append({"name": "gone", "title": "Gone", "path": str(tmp_path / "missing.xml")})
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    runner = CliRunner()
    runner.invoke(cli, ["-c", str(path), "poll"])
    result = runner.invoke(cli, ["-c", str(path), "sources"])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3}
    assert "failed" in lines["gone"] and "ok" in lines["bbc-world"]
    assert "next poll" in result.output and "last error" in result.output


def test_a_bad_subject_template_fails_config_check_and_the_list_not_the_run(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["lists"][0]["subject"] = "{{ top_story.lead.title }"
    data["sources"] = data["sources"][:1]  # polled before the list fails: one is enough
    path.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    check = runner.invoke(cli, ["-c", str(path), "config", "check"])
    assert check.exit_code == 2  # a configuration error, as for a config that does not load
    assert "lists[0].subject: a Jinja2 template:" in check.output
    assert not check.output.startswith("ok") and "\nok:" not in check.output
    run = runner.invoke(
        cli, ["-c", str(path), "run", "--at", "2026-02-18T07:00Z", "--list", "world"]
    )
    assert run.exit_code == 1, run.output
    assert "edition 2026-02-18: failed" in run.output and "subject: a Jinja2 template" in run.output
