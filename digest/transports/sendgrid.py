"""SendGrid v3 Mail Send transport (``sendgrid`` package, ``POST /v3/mail/send``).

Efficiency: messages of a batch that are the same apart from the recipient are sent as one
request with up to 1000 ``personalizations`` (SendGrid's limit). "The same" means equal
From, Reply-To, Subject, shared headers and text/HTML content. For the per-recipient parts
(name, unsubscribe link) to be shared as well, ``compose`` leaves the placeholders of
:func:`digest.types.placeholder` in the body and attaches the values with
:func:`with_substitutions` (a private ``X-Digest-Substitutions`` header the transport
removes); SendGrid fills them in per recipient (``substitutions``). In the HTML part the
values are HTML-escaped; the text part and the subject get the raw values (they are rewritten
to ``%%field|text%%`` placeholders so the two can differ). A message without the hint is
sent as it is and shares a request only with identical messages.

Per recipient the request also carries: ``to`` (address and display name), ``custom_args``
``{"digest_delivery": <opaque signed delivery id>}`` (see :func:`delivery_ref`; the Event
Webhook gives it back), and the ``List-Unsubscribe``/``List-Unsubscribe-Post`` headers
(RFC 2369, RFC 8058), which differ per recipient. ``Message-ID`` and ``Date`` are left to
SendGrid. ``categories`` come from the config; ``sandbox`` turns on ``mail_settings.
sandbox_mode`` (SendGrid validates but delivers nothing).

Outcomes per request:

- 2xx: every recipient ``sent`` (``provider_id`` = the ``X-Message-Id`` response header);
- 429: wait until ``X-RateLimit-Reset`` (epoch seconds) or ``Retry-After`` (seconds),
  through the injectable ``sleep``, and try again (at most ``max_rate_waits`` times, then
  ``queued``);
- 400 naming personalizations (``field: personalizations.N...``): those recipients
  ``failed`` with SendGrid's message, the others re-sent once without them; other 4xx:
  every recipient of the request ``failed`` with the reason;
- 5xx with SendGrid's own JSON error document (``{"errors": [...]}``): a confirmed refusal,
  ``queued`` (the ledger retries it with back-off);
- any other 5xx (a gateway's page, no body), timeout, reset connection, a body that is not an
  answer: ``unknown`` (the request may have been taken);
- connection refused: ``queued`` (nothing reached SendGrid).

The API key comes from the environment variable the config names and is never logged: the
``python_http_client`` logger (which logs request headers and payloads at DEBUG) gets a
filter that removes the key and the payload from its records.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import json
import logging
import re
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from http.client import HTTPException
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient

from digest.config import SendgridConfig
from digest.exceptions import DeliveryError
from digest.message import SUBSTITUTIONS_HEADER, with_substitutions
from digest.templated import SharedParts, Templated
from digest.transports import Outgoing
from digest.types import DeliveryState, SendOutcome

log = logging.getLogger("digest.transports.sendgrid")

MAX_PERSONALIZATIONS = 1000
_PER_RECIPIENT_HEADERS = ("list-unsubscribe", "list-unsubscribe-post")
_DROPPED_HEADERS = {
    "to", "cc", "bcc", "from", "reply-to", "subject", "date", "message-id", "mime-version",
    "content-type", "content-transfer-encoding", "content-disposition",
    SUBSTITUTIONS_HEADER.lower(), *_PER_RECIPIENT_HEADERS,
}
_FIELD_RE = re.compile(r"^personalizations\.(\d+)")
_PLACEHOLDER_RE = re.compile(r"%%([a-z_]+)%%")
_REF_SALT = "digest-delivery-ref"
_JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}


@functools.lru_cache(maxsize=8)
def _ref_serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_REF_SALT)


@functools.lru_cache(maxsize=8)
def _ref_mac(secret: str) -> Any:
    """HMAC-SHA1 keyed as itsdangerous' ``Signer`` derives it (``django-concat``:
    ``sha1(salt + b"signer" + secret)``), ready to be copied per reference."""
    key = hashlib.sha1(_REF_SALT.encode() + b"signer" + secret.encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha1)


def delivery_ref(secret: str, delivery_id: int) -> str:
    """The opaque, signed reference to a ledger row sent in ``custom_args``: exactly
    ``URLSafeSerializer(secret, salt=...).dumps(delivery_id)`` (base64url of the JSON
    number, ``.``, base64url of its HMAC-SHA1), written directly since it is made once per
    recipient; :func:`read_delivery_ref` reads it with itsdangerous."""
    if type(delivery_id) is not int or not 0 <= delivery_id < 10**9:
        # itsdangerous compresses a payload when that makes it shorter (never below 10
        # characters: zlib's own overhead is more)
        return str(_ref_serializer(secret).dumps(delivery_id))
    payload = base64.urlsafe_b64encode(str(delivery_id).encode()).rstrip(b"=")
    mac = _ref_mac(secret).copy()
    mac.update(payload)
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
    return (payload + b"." + signature).decode("ascii")


def read_delivery_ref(secret: str, ref: str) -> int | None:
    """The delivery id in a :func:`delivery_ref`, or ``None`` when it is not one of ours."""
    try:
        value = _ref_serializer(secret).loads(ref)
    except BadData:
        return None
    return value if isinstance(value, int) else None


def message_id_candidates(sg_message_id: str) -> list[str]:
    """The ``X-Message-Id`` values (what a ``sent`` row keeps as its ``provider_id``) that an
    Event Webhook ``sg_message_id`` may stand for: SendGrid builds it from the request's
    ``X-Message-Id`` followed by ``.filter…``-style parts, so every dot-separated prefix of
    it, longest first (``a.b.filter0001.1`` -> ``a.b.filter0001.1``, ``a.b.filter0001``,
    ``a.b``, ``a``). Empty for an empty id."""
    parts = sg_message_id.strip().split(".")
    if not parts[0]:
        return []
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


class _RedactFilter(logging.Filter):
    """Keeps API keys and payloads out of python_http_client's DEBUG records."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith("PAYLOAD:"):
            msg = "PAYLOAD: (omitted by digest)"
        for secret in self.secrets:
            msg = msg.replace(secret, "[redacted]")
        if msg.startswith("HEADERS:"):
            msg = re.sub(r"(?i)('authorization':\s*')[^']*'", r"\1[redacted]'", msg)
        record.msg, record.args = msg, None
        return True


