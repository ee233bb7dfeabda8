"""``digest schedule``: polling and sending as one long-running service.

The shape (after lemon24/reader's ``Decider``): a pure :class:`Decider` is given ``now`` and a
:class:`Snapshot` of the store and returns the actions due; :class:`Service` takes the
snapshot, asks the decider, and carries the actions out through injected :class:`Jobs`
(by default the pipeline). APScheduler 3.x is only the timer that wakes the service: a
``tick`` interval job plus one job per list whose :class:`ScheduleTrigger` takes its fire
times from :mod:`digest.schedule` (never APScheduler's own ``CronTrigger``, which loses a fire
time after a DST change), kept in the same database (``apscheduler_jobs``) with
``coalesce=True``, ``max_instances=1`` and the misfire grace from the settings. Because every
wake-up re-decides from the store, a wake-up that comes twice, late (after a restart) or not
at all (the timer's own misfire rules) never changes what is sent.

Order of decisions in one tick (:meth:`Decider.decide`):

1. Each list: :func:`digest.schedule.due` at ``now``: its latest scheduled time (older times
   are coalesced into it). Nothing when that period has an edition (an edition already
   started is finished by :class:`Resume`), was built empty (stored) or was settled in this
   process (missed, not due). When it
   is later than ``misfire_grace_seconds``: a :class:`Missed` action (one warning, one run
   report), no send. Otherwise a :class:`Publish` at the scheduled time. A period built with
   no stories is decided (:func:`digest.schedule.standing`, from the stored fact): nothing.
2. Sources: every enabled source whose ``next_poll_at`` has come, plus the sources of a list
   about to be published that were not fetched in the last few minutes (unless a failing
   source is backing off): one :class:`Poll`, before any publish.
3. The publishes, in config order.
4. :class:`Resume` when queued ledger rows are due (a restart, or ``send_at`` local times).

When each source is polled next is :mod:`digest.polling`'s decision, written by the poll
itself: the service writes no source columns.

Only the holder of the ``scheduler`` lease (:mod:`digest.lease`) acts. SIGTERM and SIGINT set
a stop event: the action in flight finishes, no new one starts, the timer shuts down after its
running job, the lease is released and :meth:`Service.serve` returns 0.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.triggers.base import BaseTrigger

from digest import schedule
from digest.config import Config, ListConfig, SchedulerSettings, SourceConfig
from digest.exceptions import ConfigError, DigestError
from digest.lease import Lease, LeaseInfo, LeaseKeeper, utcnow
from digest.store import SourceState, Store
from digest.types import ListReport, SourceReport

log = logging.getLogger("digest.scheduler")

#: A list about to be published polls its sources first unless fetched this recently.
FRESH_ENOUGH = timedelta(minutes=5)
#: A publish that failed before its edition was stored is tried again after this long.
RETRY_FAILED = timedelta(minutes=5)
#: APScheduler's table in the digest database.
JOBS_TABLE = "apscheduler_jobs"


def settings_of(config: Config) -> SchedulerSettings:
    """The config's ``scheduler`` section."""
    return config.scheduler


class ScheduleTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler 3 trigger whose fire times are :func:`digest.schedule.next_after` of a
    list's crontab in its timezone (picklable: it keeps only the two strings)."""

    def __init__(self, cron: str, timezone: str) -> None:
        self.cron = schedule.validate_cron(cron)
        self.timezone = timezone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first fire time after ``previous_fire_time`` (or at or after ``now``)."""
        after = previous_fire_time or (now - timedelta(microseconds=1))
        fire = schedule.next_after(self, after)
        return None if fire is None else fire.at

    def __str__(self) -> str:
        return f"schedule[{self.cron!r} {self.timezone}]"


# -- decisions (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class Poll:
    """Poll these sources (names, config order)."""

    sources: tuple[str, ...]


@dataclass(frozen=True)
class Publish:
    """Build and deliver ``list_name``'s edition scheduled at ``at`` (aware UTC)."""

    list_name: str
    at: datetime
    period: str


@dataclass(frozen=True)
class Missed:
    """``list_name``'s edition scheduled at ``at`` is later than the grace: it is not sent."""

    list_name: str
    at: datetime
    period: str
    late: timedelta


@dataclass(frozen=True)
class Resume:
    """Deliver the ``due`` queued ledger rows whose time has come (with the rows a dead
    worker or scheduler left in flight once their lease expired, taken over first)."""

    due: int


