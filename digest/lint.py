"""Check an email (HTML or a whole ``.eml`` message) against the email-client rules digest
follows: what Gmail, Outlook and Apple Mail would do to it. ``digest lint FILE`` prints the
problems and exits 1 when there are any.

Rules (codes as printed):

- ``size``: the HTML is over 102 KB (102 × 1024 bytes, UTF-8); Gmail clips the rest of the
  message behind "[Message clipped] View entire message", footer and unsubscribe link too.
- ``style-size``: the ``<style>`` blocks add up to over 16 KB; Gmail drops them all.
- ``doctype``: no ``<!doctype html>``: clients fall back to quirks mode.
- ``img-alt``: an ``<img>`` without ``alt`` (screen readers read the file name; with images
  blocked the reader sees nothing).
- ``img-width``: an ``<img>`` without a numeric ``width`` attribute (Outlook for Windows
  shows it at its natural size); ``width="auto"`` is reported as such.
- ``link-scheme``: a link that is not https (``http:`` links warn in some clients and break
  on HSTS hosts; ``mailto:``, ``tel:``, in-page ``#`` links and per-recipient placeholders
  such as ``%%unsubscribe_url%%`` are fine).
- ``unsubscribe`` (messages only): ``List-Unsubscribe`` has no https URL, or
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` is missing (RFC 8058; Gmail and Yahoo
  require one-click unsubscribe from bulk senders).
- ``html-part`` (messages only): the message has no ``text/html`` part to check.

The checks are pure functions over text and parsed messages (:func:`lint_html`,
:func:`lint_message`); :func:`lint_file` reads a file and picks by content.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email import policy as email_policy
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from pathlib import Path

MAX_HTML_BYTES = 102 * 1024
"""Gmail clips a message whose HTML is larger than this (about 102 KB)."""

MAX_STYLE_BYTES = 16 * 1024
"""Gmail ignores every ``<style>`` block when together they exceed this."""

_PLACEHOLDER = re.compile(r"^%%[a-z_]+%%$")
_OK_SCHEMES = ("https:", "mailto:", "tel:", "#", "cid:")


@dataclass(frozen=True)
class Problem:
    """One rule broken: ``code`` (see the module docstring), a readable ``message``."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class _Scan(HTMLParser):
    """Collects what the rules look at: doctype, style text, images, links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doctype = False
        self.style_bytes = 0
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self._in_style = False

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype html"):
            self.doctype = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "style":
            self._in_style = True
        elif tag == "img":
            self.images.append(values)
        elif tag in ("a", "area") and values.get("href") is not None:
            self.links.append((values.get("href") or "").strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style_bytes += len(data.encode("utf-8"))


def _short(text: str | None, limit: int = 80) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lint_html(html: str) -> list[Problem]:
    """The problems of one email's HTML (see the module docstring for the rules), in the
    order of the rules; ``[]`` when it passes. Never raises on malformed HTML."""
    problems: list[Problem] = []
    size = len(html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        problems.append(
            Problem("size", f"HTML is {size:,} bytes; Gmail clips over {MAX_HTML_BYTES:,}")
        )
    scan = _Scan()
    scan.feed(html)
    scan.close()
    if scan.style_bytes > MAX_STYLE_BYTES:
        problems.append(
            Problem(
                "style-size",
                f"<style> is {scan.style_bytes:,} bytes; Gmail drops it over {MAX_STYLE_BYTES:,}",
            )
        )
    if not scan.doctype:
        problems.append(Problem("doctype", "no <!doctype html>"))
    for image in scan.images:
        src = _short(image.get("src"))
        if image.get("alt") is None:
            problems.append(Problem("img-alt", f"image without alt: {src}"))
        width = (image.get("width") or "").strip().lower()
        if width == "auto":
            problems.append(Problem("img-width", f'image with width="auto": {src}'))
        elif not width.rstrip("px").isdigit():
            problems.append(Problem("img-width", f"image without a width attribute: {src}"))
    for href in scan.links:
        if not href or _PLACEHOLDER.match(href) or href.lower().startswith(_OK_SCHEMES):
            continue
        problems.append(Problem("link-scheme", f"link is not https: {_short(href)}"))
    return list(dict.fromkeys(problems))  # a link repeated in header and footer counts once


def _unsubscribe_problems(message: Message) -> list[Problem]:
    header = str(message.get("List-Unsubscribe") or "")
    urls = re.findall(r"<([^>]*)>", header)
    problems = []
    if not any(u.strip().lower().startswith("https://") for u in urls):
        problems.append(
            Problem(
                "unsubscribe", f"List-Unsubscribe has no https URL: {_short(header) or '(missing)'}"
            )
        )
    post = " ".join(str(message.get("List-Unsubscribe-Post") or "").split())
    if post != "List-Unsubscribe=One-Click":
        problems.append(
            Problem(
                "unsubscribe",
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click is missing (RFC 8058)",
            )
        )
    return problems


def lint_message(message: Message) -> list[Problem]:
    """The problems of a whole message: its one-click unsubscribe headers (RFC 2369, RFC
    8058), then :func:`lint_html` on its first ``text/html`` part. ``[]`` when it passes."""
    problems = _unsubscribe_problems(message)
    html_part = next(
        (p for p in message.walk() if p.get_content_type() == "text/html" and not p.is_multipart()),
        None,
    )
    if html_part is None:
        return [*problems, Problem("html-part", "no text/html part")]
    if isinstance(html_part, EmailMessage):
        html = html_part.get_content()
    else:  # pragma: no cover - compat32 messages
        payload = html_part.get_payload(decode=True)
        html = (
            payload.decode(html_part.get_content_charset() or "utf-8", "replace")
            if isinstance(payload, bytes)
            else str(payload)
        )
    return [*problems, *lint_html(html)]


def lint_bytes(data: bytes) -> list[Problem]:
    """Lint ``data``: a message (RFC 5322 headers first) or bare HTML, told apart by content."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):  # markup, not a header line
        return lint_html(data.decode("utf-8", "replace"))
    return lint_message(email.message_from_bytes(data, policy=email_policy.default))


def lint_file(path: str | Path) -> list[Problem]:
    """Lint the file at ``path`` (``.eml`` message or HTML). Raises ``OSError`` when it
    cannot be read."""
    return lint_bytes(Path(path).read_bytes())


__all__ = [
    "MAX_HTML_BYTES",
    "MAX_STYLE_BYTES",
    "Problem",
    "lint_bytes",
    "lint_file",
    "lint_html",
    "lint_message",
]
