"""What ``digest run`` leaves alone (issue 14): healthy sources before their ``next_poll_at``,
bodies it parsed already, the migration check of a database at head, and every heavy
import when there is nothing to do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from digest import parse, pipeline, polling, schema
from digest.config import parse_config
from digest.sanitize import html_to_text, text_from_html_fragment
from digest.store import SourceState, Store
from tests.conftest import REAL_FEEDS, REPO
from tests.test_imports import _NO_OP  # the one no-op run script: it prints the modules loaded

# 10:00 is three hours after the list's 07:00 send: the list is "missed", so these runs poll
# and report without building an edition (fast); the end-to-end test below builds one.
T = datetime(2026, 2, 18, 10, 0, tzinfo=UTC)
FEEDS = ("npr-world-rss.xml", "bbc-world-rss.xml")
HEAVY = (
    "sklearn", "scipy", "numpy", "alembic", "premailer", "wordllama", "sendgrid", "starlette",
    "feedparser", "httpx", "mjml", "nh3", "cssutils", "lxml", "jinja2",
)  # fmt: skip


def _config(tmp_path: Path, db_url: str) -> tuple[object, dict[str, Path]]:
    """The shipped config on the database ``db_url``, its sources copies of two captured
    feeds in ``tmp_path`` (name -> path)."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": db_url}
    data["delivery"]["outbox_dir"] = str(tmp_path / "outbox")
    files = {}
    for name in FEEDS:
        files[name] = tmp_path / name
        shutil.copyfile(REAL_FEEDS / name, files[name])
    data["sources"] = [
        {"name": p.stem, "title": p.stem, "path": str(p)} for p in files.values()
    ]
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    return parse_config(data, REPO), files


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources whose bodies :func:`digest.parse.parse_feed` was asked to parse."""
    calls: list[str] = []
    real = parse.parse_feed

    def counting(content: bytes, **kwargs: object) -> object:
        calls.append(str(kwargs["source"]))
        return real(content, **kwargs)

    monkeypatch.setattr(parse, "parse_feed", counting)
    return calls


def _run(config: object, store: Store, now: datetime) -> dict[str, object]:
    report = pipeline.run(config, store, now=now, at=now, clock=lambda: now)  # type: ignore[arg-type]
    assert [lst.status for lst in report.lists] == ["missed"]
    return {s.source: s for s in report.sources}


def test_a_second_run_on_the_same_files_parses_nothing(
    db_url: str, tmp_path: Path, parses: list[str]
) -> None:
    config, _ = _config(tmp_path, db_url)
    with Store.open(config.database.url) as store:
        first = _run(config, store, T)
        assert sorted(parses) == sorted(p.removesuffix(".xml") for p in FEEDS)
        assert all(r.status == "ok" and r.new_entries > 0 for r in first.values())
        parses.clear()
        # ten minutes later: not due (30-minute interval), nothing fetched or parsed
        again = _run(config, store, T + timedelta(minutes=10))
        assert parses == []
        assert {r.status for r in again.values()} == {"skipped"}
        assert all("not due until 2026-02-18 10:30" in (r.error or "") for r in again.values())
        # due again: the files are read, but the same bytes are not parsed a second time
        later = _run(config, store, T + timedelta(minutes=31))
        assert parses == []
        assert all(r.status == "ok" and r.unchanged and r.new_entries == 0 for r in later.values())
        assert store.source_state("npr-world-rss").next_poll_at == T + timedelta(minutes=61)


def test_a_changed_file_is_parsed_again(db_url: str, tmp_path: Path, parses: list[str]) -> None:
    config, files = _config(tmp_path, db_url)
    with Store.open(config.database.url) as store:
        _run(config, store, T)
        parses.clear()
        path = files["npr-world-rss.xml"]
        body = path.read_bytes()
        first_title = body.index(b"<item>")
        path.write_bytes(body[:first_title] + body[first_title:].replace(b"<title>", b"<title>Changed: ", 1))
        later = _run(config, store, T + timedelta(minutes=31))
        assert parses == ["npr-world-rss"]  # only the file that changed
        assert later["npr-world-rss"].status == "ok" and not later["npr-world-rss"].unchanged
        assert later["bbc-world-rss"].unchanged


def test_poll_fetches_every_source_now_and_run_with_a_later_at_polls_due_ones(
    db_url: str, tmp_path: Path, parses: list[str]
) -> None:
    config, _ = _config(tmp_path, db_url)
    with Store.open(config.database.url) as store:
        _run(config, store, T)
        # `digest poll` (no due_only) is how an operator forces a poll before next_poll_at
        forced = pipeline.poll(config, store, now=T + timedelta(minutes=1))
        assert [r.status for r in forced] == ["ok", "ok"] and all(r.unchanged for r in forced)
        # `--at` in the future: the clock of the run is that time, so the sources are due
        ahead = _run(config, store, T + timedelta(days=2))
        assert all(r.status == "ok" for r in ahead.values())
        # `--at` before the last fetch (the clock set back): polled, not trusted as "not due"
        back = _run(config, store, T - timedelta(days=1))
        assert all(r.status == "ok" for r in back.values())


def test_not_due_reason_is_the_one_rule_of_run() -> None:
    polled = SourceState(
        name="a", last_status="ok", last_fetch_at=T, next_poll_at=T + timedelta(minutes=30)
    )
    assert polling.not_due_reason(SourceState(name="a"), T) is None  # never polled
    assert polling.not_due_reason(polled, T + timedelta(minutes=10)) is not None
    assert polling.not_due_reason(polled, T + timedelta(minutes=30)) is None
    assert polling.not_due_reason(polled, T - timedelta(minutes=1)) is None  # clock set back
    failed = SourceState(**{**polled.__dict__, "last_status": "failed"})
    assert polling.not_due_reason(failed, T + timedelta(minutes=10)) is None  # skip_reason's
    # a list about to be built from it wants it fresher than FRESH_ENOUGH
    soon = T + polling.FRESH_ENOUGH - timedelta(seconds=1)
    assert polling.not_due_reason(polled, soon, fresh_within=polling.FRESH_ENOUGH) is not None
    late = T + polling.FRESH_ENOUGH + timedelta(seconds=1)
    assert polling.not_due_reason(polled, late, fresh_within=polling.FRESH_ENOUGH) is None


def test_a_body_hash_survives_a_failure_and_follows_a_new_fetch() -> None:
    policy = polling.Policy(interval=timedelta(minutes=30))
    state = SourceState(name="a", body_hash="h1")
    assert polling.unchanged(state, "h1") and not polling.unchanged(state, "h2")
    assert not polling.unchanged(SourceState(name="a"), "h1")
    assert polling.decide(state, polling.Failed(reason="x"), T, policy).body_hash == "h1"
    assert polling.decide(state, polling.Fetched(body_hash="h2"), T, policy).body_hash == "h2"


def test_the_head_read_from_the_files_is_alembics_and_opening_at_head_skips_alembic(
    empty_db_url: str,
) -> None:
    assert schema.head_revision() == schema.head()
    url = empty_db_url
    from digest.store import make_engine

    engine = make_engine(url)
    assert not schema.at_head(engine)  # no schema yet
    schema.upgrade(engine, schema.revisions()[-2])
    assert not schema.at_head(engine)
    engine.dispose()
    Store.open(url).close()
    engine = make_engine(url)
    assert schema.at_head(engine)
    engine.dispose()
    code = (
        "import sys; from digest.store import Store; "
        f"Store.open({url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _cli_config(tmp_path: Path, db_url: str) -> Path:
    """The shipped config, written to ``tmp_path``, on the database ``db_url``."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["database"] = {"url": db_url}
    data["delivery"]["outbox_dir"] = str(tmp_path / "outbox")
    for source in data["sources"]:
        source["path"] = str((REPO / source["path"]).resolve())
    data["lists"][0]["subscribers"] = str(REPO / "subscribers" / "world.csv")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _no_op(config: Path, at: str, *flags: str) -> tuple[dict[str, object], str]:
    out = subprocess.run(
        [sys.executable, "-c", _NO_OP, str(config), at, *flags], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def test_a_run_with_nothing_due_imports_no_stage(db_url: str, tmp_path: Path) -> None:
    config = _cli_config(tmp_path, db_url)
    first, _ = _no_op(config, "2026-02-18T10:00:00Z")  # polls and parses; the list is missed
    assert "feedparser" in first["modules"]
    second, printed = _no_op(config, "2026-02-18T10:05:00Z", "-v")  # plain: prints nothing
    assert second["exit"] == 0 and "not due until" in printed
    assert not set(HEAVY) & set(second["modules"]), sorted(set(HEAVY) & set(second["modules"]))


@pytest.mark.slow  # the one end-to-end proof: builds and sends the demo edition, then a cron no-op
def test_make_demo_twice_the_second_run_parses_nothing_and_imports_no_stage(
    db_url: str, tmp_path: Path
) -> None:
    config = _cli_config(tmp_path, db_url)
    first, printed = _no_op(config, "2026-02-18T07:00:00Z")
    assert first["exit"] == 0 and "edition 2026-02-18: sent" in printed
    second, printed = _no_op(config, "2026-02-18T07:00:00Z", "-v")  # plain: prints nothing
    assert second["exit"] == 0 and "edition 2026-02-18: exists" in printed
    assert printed.count("not due until") == 11
    assert not set(HEAVY) & set(second["modules"]), sorted(set(HEAVY) & set(second["modules"]))


_TEXT = st.text(st.characters(blacklist_characters="<&"), max_size=80)


@given(_TEXT)
def test_the_plain_text_fast_path_gives_what_the_html_parser_gives(text: str) -> None:
    """html_to_text and text_from_html_fragment skip the parser for text without markup."""
    from digest import sanitize

    slow = sanitize._TextExtractor()
    slow.feed(sanitize.remove_controls(text))
    slow.close()
    lines = (sanitize._WS.sub(" ", line).strip() for line in sanitize.remove_controls("".join(slow.parts)).split("\n"))
    assert html_to_text(text) == "\n".join(line for line in lines if line)
    if "]]>" not in text:
        wrapped = sanitize.drop_comments(sanitize.unwrap_cdata(sanitize.remove_controls(text)))
        assert text_from_html_fragment(text) == sanitize.clean_text(html_to_text(wrapped).replace("\n", " "))


_HTMLISH = st.lists(
    st.sampled_from(
        ["<p>", "</p>", "<br>", "<td>", "</td>", "<b>", "</b>", "<a href='x>y'>", "</a>",
         "<script>", "</script>", "&amp;", "&lt;", "&#x27;", "a b", "\n", " ", "é", "<li>",
         "<img src=\"https://e.org/i.png\" alt=\"a>b\">", "x", "<!-- c -->", "&", "<"]
    ),
    max_size=30,
).map("".join)  # fmt: skip


@given(_HTMLISH)
def test_the_text_of_sanitised_html_is_what_the_html_parser_reads(fragment: str) -> None:
    from digest.sanitize import sanitize_html, sanitized_html_to_text

    clean = sanitize_html(fragment)
    assert sanitized_html_to_text(clean) == html_to_text(clean)


def test_a_source_whose_new_state_cannot_be_written_keeps_none_of_its_entries(
    db_url: str, tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source's entries and its new state (``body_hash``, next poll) are written in one
    transaction: when the state cannot be written, none of the entries are kept (a source
    is never half stored) and the next poll parses the body again."""
    from digest.exceptions import StoreError

    config, _ = _config(tmp_path, db_url)
    real = polling.SourceUpdate.columns

    def fails(self: polling.SourceUpdate) -> dict[str, object]:
        raise StoreError("the database went away while writing the source")

    names = [p.removesuffix(".xml") for p in FEEDS]
    since = datetime(2000, 1, 1, tzinfo=UTC)
    with Store.open(config.database.url) as store:
        monkeypatch.setattr(polling.SourceUpdate, "columns", fails)
        failed = pipeline.poll(config, store, now=T)  # type: ignore[arg-type]
        assert [r.status for r in failed] == ["failed", "failed"]
        assert store.entries_between(names, since, T) == []
        monkeypatch.setattr(polling.SourceUpdate, "columns", real)
        parses.clear()
        again = pipeline.poll(config, store, now=T)  # type: ignore[arg-type]
        assert sorted(parses) == sorted(names)  # no body_hash was kept: parsed again
        assert all(r.status == "ok" and r.new_entries > 0 for r in again)
        assert store.source_state(names[0]).body_hash is not None
