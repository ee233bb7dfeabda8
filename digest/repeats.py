"""Whether a story an earlier edition already carried has a new development. Pure.

A story comes back in a later edition of the list only with *new reporting*: entries that the
earlier editions did not carry and that are not copies of what they carried. A copy is an
entry with the canonical URL of a sent entry, or the same headline of four words or more (outlet
suffix, case and punctuation ignored), or a summary that agrees with a sent entry's (60 % of the shorter
summary's words inside the longer one: a re-titled or lightly edited republication, such as
``[UPDATE] …`` over the same text). :func:`digest.rank.rank` keeps such a story as an update
only when those developments add an outlet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from digest.cluster import _MIN_TITLE_WORDS, _headline, _summaries_agree, canonical_url
from digest.types import Entry

__all__ = ["developments", "is_copy"]

_MIN_SUMMARY_WORDS = 8  # a summary shorter than this says too little to call two items copies


def is_copy(entry: Entry, of: Sequence[Entry]) -> bool:
    """True when ``entry`` repeats one of ``of`` (see the module docstring)."""
    url = canonical_url(entry.url)
    head = _headline(entry.title)
    if len(head.split()) < _MIN_TITLE_WORDS:
        head = ""
    text = entry.summary_text.strip()
    for old in of:
        if url and url == canonical_url(old.url):
            return True
        if head and head == _headline(old.title):
            return True
        other = old.summary_text.strip()
        if (
            len(text.split()) >= _MIN_SUMMARY_WORDS
            and len(other.split()) >= _MIN_SUMMARY_WORDS
            and _summaries_agree(text, other)
        ):
            return True
    return False


def developments(
    entries: Sequence[Entry], sent: Mapping[tuple[str, str], str]
) -> list[Entry]:
    """The entries of a story that are new reporting: not in ``sent`` (``(source, entry_id)``
    of entries earlier editions carried) and not a copy of a sent entry of the same story."""
    old = [e for e in entries if (e.source, e.entry_id) in sent]
    return [e for e in entries if (e.source, e.entry_id) not in sent and not is_copy(e, old)]
