"""The module graph: config and the pure schedule/polling modules load no stage."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

STAGES = ("digest.edition", "digest.rank", "digest.topics", "digest.cluster", "digest.pipeline", "digest.render")


def _loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m for m in sys.modules if m.startswith('digest'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_config_imports_no_stage() -> None:
    """Issue 10, point 5: config <-> edition/rank/topics was the project's one import cycle."""
    loaded = _loaded_by("digest.config")
    assert not loaded & set(STAGES), sorted(loaded & set(STAGES))


def test_schedule_and_polling_are_pure_modules() -> None:
    assert _loaded_by("digest.schedule") == {"digest", "digest.schedule"}
    assert not _loaded_by("digest.polling") & set(STAGES)


def test_reading_a_local_feed_file_imports_no_http_client(tmp_path: Path) -> None:
    """Issue 14: a poll of local files (the demo's, the benchmark's) paid httpx and httpcore's
    import, about 0.04 s of CPU, for no request; they come with the first URL."""
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    code = (
        "import sys; from datetime import UTC, datetime; from digest.config import FetchConfig; "
        "from digest.fetch import fetch; "
        f"r = fetch({str(feed)!r}, source='s', settings=FetchConfig(), now=datetime.now(UTC)); "
        "print(len(r.content), sorted(m for m in sys.modules if m.startswith(('httpx', 'httpcore'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(maxsplit=1) == [str(feed.stat().st_size), "[]\n"]


# -- issue 14: a cron ``digest run`` with nothing to do ------------------------------------

#: What a no-op run must not import: the stages' libraries (clustering, topics, parsing,
#: fetching, rendering, inlining, sending, migrating), the parse pool's worker processes,
#: the CLI's terminal-only progress bar, SQLAlchemy's ORM and extensions (the store is Core
#: only), the PostgreSQL driver on SQLite, the address validator of ``unsubscribe_mailto``
#: and APScheduler's schedulers (``digest.schedule`` needs its cron trigger alone).
NO_OP_HEAVY = (
    "sklearn", "scipy", "numpy", "wordllama", "feedparser", "httpx", "nh3", "lxml", "jinja2",
    "markupsafe", "mjml", "premailer", "cssutils", "sendgrid", "starlette", "alembic",
    "rich.progress", "multiprocessing", "sqlalchemy.orm", "sqlalchemy.ext", "psycopg",
    "email_validator", "apscheduler.schedulers",
)  # fmt: skip

#: ``digest -c CONFIG run --at TIME`` through the console script's entry point; its last line
#: is JSON: the exit code, the modules loaded, the objects the collector still tracks and those
#: it froze (:func:`digest.__main__.main`), and how many collections ran.
_NO_OP = """
import gc, json, sys
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
from digest.__main__ import main
sys.argv = ["digest", "-c", sys.argv[1], *sys.argv[3:], "run", "--at", sys.argv[2]]  # [3:]: -v
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({
    "exit": code, "modules": sorted(sys.modules), "tracked": len(gc.get_objects()),
    "frozen": gc.get_freeze_count(), "collections": len(collections),
}))
"""


def test_a_cron_run_with_nothing_to_do_imports_no_heavy_module(tmp_path: Path) -> None:
    """The demo config at 10:00 (its 07:00 edition missed: reported, not built) with every
    source polled at 09:55 and next due at 10:25: the run polls nothing, builds nothing, and
    loads none of :data:`NO_OP_HEAVY` nor the stages (fetch, parse, cluster, topics, rank,
    render)."""
    import yaml

    from digest.store import SourceState, Store
    from tests.conftest import REPO

    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{tmp_path / 'digest.db'}"}
    data["delivery"]["outbox_dir"] = str(tmp_path / "outbox")
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    for lst in data["lists"]:
        lst["subscribers"] = str(REPO / lst["subscribers"])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    polled = datetime(2026, 2, 18, 9, 55, tzinfo=UTC)
    due = datetime(2026, 2, 18, 10, 25, tzinfo=UTC)
    store = Store.open(data["database"]["url"])
    for source in data["sources"]:
        store.save_source_state(SourceState(
            name=source["name"], last_status="ok", last_fetch_at=polled, last_ok_at=polled,
            next_poll_at=due,
        ))  # fmt: skip
    store.close()
    out = subprocess.run(
        [sys.executable, "-c", _NO_OP, str(config), "2026-02-18T10:00:00Z", "-v"],  # -v: every row
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    *printed, last = out.stdout.strip().splitlines()
    got = json.loads(last)
    assert got["exit"] == 0, "\n".join(printed)
    assert "\n".join(printed).count("not due until") == len(data["sources"])
    loaded = set(got["modules"])
    heavy = {m for m in loaded if m in NO_OP_HEAVY or m.split(".")[0] in NO_OP_HEAVY}
    assert not heavy, sorted(heavy)
    stages = {
        "digest.cluster", "digest.tfidf", "digest.rank", "digest.topics", "digest.render",
        "digest.fetch", "digest.parse", "digest.parsepool", "digest.deliver", "digest.message",
        "digest.transports", "digest.scheduler", "digest.web",
    }  # fmt: skip
    assert not loaded & stages, sorted(loaded & stages)
    # what the run imported (SQLAlchemy, the store, the pipeline) was frozen once the store was
    # open: later collections skip it (without that freeze, about 26,000 objects of 90,000)
    assert got["tracked"] < got["frozen"] // 10, (got["tracked"], got["frozen"])
    # ... and imported with the collector paused: 9 collections in all, 64 with it on then
    assert got["collections"] <= 20, got["collections"]


_ENTRY = """
import gc, json, sys
from importlib.metadata import entry_points

collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
(script,) = entry_points(group="console_scripts", name="digest")
assert script.value == "digest.__main__:main", f"{script.value}: reinstall (make install)"
sys.argv = ["digest", "--help"]
try:
    script.load()()
except SystemExit:
    pass
print(json.dumps({
    "collections": len(collections), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
}))
"""


def test_the_console_script_imports_the_cli_without_collecting() -> None:
    """Issue 14: the ``digest`` script imports click, rich, pydantic and the config models
    with the cyclic collector paused (CPython ran 84 collections during that import, each
    traversing what it had built so far), freezes them and runs the command with the
    collector on again. Counted, not timed."""
    out = subprocess.run([sys.executable, "-c", _ENTRY], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["enabled"], got
    assert got["frozen"] > 10_000, got  # the CLI's modules, classes and functions
    assert got["collections"] <= 2, got  # ``--help`` itself allocates little
