"""What ``digest status`` shows, gathered from the store: one :class:`Status` value.

- the next run of every job (:func:`digest.scheduler.next_runs`, plus the time the
  APScheduler timer has stored for its own jobs when a service has run on this database);
- the last run of each list (from the run reports) and its latest edition with its
  deliveries per state;
- deliveries per state over all editions;
- sources that are failing, or *silent*: no new entry for longer than usual, where usual is
  the median gap between the source's recent entries (``silent_factor`` times it, at least
  ``silent_min_hours``);
- who holds the scheduler lease, and whether it has expired;
- the latest run reports.

Pure apart from the store reads; ``now`` is an argument. :meth:`Status.to_dict` is the
``--json`` form (times as ISO 8601 UTC strings).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from digest.config import Config
from digest.exceptions import DigestError
from digest.lease import LeaseInfo, current_lease
from digest.scheduler import JOBS_TABLE, JobInfo, SchedulerSettings, next_runs, settings_of
from digest.store import StateCounts, Store


@dataclass(frozen=True)
class LastEdition:
    """A list's latest edition: ``status`` is ``delivered`` or ``sending``, derived from
    its ledger rows (:func:`~digest.ledger_state.edition_phase`); ``deliveries`` those
    rows per state."""

    period: str
    status: str
    created_at: datetime
    stories: int
    deliveries: StateCounts


@dataclass(frozen=True)
class LastRun:
    """What the newest run report naming a list says of it (``at``: when the run ended)."""

    at: datetime
    ok: bool
    status: str | None
    period: str | None
    message: str
    deliveries: Mapping[str, int]


@dataclass(frozen=True)
class RunLine:
    """One recent run report, summarised in a line."""

    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    ok: bool
    summary: str


@dataclass(frozen=True)
class ListStatus:
    """One list: when it sends next, its latest edition, and its last send run."""

    name: str
    schedule: str
    next_send: datetime | None
    last_edition: LastEdition | None = None
    last_run: LastRun | None = None


@dataclass(frozen=True)
class SourceHealth:
    """A source that needs a look: ``problem`` is ``failing`` or ``silent``."""

    name: str
    problem: str
    detail: str
    error_count: int = 0
    last_ok_at: datetime | None = None
    last_new_at: datetime | None = None


@dataclass(frozen=True)
class Status:
    """Everything ``digest status`` prints. See the module docstring."""

    now: datetime
    lease: LeaseInfo | None
    jobs: list[JobInfo]
    lists: list[ListStatus]
    deliveries: StateCounts
    sources: list[SourceHealth]
    runs: list[RunLine] = field(default_factory=list)
    timer: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def lease_expired(self) -> bool:
        """True when the lease's holder stopped renewing it (a dead scheduler)."""
        return self.lease is not None and self.lease.expired(self.now)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: plain values, times as ISO 8601 strings in UTC."""
        data = {
            "now": self.now,
            "lease": None
            if self.lease is None
            else {**_plain(self.lease), "expired": self.lease_expired},
            "jobs": self.jobs,
            "timer": self.timer,
            "lists": self.lists,
            "deliveries": self.deliveries,
            "sources": self.sources,
            "runs": self.runs,
        }
        return _plain(data)


def _plain(value: Any) -> Any:
    """JSON values: a tally or mapping as an object of its entries (a ``StateCounts`` of
    the states with rows), a dataclass as an object of its fields, times as UTC strings."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def usual_gap(times: Sequence[datetime]) -> timedelta | None:
    """The median gap between consecutive ``times`` (any order); None for fewer than 3."""
    ordered = sorted(times)
    gaps = [(b - a).total_seconds() for a, b in pairwise(ordered)]
    gaps = [g for g in gaps if g > 0]
    if len(gaps) < 2:
        return None
    return timedelta(seconds=statistics.median(gaps))


def silent_for(
    last_new: datetime | None,
    times: Sequence[datetime],
    *,
    now: datetime,
    factor: float,
    min_hours: float,
) -> timedelta | None:
    """How long the source has been silent when that is longer than usual, else None.

    Usual: ``factor`` times :func:`usual_gap` of ``times``, at least ``min_hours``.
    """
    if last_new is None:
        return None
    quiet = now - last_new
    gap = usual_gap(times)
    threshold = timedelta(hours=min_hours)
    if gap is not None:
        threshold = max(threshold, gap * factor)
    return quiet if quiet > threshold else None


def _ago(delta: timedelta) -> str:
    """``delta`` in the unit that shows it: ``40s``, ``20m``, ``5h`` (below three days),
    else ``4d``; rounded to the unit, a value that rounds up to the next unit is shown in
    it (59.8 minutes: ``1h``, never ``60m``)."""
    seconds = delta.total_seconds()
    if round(seconds) < 60:
        return f"{max(round(seconds), 0)}s"
    if round(seconds / 60) < 60:
        return f"{round(seconds / 60)}m"
    if round(seconds / 3600) < 72:
        return f"{round(seconds / 3600)}h"
    return f"{round(seconds / 86400)}d"