Action = Poll | Publish | Missed | Resume


@dataclass(frozen=True)
class Snapshot:
    """What the decider knows of the store (and of this process) at one moment.

    ``editions``: recent edition periods per list; ``sources``: stored source states by
    name; ``due_deliveries``: queued ledger rows due now; ``empty``: (list, period) pairs
    stored as built with no stories (:meth:`Store.empty_period`); ``settled``: (list,
    period) pairs this process will not publish again (missed, not due); ``retry_at``: (list,
    period) pairs whose publish failed before an edition was stored, and when to try again.
    """

    editions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    sources: Mapping[str, SourceState] = field(default_factory=dict)
    due_deliveries: int = 0
    empty: frozenset[tuple[str, str]] = frozenset()
    settled: frozenset[tuple[str, str]] = frozenset()
    retry_at: Mapping[tuple[str, str], datetime] = field(default_factory=dict)


def _backing_off(state: SourceState | None, now: datetime) -> bool:
    return (
        state is not None
        and state.error_count > 0
        and state.next_poll_at is not None
        and state.next_poll_at > now
    )


@dataclass(frozen=True)
class Decider:
    """Decides what is due; touches nothing outside itself. See the module docstring for
    the order of decisions."""

    config: Config
    settings: SchedulerSettings = field(default_factory=SchedulerSettings)

    def decide(self, now: datetime, snapshot: Snapshot) -> list[Action]:
        """The actions due at ``now`` (aware), in the order they must run."""
        missed: list[Action] = []
        publishes: list[Publish] = []
        wanted: set[str] = set()
        for list_config in self.config.lists:
            owed = schedule.due(list_config.schedule, now, self.settings.grace)
            if owed is None:
                continue
            scheduled, period = owed.fire.at, owed.fire.period
            key = (list_config.name, period)
            standing = schedule.standing(
                owed,
                stored=period in snapshot.editions.get(list_config.name, frozenset()),
                empty=key in snapshot.empty,
            )
            if standing in ("stored", "empty"):
                continue
            if key in snapshot.settled:
                continue
            retry = snapshot.retry_at.get(key)
            if retry is not None and retry > now:
                continue
            if standing == "missed":
                missed.append(Missed(list_config.name, scheduled, period, owed.late))
                continue
            publishes.append(Publish(list_config.name, scheduled, period))
            for source in self.config.list_sources(list_config):
                state = snapshot.sources.get(source.name)
                if _backing_off(state, now):
                    continue
                if (
                    state is None
                    or state.last_fetch_at is None
                    or now - state.last_fetch_at > FRESH_ENOUGH
                ):
                    wanted.add(source.name)
        for source in self.config.sources:
            if not source.enabled:
                continue
            state = snapshot.sources.get(source.name)
            if state is None or state.next_poll_at is None or state.next_poll_at <= now:
                wanted.add(source.name)
        actions: list[Action] = list(missed)
        if wanted:
            actions.append(Poll(tuple(s.name for s in self.config.sources if s.name in wanted)))
        actions.extend(publishes)
        if snapshot.due_deliveries:
            actions.append(Resume(snapshot.due_deliveries))
        return actions


# -- the jobs the service runs -----------------------------------------------------------


class Jobs(Protocol):
    """What the service does when a decision is due; the pipeline by default
    (:class:`PipelineJobs`), fakes in tests. Per-item failures are values in the reports;
    a :class:`~digest.exceptions.DigestError` fails only the one action."""

    def poll(self, sources: Sequence[SourceConfig], *, now: datetime) -> list[SourceReport]:
        """Fetch, parse and store ``sources``; one report each."""
        ...

    def publish(
        self,
        list_config: ListConfig,
        *,
        at: datetime,
        now: datetime,
        stop: threading.Event | None = None,
    ) -> ListReport:
        """Build, store and deliver the edition due at ``at``. A ``send_at`` list queues each
        subscriber's row for their local time (the pipeline does it, as under cron).
        Delivery pauses between batches once ``stop`` is set (the rest stays queued for
        :meth:`resume`)."""
        ...

    def resume(self, *, now: datetime, stop: threading.Event) -> list[ListReport]:
        """Deliver queued ledger rows that are due at ``now``, stopping between batches
        once ``stop`` is set."""
        ...


