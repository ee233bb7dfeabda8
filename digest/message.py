"""Address a rendered edition to one subscriber: an RFC 5322 message with list headers.

``RenderedEdition × Subscriber → email.message.EmailMessage`` (``policy=email.policy.SMTP``,
CRLF line ends), shaped as::

    multipart/alternative
    ├── text/plain; charset=utf-8   (first: the least preferred part comes first, RFC 2046)
    └── text/html; charset=utf-8

Headers: From, To, Subject, Date, Message-ID, MIME-Version, List-Id (RFC 2919),
List-Unsubscribe (RFC 2369) with List-Unsubscribe-Post (RFC 8058 one-click), List-Archive
when the edition has a web address, Reply-To when the list sets one.

Every header value that comes from feeds, config or subscriber data goes through
:func:`clean_header_value`, so no CR, LF, NEL, U+2028/U+2029 or other control character can
start a new header. A subscriber name that cannot be encoded falls back to the bare address.
"""

from __future__ import annotations

import copy
import html as html_lib
import json
import logging
import random
import re
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import policy as email_policy
from email import quoprimime
from email.errors import HeaderParseError as HeaderError
from email.generator import BytesGenerator
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

from digest.config import ListConfig, SiteConfig
from digest.exceptions import DeliveryError
from digest.templated import SharedParts, Templated
from digest.types import PERSONAL_FIELDS, RenderedEdition, Subscriber, placeholder

log = logging.getLogger("digest.message")

_PLACEHOLDERS = re.compile("|".join(re.escape(placeholder(f)) for f in PERSONAL_FIELDS))
_SPACES = re.compile(r"\s+")


class _UnfoldedUrlHeader(UnstructuredHeader):
    """A header made of ``<URL>`` items (List-Unsubscribe, List-Archive).

    The standard folder turns an over-long ASCII URL into RFC 2047 encoded words, which mail
    clients do not decode inside ``<...>``; here values are folded only after the commas
    between items, and never encoded. Values are ASCII (cleaned and checked by the caller).
    """

    def fold(self, *, policy: email_policy.Policy) -> str:  # type: ignore[override]
        items = [item.strip() for item in str(self).split(",")]
        sep = policy.linesep
        lines = [f"{self.name}: {items[0]}"]  # type: ignore[attr-defined]
        for item in items[1:]:
            if len(lines[-1]) + 2 + len(item) <= (policy.max_line_length or 78):
                lines[-1] += f", {item}"
            else:
                lines[-1] += ","
                lines.append(f" {item}")
        return sep.join(lines) + sep


class _SubjectHeader(UnstructuredHeader):
    """The Subject header, folded so that its first line carries text.

    CPython's folder moves a whole value that fits on a line of its own to the next line
    (``Subject:`` CRLF `` World news: ...``), which some parsers read with a leading space.
    This folds the standard output again, greedily at its spaces (encoded words have none
    inside, so the value decodes the same), at most ``policy.max_line_length`` per line
    (78 for ``email.policy.SMTP``, RFC 5322 2.1.1) where the words allow.
    """

    def fold(self, *, policy: email_policy.Policy) -> str:  # type: ignore[override]
        sep = policy.linesep
        folded = super().fold(policy=policy)  # type: ignore[misc]
        words = folded.rstrip("\r\n").replace(sep, "").replace("\r\n", "").split(" ")
        limit = policy.max_line_length or 78
        lines = [words[0]]  # "Subject:"
        for word in words[1:]:
            if len(lines) == 1 and lines[0] == words[0] or len(lines[-1]) + 1 + len(word) <= limit:
                lines[-1] += " " + word
            else:
                lines.append(" " + word)
        return sep.join(lines) + sep