def source_health(
    config: Config, store: Store, now: datetime, settings: SchedulerSettings
) -> list[SourceHealth]:
    """The enabled sources that need a look at ``now``: ``failing`` (the last fetch failed)
    or ``silent`` (no new entry for ``silent_factor`` times their usual gap, and at least
    ``silent_min_hours``). One definition for ``digest status`` and the editor's pages."""
    states = store.source_states()
    found: list[SourceHealth] = []
    for source in config.sources:
        if not source.enabled:
            continue
        state = states.get(source.name)
        if state is None:
            continue
        if state.last_status == "failed" or state.error_count:
            since = (
                f", last ok {_ago(now - state.last_ok_at)} ago"
                if state.last_ok_at
                else ", never ok"
            )
            found.append(
                SourceHealth(
                    name=source.name,
                    problem="failing",
                    detail=f"{state.error_count} failure(s) in a row: {state.last_error or 'unknown error'}{since}",
                    error_count=state.error_count,
                    last_ok_at=state.last_ok_at,
                    last_new_at=state.last_new_at,
                )
            )
            continue
        entries = store.entries_of(source.name, limit=50)
        times = [e.published or e.first_seen for e in entries if (e.published or e.first_seen)]
        seen = [e.first_seen for e in entries if e.first_seen]
        last_new = state.last_new_at or (max(seen) if seen else None)
        quiet = silent_for(
            last_new,
            [t for t in times if t is not None],
            now=now,
            factor=settings.silent_factor,
            min_hours=settings.silent_min_hours,
        )
        if quiet is not None:
            gap = usual_gap([t for t in times if t is not None])
            usual = f" (usually every {_ago(gap)})" if gap else ""
            found.append(
                SourceHealth(
                    name=source.name,
                    problem="silent",
                    detail=f"no new entry for {_ago(quiet)}{usual}",
                    last_ok_at=state.last_ok_at,
                    last_new_at=last_new,
                )
            )
    return found


def _last_runs_by_list(store: Store) -> dict[str, LastRun]:
    found: dict[str, LastRun] = {}
    for run in store.last_runs(limit=200):
        for item in run.list_outcomes():
            if item.list_name in found:
                continue
            found[item.list_name] = LastRun(
                at=run.at, ok=item.ok, status=item.status, period=item.period,
                message=item.message, deliveries=item.deliveries,
            )
    return found


def _timer_jobs(store: Store) -> dict[str, datetime | None]:
    """The next run times APScheduler stored for its jobs (empty when no service ran)."""
    try:
        if not sa_inspect(store.engine).has_table(JOBS_TABLE):
            return {}
        with store.begin() as conn:
            rows = conn.execute(
                text(f"SELECT id, next_run_time FROM {JOBS_TABLE} ORDER BY id")
            ).all()
    except (
        DigestError,
        SQLAlchemyError,
        ValueError,
        TypeError,
    ):  # APScheduler's table: never fail status over it
        return {}
    return {
        row.id: None
        if row.next_run_time is None
        else datetime.fromtimestamp(float(row.next_run_time), UTC)
        for row in rows
    }


def gather(
    config: Config, store: Store, *, now: datetime, settings: SchedulerSettings | None = None
) -> Status:
    """Collect the :class:`Status` at ``now`` (aware). Raises
    :class:`~digest.exceptions.StoreError` when the database fails."""
    settings = settings or settings_of(config)
    jobs = next_runs(config, store, now=now, settings=settings)
    sends = {j.id: j for j in jobs if j.kind == "send"}
    runs_by_list = _last_runs_by_list(store)
    lists: list[ListStatus] = []
    for list_config in config.lists:
        latest = store.editions_of(list_config.name, limit=1)
        edition = None
        if latest:
            row = latest[0]
            counts = store.delivery_counts(row.id)
            edition = LastEdition(
                period=row.period,
                status=counts.phase,  # derived from the rows (ledger_state)
                created_at=row.created_at,
                stories=row.story_count,
                deliveries=counts,
            )
        job = sends.get(f"send:{list_config.name}")
        lists.append(
            ListStatus(
                name=list_config.name,
                schedule=f"{list_config.schedule.cron} {list_config.schedule.timezone}",
                next_send=job.next_run if job else None,
                last_edition=edition,
                last_run=runs_by_list.get(list_config.name),
            )
        )
    runs = [
        RunLine(
            id=run.id,
            kind=run.kind,
            started_at=run.started_at,
            finished_at=run.finished_at,
            ok=run.ok,
            summary=_summary(run.kind, run.report),
        )
        for run in store.last_runs(limit=10)
    ]
    return Status(
        now=now,
        lease=current_lease(store),
        jobs=jobs,
        lists=lists,
        deliveries=store.delivery_states(),
        sources=source_health(config, store, now, settings),
        runs=runs,
        timer=_timer_jobs(store),
    )


def _summary(kind: str, report: Mapping[str, Any]) -> str:
    if kind == "poll":
        counts = report.get("counts") or {}
        return f"{sum(counts.values())} sources ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), {report.get('new_entries', 0)} new entries"
    if kind == "send":
        if report.get("resumed"):
            return f"resumed deliveries: {report.get('message', '')}"
        return f"{report.get('list_name')} {report.get('period') or ''}: {report.get('status')} {report.get('message', '')}".strip()
    if kind == "run":
        lists = report.get("lists") or []
        sources = report.get("sources") or []
        return f"{len(sources)} sources, lists: " + (
            ", ".join(f"{item.get('list_name')} {item.get('status')}" for item in lists) or "none"
        )
    return ""


__all__ = [
    "LastEdition",
    "LastRun",
    "ListStatus",
    "RunLine",
    "SourceHealth",
    "Status",
    "gather",
    "silent_for",
    "usual_gap",
]
