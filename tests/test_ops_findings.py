"""Operator findings, through the CLI: a transport secret that is not set, one summary per
command, config check's verdict and exit codes, a partly written outbox, the editor's list
page before the first edition."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.cron_support import Install, install

AT = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)


def _change(inst: Install, **delivery: object) -> None:
    data = yaml.safe_load(inst.config.read_text())
    data["delivery"].update(delivery)
    inst.config.write_text(yaml.safe_dump(data))


def test_sendgrid_without_its_api_key(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`transport: sendgrid` without SENDGRID_API_KEY: config check names the variable
    (error, exit 2); a run reports the list once, with its period."""
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    inst = install(tmp_path, db_url, {"world": ("0 7 * * *", "UTC")})
    _change(inst, transport="sendgrid")
    inst.add_item(AT - timedelta(hours=1))
    check = inst.cli("config", "check")
    assert check.exit_code == 2, check.output
    said = " ".join(check.output.split())
    assert "error: transport sendgrid (list world): the API key is read from $SENDGRID_API_KEY" in said
    assert not said.startswith("ok")
    run = inst.cli("run", at=AT)
    assert run.exit_code == 1, run.output
    said = " ".join(run.output.split())
    assert said.count("list world edition") == 1, said
    assert "list world edition 2026-02-18: failed" in said
    assert "1 list(s) failed: world" in said and "world, world" not in said
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    assert inst.cli("config", "check").exit_code == 0


