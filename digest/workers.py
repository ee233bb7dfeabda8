"""Delivery workers: ``digest worker`` and ``digest deliver --workers N``.

A worker repeats one step, decided by :func:`digest.ledger_state.worker_step` from the ledger
as it is (:meth:`~digest.store.Store.ledger_activity`): deliver every open edition
(:func:`digest.pipeline.resume`: claims with ``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL, each batch under a lease), wait for another worker's live lease (its rows come
back to the queue, or become ``unknown``, if that worker died), or stop when idle
(``--until-idle``) / sleep and look again (a long-running worker).

``digest deliver --workers N`` starts N such workers as separate processes (``digest worker
--until-idle``: real parallelism, no shared GIL) and waits for them. On SQLite, which has one
writer, several workers would only queue behind each other's locks and a run there takes over
every row in flight, so more than one is refused with a clear message (as Oban's SQLite
engine and listmonk's single sender do): move to PostgreSQL first.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.config import Config
from digest.ledger_state import worker_step
from digest.store import Store
from digest.types import ListReport

log = logging.getLogger("digest.workers")


class WorkersRefused(ValueError):
    """``--workers N`` cannot run on this database (SQLite with N > 1)."""


def check_workers(url: str, workers: int) -> None:
    """Refuse ``workers`` > 1 on a database that has one writer (SQLite): raise
    :class:`WorkersRefused` naming the way out. ``workers`` < 1 is refused too."""
    if workers < 1:
        raise WorkersRefused("--workers must be at least 1")
    if workers > 1 and not url.startswith(("postgresql", "postgres")):
        raise WorkersRefused(
            f"--workers {workers} needs PostgreSQL: SQLite has one writer, so extra workers "
            "would only wait for each other; run one worker, or move the store to PostgreSQL "
            "(docs/operations.md, \"Several workers\")"
        )


@dataclass
class WorkSummary:
    """What one worker did: the reports of each edition it delivered, in order, and how
    many steps it waited for another worker's lease."""

    reports: list[ListReport] = field(default_factory=list)
    waits: int = 0

    @property
    def final(self) -> list[ListReport]:
        """The last report of each edition (``(list, period)``), in first-seen order.

        An earlier pass may end while rows a dead worker held come back to the queue (its
        report then says "still queued"); the worker's next pass sends them, so only the
        last word on each edition says whether it failed."""
        last: dict[tuple[str, str | None], ListReport] = {}
        for report in self.reports:
            last.pop((report.list_name, report.period), None)
            last[(report.list_name, report.period)] = report
        return list(last.values())

    @property
    def ok(self) -> bool:
        """False when the last report of any edition failed (the command exits 1)."""
        return all(r.status != "failed" for r in self.final)


def work(
    config: Config,
    store: Store,
    *,
    clock: Callable[[], datetime],
    until_idle: bool = True,
    stop: threading.Event | None = None,
    idle_seconds: float = 5.0,
    deliver: Callable[[datetime, threading.Event], list[ListReport]] | None = None,
) -> WorkSummary:
    """Deliver open editions until idle (``until_idle``) or until ``stop`` is set.

    Each step asks the ledger what is open and :func:`~digest.ledger_state.worker_step`
    what to do: deliver, wait (at most ``idle_seconds`` at a time, for another worker's
    lease to expire or a ``not_before`` to come), or stop. A pass that moved nothing
    (for example a list no longer configured, or a provider outage that paused the run)
    ends an ``until_idle`` worker instead of looping. ``deliver(now, stop)`` is one pass
    over the open editions (default: :func:`digest.pipeline.resume`; the benchmark passes
    its own compose). Raises :class:`~digest.exceptions.StoreError` when the database fails.
    """
    from digest.pipeline import resettle, resume

    stop = stop or threading.Event()
    halt = stop
    if deliver is None:
        def deliver(now: datetime, stop: threading.Event) -> list[ListReport]:
            return resume(config, store, now=now, clock=clock, should_stop=stop.is_set)

    summary = WorkSummary()
    while not stop.is_set():
        now = clock()
        activity = store.ledger_activity(now)
        step = worker_step(activity, now=now, until_idle=until_idle)
        if step.action == "idle":
            if until_idle:
                # nothing due, in flight or held anywhere: the ledger has the last word
                summary.reports.extend(resettle(r, store, now) for r in summary.final)
                break
            stop.wait(idle_seconds)
            continue
        if step.action == "wait":
            summary.waits += 1
            pause = (step.until - now).total_seconds() + 0.05 if step.until else idle_seconds
            log.info("worker.wait until=%s in_flight_elsewhere", step.until)
            stop.wait(max(0.05, min(pause, idle_seconds)))
            continue
        before = store.delivery_states()
        reports = deliver(now, halt)
        summary.reports.extend(reports)
        if store.delivery_states() == before:
            # nothing moved: another worker may have taken the last rows, or nothing can
            # be sent now; do not spin
            if until_idle and store.ledger_activity(clock()).held_until is None:
                break
            stop.wait(idle_seconds)
    return summary


def spawn(
    config_path: str | Path, workers: int, *, extra: tuple[str, ...] = (), report: bool = True
) -> int:
    """Run ``workers`` ``digest worker --until-idle`` processes with the configuration at
    ``config_path`` and wait for all; SIGTERM/SIGINT are passed on (each finishes its batch
    in flight). Without ``report`` the workers print no per-edition summary (``digest
    deliver --workers N`` prints one for all). Returns the worst exit code (0 when all
    delivered)."""
    cmd = [sys.executable, "-m", "digest", "-c", str(config_path), *extra, "worker", "--until-idle"]
    if not report:
        cmd.append("--no-report")
    return _run_all(cmd, workers)


def _run_all(cmd: list[str], workers: int) -> int:
    """Start ``workers`` copies of ``cmd``, pass SIGTERM/SIGINT on, return the worst code."""
    procs = [subprocess.Popen(cmd, env=os.environ.copy()) for _ in range(workers)]
    log.info("workers.started n=%d pids=%s", workers, [p.pid for p in procs])

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        codes = [proc.wait() for proc in procs]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("workers.done codes=%s", codes)
    return max((c if c >= 0 else 1) for c in codes)


def spawn_pollers(config_path: str | Path, workers: int, round_start: datetime, args: list[str]) -> int:
    """Run ``workers`` ``digest poll --round ROUND_START`` processes (one polling round
    shared by host, :func:`digest.pipeline.poll_shared`) and wait for all; returns the
    worst exit code."""
    return _run_all(
        [sys.executable, "-m", "digest", "-c", str(config_path), "poll",
         "--round", round_start.isoformat(), *args],
        workers,
    )


__all__ = ["WorkSummary", "WorkersRefused", "check_workers", "spawn", "spawn_pollers", "work"]
