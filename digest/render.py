"""Render an ``Edition`` into email HTML, plain text, subject and preheader.

The chain, once per edition (and topic choice), never per recipient::

    Edition ─view→ SectionView/StoryCard ─Jinja2→ MJML ─mjml-python→ HTML ─premailer→ inlined HTML
            └──────────────────────────── Jinja2 → plain text (edition.txt.j2)
            └──────────────────────────── Jinja2 → subject (list config string, subject.txt.j2)

Rules this module keeps (see DESIGN.md, "Templates"):

- Templates come from the list's override folder first, then the shipped theme in
  ``templates/``; an override can extend a shipped template as ``"default:<name>"``.
- Autoescape is on for ``*.mjml.j2`` (HTML/XML escaping) and off for ``*.txt.j2`` and the
  subject; undefined variables are errors (``StrictUndefined``). Feed text is only ever data,
  so ``{{ 7*7 }}`` in a title comes out literally.
- Feed HTML never reaches the email: cards use ``summary_text`` (truncated at a word
  boundary). Links and images are used only when they are http(s).
- No web fonts (``fonts={}``), no network access while inlining CSS, ``@media`` rules and their
  ``!important`` kept in a ``<style>`` tag, the ``<!doctype html>`` premailer drops put back.
- Per-recipient parts are written as placeholders (``%%unsubscribe_url%%`` ...), filled by
  :func:`digest.message.personalise`. The same markers appearing in feed text are defused.
- Size budget: the HTML stays under ``budget_bytes`` (Gmail clips at about 102 KB) minus a
  reserve for the personalised values; past it the lowest-ranked stories are dropped
  (pinned stories last) and counted in ``RenderedEdition.omitted``.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
import mjml
from jinja2.sandbox import SandboxedEnvironment
from premailer import Premailer

from digest.config import Config, ListConfig
from digest.exceptions import RenderError
from digest.types import (
    PERSONAL_FIELDS,
    Edition,
    Entry,
    Image,
    RenderedEdition,
    Section,
    Story,
    placeholder,
)

log = logging.getLogger("digest.render")

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
"""The shipped theme (``templates/`` beside the package)."""

SUMMARY_CHARS = 300
"""Longest story summary on a card, in characters (cut at a word boundary, then "…")."""

PREHEADER_CHARS = 140
"""Longest preheader (the inbox preview line), in characters."""

PERSONAL_RESERVE = 2_000
"""Bytes kept free under the budget for the personalised values (unsubscribe URL, name...)."""

CONTENT_WIDTH = 600
"""Email body width in pixels; images on cards are at most ``CONTENT_WIDTH - 2*24`` wide."""

IMAGE_WIDTH = CONTENT_WIDTH - 48
"""Width of every card image in pixels: one size and alignment for all stories."""
IMAGE_MIN_WIDTH = 100
"""Images known to be narrower than this are not shown (icons, tracking pixels)."""


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_LONG = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_PLACEHOLDER_IN_DATA = re.compile("%%(?=(?:" + "|".join(map(re.escape, PERSONAL_FIELDS)) + ")%%)")
_WS = re.compile(r"\s+")


# ----------------------------------------------------------------------------------------
# View models: what the templates see. Built from the Edition, text only, URLs checked.


@dataclass(frozen=True)
class Link:
    """A display ``text`` and its http(s) ``url`` (``None`` when the entry had no safe link)."""

    text: str
    url: str | None


@dataclass(frozen=True)
class CardImage:
    """A card's lead image: http(s) ``url``, ``alt`` text, display ``width`` in pixels."""

    url: str
    alt: str
    width: int


@dataclass(frozen=True)
class StoryCard:
    """One story as the templates show it.

    ``title``/``url`` from the lead entry (``url`` only when http(s)); ``sources`` are the
    lead's source display names; ``time`` is e.g. ``"17 Feb, 14:05 UTC"`` (empty when the
    entry has no date); ``summary`` is plain text of at most ``SUMMARY_CHARS``; ``also`` the
    other outlets as links; ``dir``/``lang`` are set for the story's text (``dir`` is
    ``"rtl"`` or ``"ltr"``); ``story`` is the underlying value for override templates.
    """

    title: str
    url: str | None
    sources: tuple[str, ...]
    time: str
    summary: str
    image: CardImage | None
    also: tuple[Link, ...]
    update: bool
    dir: str
    lang: str
    story: Story

    @property
    def mark(self) -> str:
        """What starts each line of this story in the plain-text part: U+200F RIGHT-TO-LEFT
        MARK for a right-to-left story (so a line that begins with a Latin name or a digit is
        still laid out right to left, Unicode bidi rule P2), else nothing."""
        return "\u200f" if self.dir == "rtl" else ""


