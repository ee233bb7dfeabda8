"""Make feed HTML safe for email, and turn HTML into plain text.

Sanitising is an allowlist (nh3, i.e. the ammonia crate built on html5ever): only the tags
and attributes below survive. Never kept: ``script``, ``style``, ``form``, ``input``,
``meta``, ``base``, ``link``, ``svg``, ``math`` (removed with their content), ``iframe``,
``object``, ``embed`` (removed, the text inside or after them kept: it is the fallback a
reader without plug-ins is meant to see) and every ``on*`` or ``style`` attribute. Comments
are removed, a broken one (``<!-- -- x >``) up to its first ``>`` as SGML ends it, not to
the end of the document as HTML5 would. URLs in ``href``/``src``/``cite`` must be ``http``, ``https``
or ``mailto``; relative ones are made absolute against the given base (or dropped when there
is none). Links get ``rel="noopener noreferrer"``. The output of :func:`sanitize_html` is a
fixed point: sanitising it again gives the same string.
"""

from __future__ import annotations

import functools
import html
import re
import threading
import unicodedata
from html.parser import HTMLParser
from typing import Any, Literal

import nh3

from digest.urls import is_http_url

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "clean_text",
    "drop_comments",
    "drop_leading_text",
    "html_to_text",
    "sanitized_html_to_text",
    "neutralise_encoded_words",
    "sanitize_html",
    "text_from_html_fragment",
]

#: Tags kept in summaries. Anything else is unwrapped (its text kept) or, for the
#: dangerous containers in ``_DROP_WITH_CONTENT``, removed with its content.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "acronym", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite",
        "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "figcaption",
        "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
        "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong",
        "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u",
        "ul", "var", "wbr",
    }
)  # fmt: skip

#: Attributes kept per tag ("*": on every allowed tag). No ``style``, no ``on*``, no ``class``.
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
}

_DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "form", "noscript", "template", "svg", "math", "select",
        "textarea", "button", "frameset", "noembed", "noframes", "head", "title",
    }
)  # fmt: skip

_URL_SCHEMES = frozenset({"http", "https", "mailto"})

# C0/C1 controls (except \t \n \r), DEL, lone surrogates, non-characters U+FFFE/U+FFFF.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_WS = re.compile(r"\s+")
# An escaped or stray CDATA wrapper left in text: <![CDATA[ ... ]]>
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
_CDATA_OPEN = re.compile(r"<!\[CDATA\[")
_CDATA_CLOSE = re.compile(r"\]\]>")


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BROKEN_COMMENT = re.compile(r"<!--[^>]*>?")
# "<!" that opens neither a comment, a CDATA section nor a whole DOCTYPE is text ("<!'").
# HTML5 reads an iframe's content as raw text; what a feed puts there is fallback markup for
# readers without frames, so the tags go before parsing and the content is read as HTML.
_IFRAME_TAG = re.compile(r"</?iframe\b[^>]*>", re.IGNORECASE)
_BOGUS_DECL = re.compile(r"<!(?!--|\[CDATA\[|doctype\s+[a-z][^<>]*>)", re.IGNORECASE)


def drop_comments(text: str) -> str:
    """Remove HTML comments; a comment without ``-->`` ends at its first ``>`` (SGML's
    reading, feedparser's too), so text after it is kept. A ``<!`` that starts no comment,
    CDATA section or complete DOCTYPE is escaped as text."""
    if "<!" not in text:
        return text
    text = _BROKEN_COMMENT.sub("", _COMMENT.sub("", text))
    return _BOGUS_DECL.sub("&lt;!", text)


def remove_controls(text: str) -> str:
    """Remove characters illegal in XML 1.0 or useless in mail (C0 except TAB/LF/CR, C1, DEL,
    surrogates, U+FFFE/U+FFFF)."""
    if text.isprintable():  # none of those is printable: most titles, names, categories
        return text
    return _CONTROLS.sub("", text)


def unwrap_cdata(text: str) -> str:
    """Replace every ``<![CDATA[...]]>`` wrapper by its content; drop unmatched halves.

    Feeds that escape their CDATA (``&lt;![CDATA[...]]&gt;``) hand the wrapper over as text;
    its content is the markup the publisher meant.
    """
    if "<![CDATA[" not in text and "]]>" not in text:
        return text
    text = _CDATA.sub(lambda m: m.group(1), text)
    text = _CDATA_OPEN.sub("", text)
    return _CDATA_CLOSE.sub("", text)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr in ("width", "height"):
        v = value.strip().removesuffix("px")
        return v if v.isdigit() and len(v) <= 5 else None
    if attr in ("colspan", "rowspan", "span", "start"):
        v = value.strip()
        return v if v.isdigit() and len(v) <= 4 else None
    return value


