"""The orchestrator: poll sources, build an edition, deliver it, and report what happened.

Each step returns values for the run report instead of raising for per-item failures: one
broken feed, one bad subscriber row or one provider error is a line in the report, and the
rest of the run goes on. The whole edition is built (and stored) before anything is sent.

The only clock reads are here and in the CLI: ``now`` is passed down to the pure stages.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Collection, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from digest import edition as editions
from digest import polling
from digest import schedule as schedules
from digest.adjust import Rules, adjusted, may_send
from digest.attime import AtValue, at_for_list
from digest.config import Config, ListConfig, SourceConfig
from digest.dbfile import DatabaseFullError
from digest.exceptions import DigestError, EditionExists, NotModified, RenderError, SourceError
from digest.ledger_state import LedgerRun, edition_complete
from digest.store import SourceState, StateCounts, Store
from digest.types import (
    Edition,
    FetchResult,
    ListReport,
    RenderedEdition,
    RunReport,
    SourceReport,
    Story,
    Subscriber,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

    from digest.parsepool import ParsePool

    from digest.transports import Transport

# Import hygiene (issue 14): a ``digest run`` with nothing to do needs only the modules
# above. Fetching, parsing, clustering, ranking, rendering (Jinja2, MJML, premailer) and
# sending are imported where they are first used, so a cron run that finds every source not
# due and every edition sent never loads them (``tests/test_run_polling.py`` checks it).

log = logging.getLogger("digest.pipeline")

MAX_PARALLEL_FETCHES = 8


BATCH_GC_THRESHOLD = 10_000
"""Allocations between two youngest-generation garbage collections in a batch command
(CPython's default is 700); see :func:`batch_gc`."""


def batch_gc() -> None:
    """Collect cyclic garbage less often, for one batch command (``digest run``, ``send``,
    ``build``): the youngest generation's threshold is raised to :data:`BATCH_GC_THRESHOLD`
    (never lowered; the older generations' are kept), with ``gc.set_threshold``.

    A run builds tens of thousands of long-lived objects (entries, their signals, the
    ORM's rows) that every older-generation collection walks again, while little of what a
    run frees is cyclic. Measured on the demo run (in one process): 419, 38 and 3
    collections of the three generations took 0.32 s of 4.4 s CPU; with this, 26, 2 and 0
    took 0.15 s (issue 14). Collection stays on: cyclic garbage is freed later, never kept.
    """
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, BATCH_GC_THRESHOLD), middle, old)


def render_edition(edition: Edition, **kwargs: Any) -> RenderedEdition:
    """:func:`digest.render.render_edition`, imported on first use (tests replace this name)."""
    from digest.render import render_edition as render

    return render(edition, **kwargs)


#: The archive copies of an edition in its outbox folder (:func:`write_edition_files`).
EDITION_FILES = ("edition.html", "edition.txt")


def write_edition_files(folder: Path, rendered: RenderedEdition) -> None:
    """:func:`digest.transports.outbox.write_edition_files`, imported on first use."""
    from digest.transports.outbox import write_edition_files as write

    write(folder, rendered)


def utcnow() -> datetime:
    """The current time, aware, in UTC (the one clock read of a run)."""
    return datetime.now(UTC)


# -- polling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParseJob:
    """One body to parse: the arguments of :func:`digest.parse.parse_feed` (keyword
    ``kwargs``: ``source``, ``now``, ``url``, ``headers``, ``language``)."""

    content: bytes
    kwargs: dict[str, Any]


def poll_source(
    config: Config,
    store: Store,
    source: SourceConfig,
    *,
    now: datetime,
    live: bool = False,
    due_only: bool = False,
    fresh_within: timedelta | None = None,
) -> SourceReport:
    """Fetch, parse and store one source; never raises for a feed's own failure.

    ``live`` ignores the source's local ``path`` and fetches its ``url``. What is fetched and
    what the source's state becomes is decided by :mod:`digest.polling` (back-off,
    ``Retry-After``, 304 streaks, permanent redirects, 410) and written by one store call.
    A failure leaves the source's stored entries as they were; a disabled source, one whose
    back-off has not expired, or with ``due_only`` one whose ``next_poll_at`` has not come
    (:func:`digest.polling.not_due_reason`, ``fresh_within`` as there) is reported as
    ``skipped``. A body identical to the last one parsed (:func:`body_hash`) is not parsed
    again (``ok`` with ``unchanged``).
    """
    steps = poll_steps(
        config, store, source, now=now, live=live, due_only=due_only, fresh_within=fresh_within
    )
    return _drive(steps, _parse_here)


def _parse_here(job: ParseJob) -> Any:
    from digest.parse import parse_feed

    return parse_feed(job.content, **job.kwargs)


def _drive(
    steps: Generator[ParseJob, Any, SourceReport],
    parse: Callable[[ParseJob], Any],
    job: ParseJob | None = None,
) -> SourceReport:
    """Run :func:`poll_steps` to its report, parsing each body it asks for with ``parse``
    (whose exception is raised inside the steps, where a failed parse is handled); ``job``:
    the one the steps already asked for."""
    try:
        job = next(steps) if job is None else job
        while True:
            try:
                feed = parse(job)
            except Exception as exc:  # noqa: BLE001 - handed to the steps, which decide
                job = steps.throw(exc)
            else:
                job = steps.send(feed)
    except StopIteration as done:
        report: SourceReport = done.value
        return report


