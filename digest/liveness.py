"""Is the holder of a lease a live process on this machine?

A holder id is ``host:pid:random[:kernel]`` (:func:`digest.lease.holder_id`), where ``random``
starts with the process's start time where the system tells it (``<start>.<hex>``, Linux's
``/proc/<pid>/stat`` field 22, clock ticks since boot), so a pid the system gave again to an
unrelated process after the holder died is not mistaken for the holder, and ``kernel``
(:func:`kernel_id`) is the boot id (``/proc/sys/kernel/random/boot_id``, new at each boot)
and the inode of the process's pid namespace (``/proc/self/ns/pid``): a pid means something
only to a process of the same boot and the same pid namespace (not to another container of
the same host, whose hostname may well be the same). Another process on this host can be
asked directly (``kill(pid, 0)``), which is what lets SQLite -- one machine, one file -- take
over a killed run's rows at once (``retry-unknown`` right after a crash) and still leave alone
the batch of a run that is alive (cron firing again before the last run ended). On
PostgreSQL (several machines) the holder is asked only when its id carries this very boot
and pid namespace (``same_kernel``): a killed worker of this host is then recovered at once
instead of after its lease. The answer feeds :func:`digest.ledger_state.reclaim`; the
decision is made there.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname()


@lru_cache(maxsize=1)
def kernel_id() -> str | None:
    """``<boot id>.<pid namespace inode>`` of this process (proc(5):
    ``/proc/sys/kernel/random/boot_id``, ``/proc/self/ns/pid``), or ``None`` where the system
    does not tell. Two processes whose pids can be compared have the same value. Never
    raises."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except (OSError, ValueError):
        return None
    if not boot or ":" in boot:
        return None
    return f"{boot}.{namespace}"


def holder_alive(holder: str | None, *, same_kernel: bool = False) -> bool | None:
    """``True`` when ``holder`` names another process of this host that is running,
    ``False`` when it names one of this host that is gone, ``None`` when it cannot be told
    (no holder, another host, an id not of the ``host:pid:random[:kernel]`` shape, another
    pid namespace of this boot, or this very process: a ledger restarted in-process takes
    over its rows, as after a crash). An id of this host from an earlier boot names a process
    gone with that boot (``False``). With ``same_kernel`` (several machines share the
    database: a host name alone proves nothing), only an id that carries this process's
    :func:`kernel_id` is asked; any other is ``None``.

    Never raises. A pid reused by an unrelated process reads as gone when the id carries the
    holder's start time and the process now running under that pid started at another
    time; without a start time in the id (an id of another system, or of an older version)
    a reused pid reads as alive."""
    if not holder:
        return None
    host, _, rest = holder.partition(":")
    pid_text, _, tail = rest.partition(":")
    kernel = tail.partition(":")[2] or None
    here = kernel_id()
    if host != _hostname() or not pid_text.isdigit():
        return None
    if same_kernel and (kernel is None or kernel != here):
        return None
    if kernel is not None and here is not None and kernel != here:
        # same host name: an earlier boot's process is gone; another namespace's pid is not ours
        return False if kernel.partition(".")[0] != here.partition(".")[0] else None
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
    fields = _stat_fields(pid)
    if fields and fields[0] in (b"Z", b"X"):
        return False  # killed, not yet reaped by its parent: it runs no more
    started = tail.partition(":")[0].partition(".")
    if started[1] and started[0].isdigit():
        now_start = process_start(pid)
        if now_start is not None and now_start != int(started[0]):
            return False  # the pid was given again to a process that started later
    return True


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (proc(5): the first is the
    state, ``Z`` for a zombie), or ``None`` where it cannot be read. Never raises."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat.rpartition(b")")[2].split()  # the name in parentheses may hold spaces


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field
    22, proc(5)), or ``None`` where the system does not tell (no ``/proc``, gone, unreadable).
    Two processes that held one pid in turn have different values. Never raises."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    try:
        return int(fields[19])  # field 22 counted from 1, of which the first two precede ')'
    except (IndexError, ValueError):
        return None


__all__ = ["holder_alive", "kernel_id", "process_start"]