def _policy() -> email_policy.EmailPolicy:
    registry = HeaderRegistry()
    registry.map_to_type("subject", _SubjectHeader)  # type: ignore[arg-type]
    registry.map_to_type("list-unsubscribe", _UnfoldedUrlHeader)  # type: ignore[arg-type]
    registry.map_to_type("list-archive", _UnfoldedUrlHeader)  # type: ignore[arg-type]
    return email_policy.SMTP.clone(header_factory=registry)  # type: ignore[return-value]


POLICY = _policy()
"""``email.policy.SMTP`` (CRLF, lines folded at 78) with URL-list headers that are never
RFC 2047-encoded and a Subject whose first line is never empty. Every transport writes
messages with it."""


def clean_header_value(value: object) -> str:
    """``value`` as one safe header line: every control, line-separator or paragraph-separator
    character (CR, LF, TAB, NUL, NEL U+0085, U+2028, U+2029, ...) becomes a space, runs of
    whitespace collapse to one space, and the ends are trimmed. ``None`` gives ``""``.

    This is the single gate for data (feed titles, names, config strings) entering headers.
    """
    if value is None:
        return ""
    text = str(value)
    if text.isascii() and text.isprintable():  # no control characters; only " " is a space
        return _SPACES.sub(" ", text).strip()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp", "Cs") or ch in "\u0085\u2028\u2029\ufeff":
            out.append(" ")
        else:
            out.append(ch)
    return _SPACES.sub(" ", "".join(out)).strip()


def personalise(text: str, values: Mapping[str, str], *, html: bool) -> str:
    """Replace every per-recipient placeholder (``%%name%%``, ``%%email%%``,
    ``%%unsubscribe_url%%``, ``%%preferences_url%%``; see ``digest.types.PERSONAL_FIELDS``)
    in ``text`` with ``values[field]``; a field missing from ``values`` becomes ``""``.

    With ``html=True`` values are HTML-escaped including quotes, so they are safe inside
    attribute values (``href="%%unsubscribe_url%%"``) as well as in text. One pass: a value
    that itself contains a placeholder is not expanded again.
    """

    def fill(match: re.Match[str]) -> str:
        field = match.group(0)[2:-2]
        value = str(values.get(field) or "")
        return html_lib.escape(value, quote=True) if html else value

    return _PLACEHOLDERS.sub(fill, text)


SUBSTITUTIONS_HEADER = "X-Digest-Substitutions"


def with_substitutions(message: EmailMessage, values: Mapping[str, str]) -> EmailMessage:
    """Attach per-recipient placeholder ``values`` (``{"name": "Ada", ...}``) to ``message``,
    whose body still holds the ``%%field%%`` placeholders, in the private
    ``X-Digest-Substitutions`` header (JSON). A transport that personalises server-side
    (SendGrid substitutions) sends one body for many recipients; the others call
    :func:`apply_substitutions`. The header never leaves digest. Returns ``message``."""
    del message[SUBSTITUTIONS_HEADER]
    message[SUBSTITUTIONS_HEADER] = json.dumps(dict(values), ensure_ascii=True)
    return message


def apply_substitutions(message: EmailMessage) -> EmailMessage:
    """A copy of ``message`` with its ``X-Digest-Substitutions`` values filled into the
    placeholders (HTML-escaped in ``text/html`` parts, see :func:`personalise`) and the hint
    header removed; ``message`` itself when it carries no hint."""
    raw = message.get(SUBSTITUTIONS_HEADER)
    if raw is None:
        return message
    try:
        values = {str(k): str(v) for k, v in json.loads(str(raw)).items()}
    except (ValueError, AttributeError):
        values = {}
    out = copy.deepcopy(message)
    del out[SUBSTITUTIONS_HEADER]
    subject = out.get("Subject")
    if subject is not None:
        out.replace_header("Subject", personalise(str(subject), values, html=False))
    for part in out.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        subtype = part.get_content_subtype()
        content = part.get_content()  # type: ignore[attr-defined]
        part.set_content(  # type: ignore[attr-defined]
            personalise(content, values, html=subtype == "html"), subtype=subtype, charset="utf-8"
        )
    return out


