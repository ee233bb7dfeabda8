"""Is the holder of a lease a live process on this machine?

A holder id is ``host:pid:random`` (:func:`digest.lease.holder_id`). Another process on this
host can be asked directly (``kill(pid, 0)``), which is what lets SQLite -- one machine, one
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

    Never raises. A pid reused by an unrelated process reads as alive; the row's lease
    expiry still frees it then (:func:`digest.ledger_state.reclaim`)."""
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
        return True
    except OSError:
        return None
    return True


__all__ = ["holder_alive"]
