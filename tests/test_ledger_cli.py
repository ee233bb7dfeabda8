"""The delivery ledger as an operator meets it: ``digest`` subprocesses against loopback
providers (the SendGrid fake, aiosmtpd, a tmpfs outbox), SIGKILLs, then the recovery that
docs/operations.md gives (``digest deliveries retry-unknown`` / ``retry-failed``, then
``digest run``)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.databases import DIALECTS
from tests.fake_sendgrid import FakeSendgrid
from tests.ledger_cli import AT, Install, Template, fresh, install, shared_template

SENDGRID_ENV = {"SENDGRID_API_KEY": "SG.ledger-test"}
LATER = "2026-02-18T07:05:00Z"  # the same edition's period, five minutes on


@pytest.fixture()
def template(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Template:
    """The World edition of 2026-02-18 stored with 600 subscribers' rows, not yet due; on
    SQLite, or on the dialect a test names (``parametrize("template", DIALECTS, indirect=True)``)."""
    return shared_template(tmp_path_factory, getattr(request, "param", "sqlite"))


LEASE = 2.0  # seconds a delivery lease holds (the real clock): longer than a SendGrid timeout


def sendgrid(fake: FakeSendgrid, **more: Any) -> dict[str, Any]:
    return {"transport": "sendgrid", "sendgrid": {"host": fake.url, "timeout": 1}, **more}


def everyone(inst: Install) -> set[str]:
    return set(inst.rows())


@pytest.mark.slow
@pytest.mark.parametrize("template", DIALECTS, indirect=True)
def test_crash_recovery_after_8_kills_with_random_provider_faults(
    template: Template, tmp_path: Path
) -> None:
    """(a) 600 subscribers, random 429/500/502/reset/hang, the sender SIGKILLed 8 times in
    the middle of a request; then retry-unknown and run: nobody missing, and the only
    duplicates are recipients of a request whose outcome was unknown."""
    rng = random.Random(20261201)
    with FakeSendgrid() as fake:
        # a short lease (on the real clock, whatever --at says): on PostgreSQL the killed
        # runs' rows come free LEASE seconds after the kill
        inst = install(template, tmp_path, sendgrid(fake, batch_size=20, lease_seconds=LEASE),
                       **SENDGRID_ENV)
        modes = ["ok"] * 12 + ["429", "500", "500", "502", "reset", "hang"]
        fake.choose = lambda: rng.choice(modes)
        kills = 0
        for _ in range(8):
            proc = inst.popen("send", "world", "--at", AT)
            target = fake.requests + rng.randint(1, 3)

            def kill_at(n: int, proc: subprocess.Popen[str] = proc, target: int = target) -> None:
                if n == target:
                    os.kill(proc.pid, signal.SIGKILL)

            fake.on_request = kill_at
            proc.communicate(timeout=120)
            kills += proc.returncode == -signal.SIGKILL
        fake.on_request = None
        fake.choose = None
        assert kills == 8
        states = inst.rows()
        in_doubt = {e for e, s in states.items() if s in ("unknown", "sending")}
        assert in_doubt and "queued" in states.values()  # the kills left work to do

        if template.pg_name is not None:
            time.sleep(LEASE + 0.2)  # SQLite asks the dead holder; PostgreSQL waits its lease
        r = inst.digest("deliveries", "retry-unknown")
        assert r.returncode == 0, r.stderr
        r = inst.digest("run", "--at", AT)
        assert r.returncode == 0, r.stdout + r.stderr
        got = Counter(fake.accepted_emails())
    assert set(got) == everyone(inst), "someone never got the edition"
    twice = {e for e, n in got.items() if n > 1}
    assert twice <= in_doubt and max(got.values()) <= 2
    assert set(inst.rows().values()) == {"sent"}


@pytest.mark.slow
def test_first_run_where_every_provider_call_fails_exits_1_then_recovers(
    db_url: str, tmp_path: Path
) -> None:
    """(c) A first `digest run` whose every SendGrid call got HTTP 500 exits 1 and says so;
    after the outage, `digest deliveries retry-failed` and `digest run` deliver everyone
    once."""
    with FakeSendgrid("500") as fake:
        inst = fresh(tmp_path, 30, sendgrid(fake, batch_size=10), url=db_url, **SENDGRID_ENV)
        r = inst.digest("run", "--at", AT)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "every provider call of this run failed" in r.stdout
        assert set(inst.rows().values()) == {"queued"}  # retried later, with back-off
        assert all("SendGrid 500" in (e or "") for e in inst.errors().values())
        status = inst.digest("status")
        assert "sending" in status.stdout  # not complete: derived from the rows
        shown = inst.digest("deliveries").stdout
        assert "[sending]: queued 30" in shown and "waiting for a retry (30;" in shown
        assert "SendGrid 500: internal error" in shown
        # the same run again sends nothing: the retries are not due yet
        inst.digest("run", "--at", AT)
        assert fake.accepted == [] and set(inst.rows().values()) == {"queued"}

        fake.mode = "ok"
        r = inst.digest("deliveries", "retry-failed")
        assert r.returncode == 0
        assert r.stdout.startswith("0 deliveries queued again; 30 waiting for a retry are due now")
        r = inst.digest("run", "--at", AT)
        assert r.returncode == 0, r.stdout + r.stderr
        got = Counter(fake.accepted_emails())
        assert "[delivered]: sent 30" in inst.digest("deliveries").stdout
    assert set(got) == everyone(inst) and max(got.values()) == 1
    assert set(inst.rows().values()) == {"sent"}


@pytest.mark.parametrize("template", DIALECTS, indirect=True)
def test_gateway_errors_are_unknown_and_the_run_exits_1(template: Template, tmp_path: Path) -> None:
    """(c) A run whose every call got a gateway's 502 (the request may have been taken):
    exit 1, the rows unknown; retry-unknown and run deliver, duplicates only for them."""
    with FakeSendgrid("502") as fake:
        inst = install(template, tmp_path, sendgrid(fake, batch_size=10), keep=20, **SENDGRID_ENV)
        r = inst.digest("send", "world", "--at", AT)
        assert r.returncode == 1 and "every provider call of this run failed" in r.stdout
        assert set(inst.rows().values()) == {"unknown"}
        r = inst.digest("deliveries")
        assert "unknown 20" in r.stdout and "retry-unknown" in r.stdout
        fake.mode = "ok"
        assert inst.digest("deliveries", "retry-unknown").stdout.startswith("20 deliveries")
        assert inst.digest("run", "--at", AT).returncode == 0
        got = Counter(fake.accepted_emails())
    assert set(got) == everyone(inst) and set(got.values()) == {2}  # 502 took them: twice


@pytest.fixture()
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (root only; skipped where mount is not permitted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("template", DIALECTS, indirect=True)
def test_outbox_on_a_full_disk_is_retried_then_failed_then_retry_failed_delivers(
    template: Template, tmp_path: Path, tmpfs: Path
) -> None:
    """(b) The outbox on a full disk: writes fail with ENOSPC, are retried, then fail with
    the reason; with space freed, `retry-failed` and `run` deliver every one."""
    ballast = tmpfs / "ballast"
    ballast.write_bytes(b"\0" * (2 * 1024 * 1024 - 300 * 1024))
    inst = install(
        template, tmp_path / "inst",
        {"transport": "outbox", "outbox_dir": str(tmpfs), "max_attempts": 3,
         "retry_delay_seconds": 0},
        keep=12,
    )
    r = inst.digest("send", "world", "--at", AT)
    assert r.returncode == 1, r.stdout + r.stderr
    states, errors = inst.rows(), inst.errors()
    failed = {e for e, s in states.items() if s == "failed"}
    assert failed and set(states.values()) <= {"sent", "failed"}
    for email in failed:
        assert "gave up after 3 attempts" in errors[email] and "No space left on device" in errors[email]
    shown = inst.digest("deliveries")
    assert "No space left on device" in shown.stdout and "retry-failed" in shown.stdout

    ballast.unlink()  # the operator frees space
    r = inst.digest("deliveries", "retry-failed")
    assert r.returncode == 0 and r.stdout.startswith(f"{len(failed)} deliveries queued again")
    r = inst.digest("run", "--at", AT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(inst.rows().values()) == {"sent"}
    assert len(list(tmpfs.rglob("*.eml"))) == 12


def _fill(disk: Path) -> Path:
    """Fill the file system of ``disk`` to the last byte with one file; that file."""
    ballast = disk / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return ballast


@pytest.mark.slow
def test_a_run_resumed_after_a_full_disk_writes_the_missing_archive_copies(
    tmp_path: Path, tmpfs: Path
) -> None:
    """An operator's find: after a full disk, ``edition.html``/``edition.txt`` were never
    written again while the ``.eml`` files were. The resumed run writes them, with the bytes
    of an uninterrupted run."""
    delivery = {"transport": "outbox", "max_attempts": 2, "retry_delay_seconds": 0}
    whole = fresh(tmp_path / "whole", 5, delivery)
    r = whole.digest("run", "--at", AT)
    assert r.returncode == 0, r.stdout + r.stderr
    expected = whole.folder / "outbox" / "world" / "2026-02-18"

    inst = fresh(tmp_path / "inst", 5, {**delivery, "outbox_dir": str(tmpfs)})
    ballast = _fill(tmpfs)
    r = inst.digest("run", "--at", AT)
    assert r.returncode == 1, r.stdout + r.stderr
    folder = tmpfs / "world" / "2026-02-18"
    assert not (folder / "edition.html").exists() and not list(folder.glob("*.eml"))
    assert set(inst.rows().values()) == {"failed"}

    ballast.unlink()  # the operator frees space
    assert inst.digest("deliveries", "retry-failed").returncode == 0
    r = inst.digest("run", "--at", AT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(inst.rows().values()) == {"sent"} and len(list(folder.glob("*.eml"))) == 5
    for name in ("edition.html", "edition.txt"):
        assert (folder / name).read_bytes() == (expected / name).read_bytes(), name
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]


class SmtpHandler:
    """aiosmtpd handler: ``gone*`` is refused with 550 5.1.1 at RCPT; ``busy*`` gets 451
    the first time; when ``kill`` is set, the sender process is SIGKILLed while the message
    to ``kill_rcpt`` is in DATA (the server takes it; the answer is never read)."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.rcpt: Counter[str] = Counter()
        self.kill: int | None = None
        self.kill_rcpt = ""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        self.rcpt[address] += 1
        local = address.split("@")[0]
        if local.startswith("gone"):
            return "550 5.1.1 No such user here"
        if local.startswith("busy") and self.rcpt[address] == 1:
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.delivered.extend(envelope.rcpt_tos)
        if self.kill is not None and self.kill_rcpt in envelope.rcpt_tos:
            os.kill(self.kill, signal.SIGKILL)
            self.kill = None
            await asyncio.sleep(0.3)  # the sender is gone before the reply
        return "250 2.0.0 Ok: queued"


