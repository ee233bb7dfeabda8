"""The build's stages are loaded while the parse pool's workers parse (issue 14): only when a
run has a pool and an edition to build, before that build starts, and a failure there is
logged, never raised."""

from __future__ import annotations

import logging
import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest

from digest import pipeline, warmup
from digest.exceptions import DigestError
from digest.store import Store
from tests.test_parsepool import NOW, _config, cores  # noqa: F401 - cores is a fixture


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, at: object = NOW) -> list[object]:
    """What happened, in order: the warm-up's load (whether workers were running) and the
    start of each list's build (stubbed: it fails at once)."""
    events: list[object] = []

    def load() -> None:
        events.append(("load", bool(multiprocessing.active_children())))

    def publish(*args: object, **kwargs: object) -> object:
        events.append("publish")
        raise DigestError("stub")

    monkeypatch.setattr(warmup, "_load", load)
    monkeypatch.setattr(pipeline, "publish", publish)
    tmp_path.mkdir(exist_ok=True)
    config = _config(tmp_path, "run")
    with Store.open(config.database.url) as store:  # type: ignore[attr-defined]
        pipeline.run(config, store, now=at, at=at)  # type: ignore[arg-type]
    return events


def test_a_run_about_to_build_loads_its_stages_while_the_workers_parse(
    tmp_path: Path, cores: list[int], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    assert _run(tmp_path, monkeypatch) == [("load", True), "publish"]
    assert cores == [2]


def test_no_warm_up_without_a_pool_or_an_edition_to_build(
    tmp_path: Path, cores: list[int], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    later = NOW + timedelta(hours=5)  # the 07:00 edition is past its grace: nothing to build
    assert _run(tmp_path / "late", monkeypatch, at=later) == []
    assert cores == [2]  # the files were parsed in the pool all the same
    monkeypatch.setenv("DIGEST_PARSE_PROCESSES", "0")  # one core: no pool
    assert _run(tmp_path / "one", monkeypatch) == ["publish"]


def test_a_failed_warm_up_is_logged_and_the_build_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ImportError("no module named premailer")

    monkeypatch.setattr(warmup, "_load", broken)
    with caplog.at_level(logging.WARNING, logger="digest.warmup"):
        warmup.start().wait()
    assert "warmup.failed" in caplog.text and "premailer" in caplog.text


def test_the_stages_it_loads_exist() -> None:
    import importlib.util

    assert all(importlib.util.find_spec(name) is not None for name in warmup.STAGES)


def test_it_compiles_the_place_name_patterns_the_noise_rules_first_use() -> None:
    """The gazetteer's two alternations cost 0.04 s of CPU to compile: during the parse, not
    at the start of the build (issue 14)."""
    from digest import places

    places._matcher.cache_clear()
    warmup._load()
    assert places._matcher.cache_info().currsize == 1