@dataclass(frozen=True)
class SectionView:
    """A section as the templates show it: config ``name``, ``title`` and its cards."""

    name: str
    title: str
    cards: tuple[StoryCard, ...]


def is_http_url(url: str | None) -> bool:
    """True when ``url`` is an absolute http(s) URL with a host and without whitespace or
    control characters."""
    if not url or not isinstance(url, str):
        return False
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


_DROP = frozenset("\u202a\u202b\u202c\u202d\u202e\ufeff")  # bidi embeddings/overrides, BOM
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff" + "".join(sorted(_DROP)) + "]")
"""Exactly the characters of Unicode categories Cc, Cs, Zl and Zp, and :data:`_DROP`."""


def clean_text(text: str | None) -> str:
    """Feed text for display: control characters, line/paragraph separators, bidi overrides
    and BOMs become spaces, whitespace runs collapse, and placeholders (``%%name%%`` ...) are
    defused so personalisation cannot fill them. Joiners (ZWJ, ZWNJ) and marks are kept: they
    matter in Persian, Urdu and emoji. ``None`` gives ``""``."""
    if not text:
        return ""
    text = _UNSAFE.sub(" ", text)
    text = _WS.sub(" ", text).strip()
    return _PLACEHOLDER_IN_DATA.sub("%\u200b%", text)


