"""Overlapping sends on different clocks (a tester's report): `digest send world --at T` (the
command digest itself suggests for a missed edition) was still sending when a cron-style
`digest run` on the real clock started; the run saw the send's leases, stamped on `--at`,
as long expired, took its batch over and sent it again: 612 emails for 600 subscribers while
`digest deliveries` said 600 sent. A lease is about processes, not about an edition's
clock: it is stamped and compared on the lease clock (PostgreSQL's `now()`, the machine's on
SQLite), and on SQLite a live holder's rows are never taken over, whatever any clock says.

Real processes through the CLI: an SMTP sink on loopback holds one message of the send in
DATA (the provider is slow) while another `digest run` -- on the real clock, on another
`--at`, or under faketime -- runs to its end; then the held message is answered and the send
finishes. Everyone gets the edition exactly once. Then a kill -9 in the same place, the
documented recovery (`deliveries`, `retry-unknown`, `run`): everyone exactly once again, and
the rows the dead send held are explained while they cannot be re-queued yet."""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from digest.store import Store
from tests.worker_support import seed, write_config

REPO = Path(__file__).resolve().parent.parent
N = 40  # subscribers
BATCH = 10
HOLD_AT = 13  # the sink holds the 13th message it receives: the 3rd of the send's 2nd batch
SENT_AT = "2026-01-01T07:00Z"  # the edition's time (the list fires on 1 January, 07:00 UTC)
LATER_AT = "2026-01-01T07:10Z"  # later than SENT_AT + the lease on the old --at clock

pytestmark = pytest.mark.slow


class Sink:
    """An SMTP sink: records each recipient as its message is answered 250; the
    ``HOLD_AT``-th message is held in DATA until :attr:`release` is set (``held`` is set
    meanwhile). ``drop_held``: the held message is then refused (its sender is gone, so it
    was never delivered)."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.count = 0
        self.held = threading.Event()
        self.release = threading.Event()
        self.drop_held = False
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
            hold = self.count == HOLD_AT
        if hold:
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            if self.drop_held:
                return "451 sender gone"
        with self.lock:
            self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


def _config(folder: Path, db_url: str, port: int, *, lease_seconds: float) -> Path:
    return write_config(
        folder, db_url, "", lease_seconds=lease_seconds, batch_size=BATCH,
        transport={
            "transport": "smtp", "outbox_dir": str(folder / "outbox"),
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 120},
        },
    )  # fmt: skip


def _digest(config: Path, *args: str, prefix: tuple[str, ...] = ()) -> list[str]:
    return [*prefix, sys.executable, "-m", "digest", "-c", str(config), *args]


ENV = {**os.environ, "PYTHONPATH": str(REPO), "DIGEST_PARSE_PROCESSES": "0"}


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=180,
                          check=False)


def _other_clock(config: Path, clock: str) -> list[str]:
    if clock == "real":
        return _digest(config, "run")
    if clock == "at":
        return _digest(config, "run", "--at", LATER_AT)
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("faketime is not installed")
    # this process's clock 200 days ahead: every lease of the send looks long over to it
    return _digest(config, "run", prefix=(faketime, "-f", "+200d"))


def _start_send(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(_digest(config, "send", "world", "--at", SENT_AT), cwd=REPO,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("clock", ["real", "at", "faketime"])
def test_a_run_on_another_clock_never_sends_a_live_sends_batch_again(
    db_url: str, tmp_path: Path, sink: tuple[Sink, int], clock: str
) -> None:
    handler, port = sink
    edition = seed(db_url, N, html_size=200, period="2026-01-01")
    config = _config(tmp_path, db_url, port, lease_seconds=300)
    send = _start_send(config)
    try:
        assert handler.held.wait(90), "the send never reached the held message"
        other = _run(_other_clock(config, clock))
        # the overlapping run sends what nobody holds and leaves the live send's batch alone
        assert "in flight with another worker" in other.stdout, other.stdout + other.stderr
        assert "deliver.interrupted" not in other.stderr, other.stderr
        handler.release.set()
        out, err = send.communicate(timeout=120)
        assert send.returncode == 0, out + err
    finally:
        if send.poll() is None:
            send.kill()
            send.wait()
    got = collections.Counter(handler.delivered)
    assert len(got) == N, got
    assert max(got.values()) == 1, {e: n for e, n in got.items() if n > 1}
    with Store.open(db_url) as store:
        assert store.delivery_counts(edition) == {"sent": N}


def test_kill_9_then_retry_unknown_then_run_sends_everyone_exactly_once(
    db_url: str, tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    handler.drop_held = True  # the dead send's message in DATA is never delivered
    edition = seed(db_url, N, html_size=200, period="2026-01-01")
    lease = 300.0  # only the holder's death can free its rows while the test runs
    config = _config(tmp_path, db_url, port, lease_seconds=lease)
    send = _start_send(config)
    try:
        assert handler.held.wait(90), "the send never reached the held message"
        send.send_signal(signal.SIGKILL)
        send.wait(timeout=30)
    finally:
        if send.poll() is None:
            send.kill()
            send.wait()
    holder = f"{socket.gethostname()}:{send.pid}"
    shown = _run(_digest(config, "deliveries"))
    assert shown.returncode == 0, shown.stderr
    retry = _run(_digest(config, "deliveries", "retry-unknown"))
    assert retry.returncode == 0, retry.stderr
    # the holder is asked, and it is gone; nothing to wait for: on SQLite (one machine) and
    # on PostgreSQL too, since the holder id carries this boot and pid namespace
    assert f"in flight held by {holder} whose process is gone" in shown.stdout, shown.stdout
    assert retry.stdout.startswith("1 deliveries queued again"), retry.stdout
    assert "in flight:" not in retry.stdout, retry.stdout
    again = _run(_digest(config, "run"))
    assert "deliveries: 40 sent" in again.stdout, again.stdout + again.stderr
    got = collections.Counter(handler.delivered)
    assert len(got) == N and max(got.values()) == 1, got
    with Store.open(db_url) as store:
        assert store.delivery_counts(edition) == {"sent": N}