def sanitize_html(fragment: str, base_url: str | None = None) -> str:
    """Sanitise an HTML fragment with the allowlist above; return safe HTML (``str``).

    ``base_url`` (absolute http(s)) resolves relative ``href``/``src``; without it relative
    URLs are removed. Control characters are removed, CDATA wrappers unwrapped. Idempotent.
    Never raises for any ``str`` input.
    """
    if not fragment:
        return ""
    text = drop_comments(unwrap_cdata(remove_controls(fragment)))
    if "<iframe" in text.lower() or "</iframe" in text.lower():
        text = _IFRAME_TAG.sub(" ", text)
    if base_url and is_http_url(base_url):  # one nh3 cannot parse: relatives are dropped
        return _clean(text, ("rewrite_with_base", base_url))
    return _clean(text, "deny")


_TAGS = set(ALLOWED_TAGS)
_CLEAN_CONTENT = set(_DROP_WITH_CONTENT)
_ATTRS = {k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()}
_OPTIONS: dict[str, Any] = {
    "tags": _TAGS,
    "clean_content_tags": _CLEAN_CONTENT,
    "attributes": _ATTRS,
    "attribute_filter": _attribute_filter,
    "strip_comments": True,
    "link_rel": "noopener noreferrer",
    "url_schemes": set(_URL_SCHEMES),
}
# nh3.clean builds ammonia's configuration from these sets at every call: two thirds of its
# time on a short summary (issue 14), and the base URL differs per item. So two Cleaners are
# built once: one that drops relative URLs, and one that hands each relative URL to
# _resolve, which joins it to the base of the fragment being cleaned (this thread's
# _CURRENT.base) through a Cleaner built for that base: ammonia's own join (WHATWG), built
# only when a fragment holds a relative URL (about 1 in 10 of the real feeds' summaries).
_DENY = nh3.Cleaner(url_relative="deny", **_OPTIONS)
_URL_ATTRIBUTES = ("href", "src", "cite")
_CURRENT = threading.local()
_JOINED = re.compile(r'<a href="([^"]*)"')


@functools.lru_cache(maxsize=16)
def _joiner(base: str) -> nh3.Cleaner:
    return nh3.Cleaner(url_relative=("rewrite_with_base", base), **_OPTIONS)


def _resolve(url: str) -> str | None:
    """The relative ``url`` joined to this thread's current base as ammonia's
    ``rewrite_with_base`` joins it; ``None`` (the attribute is dropped) when it cannot be."""
    try:
        joined = _joiner(_CURRENT.base).clean(f'<a href="{html.escape(url)}"></a>')
    except ValueError:  # a base nh3 cannot parse: relative URLs dropped, as "deny" does
        return None
    m = _JOINED.match(joined)
    return html.unescape(m.group(1)) if m else None


_REWRITE = nh3.Cleaner(url_relative=_resolve, **_OPTIONS)


def _clean(text: str, relative: tuple[Literal["rewrite_with_base"], str] | Literal["deny"]) -> str:
    """nh3 with the allowlist above, relative URLs resolved against ``relative``'s base or
    removed (``"deny"``), stripped: what ``nh3.clean(text, url_relative=relative, ...)``
    gives."""
    if relative == "deny" or not _may_hold_url(text):
        return _DENY.clean(text).strip()
    _CURRENT.base = relative[1]
    try:
        return _REWRITE.clean(text).strip()
    finally:
        _CURRENT.base = None


def _may_hold_url(text: str) -> bool:
    """Whether ``text`` may hold an attribute whose relative URL a base would resolve: it has
    a tag and names ``href``, ``src`` or ``cite`` somewhere (attribute names are never
    escaped), in any case. Without one, every ``url_relative`` gives the same output."""
    if "<" not in text:
        return False
    lowered = text.lower()
    return any(name in lowered for name in _URL_ATTRIBUTES)


_BLOCK = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table",
        "tr", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure", "figcaption", "section",
        "article", "header", "footer", "aside", "caption", "address",
    }
)  # fmt: skip