def truncate(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending in "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def _zone(timezone: str | tzinfo | None) -> tzinfo:
    if timezone is None:
        return UTC
    return ZoneInfo(timezone) if isinstance(timezone, str) else timezone


def format_time(when: datetime | None, timezone: str | tzinfo | None = None) -> str:
    """A time as readers see it on a card, in ``timezone`` (an IANA name or tzinfo; default
    UTC) with the zone's abbreviation: ``"19 Feb, 07:05 JST"`` (``""`` for None; naive
    times are UTC)."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(_zone(timezone))
    return f"{when.day} {_MONTHS[when.month - 1]}, {when:%H:%M} {when.tzname() or 'UTC'}"


def format_date(when: datetime, timezone: str | tzinfo | None = None) -> str:
    """The edition date as a heading, in ``timezone`` (default UTC), English:
    ``"Thursday 19 February 2026"``. Naive times are UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(_zone(timezone))
    return f"{_DAYS[when.weekday()]} {when.day} {_MONTHS_LONG[when.month - 1]} {when.year}"


def _entry_time(entry: Entry) -> datetime | None:
    return entry.published or entry.first_seen


def _card_image(story: Story) -> CardImage | None:
    """The first http(s) image of the story's entries, at the one card-image size: the card's
    full width, ``IMAGE_WIDTH`` pixels (100 % on a phone), centred, height following the
    image's own shape. Images known to be narrower than ``IMAGE_MIN_WIDTH`` (icons, tracking
    pixels) are skipped, and so are an update's entries an earlier edition carried
    (``Story.carried``): an update is illustrated by its new reporting or not at all, never
    by yesterday's picture and its alt text."""
    carried = set(story.carried)
    image: Image | None = next(
        (
            e.image
            for e in story.entries
            if e.image is not None
            and is_http_url(e.image.url)
            and (e.source, e.entry_id) not in carried
        ),
        None,
    )
    if image is None:
        return None
    if image.width and 0 < image.width < IMAGE_MIN_WIDTH:
        return None
    return CardImage(url=image.url, alt=clean_text(image.alt), width=IMAGE_WIDTH)


def _source_title(edition: Edition, name: str) -> str:
    info = edition.sources.get(name)
    return clean_text(info.title if info is not None else name) or name


def story_card(story: Story, edition: Edition, timezone: str | tzinfo | None = None) -> StoryCard:
    """The card of one story (see :class:`StoryCard`); its time in ``timezone`` (default UTC)."""
    lead = story.lead
    seen = {lead.source}
    also = []
    copies = [(c.source, c.url) for e in story.entries for c in e.also_in]
    for source, url in [*((o.source, o.url) for o in story.others), *copies]:
        if source in seen:
            continue
        seen.add(source)
        also.append(Link(_source_title(edition, source), url if is_http_url(url) else None))
    return StoryCard(
        title=clean_text(lead.title) or "(untitled)",
        url=lead.url if is_http_url(lead.url) else None,
        sources=(_source_title(edition, lead.source),),
        time=format_time(_entry_time(lead), timezone),
        summary=truncate(clean_text(lead.summary_text)),
        image=_card_image(story),
        also=tuple(also),
        update=story.update,
        dir=lead.direction,  # digest.textdir: language, else the letters
        lang=clean_text(lead.language) or "",
        story=story,
    )


def _rank_order(stories: Sequence[Story]) -> list[int]:
    """Indices of ``stories`` best first: pinned, then score, then reading order."""
    return sorted(range(len(stories)), key=lambda i: (not stories[i].pinned, -stories[i].score, i))


def _preheader(cards: Sequence[StoryCard], top: StoryCard | None) -> str:
    """The inbox preview line: the titles of the three best stories after ``top`` (the one
    in the subject), at most ``PREHEADER_CHARS``; the top title alone for a one-story
    edition."""
    ranked = [cards[i] for i in _rank_order([c.story for c in cards])]
    if len(ranked) <= 1 or top is None:
        return ranked[0].title if ranked else ""
    rest = [c for c in ranked if c is not top]
    return truncate("Also: " + " · ".join(c.title for c in rest[:3]), PREHEADER_CHARS)


# ----------------------------------------------------------------------------------------
# Jinja environment: override folder, then the shipped theme; "default:" reaches the theme.


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.endswith((".mjml.j2", ".html.j2", ".html", ".mjml"))  # type: ignore[union-attr]


def _wrap(text: str, width: int = 72, indent: str = "") -> str:
    """Jinja filter: ``text`` wrapped at ``width`` columns, every line prefixed with ``indent``.
    Long words (URLs) are never broken."""
    return textwrap.fill(
        str(text),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


_ENVIRONMENT = {
    "autoescape": _autoescape,
    "undefined": jinja2.StrictUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}
"""The options of every template environment (they shape the compiled code, so the bytecode
cache's keys carry them)."""


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's bytecode cache on disk (its own per-user folder under the temporary
    directory, mode 0700, checked by Jinja2), so a process does not compile the same
    templates again: 0.016 s of CPU a run for the shipped theme (issue 14).

    Jinja2 keys an entry by template name and file and rejects it when the source's checksum
    (SHA-1) changed; the key here also carries the Jinja2 version and
    :data:`_ENVIRONMENT`, which shape the code, so nothing compiled otherwise is ever loaded.
    A cache that cannot be read or written is no error: the template is compiled, as
    without one."""

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        options = {k: getattr(v, "__qualname__", v) for k, v in _ENVIRONMENT.items()}
        return super().get_cache_key(f"digest|{jinja2.__version__}|{options}|{name}", filename)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception as exc:  # a truncated or foreign file: compile instead
            log.debug("template_cache.unreadable key=%s error=%r", bucket.key, str(exc))
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:  # a full disk, a read-only folder
            log.debug("template_cache.unwritable key=%s error=%r", bucket.key, str(exc))


def template_cache() -> TemplateCache | None:
    """The bytecode cache of :func:`template_environment`, or ``None`` when its folder cannot
    be made or is not safe (another user's, wrong mode: Jinja2's own checks)."""
    try:
        return TemplateCache()
    except (OSError, RuntimeError) as exc:
        log.debug("template_cache.unavailable error=%r", str(exc))
        return None


@lru_cache(maxsize=16)
def template_environment(override: Path | None = None) -> SandboxedEnvironment:
    """The (sandboxed) Jinja2 environment for a list: templates from ``override`` (if any)
    first, then the shipped theme; ``"default:<name>"`` always loads the shipped template. Autoescape on
    for ``.mjml.j2``, off for ``.txt.j2``; ``StrictUndefined``. Cached per override folder;
    the compiled templates also on disk (:class:`TemplateCache`)."""
    default = jinja2.FileSystemLoader(str(DEFAULT_TEMPLATES))
    loaders: list[jinja2.BaseLoader] = []
    if override is not None:
        loaders.append(jinja2.FileSystemLoader(str(override)))
    loaders += [jinja2.PrefixLoader({"default": default}, delimiter=":"), default]
    # Sandboxed: a subject line or an override template cannot reach Python internals.
    env = SandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders), bytecode_cache=template_cache(), **_ENVIRONMENT
    )
    env.filters["wrap"] = _wrap
    return env


# ----------------------------------------------------------------------------------------
# MJML and CSS inlining


def compile_mjml(source: str) -> str:
    """MJML → HTML with mjml-python, no web fonts. Raises ``ValueError`` on invalid MJML."""
    return mjml.mjml2html(source, fonts={}, disable_comments=True)


@lru_cache(maxsize=1)
def _cssutils_without_validation() -> None:
    """Drop cssutils' property profiles (once per process), so it no longer validates each
    property premailer parses. Validation only decides what cssutils logs (premailer sets
    that log to CRITICAL, :func:`inline_css`) and never what it serialises (its
    ``prefs.validOnly`` is False), so the output is the same bytes; it cost about 0.07 s of
    CPU per run, mostly compiling the profiles' regular expressions on the first call
    (issue 14). ``cssutils.profile.removeProfile(all=True)`` is cssutils' documented call."""
    import cssutils

    cssutils.profile.removeProfile(all=True)


_PREMAILER_OPTIONS: dict[str, Any] = dict(
    keep_style_tags=True,
    strip_important=False,
    allow_network=False,
    allow_loading_external_files=False,
    disable_validation=True,
    cssutils_logging_level=logging.CRITICAL,
    remove_classes=False,
    disable_basic_attributes=["width", "height"],
)


def may_float_images(html: str) -> bool:
    """Whether an ``<img>`` of ``html`` (an inlined document) may have a CSS ``float``: its
    ``style`` names ``float`` in any case or holds a backslash (a CSS escape, which cssutils
    decodes in property names). ``False`` means premailer's ``align_floating_images`` step
    (``align="left|right"`` for an image floated so) changes nothing in ``html``; the cheap
    test on the whole text comes first, the images' own styles are read (lxml) only when it
    fails."""
    if "\\" not in html and "float" not in html.lower():
        return False
    from lxml import etree

    page = etree.fromstring(html.strip(), etree.HTMLParser())
    return any("float" in style.lower() or "\\" in style for style in page.xpath("//img/@style"))


def inline_css(html: str) -> str:
    """Inline the ``<style>`` rules into ``style`` attributes with premailer, offline.

    ``@media`` rules (and ``!important``) stay in ``<style>`` tags; classes are kept; width
    and height attributes are left as MJML wrote them (Outlook sizes images by them); the
    ``<!doctype html>`` that premailer drops is put back. cssutils does not validate the
    properties (:func:`_cssutils_without_validation`: same output, less CPU).

    Premailer's step ``align_floating_images``, parses every image's inlined style
    again with cssutils (about 0.07 s of 0.09 s per call on the demo edition, issue 14) to
    give an image floated left or right an ``align``. It is skipped, and the whole transform
    is run again with it only when :func:`may_float_images` says an image of the result may
    be floated: the bytes are those of a transform with the step.
    """
    _cssutils_without_validation()
    # MJML's client resets (``#outlook a``, ``table, td {border-collapse ...}``) work from
    # the head; inlined they cost ~70 bytes on every cell, about 10 KB (three stories) of a
    # full edition under Gmail's clipping limit.
    html = html.replace('<style type="text/css">\n#outlook a', '<style type="text/css" data-premailer="ignore">\n#outlook a', 1)
    out = Premailer(html, align_floating_images=False, **_PREMAILER_OPTIONS).transform()
    if may_float_images(out):
        out = Premailer(html, align_floating_images=True, **_PREMAILER_OPTIONS).transform()
    if out.lstrip()[:9].lower() != "<!doctype":
        out = "<!doctype html>\n" + out
    return out


COLOR_SCHEME_META = (
    '<meta name="color-scheme" content="light dark">\n'
    '<meta name="supported-color-schemes" content="light dark">\n'
)
"""Tells Apple Mail, iOS and Outlook for Mac that the email has its own dark styles (the
``prefers-color-scheme: dark`` rules of the theme), so they do not invert it themselves."""


def add_color_scheme_meta(html: str) -> str:
    """``html`` with :data:`COLOR_SCHEME_META` at the start of its ``<head>`` (unchanged when
    it has them already or has no ``<head>``)."""
    if 'name="color-scheme"' in html:
        return html
    return re.sub(r"(<head[^>]*>\n?)", lambda m: m.group(1) + COLOR_SCHEME_META, html, count=1)


# ----------------------------------------------------------------------------------------
# The public entry point


def archive_url(site_base: str, list_name: str, period: str) -> str:
    """The public web page of an edition ("view in browser"): ``<base>/archive/<list>/<period>``."""
    return f"{site_base}/archive/{list_name}/{period}"


class SizeModel:
    """What CSS inlining adds to an email's size, measured on one premailer run and used to
    choose how many stories fit the budget *before* inlining (issue 14: premailer at most
    once per rendering, plus once for the whole edition).

    Premailer changes only the attributes of the elements it styles (``style``, and the
    ``align``/``bgcolor``... it derives), and what it adds to an element depends only on the
    element and its ancestors (the theme's selectors are classes, tags and descendants). So
    one inlined document gives the bytes added per element *signature* (tag, classes, id,
    other attributes but links, own style, the same for every ancestor), plus a constant
    for the rest (doctype, serialisation). The predicted inlined size of a new MJML output
    is its lxml serialisation plus those per-element additions: exact when every element
    was seen, and checked against the real inlining anyway (see :func:`render_edition`).

    One model serves every rendering of a build (the variants share the theme and the CSS);
    ``inlined`` counts the premailer calls made through it; ``unbudgeted`` keeps the whole
    edition rendered without the budget when that run was made (the archive's copy).
    """

    def __init__(self) -> None:
        self.added: dict[Any, int] = {}  # by signature number, element alone, or kind
        self.signatures: dict[tuple[int, tuple[Any, ...]], int] = {}  # see _elements
        self._drafts: dict[str, tuple[int, list[tuple[int, tuple[Any, ...], int]]]] = {}
        self.constant: int | None = None
        self.inlined = 0
        self.unbudgeted: dict[int, RenderedEdition] = {}

    @property
    def ready(self) -> bool:
        """Whether a calibration was measured (a first inlined rendering)."""
        return self.constant is not None

    def learn(self, raw_html: str, inlined_html: str) -> None:
        """Measure what inlining ``raw_html`` (MJML's output) into ``inlined_html`` (the
        finished rendering, with :data:`COLOR_SCHEME_META`) added.
        Leaves the model as it was when the two documents do not pair element by element."""
        raw, elements = self._draft(raw_html)
        _, inlined = _elements(inlined_html, self.signatures)
        if len(elements) != len(inlined):
            return
        added = 0
        kinds: dict[tuple[Any, ...], list[int]] = {}
        for (sig, own, before), (_, _, after) in zip(elements, inlined, strict=True):
            extra = after - before
            self.added[sig] = self.added[own] = extra  # own: the element alone
            for kind in _kinds(own):
                kinds.setdefault(kind, []).append(extra)
            added += extra
        for kind, values in kinds.items():  # for elements never seen: the mean of their kind
            self.added[kind] = round(sum(values) / len(values))
        self.constant = len(inlined_html.encode("utf-8")) - raw - added

    def _draft(self, raw_html: str) -> tuple[int, list[tuple[int, tuple[Any, ...], int]]]:
        """:func:`_elements` of an MJML output, parsed once whether predicted, learnt from or
        both (the chosen candidate is both)."""
        found = self._drafts.get(raw_html)
        if found is None:
            found = self._drafts[raw_html] = _elements(
                add_color_scheme_meta(raw_html), self.signatures
            )
        return found

    def predict(self, raw_html: str) -> tuple[int, bool]:
        """``(bytes, exact)``: the predicted UTF-8 size of ``raw_html`` once inlined, and
        whether every element's signature had been measured."""
        assert self.constant is not None
        size, elements = self._draft(raw_html)
        exact = True
        for sig, own, _ in elements:
            extra = self.added.get(sig)
            if extra is None:  # never seen here: as the same element elsewhere, or its kind
                exact = False
                extra = next(
                    (self.added[k] for k in (own, *_kinds(own)) if k in self.added), 0
                )
            size += extra
        return size + self.constant, exact


def _kinds(own: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    """Coarser keys of an element alone (its tag, attributes, style): (tag, class), then the
    tag alone."""
    tag, attrs, _ = own
    return (("kind", tag, dict(attrs).get("class")), ("kind", tag))


_LINK_ATTRIBUTES = frozenset({"href", "src", "alt", "title", "style"})


def _elements(
    html: str, signatures: dict[tuple[int, tuple[Any, ...]], int]
) -> tuple[int, list[tuple[int, tuple[Any, ...], int]]]:
    """``(size, [(signature, element, attribute bytes), ...])`` of ``html`` parsed as
    premailer parses it (lxml's HTML parser): the UTF-8 size of its lxml serialisation and,
    per element in document order, its signature (see :class:`SizeModel`) as a number, the
    element alone (tag, attributes but links, style) and the bytes of its attributes.

    ``signatures`` numbers each (parent's number, element) pair the first time it is seen
    (the root's parent is ``-1``), so two elements have the same number exactly when they and
    all their ancestors are alike: the ancestry is hashed once, not again at every lookup
    (issue 14: a nested tuple's hash is not kept, and these documents nest 20 deep)."""
    from lxml import etree

    root = etree.fromstring(html.strip(), etree.HTMLParser())
    serialised = etree.tostring(  # as premailer writes it (pretty_print: its default)
        root.getroottree(), method="html", encoding="utf-8", pretty_print=True
    )
    size = len(serialised)
    out: list[tuple[int, tuple[Any, ...], int]] = []

    def number(parent: int, own: tuple[Any, ...]) -> int:
        key = (parent, own)
        found = signatures.get(key)
        if found is None:
            found = signatures[key] = len(signatures)
        return found

    def walk(element: Any, parent: int) -> None:
        for child in element:
            if not isinstance(child.tag, str):  # comments, processing instructions
                continue
            attrs = child.attrib
            own = (
                child.tag,
                tuple(sorted((k, v) for k, v in attrs.items() if k not in _LINK_ATTRIBUTES)),
                attrs.get("style"),
            )
            sig = number(parent, own)
            out.append((sig, own, sum(len(k) + len(v.encode("utf-8")) + 4 for k, v in attrs.items())))
            walk(child, sig)

    top = (root.tag, tuple(sorted(root.attrib.items())), None)
    sig = number(-1, top)
    out.append((sig, top, sum(len(k) + len(v) + 4 for k, v in root.attrib.items())))
    walk(root, sig)
    return size, out


def render_edition(
    edition: Edition,
    *,
    config: Config,
    list_config: ListConfig,
    now: datetime,
    budget_bytes: int | None = 100_000,
    timezone: str | None = None,
    delivered_at: datetime | None = None,
    sizes: SizeModel | None = None,
) -> RenderedEdition:
    """Render ``edition`` once, with per-recipient placeholders, within ``budget_bytes``
    (``None``: no budget, every story; the archive's web page).

    Dates and times are local: the header date, the subject's ``date_label`` and every
    story time are in ``timezone`` (an IANA name; default the list's
    ``schedule.timezone``; a subscriber's own for ``send_at`` delivery at local time). The
    date is that of ``delivered_at`` (default the edition time, ``edition.window_end``), so
    a Tokyo edition of 07:00 on 19 February says "Thursday 19 February 2026".

    Returns a :class:`RenderedEdition` whose ``html`` (UTF-8 bytes) is under
    ``budget_bytes - PERSONAL_RESERVE`` when at least the header and footer fit; stories are
    dropped lowest score first (pinned last) until it fits, ``omitted`` counts them and the
    email links to ``web_url`` (``{site.base}/archive/{list}/{period}``) for the rest.
    ``now`` is the render time, available to templates as ``now``.

    How many stories fit is decided before inlining: Jinja and MJML are cheap, premailer is
    not. ``sizes`` (one :class:`SizeModel` per build, shared by its renderings) predicts the
    inlined size of each candidate; without a calibration yet, the whole edition is inlined
    first and measured (that rendering is also the unbudgeted one, kept in
    ``sizes.unbudgeted`` by ``id(edition)``). The chosen rendering is inlined and checked;
    only a wrong prediction (an element never measured) costs another premailer run. The
    result is the largest number of top stories whose inlined HTML fits, as a search that
    inlined every candidate would find.

    Raises :class:`RenderError` (with the list name) when a template is missing or invalid,
    uses an undefined variable, or produces MJML the compiler rejects.
    """
    if list_config.templates is not None and not Path(list_config.templates).is_dir():
        log.warning(
            "render.no_template_folder list=%s path=%s", list_config.name, list_config.templates
        )
    env = template_environment(list_config.templates)
    site = config.site
    web_url = archive_url(site.base, edition.list_name, edition.period)
    stories = edition.stories
    order = _rank_order(stories)
    limit = max(0, (budget_bytes or 0) - PERSONAL_RESERVE)
    zone = ZoneInfo(timezone or list_config.schedule.timezone)
    model = sizes if sizes is not None else SizeModel()
    cards: dict[int, StoryCard] = {}  # by id(story): the same for every candidate
    drafts: dict[int, _Draft] = {}
    done: dict[int, RenderedEdition] = {}

    def draft(keep: int) -> _Draft:
        if keep not in drafts:
            kept = set(order[:keep])
            drafts[keep] = _compose(
                edition, env, config=config, list_config=list_config, now=now,
                web_url=web_url, kept=kept, omitted=len(stories) - len(kept), zone=zone,
                delivered_at=delivered_at or edition.window_end, cards=cards,
            )  # fmt: skip
        return drafts[keep]

    def inlined(keep: int) -> RenderedEdition:
        if keep not in done:
            raw = draft(keep)
            done[keep] = _finish(raw)
            model.inlined += 1
            model.learn(raw.html, done[keep].html)
        return done[keep]

    def fits(keep: int) -> bool:
        if keep in done or not model.ready:  # no calibration: inline to know
            return _size(inlined(keep)) <= limit
        predicted, _ = model.predict(draft(keep).html)
        return predicted <= limit

    n = len(stories)
    if budget_bytes is None:
        return inlined(n)
    if not model.ready or not stories:
        best = inlined(n)  # measure on the whole edition (also the archive's rendering)
        if _size(best) <= limit or not stories:
            _check_size(best, limit, edition)
            return best
        model.unbudgeted[id(edition)] = best
    # Binary search on predicted sizes for the largest number of top stories that fits
    # (size grows with count); inline it; where the prediction erred (an element never
    # measured, like the "more on the web" block), search again with what it taught.
    fit: int | None = None  # the largest number known (inlined) to fit
    lo, hi = 0, n
    # A narrower variant usually fits whole: one prediction says so, instead of the
    # binary search's log2(n) drafts (Jinja, MJML and a parse each) that end at n anyway.
    whole = fits(n)
    while True:
        keep = n if whole else _largest(lo, hi, fits)
        whole = False
        if _size(inlined(keep)) > limit:
            if keep == lo:
                break
            hi = keep - 1
        else:
            fit = keep
            if keep < hi and fits(keep + 1):
                lo = keep + 1
            else:
                break
    keep = fit if fit is not None else 0
    best = inlined(keep)
    if _size(best) > limit or not best.omitted:
        _check_size(best, limit, edition)
        return best
    log.info(
        "render.budget list=%s period=%s kept=%d omitted=%d bytes=%d budget=%d inlined=%d",
        edition.list_name, edition.period, keep, best.omitted, _size(best), budget_bytes,
        len(done),
    )  # fmt: skip
    return best


def _largest(lo: int, hi: int, fits: Callable[[int], bool]) -> int:
    """The largest ``k`` in ``[lo, hi]`` with ``fits(k)`` (``fits`` monotone), else ``lo``."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _size(rendered: RenderedEdition) -> int:
    return len(rendered.html.encode("utf-8"))


def _check_size(rendered: RenderedEdition, limit: int, edition: Edition) -> None:
    if _size(rendered) > limit:
        log.warning(
            "render.over_budget list=%s period=%s bytes=%d limit=%d",
            edition.list_name, edition.period, _size(rendered), limit,
        )  # fmt: skip


def _top_card(cards: Sequence[StoryCard]) -> StoryCard | None:
    if not cards:
        return None
    stories = [c.story for c in cards]
    return cards[_rank_order(stories)[0]]


@dataclass(frozen=True)
class _Draft:
    """A rendering before CSS inlining: ``html`` is MJML's output."""

    name: str
    html: str
    rendered: RenderedEdition


def _finish(draft: _Draft) -> RenderedEdition:
    """Inline ``draft``'s CSS (premailer), add the colour-scheme meta, check the result."""
    name = draft.name
    try:
        html = inline_css(draft.html)
    except Exception as exc:  # premailer/lxml/cssutils raise assorted types
        raise RenderError(name, f"CSS inlining failed: {type(exc).__name__}: {exc}") from exc
    html = add_color_scheme_meta(html)
    if "<mj-" in html or "<script" in html.lower():
        raise RenderError(name, "rendered HTML still contains <mj-*> or <script> tags")
    return replace(draft.rendered, html=html)


def _compose(
    edition: Edition,
    env: jinja2.Environment,
    *,
    config: Config,
    list_config: ListConfig,
    now: datetime,
    web_url: str,
    kept: set[int],
    omitted: int,
    zone: tzinfo,
    delivered_at: datetime,
    cards: dict[int, StoryCard] | None = None,
) -> _Draft:
    known = {} if cards is None else cards
    index = 0
    sections: list[SectionView] = []
    for section in edition.sections:
        shown = []
        for story in section.stories:
            if index in kept:
                card = known.get(id(story))
                if card is None:
                    card = known[id(story)] = story_card(story, edition, zone)
                shown.append(card)
            index += 1
        if shown:
            sections.append(SectionView(section.name, clean_text(section.title), tuple(shown)))
    all_cards = [c for s in sections for c in s.cards]
    # the subject names the best story of the list's own sections (or one an editor
    # pinned); the fallback's only when the edition has nothing else
    own = [
        c for s in sections for c in s.cards if s.name in list_config.topics or c.story.pinned
    ]
    top = _top_card(own or all_cards)
    preheader = _preheader(all_cards, top)
    context: dict[str, Any] = {
        "edition": edition,
        "list": list_config,
        "site": config.site,
        "now": now,
        "date_label": format_date(delivered_at, zone),
        "timezone": str(zone),
        "sections": sections,
        "story_count": len(edition.stories),
        "shown_count": len(all_cards),
        "omitted": omitted,
        "top_story": top.story if top is not None else None,
        "top_card": top,
        "preheader": preheader,
        "web_url": web_url,
        "list_title": clean_text(list_config.title),
        "description": clean_text(list_config.description),
        "postal_address": clean_text(config.site.postal_address),
        "site_name": clean_text(config.site.name),
        **{field: placeholder(field) for field in PERSONAL_FIELDS},
    }
    name = edition.list_name
    try:
        subject = _subject(env, list_config, edition, top, context)
        mjml_source = env.get_template("edition.mjml.j2").render(context)
        text = env.get_template("edition.txt.j2").render(context)
    except jinja2.TemplateError as exc:
        raise RenderError(name, f"template error: {type(exc).__name__}: {exc}") from exc
    try:
        html = compile_mjml(mjml_source)
    except ValueError as exc:
        raise RenderError(name, f"MJML compile failed: {exc}") from exc
    return _Draft(name, html, RenderedEdition(
        list_name=name,
        period=edition.period,
        html=html,
        text=_tidy_text(text),
        subject=subject,
        preheader=preheader,
        omitted=omitted,
        web_url=web_url,
        left_out=tuple(
            story.key for i, story in enumerate(edition.stories) if i not in kept
        ),
    ))


@lru_cache(maxsize=64)
def _subject_template(env: jinja2.Environment, source: str) -> jinja2.Template:
    """``source`` (a list's ``subject``) compiled in ``env``, once per process: a build
    composes each candidate of its size budget search, about 14 per demo edition, and
    compiling the same string each time cost about 3 ms each (issue 14)."""
    return env.from_string(source)


def _subject(
    env: jinja2.Environment,
    list_config: ListConfig,
    edition: Edition,
    top: StoryCard | None,
    context: Mapping[str, Any],
) -> str:
    """The list's ``subject`` string (a Jinja template over ``list``, ``edition``,
    ``top_story``, ``story_count``, ``shown_count`` and ``date_label``, the local date)
    wrapped by ``subject.txt.j2``; one line."""
    values = {
        "list": list_config,
        "edition": edition,
        "top_story": top.story if top is not None else None,
        "story_count": context["story_count"],
        "shown_count": context["shown_count"],
        "date_label": context["date_label"],
    }
    try:
        inner = _subject_template(env, list_config.subject).render(values)
    except jinja2.UndefinedError:
        if top is not None:
            raise
        inner = list_config.title  # an empty edition has no top story to name
    wrapped = env.get_template("subject.txt.j2").render({**context, **values, "subject": inner})
    return truncate(clean_text(wrapped), 250)


def subject_problem(list_config: ListConfig) -> str | None:
    """Why the list's ``subject`` cannot make a subject line -- ``"a Jinja2 template: <why>"``
    -- or ``None`` when it can: compiled in the list's environment (an unknown filter or test
    is an error there, not only a syntax error) and rendered over a sample edition of one
    story with :func:`_subject`'s values (``StrictUndefined``: a name or attribute the
    values do not have is an error). The check of ``digest config check`` and of every build
    before any work, so a subject that would fail at send time fails at once. Never raises."""
    from digest.config import template_problem

    syntax = template_problem(list_config.subject)
    if syntax is not None:
        return syntax
    env = template_environment(list_config.templates)
    when = datetime(2026, 2, 18, 7, 0, tzinfo=UTC)
    lead = Entry(source="sample", entry_id="sample", title="A sample headline",
                 url="https://example.org/sample", summary_text="A sample summary.",
                 published=when)  # fmt: skip
    story = Story(key="sample", lead=lead)
    edition = Edition(
        list_name=list_config.name, list_title=list_config.title, period="2026-02-18",
        window_start=when - timedelta(days=1), window_end=when,
        sections=(Section(name="sample", title="Sample", stories=(story,)),),
    )  # fmt: skip
    values = {
        "list": list_config, "edition": edition, "top_story": story, "story_count": 1,
        "shown_count": 1, "date_label": "Wednesday 18 February 2026",
    }  # fmt: skip
    try:
        _subject_template(env, list_config.subject).render(values)
    except jinja2.TemplateSyntaxError as exc:  # TemplateAssertionError: an unknown filter
        return f"a Jinja2 template: {exc.message} (line {exc.lineno})"
    except Exception as exc:  # noqa: BLE001 -- whatever rendering raises is the user's to fix
        return f"a Jinja2 template that fails on a sample edition: {type(exc).__name__}: {exc}"
    return None


def subject_problems(config: Config) -> list[str]:
    """Every list ``subject`` that cannot make a subject line, as ``"lists[i].subject:
    <why>"`` (:func:`subject_problem`); empty when all can."""
    return [
        f"lists[{i}].subject: {problem}"
        for i, lst in enumerate(config.lists)
        if (problem := subject_problem(lst)) is not None
    ]


def _tidy_text(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines in the text part."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


__all__ = [
    "DEFAULT_TEMPLATES",
    "CardImage",
    "Link",
    "SectionView",
    "SizeModel",
    "StoryCard",
    "clean_text",
    "compile_mjml",
    "format_date",
    "format_time",
    "inline_css",
    "is_http_url",
    "render_edition",
    "story_card",
    "template_environment",
    "truncate",
]
