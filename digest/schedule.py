"""When each list's editions are due: fire times, period keys, the latest due edition and
its lateness. Pure: every function takes the time it decides on; nothing reads a clock.

A list's schedule is a five-field crontab expression (crontab's weekday numbers: 0 or 7 =
Sunday) read in an IANA timezone. The rules, in order:

1. The crontab names *wall times* on the list's local calendar. They are enumerated on a
   clock without daylight saving (APScheduler's ``CronTrigger`` evaluated in UTC, where its
   DST bug cannot arise: asked after a UTC instant in a zone with DST it can lose the fire
   time after a change, e.g. New York's 00:00 of 2026-03-09).
2. Each wall time becomes one UTC instant (PEP 495 ``fold=0``): a time in the repeated hour
   of an autumn night is its *first* occurrence (once, never twice); a time in the skipped
   spring hour (or Lord Howe's skipped half hour) is the instant the clock would show had it
   not jumped, i.e. the gap's length later by the clock (02:30 in New York on 2026-03-08 is
   03:30 EDT). Two wall times that land on one instant fire once, named by the wall time
   that exists.
3. The period key names the edition by its *wall* time, never by the instant: the local date
   (``2026-02-18``) for a list sent at most once a day, else date and time
   (``2026-02-18T0700``). So every local day of a daily list has exactly one period and one
   fire time, whatever the zone does that night.
4. Local-time sending (:func:`local_send_time`): a list with ``send_at`` delivers each
   subscriber at that wall time in the subscriber's own zone, one edition per local day.
5. Lateness: the edition of the latest fire time at or before ``now`` is *due* while
   ``now - fire <= grace`` and *missed* after (:func:`due`). One rule for ``digest run``
   under cron and for ``digest schedule``.
6. What is owed depends on the store's facts too (:func:`standing`): a period with an
   edition is finished whatever its lateness (``stored``); a period built with no stories
   is decided (``empty``: nothing sent, nothing missed, not built again by a later run);
   only then rule 5's ``due`` or ``missed``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

__all__ = [
    "Due",
    "Fire",
    "Schedule",
    "Standing",
    "due",
    "fires",
    "latest",
    "local_send_time",
    "next_after",
    "period_key",
    "standing",
    "validate_cron",
]

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: How far wall times are enumerated beyond a span: more than any UTC offset change.
_MARGIN = timedelta(days=1)
#: How far back :func:`latest` looks, widening: a daily list needs the first step only.
_LOOKBACK = (timedelta(days=2), timedelta(days=9), timedelta(days=32), timedelta(days=400))


class Schedule(Protocol):
    """What the schedule of a list is made of (``config.ScheduleConfig`` is one)."""

    @property
    def cron(self) -> str: ...

    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True)
class Fire:
    """One scheduled time of a list.

    ``at``: the aware UTC instant it fires; ``wall``: the naive local wall time the crontab
    names (in a spring gap it does not exist, and ``at`` is the gap's length later by the
    clock); ``period``: the key of the edition it starts.
    """

    at: datetime
    wall: datetime
    period: str


@dataclass(frozen=True)
class Due:
    """The edition a list owes at ``now``: its latest :class:`Fire` at or before ``now``,
    how ``late`` ``now`` is after it, and ``status``: ``due`` within the grace, else
    ``missed`` (it is not started unless sent on purpose)."""

    fire: Fire
    late: timedelta
    status: Literal["due", "missed"]

    @property
    def missed(self) -> bool:
        """True when the edition is later than the grace."""
        return self.status == "missed"


def _crontab_weekdays(field: str) -> str:
    """Translate crontab day-of-week numbers (0 or 7 = Sunday, 1 = Monday) to the names
    APScheduler 3 reads unambiguously: its ``from_crontab`` takes 0 as *Monday*
    (agronholm/apscheduler#286), which would move every weekday schedule by a day. A step
    over every day (``*/2``) counts from Sunday, as crontab(5) does. Raises ``ValueError``
    naming the item for a number outside 0-7, a range that runs backwards or a step under 1
    (``1-8`` was read as every day, ``8`` as Monday)."""
    items = []
    for item in field.split(","):
        body, _, step = item.partition("/")
        if body == "*" and step:
            body = "0-6"
        elif not any(ch.isdigit() for ch in body):
            items.append(item)
            continue
        lo, _, hi = body.partition("-")
        try:
            start, stop = int(lo), int(hi or lo) if hi or not step else 6
            every = int(step or 1)
        except ValueError:
            raise ValueError(f"day of week {item!r}: write numbers (0-7) or names (mon-fri), not both") from None
        if not (0 <= start <= 7 and 0 <= stop <= 7):
            raise ValueError(f"day of week {item!r}: day numbers are 0-7 (0 or 7 = Sunday)")
        if start > stop or every < 1:
            raise ValueError(f"day of week {item!r}: a range runs from low to high with a step of 1 or more")
        days = range(start, stop + 1, every)
        items.extend(_DAY_NAMES[day % 7] for day in days)
    return ",".join(dict.fromkeys(items))


@functools.lru_cache(maxsize=256)
def _wall_trigger(cron: str) -> CronTrigger:
    """The crontab as a trigger on a clock without DST (UTC stands for the local wall)."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekday),
        timezone=UTC,
    )


