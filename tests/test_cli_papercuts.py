"""Issue 15, the CLI and docs: ``--at DATE``, ``inspect``'s count, ``config check``'s
warnings, the README's ``topic_model`` and one clear message without ``../shared``."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from digest.attime import at_for_list, parse_at_value
from digest.cli import cli
from digest.config_warnings import config_warnings
from digest.web.editor import parse_at
from digest.topics import fit_classifier, save_model
from tests.conftest import REAL_FEEDS, REPO
from tests.sample_edition import sample_config
from tests.test_cli import _write_config


def _digest(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


# --- --at with a date alone ----------------------------------------------------------------


def test_a_date_alone_is_that_days_edition_in_the_lists_timezone() -> None:
    day = parse_at_value("2026-02-18")
    assert day == date(2026, 2, 18)
    assert at_for_list(day, "UTC") == datetime(2026, 2, 18, 23, 59, 59, 999999, tzinfo=UTC)
    assert at_for_list(day, "Asia/Tokyo") == datetime(2026, 2, 18, 14, 59, 59, 999999, tzinfo=UTC)
    assert at_for_list(day, "America/New_York") == datetime(
        2026, 2, 19, 4, 59, 59, 999999, tzinfo=UTC
    )
    assert parse_at_value("2026-02-18T07:00Z") == datetime(2026, 2, 18, 7, tzinfo=UTC)
    # the editor's ?at= reads a date the same way
    assert parse_at("2026-02-18", "America/New_York") == at_for_list(day, "America/New_York")


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_build_at_a_date_builds_that_days_edition(tmp_path: Path, timezone: str) -> None:
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["lists"][0]["schedule"]["timezone"] = timezone
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = CliRunner().invoke(cli, ["-c", str(path), "build", "world", "--at", "2026-02-18",
                                      "--out", str(tmp_path / "out")])  # fmt: skip
    assert "World news 2026-02-18:" in result.output, result.output
    assert "2026-02-17" not in result.output.split("window")[0]


def test_run_at_a_date_sends_that_days_edition(tmp_path: Path) -> None:
    path = _write_config(tmp_path)
    result = _digest("-c", str(path), "run", "--at", "2026-02-18")
    assert result.returncode == 0, result.stderr
    assert "list world edition 2026-02-18: sent" in result.stdout
    assert (tmp_path / "outbox" / "world" / "2026-02-18" / "edition.html").exists()


# --- inspect ---------------------------------------------------------------------------------


def test_inspect_says_how_many_it_shows_and_how_to_see_all(tmp_path: Path) -> None:
    feed = REAL_FEEDS / "bbc-world-rss.xml"
    if not feed.exists():
        feed = next(REAL_FEEDS.glob("bbc*.xml"))
    none = str(tmp_path / "none.yaml")
    result = CliRunner().invoke(cli, ["-c", none, "inspect", str(feed)])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0]
    assert "entries, showing the first 20 (--limit N / --all)" in header
    everything = CliRunner().invoke(cli, ["-c", none, "inspect", str(feed), "--all"])
    assert "showing" not in everything.output.splitlines()[0]
    assert everything.output.count("\n") > result.output.count("\n")


# --- config check --------------------------------------------------------------------------


def test_config_check_warns_that_http_base_url_breaks_one_click_unsubscribe(tmp_path: Path) -> None:
    shipped = _digest("-c", str(REPO / "config.yaml"), "config", "check")
    assert shipped.returncode == 0
    assert "warning: site.base_url http://127.0.0.1:8025 is http://" in shipped.stderr
    assert "one-click unsubscribe" in shipped.stderr
    path = _write_config(
        tmp_path, site={"base_url": "https://digest.example.org", "postal_address": "1 Example St"}
    )
    secure = _digest("-c", str(path), "config", "check")
    assert secure.returncode == 0 and "base_url" not in secure.stderr


def test_config_check_warns_when_topic_model_labels_do_not_match(tmp_path: Path) -> None:
    texts = ["ukraine kyiv russia war", "kyiv front russia", "gaza israel hamas", "israel gaza talks",
             "cricket match score", "football cup final"]  # fmt: skip
    labels = ["ukraine", "ukraine", "middle-east", "middle-east", "sport", "sport"]
    model = tmp_path / "topics.joblib"
    save_model(fit_classifier(texts, labels), model)
    path = _write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["lists"][0]["topic_model"] = str(model)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = _digest("-c", str(path), "config", "check")
    assert result.returncode == 0, result.stderr
    topics = data["lists"][0]["topics"]
    assert (
        "lists[0].topic_model: labels sport are not topics of list world and are never used"
        in result.stderr
    )
    missing = sorted(set(topics) - {"ukraine", "middle-east"})
    assert f"the model has no label for topics {', '.join(missing)}" in result.stderr


def test_config_warnings_is_quiet_for_a_matching_model() -> None:
    config = sample_config()
    lst = config.lists[0].model_copy(update={"topics": ("a", "b"), "topic_model": Path("/m")})
    config = config.model_copy(update={"lists": (lst,)})
    assert config_warnings(config, model_labels=lambda _: ("a", "b")) == []
    assert config_warnings(config, model_labels=lambda _: ("a", "c")) == [
        "lists[0].topic_model: labels c are not topics of list world and are never used",
        "lists[0].topic_model: the model has no label for topics b of list world",
    ]


# --- docs and the test suite itself --------------------------------------------------------


def test_readme_says_how_a_config_uses_a_topic_model() -> None:
    readme = (REPO / "README.md").read_text()
    assert "topic_model:" in readme and "digest topics fit" in readme


def test_make_test_without_shared_fails_with_one_message(tmp_path: Path) -> None:
    env = {**os.environ, "DIGEST_SHARED": str(tmp_path / "no-shared")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_urls.py"],
        check=False, capture_output=True, text=True, timeout=120, cwd=REPO, env=env,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "missing ../shared" in out and "DIGEST_SHARED" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 3, out
