"""A message as a shared template plus one recipient's values (compose once per variant).

:func:`digest.message.build_message` writes a whole RFC 5322 message per recipient. A
transport that personalises server-side (SendGrid ``substitutions``) needs only what differs
per recipient, so for it the pipeline composes a :class:`Templated` instead:

- :class:`SharedParts`, made once per rendering (variant) of an edition by
  :func:`digest.message.shared_parts`: From, Reply-To, Subject, the headers every recipient
  shares (List-Id, List-Archive) and the text and HTML bodies with their ``%%field%%``
  placeholders left in -- exactly the values the transport used to parse back out of each
  composed message;
- per recipient: the address and display name, the RFC 2369/8058 ``List-Unsubscribe`` and
  ``List-Unsubscribe-Post`` headers, and the placeholder values (``name``, ``email``,
  ``unsubscribe_url``, ``preferences_url``).

``Templated.full()`` builds the complete personalised message (the bytes
``build_message`` gives), for any transport that writes whole messages (outbox, SMTP).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage


@dataclass(frozen=True, eq=False)
class SharedParts:
    """What every recipient of one rendering shares, as header text (decoded, unfolded).

    ``sender``/``reply_to`` are From/Reply-To (RFC 5322 address text), ``subject`` the
    Subject with its placeholders, ``headers`` the other shared headers in order (name,
    value), ``text``/``html`` the decoded bodies (``None`` when absent). Compared by
    identity: one object per rendering and run.
    """

    sender: str
    reply_to: str | None
    subject: str
    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None


@dataclass(frozen=True)
class Templated:
    """One recipient's message as ``shared`` parts plus its own: ``email`` (the address as
    written in To), ``name`` (display name, ``""`` for none), ``headers`` (the recipient's
    own headers: List-Unsubscribe, List-Unsubscribe-Post) and ``values`` (placeholder
    field → value, unescaped). ``full`` builds the whole personalised message."""

    shared: SharedParts
    email: str
    name: str
    headers: tuple[tuple[str, str], ...]
    values: Mapping[str, str]
    full: Callable[[], EmailMessage] = field(repr=False, compare=False)


__all__ = ["SharedParts", "Templated"]