def validate_cron(cron: str) -> str:
    """``cron`` unchanged when it is a valid five-field crontab expression.
    Raises ``ValueError`` (saying what is wrong) otherwise."""
    _wall_trigger(cron)
    return cron


def _once_a_day(cron: str) -> bool:
    minute, hour = cron.split()[:2]
    return minute.isdigit() and hour.isdigit()


def _period(cron: str, wall: datetime) -> str:
    return wall.strftime("%Y-%m-%d") if _once_a_day(cron) else wall.strftime("%Y-%m-%dT%H%M")


def _exists(wall: datetime, zone: ZoneInfo, instant: datetime) -> bool:
    return instant.astimezone(zone).replace(tzinfo=None) == wall


def fires(schedule: Schedule, start: datetime, end: datetime) -> list[Fire]:
    """The schedule's fire times with ``start < at <= end`` (aware datetimes), oldest first,
    one per instant and one per wall time (see the module docstring for DST nights).
    An empty list when the span is empty or at the edge of ``datetime``'s range; raises
    ``ValueError`` for an invalid crontab and ``ZoneInfoNotFoundError`` for an unknown zone.
    """
    trigger = _wall_trigger(schedule.cron)
    zone = ZoneInfo(schedule.timezone)
    try:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        first = start.astimezone(zone).replace(tzinfo=None) - _MARGIN
        last = end.astimezone(zone).replace(tzinfo=None) + _MARGIN
    except OverflowError:
        return []
    by_instant: dict[datetime, Fire] = {}
    cursor = first.replace(tzinfo=UTC)
    while True:
        try:
            wall_utc = trigger.get_next_fire_time(None, cursor)
        except OverflowError:
            break
        if wall_utc is None:
            break
        wall = wall_utc.astimezone(UTC).replace(tzinfo=None)
        if wall > last:
            break
        cursor = wall_utc + timedelta(seconds=1)
        try:
            instant = wall.replace(tzinfo=zone).astimezone(UTC)
        except OverflowError:
            break
        if not start < instant <= end:
            continue
        known = by_instant.get(instant)
        if known is None or (
            not _exists(known.wall, zone, instant) and _exists(wall, zone, instant)
        ):
            by_instant[instant] = Fire(at=instant, wall=wall, period=_period(schedule.cron, wall))
    return [by_instant[at] for at in sorted(by_instant)]


def latest(schedule: Schedule, at: datetime) -> Fire | None:
    """The schedule's latest fire at or before ``at`` (aware), looking back at most 400
    days; ``None`` when it never fired in that span."""
    for lookback in _LOOKBACK:
        try:
            start = at - lookback
        except OverflowError:  # ``at`` in year 1: nothing was scheduled before it
            return None
        found = fires(schedule, start, at)
        if found:
            return found[-1]
    return None


def next_after(schedule: Schedule, after: datetime) -> Fire | None:
    """The schedule's first fire strictly after ``after`` (aware), looking ahead at most
    400 days; ``None`` when there is none."""
    for ahead in _LOOKBACK:
        try:
            end = after + ahead
        except OverflowError:
            return None
        found = fires(schedule, after, end)
        if found:
            return found[0]
    return None