class PipelineJobs:
    """The default :class:`Jobs`: :mod:`digest.pipeline`, imported on first use."""

    def __init__(
        self, config: Config, store: Store, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock

    def poll(self, sources: Sequence[SourceConfig], *, now: datetime) -> list[SourceReport]:
        from digest import pipeline

        return pipeline.poll(self.config, self.store, now=now, sources=sources)

    def publish(
        self,
        list_config: ListConfig,
        *,
        at: datetime,
        now: datetime,
        stop: threading.Event | None = None,
    ) -> ListReport:
        from digest import pipeline

        return pipeline.publish(
            self.config,
            self.store,
            list_config,
            at=at,
            now=now,
            clock=self.clock,
            should_stop=stop.is_set if stop is not None else None,
        )

    def resume(self, *, now: datetime, stop: threading.Event) -> list[ListReport]:
        from digest import pipeline

        return pipeline.resume(
            self.config, self.store, now=now, clock=self.clock, should_stop=stop.is_set
        )


JOBS_ENV = "DIGEST_SCHEDULER_JOBS"


def jobs_from_env(config: Config, store: Store, clock: Callable[[], datetime] = utcnow) -> Jobs:
    """The jobs ``digest schedule`` runs: :class:`PipelineJobs`, unless the environment
    variable ``DIGEST_SCHEDULER_JOBS`` names a factory ``module:callable`` taking
    ``(config, store)`` (the tests' fake pipeline; an extension point).

    Raises :class:`~digest.exceptions.ConfigError` when that factory cannot be imported.
    """
    ref = os.environ.get(JOBS_ENV, "").strip()
    if not ref:
        return PipelineJobs(config, store, clock)
    module_name, _, attr = ref.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr or "make_jobs")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{JOBS_ENV}={ref!r}: cannot import the jobs factory: {exc}") from exc
    jobs: Jobs = factory(config, store)
    log.warning("scheduler_jobs factory=%s: not the pipeline", ref)
    return jobs


# -- the service -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one action did: ``status`` (``ok``, ``failed``, ``missed``, or the list
    report's status) and the report kept in the store."""

    action: Action
    status: str
    report: dict[str, Any] = field(default_factory=dict)


_ACTIVE: Service | None = None


def run_job(job_id: str) -> None:
    """The APScheduler job function (a textual reference in the job store): wake the active
    service. Every job id only wakes it; the decider decides what is due."""
    service = _ACTIVE
    if service is None:
        log.warning("job_without_service job=%s", job_id)
        return
    log.debug("job_fired job=%s", job_id)
    service.tick()