def public_copy(rendered: RenderedEdition, *, site: SiteConfig) -> RenderedEdition:
    """``rendered`` with its per-recipient placeholders filled for everyone at once: the copy
    kept in the archive ("view in browser") and written as ``edition.html``/``edition.txt``.
    The greeting is generic and the unsubscribe and preferences links lead to the site's
    general subscription page (``<base>/subscription``), never to one subscriber's token."""
    values = {
        "name": "there",
        "email": "",
        "unsubscribe_url": f"{site.base}/subscription",
        "preferences_url": f"{site.base}/subscription",
    }
    return replace(
        rendered,
        html=personalise(rendered.html, values, html=True),
        text=personalise(rendered.text, values, html=False),
    )


# ----------------------------------------------------------------------------------------
# The body of one rendering, quoted-printable encoded once for all its recipients.


@dataclass(frozen=True)
class _EncodedPart:
    """One text part of a rendering as ``email.contentmanager`` would encode it with
    ``cte="quoted-printable"``: ``chunks`` are either a ``str`` (already encoded lines,
    ending in a newline) or a ``(line,)`` tuple, a source line holding a placeholder that is
    personalised and encoded per recipient."""

    chunks: tuple[str | tuple[str], ...]
    html: bool

    @classmethod
    def of(cls, text: str, *, html: bool, max_line_length: int) -> _EncodedPart:
        # exactly contentmanager._encode_text: UTF-8 bytes split into lines (CR, LF, CRLF),
        # each line encoded on its own by quoprimime.body_encode (it splits on the same line
        # ends and never carries state from one line to the next), joined with LF
        lines = text.encode("utf-8").splitlines() or [b""]
        chunks: list[str | tuple[str]] = []
        run: list[bytes] = []

        def flush() -> None:
            if run:
                body = (b"\n".join(run) + b"\n").decode("latin-1")
                chunks.append(quoprimime.body_encode(body, max_line_length))
                run.clear()

        for line in lines:
            if b"%%" in line and _PLACEHOLDERS.search(line.decode("utf-8")):
                flush()
                chunks.append((line.decode("utf-8"),))
            else:
                run.append(line)
        flush()
        return cls(tuple(chunks), html)

    def payload(self, values: Mapping[str, str] | None, max_line_length: int) -> str:
        """The encoded payload, placeholders filled with ``values`` (kept when ``None``)."""
        out = []
        for chunk in self.chunks:
            if isinstance(chunk, str):
                out.append(chunk)
                continue
            line = chunk[0] if values is None else personalise(chunk[0], values, html=self.html)
            body = (line.encode("utf-8") + b"\n").decode("latin-1")
            out.append(quoprimime.body_encode(body, max_line_length))
        return "".join(out)


@dataclass(frozen=True)
class EncodedBody:
    """The text and HTML parts of one :class:`~digest.types.RenderedEdition` (one variant),
    quoted-printable encoded once (RFC 2045 6.7, as ``email.contentmanager`` does it for
    :data:`POLICY`: 78-column lines).

    Only the lines that hold a per-recipient placeholder (``%%unsubscribe_url%%`` ...) are
    personalised and encoded again for each recipient; every other line is shared. Quoted-
    printable encodes each line on its own, so the result is byte for byte what
    ``set_content(personalised, cte="quoted-printable")`` gives. Pass it to
    :func:`build_message` as ``body`` for every recipient of that rendering.
    """

    text: _EncodedPart
    html: _EncodedPart
    source: RenderedEdition

    @classmethod
    def of(cls, rendered: RenderedEdition) -> EncodedBody:
        """Encode ``rendered``'s ``text`` and ``html`` once."""
        width = POLICY.max_line_length or 78
        return cls(
            _EncodedPart.of(rendered.text, html=False, max_line_length=width),
            _EncodedPart.of(rendered.html, html=True, max_line_length=width),
            rendered,
        )

    def attach_to(self, msg: EmailMessage, values: Mapping[str, str] | None) -> None:
        """Give ``msg`` (a :data:`POLICY` message, headers set, no body yet) the
        ``multipart/alternative`` body that ``set_content`` + ``add_alternative`` would, with
        placeholders filled from ``values`` (left in place when ``None``)."""
        top, parts = _skeleton()
        width = POLICY.max_line_length or 78
        for name, value in top:
            msg.set_raw(name, value)
        for headers, encoded in zip(parts, (self.text, self.html), strict=True):
            part = EmailMessage(policy=POLICY)
            for name, value in headers:
                part.set_raw(name, value)
            part.set_payload(encoded.payload(values, width))
            msg.attach(part)


