"""Temporary file names that say who writes them, and whether one was left by a writer that
is gone.

The outbox writes every file to a temporary name in its folder, then renames it (see
:mod:`digest.transports.outbox`). A process killed in between (SIGKILL, OOM, power cut)
leaves its temporary files behind. Their names carry the writer as a lease holder id does
(``host:pid:random``, :func:`digest.lease.holder_id`)::

    .tmp-<host>:<pid>:<random>.part

so the next writer of the folder can ask whether that process still runs
(:func:`digest.liveness.holder_alive`) and remove what a dead one left, never a live
writer's. This module holds the pure part: the names and the decision.
"""

from __future__ import annotations

import re

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".part"

#: A temporary file whose writer cannot be told (a name without one, as written before
#: names carried it; another host's, on a shared folder; this very process's) is left
#: over once it is this old, in seconds: no write of one file or one batch lasts an hour.
UNKNOWN_WRITER_GRACE = 3600.0


_NOT_HOST = re.compile(r"[^A-Za-z0-9.-]")


def temp_prefix(host: str, pid: int) -> str:
    """The ``prefix`` to give ``tempfile.mkstemp`` (with ``suffix=TEMP_SUFFIX``) for a
    writer ``pid`` on ``host``: ``.tmp-<host>:<pid>:``. A character a host name does not
    have (RFC 1123: letters, digits, ``.``, ``-``) becomes ``_``, so the name stays one
    file name; such a host no longer matches, and its files count as "cannot be told"."""
    return f"{TEMP_PREFIX}{_NOT_HOST.sub('_', host) or '_'}:{pid}:"


def is_temp_name(name: str) -> bool:
    """Whether the file name ``name`` is one of our temporary files (``.tmp-*.part``)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX) and len(name) > len(
        TEMP_PREFIX
    ) + len(TEMP_SUFFIX)


def writer_of(name: str) -> str | None:
    """The writer a temporary file name carries, as a holder id ``host:pid:random``; None
    when ``name`` is not a temporary name or carries no writer (the older
    ``.tmp-<random>.part``)."""
    if not is_temp_name(name):
        return None
    middle = name[len(TEMP_PREFIX) : -len(TEMP_SUFFIX)]
    host, _, rest = middle.partition(":")
    pid, _, random = rest.partition(":")
    if not host or not pid.isdigit() or not random:
        return None
    return middle


def is_left_over(name: str, *, writer_alive: bool | None, age_seconds: float) -> bool:
    """Whether the temporary file ``name`` was left by a writer that is gone, so it may be
    removed.

    ``writer_alive`` is :func:`digest.liveness.holder_alive` of :func:`writer_of` (``True``
    running, ``False`` gone, ``None`` cannot be told); ``age_seconds`` is the time since the
    file was last modified. A gone writer's file is left over at once; a running writer's
    never; one whose writer cannot be told once it is older than
    :data:`UNKNOWN_WRITER_GRACE`. A name that is not a temporary one is never left over."""
    if not is_temp_name(name):
        return False
    if writer_alive is False:
        return True
    if writer_alive is True:
        return False
    return age_seconds > UNKNOWN_WRITER_GRACE


__all__ = [
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "UNKNOWN_WRITER_GRACE",
    "is_left_over",
    "is_temp_name",
    "temp_prefix",
    "writer_of",
]