def poll_steps(
    config: Config,
    store: Store,
    source: SourceConfig,
    *,
    now: datetime,
    live: bool = False,
    due_only: bool = False,
    fresh_within: timedelta | None = None,
    state: SourceState | None = None,
) -> Generator[ParseJob, Any, SourceReport]:
    """:func:`poll_source` as steps: yields at most one :class:`ParseJob` and is sent the
    :class:`~digest.types.ParsedFeed` (or thrown the :class:`~digest.exceptions.ParseError`)
    back; returns the report. The parse may so run elsewhere (a process pool, see
    :func:`poll`) while this process stores another source's entries. ``state``: the
    source's stored state when the caller has just read it (else it is read here)."""
    state = state if state is not None else store.source_state(source.name)
    report = SourceReport(source=source.name, status="ok")
    is_local = source.path is not None and not live
    skip = polling.skip_reason(state, now, local=is_local)
    if skip is None and due_only:
        skip = polling.not_due_reason(state, now, fresh_within=fresh_within)
    if skip is not None:
        report.status, report.error = "skipped", skip
        report.next_poll_at = state.next_poll_at
        return report
    from digest.fetch import RetryLater, fetch

    location = source.location if is_local else (state.url or str(source.url))
    policy = polling.Policy(
        interval=timedelta(minutes=source.poll_interval_minutes or config.fetch.poll_interval_minutes),
        max_backoff=timedelta(minutes=config.scheduler.max_backoff_minutes),
    )
    conditional = polling.conditional(state, local=is_local)
    outcome: polling.FetchOutcome  # what was fetched, unless its entries were stored
    stored: polling.SourceUpdate | None = None  # the state written with the entries
    try:
        result = fetch(
            location,
            source=source.name,
            settings=config.fetch,
            now=now,
            etag=state.etag if conditional else None,
            last_modified=state.last_modified if conditional else None,
            allow_files=is_local,
        )
        report.http_status = result.status
        fingerprint = body_hash(result, source)

        def fetched(new: int) -> polling.FetchOutcome:
            return polling.Fetched(
                status=result.status,
                etag=result.etag,
                last_modified=result.last_modified,
                permanent_redirect=result.permanent_redirect,
                new_entries=new,
                local=is_local,
                body_hash=fingerprint,
            )

        if polling.unchanged(state, fingerprint):
            report.unchanged = True
            log.info("source_unchanged source=%s: same body as last time, not parsed", source.name)
            outcome = fetched(0)
        else:
            feed = yield ParseJob(
                result.content,
                {
                    "source": source.name,
                    "now": now,
                    "url": result.url,
                    "headers": result.headers,
                    "language": source.language,
                },
            )
            # the entries and the source's new state in one transaction
            new, seen, stored = store.store_poll(
                source.name, feed.entries, now=now,
                decide=lambda new: polling.decide(state, fetched(new), now, policy),
            )
            report.new_entries, report.seen_entries = new, seen
            report.warnings = list(feed.warnings)
            log.info("source_parsed source=%s entries=%d new=%d", source.name, len(feed.entries), new)
    except NotModified:
        report.status, report.http_status = "not-modified", 304
        outcome = polling.NotModified()
    except SourceError as exc:
        report.status = "failed"
        report.http_status = exc.status if exc.status is not None else report.http_status
        report.error = exc.reason
        outcome = polling.Failed(
            reason=exc.reason,
            status=report.http_status,
            retry_after=exc.retry_after if isinstance(exc, RetryLater) else None,
        )
        log.warning(
            "source_failed source=%s status=%s error=%r", source.name, report.http_status, exc.reason
        )
    if stored is None:
        stored = polling.decide(state, outcome, now, policy)
        store.apply_source_update(source.name, stored)
    update = stored
    if update.url != state.url and update.url is not None:
        log.info("source_moved source=%s url=%s", source.name, update.url)
    if update.disabled_reason and not state.disabled_reason:
        report.error = f"{report.error}; source disabled until an editor re-enables it"
    report.next_poll_at = update.next_poll_at
    report.retry_after = update.failure.retry_after if update.failure else None
    return report


_PARSER_MODULES = ("parse.py", "sanitize.py", "encoding.py", "urls.py", "textdir.py", "types.py")


@functools.lru_cache(maxsize=1)
def _parser_fingerprint() -> bytes:
    """The sha256 of the code that turns bytes into entries: a new digest re-parses once."""
    digest = hashlib.sha256()
    for name in _PARSER_MODULES:
        with contextlib.suppress(OSError):
            digest.update((Path(__file__).parent / name).read_bytes())
    return digest.digest()


def body_hash(result: FetchResult, source: SourceConfig) -> str:
    """The fingerprint of a fetched body and of everything its parse depends on (hex sha256):
    the bytes, the final URL, the ``Content-Type`` header (its charset), the source's name and
    language, and the parser's own code. Equal fingerprints give equal entries, so the body
    is not parsed again (:func:`digest.polling.unchanged`)."""
    digest = hashlib.sha256(_parser_fingerprint())
    for part in (result.url, result.headers.get("content-type", ""), source.name, source.language or ""):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(result.content)
    return digest.hexdigest()


def _host_of(source: SourceConfig, live: bool) -> str | None:
    """The host a source is fetched from, or ``None`` for a local file."""
    if source.path is not None and not live:
        return None
    return urlsplit(str(source.url)).hostname


def poll(
    config: Config,
    store: Store,
    *,
    now: datetime,
    sources: Iterable[SourceConfig] | None = None,
    live: bool = False,
    progress: Callable[[SourceReport], None] | None = None,
    due_only: bool = False,
    fresh: Collection[str] = (),
    states: Mapping[str, SourceState] | None = None,
    while_parsing: Callable[[], object] | None = None,
) -> list[SourceReport]:
    """Poll ``sources`` (default: every enabled source); one report each, in config order.
    ``progress`` is called as each source finishes. The sources' stored states are read in
    one query at the start (``states``: just read by the caller; a source absent from it was
    never polled).

    Remote sources are fetched concurrently in threads (network I/O), at most
    ``fetch.max_per_host`` at once against any one host (no more threads than those limits
    let fetch); local files are read one after another in this thread meanwhile (parsing
    holds the interpreter lock, so threads would only contend for it). With
    :data:`MIN_POOL_JOBS` or more files to read and cores to spare, their bodies (and the
    remote ones) are parsed in :mod:`digest.parsepool` worker processes while this thread
    stores the entries of the one before; the entries are the same. ``due_only`` (``digest run``) skips healthy sources
    whose ``next_poll_at`` has not come, except those named in ``fresh`` that were fetched
    more than :data:`digest.polling.FRESH_ENOUGH` ago (a list is about to be built from them).
    ``while_parsing`` is called once the worker processes are running (never without them),
    for work this process can do while it waits for them (:mod:`digest.warmup`).
    """
    chosen = [s for s in (sources if sources is not None else config.sources) if s.enabled]
    per_host: dict[str, threading.BoundedSemaphore] = {}
    for source in chosen:
        host = _host_of(source, live)
        if host and host not in per_host:
            per_host[host] = threading.BoundedSemaphore(config.fetch.max_per_host)

    known = states if states is not None else store.source_states(s.name for s in chosen)

    def steps(source: SourceConfig) -> Generator[ParseJob, Any, SourceReport]:
        within = polling.FRESH_ENOUGH if source.name in fresh else None
        return poll_steps(
            config, store, source, now=now, live=live, due_only=due_only, fresh_within=within,
            state=known.get(source.name) or SourceState(name=source.name),
        )

    def guarded(source: SourceConfig, run: Callable[[], SourceReport]) -> SourceReport:
        try:
            report = run()
        except DatabaseFullError:
            raise  # every later write would fail too: stop the command, say what to do
        except DigestError as exc:  # the store failed for this source: report, go on
            report = SourceReport(source=source.name, status="failed", error=str(exc))
        if progress is not None:
            progress(report)
        return report

    remote = [s for s in chosen if _host_of(s, live) is not None]
    local = [s for s in chosen if _host_of(s, live) is None]
    pool = _parse_pool(known, local, now=now, due_only=due_only, fresh=fresh)
    parse = _parse_here if pool is None else functools.partial(_parse_in_pool, pool)
    if pool is not None and while_parsing is not None:
        while_parsing()

    def one(source: SourceConfig) -> SourceReport:
        gate = per_host.get(_host_of(source, live) or "") or contextlib.nullcontext()
        with gate:
            return guarded(source, lambda: _drive(steps(source), parse))

    done: dict[str, SourceReport] = {}
    with pool or contextlib.nullcontext():
        if not remote:
            done.update(_poll_local(local, steps, guarded, pool))
        else:
            hosts = Counter(_host_of(s, live) for s in remote)
            useful = sum(min(n, config.fetch.max_per_host) for n in hosts.values())
            # a thread beyond what the per-host limits let fetch at once would only wait
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_FETCHES, useful)) as threads:
                futures = {s.name: threads.submit(one, s) for s in remote}
                done.update(_poll_local(local, steps, guarded, pool))
                done.update((name, future.result()) for name, future in futures.items())
    return [done[s.name] for s in chosen]