def test_deliver_with_two_workers_prints_one_summary(pg_url: str, tmp_path: Path) -> None:
    """`digest deliver --workers 2`: the two worker processes share the edition, and the
    command prints one summary of it (not one per worker)."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.fake_sendgrid import FakeSendgrid
    from tests.worker_support import seed, write_config

    seed(pg_url, 60, html_size=200)
    with FakeSendgrid() as fake:
        config = write_config(tmp_path, pg_url, fake.url, batch_size=10)
        env = {**os.environ, "PYTHONPATH": str(REPO), "SENDGRID_API_KEY": "SG.test"}
        done = subprocess.run(
            [sys.executable, "-m", "digest", "-c", str(config), "deliver", "--workers", "2"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )
        assert len(set(fake.accepted_emails())) == 60
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    assert said.count("list world edition 2026-02-18: sent") == 1, said
    assert "deliveries: 60 sent" in said


def test_retry_unknown_names_the_edition_of_rows_left_in_flight(tmp_path: Path) -> None:
    """`digest deliveries retry-unknown` after a killed run: the warning about the rows it
    left in flight names their edition."""
    from sqlalchemy import update

    from digest.store import Store, deliveries
    from tests.worker_support import seed, write_config

    url = f"sqlite:///{tmp_path / 'd.db'}"
    edition = seed(url, 3, html_size=200)
    with Store.open(url) as store, store.begin() as conn:
        conn.execute(  # a run that died (no such process) with one row handed to the provider
            update(deliveries).where(deliveries.c.id == 1)
            .values(state="sending", lease_holder=f"{os.uname().nodename}:999999999:dead")
        )
    config = write_config(tmp_path, url, "http://127.0.0.1:9")
    from click.testing import CliRunner

    from digest.cli import cli

    result = CliRunner().invoke(cli, ["-c", str(config), "deliveries", "retry-unknown"])
    assert result.exit_code == 0, result.output
    assert f"deliver.interrupted edition={edition} unknown=1" in result.output, result.output


@pytest.mark.parametrize(
    "subject",
    [
        "{{ top_story.lead.title }",  # a syntax error
        "{{ list.title | nosuchfilter }}",  # compiles nowhere: an unknown filter
        "{{ list.title.nosuch.deeper }}",  # parses, then fails on every edition
    ],
)
def test_config_check_with_a_broken_subject_says_no_ok_and_exits_2(
    tmp_path: Path, subject: str
) -> None:
    """A subject that would fail when the morning's edition is built is an error of
    `config check` (exit 2), not only one that does not parse (a tester's finding)."""
    inst = install(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", {"world": ("0 7 * * *", "UTC")})
    data = yaml.safe_load(inst.config.read_text())
    data["lists"][0]["subject"] = subject
    inst.config.write_text(yaml.safe_dump(data))
    check = inst.cli("config", "check")
    assert check.exit_code == 2, check.output
    lines = check.output.splitlines()
    assert lines[0].startswith("1 error (below); config of 1 source"), lines
    assert not any(line.startswith("ok") for line in lines), lines
    assert any(line.startswith("error: lists[0].subject: a Jinja2 template") for line in lines)


def test_a_partly_full_outbox_disk_fails_the_run(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox disk fills after the first message: 1 of 5 written, 4 wait for a retry.
    The run exits 1 and says so (cron notices); once space is back, a run sends the rest
    and exits 0."""
    import errno

    from digest.transports import outbox

    readers = [(f"r{i}@example.org", "UTC") for i in range(5)]
    inst = install(tmp_path, db_url, {"world": ("0 7 * * *", "UTC")}, subscribers=readers)
    _change(inst, retry_delay_seconds=60)
    inst.add_item(AT - timedelta(hours=1))
    real = outbox._mkstemp

    def full_after_one(folder: Path) -> tuple[int, str]:
        if any(p.suffix in (".eml", ".part") for p in Path(folder).iterdir()):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(folder)

    monkeypatch.setattr(outbox, "_mkstemp", full_after_one)
    run = inst.cli("run", at=AT)
    said = " ".join(run.output.split())
    assert run.exit_code == 1, said
    assert "list world edition 2026-02-18: failed" in said
    assert "4 wait for a retry after a transport error" in said
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 1
    monkeypatch.setattr(outbox, "_mkstemp", real)  # space freed; the back-off has passed
    again = inst.cli("run", at=AT + timedelta(minutes=5))
    assert again.exit_code == 0, again.output
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 5


def test_the_editor_list_page_counts_the_subscriber_file_before_the_first_edition(
    tmp_path: Path,
) -> None:
    """Before the first build nothing is imported: the list page counts the file's good rows
    and says when they are imported, instead of "none"; a file that cannot be read says so."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from tests.editor_support import TOKEN, make_app

    csv = tmp_path / "world.csv"
    csv.write_text("email,name\nada@example.org,Ada\nkim@example.org,Kim\nnot-an-address,X\n")
    app, store, _ = make_app(tmp_path, subscribers=str(csv))
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            client.post("/editor/login", data={"token": TOKEN, "next": "/editor/"})
            page = client.get("/editor/").text
            facts = page.split("<dt>Subscribers</dt>")[1].split("</dd>")[0]
            assert "none" not in facts, facts
            assert f"2 in <code>{csv}</code>" in facts and "imported at the first build" in facts
            csv.unlink()
            facts = client.get("/editor/").text.split("<dt>Subscribers</dt>")[1].split("</dd>")[0]
            assert "cannot read" in facts, facts
    finally:
        store.close()


def no_room(dbapi_conn: object, _record: object) -> None:
    """A connect hook that makes SQLite's disk "full": ``max_page_count`` at the file's size."""
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA max_page_count = 1")  # SQLite keeps it at the file's page count
    cur.close()


def test_a_full_sqlite_disk_is_one_clear_line_naming_the_file(tmp_path: Path) -> None:
    """A poll whose writes find the disk full (SQLite's ``SQLITE_FULL``, here from a
    ``max_page_count`` at the file's size: no root needed for a tiny filesystem) stops with one
    line naming the database file and what to do, exit 1; no driver words, no SQLAlchemy link,
    no traceback; and what was stored before is still there."""
    from sqlalchemy.pool import Pool

    db = tmp_path / "d.db"
    inst = install(tmp_path, f"sqlite:///{db}", {"world": ("0 7 * * *", "UTC")})
    inst.add_item(AT - timedelta(hours=2))
    assert inst.cli("poll").exit_code == 0
    before = inst._query("SELECT count(*) FROM entries")

    for k in range(1, 40):
        inst.add_item(AT - timedelta(hours=2) + timedelta(minutes=k))
    code, said = inst.main_with(Pool, "connect", no_room, "poll")
    assert code == 1
    assert f"error: the disk holding database file {db} is full" in said, said
    assert "free some space on that disk, then run the command again" in said
    assert "sqlalche.me" not in said and "OperationalError" not in said and "Traceback" not in said
    assert inst._query("SELECT count(*) FROM entries") == before


def test_retry_failed_counts_what_it_really_retries_and_what_stays_suppressed(
    db_url: str, tmp_path: Path
) -> None:
    """`deliveries retry-failed` with failed rows whose addresses are suppressed: they stay
    failed and are counted with the command that lifts a suppression; only the others are
    queued again. `suppressions remove EMAIL` lifts one (its bounced subscriber is active
    again), and the next retry-failed queues that row."""
    from click.testing import CliRunner

    from digest.cli import cli
    from digest.store import Store
    from digest.types import SubscriberStatus
    from tests.worker_support import seed_settled, write_config

    edition, emails = seed_settled(db_url, 4, "failed", "550 5.1.1 no such user")
    with Store.open(db_url) as store:
        store.suppress(emails[0], "bounce", now=AT)
        store.suppress(emails[1], "dropped", now=AT)
        bounced = store.subscriber_by_email("world", emails[0])
        assert bounced is not None and bounced.id is not None
        store.set_subscriber_status(bounced.id, SubscriberStatus.BOUNCED, now=AT)
    config = write_config(tmp_path, db_url, "http://127.0.0.1:9")

    def digest(*args: str) -> str:
        result = CliRunner().invoke(cli, ["-c", str(config), *args])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    said = digest("deliveries", "retry-failed")
    assert said.startswith("2 deliveries queued again;"), said
    assert "1 failed deliveries stay failed (address suppressed)" in said, said
    assert "1 failed deliveries stay failed (subscriber bounced)" in said, said
    assert "`digest suppressions remove EMAIL` lifts one" in said, said
    assert emails[0] in digest("suppressions")
    assert "1 suppression(s) lifted, 1 subscriber(s) active again" in digest("suppressions", "remove", emails[0])
    said = digest("deliveries", "retry-failed")
    assert said.startswith("1 deliveries queued again;"), said
    assert "1 failed deliveries stay failed (address suppressed)" in said, said
    with Store.open(db_url) as store:
        assert store.delivery_counts(edition) == {"queued": 3, "failed": 1}
