"""The editor's web pages, the public archive and its Atom feed, as Starlette routes.

:func:`editor_routes` returns the routes; ``digest.web.create_app`` mounts them beside the
unsubscribe and preferences pages. Paths (GET unless marked)::

    /editor/login            GET form, POST token          (public)
    /editor/logout           POST (ends every editor session)
    /editor/                 lists overview: schedule, next send, last edition, counts, sources
    /editor/sources          per source: last fetch, HTTP status, error, entries per day, silence
    /editor/lists/{list}/preview         the edition due at ?at= (default: the next send)
    /editor/lists/{list}/preview/email   that email's HTML alone, for the sandboxed frame
    /editor/lists/{list}/why             every story's score, reasons, entries and sources; the
                                         entries left out, by kind (digest.web.left_out)
    /editor/lists/{list}/adjust          POST split / move / merge / pin / boost / drop /
                                         rewrite summary (or clear); 409 once sent
    /editor/lists/{list}/test            POST send a test of the previewed edition
    /editor/lists/{list}/approve         POST approve (or withdraw approval of) an edition
    /archive/{list}/                     sent editions of a list             (public)
    /archive/{list}/feed.atom            Atom feed of them (RFC 4287)        (public)
    /archive/{list}/{period}             one sent edition, as mailed         (public)
    /static/editor.css                   the pages' style sheet              (public)

Security rules this module keeps:

- Editor pages need a session cookie obtained by posting the token from the environment
  variable ``DIGEST_EDITOR_TOKEN`` (:data:`TOKEN_ENV`, at least 32 characters: a shorter one
  is refused at startup) to the login form; without that variable the editor pages are off.
  Sessions are :mod:`digest.web.sessions` (Starlette's signed ``SessionMiddleware`` cookie,
  ``HttpOnly``, ``SameSite=Strict``, valid :data:`SESSION_HOURS`, with a server-side epoch:
  logging out or changing the token ends every session); every POST also carries the
  session's CSRF token. Failed logins are throttled per client address
  (:mod:`digest.web.throttle`, ``web.login_attempts`` per ``web.login_window_minutes``).
- Every response carries a strict Content-Security-Policy (:data:`PAGE_CSP`: no scripts at
  all, styles and images only from this origin). The email HTML (preview frame, archive
  page) is served on its own URL with :data:`EMAIL_CSP`, which adds ``sandbox``: no scripts,
  an opaque origin; the preview ``<iframe>`` is also ``sandbox``-ed without
  ``allow-same-origin``. Feed text appears elsewhere only as escaped text (Jinja2
  autoescape), never as markup; links are shown only when they are absolute http(s).
- Error pages escape what they echo.

The build step is reached through an :class:`EditorBackend` (by default the pipeline's
``build``), so the preview is the exact email ``publish`` would send: the preview shows the
one :class:`~digest.pipeline.Build` that ``publish`` makes (base edition, adjusted edition,
its renderings, what was left out for size), nothing rendered a second time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from email_validator import EmailNotValidError, validate_email
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest.adjust import (
    ACTIONS,
    RESHAPE,
    Adjustment,
    EditionSent,
    boost_factor,
    clean_summary,
    dropped_stories,
    entry_ref,
    refuse_if_sent,
    sent_note,
)
from digest.attime import at_for_list
from digest.config import Config, ListConfig, SourceConfig
from digest.exceptions import ConfigError, DigestError
from digest.message import apply_substitutions, build_message, personalise, with_substitutions
from digest.render import is_http_url
from digest.status import source_health
from digest.store import EditionParts, EditionRow, StateCounts, Store
from digest.transports import Outgoing, Transport
from digest.types import DeliveryState, Edition, RenderedEdition, SendOutcome, Story, Subscriber
from digest.web.checks import EDITOR_TOKEN_ENV, short_secret
from digest.web.headers import EMAIL_CSP, FRAME_SANDBOX, security_headers
from digest.web.left_out import STORY_KINDS, left_out_groups
from digest.web.sessions import EditorSessions
from digest.web.throttle import LoginThrottle, ThrottlePolicy

if TYPE_CHECKING:
    from digest.pipeline import Build

log = logging.getLogger("digest.editor")

TOKEN_ENV = EDITOR_TOKEN_ENV
"""Environment variable holding the editor's login token (a random string of at least
:data:`~digest.web.checks.MIN_SECRET_CHARS` characters)."""

SESSION_COOKIE = "digest_editor"
SESSION_HOURS = 12
CLIP_BYTES = 102 * 1024
"""Gmail clips a message whose HTML is larger than about 102 KB."""
SOURCE_DAYS = 7
"""Days of entry counts on the sources page."""
BUILD_CACHE_SECONDS = 30.0
"""How long an assembled edition is reused (the page and its frame ask within a second)."""

PREVIEW_VALUES = {
    "name": "Ada Lovelace",
    "email": "ada.reader@example.com",
}
"""Dummy per-recipient values shown in the preview and filled into a test send, so both greet
the way a sent email does (the subscriber's whole name: "Hello Ada Lovelace."); the links go
to ``/u/preview``."""

WEBPAGES = Path(__file__).resolve().parent.parent / "webpages"


def utcnow() -> datetime:
    """The current time, aware, in UTC (the web app's clock)."""
    return datetime.now(UTC)


# ----------------------------------------------------------------------------------------
# The build step, reached through a small interface so tests can give hand-made editions


class EditorBackend(Protocol):
    """What the editor needs from the pipeline.

    - ``build``: the :class:`~digest.pipeline.Build` of ``list_config`` due at ``at`` (the
      base edition, the adjusted one, its rendering for the whole list and for ``topics``,
      what was left out for size), exactly as ``publish`` would send it; ``None`` when the
      schedule never fired before ``at``.
    - ``next_send``: the list's first scheduled time after ``after``.
    - ``narrow``: the edition as a subscriber with topic choice ``topics`` receives it.
    - ``transport``: the list's configured transport; the outbox writes into ``folder``.
    """

    def build(
        self, config: Config, store: Store, list_config: ListConfig, *, at: datetime,
        now: datetime, topics: Sequence[str] = (),
    ) -> Build | None: ...  # fmt: skip

    def next_send(self, list_config: ListConfig, after: datetime) -> datetime | None: ...

    def narrow(self, edition: Edition, topics: Sequence[str]) -> Edition: ...

    def transport(
        self, config: Config, store: Store, list_config: ListConfig, folder: Path
    ) -> Transport: ...


class PipelineBackend:
    """The real :class:`EditorBackend`: ``digest.pipeline.build`` and ``digest.edition``."""

    def build(
        self, config: Config, store: Store, list_config: ListConfig, *, at: datetime,
        now: datetime, topics: Sequence[str] = (),
    ) -> Build | None:  # fmt: skip
        from digest.pipeline import build

        # the one build publish makes: base, adjusted edition and renderings
        return build(config, store, list_config, at=at, now=now, choices=[topics] if topics else ())

    def next_send(self, list_config: ListConfig, after: datetime) -> datetime | None:
        from digest.edition import next_edition_time

        return next_edition_time(list_config, after)

    def narrow(self, edition: Edition, topics: Sequence[str]) -> Edition:
        from digest.edition import for_topics

        return for_topics(edition, topics)

    def transport(
        self, config: Config, store: Store, list_config: ListConfig, folder: Path
    ) -> Transport:
        import inspect

        from digest.pipeline import make_transport

        if "secret" in inspect.signature(make_transport).parameters:
            return make_transport(config, list_config, folder, secret=store.secret())
        return make_transport(config, list_config, folder)  # type: ignore[call-arg]


# ----------------------------------------------------------------------------------------
# Preview: build, adjust, narrow, render, personalise with dummy values, check


@dataclass(frozen=True)
class Check:
    """One editor check: ``name``, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Preview:
    """What the preview shows for one list, time and topic choice.

    ``base`` is the assembled edition before adjustments; ``edition`` the adjusted (and,
    for a topic choice, narrowed) one that ``rendered`` was made from; ``html``/``text`` are
    ``rendered``'s parts personalised with :data:`PREVIEW_VALUES`.
    """

    list_config: ListConfig
    at: datetime
    scheduled: datetime
    base: Edition
    edition: Edition
    rendered: RenderedEdition
    html: str
    text: str
    adjustments: tuple[Adjustment, ...]
    dropped: tuple[Story, ...]
    topics: tuple[str, ...]
    checks: tuple[Check, ...] = field(default=())
    left_out: frozenset[str] = frozenset()

    def in_email(self, story: Story) -> bool:
        """Whether ``story`` made it into the email (not left out for the size budget)."""
        return story.key not in self.left_out

    @property
    def html_bytes(self) -> int:
        """Size of the personalised HTML in bytes (UTF-8)."""
        return len(self.html.encode("utf-8"))


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values)
        elif tag == "a" and "href" in values:
            self.links.append(values["href"] or "")


def email_checks(html: str, text: str, edition: Edition, *, omitted: int = 0) -> tuple[Check, ...]:
    """The checks a careful editor runs on a personalised email before it goes out:
    the edition has stories (one without any is not sent: ``publish`` reports "nothing
    sent"), every image has alt text, every link is absolute http(s), no section is empty,
    the text part is present, the HTML is under Gmail's clipping size (:data:`CLIP_BYTES`),
    and no story was left out for size."""
    parser = _LinkCollector()
    parser.feed(html)
    parser.close()
    no_alt = [img.get("src") or "?" for img in parser.images if not (img.get("alt") or "").strip()]
    bad_links = [href for href in parser.links if not is_http_url(href)]
    empty = [s.title or s.name for s in edition.sections if not s.stories]
    size = len(html.encode("utf-8"))
    n_img, n_links = len(parser.images), len(parser.links)
    n_stories = len(edition.stories)
    return (
        Check(
            "Has stories",
            n_stories > 0,
            f"{n_stories} stories" if n_stories else "none in this window: this edition is not sent",
        ),
        Check(
            "Every image has alt text",
            not no_alt,
            f"{n_img} images" if not no_alt else f"{len(no_alt)} of {n_img} without alt: " + ", ".join(no_alt[:5]),
        ),
        Check(
            "Every link is absolute http(s)",
            not bad_links,
            f"{n_links} links" if not bad_links else f"{len(bad_links)} of {n_links}: " + ", ".join(bad_links[:5]),
        ),
        Check("No empty section", not empty, f"{len(edition.sections)} sections" if not empty else ", ".join(empty)),
        Check("Text part present", bool(text.strip()), f"{len(text.splitlines())} lines"),
        Check("Under Gmail's clipping size", size <= CLIP_BYTES, f"{size / 1024:.1f} KB of {CLIP_BYTES // 1024} KB"),
        Check(
            "Every story fits",
            omitted == 0,
            "all stories shown" if omitted == 0 else f"{omitted} left out for size (linked on the web)",
        ),
    )


def preview_values(config: Config) -> dict[str, str]:
    """The per-recipient values of a preview: a dummy reader and links that unsubscribe
    nobody (``/u/preview``, ``/p/preview``)."""
    base = config.site.base
    return {
        **PREVIEW_VALUES,
        "unsubscribe_url": f"{base}/u/preview",
        "preferences_url": f"{base}/p/preview",
    }


def archive_values(config: Config, list_name: str) -> dict[str, str]:
    """The per-recipient values of an archived edition read on the web: no reader, and the
    links point to the list's archive."""
    url = f"{config.site.base}/archive/{list_name}/"
    return {"name": "there", "email": "", "unsubscribe_url": url, "preferences_url": url}


# ----------------------------------------------------------------------------------------
# Helpers: templates, times, query parameters


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(WEBPAGES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["kb"] = lambda n: f"{n / 1024:.1f} KB"
    env.filters["num"] = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)
    env.globals["is_http_url"] = is_http_url
    return env


_ENV = _environment()


def _when(value: datetime | None, tz: str = "UTC") -> str:
    """``"Wed 18 Feb 2026, 07:00 Europe/London"``; ``"never"`` for None."""
    if value is None:
        return "never"
    local = value.astimezone(ZoneInfo(tz))
    return f"{local:%a %d %b %Y, %H:%M} {tz}"


def _short(value: datetime | None) -> str:
    """``"17 Feb 18:14"`` in UTC; ``"—"`` for None."""
    return "—" if value is None else f"{value.astimezone(UTC):%d %b %H:%M}"


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def parse_at(value: str, timezone: str) -> datetime:
    """An ``?at=`` value as an aware UTC time: ISO 8601 with an offset or ``Z``, a local time
    without one (``2026-02-18T07:00``, what a ``datetime-local`` input sends), read in the
    list's ``timezone``, or a date alone: that day's edition (:mod:`digest.attime`). Raises
    ``ValueError`` when it is not such a time."""
    text = value.strip()
    if len(text) > 40:
        raise ValueError("too long")
    if len(text) == 10:
        return at_for_list(date.fromisoformat(text), timezone)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SAFE_NEXT = re.compile(r"^/editor/[A-Za-z0-9/_.?=&%:+-]*$")
_PERIOD = re.compile(r"^[0-9A-Za-z:_.-]{1,64}$")


def _query(at: datetime | None, topics: Sequence[str] = (), **extra: str) -> str:
    pairs: list[tuple[str, str]] = []
    if at is not None:
        pairs.append(("at", _iso(at)))
    pairs += [("topics", t) for t in topics]
    pairs += [(k, v) for k, v in extra.items() if v]
    return ("?" + urlencode(pairs)) if pairs else ""


class _Http(Exception):
    """An error page: ``status`` and a message (escaped when shown)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


NOTICES = {
    "pin": "Pinned: the story now leads its section.",
    "unpin": "Pin removed.",
    "boost": "Boosted.",
    "unboost": "Boost removed.",
    "drop": "Dropped from this edition.",
    "undrop": "Story restored.",
    "summary": "Summary rewritten for this edition.",
    "unsummary": "The original summary is back.",
    "split": "Split off: the entry is a story of its own in this edition.",
    "unsplit": "The entry is back in its story.",
    "move": "Moved: the entry is part of the other story in this edition.",
    "unmove": "The entry is back where clustering put it.",
    "merge": "Merged: one story in this edition.",
    "unmerge": "The stories are apart again.",
    "test-sent": "Test sent to {to}.",
    "test-failed": "The test to {to} failed: {error}",
    "no-subscriber": "No subscriber {to} on this list: showing the whole edition.",
    "approve": "Approved: this edition may be sent.",
    "unapprove": "Approval withdrawn: this edition will wait.",
}


# ----------------------------------------------------------------------------------------
# The routes


def pending_subscribers(config: Config, list_config: ListConfig) -> dict[str, object] | None:
    """What the editor's list page says of a list with no stored subscriber yet: its
    subscriber file is imported only when the first edition is built, so the page counts the
    good rows of that file (``{"file", "count", "error"}``; ``error`` when the file cannot be
    read, :class:`~digest.subscribers.SubscriberFileError`); None when the list has no file."""
    from digest.subscribers import SubscriberFileError, list_topics, read_csv

    if list_config.subscribers is None:
        return None
    path = str(list_config.subscribers)
    try:
        read = read_csv(path, list_config.name, topics=list_topics(config, list_config))
    except SubscriberFileError as exc:
        return {"file": path, "count": 0, "error": str(exc)}
    return {"file": path, "count": len(read.rows), "error": None}


def editor_routes(
    config: Config,
    store: Store,
    *,
    clock: Callable[[], datetime] = utcnow,
    backend: EditorBackend | None = None,
    token: str | None = None,
) -> list[BaseRoute]:
    """The editor pages, the public archive and its Atom feed, as Starlette routes.

    ``token`` is the editor's login token; ``None`` reads it from the environment
    variable :data:`TOKEN_ENV` (when neither is set, the editor pages are off and only the
    archive works). ``clock`` gives the current UTC time (tests pass a fixed one);
    ``backend`` reaches the pipeline (default :class:`PipelineBackend`).
    Every response carries the headers of :func:`security_headers`. Raises
    :class:`~digest.exceptions.ConfigError` when the token is shorter than
    :data:`~digest.web.checks.MIN_SECRET_CHARS` characters.
    """
    backend = backend or PipelineBackend()
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    if token and (problem := short_secret(TOKEN_ENV, token)):
        raise ConfigError(problem)
    sessions = EditorSessions(token, store, cookie=SESSION_COOKIE, max_age=SESSION_HOURS * 3600)
    throttle = LoginThrottle(
        ThrottlePolicy(config.web.login_attempts, timedelta(minutes=config.web.login_window_minutes))
    )
    builds: dict[tuple[Any, ...], tuple[float, Build]] = {}
    period_of_at: dict[tuple[str, str], str] = {}

    def page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        session = sessions.csrf(request)
        body = _ENV.get_template(name).render(
            request_path=request.url.path,
            logged_in=session is not None,
            csrf=session or "",
            site=config.site,
            lists=config.lists,
            **context,
        )
        return security_headers(HTMLResponse(body, status_code=code))  # type: ignore[return-value]

    def error(request: Request, status: int, message: str) -> HTMLResponse:
        log.info("editor.error status=%d path=%s", status, request.url.path)
        return page(request, "error.html", status, status=status, message=message)

    def list_or_404(name: str) -> ListConfig:
        try:
            return config.list(name)
        except KeyError:
            raise _Http(404, f"There is no list called {name!r}.") from None

    def guarded(
        handler: Callable[[Request], Awaitable[Response]], *, editor: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if editor:
                session = sessions.csrf(request)
                if session is None:
                    if request.method != "GET":
                        return error(request, 403, "Your editor session has ended: log in again.")
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return security_headers(
                        RedirectResponse("/editor/login?" + urlencode({"next": target}), status_code=303)
                    )
                if request.method == "POST":
                    form = await request.form()
                    given = str(form.get("csrf") or "")
                    if not hmac.compare_digest(given.encode("utf-8", "replace"), session.encode()):
                        return error(request, 403, "This form is out of date: reload the page and try again.")
            try:
                return await handler(request)
            except _Http as exc:
                return error(request, exc.status, exc.message)
            except DigestError as exc:
                log.warning("editor.failed path=%s error=%r", request.url.path, str(exc))
                return error(request, 500, f"digest could not do this: {exc}")

        return endpoint

    # -- preview machinery --------------------------------------------------------------

    def topic_choice(request: Request, list_config: ListConfig) -> tuple[tuple[str, ...], str]:
        """``(topics, notice)`` from ``?topics=`` or ``?subscriber=``."""
        known = set(list_config.section_names)
        chosen = [t for t in request.query_params.getlist("topics") if t in known]
        email = (request.query_params.get("subscriber") or "").strip()
        if email and not chosen:
            for sub in store.subscribers_of(list_config.name, status=None):
                if sub.email.lower() == email.lower():
                    return tuple(sorted(sub.topics)), ""
            return (), "no-subscriber"
        return tuple(sorted(set(chosen))), ""

    def resolve_at(request: Request, list_config: ListConfig, now: datetime) -> datetime:
        raw = request.query_params.get("at") or ""
        if raw:
            try:
                return parse_at(raw, list_config.schedule.timezone)
            except ValueError:
                raise _Http(400, f"Not a time: {raw!r}. Use e.g. 2026-02-18T07:00:00Z.") from None
        upcoming = backend.next_send(list_config, now)
        if upcoming is None:
            raise _Http(404, f"The schedule of {list_config.name} has no next send.")
        return upcoming.astimezone(UTC)

    def make_preview(list_config: ListConfig, at: datetime, topics: tuple[str, ...]) -> Preview:
        now = clock()
        # a build carries the adjustments it was made with: any change makes a new one
        period_key = (list_config.name, _iso(at))
        known = period_of_at.get(period_key)
        stamp = tuple(store.adjustments(list_config.name, known)) if known else None
        key = (list_config.name, _iso(at), topics, stamp)
        hit = builds.get(key)
        if hit is not None and time.monotonic() - hit[0] < BUILD_CACHE_SECONDS:
            built = hit[1]
        else:
            fresh = backend.build(config, store, list_config, at=at, now=now, topics=topics)
            if fresh is None:
                raise _Http(404, f"The schedule of {list_config.name} has no send time before {_iso(at)}.")
            if len(builds) > 16:
                builds.clear()
                period_of_at.clear()
            built = fresh
            if known is None:  # now the period is known: key the cache by its adjustments
                period_of_at[period_key] = built.base.period
                key = (*key[:3], tuple(store.adjustments(list_config.name, built.base.period)))
            builds[key] = (time.monotonic(), fresh)
        base = built.base
        adjustments = tuple(store.adjustments(list_config.name, base.period))
        edition = backend.narrow(built.edition, topics) if topics else built.edition
        rendered = built.variants.get(tuple(sorted(set(topics))), built.main)
        values = preview_values(config)
        html = personalise(rendered.html, values, html=True)
        text = personalise(rendered.text, values, html=False)
        return Preview(
            list_config=list_config,
            at=at,
            scheduled=built.scheduled,
            base=base,
            edition=edition,
            rendered=rendered,
            html=html,
            text=text,
            adjustments=adjustments,
            dropped=dropped_stories(base, adjustments),
            topics=topics,
            checks=email_checks(html, text, edition, omitted=rendered.omitted),
            left_out=frozenset(rendered.left_out),
        )

    def story_state(preview: Preview) -> dict[str, dict[str, str]]:
        """Per story key: the actions set on it (``{"pin": "", "boost": "2"}``). A story is
        matched as the edition shows it (after split, move and merge); the base build only
        for stories it no longer shows (dropped): a story an entry was split off from keeps
        its key but not that entry, so a pin of the split-off story is not its pin."""
        state: dict[str, dict[str, str]] = {}
        shown = {story.key: story for story in preview.edition.stories}
        gone = [story for story in preview.base.stories if story.key not in shown]
        for story in (*gone, *shown.values()):
            for adj in preview.adjustments:
                if adj.action not in RESHAPE and adj.matches(story):
                    state.setdefault(story.key, {})[adj.action] = adj.value
        return state

    # -- pages --------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        target = request.query_params.get("next") or "/editor/"
        return page(request, "login.html", enabled=sessions.enabled, token_env=TOKEN_ENV,
                    next=target if _SAFE_NEXT.match(target) else "/editor/", failed=False)  # fmt: skip

    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        wait = throttle.wait(client, clock())
        if wait > 0:
            log.warning("editor.login_throttled client=%s wait_s=%.0f", client, wait)
            minutes = max(1, math.ceil(wait / 60))
            response = error(request, 429, f"Too many wrong tokens from your address: try again in "
                                           f"{minutes} minute{'s' if minutes != 1 else ''}.")  # fmt: skip
            response.headers["retry-after"] = str(math.ceil(wait))
            return response
        form = await request.form()
        target = str(form.get("next") or "/editor/")
        if not _SAFE_NEXT.match(target):
            target = "/editor/"
        if not sessions.check_token(str(form.get("token") or "")):
            log.warning("editor.login_failed client=%s", client)
            throttle.failed(client, clock())
            return page(request, "login.html", 403, enabled=sessions.enabled, token_env=TOKEN_ENV,
                        next=target, failed=True)  # fmt: skip
        throttle.succeeded(client)
        sessions.login(request)
        log.info("editor.login")
        return security_headers(RedirectResponse(target, status_code=303))

    async def logout(request: Request) -> Response:
        # one editor token, so one editor: logging out ends the sessions of every browser
        sessions.logout_everywhere(request)
        log.info("editor.logout")
        return security_headers(RedirectResponse("/editor/login", status_code=303))

    async def overview(request: Request) -> Response:
        now = clock()
        health = {h.name: h for h in source_health(config, store, now, config.scheduler)}
        rows = []
        for lst in config.lists:
            last = next(iter(store.editions_of(lst.name, limit=1)), None)
            failing: list[tuple[SourceConfig, str]] = []
            silent: list[tuple[SourceConfig, str]] = []
            for src in config.list_sources(lst):
                found = health.get(src.name)
                if found is not None:
                    (failing if found.problem == "failing" else silent).append((src, found.detail))
            upcoming = backend.next_send(lst, now)
            rows.append(
                {
                    "list": lst,
                    "next": _when(upcoming, lst.schedule.timezone) if upcoming else "none",
                    "last": last,
                    "last_when": _when(last.window_end, lst.schedule.timezone) if last else "",
                    "deliveries": store.delivery_counts(last.id) if last else StateCounts(),
                    "subscribers": (counts := store.subscriber_counts(lst.name)),
                    "pending": None if counts.total else pending_subscribers(config, lst),
                    "failing": failing,
                    "silent": silent,
                }
            )
        return page(request, "overview.html", rows=rows, now=_when(now))

    async def sources_page(request: Request) -> Response:
        now = clock()
        states = store.source_states()
        latest = store.latest_entry_times()
        today = now.astimezone(UTC).date()
        days = [today - timedelta(days=i) for i in range(SOURCE_DAYS - 1, -1, -1)]
        since = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC)
        counts = store.entry_days(since, now + timedelta(days=1))
        health = {h.name: h for h in source_health(config, store, now, config.scheduler)}
        rows = []
        for src in config.sources:
            state = states.get(src.name)
            newest = latest.get(src.name)
            per_day = counts.get(src.name, {})
            found = health.get(src.name)
            silent = found is not None and found.problem == "silent"
            rows.append(
                {
                    "source": src,
                    "state": state,
                    "last_fetch": _ago(state.last_fetch_at, now) if state else "never",
                    "newest": _when(newest) if newest else "never",
                    "silent": silent,
                    "silent_for": found.detail if silent and found else "",
                    "days": [per_day.get(d.isoformat(), 0) for d in days],
                }
            )
        return page(request, "sources.html", rows=rows, days=[f"{d:%a %d}" for d in days])

    async def preview_page(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        now = clock()
        at = resolve_at(request, lst, now)
        topics, notice = topic_choice(request, lst)
        preview = make_preview(lst, at, topics)
        note = notice or request.query_params.get("notice", "")
        message = NOTICES.get(note, "").format(
            to=request.query_params.get("to") or request.query_params.get("subscriber") or "",
            error=request.query_params.get("error", ""),
        )
        return page(
            request,
            "preview.html",
            p=preview,
            lst=lst,
            scheduled=_when(preview.scheduled, lst.schedule.timezone),
            scheduled_utc=_when(preview.scheduled),
            at_local=preview.at.astimezone(ZoneInfo(lst.schedule.timezone)).strftime("%Y-%m-%dT%H:%M"),
            frame_url=f"/editor/lists/{quote(lst.name)}/preview/email" + _query(at, topics),
            query=_query(at, topics),
            at_iso=_iso(at),
            topic_names=_topic_names(config, lst),
            state=story_state(preview),
            notice=message,
            notice_bad=note in ("test-failed", "no-subscriber"),
            clip=CLIP_BYTES,
            sandbox=FRAME_SANDBOX,
            transport=config.transport_for(lst),
            approved=_when(approved, lst.schedule.timezone) if (approved := store.approval(lst.name, preview.base.period)) else "",
            sent=sent_note(store, lst.name, preview.base.period),
        )

    async def preview_email(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        at = resolve_at(request, lst, clock())
        topics, _ = topic_choice(request, lst)
        preview = make_preview(lst, at, topics)
        return security_headers(HTMLResponse(preview.html), EMAIL_CSP)

    async def why_page(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        at = resolve_at(request, lst, clock())
        topics, _ = topic_choice(request, lst)
        preview = make_preview(lst, at, topics)
        edition = preview.edition
        return page(
            request,
            "why.html",
            p=preview,
            lst=lst,
            sections=edition.sections,
            source_title=lambda name: (edition.sources[name].title if name in edition.sources else name),
            source_weight=lambda name: (edition.sources[name].weight if name in edition.sources else 1.0),
            when=_when,
            short=_short,
            query=_query(at, topics),
            at_iso=_iso(at),
            scheduled=_when(preview.scheduled, lst.schedule.timezone),
            sent=sent_note(store, lst.name, preview.base.period),
            state=story_state(preview),
            notice=NOTICES.get(request.query_params.get("notice", ""), ""),
            notice_bad=False,
            targets=preview.edition.stories,
            entry_ref=entry_ref,
            reshapes=[a for a in preview.adjustments if a.action in RESHAPE],
            # a reshape names entries by SOURCE/ENTRY_ID: the page shows their titles
            entry_titles={entry_ref(e): e.title for s in preview.base.stories for e in s.entries},
            story_kinds=STORY_KINDS,
            left_groups=left_out_groups(
                preview.base, [s for s in preview.edition.stories if not preview.in_email(s)]
            ),
        )

    async def adjust(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        form = await request.form()
        period = _field(form, "period", 64)
        if not _PERIOD.match(period):
            raise _Http(400, f"Not an edition period: {period!r}.")
        action = _field(form, "action", 16)
        if action not in ACTIONS:
            raise _Http(400, f"Not an adjustment: {action!r}.")
        story_key = _field(form, "story", 500)
        if not story_key:
            raise _Http(400, "Which story? The form named none.")
        try:
            refuse_if_sent(store, lst.name, period)
        except EditionSent as exc:
            raise _Http(409, f"{exc}.") from None
        lead_source = _field(form, "lead_source", 64)
        lead_entry_id = _field(form, "lead_entry_id", 2000)
        anchor = story_key
        value = ""
        if action in RESHAPE:
            story_key, lead_source, lead_entry_id, value = _reshape_fields(
                form, action, story_key, lead_source, lead_entry_id
            )
        elif action == "boost":
            value = _field(form, "value", 20) or "2"
            if boost_factor(value) is None:
                raise _Http(400, f"A boost is a number between 0.01 and 100, not {value!r}.")
        elif action == "summary":
            value = clean_summary(str(form.get("value") or ""))
        clear = form.get("clear") == "1" or (action == "summary" and not value)
        if clear:
            store.clear_adjustment(lst.name, period, story_key, action)
        else:
            store.set_adjustment(
                lst.name,
                period,
                Adjustment(
                    story_key=story_key,
                    action=action,
                    value=value,
                    lead_source=lead_source,
                    lead_entry_id=lead_entry_id,
                ),
                now=clock(),
            )
        if store.revoke_approval(lst.name, period):
            log.info("editor.approval_revoked list=%s period=%s reason=adjusted", lst.name, period)
        log.info("editor.adjust list=%s period=%s story=%s action=%s clear=%s",
                 lst.name, period, story_key, action, clear)  # fmt: skip
        back = "why" if form.get("back") == "why" else "preview"
        notice = ("un" if clear else "") + action
        notice = {"undrop": "undrop", "unsummary": "unsummary"}.get(notice, notice)
        at = _form_at(form, lst)
        topics = [str(t) for t in form.getlist("topics")][:20]
        target = f"/editor/lists/{quote(lst.name)}/{back}" + _query(at, topics, notice=notice)
        return security_headers(RedirectResponse(target + f"#story-{_anchor(anchor)}", status_code=303))

    async def approve(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        form = await request.form()
        period = _field(form, "period", 64)
        if not _PERIOD.match(period):
            raise _Http(400, f"Not an edition period: {period!r}.")
        if form.get("revoke") == "1":
            store.revoke_approval(lst.name, period)
            notice = "unapprove"
        else:
            store.approve_edition(lst.name, period, by="editor", now=clock())
            notice = "approve"
        log.info("editor.%s list=%s period=%s", notice, lst.name, period)
        at = _form_at(form, lst)
        topics = [str(t) for t in form.getlist("topics")][:20]
        target = f"/editor/lists/{quote(lst.name)}/preview" + _query(at, topics, notice=notice)
        return security_headers(RedirectResponse(target, status_code=303))

    async def send_test(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        form = await request.form()
        at = _form_at(form, lst)
        if at is None:
            raise _Http(400, "The form named no edition time.")
        topics = tuple(sorted({str(t) for t in form.getlist("topics")} & set(lst.section_names)))
        address = _field(form, "address", 320)
        try:
            address = validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise _Http(400, f"Not an email address: {address!r} ({exc}).") from None
        preview = make_preview(lst, at, topics)
        now = clock()
        rendered = preview.rendered
        test_copy = RenderedEdition(
            list_name=rendered.list_name,
            period=rendered.period,
            html=rendered.html,
            text=rendered.text,
            subject=f"[Test] {rendered.subject}",
            preheader=rendered.preheader,
            omitted=rendered.omitted,
            web_url=rendered.web_url,
        )
        subscriber = Subscriber(list_name=lst.name, email=address, name="")
        values = preview_values(config)
        message = build_message(
            test_copy,
            subscriber,
            list_config=lst,
            site=config.site,
            unsubscribe_url=values["unsubscribe_url"],
            unsubscribe_mailto=None,
            preferences_url=values["preferences_url"],
            now=now,
            substitute=False,
        )
        # The body is personalised as the preview was (same greeting); To stays the address.
        message = apply_substitutions(with_substitutions(message, values))
        folder = config.delivery.outbox_dir / lst.name / "tests"
        delivery_id = int(now.timestamp())
        outcome: SendOutcome | None = None
        try:
            transport = backend.transport(config, store, lst, folder)
            try:
                outcomes = transport.send([Outgoing(delivery_id, address, message)])
            finally:
                transport.close()
            outcome = outcomes[0] if outcomes else None
        except Exception as exc:  # noqa: BLE001 -- a broken transport is a notice, not a crash
            outcome = SendOutcome(delivery_id, DeliveryState.FAILED, error=f"{type(exc).__name__}: {exc}")
        if outcome is not None and outcome.state == DeliveryState.SENT:
            log.info("editor.test_sent list=%s period=%s to=%s id=%s",
                     lst.name, preview.edition.period, address, outcome.provider_id)  # fmt: skip
            extra = {"notice": "test-sent", "to": address}
        else:
            reason = (outcome.error if outcome else None) or (outcome.state if outcome else "no answer")
            log.warning("editor.test_failed list=%s to=%s error=%r", lst.name, address, reason)
            extra = {"notice": "test-failed", "to": address, "error": str(reason)[:300]}
        target = f"/editor/lists/{quote(lst.name)}/preview" + _query(at, topics, **extra)
        return security_headers(RedirectResponse(target, status_code=303))

    # -- public archive -----------------------------------------------------------------

    async def archive_index(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        rows = store.archived_editions(lst.name, limit=500)
        return page(request, "archive.html", lst=lst, rows=rows,
                    when=lambda d: _when(d, lst.schedule.timezone))  # fmt: skip

    async def archive_edition(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        period = request.path_params["period"]
        row = store.edition(lst.name, period) if _PERIOD.match(period) else None
        if row is None or row.status not in ("sending", "sent"):
            raise _Http(404, f"{lst.title} has no edition {period!r} in its archive.")
        parts = store.edition_parts(row.id)
        html = personalise(parts.html, archive_values(config, lst.name), html=True)
        return security_headers(HTMLResponse(html, headers={"cache-control": "public, max-age=300"}), EMAIL_CSP)

    async def archive_feed(request: Request) -> Response:
        lst = list_or_404(request.path_params["list"])
        rows = store.archived_editions(lst.name, limit=30)
        parts = {row.id: store.edition_parts(row.id) for row in rows}
        body = atom_feed(config, lst, rows, parts, now=clock())
        response = Response(body, media_type="application/atom+xml; charset=utf-8",
                            headers={"cache-control": "public, max-age=300"})  # fmt: skip
        return security_headers(response)

    async def stylesheet(request: Request) -> Response:
        response = FileResponse(WEBPAGES / "editor.css", media_type="text/css")
        response.headers["cache-control"] = "public, max-age=3600"
        return security_headers(response)

    async def editor_root(request: Request) -> Response:
        return security_headers(RedirectResponse("/editor/", status_code=307))

    def route(path: str, handler: Callable[[Request], Awaitable[Response]], *,
              editor: bool = True, methods: Iterable[str] = ("GET",)) -> Route:  # fmt: skip
        # the session cookie only on the editor's own pages (the archive is cached publicly)
        middleware = sessions.middleware() if path.startswith("/editor") else None
        return Route(path, guarded(handler, editor=editor), methods=list(methods), middleware=middleware)

    return [
        route("/editor", editor_root, editor=False),
        route("/editor/login", login_form, editor=False),
        route("/editor/login", login, editor=False, methods=("POST",)),
        route("/editor/logout", logout, methods=("POST",)),
        route("/editor/", overview),
        route("/editor/sources", sources_page),
        route("/editor/lists/{list}/preview", preview_page),
        route("/editor/lists/{list}/preview/email", preview_email),
        route("/editor/lists/{list}/why", why_page),
        route("/editor/lists/{list}/adjust", adjust, methods=("POST",)),
        route("/editor/lists/{list}/test", send_test, methods=("POST",)),
        route("/editor/lists/{list}/approve", approve, methods=("POST",)),
        route("/archive/{list}/", archive_index, editor=False),
        route("/archive/{list}/feed.atom", archive_feed, editor=False),
        route("/archive/{list}/{period}", archive_edition, editor=False),
        route("/static/editor.css", stylesheet, editor=False),
    ]


def _topic_names(config: Config, lst: ListConfig) -> list[tuple[str, str]]:
    names = []
    for name in lst.topics:
        try:
            names.append((name, config.topic(name).title))
        except KeyError:
            names.append((name, name))
    if lst.fallback is not None:
        names.append((lst.fallback.name, lst.fallback.title))
    return names


def _reshape_fields(
    form: FormData, action: str, story_key: str, lead_source: str, lead_entry_id: str
) -> tuple[str, str, str, str]:
    """``(story_key, lead_source, lead_entry_id, value)`` of a split, move or merge posted by
    the why page: ``entry`` names the entry split off or moved (``source/entry_id``),
    ``into`` the target story by one of its entries. Raises :class:`_Http` 400 otherwise."""
    value = ""
    if action in ("move", "merge") and form.get("clear") != "1":
        value = _field(form, "into", 2100)
        if "/" not in value:
            raise _Http(400, "Into which story? Choose one from the list.")
    if action == "merge":
        if f"{lead_source}/{lead_entry_id}" == value:
            raise _Http(400, "A story cannot be merged into itself.")
        return story_key, lead_source, lead_entry_id, value
    entry = _field(form, "entry", 2100)
    source, _, entry_id = entry.partition("/")
    if not source or not entry_id:
        raise _Http(400, "Which entry? The form named none.")
    return entry, source, entry_id, value


def _field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return str(value or "").strip()[:limit]


def _form_at(form: FormData, lst: ListConfig) -> datetime | None:
    raw = _field(form, "at", 40)
    if not raw:
        return None
    try:
        return parse_at(raw, lst.schedule.timezone)
    except ValueError:
        raise _Http(400, f"Not a time: {raw!r}.") from None


def _anchor(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:10]


_ENV.filters["anchor"] = _anchor


# ----------------------------------------------------------------------------------------
# Atom feed (RFC 4287)

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def atom_feed(
    config: Config,
    lst: ListConfig,
    rows: Sequence[EditionRow],
    parts: Mapping[int, EditionParts],
    *,
    now: datetime,
) -> bytes:
    """The Atom feed (RFC 4287) of a list's archived editions, newest first, as UTF-8 bytes.

    ``rows`` are :class:`digest.store.EditionRow` values; ``parts`` their stored
    :class:`digest.store.EditionParts` by id.
    Each entry's ``id`` and ``link`` are the edition's archive URL, ``updated`` its send time
    (``completed_at`` is not kept on the row, so the window end), ``summary`` the preheader
    and ``content`` the plain-text part as a reader on the web sees it. The feed's
    ``updated`` is the newest entry's (``now`` for an empty feed).
    """
    ET.register_namespace("", ATOM_NS)
    base = config.site.base
    archive = f"{base}/archive/{lst.name}/"

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = _xml_text(text)
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", archive)
    sub(feed, "title", lst.title)
    if lst.description:
        sub(feed, "subtitle", lst.description)
    newest = max((r.window_end for r in rows), default=now)
    sub(feed, "updated", _iso(newest))
    author = sub(feed, "author")
    sub(author, "name", config.site.name)
    sub(author, "uri", base + "/")
    sub(feed, "link", rel="self", type="application/atom+xml", href=f"{archive}feed.atom")
    sub(feed, "link", rel="alternate", type="text/html", href=archive)
    sub(feed, "generator", "digest")
    values = archive_values(config, lst.name)
    for row in rows:
        url = f"{archive}{quote(row.period)}"
        item = parts.get(row.id)
        entry = sub(feed, "entry")
        sub(entry, "id", url)
        sub(entry, "title", row.subject or f"{lst.title} {row.period}")
        sub(entry, "updated", _iso(row.window_end))
        sub(entry, "published", _iso(row.window_end))
        sub(entry, "link", rel="alternate", type="text/html", href=url)
        if item is not None and item.preheader:
            sub(entry, "summary", item.preheader, type="text")
        if item is not None and item.text:
            sub(entry, "content", personalise(item.text, values, html=False), type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


__all__ = [
    "CLIP_BYTES",
    "TOKEN_ENV",
    "Check",
    "EditorBackend",
    "PipelineBackend",
    "Preview",
    "archive_values",
    "atom_feed",
    "editor_routes",
    "email_checks",
    "parse_at",
    "preview_values",
    "utcnow",
]