MIN_POOL_JOBS = 4
"""Fewer local files to read than this are parsed in this process (no worker processes)."""


def _parse_pool(
    states: Mapping[str, SourceState], local: Sequence[SourceConfig], *, now: datetime,
    due_only: bool, fresh: Collection[str],
) -> ParsePool | None:
    """Worker processes to parse the local files this poll reads, when there are enough of
    them and cores to spare (:func:`digest.parsepool.open_pool`), else ``None``."""
    if len(local) < MIN_POOL_JOBS:
        return None
    wanted = _to_fetch(states, local, now=now, due_only=due_only, fresh=fresh)
    if len(wanted) < MIN_POOL_JOBS:
        return None  # a cron no-op reads no file: multiprocessing is not even imported
    from digest.parsepool import open_pool

    return open_pool(len(wanted))


def _to_fetch(
    states: Mapping[str, SourceState], sources: Sequence[SourceConfig], *, now: datetime,
    due_only: bool, fresh: Collection[str],
) -> list[SourceConfig]:
    """The local ``sources`` :func:`poll_steps` will read (not skipped), to size the pool."""
    wanted = []
    for source in sources:
        state = states.get(source.name)
        if state is None:
            wanted.append(source)
            continue
        skip = polling.skip_reason(state, now, local=True)
        if skip is None and due_only:
            within = polling.FRESH_ENOUGH if source.name in fresh else None
            skip = polling.not_due_reason(state, now, fresh_within=within)
        if skip is None:
            wanted.append(source)
    return wanted


def _parse_in_pool(pool: ParsePool, job: ParseJob) -> Any:
    future = pool.submit(job.content, job.kwargs)
    return _parse_here(job) if future is None else pool.result(future, job.content, job.kwargs)


def _poll_local(
    local: Sequence[SourceConfig],
    steps: Callable[[SourceConfig], Generator[ParseJob, Any, SourceReport]],
    guarded: Callable[[SourceConfig, Callable[[], SourceReport]], SourceReport],
    pool: ParsePool | None,
) -> Iterable[tuple[str, SourceReport]]:
    """Poll local files in this thread, one after another (reading a file is no network
    wait). With a ``pool``, every file is read first, the bodies are handed to the workers
    largest first (:func:`digest.parseorder.parse_order`: the largest is not left to one
    worker at the end; those chardet may be asked about after the largest, so that one
    worker loads its models) and their entries stored in config order as they come back, as
    without a pool. That is done :data:`POOL_WINDOW` files at a time, the next window read
    and handed out before the entries of this one are stored: at most two windows of bodies
    and parsed entries are held in memory, each let go of once stored."""
    if pool is None:
        for source in local:
            yield source.name, guarded(source, functools.partial(_drive, steps(source), _parse_here))
        return
    from digest.encoding import may_detect
    from digest.parseorder import parse_order

    def submit(window: Sequence[SourceConfig]) -> list[tuple[SourceConfig, Any]]:
        """Read the files of ``window``, hand their bodies to the workers largest first."""
        started: list[tuple[SourceConfig, Any]] = [
            (source, _until_parse(steps(source))) for source in window
        ]
        waiting = [(i, step) for i, (_, step) in enumerate(started) if isinstance(step, tuple)]
        bodies = [job.content for _, (_, job) in waiting]
        order = parse_order(
            [len(body) for body in bodies], [may_detect(body) for body in bodies],
            workers=pool.workers,
        )
        for k in order:
            i, (generator, job) = waiting[k]
            started[i] = (started[i][0], _submitted(generator, job, pool))
        return started

    # POOL_WINDOW files at a time, the next window read and handed out before this one's
    # entries are stored: at 50x the sources every body (250 MB) was read first and every
    # parse came back before the first source in config order could be stored
    windows = [local[i : i + POOL_WINDOW] for i in range(0, len(local), POOL_WINDOW)]
    pending = submit(windows[0]) if windows else []
    for k in range(len(windows)):
        following = submit(windows[k + 1]) if k + 1 < len(windows) else []
        queue = deque(pending)
        del pending  # each body, and the entries parsed from it, let go of once stored
        while queue:
            source, step = queue.popleft()
            if isinstance(step, SourceReport):  # skipped, unchanged or failed before a parse
                step = functools.partial(_same, step)
            # else: what waits for its worker and stores, or raises the store's failure
            yield source.name, guarded(source, step)
        pending = following


POOL_WINDOW = 64
"""Local files read and handed to the parse pool at a time (largest first within them)."""


_Started = tuple[Generator[ParseJob, Any, SourceReport], ParseJob]


def _until_parse(
    steps: Generator[ParseJob, Any, SourceReport],
) -> _Started | SourceReport | Callable[[], SourceReport]:
    """Run ``steps`` up to its parse: the steps and the body they ask to be parsed, or the
    report when no parse was needed. A store failure of the steps is raised when the
    returned callable is called, as :func:`_drive` would."""
    try:
        job = next(steps)
    except StopIteration as stop:
        report: SourceReport = stop.value
        return report
    except DigestError as exc:
        return functools.partial(_raise, exc)
    return steps, job


def _submitted(
    steps: Generator[ParseJob, Any, SourceReport], job: ParseJob, pool: ParsePool
) -> Callable[[], SourceReport]:
    """Hand ``job`` to ``pool``: what finishes ``steps`` (waits for the parse, stores)."""
    future = pool.submit(job.content, job.kwargs)
    parse: Callable[[ParseJob], Any] = (
        _parse_here if future is None else functools.partial(_pool_result, pool, future)
    )
    return functools.partial(_drive, steps, parse, job)


def _pool_result(pool: ParsePool, future: Any, job: ParseJob) -> Any:
    return pool.result(future, job.content, job.kwargs)


def _same(report: SourceReport) -> SourceReport:
    return report


def _raise(exc: Exception) -> SourceReport:
    raise exc


