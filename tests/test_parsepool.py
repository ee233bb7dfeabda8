"""Local files parsed in worker processes when cores are free (issue 14): the same entries
and reports as parsing them one after another, and a worker that dies fails only the
bodies it held."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from digest import parse, parsepool, pipeline
from digest.config import parse_config
from digest.store import Store
from tests.conftest import REAL_FEEDS, REPO

NOW = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
FEEDS = (
    "lecerclepsy-fr-rss.xml", "uol-noticias-rss.xml", "qq-news-gb2312-rss.xml",
    "npr-world-rss.xml", "aljazeera-all-rss.xml",
)  # fmt: skip


def _config(tmp_path: Path, name: str) -> object:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": f"sqlite:///{tmp_path / name}.db"}
    data["delivery"]["outbox_dir"] = str(tmp_path / "outbox")
    data["sources"] = []
    for feed in FEEDS:
        shutil.copyfile(REAL_FEEDS / feed, tmp_path / feed)
        data["sources"].append({"name": feed[:-4], "title": feed, "path": str(tmp_path / feed)})
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    return parse_config(data, REPO)


def _poll(config: object) -> tuple[list[object], list[object]]:
    with Store.open(config.database.url) as store:  # type: ignore[attr-defined]
        reports = pipeline.poll(config, store, now=NOW)  # type: ignore[arg-type]
        names = [s.name for s in config.sources]  # type: ignore[attr-defined]
        return reports, store.entries_between(names, datetime(2000, 1, 1, tzinfo=UTC), NOW)


def _spy_submitted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources whose bodies are handed to the pool, in the order they are."""
    submitted: list[str] = []
    real = parsepool.ParsePool.submit

    def spy(self: parsepool.ParsePool, content: bytes, kwargs: dict[str, object]) -> object:
        submitted.append(str(kwargs["source"]))
        return real(self, content, kwargs)

    monkeypatch.setattr(parsepool.ParsePool, "submit", spy)
    return submitted