class Service:
    """The scheduler service over one store.

    ``jobs`` carries the actions out (default :class:`PipelineJobs`); ``clock`` is the only
    clock read; ``holder`` names this process in the lease (default ``host:pid:random``).
    :meth:`tick` decides and acts once (tests drive it with their own ``now``);
    :meth:`serve` is the long-running loop of ``digest schedule``.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        jobs: Jobs | None = None,
        settings: SchedulerSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
        holder: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.jobs: Jobs = jobs if jobs is not None else PipelineJobs(config, store, clock)
        self.settings = settings or settings_of(config)
        self.clock = clock
        self.decider = Decider(config, self.settings)
        # the lease is about processes: stamped and compared on the store's lease clock
        # (PostgreSQL's now(), one clock for every host), never on the decision clock
        self.lease = Lease(
            store, holder=holder, ttl=timedelta(seconds=self.settings.lease_seconds),
            clock=store.lease_now,
        )
        self.stop_event = threading.Event()
        self._halt = threading.Event()  # stop requested or lease lost: start nothing new
        self._lock = threading.Lock()
        self._settled: set[tuple[str, str]] = set()
        self._retry_at: dict[tuple[str, str], datetime] = {}

    # -- one tick ------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> Snapshot:
        """The store's state the decider needs at ``now``."""
        # due rows, and rows a dead worker or scheduler left in flight once their lease
        # expired (leases only, even on SQLite: this process's own delivery may be running)
        activity = self.store.ledger_activity(now, exclusive=False)
        due = activity.due + activity.reclaimable
        return Snapshot(
            editions={lst.name: self.store.edition_periods(lst.name) for lst in self.config.lists},
            empty=empty_periods(self.config, self.store, now),
            sources=self.store.source_states(),
            due_deliveries=due,
            settled=frozenset(self._settled),
            retry_at=dict(self._retry_at),
        )

    def tick(self, now: datetime | None = None) -> list[Outcome]:
        """Decide what is due at ``now`` (default: the clock) and do it, one action after
        another; stops before the next action once a stop was requested or the lease lost.
        Never raises for a failing action (not even for a bug in it: the traceback is
        logged): it becomes an outcome and a run report."""
        with self._lock:
            fixed = now
            now = now or self.clock()
            try:
                actions = self.decider.decide(now, self.snapshot(now))
            except DigestError as exc:
                log.error("tick_failed error=%r", str(exc))
                return []
            outcomes: list[Outcome] = []
            for action in actions:
                if self._halt.is_set():
                    log.info("tick_stopped remaining=%d", len(actions) - len(outcomes))
                    break
                outcomes.append(self._act(action, fixed or self.clock()))
            return outcomes

    def _act(self, action: Action, now: datetime) -> Outcome:
        try:
            if isinstance(action, Missed):
                return self._missed(action, now)
            if isinstance(action, Poll):
                return self._poll(action, now)
            if isinstance(action, Publish):
                return self._publish(action, now)
            return self._resume(action, now)
        except Exception as exc:  # noqa: BLE001 -- one failed action must not stop the service
            name = type(action).__name__.lower()
            if isinstance(exc, DigestError):
                log.error("action_failed action=%s error=%r", name, str(exc))
            else:  # a bug: keep the traceback, carry on with the next action and tick
                log.exception("action_crashed action=%s error=%r", name, repr(exc))
            report = {"action": name, "error": str(exc) or repr(exc)}
            if isinstance(action, Publish):
                self._retry_at[(action.list_name, action.period)] = now + RETRY_FAILED
                report.update(list_name=action.list_name, period=action.period, status="failed")
            self._record("send" if not isinstance(action, Poll) else "poll", now, False, report)
            return Outcome(action, "failed", report)

    def _record(self, kind: str, started: datetime, ok: bool, report: dict[str, Any]) -> None:
        try:
            self.store.record_run(
                kind,
                started_at=started,
                finished_at=max(started, self.clock()),
                ok=ok,
                report=report,
            )
        except DigestError as exc:
            log.error("run_report_failed kind=%s error=%r", kind, str(exc))

    def _missed(self, action: Missed, now: datetime) -> Outcome:
        self._settled.add((action.list_name, action.period))
        late = int(action.late.total_seconds())
        message = (
            f"the edition scheduled at {action.at:%Y-%m-%d %H:%M} UTC is "
            f"{schedule.lateness(action.late)} late, more than "
            f"the misfire grace of {self.settings.misfire_grace_seconds}s: not sent "
            f"(send it by hand with `digest send {action.list_name} --at {action.at:%Y-%m-%dT%H:%MZ}`)"
        )
        first = self.store.record_missed_period(action.list_name, action.period, at=now)
        log.log(  # once per period, also across restarts and beside cron runs
            logging.WARNING if first else logging.INFO,
            "send_missed list=%s period=%s scheduled=%s late_seconds=%d grace_seconds=%d: not sent%s",
            action.list_name,
            action.period,
            action.at.isoformat(),
            late,
            self.settings.misfire_grace_seconds,
            "" if first else " (reported before)",
        )
        report = {
            "list_name": action.list_name,
            "period": action.period,
            "status": "missed",
            "scheduled": action.at.isoformat(),
            "late_seconds": late,
            "message": message,
        }
        self._record("send", now, False, report)
        return Outcome(action, "missed", report)

    def _poll(self, action: Poll, now: datetime) -> Outcome:
        sources = [self.config.source(name) for name in action.sources]
        reports = self.jobs.poll(sources, now=now)  # each poll writes its own next poll time
        counts: dict[str, int] = {}
        for report in reports:
            counts[report.status] = counts.get(report.status, 0) + 1
        ok = all(r.status != "failed" for r in reports)
        record = {
            "sources": [asdict(r) for r in reports],
            "counts": counts,
            "new_entries": sum(r.new_entries for r in reports),
        }
        self._record("poll", now, ok, record)
        log.info(
            "poll_done sources=%d new=%d failed=%d",
            len(reports),
            record["new_entries"],
            counts.get("failed", 0),
        )
        return Outcome(action, "ok" if ok else "failed", record)

    def _publish(self, action: Publish, now: datetime) -> Outcome:
        list_config = self.config.list(action.list_name)
        report = self.jobs.publish(list_config, at=action.at, now=now, stop=self._halt)
        key = (action.list_name, action.period)
        if report.status == "not-due":  # an empty period is a stored fact (Snapshot.empty)
            self._settled.add(key)
        elif report.status == "failed" and report.period is not None:
            self._retry_at[key] = now + RETRY_FAILED  # an edition may be stored: resume delivers
        record = {**asdict(report), "scheduled": action.at.isoformat()}
        self._record("send", now, report.status != "failed", record)
        log.info(
            "send_done list=%s period=%s status=%s deliveries=%s",
            action.list_name,
            report.period or action.period,
            report.status,
            ",".join(f"{k}:{v}" for k, v in sorted(report.deliveries.items())) or "-",
        )
        return Outcome(action, report.status, record)

    def _resume(self, action: Resume, now: datetime) -> Outcome:
        reports = self.jobs.resume(now=now, stop=self._halt)
        for report in reports:
            self._record(
                "send", now, report.status != "failed", {**asdict(report), "resumed": True}
            )
        status = "failed" if any(r.status == "failed" for r in reports) else "ok"
        return Outcome(action, status, {"lists": [asdict(r) for r in reports]})

    # -- the long-running service --------------------------------------------------------

    def request_stop(self) -> None:
        """Ask :meth:`serve` to stop: the action in flight finishes, nothing new starts.
        Safe to call from a signal handler or another thread."""
        self._halt.set()
        self.stop_event.set()

    def serve(self, *, on_wait: Callable[[LeaseInfo | None], None] | None = None) -> int:
        """Run until :attr:`stop_event` is set: wait for the lease (calling ``on_wait`` with
        the holder each time it changes), then act as the scheduler while holding it.

        Returns 0 after a requested stop (:meth:`request_stop`, which
        :func:`install_signal_handlers` wires to SIGTERM and SIGINT).
        Raises :class:`~digest.exceptions.StoreError` when the database is unreachable.
        """
        last_seen: str | None = None
        while not self.stop_event.is_set():
            if not self.lease.acquire():
                info = self.lease.current()
                seen = info.holder if info else None
                if seen != last_seen:
                    log.warning(
                        "lease_held holder=%s expires_at=%s: waiting",
                        seen,
                        info.expires_at.isoformat() if info else None,
                    )
                    if on_wait is not None:
                        on_wait(info)
                    last_seen = seen
                self.stop_event.wait(self.settings.wait_seconds)
                continue
            last_seen = None
            lost = self._hold()
            if not lost:
                break
        log.info("scheduler_stopped holder=%s", self.lease.holder)
        return 0

    def _hold(self) -> bool:
        """Act as the scheduler until stopped (False) or until the lease is lost (True)."""
        global _ACTIVE
        keeper = LeaseKeeper(self.lease, self.settings.renew_seconds, on_lost=self._halt.set)
        self._halt.clear()
        if self.stop_event.is_set():
            self._halt.set()
        keeper.start()
        timer = None
        _ACTIVE = self
        log.info("scheduler_started holder=%s", self.lease.holder)
        try:
            self.tick()  # catch up at once: a send missed while down, sources overdue
            if not self.stop_event.is_set() and not keeper.lost.is_set():
                timer = self._start_timer()
            while not self.stop_event.is_set() and not keeper.lost.is_set():
                self.stop_event.wait(0.2)
            self._halt.set()
        finally:
            self._halt.set()
            if timer is not None:
                timer.shutdown(wait=True)  # the job in flight finishes
            _ACTIVE = None
            keeper.stop()
            if not keeper.lost.is_set():
                self.lease.release()
        return keeper.lost.is_set()

    def _start_timer(self) -> Any:
        """APScheduler as the timer: ``tick`` every ``tick_seconds`` and ``send:<list>`` at
        each list's cron time, all waking :func:`run_job`, kept in ``apscheduler_jobs``."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        timer = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.store.engine, tablename=JOBS_TABLE)
            },
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.misfire_grace_seconds,
            },
            timezone=UTC,
        )
        timer.start(paused=True)
        wanted = {"tick"}
        timer.add_job(
            "digest.scheduler:run_job",
            IntervalTrigger(seconds=self.settings.tick_seconds, timezone=UTC),
            id="tick",
            name="poll due sources, catch up, deliver due rows",
            args=["tick"],
            replace_existing=True,
        )
        for list_config in self.config.lists:
            job_id = f"send:{list_config.name}"
            wanted.add(job_id)
            timer.add_job(
                "digest.scheduler:run_job",
                ScheduleTrigger(list_config.schedule.cron, list_config.schedule.timezone),
                id=job_id,
                name=f"build and deliver {list_config.name}",
                args=[job_id],
                replace_existing=True,
            )
        for job in timer.get_jobs():
            if job.id not in wanted:
                job.remove()
        timer.resume()
        return timer

    def next_runs(self, now: datetime) -> list[JobInfo]:
        """When each job runs next: see :func:`next_runs`."""
        return next_runs(self.config, self.store, now=now, settings=self.settings)


@dataclass(frozen=True)
class JobInfo:
    """A job and when it next runs (aware UTC; None: never). ``kind`` is ``send``, ``poll``
    or ``deliver``; ``note`` says why (``due now``, ``backing off after 3 failures``)."""

    id: str
    kind: str
    next_run: datetime | None
    note: str = ""


def empty_periods(config: Config, store: Store, now: datetime) -> frozenset[tuple[str, str]]:
    """The (list, period) pairs of each list's latest period at ``now`` that the store
    records as built with no stories (:meth:`~digest.store.Store.empty_period`)."""
    found = set()
    for list_config in config.lists:
        fire = schedule.latest(list_config.schedule, now)
        if fire is not None and store.empty_period(list_config.name, fire.period) is not None:
            found.add((list_config.name, fire.period))
    return frozenset(found)


def next_runs(
    config: Config, store: Store, *, now: datetime, settings: SchedulerSettings | None = None
) -> list[JobInfo]:
    """The next run of every job, computed the way the decider decides: one ``send:<list>``
    per list (``due now`` while its latest period has no edition within the grace), one
    ``poll:<source>`` per enabled source, and ``deliver`` for the next queued ledger row."""
    settings = settings or settings_of(config)
    jobs: list[JobInfo] = []
    for list_config in config.lists:
        owed = schedule.due(list_config.schedule, now, settings.grace)
        standing = None
        if owed is not None:
            stored = owed.fire.period in store.edition_periods(list_config.name)
            empty = not stored and store.empty_period(list_config.name, owed.fire.period) is not None
            standing = schedule.standing(owed, stored=stored, empty=empty)
        if owed is not None and standing in ("due", "missed"):
            fire = owed.fire
            note = (
                f"missed: period {fire.period} is {schedule.lateness(owed.late)} late, more "
                f"than the misfire grace (send it with `digest send {list_config.name} --at "
                f"{fire.at:%Y-%m-%dT%H:%MZ}`)"
                if owed.missed
                else f"due now (period {fire.period})"
            )
            if not owed.missed:
                jobs.append(JobInfo(f"send:{list_config.name}", "send", fire.at, note))
                continue
        else:
            note = ""
        upcoming = schedule.next_after(list_config.schedule, now)
        upcoming_note = f"period {upcoming.period}" if upcoming else "never"
        jobs.append(
            JobInfo(
                f"send:{list_config.name}",
                "send",
                upcoming.at if upcoming else None,
                "; ".join(filter(None, [upcoming_note, note])),
            )
        )
    states = store.source_states()
    for source in config.sources:
        if not source.enabled:
            continue
        state = states.get(source.name)
        if state is None or state.next_poll_at is None:
            jobs.append(
                JobInfo(f"poll:{source.name}", "poll", now, "never polled by the scheduler")
            )
            continue
        note = f"backing off after {state.error_count} failures" if state.error_count else ""
        jobs.append(
            JobInfo(
                f"poll:{source.name}",
                "poll",
                max(state.next_poll_at, now),
                note,
            )
        )
    due, next_at = store.queued_deliveries(now)
    if due:
        jobs.append(JobInfo("deliver", "deliver", now, f"{due} queued deliveries due"))
    elif next_at is not None:
        jobs.append(JobInfo("deliver", "deliver", next_at, "next local-time delivery"))
    return jobs


def install_signal_handlers(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT call ``stop`` (e.g. :meth:`Service.request_stop`: the service then
    finishes the action in flight, releases the lease and returns). Call from the main
    thread."""

    def handler(signum: int, _frame: Any) -> None:
        log.warning(
            "signal_received signal=%s: finishing the job in flight", signal.Signals(signum).name
        )
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


__all__ = [
    "Action",
    "Decider",
    "JobInfo",
    "Jobs",
    "Missed",
    "Outcome",
    "PipelineJobs",
    "Poll",
    "Publish",
    "Resume",
    "ScheduleTrigger",
    "SchedulerSettings",
    "Service",
    "Snapshot",
    "install_signal_handlers",
    "jobs_from_env",
    "next_runs",
    "run_job",
    "settings_of",
]
