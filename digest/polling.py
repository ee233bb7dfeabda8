"""When a source is polled next, and what its stored state becomes after a fetch. Pure:
:func:`decide` is given the stored state, the fetch's outcome and ``now`` and returns a
:class:`SourceUpdate` that one store call applies (``Store.apply_source_update``). The same
rule serves ``digest poll``, ``digest run`` and ``digest schedule``.

Rules, in order:

1. Before fetching (:func:`skip_reason`): a source disabled after HTTP 410 is skipped until an
   editor re-enables it; a failing remote source is skipped until its ``next_poll_at``.
2. Validators (:func:`conditional`): a remote source is fetched with its ETag and
   Last-Modified, except once after :data:`UNCONDITIONAL_AFTER_304S` 304s in a row (a server
   whose validators are stuck would otherwise hide new entries for ever).
3. Next poll: ``now`` + the poll interval after a success or a 304; after the ``n``-th
   failure in a row ``interval * 2**n``, capped at ``max_backoff`` (never under the interval);
   a server's ``Retry-After`` (RFC 9110 section 10.2.3, seconds) is honoured when longer.
4. Permanent redirects: the stored URL moves only after the same 301/308 target was seen on
   :data:`MOVE_AFTER_REDIRECTS` fetches in a row.
5. HTTP 410 Gone disables the source (``disabled_reason``).
6. ``digest run`` (:func:`not_due_reason`) polls a healthy source only once its
   ``next_poll_at`` has come, unless a list about to be built wants it fresher than
   ``fresh_within``, or the clock is before its last fetch (``--at`` in the past); ``digest
   poll`` and the service's own poll decisions fetch what they are asked to.
7. An unchanged body (:func:`unchanged`: the fingerprint of the bytes, the URL and the parse's
   inputs equals the one stored after the last parse) is not parsed again.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from digest.store import SourceState

__all__ = [
    "FRESH_ENOUGH",
    "MOVE_AFTER_REDIRECTS",
    "UNCONDITIONAL_AFTER_304S",
    "Failed",
    "FetchOutcome",
    "Fetched",
    "NotModified",
    "Policy",
    "SourceUpdate",
    "backoff",
    "conditional",
    "decide",
    "host_key",
    "not_due_reason",
    "polled_in_round",
    "skip_reason",
    "unchanged",
]

UNCONDITIONAL_AFTER_304S = 24
"""A source answered 304 this many times in a row is fetched once without validators."""
MOVE_AFTER_REDIRECTS = 3
"""A feed URL moves after this many fetches in a row ended in the same permanent redirect."""
FRESH_ENOUGH = timedelta(minutes=5)
"""A source a list is about to be built from is polled by ``digest run`` when it was last
fetched longer ago than this, even before its ``next_poll_at`` (rule 6)."""


@dataclass(frozen=True)
class Policy:
    """How often one source is polled: its normal ``interval`` and the longest wait
    ``max_backoff`` between polls while it fails (``scheduler.max_backoff_minutes``)."""

    interval: timedelta
    max_backoff: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Fetched:
    """The fetch got a feed: HTTP ``status`` (None for a local file), the validators received,
    the target of a leading permanent redirect, and how many entries were new."""

    status: int | None = 200
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None
    new_entries: int = 0
    local: bool = False
    body_hash: str | None = None


@dataclass(frozen=True)
class NotModified:
    """A conditional GET answered 304."""


@dataclass(frozen=True)
class Failed:
    """The fetch or the parse failed: ``reason`` in words, the HTTP ``status`` when there was
    one, and the server's ``retry_after`` in seconds (429/503) when it sent one."""

    reason: str
    status: int | None = None
    retry_after: float | None = None

    @property
    def gone(self) -> bool:
        """True for HTTP 410 Gone: the feed will not come back."""
        return self.status == 410


FetchOutcome = Fetched | NotModified | Failed


