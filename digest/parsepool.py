"""Parsing feed bodies in worker processes, when this process may use more than one core.

Parsing holds the interpreter lock, so threads cannot parse two feeds at once; processes
can. :func:`open_pool` gives a :class:`ParsePool` only when it can help and is safe: more
than one core in this process's CPU affinity (``taskset -c 0`` gives one), the ``fork`` start
method (the workers start as copies of this process, nothing imported again), no other
thread running (forking a process with threads can copy a lock one of them holds), and at
least two bodies to parse (the caller decides how many make a pool worth starting).
Otherwise the caller parses in-process, one body after another; the entries are the same
either way (:func:`digest.parse.parse_feed` is a pure function of its arguments).

A worker that dies (killed by a signal, out of memory) breaks the pool: the bodies it and
the others held, and every later one, are parsed in this process, as without a pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from digest.exceptions import ParseError

log = logging.getLogger("digest.parsepool")

def usable_cores() -> int:
    """How many cores this process may run on (its CPU affinity, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _parse_in_worker(content: bytes, kwargs: dict[str, Any]) -> tuple[str, Any]:
    """Runs in a worker: ``("ok", ParsedFeed)`` or ``("error", (source, reason))``
    (a :class:`ParseError` does not pickle with its keyword arguments)."""
    from digest.parse import parse_feed

    try:
        return "ok", parse_feed(content, **kwargs)
    except ParseError as exc:
        return "error", (exc.source, exc.reason)


class ParsePool:
    """``workers`` processes that run :func:`digest.parse.parse_feed`. Thread-safe."""

    def __init__(self, workers: int) -> None:
        import digest.parse  # noqa: F401 - imported once here, not once in every worker

        self.workers = workers
        self._executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork")
        )
        # the fork context starts every worker at the first submit: do it now, while this
        # is still the only thread
        self._executor.submit(int).result()

    def submit(self, content: bytes, kwargs: dict[str, Any]) -> Future[tuple[str, Any]] | None:
        """Hand one body to a worker; ``None`` when the pool is broken (parse it here)."""
        if self._executor is None:
            return None
        try:
            return self._executor.submit(_parse_in_worker, content, kwargs)
        except (BrokenProcessPool, RuntimeError):
            self._broken()
            return None

    def result(
        self, future: Future[tuple[str, Any]], content: bytes, kwargs: dict[str, Any]
    ) -> Any:
        """The :class:`~digest.types.ParsedFeed` of the body ``content`` submitted as
        ``future``; parsed in this process when the pool broke before it was parsed (a
        worker died: what a single process would have done with it). Raises
        :class:`ParseError` for a body that is not a feed."""
        try:
            kind, value = future.result()
        except BrokenProcessPool:
            self._broken()
            kind, value = _parse_in_worker(content, kwargs)
        if kind == "error":
            raise ParseError(*value)
        return value

    def _broken(self) -> None:
        if self._executor is not None:
            log.warning("parse_pool_broken: parsing in this process from now on")
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        """Stop the workers (waits for those still parsing)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _other_threads() -> bool:
    return threading.active_count() > 1


def open_pool(jobs: int) -> ParsePool | None:
    """A :class:`ParsePool` for about ``jobs`` bodies, or ``None`` when parsing in-process
    is the better choice (see the module docstring)."""
    cores = usable_cores()
    if (
        jobs < 2
        or cores < 2
        or _other_threads()
        or "fork" not in multiprocessing.get_all_start_methods()
        or os.environ.get("DIGEST_PARSE_PROCESSES") == "0"
    ):
        return None
    return ParsePool(min(cores, jobs))