def _rename(inst: Install, old: str, new: str) -> None:
    inst.sql("UPDATE subscribers SET email = :new, email_lower = :new WHERE email = :old", new=new, old=old)


@pytest.mark.slow
@pytest.mark.parametrize("template", DIALECTS, indirect=True)
def test_smtp_bounce_suppresses_4xx_retries_and_a_kill_leaves_one_message_in_doubt(
    template: Template, tmp_path: Path
) -> None:
    """(d) SMTP through aiosmtpd: `550 5.1.1` at RCPT suppresses the address, and neither a
    retry nor the next edition tries it again; a 451 is retried; a SIGKILL in the middle of
    a batch puts only the message in flight in doubt."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = SmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        inst = install(
            template, tmp_path,
            {"transport": "smtp", "batch_size": 100, "retry_delay_seconds": 60,
             "lease_seconds": LEASE,  # PostgreSQL: the killed run's rows come free after it
             "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5}},
            keep=20,
        )
        _rename(inst, "user00003@example.com", "gone00003@example.com")
        _rename(inst, "user00005@example.com", "busy00005@example.com")
        handler.kill_rcpt = "user00010@example.com"
        proc = inst.popen("send", "world", "--at", AT)
        handler.kill = proc.pid
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        states = inst.rows()
        # one batch of 20, killed at its 11th message: only that one is in doubt
        assert [e for e, s in states.items() if s == "sending"] == ["user00010@example.com"]
        shown = inst.digest("deliveries").stdout
        assert "unknown outcome (1;" in shown and "user00010@example.com: in flight" in shown
        assert sum(s == "sent" for s in states.values()) == 8
        assert states["gone00003@example.com"] == "failed"
        assert states["busy00005@example.com"] == "queued"
        assert Counter(states.values())["claimed"] == 9  # never handed over: not in doubt

        # five minutes later (the commands' clock is --at), after the 451's 60 s back-off,
        # the next run sends the rest and retries it; the killed run's lease runs on the real
        # clock, not on --at: on PostgreSQL it must really be over
        if template.pg_name is not None:
            time.sleep(LEASE + 0.2)
        r = inst.digest("send", "world", "--at", LATER)
        assert r.returncode == 1, r.stdout + r.stderr  # the bounce is a failed delivery
        states = inst.rows()
        assert states["user00010@example.com"] == "unknown"
        assert states["busy00005@example.com"] == "sent" and handler.rcpt["busy00005@example.com"] == 2
        assert Counter(states.values()) == {"sent": 18, "failed": 1, "unknown": 1}
        assert "550 5.1.1" in (inst.errors()["gone00003@example.com"] or "")
        assert inst.sql(
            "SELECT reason FROM suppressions WHERE email_lower = 'gone00003@example.com'"
        ) == [("bounce",)]
        assert inst.sql("SELECT status FROM subscribers WHERE email = 'gone00003@example.com'") == [
            ("bounced",)
        ]

        # retry-failed does not try the bounced address again
        inst.digest("deliveries", "retry-failed")
        inst.digest("send", "world", "--at", AT)
        assert handler.rcpt["gone00003@example.com"] == 1
        # nor does the next edition (an earlier period, re-opened rows: run resumes it)
        _second_edition(inst)
        r = inst.digest("run", "--at", AT)
        assert r.returncode == 0, r.stdout + r.stderr
        assert handler.rcpt["gone00003@example.com"] == 1
        got = Counter(handler.delivered)
        assert got["user00000@example.com"] == 2  # both editions
        assert all(n <= 2 for e, n in got.items() if e != "user00010@example.com")
    finally:
        controller.stop()


def _second_edition(inst: Install) -> None:
    """Store another edition (2026-02-17, same renderings) queued for the active subscribers."""
    from datetime import UTC, datetime, timedelta

    from digest.store import Store

    now = datetime.now(UTC)
    with Store.open(inst.url) as store:
        first = store.edition("world", "2026-02-18")
        assert first is not None
        store.create_edition(
            list_name="world", period="2026-02-17", window_start=first.window_start - timedelta(days=1),
            window_end=first.window_end - timedelta(days=1), now=now, subject=first.subject,
            preheader="", html="<p>x</p>", text="x", carried=[], variants=store.variants(first.id),
            recipients=[(s.id, None) for s in store.subscribers_of("world") if s.id is not None],
        )
