"""The values that flow through digest, one stage to the next (see DESIGN.md, "Data flow").

::

    Source ─fetch→ FetchResult ─parse→ ParsedFeed(Entry[]) ─select→ Entry[]
           ─cluster→ Story[] ─rank→ Story(score, reasons) ─group→ Section[]
           ─assemble→ Edition ─render→ RenderedEdition × Subscriber ─address→ EmailMessage
           ─send→ SendOutcome ─record→ RunReport

All values are frozen dataclasses; stages return new values (``dataclasses.replace``) rather
than mutate. Times are timezone-aware ``datetime`` in UTC unless a field says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from digest.textdir import text_direction

AUDIO_FLAG = "audio"
"""The :attr:`Entry.flags` note of a podcast episode: the item carries an audio file (RSS
``<enclosure type="audio/mpeg">``, ``media:content medium="audio"``, a JSON Feed attachment
of an ``audio/*`` type) or an episode's iTunes tags (``itunes:duration``,
``itunes:episode``). Set by :mod:`digest.parse`, read by :mod:`digest.noise`."""


@dataclass(frozen=True)
class FetchResult:
    """The bytes of one feed as fetched, plus what is needed to fetch it again politely.

    ``content`` is the decoded (un-gzipped) body, at most the configured size cap. ``headers``
    are the final response's headers with lower-case names (empty for local files).
    ``etag`` and ``last_modified`` are the validators exactly as the server sent them.
    ``status`` is the final HTTP status, or ``None`` for a local file. ``url`` is the final
    URL after redirects (or the file's absolute path). ``permanent_redirect`` is the target
    of a 301/308 seen on the way, if any.
    """

    source: str
    url: str
    content: bytes
    fetched_at: datetime
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None


@dataclass(frozen=True)
class Image:
    """A lead image: absolute http(s) ``url``, ``alt`` text (may be empty), pixel size if known."""

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Copy:
    """A copy of an entry that deduplication dropped (a wire story another outlet ran too,
    or the outlet's own re-post under another id): its ``source``, ``entry_id`` and link.
    Kept on the entry (``Entry.also_in``) so that another outlet still counts for the story
    and shows in "also reported by", and every copy is listed (``build --json``) and
    recorded as carried."""

    source: str
    entry_id: str
    url: str | None = None


@dataclass(frozen=True)
class Entry:
    """One normalised feed item.

    - ``source``: the source's configured name.
    - ``entry_id``: stable identity within the source (guid; else the normalised link without
      tracking parameters; else a hash of title and date). Unique per (source, entry_id).
    - ``url``: the item's absolute http(s) link, normalised, or ``None`` when it had no safe link.
    - ``title``: plain text, never HTML; ``summary_html`` is sanitised (nh3 allowlist) and
      ``summary_text`` is its plain text.
    - ``published``: the item's own date in UTC, or ``None`` when missing or unusable.
    - ``first_seen``: when digest first stored this entry (UTC); set once, never refreshed.
    - ``categories``: the feed's own category labels; ``language``: BCP 47 tag if known.
    - ``content_hash``: hash of normalised title and summary text, to notice edits and dupes.
    - ``flags``: notes from parsing, e.g. ``"date-missing"``, ``"date-future"``, ``"audio"``
      (the item carries an audio file: a podcast episode).
    - ``direction`` (computed, not stored): ``"rtl"`` or ``"ltr"``, from the text, else
      ``language`` (:func:`digest.textdir.text_direction`), for ``dir`` on the story.
    - ``also_in``: the copies of this entry ``cluster.dedupe`` dropped (other outlets'
      copies of the same item, and its own outlet's re-posts under another id); empty for
      an entry as parsed or stored.
    """

    source: str
    entry_id: str
    title: str
    url: str | None = None
    summary_html: str = ""
    summary_text: str = ""
    image: Image | None = None
    author: str | None = None
    published: datetime | None = None
    first_seen: datetime | None = None
    categories: tuple[str, ...] = ()
    language: str | None = None
    content_hash: str = ""
    flags: tuple[str, ...] = ()
    also_in: tuple[Copy, ...] = ()

    @property
    def direction(self) -> str:
        """``"rtl"`` or ``"ltr"``: the writing direction of the title and summary."""
        return text_direction(self.title, self.summary_text, language=self.language)

    @property
    def time(self) -> datetime:
        """The time the entry counts as: its published date, else when it was first seen.

        Raises ``ValueError`` when neither is set (an entry that was never stored or dated).
        """
        when = self.published or self.first_seen
        if when is None:
            raise ValueError(f"entry {self.source}/{self.entry_id} has no date")
        return when


@dataclass(frozen=True)
class ParsedFeed:
    """What parsing one feed document gives: its entries and the warnings worth showing.

    ``kind`` is e.g. ``"rss20"``, ``"atom10"``, ``"rss090"``, ``"json11"``; ``title`` and
    ``link`` describe the feed itself; ``warnings`` are human-readable, one per problem.
    """

    entries: tuple[Entry, ...]
    kind: str = ""
    title: str = ""
    link: str | None = None
    language: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reason:
    """One factor of a story's score: ``name`` (e.g. ``"outlets"``), its ``value``, a ``note``."""

    name: str
    value: float
    note: str = ""


@dataclass(frozen=True)
class Story:
    """One event: a lead entry plus the other entries that report it ("also reported by").

    ``key`` is stable for the same event across builds (derived from the lead entry).
    ``score`` and ``reasons`` are set by ranking; ``section`` and ``section_reason`` by
    sectioning. ``update`` is true when an earlier edition carried the story and it has since
    had new reporting (:func:`digest.rank.rank`, rule 2); ``carried`` then names, as
    ``(source, entry_id)``, its entries an earlier edition carried (yesterday's reporting:
    never the lead, never the card's image).
    """

    key: str
    lead: Entry
    others: tuple[Entry, ...] = ()
    score: float = 0.0
    reasons: tuple[Reason, ...] = ()
    section: str | None = None
    section_reason: str = ""
    update: bool = False
    pinned: bool = False
    carried: tuple[tuple[str, str], ...] = ()

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The lead entry first, then the others."""
        return (self.lead, *self.others)

    @property
    def sources(self) -> tuple[str, ...]:
        """Distinct source names, lead's first, in entry order."""
        return tuple(dict.fromkeys(e.source for e in self.entries))

    @property
    def outlets(self) -> tuple[str, ...]:
        """Distinct outlets that carried the story: :attr:`sources`, then the sources of the
        copies deduplication dropped (``Entry.also_in``) that are not among them."""
        copies = (c.source for e in self.entries for c in e.also_in)
        return tuple(dict.fromkeys((*self.sources, *copies)))


@dataclass(frozen=True)
class Section:
    """A topic section of an edition: its config ``name``, display ``title`` and ranked stories."""

    name: str
    title: str
    stories: tuple[Story, ...]


@dataclass(frozen=True)
class SourceInfo:
    """Display facts about a source, for templates: its name, title, home link and weight."""

    name: str
    title: str
    link: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class LeftOut:
    """An entry of the window left out of an edition, with its ``kind`` and the ``reason``
    shown by ``digest build --explain`` and ``--json``: not news (:mod:`digest.noise`:
    ``archive``, ``roundup``, ``podcast``, ``programme``, ``quiz``, ``service``, ...), or, after
    clustering, ``sent`` (its story was carried by an earlier edition and it adds no new
    outlet, or it repeats a sent entry), ``dropped`` (a config override), ``off-topic`` (no
    section claims it and the list has no fallback) or ``cap`` (beyond the list's or its
    section's number of stories). ``story`` is the key of the story it was in, for those
    left out after clustering (empty for noise), so a story's entries can be shown as one."""

    entry: Entry
    kind: str
    reason: str
    story: str = ""


@dataclass(frozen=True)
class Edition:
    """The digest of one list for one period.

    ``period`` is the edition's key within the list (e.g. ``"2026-02-18"`` for a daily list),
    unique per list. ``window_start``/``window_end`` bound the entries considered (UTC);
    ``window_end`` is the edition time. ``sections`` are in config order, empty ones removed.
    ``sources`` maps source name to its display facts. ``topics`` is the subscriber topic
    choice this edition was assembled for (empty: the whole list). ``left_out`` are the
    window's entries left out (not news, already sent, off-topic, over a cap: :class:`LeftOut`),
    with the reason.
    """

    list_name: str
    list_title: str
    period: str
    window_start: datetime
    window_end: datetime
    sections: tuple[Section, ...]
    sources: dict[str, SourceInfo] = field(default_factory=dict)
    topics: tuple[str, ...] = ()
    left_out: tuple[LeftOut, ...] = ()

    @property
    def stories(self) -> tuple[Story, ...]:
        """All stories in reading order (section by section)."""
        return tuple(s for sec in self.sections for s in sec.stories)


# Placeholders for the per-recipient parts of a rendered edition. ``render`` writes them into
# the HTML and text once per edition; ``message.personalise`` replaces them per recipient
# (escaped for HTML in the HTML part). A transport that personalises server-side (SendGrid
# substitutions) may pass them through instead.
PERSONAL_FIELDS = ("name", "email", "unsubscribe_url", "preferences_url")


def placeholder(name: str) -> str:
    """The marker for per-recipient field ``name`` (one of ``PERSONAL_FIELDS``)."""
    return f"%%{name}%%"


@dataclass(frozen=True)
class RenderedEdition:
    """An edition rendered once for a topic choice, with per-recipient placeholders.

    ``html`` is the final email HTML (doctype, inlined CSS, ``@media`` rules kept), ``text``
    the plain-text part, ``subject`` and ``preheader`` single-line text. ``omitted`` counts
    the lowest-ranked stories left out to keep ``html`` under the size budget (bytes);
    ``left_out`` are their story keys. ``web_url`` is where the edition can be read in a
    browser.
    """

    list_name: str
    period: str
    html: str
    text: str
    subject: str
    preheader: str
    omitted: int = 0
    web_url: str | None = None
    left_out: tuple[str, ...] = ()


class SubscriberStatus(StrEnum):
    """Lifecycle of a subscriber row. Only ``ACTIVE`` subscribers receive editions."""

    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


@dataclass(frozen=True)
class Subscriber:
    """One subscriber of one list. ``email`` is as given; comparisons use its lower case.

    ``topics`` empty means every section of the list; ``timezone`` is an IANA name.
    ``id`` is the store's row id (``None`` before it is stored).
    """

    list_name: str
    email: str
    name: str = ""
    topics: tuple[str, ...] = ()
    timezone: str = "UTC"
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    id: int | None = None


class DeliveryState(StrEnum):
    """Ledger states of one (edition, subscriber) delivery. See DESIGN.md, "Delivery semantics"."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SendOutcome:
    """What a transport says about one recipient of a batch.

    ``state`` is ``SENT``, ``FAILED`` (permanent, with ``error``), ``UNKNOWN`` (the provider's
    answer never came) or ``QUEUED`` (temporary failure: try again later).
    ``provider_id`` is the provider's message id when it gave one. ``bounced`` marks a
    ``FAILED`` that refuses the address itself for good (SMTP 5xx on RCPT or DATA): the
    ledger suppresses the address so no later edition tries it again.
    """

    delivery_id: int
    state: DeliveryState
    provider_id: str | None = None
    error: str | None = None
    bounced: bool = False


SourceStatus = Literal["ok", "not-modified", "skipped", "failed"]
"""Every value of ``SourceReport.status``: fetched and parsed (``ok``), HTTP 304
(``not-modified``), not polled this time (``skipped``: disabled, or not due), ``failed``."""

ListStatus = Literal[
    "sent", "in-flight", "scheduled", "exists", "empty", "awaiting-approval", "not-due", "missed",
    "failed",
]
"""Every value of ``ListReport.status`` (each is explained by :func:`digest.pipeline.publish`).
The CLI prints each of them; its test renders every value listed here."""


@dataclass
class SourceReport:
    """Outcome of polling one source: ``status`` is one of :data:`SourceStatus`; ``unchanged``
    (with ``ok``): the body fetched was the one parsed last time, so it was not parsed again."""

    source: str
    status: SourceStatus
    new_entries: int = 0
    seen_entries: int = 0
    http_status: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    next_poll_at: datetime | None = None
    retry_after: float | None = None
    unchanged: bool = False


@dataclass
class ListReport:
    """Outcome of building and delivering one list's edition.

    ``status`` is one of :data:`ListStatus` (``missed``: later than the misfire grace, not
    started); ``message`` says why in words; ``deliveries`` counts ledger rows per state.
    """

    list_name: str
    status: ListStatus
    period: str | None = None
    stories: int = 0
    sections: int = 0
    recipients: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    message: str = ""
    out_dir: str | None = None
    repeated: bool = False
    """True when an earlier run reported the same state (a ``missed`` period found again, an
    ``empty`` period decided before): ``digest run`` prints it with ``-v`` only."""


@dataclass
class RunReport:
    """What one run did: per-source and per-list outcomes, plus run-level errors.

    ``ok`` is false when any source or list failed; the CLI exits 1 then.
    """

    started_at: datetime
    sources: list[SourceReport] = field(default_factory=list)
    lists: list[ListReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no source, list or run-level step failed."""
        return not self.errors and all(s.status != "failed" for s in self.sources) and all(
            lst.status != "failed" for lst in self.lists
        )
