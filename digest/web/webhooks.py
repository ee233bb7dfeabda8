"""Webhooks: the SendGrid Event Webhook and Inbound Parse (Starlette routes).

- ``POST /webhooks/sendgrid``: the Event Webhook. The ECDSA signature over timestamp + body
  is verified with the ``sendgrid`` package's ``EventWebhook`` helper against the public key
  in the environment variable ``delivery.sendgrid.webhook_key_env``; a signed timestamp more
  than five minutes away from now is refused (replay). Each event is applied once (its
  ``sg_event_id`` is remembered): ``bounce`` (hard), ``spamreport``, ``unsubscribe``,
  ``group_unsubscribe`` and a ``dropped`` whose reason is about the address
  (:func:`~digest.transports.replies.drop_refuses_address`) suppress the address (an
  unsubscribe only for the list of the delivery named in ``custom_args``, when there is one)
  and mark that subscriber (bounced, complained, unsubscribed); a ``dropped`` for a reason
  about the message or the account (``Spam Content``, ``Recipient List over Package
  Quota``...) keeps the subscriber and marks the delivery named in ``custom_args``
  ``failed`` (``retry-failed`` sends it again); ``blocked`` bounces and ``deferred`` are soft
  and only counted (setting ``sendgrid:soft_bounces``). An event without our reference (a
  message sent before references existed, or through another path) finds its row by its
  ``sg_message_id`` (which starts with the request's ``X-Message-Id``, the row's
  ``provider_id``) and the address; a message drop that still matches no row is kept
  (:meth:`~digest.store.Store.record_unmatched_event`) and listed by ``digest deliveries``.
- ``POST /webhooks/inbound/{secret}``: SendGrid Inbound Parse for the unsubscribe mailbox
  (``multipart/form-data``; fields ``subject``, ``to``, ``cc``, ``envelope`` (JSON with
  ``to`` and ``from``), or ``email``, the whole raw message, when "send raw" is on). The
  path's secret is the environment variable ``delivery.sendgrid.inbound_secret_env``
  (at least 32 characters); a wrong or unset one is ``404``, answered before the body is
  read. The message is applied with :func:`digest.unsubscribe.unsubscribe_mail` (the same
  unsubscribe as the https link) and answered ``200`` with its outcome whatever it was, so
  SendGrid does not retry a message that carries no valid token.

The Event Webhook reads at most ``web.max_webhook_bytes`` of body (its batches are larger
than a form), Inbound Parse ``web.max_body_bytes`` like every other route (``413`` past it;
an unsubscribe message is small, a larger one is refused and SendGrid gives up on it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from digest.config import Config
from digest.exceptions import ConfigError
from digest.store import Store
from digest.transports.replies import drop_refuses_address
from digest.store import UnmatchedEvent
from digest.transports.sendgrid import message_id_candidates, read_delivery_ref
from digest.types import SubscriberStatus
from digest.unsubscribe import message_fields, unsubscribe_mail
from digest.web.checks import short_secret

log = logging.getLogger("digest.web")

REPLAY_WINDOW_S = 300
_SUPPRESSING = {
    "bounce": ("bounce", SubscriberStatus.BOUNCED),
    "dropped": ("dropped", SubscriberStatus.BOUNCED),
    "spamreport": ("spamreport", SubscriberStatus.COMPLAINED),
    "unsubscribe": ("unsubscribe", SubscriberStatus.UNSUBSCRIBED),
    "group_unsubscribe": ("unsubscribe", SubscriberStatus.UNSUBSCRIBED),
}


def webhook_routes(
    config: Config,
    store: Store,
    *,
    clock: Callable[[], datetime],
    webhook_public_key: str | None = None,
    inbound_secret: str | None = None,
) -> list[BaseRoute]:
    """The webhook routes of the module docstring.

    ``webhook_public_key`` (base64 DER) overrides the environment variable; without either
    the SendGrid webhook answers 503. ``inbound_secret`` overrides the Inbound Parse
    secret's environment variable. ``clock`` is the only clock read. Raises
    :class:`~digest.exceptions.ConfigError` when the Inbound Parse secret is too short.
    """
    secret = store.secret()
    inbound = inbound_secret or config.secret(config.delivery.sendgrid.inbound_secret_env) or ""
    if problem := short_secret(config.delivery.sendgrid.inbound_secret_env, inbound):
        raise ConfigError(problem)
    key_b64 = webhook_public_key or config.secret(config.delivery.sendgrid.webhook_key_env)
    verifier: Any = None
    if key_b64:
        from sendgrid.helpers.eventwebhook import EventWebhook

        verifier = EventWebhook(key_b64)

    async def sendgrid_webhook(request: Request) -> Response:
        if verifier is None:
            return JSONResponse({"error": "webhook key not configured"}, status_code=503)
        body = await request.body()
        signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
        timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
        try:
            ok = bool(signature and timestamp) and verifier.verify_signature(
                body.decode("utf-8"), signature, timestamp
            )
        except (ValueError, UnicodeDecodeError, TypeError):
            ok = False
        if not ok:
            log.warning("web.webhook_bad_signature")
            return JSONResponse({"error": "bad signature"}, status_code=403)
        try:
            age = abs(clock().timestamp() - float(timestamp))
        except ValueError:
            age = float("inf")
        if not math.isfinite(age) or age > REPLAY_WINDOW_S:  # "nan" compares False to all
            log.warning("web.webhook_stale age_s=%.0f", age)
            return JSONResponse({"error": "stale timestamp"}, status_code=403)
        try:
            events = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(events, list):
            return JSONResponse({"error": "expected a list of events"}, status_code=400)
        applied = duplicates = 0
        for event in events:
            if not isinstance(event, dict):
                continue
            if _apply_event(event):
                applied += 1
            else:
                duplicates += 1
        return JSONResponse({"applied": applied, "duplicates": duplicates})

    def _apply_event(event: dict[str, Any]) -> bool:
        event_id = str(event.get("sg_event_id") or "")
        if not event_id:
            event_id = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        key = "sg-event:" + (event_id if len(event_id) <= 55 else hashlib.sha256(
            event_id.encode()).hexdigest()[:55])
        if not store.mark_once(key, str(event.get("event", ""))):
            return False
        kind = str(event.get("event", ""))
        email = str(event.get("email", "")).strip()
        now = clock()
        ref = event.get("digest_delivery")
        sub = None
        delivery_id = read_delivery_ref(secret, ref) if isinstance(ref, str) else None
        message_id = str(event.get("sg_message_id") or "")
        if delivery_id is None:  # no reference of ours: the request's message id and the address
            delivery_id = store.delivery_by_message(email, message_id_candidates(message_id))
        if delivery_id is not None:
            sub = store.delivery_subscriber(delivery_id)
        soft = kind == "deferred" or (kind == "bounce" and event.get("type") == "blocked")
        if soft:
            total = store.bump_counter("sendgrid:soft_bounces")
            log.info("web.soft_bounce email_hash=%s total=%d", _hash(email), total)
            return True
        detail = str(event.get("reason") or event.get("status") or "")[:500] or None
        if kind == "dropped" and not drop_refuses_address(str(event.get("reason") or "")):
            failed = delivery_id is not None and store.fail_delivered(
                delivery_id, f"SendGrid dropped the message: {detail or 'no reason given'}", now=now
            )
            if delivery_id is None:  # nothing records that this address never got it: say so
                store.record_unmatched_event(event_id, UnmatchedEvent(
                    kind=kind, email=email, reason=detail or "no reason given",
                    message_id=message_id, at=now,
                ))
            log.warning("web.dropped_message reason=%s delivery_failed=%s email_hash=%s",
                        detail, failed, _hash(email))
            return True
        if kind in _SUPPRESSING and email:
            reason, status = _SUPPRESSING[kind]
            # an unsubscribe is from one list when we know which; bounces and complaints
            # concern the address, so they hold for every list
            scope = ""
            if reason == "unsubscribe" and sub is not None and sub.email.lower() == email.lower():
                scope = sub.list_name
            store.suppress(email, reason, now=now, list_name=scope, detail=detail)
            if (
                sub is not None and sub.id is not None and sub.email.lower() == email.lower()
                and sub.status == SubscriberStatus.ACTIVE
            ):
                store.set_subscriber_status(sub.id, status, now=now)
            log.info("web.suppressed reason=%s email_hash=%s", reason, _hash(email))
        return True

    async def inbound_parse(request: Request) -> Response:
        given = str(request.path_params["secret"])
        if not inbound or not hmac.compare_digest(given.encode("utf-8", "replace"), inbound.encode()):
            return JSONResponse({"error": "not found"}, status_code=404)
        form = await request.form(max_files=20, max_fields=100)  # bad multipart: Starlette's 400
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        subject = fields.get("subject", "")
        recipients = [fields.get("to", ""), fields.get("cc", "")]
        try:
            envelope = json.loads(fields.get("envelope") or "{}")
        except ValueError:
            envelope = {}
        if isinstance(envelope, dict) and isinstance(envelope.get("to"), list):
            recipients += [str(a) for a in envelope["to"]]
        if fields.get("email"):
            try:
                subject, raw_recipients = message_fields(fields["email"].encode("utf-8", "surrogateescape"))
                recipients += list(raw_recipients)
            except ValueError:
                pass
        result = unsubscribe_mail(store, subject=subject, recipients=recipients, now=clock(), via="inbound")
        log.info("web.inbound outcome=%s", result.outcome.value)
        return JSONResponse({"outcome": result.outcome.value})

    limit = config.web.max_webhook_bytes
    return [
        Route("/webhooks/sendgrid", sendgrid_webhook, methods=["POST"], max_body_size=limit),
        Route("/webhooks/inbound/{secret}", inbound_parse, methods=["POST"]),
    ]


def _hash(email: str) -> str:
    """A short stable pseudonym for an address in logs (no addresses in logs)."""
    return hashlib.sha256(email.lower().encode()).hexdigest()[:12]


__all__ = ["REPLAY_WINDOW_S", "webhook_routes"]