_redactor = _RedactFilter()


def _guard_logs(api_key: str) -> None:
    _redactor.secrets.add(api_key)
    for name in ("python_http_client", "python_http_client.client"):
        lg = logging.getLogger(name)
        if _redactor not in lg.filters:
            lg.addFilter(_redactor)


class _Item:
    """One outgoing message split into what it shares with others (``common``, and
    ``common_json``: it serialised, without the braces) and what is its own."""

    __slots__ = ("common_json", "key", "outgoing", "personal")

    def __init__(self, outgoing: Outgoing, key: Any, common_json: str,
                 personal: dict[str, Any]) -> None:
        self.outgoing = outgoing
        self.key = key
        self.common_json = common_json
        self.personal = personal


class SendgridTransport:
    """Send batches through SendGrid's v3 Mail Send API. See the module docstring.

    ``api_key`` defaults to the environment variable ``config.api_key_env``; ``secret``
    signs the delivery references in ``custom_args``. ``sleep`` and ``clock`` (epoch
    seconds) are injectable for tests. Raises :class:`DeliveryError` when no API key is set.
    """

    name = "sendgrid"

    def __init__(
        self,
        config: SendgridConfig,
        *,
        secret: str,
        api_key: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_rate_waits: int = 5,
        max_wait: float = 120.0,
    ) -> None:
        import os

        key = api_key or os.environ.get(config.api_key_env)
        if not key:
            raise DeliveryError(f"SendGrid API key missing: set ${config.api_key_env}")
        _guard_logs(key)
        self.config = config
        self.secret = secret
        self.sleep = sleep
        self.clock = clock
        self.max_rate_waits = max_rate_waits
        self.max_wait = max_wait
        self.requests = 0
        self._client = SendGridAPIClient(api_key=key, host=str(config.host).rstrip("/"))
        # shared request JSON per rendering (templated messages), kept across batches
        self._shared: dict[Any, tuple[SharedParts, str]] = {}

    def close(self) -> None:
        """Nothing to release (one HTTP connection per request); safe to call twice."""

    # -- building requests ------------------------------------------------------------------

    def _common(self, sender_raw: str, reply_raw: str | None, subject: str,
                shared_headers: tuple[tuple[str, str], ...], text: str | None,
                html_body: str | None) -> str:
        """The request's shared fields (from, subject, content, reply_to, headers and the
        configured categories and sandbox setting) as JSON without the outer braces."""
        content = []
        if text is not None:
            content.append({"type": "text/plain", "value": text})
        if html_body is not None:
            content.append({"type": "text/html", "value": html_body})
        common: dict[str, Any] = {"from": _address(sender_raw), "subject": subject,
                                  "content": content}
        if reply_raw:
            common["reply_to"] = _address(reply_raw)
        if shared_headers:
            common["headers"] = dict(shared_headers)
        if self.config.categories:
            common["categories"] = list(self.config.categories)
        if self.config.sandbox:
            common["mail_settings"] = {"sandbox_mode": {"enable": True}}
        return json.dumps(common)[1:-1]

    def _personal(self, out: Outgoing, name: str, own_headers: dict[str, str],
                  values: Mapping[str, str]) -> dict[str, Any]:
        to: dict[str, str] = {"email": out.recipient}
        if name:
            to["name"] = name
        personal: dict[str, Any] = {
            "to": [to],
            "custom_args": {"digest_delivery": delivery_ref(self.secret, out.delivery_id)},
        }
        if own_headers:
            personal["headers"] = own_headers
        if values:
            subst = {}
            for k, v in values.items():
                subst[f"%%{k}%%"] = html.escape(v, quote=True)
                subst[f"%%{k}|text%%"] = v
            personal["substitutions"] = subst
        return personal

    def _templated(self, out: Outgoing, message: Templated) -> _Item:
        """Split a :class:`~digest.templated.Templated` message: its shared parts are
        turned into request JSON once per rendering (and set of placeholder fields) for
        the transport's life; per recipient only the personalization is built."""
        shared = message.shared
        values = message.values
        names = tuple(sorted(values))
        key = (id(shared), names)
        entry = self._shared.get(key)
        if entry is None or entry[0] is not shared:
            subject, text = shared.subject, shared.text
            if values:
                subject, text = _text_variants(subject, text, values)
            if len(self._shared) >= 64:
                self._shared.clear()
            common_json = self._common(shared.sender, shared.reply_to, subject, shared.headers,
                                       text, shared.html)
            entry = self._shared[key] = (shared, common_json)
        personal = self._personal(out, message.name, dict(message.headers), values)
        return _Item(out, key, entry[1], personal)

    def _split(self, out: Outgoing, cache: dict[Any, Any]) -> _Item:
        """Split one whole message; ``cache`` (one per :meth:`send`) shares decoded parts and
        parsed senders between messages that share them (one rendered edition, many
        recipients), so a batch costs little more than its per-recipient headers."""
        msg = out.message
        headers: list[tuple[str, str]] = [
            (name, _header_text(msg, name, value)) for name, value in msg.raw_items()
        ]
        lower = {name.lower(): value for name, value in reversed(headers)}
        values: dict[str, str] = {}
        subs_raw = lower.get(SUBSTITUTIONS_HEADER.lower())
        if subs_raw:
            try:
                loaded = json.loads(subs_raw)
                values = {str(k): str(v) for k, v in loaded.items()}
            except (ValueError, AttributeError):
                values = {}
        parts_key = ("parts", id(msg) if not msg.is_multipart() else
                     tuple(id(p) for p in msg.get_payload()))  # type: ignore[union-attr]
        parts = cache.get(parts_key)
        if parts is None:
            text = html_body = None
            for part in msg.walk():
                if part.is_multipart() or part.get_content_disposition() == "attachment":
                    continue
                ctype = part.get_content_type()
                if ctype == "text/plain" and text is None:
                    text = part.get_content()  # type: ignore[attr-defined]
                elif ctype == "text/html" and html_body is None:
                    html_body = part.get_content()  # type: ignore[attr-defined]
            parts = (text, html_body)
            if msg.is_multipart():  # a single-part message's id is not shared: do not cache
                cache[parts_key] = parts
        text, html_body = parts
        subject = lower.get("subject", "")
        if values:
            variant_key = ("variant", tuple(sorted(values)), subject, text)
            variant = cache.get(variant_key)
            if variant is None:
                variant = cache[variant_key] = _text_variants(subject, text, values)
            subject, text = variant
        sender_raw = lower.get("from", "")
        reply_raw = lower.get("reply-to")
        shared_headers = tuple(
            (k, v) for k, v in headers if k.lower() not in _DROPPED_HEADERS
        )
        key = (sender_raw, reply_raw, subject, shared_headers, text, html_body)
        common_json = cache.get(("common", key))
        if common_json is None:
            common_json = cache[("common", key)] = self._common(
                sender_raw, reply_raw, subject, shared_headers, text, html_body
            )
        name = ""
        for display, addr in getaddresses([v for k, v in headers if k.lower() == "to"]):
            if display and addr.lower() == out.recipient.lower():
                name = display
        own_headers = {k: v for k, v in headers if k.lower() in _PER_RECIPIENT_HEADERS}
        return _Item(out, key, common_json, self._personal(out, name, own_headers, values))

    @staticmethod
    def _body(items: Sequence[_Item]) -> str:
        """The request body (JSON text): the shared part as serialised once, then the
        personalizations of ``items``."""
        personalizations = json.dumps([it.personal for it in items])
        return f'{{{items[0].common_json},"personalizations":{personalizations}}}'

    # -- sending -----------------------------------------------------------------------------

    def send(self, batch: Sequence[Outgoing]) -> list[SendOutcome]:
        """Send ``batch`` in as few requests as the content allows; one outcome per message.

        Never raises for a provider or network problem (see the module docstring for the
        mapping of answers to outcomes).
        """
        outcomes: list[SendOutcome] = []
        groups: dict[tuple[Any, ...], list[_Item]] = {}
        cache: dict[Any, Any] = {}
        for out in batch:
            try:
                templated = out.templated
                item = self._templated(out, templated) if templated else self._split(out, cache)
            except Exception as exc:  # noqa: BLE001 - a malformed message fails itself only
                outcomes.append(
                    SendOutcome(out.delivery_id, DeliveryState.FAILED, error=f"message: {exc}")
                )
                continue
            groups.setdefault(item.key, []).append(item)
        for items in groups.values():
            for start in range(0, len(items), MAX_PERSONALIZATIONS):
                outcomes.extend(self._send_chunk(items[start : start + MAX_PERSONALIZATIONS]))
        return outcomes

    def _post(self, body: str) -> tuple[str, Any]:
        """One request of JSON text ``body``; returns ``(kind, detail)`` with kind in
        ok/rate/bad/fail/unknown/refused."""
        self.requests += 1
        try:
            # a Content-Type other than exactly "application/json" makes python_http_client
            # send the text as it is instead of serialising the body again
            response = self._client.client.mail.send.post(
                request_body=body, request_headers=_JSON_UTF8, timeout=self.config.timeout
            )
        except http_errors.TooManyRequestsError as exc:
            return "rate", exc
        except http_errors.HTTPError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            if 400 <= status < 500:
                return "bad", exc
            if status >= 500 and _sendgrid_errors(exc):
                # SendGrid answered with its own error document: the request was refused
                return "refused", f"SendGrid {status}: {'; '.join(_sendgrid_errors(exc))[:300]}"
            return "unknown", f"HTTP {status}"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                return "refused", f"connection refused: {reason}"
            return "unknown", f"network: {reason}"
        except TimeoutError as exc:
            return "unknown", f"timeout after {self.config.timeout}s: {exc}"
        except (ConnectionError, HTTPException, OSError) as exc:
            return "unknown", f"connection lost: {type(exc).__name__}: {exc}"
        status = int(getattr(response, "status_code", 0) or 0)
        if 200 <= status < 300:
            headers = getattr(response, "headers", None)
            message_id = headers.get("X-Message-Id") if headers is not None else None
            return "ok", message_id
        return "unknown", f"unexpected HTTP {status}"

    def _wait_for(self, exc: Any) -> float:
        headers = getattr(exc, "headers", None) or {}
        reset = headers.get("X-RateLimit-Reset")
        retry_after = headers.get("Retry-After")
        wait = 1.0
        try:
            if reset is not None:
                wait = float(reset) - self.clock()
            elif retry_after is not None:
                wait = float(retry_after)
        except ValueError:
            wait = 1.0
        return min(max(wait, 0.0), self.max_wait)

    def _send_chunk(self, items: list[_Item], *, retried: bool = False) -> list[SendOutcome]:
        ids = [it.outgoing.delivery_id for it in items]
        body = self._body(items)
        waits = 0
        while True:
            kind, detail = self._post(body)
            if kind != "rate":
                break
            if waits >= self.max_rate_waits:
                log.warning("sendgrid.rate_limited recipients=%d giving_up_after=%d", len(ids), waits)
                return [SendOutcome(d, DeliveryState.QUEUED, error="rate limited (429)") for d in ids]
            wait = self._wait_for(detail)
            waits += 1
            log.info("sendgrid.rate_limited wait_s=%.1f attempt=%d", wait, waits)
            self.sleep(wait)
        if kind == "ok":
            log.debug("sendgrid.accepted recipients=%d message_id=%s", len(ids), detail)
            return [SendOutcome(d, DeliveryState.SENT, provider_id=detail) for d in ids]
        if kind == "refused":
            log.warning("sendgrid.refused recipients=%d %s", len(ids), detail)
            return [SendOutcome(d, DeliveryState.QUEUED, error=str(detail)) for d in ids]
        if kind == "unknown":
            log.warning("sendgrid.unknown recipients=%d reason=%s", len(ids), detail)
            return [SendOutcome(d, DeliveryState.UNKNOWN, error=str(detail)) for d in ids]
        # 4xx other than 429
        status, errors = _errors(detail)
        bad: dict[int, str] = {}
        general: list[str] = []
        for err in errors:
            match = _FIELD_RE.match(str(err.get("field") or ""))
            message = str(err.get("message") or "rejected")
            if match and int(match.group(1)) < len(items):
                bad.setdefault(int(match.group(1)), message)
            else:
                general.append(message)
        if bad and not general and not retried:
            out = [
                SendOutcome(items[i].outgoing.delivery_id, DeliveryState.FAILED,
                            error=f"SendGrid {status}: {msg}")
                for i, msg in sorted(bad.items())
            ]
            rest = [it for i, it in enumerate(items) if i not in bad]
            log.warning("sendgrid.rejected_recipients count=%d status=%s", len(bad), status)
            if rest:
                out.extend(self._send_chunk(rest, retried=True))
            return out
        reason = "; ".join(general or list(bad.values())) or f"HTTP {status}"
        log.warning("sendgrid.rejected recipients=%d status=%s reason=%s", len(ids), status, reason)
        return [
            SendOutcome(d, DeliveryState.FAILED, error=f"SendGrid {status}: {reason}") for d in ids
        ]


