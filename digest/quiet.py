"""What a ``digest run`` tells the operator when nothing is asked for (cron mails any output).

The rule, in order, for each row of a :class:`~digest.types.RunReport`:

1. a failed source or list, and every run-level error, is always told;
2. a source is told when it stored new entries, or was parsed afresh with warnings;
   an unchanged, not-modified or skipped (not due, disabled) source with nothing new is not;
3. a list is told unless its report only restates a stored state: ``not-due``, ``exists``
   (the edition was built before), ``scheduled``, or ``repeated`` (a ``missed`` period
   already reported by an earlier run, an ``empty`` period decided by an earlier run).

A run with nothing to tell prints nothing, as rss2email and cron-friendly tools do; ``-v``
prints every row, and ``digest status`` shows the whole state. Exit codes do not change.
"""

from __future__ import annotations

from dataclasses import replace

from digest.types import ListReport, RunReport, SourceReport

RESTATED_LIST_STATUSES = frozenset({"not-due", "exists", "scheduled"})
"""``ListReport.status`` values that say what the store already said, with nothing done."""


def source_worth_telling(report: SourceReport) -> bool:
    """True when ``report`` tells of something this run did or failed to do (rule 2)."""
    if report.status == "failed" or report.new_entries > 0:
        return True
    return report.status == "ok" and not report.unchanged and bool(report.warnings)


def list_worth_telling(report: ListReport) -> bool:
    """True when ``report`` tells of something new (rule 3): not a restated state."""
    if report.status == "failed":
        return True
    if report.repeated:
        return False
    return report.status not in RESTATED_LIST_STATUSES


def worth_telling(report: RunReport) -> RunReport:
    """``report`` with only the rows worth telling (the rules above); a report with no
    sources, lists or errors left means the run has nothing to tell. ``ok`` is unchanged
    (a failed row is always kept)."""
    return replace(
        report,
        sources=[s for s in report.sources if source_worth_telling(s)],
        lists=[r for r in report.lists if list_worth_telling(r)],
        errors=list(report.errors),
    )


def nothing_to_tell(report: RunReport) -> bool:
    """True when :func:`worth_telling` leaves no row and no error."""
    told = worth_telling(report)
    return not (told.sources or told.lists or told.errors)
