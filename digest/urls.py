"""URL helpers for feed items: safe absolute http(s) links and identity normalisation.

Rules (WHATWG URL Standard where it matters for safety, RFC 3986 for resolution):

- ASCII tab, CR and LF anywhere in a URL are removed before anything else, as browsers do,
  so ``java\\tscript:`` is seen for what it is (``javascript:``) and rejected.
- Leading/trailing whitespace and C0 controls are stripped; controls inside are rejected.
- Only ``http`` and ``https`` survive (scheme compared case-insensitively, then lower-cased);
  ``javascript:``, ``data:``, ``vbscript:``, ``file:`` ... give ``None``.
- Relative references are resolved against a base (``xml:base``, item link or feed URL).
- Host lower-cased, default port dropped, user-info dropped, empty path becomes ``/``,
  characters that may not appear in a URL (space, quotes, ``<``, ``>``, backtick, ...) are
  percent-encoded so the result can never break out of an HTML attribute.
- :func:`identity_url` additionally drops the fragment and tracking parameters
  (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``, ``mc_eid``, ...), the form used for
  ``Entry.entry_id`` when an item has no guid.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

__all__ = [
    "TRACKING_PARAMS",
    "identity_url",
    "is_http_url",
    "safe_http_url",
    "strip_tracking",
]

#: Query parameters that only track the reader; removed for identity and from item links.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "rb_clickid",
        "s_cid",
        "cmpid",
        "ncid",
        "ito",
        "ref_src",
        "__twitter_impression",
        "_ga",
        "_gl",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "piwik_")

_STRIP_ANYWHERE = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Characters kept as they are when re-quoting; everything else (space, quotes, <, >, `, {, },
# |, \, ^, non-ASCII) is percent-encoded. "%" is kept so existing escapes are not doubled.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = "/?:@!$&'()*+,;=-._~%"
_MAX_URL = 4096


def _clean(raw: str) -> str | None:
    """Remove tab/CR/LF everywhere and outer whitespace; ``None`` if controls remain."""
    s = _STRIP_ANYWHERE.sub("", raw).strip(
        " \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
        "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19"
        "\x1a\x1b\x1c\x1d\x1e\x1f\xa0"
    )
    if not s or len(s) > _MAX_URL or _CONTROL.search(s):
        return None
    return s


def is_http_url(url: str | None) -> bool:
    """True when ``url`` is an absolute ``http``/``https`` URL with a host (no normalising)."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def safe_http_url(raw: str | None, base: str | None = None) -> str | None:
    """Resolve and normalise ``raw`` to a safe absolute http(s) URL, or ``None``.

    ``base`` (an absolute http(s) URL, e.g. ``xml:base``, the item or the feed URL) is used
    for relative references; a relative ``raw`` without a usable base gives ``None``. A raw
    value whose scheme is anything but http/https (``javascript:``, ``data:``, tab-split or
    mixed-case variants of them) gives ``None``. Tracking parameters are removed; the
    fragment is kept. Never raises.
    """
    if raw is None:
        return None
    s = _clean(str(raw))
    if s is None:
        return None
    m = _SCHEME.match(s)
    if m:
        if m.group(1).lower() not in ("http", "https"):
            return None
    else:
        b = _normalise(base) if base else None
        if b is None:
            if s.startswith("//"):  # scheme-relative and no base: assume https
                s = "https:" + s
            else:
                return None
        else:
            try:
                s = urljoin(b, s)
            except ValueError:
                return None
    return _normalise(s, drop_tracking=True)


@functools.lru_cache(maxsize=4096)  # a feed's base URL and each link come back several times
def _normalise(
    url: str | None, *, drop_tracking: bool = False, drop_fragment: bool = False
) -> str | None:
    """Split, check and rebuild an absolute http(s) URL in normal form; ``None`` if unsafe.
    A pure function of its arguments, so its results are cached (issue 14)."""
    if not url:
        return None
    s = _clean(url)
    if s is None:
        return None
    try:
        parts = urlsplit(s)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            return None
        host = parts.hostname  # lower-cased by urllib; strips user-info
        port = parts.port
    except ValueError:
        return None
    if not host or any(c in host for c in " <>\"'`\\^{}|%"):
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if port is not None and not (
        (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    ):
        netloc = f"{host}:{port}"
    path = quote(parts.path, safe=_SAFE_PATH) or "/"
    query = parts.query
    if drop_tracking and query:
        query = strip_tracking_query(query)
    query = quote(query, safe=_SAFE_QUERY)
    fragment = "" if drop_fragment else quote(parts.fragment, safe=_SAFE_QUERY)
    return urlunsplit((scheme, netloc, path, query, fragment))


def strip_tracking_query(query: str) -> str:
    """Remove tracking parameters from a raw query string, keeping the others in order."""
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = pair.split("=", 1)[0].lower()
        if name in TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES):
            continue
        kept.append(pair)
    return "&".join(kept)


def strip_tracking(url: str) -> str:
    """Return ``url`` without tracking query parameters (other parts untouched)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit(parts._replace(query=strip_tracking_query(parts.query)))


def identity_url(raw: str | None, base: str | None = None) -> str | None:
    """The identity form of a link: :func:`safe_http_url` without fragment and tracking.

    Two links that differ only in host case, default port, tracking parameters or fragment
    give the same string. ``None`` when the link is not a safe http(s) URL.
    """
    url = safe_http_url(raw, base)
    if url is None:
        return None
    return _normalise(url, drop_tracking=True, drop_fragment=True)