@lru_cache(maxsize=1)
def _skeleton() -> tuple[tuple[tuple[str, Any], ...], tuple[tuple[tuple[str, Any], ...], ...]]:
    """The headers ``set_content(text, cte="quoted-printable")`` then ``add_alternative(html,
    ...)`` give a :data:`POLICY` message (top level) and each of its two parts: the same for
    every body, so parsed once (header values are immutable)."""
    msg = EmailMessage(policy=POLICY)
    msg.set_content("\n", subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative("\n", subtype="html", charset="utf-8", cte="quoted-printable")
    parts = tuple(tuple(part.raw_items()) for part in msg.iter_parts())
    for _, header in (*msg.raw_items(), *(item for part in parts for item in part)):
        _remember_fold(header)
    return tuple(msg.raw_items()), parts


@lru_cache(maxsize=256)
def _parsed_header(name: str, value: str) -> tuple[str, Any]:
    """``POLICY.header_store_parse(name, value)``: what ``msg[name] = value`` stores, parsed
    once for the values every recipient of a list shares (From, Subject, List-Id ...)."""
    parsed = POLICY.header_store_parse(name, value)
    _remember_fold(parsed[1])
    return parsed  # type: ignore[no-any-return]


_FOLDED: dict[int, tuple[Any, email_policy.Policy, bytes]] = {}
"""Shared header objects (from :func:`_parsed_header` and :func:`_skeleton`) by ``id``, with
the bytes :data:`POLICY` folds them to; the object is kept, so its ``id`` is not reused."""


def _folds_like(policy: Any, other: Any) -> bool:
    """Whether ``policy`` folds headers as ``other`` does (the generator clones the policy
    for each part with the same settings)."""
    return policy is other or all(
        getattr(policy, name) == getattr(other, name)
        for name in ("linesep", "max_line_length", "utf8", "cte_type", "refold_source",
                     "header_factory")
    )


def _remember_fold(header: Any) -> None:
    if len(_FOLDED) > 4096:
        _FOLDED.clear()
    _FOLDED[id(header)] = (header, POLICY, POLICY.fold_binary(header.name, header))


def _set_shared(msg: EmailMessage, name: str, value: str) -> None:
    """``msg[name] = value`` for a header value shared by many messages (parsed once)."""
    if msg.policy is POLICY:
        msg.set_raw(*_parsed_header(name, value))
    else:
        msg[name] = value


_BOUNDARY_DIGITS = "%0" + str(len(repr(sys.maxsize - 1))) + "d"


class _BytesGenerator(BytesGenerator):
    """``email.generator.BytesGenerator`` that writes a plain-ASCII text payload (quoted-
    printable, 7bit) in one piece instead of line by line; the bytes are the same (every
    line end becomes the policy's ``linesep``)."""

    _LINE_ENDS = re.compile(r"\r\n|\r|\n")

    @classmethod
    def _make_boundary(cls, text: Any = None) -> str:
        # The standard boundary ("=" * 15, random digits, "==") must not occur in the text;
        # the standard check compiles a new regular expression for every message. Text with
        # no "==" at all (quoted-printable bodies never have one) cannot hold it: the same
        # random draw gives the same boundary without the search.
        if isinstance(text, bytes) and b"==" not in text:
            return "=" * 15 + (_BOUNDARY_DIGITS % random.randrange(sys.maxsize)) + "=="
        return super()._make_boundary(text)  # type: ignore[misc,no-any-return]

    def _handle_text(self, msg: Any) -> None:
        payload = msg._payload
        if isinstance(payload, str) and payload.isascii() and not self._mangle_from_:  # type: ignore[attr-defined]
            nl = self._NL  # type: ignore[attr-defined]
            if "\r" in payload:
                text = self._LINE_ENDS.sub(nl, payload)
            else:
                text = payload.replace("\n", nl)
            self._fp.write(text.encode("ascii"))  # type: ignore[attr-defined]
            return
        super()._handle_text(msg)  # type: ignore[misc]

    def _write_headers(self, msg: Any) -> None:
        # as the standard one, but a header object shared by many messages is folded once
        for name, value in msg.raw_items():
            folded = _FOLDED.get(id(value))
            if folded is None or folded[0] is not value or not _folds_like(self.policy, folded[1]):
                self._fp.write(self.policy.fold_binary(name, value))  # type: ignore[attr-defined,union-attr]
            else:
                self._fp.write(folded[2])  # type: ignore[attr-defined]
        self.write(self._NL)  # type: ignore[attr-defined]


def message_bytes(message: EmailMessage, policy: email_policy.Policy | None = None) -> bytes:
    """``message.as_bytes(policy=policy or POLICY)``, the same bytes, faster for large
    quoted-printable bodies (the transports write messages with this)."""
    out = BytesIO()
    _BytesGenerator(out, mangle_from_=False, policy=policy or POLICY).flatten(message)
    return out.getvalue()


def _list_id(list_name: str, title: str, site: SiteConfig) -> str:
    host = clean_header_value(urlsplit(site.base).hostname or "localhost")
    phrase = clean_header_value(title).replace("\\", "").replace('"', "")
    if phrase and phrase.isascii() and re.search(r"[()<>\[\]:;@,.]", phrase):
        phrase = f'"{phrase}"'
    ident = f"<{list_name}.{host}>"
    return f"{phrase} {ident}" if phrase else ident


def _ascii_url(url: str | None) -> str | None:
    url = clean_header_value(url).replace(" ", "%20")
    if not url or not url.isascii() or "<" in url or ">" in url or "," in url:
        return None
    return url


def _recipient(subscriber: Subscriber) -> Address:
    email = clean_header_value(subscriber.email)
    try:
        if "@" not in email or " " in email:
            raise ValueError("not of the form local@domain")
        local, _, domain = email.rpartition("@")
        if not domain.isascii():  # internationalised domain: the ASCII (punycode) form
            email = f"{local}@{domain.encode('idna').decode('ascii')}"
        bare = Address(addr_spec=email)
    except (ValueError, IndexError, TypeError, HeaderError, UnicodeError) as exc:
        raise DeliveryError(f"invalid recipient address: {exc}", recipient=email) from exc
    name = clean_header_value(subscriber.name)
    if not name:
        return bare
    try:
        addr = Address(display_name=name, addr_spec=email)
        str(addr)  # formatting may fail for odd names; fall back below
        return addr
    except (ValueError, IndexError, TypeError, HeaderError):
        log.warning("message.bad_name recipient=%s", email)
        return bare


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def _recipient_parts(subscriber: Subscriber) -> tuple[str, str]:
    """``(addr_spec, display_name)`` of :func:`_recipient` without building the header
    object when the address is a plain ASCII dot-atom and the name plain ASCII (parsing
    then cannot change or refuse either). Raises :class:`DeliveryError` as it does."""
    email = clean_header_value(subscriber.email)
    name = clean_header_value(subscriber.name)
    if _PLAIN_ADDRESS.fullmatch(email) and name.isascii():
        return email, name
    address = _recipient(subscriber)
    return address.addr_spec, address.display_name


def _sender_domain(sender: str) -> str:
    _, addr = parseaddr(sender)
    domain = addr.rpartition("@")[2]
    return domain or "localhost"


def _unsubscribe_headers(
    unsubscribe_url: str, unsubscribe_mailto: str | None
) -> list[tuple[str, str]]:
    """The recipient's RFC 2369 List-Unsubscribe and RFC 8058 List-Unsubscribe-Post."""
    web = _ascii_url(unsubscribe_url)
    targets = [f"<{u}>" for u in (web, _ascii_url(unsubscribe_mailto)) if u]
    out = [("List-Unsubscribe", ", ".join(targets))] if targets else []
    if web and web.lower().startswith(("https://", "http://")):
        # RFC 8058 asks for an https URI; a plain-http base_url (local demo) still gets the
        # header because the web endpoint accepts the POST all the same.
        out.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return out


def _values(
    subscriber: Subscriber, unsubscribe_url: str, preferences_url: str | None
) -> dict[str, str]:
    """The placeholder values of ``subscriber`` (see :func:`personalise`)."""
    return {
        "name": clean_header_value(subscriber.name) or "there",
        "email": clean_header_value(subscriber.email),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url or unsubscribe_url,
    }


def build_message(
    rendered: RenderedEdition,
    subscriber: Subscriber,
    *,
    list_config: ListConfig,
    site: SiteConfig,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None,
    preferences_url: str | None,
    now: datetime,
    message_id: str | None = None,
    substitute: bool = True,
    body: EncodedBody | None = None,
) -> EmailMessage:
    """The email for ``subscriber``: ``rendered`` personalised, with RFC 5322/2369/2919/8058
    headers (see the module docstring for the shape).

    With ``substitute=False`` the bodies keep their placeholders and the values travel in
    the ``X-Digest-Substitutions`` hint (:func:`with_substitutions`), so a transport can
    send one body to many recipients (SendGrid substitutions); :func:`apply_substitutions`
    turns such a message into the personalised one.

    - ``unsubscribe_url`` is the https one-click URL (RFC 8058: it must accept a POST of
      ``List-Unsubscribe=One-Click``); ``unsubscribe_mailto`` an optional ``mailto:`` URI.
    - ``preferences_url`` falls back to ``unsubscribe_url`` when ``None``.
    - ``now`` becomes the Date header (naive means UTC). ``message_id`` (with or without
      angle brackets) is used when given, else one is made on the sender's domain.
    - In the personalised parts ``%%name%%`` is the subscriber's name, or ``"there"``.
    - ``body`` is ``EncodedBody.of(rendered)``, made once per rendering and passed for each
      of its recipients: the same message, without encoding the whole body again.

    Raises :class:`DeliveryError` (with the recipient) only when the subscriber's email
    address itself is unusable; a bad display name falls back to the bare address.
    """
    msg = EmailMessage(policy=POLICY)
    _set_shared(msg, "From", clean_header_value(list_config.sender))
    msg["To"] = _recipient(subscriber)
    subject = clean_header_value(rendered.subject) or clean_header_value(list_config.title)
    _set_shared(msg, "Subject", subject)
    when = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    _set_shared(msg, "Date", format_datetime(when))
    if message_id:
        mid = clean_header_value(message_id).replace(" ", "")
        msg["Message-ID"] = mid if mid.startswith("<") else f"<{mid.strip('<>')}>"
    else:
        msg["Message-ID"] = make_msgid(domain=_sender_domain(list_config.sender))
    if list_config.reply_to:
        _set_shared(msg, "Reply-To", clean_header_value(list_config.reply_to))
    _set_shared(msg, "List-Id", _list_id(list_config.name, list_config.title, site))
    for name, value in _unsubscribe_headers(unsubscribe_url, unsubscribe_mailto):
        if name == "List-Unsubscribe":
            msg[name] = value
        else:
            _set_shared(msg, name, value)
    archive = _ascii_url(rendered.web_url)
    if archive:
        _set_shared(msg, "List-Archive", f"<{archive}>")

    values = _values(subscriber, unsubscribe_url, preferences_url)
    if body is not None and body.source is rendered:
        body.attach_to(msg, values if substitute else None)
        return msg if substitute else with_substitutions(msg, values)
    text, html = rendered.text, rendered.html
    if substitute:
        text = personalise(text, values, html=False)
        html = personalise(html, values, html=True)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg if substitute else with_substitutions(msg, values)


def shared_parts(
    rendered: RenderedEdition,
    *,
    list_config: ListConfig,
    site: SiteConfig,
    body: EncodedBody | None = None,
) -> SharedParts:
    """What every recipient of ``rendered`` shares, made once per rendering for
    :func:`templated_message`: the values a transport would read back out of each message
    :func:`build_message` composes with ``substitute=False`` (header text of From,
    Reply-To, Subject, List-Id and List-Archive; the decoded text and HTML with their
    placeholders). ``body`` is ``EncodedBody.of(rendered)`` when the caller has it."""
    msg = EmailMessage(policy=POLICY)
    _set_shared(msg, "From", clean_header_value(list_config.sender))
    subject = clean_header_value(rendered.subject) or clean_header_value(list_config.title)
    _set_shared(msg, "Subject", subject)
    if list_config.reply_to:
        _set_shared(msg, "Reply-To", clean_header_value(list_config.reply_to))
    _set_shared(msg, "List-Id", _list_id(list_config.name, list_config.title, site))
    archive = _ascii_url(rendered.web_url)
    if archive:
        _set_shared(msg, "List-Archive", f"<{archive}>")
    (body if body is not None and body.source is rendered else EncodedBody.of(rendered)).attach_to(
        msg, None
    )
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    shown = {name: str(value) for name, value in msg.raw_items()}
    return SharedParts(
        sender=shown["From"],
        reply_to=shown.get("Reply-To"),
        subject=shown["Subject"],
        headers=tuple((n, shown[n]) for n in ("List-Id", "List-Archive") if n in shown),
        text=None if text is None else text.get_content(),  # type: ignore[attr-defined]
        html=None if html is None else html.get_content(),  # type: ignore[attr-defined]
    )


def templated_message(
    rendered: RenderedEdition,
    subscriber: Subscriber,
    *,
    shared: SharedParts,
    list_config: ListConfig,
    site: SiteConfig,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None,
    preferences_url: str | None,
    now: datetime,
    message_id: str | None = None,
    body: EncodedBody | None = None,
) -> Templated:
    """:func:`build_message` for a transport that personalises server-side, without
    writing the message: ``shared`` (:func:`shared_parts` of ``rendered``) plus this
    recipient's address, display name, List-Unsubscribe headers and placeholder values.
    Its ``full()`` is ``build_message(...)`` with the same arguments (personalised), for a
    transport that needs the whole message. Raises :class:`DeliveryError` (with the
    recipient) when the address is unusable, as :func:`build_message` does."""
    addr_spec, display = _recipient_parts(subscriber)
    name = display if addr_spec.lower() == subscriber.email.lower() else ""

    def full() -> EmailMessage:
        return build_message(
            rendered, subscriber, list_config=list_config, site=site,
            unsubscribe_url=unsubscribe_url, unsubscribe_mailto=unsubscribe_mailto,
            preferences_url=preferences_url, now=now, message_id=message_id, body=body,
        )

    return Templated(
        shared=shared, email=subscriber.email, name=name,
        headers=tuple(_unsubscribe_headers(unsubscribe_url, unsubscribe_mailto)),
        values=_values(subscriber, unsubscribe_url, preferences_url), full=full,
    )


__all__ = [
    "POLICY",
    "SUBSTITUTIONS_HEADER",
    "EncodedBody",
    "apply_substitutions",
    "build_message",
    "clean_header_value",
    "message_bytes",
    "personalise",
    "public_copy",
    "shared_parts",
    "templated_message",
    "with_substitutions",
]