def _text_variants(
    subject: str, text: str | None, values: Mapping[str, str]
) -> tuple[str, str | None]:
    """Subject and text with ``%%field%%`` rewritten to ``%%field|text%%`` for the fields
    in ``values`` (their substitutions are not HTML-escaped)."""

    def variant(s: str) -> str:
        return _PLACEHOLDER_RE.sub(
            lambda m: f"%%{m.group(1)}|text%%" if m.group(1) in values else m.group(0), s
        )

    return variant(subject), None if text is None else variant(text)


def _header_text(msg: EmailMessage, name: str, value: Any) -> str:
    """A header's decoded text without parsing it twice: values set normally are already
    parsed header objects; raw ASCII strings (``set_raw``) are used as they are."""
    if hasattr(value, "name") or ("=?" not in value and "\n" not in value):
        return str(value)
    return str(msg.policy.header_fetch_parse(name, value))


def _address(raw: str) -> dict[str, str]:
    name, addr = parseaddr(raw)
    return {"email": addr, "name": name} if name else {"email": addr}


def _sendgrid_errors(exc: Any) -> list[str]:
    """The messages of SendGrid's JSON error document (``{"errors": [{"message": ...}]}``)
    in an HTTP error's body, or ``[]`` when the body is not one (a proxy's page, nothing)."""
    raw = getattr(exc, "body", b"") or b""
    try:
        data = json.loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
    except ValueError:
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("message") or "error") for e in errors if isinstance(e, dict)]


def _errors(exc: Any) -> tuple[int, list[dict[str, Any]]]:
    status = int(getattr(exc, "status_code", 0) or 0)
    raw = getattr(exc, "body", b"") or b""
    try:
        data = json.loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
        errors = data.get("errors") if isinstance(data, dict) else None
    except ValueError:
        errors = None
    if not isinstance(errors, list):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return status, [{"message": text[:300] or getattr(exc, "reason", "rejected")}]
    return status, [e for e in errors if isinstance(e, dict)]


__all__ = [
    "MAX_PERSONALIZATIONS",
    "SUBSTITUTIONS_HEADER",
    "SendgridTransport",
    "delivery_ref",
    "read_delivery_ref",
    "with_substitutions",
    "message_id_candidates",
]
