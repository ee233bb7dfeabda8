"""SMTP transport (smtplib): one connection per batch, one envelope per recipient.

Security is the config's ``security``: ``starttls`` (RFC 3207, port 587), ``tls`` (implicit
TLS, RFC 8314, port 465) or ``none`` (loopback relays only). The certificate is verified with
the given (default: system) SSL context. With a ``username`` the transport logs in (SMTP AUTH,
password from the environment variable ``password_env``).

Each message is sent as MAIL FROM / RCPT TO / DATA with the replies checked step by step
(RFC 5321), so the outcome is exact:

- 2xx after DATA: ``sent`` (``provider_id`` = the server's reply text, often a queue id);
- a 4xx reply at any step: ``queued`` (try later), the transaction reset with RSET;
- a 5xx reply: ``failed`` with the reply code and text; also ``bounced`` (the ledger
  suppresses the address, so no later edition tries it) only when the reply is about the
  address (:func:`digest.transports.replies.refuses_address`: ``5.1.x`` to RCPT or DATA,
  not a relay's or a content filter's ``5.7.1``);
- the connection lost *before* DATA finished: ``queued`` (the server cannot have taken it),
  then one reconnection for the rest of the batch;
- the connection lost *during* DATA (the message went out, the reply never came):
  ``unknown``;
- no connection, or a refused greeting/login: every message ``queued``.

A message that still carries the SendGrid substitution hint
(:data:`digest.transports.sendgrid.SUBSTITUTIONS_HEADER`) is personalised here: the
``%%field%%`` placeholders are replaced (HTML-escaped in HTML parts) and the hint removed.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.utils import parseaddr

from digest.config import SmtpConfig
from digest.message import POLICY, apply_substitutions
from digest.transports import Outgoing, Progress
from digest.transports.replies import refuses_address
from digest.types import DeliveryState, SendOutcome

log = logging.getLogger("digest.transports.smtp")

class _Lost(Exception):
    """The connection dropped; ``during_data`` tells whether DATA had started."""

    def __init__(self, during_data: bool, detail: str) -> None:
        super().__init__(detail)
        self.during_data = during_data


class SmtpTransport:
    """Send batches through an SMTP relay; see the module docstring for outcomes.

    ``password`` defaults to the environment variable ``config.password_env``;
    ``ssl_context`` to ``ssl.create_default_context()``.
    """

    name = "smtp"
    reports_each = True

    def __init__(
        self,
        config: SmtpConfig,
        *,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        import os

        self.config = config
        self.password = password if password is not None else os.environ.get(config.password_env)
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.local_hostname = local_hostname
        self.connections = 0

    def close(self) -> None:
        """Nothing stays open between batches; safe to call twice."""

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        self.connections += 1
        conn: smtplib.SMTP
        if cfg.security == "tls":
            conn = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout, context=self.ssl_context,
                local_hostname=self.local_hostname,
            )
        else:
            conn = smtplib.SMTP(
                cfg.host, cfg.port, timeout=cfg.timeout, local_hostname=self.local_hostname
            )
        try:
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=self.ssl_context)
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, self.password or "")
        except BaseException:
            _quietly_close(conn)
            raise
        return conn

    def send(self, batch: Sequence[Outgoing], progress: Progress | None = None) -> list[SendOutcome]:
        """Send ``batch`` over one connection (reconnecting once if it drops between
        messages); exactly one outcome per message; never raises for SMTP or network errors.
        ``progress`` hears of each message as it goes (``attempting`` before MAIL FROM,
        ``settled`` as soon as its reply is in), so the ledger records it at once."""
        outcomes: list[SendOutcome] = []

        def settled(outcome: SendOutcome) -> None:
            outcomes.append(outcome)
            if progress is not None:
                progress.settled(outcome)

        pending = list(batch)
        reconnects = 0
        while pending:
            try:
                conn = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                reason = _describe(exc)
                log.warning("smtp.connect_failed host=%s reason=%s", self.config.host, reason)
                # a refused session or login says nothing about a recipient: try later
                outcomes.extend(
                    SendOutcome(o.delivery_id, DeliveryState.QUEUED, error=f"connect: {reason}")
                    for o in pending
                )
                return outcomes
            try:
                while pending:
                    item = pending[0]
                    if progress is not None and progress.attempting(item.delivery_id) is False:
                        pending.pop(0)  # another worker holds it now: never send it twice
                        continue
                    try:
                        outcome = self._send_one(conn, item)
                    except _Lost as lost:
                        pending.pop(0)
                        if isinstance(lost, _Closing):
                            settled(lost.outcome)
                        elif lost.during_data:
                            settled(
                                SendOutcome(item.delivery_id, DeliveryState.UNKNOWN,
                                            error=f"connection lost during DATA: {lost}")
                            )
                        else:
                            settled(
                                SendOutcome(item.delivery_id, DeliveryState.QUEUED,
                                            error=f"connection lost: {lost}")
                            )
                        raise
                    pending.pop(0)
                    settled(outcome)
            except _Lost:
                reconnects += 1
                if reconnects > 1:
                    outcomes.extend(
                        SendOutcome(o.delivery_id, DeliveryState.QUEUED, error="connection lost")
                        for o in pending
                    )
                    return outcomes
                continue
            finally:
                _quietly_quit(conn)
        return outcomes

    def _send_one(self, conn: smtplib.SMTP, item: Outgoing) -> SendOutcome:
        try:
            message = apply_substitutions(item.message)
            data = message.as_bytes(policy=POLICY)
        except Exception as exc:  # noqa: BLE001 - a malformed message fails itself only
            return SendOutcome(item.delivery_id, DeliveryState.FAILED, error=f"message: {exc}")
        sender = parseaddr(str(message.get("Sender") or message.get("From") or ""))[1]
        stage = "MAIL FROM"
        try:
            code, reply = conn.mail(sender)
            if code == 250:
                stage = "RCPT TO"
                code, reply = conn.rcpt(item.recipient)
            if code in (250, 251):
                stage = "DATA"
                code, reply = conn.data(data)
        except smtplib.SMTPServerDisconnected as exc:
            raise _Lost(stage == "DATA", str(exc) or "server disconnected") from exc
        except (OSError, smtplib.SMTPResponseException) as exc:
            # socket errors mid-conversation; SMTPResponseException from data() on 4xx/5xx
            err_code = getattr(exc, "smtp_code", None)
            if err_code is None:
                raise _Lost(stage == "DATA", _describe(exc)) from exc
            code = int(err_code)
            reply = getattr(exc, "smtp_error", b"")
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        if 200 <= code < 300:
            return SendOutcome(item.delivery_id, DeliveryState.SENT, provider_id=text[:200] or None)
        _reset(conn)
        detail = f"{stage}: {code} {text}"
        if code == 421:
            # the server is closing the channel: nothing was taken; the connection is gone
            log.info("smtp.closing recipient_delivery=%s %s", item.delivery_id, detail)
            raise _Closing(SendOutcome(item.delivery_id, DeliveryState.QUEUED, error=detail))
        if 400 <= code < 500:
            return SendOutcome(item.delivery_id, DeliveryState.QUEUED, error=detail)
        # a 5xx fails this message; only one about the address (5.1.x, not a relay's or a
        # content filter's 5.7.1) makes the ledger suppress it (digest.transports.replies)
        return SendOutcome(
            item.delivery_id, DeliveryState.FAILED, error=detail,
            bounced=refuses_address(stage, code, text),
        )


class _Closing(_Lost):
    """The server answered 421 and closes the connection; ``outcome`` is the message's."""

    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(False, outcome.error or "421")
        self.outcome = outcome


def _reset(conn: smtplib.SMTP) -> None:
    try:
        conn.rset()
    except (smtplib.SMTPException, OSError):
        pass


def _quietly_quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        _quietly_close(conn)


def _quietly_close(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "smtp_code", None)
    if code is not None:
        err = getattr(exc, "smtp_error", b"")
        text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
        return f"{code} {text}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


__all__ = ["SmtpTransport", "apply_substitutions"]
