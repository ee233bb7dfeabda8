"""Which SMTP refusals and SendGrid drops are about the recipient's address (suppress it for good) and which
are about the sender, the relay or the message (fail this message, keep the subscriber).

A relay that refuses every recipient with ``554 5.7.1 Relay access denied`` (a missing login),
or a content filter that answers ``550 5.7.1 message rejected as spam`` to every DATA, says
nothing about any address; suppressing on it bounced a whole list in one run, and no
``retry-failed`` could bring the subscribers back. The rule follows RFC 3463 (enhanced status
codes), whose subject digit says what the refusal is about:

- an enhanced code ``5.1.x`` (addressing: no such mailbox, bad domain, moved) or ``5.2.1``
  (mailbox disabled) to RCPT TO or DATA refuses the address;
- any other enhanced code (``5.2.2`` mailbox full, ``5.3.x`` mail system, ``5.5.x`` protocol,
  ``5.6.x`` content, ``5.7.x`` policy and security) does not;
- without an enhanced code (RFC 5321 alone), ``550``, ``551`` or ``553`` to RCPT TO refuse the
  address ("mailbox unavailable", "user not local", "mailbox name not allowed"); a bare code to
  DATA is about the message;
- nothing said to MAIL FROM is about the recipient.

SendGrid's Event Webhook reports a message it never sent as ``dropped`` with a ``reason``
(its Event Webhook reference lists them): ``Bounced Address``, ``Unsubscribed Address``,
``Spam Reporting Address`` and ``Invalid`` (a malformed address) refuse the address;
``Spam Content`` (the spam checker), ``Invalid SMTPAPI header``, ``Recipient List over Package
Quota`` and any reason not in that list are about the message or the account, and would
otherwise suppress every subscriber of a list at once.
"""

from __future__ import annotations

import re

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_ADDRESS_CODES = frozenset({550, 551, 553})


def refuses_address(stage: str, code: int, text: str) -> bool:
    """True when the permanent (5xx) SMTP reply ``code`` with reply ``text`` given at
    ``stage`` (``"MAIL FROM"``, ``"RCPT TO"`` or ``"DATA"``) refuses the recipient's address for
    good, so the ledger suppresses it (RFC 3463 subjects 1 and 2.1; see the module docstring).
    False for a 2xx/4xx code. Never raises."""
    if not 500 <= code < 600 or stage not in ("RCPT TO", "DATA"):
        return False
    enhanced = _ENHANCED.match(text)
    if enhanced is not None:
        klass, subject, detail = enhanced.groups()
        return klass == "5" and (subject == "1" or (subject == "2" and detail == "1"))
    return stage == "RCPT TO" and code in _ADDRESS_CODES


#: SendGrid ``dropped`` reasons about the recipient's address (compared case-insensitively).
_SENDGRID_ADDRESS_DROPS = frozenset(
    {"bounced address", "unsubscribed address", "spam reporting address", "invalid"}
)


def drop_refuses_address(reason: str) -> bool:
    """True when a SendGrid ``dropped`` event's ``reason`` refuses the recipient's address
    (see the module docstring), so the ledger suppresses it; False for a message or account
    reason (``Spam Content``, ``Invalid SMTPAPI header``, ``Recipient List over Package
    Quota``) and for a reason SendGrid does not document. Never raises."""
    return " ".join(reason.split()).lower() in _SENDGRID_ADDRESS_DROPS


__all__ = ["drop_refuses_address", "refuses_address"]
