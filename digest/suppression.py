"""Which suppressions ``digest suppressions remove`` lifts: a pure decision, one place.

A suppression says why an address is not mailed (``suppressions.reason``, with the
provider's words in ``detail``): ``bounce`` (an SMTP 5xx about the address, a SendGrid
bounce), ``dropped`` (SendGrid refused to send to it), ``spamreport`` (the recipient marked
a message as spam: a complaint through the provider's feedback loop) or ``unsubscribe``.

- A bounce or a drop is about the mailbox: when the operator knows it works again, a plain
  ``remove`` lifts it.
- A complaint is the recipient's own word. SendGrid's suppression documentation asks that
  addresses that reported spam be removed from the send list for good, even when they had
  opted in, and deleting a spam report "should be avoided unless a recipient indicates they
  wish to receive email from you again"; listmonk blocklists a complainer, and only an
  explicit unblocklisting sends to them again. So a complaint -- a ``spamreport``, or a
  SendGrid ``dropped`` whose reason is ``Spam Reporting Address`` (SendGrid remembers the
  complaint) -- is lifted only when the operator says the recipient asked
  (``--complaint``).
- An unsubscribe is never lifted by the operator (only the subscriber re-subscribes).
"""

from __future__ import annotations

#: ``detail`` of a SendGrid ``dropped`` suppression that repeats an earlier complaint.
SPAM_REPORTING_DROP = "spam reporting address"


def is_complaint(reason: str, detail: str | None = None) -> bool:
    """True when a suppression (``reason``, provider ``detail``) records that the recipient
    marked mail as spam: ``spamreport``, or a ``dropped`` for "Spam Reporting Address"."""
    if reason == "spamreport":
        return True
    return reason == "dropped" and (detail or "").strip().lower() == SPAM_REPORTING_DROP


def liftable(reason: str, detail: str | None = None, *, complaint: bool = False) -> bool:
    """True when ``digest suppressions remove`` lifts a suppression of ``reason`` (with
    provider ``detail``): never an ``unsubscribe``; a complaint (:func:`is_complaint`) only
    with ``complaint`` (the recipient asked to receive mail again); any other (bounce,
    drop) always."""
    if reason == "unsubscribe":
        return False
    if is_complaint(reason, detail):
        return complaint
    return True


def outranks(new_reason: str, new_detail: str | None, old_reason: str, old_detail: str | None) -> bool:
    """True when a new suppression of an address already suppressed (one row per address
    and list) should replace the old one's reason: a complaint over anything but an
    unsubscribe, so a bounce recorded first cannot hide a later spam report from
    :func:`liftable`."""
    return (
        is_complaint(new_reason, new_detail)
        and not is_complaint(old_reason, old_detail)
        and old_reason != "unsubscribe"
    )


__all__ = ["SPAM_REPORTING_DROP", "is_complaint", "liftable", "outranks"]