class _TextExtractor(HTMLParser):
    """Collect text, with a line break at block boundaries; skip script/style-like content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "td" or tag == "th":
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_WITH_CONTENT:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _lines(text: str) -> str:
    """``text`` as lines: whitespace runs within a line made one space, each line stripped,
    empty lines dropped. ``str.split()`` splits at the characters ``\\s`` matches, in C: a
    regular expression over every line took twice as long (issue 14)."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags removed, entities decoded once, paragraphs kept
    as single blank-line-free line breaks, spaces collapsed within lines, controls removed."""
    if not fragment:
        return ""
    if "<" in fragment or "&" in fragment:
        parser = _TextExtractor()
        try:
            parser.feed(remove_controls(fragment))
            parser.close()
        except Exception:  # noqa: BLE001 - html.parser is lenient; this is a last resort
            return clean_text(html.unescape(re.sub(r"<[^>]*>", " ", fragment)))
        text = remove_controls("".join(parser.parts))
    else:  # no tag, no entity: the parser would hand the text back as it is (issue 14)
        text = remove_controls(fragment)
    return _lines(text)


_SANITISED_TAG = re.compile(r"<(/?)([a-zA-Z][^\s/>]*)(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")


def sanitized_html_to_text(fragment: str) -> str:
    """:func:`html_to_text` of HTML that :func:`sanitize_html` produced, without
    ``html.parser``: that HTML (html5ever's serialisation) has no comment, no raw ``<`` in
    text, no partial entity and no element dropped with its content (``script``...), so its
    tags are found by one regular expression (split at them in C) and its text unescaped
    once. Same result, several times faster (issue 14); any other input goes to
    :func:`html_to_text`."""
    if "<" not in fragment:
        return html_to_text(fragment)
    pieces = _SANITISED_TAG.split(fragment)  # text, "/" or "", tag name, text, ...
    names = [name.lower() for name in pieces[2::3]]
    if not _DROP_WITH_CONTENT.isdisjoint(names):
        return html_to_text(fragment)
    parts = pieces[0::3]
    for i, (end, tag) in enumerate(zip(pieces[1::3], names, strict=True)):
        if tag in _BLOCK:
            parts[i] += "\n"
        elif not end and (tag == "td" or tag == "th"):
            parts[i] += " "
    return _lines(remove_controls(html.unescape("".join(parts))))


def clean_text(text: str) -> str:
    """Single-line plain text: controls removed, whitespace collapsed, NFC-normalised."""
    if text.isprintable():  # no control, and no whitespace but " " (issue 14: 21,000 calls)
        text = (_WS.sub(" ", text) if "  " in text else text).strip()
        return text if text.isascii() else unicodedata.normalize("NFC", text)
    return unicodedata.normalize("NFC", _WS.sub(" ", remove_controls(text)).strip())


def text_from_html_fragment(fragment: str) -> str:
    """Single-line plain text of a title-like HTML fragment (``<b>A</b> &amp; B`` -> ``A & B``).

    Markup is stripped (script/style content dropped), entities decoded exactly once,
    CDATA wrappers unwrapped, whitespace collapsed, control characters removed. Text
    without ``<``, ``&`` or ``]]>`` only has its whitespace and controls cleaned (the same
    result, without an HTML parser).
    """
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment and "]]>" not in fragment:
        return clean_text(fragment)  # plain text already (most titles and categories)
    text = drop_comments(unwrap_cdata(remove_controls(fragment)))
    return clean_text(html_to_text(text).replace("\n", " "))


_ENCODED_WORD_START = "=?"
_WORD_JOINER = "\u2060"


def neutralise_encoded_words(text: str) -> str:
    """Put a WORD JOINER (U+2060, invisible) between ``=`` and ``?`` so that no mail header
    parser (RFC 2047 section 6.1) can read feed text such as ``=?utf-8?b?...?=`` as an encoded
    word: a title then reads the same, literally, in the email body and in the Subject."""
    return text.replace(_ENCODED_WORD_START, "=" + _WORD_JOINER + "?") if "=?" in text else text


class _PrefixDropper(HTMLParser):
    """Re-serialise sanitised HTML without the first characters of its text (``want``)."""

    def __init__(self, want: str) -> None:
        super().__init__(convert_charrefs=True)
        self.want = [c for c in want if not c.isspace()]
        self.pos = 0
        self.matched = True
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        i = 0
        while self.matched and self.pos < len(self.want) and i < len(data):
            ch = data[i]
            if not ch.isspace():
                if unicodedata.normalize("NFC", ch) != self.want[self.pos]:
                    self.matched = False
                    break
                self.pos += 1
            i += 1
        if i and self.pos >= len(self.want):
            data = data[i:].lstrip()
        elif i and self.matched:
            data = ""
        self.out.append(html.escape(data, quote=False))


def drop_leading_text(fragment: str, prefix: str) -> str:
    """Sanitised HTML ``fragment`` without the leading text ``prefix`` (compared ignoring
    whitespace), tags and images kept; ``fragment`` unchanged when its text does not start
    with ``prefix``. Returns ``""`` when neither text nor an image is left."""
    if not prefix:
        return fragment
    parser = _PrefixDropper(prefix)
    try:
        parser.feed(fragment)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser on sanitised HTML; defensive
        return fragment
    if not parser.matched or parser.pos < len(parser.want):
        return fragment
    out = sanitize_html("".join(parser.out))
    return out if html_to_text(out) or "<img" in out else ""
