"""Is the holder of a lease a live process on this machine?

A holder id is ``host:pid:random`` (:func:`digest.lease.holder_id`), where ``random`` starts
with the process's start time where the system tells it (``<start>.<hex>``, Linux's
``/proc/<pid>/stat`` field 22, clock ticks since boot), so a pid the system gave again to an
unrelated process after the holder died is not mistaken for the holder. Another process on
this host can be asked directly (``kill(pid, 0)``), which is what lets SQLite -- one machine, one
file -- take over a killed run's rows at once (``retry-unknown`` right after a crash) and
still leave alone the batch of a run that is alive (cron firing again before the last run
ended). The answer feeds :func:`digest.ledger_state.reclaim`; the decision is made there.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname()


def holder_alive(holder: str | None) -> bool | None:
    """``True`` when ``holder`` names another process of this host that is running,
    ``False`` when it names one of this host that is gone, ``None`` when it cannot be told
    (no holder, another host, an id not of the ``host:pid:random`` shape, or this very
    process: a ledger restarted in-process takes over its rows, as after a crash).

    Never raises. A pid reused by an unrelated process reads as gone when the id carries the
    holder's start time and the process now running under that pid started at another
    time; without a start time in the id (an id of another system, or of an older version)
    a reused pid reads as alive."""
    if not holder:
        return None
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _hostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid() or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    except OSError:
        return None
    started = rest.partition(":")[2].partition(".")
    if started[1] and started[0].isdigit():
        now_start = process_start(pid)
        if now_start is not None and now_start != int(started[0]):
            return False  # the pid was given again to a process that started later
    return True


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field
    22, proc(5)), or ``None`` where the system does not tell (no ``/proc``, gone, unreadable).
    Two processes that held one pid in turn have different values. Never raises."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()  # the name in parentheses may hold spaces
    try:
        return int(fields[19])  # field 22 counted from 1, of which the first two precede ')'
    except (IndexError, ValueError):
        return None


__all__ = ["holder_alive", "process_start"]
