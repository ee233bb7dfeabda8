"""An operator's find: after a SIGKILL mid-send the outbox folder kept the killed batch's
``.tmp-*.part`` files forever (64-99 of them). The next run removes what a writer that is
gone left there, and never a running writer's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest.tempnames import UNKNOWN_WRITER_GRACE, is_left_over, temp_prefix, writer_of
from digest.transports.outbox import OutboxTransport, remove_left_over_temp_files
from tests.ledger_cli import AT, Template, install, shared_template

HOST = socket.gethostname()


@pytest.fixture()
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return shared_template(tmp_path_factory)


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.mark.slow
def test_a_run_after_a_kill_mid_send_leaves_no_temporary_file_and_delivers_everyone_once(
    template: Template, tmp_path: Path
) -> None:
    inst = install(template, tmp_path, {"transport": "outbox", "batch_size": 100}, keep=250)
    # killed just before the 150th rename: the second batch half placed, half on disk
    # under temporary names
    killed = subprocess.run(
        [sys.executable, "-m", "tests.outbox_kill", "-c", str(inst.config), "run", "--at", AT],
        cwd=inst.folder, env={**inst.env, "DIGEST_KILL_AT_RENAME": "150"},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    folder = inst.folder / "outbox" / "world" / "2026-02-18"
    left = _parts(folder)
    assert len(left) == 51, left  # what the operator saw: the batch in flight
    assert all(writer_of(name) for name in left)  # each names its writer

    r = inst.digest("run", "--at", AT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "100 unknown" in r.stdout  # the killed batch, in doubt as documented
    assert _parts(folder) == [], "the killed run's temporary files are still there"

    # the documented recovery: the killed batch's outcome is unknown until the operator asks
    r = inst.digest("deliveries", "retry-unknown")
    assert r.returncode == 0, r.stdout + r.stderr
    r = inst.digest("run", "--at", AT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _parts(folder) == []
    assert set(inst.rows().values()) == {"sent"}
    emails = sorted(p.name.split("-", 1)[1] for p in folder.glob("*.eml"))
    assert len(emails) == 250 and len(set(emails)) == 250  # one message each, nobody twice
    assert set(emails) == {e.replace("@", "_at_") + ".eml" for e in inst.rows()}


def test_only_a_gone_writers_temporary_files_are_removed(tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        names = {
            "gone": temp_prefix(HOST, gone.pid) + "abc123.part",
            "live": temp_prefix(HOST, live.pid) + "abc123.part",
            "mine": temp_prefix(HOST, os.getpid()) + "abc123.part",
            "other_host": temp_prefix("elsewhere.example", gone.pid) + "abc123.part",
            "old_style_new": ".tmp-k2j4h5g6.part",
            "old_style_old": ".tmp-a1b2c3d4.part",
            "message": "0001-ada_at_example.com.eml",
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"x")
        old = time.time() - UNKNOWN_WRITER_GRACE - 60
        os.utime(tmp_path / names["old_style_old"], (old, old))
        os.utime(tmp_path / names["live"], (old, old))  # a running writer's, however old

        OutboxTransport(tmp_path)  # opening the outbox on the folder cleans it
        kept = {p.name for p in tmp_path.iterdir()}
        assert kept == {names[k] for k in ("live", "mine", "other_host", "old_style_new", "message")}
        assert remove_left_over_temp_files(tmp_path) == []
        assert remove_left_over_temp_files(tmp_path / "missing") == []
    finally:
        live.kill()
        live.wait()


def test_the_decision() -> None:
    name = temp_prefix("h.example", 42) + "x9.part"
    assert name == ".tmp-h.example:42:x9.part" and writer_of(name) == "h.example:42:x9"
    assert writer_of(".tmp-abc.part") is None and writer_of("0001-a.eml") is None
    assert temp_prefix("odd/host:name", 7) == ".tmp-odd_host_name:7:"
    assert is_left_over(name, writer_alive=False, age_seconds=0)
    assert not is_left_over(name, writer_alive=True, age_seconds=10 * UNKNOWN_WRITER_GRACE)
    assert not is_left_over(name, writer_alive=None, age_seconds=60)
    assert is_left_over(name, writer_alive=None, age_seconds=UNKNOWN_WRITER_GRACE + 1)
    assert not is_left_over("0001-a.eml", writer_alive=False, age_seconds=1e9)
    assert not is_left_over(".tmp-.part", writer_alive=False, age_seconds=1e9)
