"""Config loading: the shipped config is valid, errors name the key path, paths resolve."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from digest.config import load_config, parse_config
from digest.exceptions import ConfigError

from .conftest import REPO


def _minimal() -> dict:
    return {
        "site": {"postal_address": "1 Example Street, Springfield"},
        "sources": [{"name": "a", "title": "A", "path": "feeds/a.xml"}],
        "lists": [{"name": "daily", "title": "Daily", "sender": "D <d@example.org>"}],
    }


def test_shipped_config_is_valid_and_points_at_shared_feeds() -> None:
    config = load_config(REPO / "config.yaml")
    world = config.list("world")
    assert world.title == "World news"
    assert len(world.topics) >= 6
    for source in config.sources:
        assert source.url is not None and str(source.url).startswith("https://")
        assert source.path is not None and source.path.exists(), source.name
    assert config.database.url == f"sqlite:///{REPO / 'var' / 'digest.db'}"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "digest.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(_minimal()))
    config = load_config(path)
    assert config.sources[0].path == (tmp_path / "conf" / "feeds" / "a.xml")
    assert config.delivery.outbox_dir == tmp_path / "conf" / "outbox"
    assert config.database.url == f"sqlite:///{tmp_path / 'conf' / 'var' / 'digest.db'}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["lists"][0].update(colour="red"), "lists[0].colour: unknown key"),
        (lambda d: d["lists"][0].update(schedule={"timezone": "Mars/Olympus"}), "lists[0].schedule.timezone"),
        (lambda d: d["lists"][0].update(schedule={"cron": "every day"}), "lists[0].schedule.cron"),
        (lambda d: d["sources"][0].update(weight=-1), "sources[0].weight"),
        (lambda d: d["sources"][0].pop("path"), "sources[0]: a source needs 'url'"),
        (lambda d: d["lists"][0].update(topics=["nope"]), "lists[0].topics: unknown topic 'nope'"),
        (lambda d: d["delivery"].update(transport="pigeon") if "delivery" in d else d.update(delivery={"transport": "pigeon"}), "delivery.transport"),
        (lambda d: d["site"].pop("postal_address"), "site.postal_address"),
    ],
)
def test_errors_name_the_key_path(change, expected: str) -> None:
    data = _minimal()
    change(data)
    with pytest.raises(ConfigError) as info:
        parse_config(data, Path("/tmp"))
    assert expected in str(info.value)


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _minimal()
    data["delivery"] = {"sendgrid": {"api_key": "SG.secret"}}
    with pytest.raises(ConfigError, match="delivery.sendgrid.api_key: unknown key"):
        parse_config(data, Path("/tmp"))
    config = parse_config(_minimal(), Path("/tmp"))
    monkeypatch.setenv(config.delivery.sendgrid.api_key_env, "SG.from-env")
    assert config.secret(config.delivery.sendgrid.api_key_env) == "SG.from-env"


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    # a list item indented one space short: the message names the file and the line
    # (PyYAML's own text says '"<unicode string>", line 3')
    shifted = tmp_path / "shifted.yaml"
    shifted.write_text("sources:\n  - name: a\n   url: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(shifted)
    assert str(caught.value) == (
        f"{shifted}, line 3, column 4: not valid YAML: did not find expected '-' indicator "
        "(while parsing a block collection from line 2)"
    )


def test_user_agent_names_the_contact_url() -> None:
    data = _minimal()
    data["site"]["contact_url"] = "https://example.org/contact"
    config = parse_config(data, Path("/tmp"))
    assert config.fetch.user_agent.startswith("digest/")
    assert "(+https://example.org/contact)" in config.fetch.user_agent


def test_database_url_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    from digest.config import with_env_database

    cfg = load_config(REPO / "config.yaml")
    pg = "postgresql+psycopg://digest:secret@db.example:5432/digest"
    assert with_env_database(cfg, {"DIGEST_DATABASE_URL": pg}, tmp_path).database.url == pg
    assert with_env_database(cfg, {"DIGEST_DATABASE_URL": ""}, tmp_path) is cfg
    moved = with_env_database(cfg, {"DIGEST_DATABASE_URL": " sqlite:///other.db "}, tmp_path / "cwd")
    assert moved.database.url == f"sqlite:///{(tmp_path / 'cwd' / 'other.db').resolve()}"
    assert cfg.database.pool_size == 5 and cfg.database.max_overflow == 5


def test_postgresql_pool_settings_reach_the_engine() -> None:
    from digest.store import make_engine, normalize_url

    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    engine = make_engine("postgresql://u@127.0.0.1:1/d", pool_size=3, max_overflow=2, pool_timeout=7)
    assert engine.dialect.driver == "psycopg"
    assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._timeout) == (3, 2, 7)
    assert engine.pool._pre_ping


def test_a_bad_subject_template_is_named_by_subject_problems_not_at_load() -> None:
    """The subject is checked by ``config check`` and each build, not by every load (a cron
    no-op must not import Jinja2, issue 14): its syntax, and that it compiles (an unknown
    filter) and renders over a sample edition (a name or attribute the values lack), so a
    subject that would fail at send time is an error at once."""
    from digest.config import template_problem
    from digest.render import subject_problems

    data = _minimal()
    data["lists"][0]["subject"] = "{{ list.title }: {% if %}"
    config = parse_config(data, Path("/tmp"))
    problems = subject_problems(config)
    assert len(problems) == 1 and problems[0].startswith("lists[0].subject: a Jinja2 template: ")
    assert "(line 1)" in problems[0]
    assert template_problem("{{ list.title }}: {{ top_story.lead.title }}") is None
    assert subject_problems(load_config(REPO / "config.yaml")) == []
    for subject, why in [
        ("{{ list.title | nosuchfilter }}", "No filter named 'nosuchfilter'"),
        ("{{ list.title.nosuch.deeper }}", "has no attribute 'nosuch'"),
        ("{{ nosuchname }}", "'nosuchname' is undefined"),
        ("{% if list.title is nosuchtest %}x{% endif %}", "nosuchtest"),
    ]:
        data["lists"][0]["subject"] = subject
        problems = subject_problems(parse_config(data, Path("/tmp")))
        assert len(problems) == 1 and why in problems[0], (subject, problems)
    fine = "{{ list.title }} · {{ date_label }}: {{ top_story.lead.title | upper }} (+{{ story_count - 1 }})"
    data["lists"][0]["subject"] = fine
    assert subject_problems(parse_config(data, Path("/tmp"))) == []


def test_the_yaml_loader_reads_the_shipped_config_as_pyyaml_safe_load_does() -> None:
    from digest.config import _YAML_LOADER

    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert yaml.load(text, Loader=_YAML_LOADER) == yaml.safe_load(text)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("lists", "max_age_hours", float("inf")),
        ("lists", "max_age_hours", 100_000_000_000),
        ("lists", "max_age_hours", 10_000_000),
        ("fetch", "poll_interval_minutes", 100_000_000_000),
        ("scheduler", "misfire_grace_seconds", 100_000_000_000_000),
        ("scheduler", "lease_seconds", float("inf")),
        ("fetch", "read_timeout", 1e300),
        ("delivery", "retry_delay_seconds", float("nan")),
    ],
)
def test_durations_past_a_year_or_not_finite_are_config_errors(section: str, key: str, value: float) -> None:
    """An operator found `.inf` and 1e11 accepted by `config check`, then `digest run` died
    with OverflowError in date arithmetic; they are named errors now."""
    data = _minimal()
    if section == "lists":
        data["lists"][0][key] = value
        where = f"lists[0].{key}"
    else:
        data[section] = {key: value}
        where = f"{section}.{key}"
    with pytest.raises(ConfigError) as info:
        parse_config(data, Path("/tmp"))
    assert where in str(info.value)


def test_a_run_with_an_infinite_window_is_refused_with_the_key_not_a_traceback(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from digest.cli import cli

    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["lists"][0]["max_age_hours"] = float("inf")
    data["database"] = {"url": f"sqlite:///{tmp_path / 'd.db'}"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["-c", str(path), "run", "--at", "2026-02-19T07:00:00Z"])
    assert result.exit_code == 2, result.output
    assert "lists[0].max_age_hours" in result.output and "Traceback" not in result.output


def test_an_unknown_key_names_the_key_of_its_section_spelled_nearly_alike() -> None:
    """The issue: ``max_storis: 30`` said only "unknown key"; the user had to find the right
    spelling in the README. The hint comes from the same section's keys only."""
    data = _minimal()
    data["lists"][0]["max_storis"] = 30
    data["fetch"] = {"read_timout": 5}
    data["sources"][0]["zzzz"] = 1
    with pytest.raises(ConfigError) as caught:
        parse_config(data, Path("/tmp"))
    lines = str(caught.value).splitlines()
    assert "lists[0].max_storis: unknown key (did you mean 'max_stories'?)" in lines
    assert "fetch.read_timout: unknown key (did you mean 'read_timeout'?)" in lines
    assert "sources[0].zzzz: unknown key" in lines
