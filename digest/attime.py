"""What an operator means by ``--at``: a time, or a date alone.

``--at 2026-02-18T07:00Z`` is that instant. ``--at 2026-02-18`` (a date alone) means the
**edition of that day**: the end of that day in the list's timezone (23:59:59.999999 local),
so the edition built is the last one due on that date (for a daily list, that day's;
for a weekly list on another weekday, the latest before it) and never the previous day's,
as midnight UTC would give. Pure functions; no clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

AtValue = datetime | date
"""A parsed ``--at``: an aware :class:`datetime` (UTC) or a :class:`date` alone."""


def parse_at_value(text: str) -> AtValue:
    """``text`` as ISO 8601: a date alone (``2026-02-18``) gives a :class:`date`; a date and
    time gives an aware UTC :class:`datetime` (``Z`` or an offset; a time without one is UTC).
    Raises ``ValueError`` for anything else."""
    value = text.strip()
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        return date.fromisoformat(value)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def at_for_list(value: AtValue, timezone: str) -> datetime:
    """The instant (aware, UTC) ``value`` stands for in a list whose schedule is in the IANA
    ``timezone``: a :class:`datetime` unchanged (naive taken as UTC); a :class:`date` the last
    microsecond of that day there (see the module docstring)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    end = datetime.combine(value, time.max, tzinfo=ZoneInfo(timezone))
    return end.astimezone(UTC)


__all__ = ["AtValue", "at_for_list", "parse_at_value"]