def poll_shared(
    config: Config,
    store: Store,
    *,
    now: datetime,
    round_start: datetime,
    holder: str,
    clock: Callable[[], datetime] = utcnow,
    lease: timedelta = timedelta(minutes=5),
    sources: Iterable[SourceConfig] | None = None,
    live: bool = False,
    progress: Callable[[SourceReport], None] | None = None,
) -> list[SourceReport]:
    """Poll ``sources`` as one of several workers of a round that started at
    ``round_start``. A few slots (``MAX_PARALLEL_FETCHES // fetch.max_per_host``) each claim
    one host at a time (:meth:`Store.claim_poll_hosts`, ``SKIP LOCKED`` on PostgreSQL; a
    local file is a unit of its own), poll the sources of it that no worker of this round
    fetched yet (:func:`digest.polling.polled_in_round`) with :func:`poll`, give it back and
    claim the next, until every host was claimed here or is held by another worker. One
    worker at a time fetches from a host, so ``fetch.max_per_host`` holds across workers.
    Returns the reports of the sources this worker polled."""
    chosen = [s for s in (sources if sources is not None else config.sources) if s.enabled]
    groups: dict[str, list[SourceConfig]] = {}
    for source in chosen:
        groups.setdefault(polling.host_key(source.name, _host_of(source, live)), []).append(source)
    pending = set(groups)
    lock = threading.Lock()
    reports: list[SourceReport] = []

    def slot() -> None:
        while True:
            with lock:
                candidates = sorted(pending)
            if not candidates:
                return
            at = clock()
            keys = store.claim_poll_hosts(
                candidates, holder=holder, now=at, until=at + lease, limit=1
            )
            if not keys:
                return  # the rest are being polled by other workers
            with lock:
                pending.difference_update(keys)
            try:
                claimed = [s for k in keys for s in groups[k]]
                states = store.source_states(s.name for s in claimed)
                batch = [
                    s for s in claimed if not polling.polled_in_round(states.get(s.name), round_start)
                ]
                done = poll(
                    config, store, now=now, sources=batch, live=live, progress=progress,
                    states=states,
                )
                with lock:
                    reports.extend(done)
            finally:
                store.release_poll_hosts(keys, holder=holder)

    slots = max(1, MAX_PARALLEL_FETCHES // config.fetch.max_per_host)
    threads = [threading.Thread(target=slot, name=f"digest-poll-{k}") for k in range(slots)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reports


# -- building ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """An assembled edition and its renderings, one per distinct subscriber topic choice.

    ``edition`` is what is sent (the editor's adjustments applied); ``base`` the edition as
    assembled, before them (the editor lists what they changed against it). ``variants``
    maps a sorted tuple of topic names (``()`` = the whole edition) to its rendering;
    ``left_out_for_size`` are the stories of ``edition`` the whole edition's email left out
    for size, from that rendering; ``scheduled`` is the edition time the period was derived from;
    ``unbudgeted`` the whole edition with every story (the archive's copy) when the email left
    some out and that rendering was made while choosing them, else ``None``.
    """

    edition: Edition
    scheduled: datetime
    variants: dict[tuple[str, ...], RenderedEdition]
    base: Edition
    left_out_for_size: tuple[Story, ...] = ()
    unbudgeted: RenderedEdition | None = None

    @property
    def main(self) -> RenderedEdition:
        """The whole edition's rendering (what the archive and ``edition.html`` show)."""
        return self.variants[()]


def build(
    config: Config,
    store: Store,
    list_config: ListConfig,
    *,
    at: datetime,
    now: datetime,
    choices: Iterable[Sequence[str]] = (),
    readers: Iterable[tuple[Sequence[str], str]] = (),
) -> Build | None:
    """Assemble and render the edition of ``list_config`` due at ``at`` from stored entries.

    Returns ``None`` when the list's schedule has no send time at or before ``at``.
    ``choices`` are subscribers' topic choices to render variants for; ``readers`` their
    (topic choice, IANA timezone) pairs, rendered in that timezone when the list has
    ``send_at`` (see :func:`finish_build`). The editor's stored
    adjustments for this edition (split, move, merge, pin, boost, drop, summary) are applied
    to the assembled ``base``; a reshaped story is scored and sectioned by the list's own rules.
    The editor's preview shows this same build. Nothing is stored.
    Raises :class:`~digest.exceptions.RenderError` when the list's ``subject`` is not a valid
    template or fails on a sample edition (:func:`digest.render.subject_problem`) or
    rendering fails.
    """
    from digest.render import subject_problem
    from digest.topics import load_model

    problem = subject_problem(list_config)
    if problem is not None:
        raise RenderError(list_config.name, f"subject: {problem}")
    scheduled = editions.edition_time(list_config, at)
    if scheduled is None:
        return None
    period = editions.period_of(list_config, scheduled)
    end = scheduled.astimezone(UTC)
    previous = store.previous_edition(list_config.name, end - timedelta(seconds=1))
    window = editions.edition_window(
        end, previous.window_end if previous else None, list_config.max_age_hours
    )
    source_names = [s.name for s in config.list_sources(list_config)]
    lookback = end - timedelta(hours=list_config.max_age_hours * 2)
    candidates = store.entries_between(source_names, lookback, end)
    # Entries of earlier editions only: re-building a period that was already sent shows the
    # edition that went out, not one without its own stories.
    sent = {
        key: when
        for key, when in store.sent_entries(list_config.name, lookback - timedelta(days=1)).items()
        if when != period
    }
    in_window = [
        e for e in candidates if e.time >= window[0] or (e.source, e.entry_id) in sent
    ]
    model = load_model(list_config.topic_model) if list_config.topic_model else None
    edition = editions.assemble(
        config=config,
        list_config=list_config,
        period=period,
        window=window,
        entries=in_window,
        sent=sent,
        model=model,
    )
    base = edition
    edition = adjusted(edition, store, _list_rules(config, list_config, edition, model))
    return finish_build(
        config, list_config, base=base, edition=edition, scheduled=scheduled, choices=choices,
        readers=readers, now=now,
    )


def finish_build(
    config: Config,
    list_config: ListConfig,
    *,
    base: Edition,
    edition: Edition,
    scheduled: datetime,
    choices: Iterable[Sequence[str]] = (),
    readers: Iterable[tuple[Sequence[str], str]] = (),
    now: datetime,
) -> Build:
    """Render ``edition`` once per distinct topic choice (``()``, the whole edition, first)
    into a :class:`Build`, with the stories the whole edition's email left out for size.

    For a list with ``send_at``, each distinct (topic choice, timezone) of ``readers`` is
    rendered once more in that timezone, dated by the reader's own delivery day
    (:func:`digest.schedule.local_send_time`), keyed by :func:`variant_key`. Raises
    :class:`~digest.exceptions.RenderError` when rendering fails."""
    from digest.render import SizeModel

    variants: dict[tuple[str, ...], RenderedEdition] = {}
    sizes = SizeModel()  # one premailer run per rendering: the budget is chosen before it
    for choice in [(), *choices]:
        key = variant_key(choice)
        if key in variants:
            continue
        narrowed = editions.for_topics(edition, key)
        if key and narrowed is edition:
            variants[key] = variants[()]
            continue
        variants[key] = render_edition(
            narrowed, config=config, list_config=list_config, now=now, sizes=sizes
        )
    local = local_send_times(list_config, scheduled)
    for choice, timezone in readers:
        if local is None:
            break
        key = variant_key(choice, timezone)
        if key in variants:
            continue
        topics = variant_key(choice)
        variants[key] = render_edition(
            editions.for_topics(edition, topics), config=config, list_config=list_config,
            now=now, timezone=timezone, delivered_at=local(timezone), sizes=sizes,
        )
    omitted = set(variants[()].left_out)
    return Build(
        edition=edition,
        scheduled=scheduled,
        variants=variants,
        base=base,
        left_out_for_size=tuple(s for s in edition.stories if s.key in omitted),
        unbudgeted=sizes.unbudgeted.get(id(edition)) if omitted else None,
    )


def _list_rules(
    config: Config, list_config: ListConfig, edition: Edition, model: object | None
) -> Rules:
    """The list's own scoring and sectioning, for stories an editor reshaped."""
    from digest.rank import story_score
    from digest.topics import section_of

    sources = config.list_sources(list_config)
    weights = {s.name: s.weight for s in sources}
    source_topics = {s.name: s.topic for s in sources if s.topic}
    topic_configs = [config.topic(name) for name in list_config.topics]
    sections = [(t.name, t.title) for t in topic_configs]
    if list_config.fallback is not None:
        sections.append((list_config.fallback.name, list_config.fallback.title))
    return Rules(
        score=lambda story: story_score(
            story, weights=weights, now=edition.window_end, half_life_hours=list_config.half_life_hours
        ),
        section=lambda story: section_of(
            story, topics=topic_configs, list_config=list_config, source_topics=source_topics, model=model
        ),
        sections=tuple(sections),
    )


# -- delivering -------------------------------------------------------------------------


def _sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "digest.invalid"


def make_transport(config: Config, list_config: ListConfig, folder: Path, *, secret: str) -> Transport:
    """The transport ``list_config`` sends through; the outbox writes into ``folder``;
    ``secret`` signs SendGrid's delivery references.

    Raises :class:`~digest.exceptions.DeliveryError` when the transport is not configured
    (for example a missing API key).
    """
    kind = config.transport_for(list_config)
    if kind == "outbox":
        from digest.transports.outbox import OutboxTransport

        return OutboxTransport(folder)
    if kind == "smtp":
        from digest.transports.smtp import SmtpTransport

        return SmtpTransport(config.delivery.smtp)
    from digest.transports.sendgrid import SendgridTransport

    return SendgridTransport(config.delivery.sendgrid, secret=secret)


def deliver_edition(
    config: Config,
    store: Store,
    list_config: ListConfig,
    edition_id: int,
    period: str,
    *,
    now: datetime,
    clock: Callable[[], datetime] = utcnow,
    should_stop: Callable[[], bool] | None = None,
    archive_copies: bool = True,
) -> LedgerRun:
    """Send the due queued deliveries of a stored edition; return what the ledger did
    (:class:`~digest.ledger_state.LedgerRun`: counts per state, provider calls, accepted).

    With ``archive_copies`` (a resumed edition), ``edition.html``/``edition.txt`` are first
    written into the edition's outbox folder when either is missing (a full disk when it
    was built), from the stored whole-edition rendering: the bytes :func:`publish` writes;
    a write that fails again is logged and delivery goes on.

    Messages are composed from the renderings stored with the edition (never rebuilt, so a
    restart sends exactly what was built): the subscriber's topic choice, else the whole
    edition. For SendGrid each rendering's shared parts are made once and each recipient
    gets only its own values (:func:`~digest.message.templated_message`), sent as
    substitutions so one request carries up to 1000 recipients; the other transports get
    whole personalised messages (:func:`~digest.message.build_message`).
    Raises :class:`~digest.exceptions.DeliveryError` when the transport cannot be set up.
    """
    from digest.deliver import Ledger
    from digest.message import (
        EncodedBody,
        build_message,
        public_copy,
        shared_parts,
        templated_message,
    )
    from digest.templated import SharedParts, Templated
    from digest.render import archive_url
    from digest.tokens import make_token, preferences_url, unsubscribe_url
    from digest.unsubscribe import mailto_url

    web_url = archive_url(config.site.base, list_config.name, period)
    variants = {k: replace(v, web_url=web_url) for k, v in store.variants(edition_id).items()}
    whole = variants[()]
    folder = config.delivery.outbox_dir / list_config.name / period
    if archive_copies and not all((folder / name).is_file() for name in EDITION_FILES):
        try:
            write_edition_files(folder, public_copy(whole, site=config.site))
            log.info("edition_files_written list=%s folder=%s", list_config.name, folder)
        except OSError as exc:
            log.warning(
                "edition_files_failed list=%s folder=%s error=%r", list_config.name, folder, str(exc)
            )
    secret = store.secret()
    domain = _sender_domain(list_config.sender)
    site = config.site
    server_side = config.transport_for(list_config) == "sendgrid"
    mailbox = config.unsubscribe_mailto(list_config)  # None: no mailto is advertised

    bodies: dict[int, EncodedBody] = {}  # each variant's body, encoded once (issue 14)
    shared: dict[int, SharedParts] = {}  # and, for SendGrid, its shared parts (issue 13)

    picks: dict[tuple[tuple[str, ...], str], RenderedEdition] = {}

    def compose(subscriber: Subscriber, delivery_id: int) -> EmailMessage | Templated:
        zone = reader_timezone(subscriber)
        choice = (tuple(subscriber.topics), zone)
        rendered = picks.get(choice)
        if rendered is None:
            rendered = picks[choice] = variants.get(
                variant_key(subscriber.topics, zone)  # the reader's own timezone (send_at)
            ) or variants.get(variant_key(subscriber.topics), whole)  # else the topic choice
        body = bodies.get(id(rendered))
        if body is None:
            body = bodies[id(rendered)] = EncodedBody.of(rendered)
        token = make_token(secret, subscriber.id or 0)
        unsubscribe = unsubscribe_url(site.base, token)
        mailto = mailto_url(mailbox, token)
        preferences = preferences_url(site.base, token)
        message_id = f"<{period}.{list_config.name}.{delivery_id}@{domain}>"
        if not server_side:
            return build_message(
                rendered, subscriber, list_config=list_config, site=site,
                unsubscribe_url=unsubscribe, unsubscribe_mailto=mailto,
                preferences_url=preferences, now=now, message_id=message_id, body=body,
            )
        parts = shared.get(id(rendered))
        if parts is None:
            parts = shared[id(rendered)] = shared_parts(
                rendered, list_config=list_config, site=site, body=body
            )
        return templated_message(
            rendered, subscriber, shared=parts, list_config=list_config, site=site,
            unsubscribe_url=unsubscribe, unsubscribe_mailto=mailto,
            preferences_url=preferences, now=now, message_id=message_id, body=body,
        )

    transport = make_transport(config, list_config, folder, secret=secret)
    ledger = Ledger(
        store, clock=clock, retry=config.delivery.retry_policy(),
        resend_unknown=config.delivery.resend_unknown,
        lease=timedelta(seconds=config.delivery.lease_seconds),
    )
    try:
        return ledger.deliver(
            edition_id,
            list_name=list_config.name,
            transport=transport,
            compose=compose,
            batch_size=config.delivery.batch_size,
            max_consecutive_failures=config.delivery.max_consecutive_failures,
            should_stop=should_stop,
        )
    finally:
        transport.close()


def resettle(report: ListReport, store: Store, now: datetime) -> ListReport:
    """``report`` (of one edition) said again from the ledger as it is at ``now``: the same
    rules as after a run (:func:`_settle`), with no provider calls of its own.

    For a worker that stops because nothing is left (``digest worker --until-idle``): a pass
    can end just as rows a dead worker held come back to the queue ("still queued", failed),
    and another worker sends them; what the ledger says at the end is the outcome. Returns
    ``report`` unchanged when its edition is not found."""
    if report.period is None:
        return report
    row = store.edition(report.list_name, report.period)
    if row is None:
        return report
    again = replace(report, message="")
    _settle(again, LedgerRun(counts=store.delivery_counts(row.id)), store, now)
    return again


def _settle(report: ListReport, done: LedgerRun, store: Store, now: datetime) -> None:
    """Set ``report``'s status, and a message for whatever is not plainly sent, from what
    the ledger ``done``. A run whose every provider call failed is ``failed``, and so is one
    that leaves rows failed, still due, or waiting for a retry after a transport refusal
    (a full outbox disk, SMTP 4xx, SendGrid 429/5xx: exit 1, so cron notices); rows that
    only wait for their local send time are ``scheduled``; rows left in flight with another
    process (nothing else open) are ``in-flight``, not ``sent``: that process sends them, or,
    should it die, a later run once they come free."""
    counts = StateCounts.of(done.counts.items())
    report.deliveries = dict(counts)
    queued = counts.queued
    due, next_at = store.queued_deliveries(now) if queued else (0, None)
    due = min(due, queued)  # queued_deliveries counts every edition
    waiting = queued - due
    retrying = 0  # of those waiting, the rows refused for now (an attempt and a back-off)
    if waiting and report.period is not None:
        row = store.edition(report.list_name, report.period)
        if row is not None:
            retrying = min(store.waiting_retries(row.id), waiting)
    later = waiting - retrying
    # rows another worker holds under a live lease (PostgreSQL, several workers)
    elsewhere = counts.claimed + counts.sending
    notes = []
    if done.provider_down:
        notes.append(
            f"every provider call of this run failed ({done.calls} messages), e.g. "
            f"{done.first_error}; see docs/operations.md, after a provider outage"
        )
    if counts.failed or due or done.provider_down or retrying:
        report.status = "failed"
        if due:
            notes.append(f"{due} still queued: the run paused after provider failures or was stopped")
        if retrying:
            notes.append(
                f"{retrying} wait for a retry after a transport error (`digest deliveries` says "
                "why; `digest deliveries retry-failed` makes them due now)"
            )
        if later:
            notes.append(f"{later} wait for their local send time")
    elif waiting:
        report.status = "scheduled"
        notes.append(
            f"{waiting} wait for their local send time (next {next_at:%Y-%m-%d %H:%M} UTC)"
            if next_at is not None else f"{waiting} wait for their local send time"
        )
    elif elsewhere:
        report.status = "in-flight"  # not "sent": another process has them, and may die
    else:
        report.status = "sent"
    if elsewhere:
        notes.append(f"{elsewhere} in flight with another worker{_held_by(report, store)}")
    if counts.failed:
        notes.append("failed deliveries are listed by `digest deliveries`; retry-failed re-sends them")
    if counts.unknown:
        notes.append("outcome unknown for some: see `digest deliveries`, then retry-unknown if you decide")
    report.message = "; ".join(notes)


def _held_by(report: ListReport, store: Store) -> str:
    """``": "`` and who holds ``report``'s edition's rows in flight and until when
    (:func:`digest.ledger_state.held_note`), or ``""`` when none is found."""
    from digest.ledger_state import held_note

    row = store.edition(report.list_name, report.period) if report.period else None
    held = store.held_batches(row.id) if row is not None else []
    return (": " + "; ".join(held_note(b) for b in held)) if held else ""


def publish(
    config: Config,
    store: Store,
    list_config: ListConfig,
    *,
    at: datetime,
    now: datetime,
    clock: Callable[[], datetime] = utcnow,
    not_before: Callable[[Subscriber], datetime | None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ListReport:
    """Build the edition due at ``at``, store it, and deliver it to the list's subscribers.

    The whole edition (every topic variant) is built and stored before anything is sent.
    ``not_before(subscriber)`` delays a subscriber's delivery; by default a list with
    ``send_at`` queues each row for that wall time in the subscriber's own timezone
    (:func:`digest.schedule.local_send_time`), under cron and the service alike;
    ``should_stop()`` is asked between batches. Outcomes (``ListReport.status``): ``sent``
    (every row settled), ``scheduled`` (rows wait for their local time), ``failed`` (rows
    failed, or are still queued after the run paused, or every provider call of the run
    failed; or the list's subscriber file is missing or unreadable, and then nothing is built
    or stored), ``exists`` (this period's edition is complete, derived from its rows by
    :func:`~digest.ledger_state.edition_complete`: nothing is sent again; an incomplete one
    is resumed instead),
    ``empty`` (no stories while every source of the list answered its last poll: nothing
    is sent, and the period is recorded as decided; with a source that failed or was never
    read, ``failed`` instead, and the period stays owed), ``awaiting-approval`` (the list
    requires an editor's approval and has none for this edition), ``not-due`` (the schedule
    has no time at or before ``at``).
    """
    report = ListReport(list_name=list_config.name, status="failed")
    scheduled = editions.edition_time(list_config, at)
    if scheduled is None:
        report.status, report.message = "not-due", "the schedule has no send time before this"
        return report
    report.period = editions.period_of(list_config, scheduled)
    existing = store.edition(list_config.name, report.period)
    if existing is not None:
        report.stories = existing.story_count
        if edition_complete(store.delivery_counts(existing.id)):
            report.status = "exists"
            report.message = (
                f"edition {list_config.name}/{report.period} already exists and its delivery "
                "is complete (no row queued or in flight; `digest deliveries` lists failed "
                "and unknown ones); nothing new to deliver"
            )
            return report
        done = deliver_edition(
            config, store, list_config, existing.id, existing.period,
            now=now, clock=clock, should_stop=should_stop,
        )
        _settle(report, done, store, clock())
        report.message = "; ".join(filter(None, ["resumed the unfinished edition", report.message]))
        return report

    from digest.message import public_copy
    from digest.subscribers import SubscriberFileError, import_csv, list_topics, rejected_rows_note

    notes: list[str] = []
    if list_config.subscribers is not None:
        try:
            imported = import_csv(
                store, list_config.name, list_config.subscribers, now=now,
                topics=list_topics(config, list_config),
            )
        except SubscriberFileError as exc:  # nothing is stored: the next run, file fixed, sends
            log.error("subscribers_unreadable list=%s error=%r", list_config.name, str(exc))
            report.message = f"subscriber file {exc}: nothing built or sent; fix it and run again"
            return report
        for problem in imported.problems:
            log.warning("subscriber_rejected list=%s problem=%r", list_config.name, problem)
        if imported.problems:
            notes.append(rejected_rows_note(imported.problems))
    subscribers = store.subscribers_of(list_config.name)
    local = local_send_times(list_config, scheduled)
    if not_before is None and local is not None:
        not_before = lambda subscriber: local(reader_timezone(subscriber))  # noqa: E731

    built = build(
        config, store, list_config, at=at, now=now, choices=[s.topics for s in subscribers],
        readers=[(s.topics, reader_timezone(s)) for s in subscribers] if local else (),
    )
    assert built is not None  # scheduled is not None
    edition = built.edition
    report.stories = len(edition.stories)
    report.sections = len(edition.sections)
    if not may_send(
        list_config.name, edition.period, require_approval=list_config.require_approval, store=store
    ):
        report.status = "awaiting-approval"
        report.message = (
            f"edition {list_config.name}/{edition.period} waits for an editor's approval "
            "(digest web: preview, then approve); nothing sent"
        )
        return report
    if not edition.stories:
        names = [s.name for s in config.list_sources(list_config)]
        states = store.source_states(names)
        unread = schedules.unread_sources(
            {
                name: states[name].last_status if name in states else None
                for name in names
                if name not in states or states[name].disabled_reason is None  # gone for good
            }
        )
        window = (
            f"no stories between {edition.window_start:%Y-%m-%d %H:%M} and "
            f"{edition.window_end:%Y-%m-%d %H:%M} UTC: nothing sent"
        )
        if unread:
            # nothing heard from some sources: not a day without news, the period stays owed
            report.status = "failed"
            shown = ", ".join(unread[:5]) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
            report.message = "; ".join([
                window,
                f"{len(unread)} of its sources gave nothing at their last poll ({shown}): "
                "not recorded as an empty day, a later run builds it again",
                *notes,
            ])
            return report
        # a fact, not a flag: later runs of this period report it empty (schedule.standing)
        store.record_empty_period(list_config.name, edition.period, at=now)
        report.status = "empty"
        report.message = "; ".join([window, *notes])
        return report

    main = public_copy(built.main, site=config.site)
    # The archive page has room for every story, including those the email left out for size
    # (rendered while the budget was chosen: the same as rendering without a budget).
    archived = main if not built.main.omitted else public_copy(
        built.unbudgeted
        or render_edition(edition, config=config, list_config=list_config, now=now, budget_bytes=None),
        site=config.site,
    )
    carried = [  # with the copies dedupe dropped, so a later edition leaves them out too
        (source, entry_id, story.key, section.name)
        for section in edition.sections
        for story in section.stories
        for entry in story.entries
        for source, entry_id in [
            (entry.source, entry.entry_id), *((c.source, c.entry_id) for c in entry.also_in)
        ]
    ]
    try:
        edition_id = store.create_edition(
            list_name=list_config.name,
            period=edition.period,
            window_start=edition.window_start,
            window_end=edition.window_end,
            now=now,
            subject=main.subject,
            preheader=main.preheader,
            html=archived.html,
            text=archived.text,
            carried=carried,
            variants=built.variants,
            recipients=[
                (s.id, not_before(s) if not_before else None) for s in subscribers if s.id is not None
            ],
        )
    except EditionExists as exc:  # another process built it between our check and now
        report.status, report.message = "exists", str(exc)
        return report
    report.recipients = len(subscribers)

    folder = config.delivery.outbox_dir / list_config.name / edition.period
    try:
        write_edition_files(folder, main)
        report.out_dir = str(folder)
    except OSError as exc:  # a copy for looking at; the edition itself is stored and goes out
        log.warning("edition_files_failed list=%s folder=%s error=%r", list_config.name, folder, str(exc))
    done = deliver_edition(
        config, store, list_config, edition_id, edition.period,
        now=now, clock=clock, should_stop=should_stop, archive_copies=False,
    )
    _settle(report, done, store, clock())
    report.message = "; ".join(filter(None, [report.message, *notes]))
    return report


def local_send_times(
    list_config: ListConfig, scheduled: datetime
) -> Callable[[str], datetime] | None:
    """When a reader in an IANA timezone receives the edition scheduled at ``scheduled``,
    when the list has ``send_at`` (aware UTC, :func:`digest.schedule.local_send_time`);
    None without ``send_at``."""
    if list_config.send_at is None:
        return None
    hour, minute = (int(part) for part in list_config.send_at.split(":"))

    def send_time(timezone: str) -> datetime:
        return schedules.local_send_time(
            scheduled=scheduled,
            list_timezone=list_config.schedule.timezone,
            subscriber_timezone=timezone,
            send_at=time(hour, minute),
        )

    return send_time


def reader_timezone(subscriber: Subscriber) -> str:
    """The IANA timezone a subscriber reads in (``UTC`` when they gave none)."""
    return subscriber.timezone or "UTC"


def variant_key(topics: Iterable[str], timezone: str | None = None) -> tuple[str, ...]:
    """The key of one stored rendering: the sorted topic choice (``()``: the whole edition),
    then ``"@<timezone>"`` for a rendering in a ``send_at`` reader's own timezone (topic
    names cannot start with ``@``)."""
    key = tuple(sorted({t for t in topics if not t.startswith("@")}))
    return (*key, f"@{timezone}") if timezone else key


def resume(
    config: Config,
    store: Store,
    *,
    now: datetime,
    clock: Callable[[], datetime] = utcnow,
    should_stop: Callable[[], bool] | None = None,
    skip: Collection[tuple[str, str | None]] = (),
    lists: Sequence[str] = (),
) -> list[ListReport]:
    """Continue every stored edition that is not complete (after a restart, a pause,
    ``digest deliveries retry-unknown``/``retry-failed`` or when local send times come due),
    except the ``(list, period)`` pairs in ``skip``, and only of ``lists`` when given."""
    reports = []
    for row in store.unfinished_editions():
        if (row.list_name, row.period) in skip or (lists and row.list_name not in lists):
            continue
        try:
            list_config = config.list(row.list_name)
        except KeyError:
            log.warning("resume_skipped edition=%s: list %s is no longer configured", row.id, row.list_name)
            continue
        report = ListReport(list_name=row.list_name, status="failed", period=row.period, stories=row.story_count)
        try:
            done = deliver_edition(
                config, store, list_config, row.id, row.period, now=now, clock=clock, should_stop=should_stop
            )
        except DatabaseFullError:
            raise
        except DigestError as exc:
            report.message = str(exc)
        else:
            _settle(report, done, store, clock())
        reports.append(report)
        if should_stop is not None and should_stop():
            break
    return reports


def run(
    config: Config,
    store: Store,
    *,
    now: datetime,
    at: AtValue | None = None,
    lists: Sequence[str] = (),
    live: bool = False,
    progress: Callable[[SourceReport], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> RunReport:
    """Poll every source that is due, then build and deliver each list that is due at ``at`` (default
    ``now``; a date alone means that day's edition in each list's timezone, see
    :mod:`digest.attime`), by the one lateness rule of :func:`digest.schedule.due`: its latest
    scheduled time has passed by at most ``scheduler.misfire_grace_seconds`` and that period
    has no edition yet. A later edition is reported ``missed`` and not started (``digest send
    LIST --at T`` sends it on purpose); an edition already started is always finished; queued
    rows whose local send time has come are delivered. The report is also kept in the store.

    A healthy source is polled once its ``next_poll_at`` has come, or when a list about to be
    built draws from it and it was fetched more than :data:`digest.polling.FRESH_ENOUGH`
    ago (:func:`digest.polling.not_due_reason`); ``digest poll`` polls every source now."""
    at = at or now
    report = RunReport(started_at=now)
    from digest import warmup

    fresh = _sources_to_build(config, store, at, lists)
    warming: list[warmup.Warmup] = []
    report.sources = poll(
        config, store, now=now, live=live, progress=progress, due_only=True, fresh=fresh,
        # an edition is to be built: load its stages while the parse pool works
        while_parsing=(lambda: warming.append(warmup.start())) if fresh else None,
    )
    for started in warming:
        started.wait()  # the build below then finds every stage loaded
    for list_config in config.lists:
        if lists and list_config.name not in lists:
            continue
        owed: schedules.Due | None = None
        try:
            when = at_for_list(at, list_config.schedule.timezone)  # a date alone: that day's edition
            owed = schedules.due(list_config.schedule, when, config.scheduler.grace)
            standing = None if owed is None else _standing(store, list_config, owed)
            if owed is not None and standing == "missed":
                report.lists.append(missed_report(list_config, owed, store=store, now=now))
                continue
            if owed is not None and standing == "empty":
                report.lists.append(empty_report(store, list_config, owed))
                continue
            report.lists.append(publish(config, store, list_config, at=when, now=now, clock=clock))
        except DatabaseFullError:
            raise
        except DigestError as exc:
            log.error("list_failed list=%s error=%r", list_config.name, str(exc))
            # named by its period, so resume below does not try (and report) the same edition again
            period = owed.fire.period if owed is not None else None
            report.lists.append(
                ListReport(list_name=list_config.name, status="failed", period=period, message=str(exc))
            )
    # editions of earlier periods re-opened by retry-unknown/retry-failed, or paused
    handled = {(r.list_name, r.period) for r in report.lists}
    resumed = resume(config, store, now=now, clock=clock, skip=handled, lists=lists)
    report.lists.extend(r for r in resumed if r.status != "scheduled")
    store.record_run(
        "run", started_at=now, finished_at=clock(), ok=report.ok, report=report_dict(report)
    )
    return report


def _sources_to_build(
    config: Config, store: Store, at: AtValue, lists: Sequence[str]
) -> set[str]:
    """The sources of the lists whose edition :func:`run` is about to build at ``at`` (due,
    on time, not stored yet): they are polled even before their ``next_poll_at``."""
    wanted: set[str] = set()
    for list_config in config.lists:
        if lists and list_config.name not in lists:
            continue
        try:
            when = at_for_list(at, list_config.schedule.timezone)
            owed = schedules.due(list_config.schedule, when, config.scheduler.grace)
            if owed is None or _standing(store, list_config, owed) != "due":
                continue
        except DigestError:  # publish reports it
            continue
        wanted.update(s.name for s in config.list_sources(list_config))
    return wanted


def _standing(store: Store, list_config: ListConfig, owed: schedules.Due) -> schedules.Standing:
    """:func:`digest.schedule.standing` of the period ``owed`` names, from the store."""
    period = owed.fire.period
    stored = store.edition(list_config.name, period) is not None
    empty = not stored and store.empty_period(list_config.name, period) is not None
    return schedules.standing(owed, stored=stored, empty=empty)


def empty_report(store: Store, list_config: ListConfig, owed: schedules.Due) -> ListReport:
    """The report of a period already built with no stories: ``empty`` (ok), not built again
    (news that arrives later goes into the next period's edition)."""
    decided = store.empty_period(list_config.name, owed.fire.period)
    when = f" at {decided:%Y-%m-%d %H:%M} UTC" if decided is not None else ""
    return ListReport(
        list_name=list_config.name,
        status="empty",
        period=owed.fire.period,
        repeated=True,  # the period was decided empty by an earlier run
        message=(
            f"empty: the edition of period {owed.fire.period} was built{when} with no stories; "
            "nothing sent, and later news goes into the next edition (`digest send "
            f"{list_config.name} --at {owed.fire.at:%Y-%m-%dT%H:%MZ}` builds it again on purpose)"
        ),
    )


def missed_report(
    list_config: ListConfig, owed: schedules.Due, *, store: Store, now: datetime
) -> ListReport:
    """The report of an edition later than the misfire grace: ``missed``, not sent. The
    ``send_missed`` warning is logged by the first run that finds the period missed (a
    stored fact, :meth:`Store.record_missed_period`); later runs log it at info level, and
    their report says ``missed`` with ``repeated`` set (``digest run`` then prints it only
    with ``-v``, see :mod:`digest.quiet`)."""
    fire = owed.fire
    late = int(owed.late.total_seconds())
    first = store.record_missed_period(list_config.name, fire.period, at=now)
    log.log(
        logging.WARNING if first else logging.INFO,
        "send_missed list=%s period=%s scheduled=%s late_seconds=%d: not sent%s",
        list_config.name, fire.period, fire.at.isoformat(), late,
        "" if first else " (reported before)",
    )
    return ListReport(
        list_name=list_config.name,
        status="missed",
        period=fire.period,
        repeated=not first,
        message=(
            f"missed: the edition scheduled at {fire.at:%Y-%m-%d %H:%M} UTC is "
            f"{schedules.lateness(owed.late)} late, more than scheduler.misfire_grace_seconds: "
            "not sent (send it on purpose with "
            f"`digest send {list_config.name} --at {fire.at:%Y-%m-%dT%H:%MZ}`)"
        ),
    )


def report_dict(report: RunReport) -> dict[str, object]:
    """A JSON-serialisable form of ``report`` (for the store, ``--json`` and the web app)."""
    from dataclasses import asdict

    data = asdict(report)
    data["ok"] = report.ok
    return data
