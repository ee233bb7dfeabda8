"""Whether a story an earlier edition already carried has a new development. Pure.

A story comes back in a later edition of the list only with *new reporting*: entries that the
earlier editions did not carry and that are not copies of what they carried. A copy is an
entry with the canonical URL of a sent entry, or the same headline of four words or more
(outlet suffix, case and punctuation ignored), or a summary that agrees with a sent entry's
(60 % of the shorter summary's words inside the longer one: a re-titled or lightly edited
republication, such as ``[UPDATE] …`` over the same text) and is about as long (the shorter
has at least :data:`SAME_LENGTH` of the longer's distinct words: a two-line teaser is not a
copy of a whole article that happens to hold most of its words, as Dawn's 3,400-character
summaries held BBC's "Iran says 'guiding principles' agreed with US at nuclear talks").
:func:`digest.rank.rank` keeps such a story as an update only when those developments add an
outlet or come after every sent entry of the story, and leads it with the newest of them.

Clustering is precise first, so a re-titled copy may stay apart from the sent story it
repeats. :func:`repeats_sent` catches that case: a story none of whose entries were sent,
but each of which repeats a sent entry anywhere in the batch (same link, same headline, or a
related headline over an agreeing summary), is a repeat too. Update markers at the start of
a headline (``[UPDATE]``, ``UPDATE:``, ``Updated -``) are ignored when headlines are compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import re

from digest.cluster import (
    _MIN_TITLE_WORDS,
    _headline,
    _summaries_agree,
    _words,
    canonical_url,
)
from digest.types import Entry

__all__ = ["SAME_LENGTH", "SentIndex", "developments", "is_copy", "repeats_sent"]

_UPDATE_MARK = re.compile(
    r"^\s*(?:[\[(]\s*updated?\b[^\])]*[\])]|updated?\s*(?:\d+\s*)?[:\-–—])\s*", re.IGNORECASE
)


def _bare_headline(title: str) -> str:
    """:func:`digest.cluster._headline` of ``title`` without a leading update marker."""
    return _headline(_UPDATE_MARK.sub("", title or ""))


_MIN_SUMMARY_WORDS = 8  # a summary shorter than this says too little to call two items copies
#: Least ratio of distinct words, shorter summary to longer, for two summaries to be one text.
SAME_LENGTH = 0.5


def _republished(text: str, other: str) -> bool:
    """True when two summaries (plain text) read as one text republished: each long enough
    to tell, of about the same length (:data:`SAME_LENGTH`), and agreeing
    (:func:`digest.cluster._summaries_agree`)."""
    a, b = set(_words(text)), set(_words(other))
    if len(text.split()) < _MIN_SUMMARY_WORDS or len(other.split()) < _MIN_SUMMARY_WORDS:
        return False
    similar = min(len(a), len(b)) >= SAME_LENGTH * max(len(a), len(b))
    return similar and _summaries_agree(text, other)


def is_copy(entry: Entry, of: Sequence[Entry]) -> bool:
    """True when ``entry`` repeats one of ``of`` (see the module docstring)."""
    url = canonical_url(entry.url)
    head = _bare_headline(entry.title)
    if len(head.split()) < _MIN_TITLE_WORDS:
        head = ""
    text = entry.summary_text.strip()
    for old in of:
        if url and url == canonical_url(old.url):
            return True
        if head and head == _bare_headline(old.title):
            return True
        if _republished(text, old.summary_text.strip()):
            return True
    return False


def developments(
    entries: Sequence[Entry], sent: Mapping[tuple[str, str], str]
) -> list[Entry]:
    """The entries of a story that are new reporting: not in ``sent`` (``(source, entry_id)``
    of entries earlier editions carried) and not a copy of a sent entry of the same story."""
    old = [e for e in entries if (e.source, e.entry_id) in sent]
    return [e for e in entries if (e.source, e.entry_id) not in sent and not is_copy(e, old)]


class SentIndex:
    """The entries earlier editions carried, from any story of the batch, indexed once for
    :meth:`repeats` (their canonical links, bare headlines and title words)."""

    def __init__(self, sent_entries: Sequence[Entry]) -> None:
        self._urls = {canonical_url(old.url) for old in sent_entries} - {None, ""}
        self._heads = {_bare_headline(old.title) for old in sent_entries}
        self._texts = [
            (set(_words(old.title)), old.summary_text.strip())
            for old in sent_entries
            if len(old.summary_text.split()) >= _MIN_SUMMARY_WORDS
        ]

    def __bool__(self) -> bool:
        return bool(self._urls or self._heads or self._texts)

    def repeats(self, entries: Sequence[Entry]) -> bool:
        """True when every one of ``entries`` repeats a sent entry: the same canonical link or
        headline (update markers ignored), or a related headline (a fifth of the title words
        shared) over an agreeing summary of about its length. False for an empty story or an
        empty index."""
        if not entries or not self:
            return False
        for entry in entries:
            head = _bare_headline(entry.title)
            if canonical_url(entry.url) in self._urls:
                continue
            if len(head.split()) >= _MIN_TITLE_WORDS and head in self._heads:
                continue
            text = entry.summary_text.strip()
            if len(text.split()) < _MIN_SUMMARY_WORDS:
                return False
            words = set(_words(entry.title))
            if not any(
                words and other and len(words & other) / len(words | other) >= 0.2
                and _republished(text, summary)
                for other, summary in self._texts
            ):
                return False
        return True


def repeats_sent(entries: Sequence[Entry], sent_entries: Sequence[Entry]) -> bool:
    """True when ``entries`` (a story none of whose entries was sent) all repeat entries of
    ``sent_entries`` (see :meth:`SentIndex.repeats`; build the index once for many stories)."""
    return SentIndex(sent_entries).repeats(entries)