@dataclass(frozen=True)
class SourceUpdate:
    """A source's stored state after one fetch: every column of the ``sources`` table but
    its name, plus ``failure`` (the :class:`Failed` outcome, kept as a value) and ``delay``
    (``next_poll_at - now``, for reports)."""

    url: str | None
    etag: str | None
    last_modified: str | None
    last_status: str
    last_http_status: int | None
    last_error: str | None
    last_fetch_at: datetime
    last_ok_at: datetime | None
    last_new_at: datetime | None
    error_count: int
    not_modified_count: int
    redirect_to: str | None
    redirect_count: int
    next_poll_at: datetime
    disabled_reason: str | None
    body_hash: str | None = None
    failure: Failed | None = None
    delay: timedelta = timedelta(0)

    def columns(self) -> dict[str, Any]:
        """The values for the ``sources`` row (column name -> value)."""
        skip = {"failure", "delay"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


def backoff(error_count: int, *, interval: timedelta, cap: timedelta = timedelta(hours=24)) -> timedelta:
    """Delay before the next poll of a source that has failed ``error_count`` times in a row.

    Exponential: ``interval * 2**error_count`` (0 errors: the normal interval; 1: twice;
    2: four times ...), never more than ``cap`` and never less than ``interval``.
    """
    if error_count <= 0:
        return interval
    exponent = min(error_count, 32)  # 2**32 intervals is beyond any cap; avoids huge numbers
    delay = interval * (2**exponent)
    return max(min(delay, cap), interval) if cap >= interval else interval


def skip_reason(state: SourceState, now: datetime, *, local: bool) -> str | None:
    """Why the source is not fetched at ``now``, or None when it is: disabled (410), or a
    remote source backing off after failures until ``next_poll_at`` (for ``digest poll``
    too; the reason names ``digest sources enable``, which ends the wait)."""
    if state.disabled_reason:
        return f"disabled: {state.disabled_reason}"
    if (
        not local
        and state.last_status == "failed"
        and state.next_poll_at is not None
        and state.next_poll_at > now
    ):
        return (
            f"backing off after errors until {state.next_poll_at:%Y-%m-%d %H:%M} UTC "
            f"(`digest sources enable {state.name}` ends the wait: the next poll fetches it)"
        )
    return None


def not_due_reason(
    state: SourceState, now: datetime, *, fresh_within: timedelta | None = None
) -> str | None:
    """Why ``digest run`` leaves a healthy source alone at ``now`` (rule 6), or None when it
    polls it: its ``next_poll_at`` has not come. A source never polled, one whose last poll
    failed (:func:`skip_reason` handles back-off), one last fetched after ``now`` (the clock
    was set back, ``--at`` in the past) or, with ``fresh_within``, one last fetched longer
    ago than that (a list is about to be built from it) is polled."""
    if state.next_poll_at is None or state.last_fetch_at is None or state.last_status == "failed":
        return None
    if now < state.last_fetch_at or state.next_poll_at <= now:
        return None
    if fresh_within is not None and now - state.last_fetch_at > fresh_within:
        return None
    return f"not due until {state.next_poll_at:%Y-%m-%d %H:%M} UTC (digest poll fetches it now)"


def unchanged(state: SourceState, body_hash: str) -> bool:
    """True when ``body_hash`` (the fingerprint of a fetched body and what its parse depends
    on) is the one stored after the source's last successful parse (rule 7)."""
    return state.body_hash is not None and state.body_hash == body_hash


def conditional(state: SourceState, *, local: bool) -> bool:
    """Whether to send the stored validators (rule 2 of the module docstring)."""
    return not local and state.not_modified_count < UNCONDITIONAL_AFTER_304S


def _redirect(state: SourceState, target: str | None) -> tuple[str | None, str | None, int]:
    """``(url, redirect_to, redirect_count)`` after a fetch that did or did not end in a
    permanent redirect to ``target``."""
    if target is None:
        return state.url, None, 0
    count = state.redirect_count + 1 if state.redirect_to == target else 1
    if count >= MOVE_AFTER_REDIRECTS:
        return target, None, 0
    return state.url, target, count


def decide(state: SourceState, outcome: FetchOutcome, now: datetime, policy: Policy) -> SourceUpdate:
    """The source's state after ``outcome`` at ``now`` (aware UTC), given its stored
    ``state`` and its ``policy``: validators, counters, redirect streak, disabling and the
    next poll (see the module docstring). Never raises."""
    base = SourceUpdate(
        url=state.url,
        etag=state.etag,
        last_modified=state.last_modified,
        last_status="ok",
        last_http_status=None,
        last_error=None,
        last_fetch_at=now,
        last_ok_at=now,
        last_new_at=state.last_new_at,
        error_count=0,
        not_modified_count=0,
        redirect_to=state.redirect_to,
        redirect_count=state.redirect_count,
        next_poll_at=now + policy.interval,
        disabled_reason=state.disabled_reason,
        body_hash=state.body_hash,
        delay=policy.interval,
    )
    if isinstance(outcome, Fetched):
        update = replace(base, last_http_status=outcome.status, body_hash=outcome.body_hash)
        if outcome.new_entries:
            update = replace(update, last_new_at=now)
        if not outcome.local:
            url, redirect_to, count = _redirect(state, outcome.permanent_redirect)
            update = replace(
                update,
                etag=outcome.etag,
                last_modified=outcome.last_modified,
                url=url,
                redirect_to=redirect_to,
                redirect_count=count,
            )
        return update
    if isinstance(outcome, NotModified):
        return replace(
            base,
            last_status="not-modified",
            last_http_status=304,
            not_modified_count=state.not_modified_count + 1,
        )
    errors = state.error_count + 1
    delay = backoff(errors, interval=policy.interval, cap=policy.max_backoff)
    if outcome.retry_after is not None and outcome.retry_after > 0:
        delay = max(delay, timedelta(seconds=outcome.retry_after))
    disabled = state.disabled_reason
    if outcome.gone:
        disabled = f"the feed is gone (HTTP 410) since {now:%Y-%m-%d}"
    return replace(
        base,
        last_status="failed",
        last_http_status=outcome.status,
        last_error=outcome.reason,
        last_ok_at=state.last_ok_at,
        error_count=errors,
        not_modified_count=state.not_modified_count,
        next_poll_at=now + delay,
        disabled_reason=disabled,
        failure=outcome,
        delay=delay,
    )


def host_key(name: str, host: str | None) -> str:
    """The unit several polling workers claim: a source's host (so one worker at a time
    fetches from a host and the per-host limit holds across workers), or ``file:NAME`` for
    a local file (no host to be polite to)."""
    return f"host:{host.lower()}" if host else f"file:{name}"


def polled_in_round(state: SourceState | None, round_start: datetime) -> bool:
    """True when a source was fetched at or after ``round_start`` (aware UTC): another
    worker of the same round already polled it, so it is not polled again."""
    return state is not None and state.last_fetch_at is not None and state.last_fetch_at >= round_start