@pytest.fixture
def cores(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Two usable cores and no other thread, whatever the test machine has; the sizes of
    the pools opened."""
    opened: list[int] = []
    real = parsepool.ParsePool.__init__

    def spy(self: parsepool.ParsePool, workers: int) -> None:
        opened.append(workers)
        real(self, workers)

    monkeypatch.setattr(parsepool, "usable_cores", lambda: 2)
    monkeypatch.setattr(parsepool, "_other_threads", lambda: False)
    monkeypatch.setattr(parsepool.ParsePool, "__init__", spy)
    return opened


def test_the_pool_stores_what_parsing_one_after_another_stores(
    tmp_path: Path, cores: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    pooled = _poll(_config(tmp_path, "pooled"))
    assert cores == [2]
    monkeypatch.setenv("DIGEST_PARSE_PROCESSES", "0")
    alone = _poll(_config(tmp_path, "alone"))
    assert cores == [2]  # no second pool
    assert pooled == alone
    assert all(r.status == "ok" and r.new_entries > 0 for r in pooled[0])


def test_a_worker_that_dies_loses_nothing(
    tmp_path: Path, cores: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = parse.parse_feed
    parent = os.getpid()

    def dies_in_a_worker(content: bytes, **kwargs: object) -> object:
        if kwargs["source"] == "npr-world-rss" and os.getpid() != parent:
            os._exit(1)  # a worker killed while parsing (out of memory, a signal)
        return real(content, **kwargs)

    monkeypatch.setattr(parse, "parse_feed", dies_in_a_worker)
    broken = _poll(_config(tmp_path, "broken"))
    assert cores == [2]
    monkeypatch.setenv("DIGEST_PARSE_PROCESSES", "0")
    assert broken == _poll(_config(tmp_path, "alone"))  # its bodies were parsed here instead
    assert all(r.status == "ok" and r.new_entries > 0 for r in broken[0])


def test_one_core_or_few_files_parse_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsepool, "_other_threads", lambda: False)
    monkeypatch.setattr(parsepool, "usable_cores", lambda: 1)
    assert parsepool.open_pool(100) is None  # taskset -c 0
    monkeypatch.setattr(parsepool, "usable_cores", lambda: 2)
    assert parsepool.open_pool(1) is None
    monkeypatch.setattr(parsepool, "_other_threads", lambda: True)
    assert parsepool.open_pool(100) is None  # forking beside threads could copy a held lock


def test_bodies_go_to_the_workers_largest_first_and_are_stored_in_config_order(
    tmp_path: Path, cores: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted = _spy_submitted(monkeypatch)
    config = _config(tmp_path, "ordered")
    finished: list[str] = []
    with Store.open(config.database.url) as store:  # type: ignore[attr-defined]
        reports = pipeline.poll(config, store, now=NOW, progress=lambda r: finished.append(r.source))  # type: ignore[arg-type]
    names = [feed[:-4] for feed in FEEDS]
    assert submitted == sorted(names, key=lambda n: -(REAL_FEEDS / f"{n}.xml").stat().st_size)
    assert submitted != names  # the files are listed smallest first
    assert finished == [r.source for r in reports] == names


def test_parse_order_is_largest_first_and_keeps_ties_in_order() -> None:
    from digest.parseorder import parse_order

    assert parse_order([3, 9, 3, 12]) == [3, 1, 0, 2]
    assert parse_order([]) == []


def test_bodies_chardet_may_read_follow_the_largest_so_one_worker_loads_its_models() -> None:
    from digest.encoding import may_detect
    from digest.parseorder import parse_order

    flags = [False, False, True, True, False]
    assert parse_order([5, 9, 1, 2, 7], flags, workers=2) == [1, 4, 3, 2, 0]
    assert parse_order([5, 9, 1, 2, 7], flags, workers=1) == [1, 3, 2, 4, 0]
    assert parse_order([5, 9, 1, 2, 7], [False, False, True], workers=2) == [1, 4, 0, 3, 2]
    # the bench's two undeclared non-UTF-8 files, and one declaring gb2312, are flagged
    assert [may_detect((REAL_FEEDS / name).read_bytes()) for name in FEEDS] == [
        True, True, True, False, False,
    ]  # fmt: skip
    assert not may_detect(b"<rss/>") and not may_detect("é".encode()) and may_detect(b"\xe9")
    # checked in pieces: a character across a piece's end is UTF-8, a cut one is not
    assert not may_detect(b"a" * 65535 + "é".encode()) and may_detect(b"a" * 65535 + b"\xc3")


def test_a_stored_sources_parsed_entries_are_let_go_before_the_next_is_stored(
    tmp_path: Path, cores: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 14, 50x the sources: every body and its parsed entries were held until the last
    # source was stored (the parent's peak); each is let go of once stored now
    import gc
    import weakref

    parsed: dict[str, weakref.ref[object]] = {}
    real = parsepool.ParsePool.result

    def spy(self: parsepool.ParsePool, future: object, content: bytes, kwargs: dict[str, object]) -> object:
        feed = real(self, future, content, kwargs)  # type: ignore[arg-type]
        parsed[str(kwargs["source"])] = weakref.ref(feed)
        return feed

    monkeypatch.setattr(parsepool.ParsePool, "result", spy)
    held: list[list[str]] = []

    def progress(report: object) -> None:
        gc.collect()
        alive = [name for name, ref in parsed.items() if ref() is not None]
        held.append([name for name in alive if name != report.source])  # type: ignore[attr-defined]

    config = _config(tmp_path, "released")
    with Store.open(config.database.url) as store:  # type: ignore[attr-defined]
        pipeline.poll(config, store, now=NOW, progress=progress)  # type: ignore[arg-type]
    assert cores == [2] and len(parsed) == len(FEEDS)
    assert held == [[]] * len(FEEDS)


def test_files_are_read_and_handed_out_a_window_at_a_time(
    tmp_path: Path, cores: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 14, 50x the sources: every file was read, and every parse came back, before the
    # first source could be stored; now the next window is read while this one is stored
    monkeypatch.setattr(pipeline, "POOL_WINDOW", 2, raising=False)
    submitted = _spy_submitted(monkeypatch)
    handed_out_when_stored: list[int] = []
    config = _config(tmp_path, "windows")
    with Store.open(config.database.url) as store:  # type: ignore[attr-defined]
        reports = pipeline.poll(config, store, now=NOW, progress=lambda r: handed_out_when_stored.append(len(submitted)))  # type: ignore[arg-type]
        names = [s.name for s in config.sources]  # type: ignore[attr-defined]
        pooled = store.entries_between(names, datetime(2000, 1, 1, tzinfo=UTC), NOW)
    names = [feed[:-4] for feed in FEEDS]
    size = {n: (REAL_FEEDS / f"{n}.xml").stat().st_size for n in names}
    windows = [names[0:2], names[2:4], names[4:]]
    assert submitted == [n for w in windows for n in sorted(w, key=lambda n: -size[n])]
    assert handed_out_when_stored == [4, 4, 5, 5, 5]  # this window and the next, no more
    assert [r.source for r in reports] == names and all(r.status == "ok" for r in reports)
    monkeypatch.setenv("DIGEST_PARSE_PROCESSES", "0")
    _, alone = _poll(_config(tmp_path, "alone"))
    assert pooled == alone