def period_key(schedule: Schedule, scheduled: datetime) -> str:
    """The period key of the edition scheduled at the instant ``scheduled`` (a fire time):
    the period of the latest fire at or before it; for an instant that is no fire time at
    all, its local date (or date and time) in the list's zone."""
    fire = latest(schedule, scheduled)
    if fire is not None and fire.at == scheduled.astimezone(UTC):
        return fire.period
    local = scheduled.astimezone(ZoneInfo(schedule.timezone)).replace(tzinfo=None)
    return _period(schedule.cron, local)


def due(schedule: Schedule, now: datetime, grace: timedelta) -> Due | None:
    """The edition owed at ``now`` (aware): the latest fire at or before it, ``due`` while
    ``now - fire.at <= grace`` (a timedelta), else ``missed``; ``None`` when the schedule
    never fired. The one lateness rule of ``digest run`` and ``digest schedule``."""
    fire = latest(schedule, now)
    if fire is None:
        return None
    late = now.astimezone(UTC) - fire.at
    return Due(fire=fire, late=late, status="due" if late <= grace else "missed")


Standing = Literal["stored", "empty", "due", "missed"]


def lateness(late: timedelta) -> str:
    """``late`` as a reader says it, for every message that reports a missed edition:
    ``"45 s"``, ``"12 min"``, ``"15 h 34 min"``, ``"3 days 4 h"`` (rounded down; negative is
    ``"0 s"``). `digest status` said "56074s late" where `digest run` said "934 min late"."""
    seconds = max(int(late.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


def unread_sources(last_statuses: dict[str, str | None]) -> list[str]:
    """The sources, of ``last_statuses`` (source name -> the ``last_status`` of its latest
    poll, ``None`` when never polled), that gave nothing at their latest poll: failed or
    never read. An edition built with no stories decides its period (``"empty"``, not built
    again) only when this is empty; otherwise nothing was heard from those sources (an
    outage, a broken feed), the period stays owed (``due`` within the grace, ``missed``
    after) and a later run builds it again."""
    return sorted(name for name, status in last_statuses.items() if status in (None, "failed"))


def standing(owed: Due, *, stored: bool, empty: bool) -> Standing:
    """What the period ``owed`` names is at its ``now``, given two facts of the store:
    ``stored`` (the period has an edition: it is finished, however late: ``"stored"``) and
    ``empty`` (the period was built and had no stories: ``"empty"``, decided, not missed and
    not built again; ``digest send`` still builds it on purpose); otherwise ``owed.status``
    (``"due"`` within the grace, ``"missed"`` after). The one rule ``digest run``,
    ``digest schedule`` and ``digest status`` apply."""
    if stored:
        return "stored"
    if empty:
        return "empty"
    return owed.status


def local_send_time(
    *,
    scheduled: datetime,
    list_timezone: str,
    subscriber_timezone: str,
    send_at: time,
) -> datetime:
    """When one subscriber receives the edition scheduled at ``scheduled`` (aware UTC):
    ``send_at`` on their own calendar day ``D = P + k``, where ``P`` is the edition's local
    date in the list's timezone.

    The day offset ``k`` is the smallest whose ``send_at`` is not before the edition time,
    both counted in *standard* time (daylight saving removed). It is therefore the same for
    every edition of the year, so each subscriber gets exactly one edition per local day,
    across every DST change of either timezone: none skipped, none twice. On the few days a
    DST difference puts the real ``send_at`` before the edition time, the returned time is
    in the past when the edition is built and the row goes out at once (at most the DST
    difference late, never early, never twice).
    """
    list_tz = ZoneInfo(list_timezone)
    sub_tz = ZoneInfo(subscriber_timezone)
    built_local = scheduled.astimezone(list_tz)
    built_std = scheduled.astimezone(UTC) + (built_local.dst() or timedelta(0))
    period_date = built_local.date()

    def at_day(day: date) -> tuple[datetime, datetime]:
        local = datetime.combine(day, send_at, tzinfo=sub_tz)
        real = local.astimezone(UTC)
        return real, real + (local.dst() or timedelta(0))

    for k in range(-2, 4):
        real, std = at_day(period_date + timedelta(days=k))
        if std >= built_std:
            return real
    return at_day(period_date + timedelta(days=4))[0]  # unreachable for real timezones
