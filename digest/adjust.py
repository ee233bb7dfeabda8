"""Per-edition editor adjustments: pin, boost, drop a story or rewrite its summary.

An adjustment belongs to one edition (list + period) and names one story by its ``key`` and
by its lead entry ``(source, entry_id)``; a story matches when either is the same, so an
adjustment survives re-building the edition even when new outlets join the story (its key
may then follow a new lead). Adjustments are stored by :class:`digest.store.Store`
(``edition_adjustments``) and applied to a built :class:`~digest.types.Edition` by
:func:`apply_adjustments`, the one function both the editor's preview and ``publish`` use,
so the preview and the email that is sent cannot drift apart.

Order in which they apply, for each story:

1. ``drop``: the story is removed (a section left empty is removed too).
2. ``summary``: the lead entry's summary is replaced by the editor's plain text.
3. ``boost``: the score is multiplied by the factor (``value``, e.g. ``"2"``; below 1 demotes).
4. ``pin``: the story is marked ``pinned`` (the renderer puts pinned stories first for the
   subject and the preheader; within its section a pinned story comes first).

A section in which a story was pinned or boosted is re-sorted: pinned first, then by score,
ties keeping their previous order. Sections themselves keep their configured order.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

from digest.types import Edition, Reason, Section, Story

Action = Literal["pin", "boost", "drop", "summary"]
ACTIONS: tuple[str, ...] = ("pin", "boost", "drop", "summary")

MAX_SUMMARY_CHARS = 2_000
"""Longest summary an editor can write, in characters."""

MIN_BOOST, MAX_BOOST = 0.01, 100.0
"""Accepted range of a boost factor."""


@dataclass(frozen=True)
class Adjustment:
    """One editor decision about one story of one edition.

    ``action`` is ``pin``, ``boost`` (``value`` is the factor as text, e.g. ``"2"``),
    ``drop`` or ``summary`` (``value`` is the new plain-text summary). ``lead_source`` and
    ``lead_entry_id`` identify the story's lead entry when the adjustment was made.
    """

    story_key: str
    action: str
    value: str = ""
    lead_source: str = ""
    lead_entry_id: str = ""

    def matches(self, story: Story) -> bool:
        """Whether this adjustment is about ``story`` (same key, or its lead entry is one of
        the story's entries)."""
        if story.key == self.story_key:
            return True
        if not self.lead_source:
            return False
        return any(
            e.source == self.lead_source and e.entry_id == self.lead_entry_id
            for e in story.entries
        )


def boost_factor(value: str) -> float | None:
    """The factor of a boost's ``value`` text, or ``None`` when it is not a finite number in
    ``[MIN_BOOST, MAX_BOOST]``."""
    try:
        factor = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(factor) or not MIN_BOOST <= factor <= MAX_BOOST:
        return None
    return factor


def clean_summary(text: str) -> str:
    """An editor's summary as stored: whitespace runs collapsed, at most
    ``MAX_SUMMARY_CHARS`` characters, control characters removed."""
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return " ".join(text.split())[:MAX_SUMMARY_CHARS]


def _adjust_story(story: Story, found: Sequence[Adjustment]) -> Story | None:
    actions = {a.action: a for a in found}
    if "drop" in actions:
        return None
    reasons = list(story.reasons)
    if "summary" in actions:
        text = clean_summary(actions["summary"].value)
        lead = replace(story.lead, summary_text=text, summary_html=f"<p>{html.escape(text)}</p>")
        story = replace(story, lead=lead)
        reasons.append(Reason("summary", 0.0, "summary rewritten by an editor for this edition"))
    score = story.score
    if "boost" in actions:
        factor = boost_factor(actions["boost"].value)
        if factor is not None:
            score = story.score * factor
            reasons.append(Reason("edition boost", factor, "set by an editor for this edition"))
            reasons = [
                Reason(r.name, score, f"{r.note} × edition boost".strip(" ×"))
                if r.name == "score"
                else r
                for r in reasons
            ]
    pinned = story.pinned
    if "pin" in actions:
        pinned = True
        reasons.append(Reason("pin", 1.0, "pinned by an editor for this edition"))
    return replace(story, score=score, pinned=pinned, reasons=tuple(reasons))


def apply_adjustments(edition: Edition, adjustments: Iterable[Adjustment]) -> Edition:
    """``edition`` with ``adjustments`` applied (see the module docstring for the order).

    Pure: returns a new :class:`Edition` (the same object when there is nothing to apply).
    Unknown actions and boosts whose factor is not a number are ignored; adjustments that
    match no story do nothing (the story may have left the window).
    """
    known = [a for a in adjustments if a.action in ACTIONS]
    if not known:
        return edition
    sections: list[Section] = []
    for section in edition.sections:
        stories: list[Story] = []
        reorder = False
        for story in section.stories:
            found = [a for a in known if a.matches(story)]
            if not found:
                stories.append(story)
                continue
            adjusted = _adjust_story(story, found)
            if adjusted is None:
                continue
            reorder = reorder or any(a.action in ("pin", "boost") for a in found)
            stories.append(adjusted)
        if reorder:
            order = sorted(range(len(stories)), key=lambda i: (not stories[i].pinned, -stories[i].score, i))
            stories = [stories[i] for i in order]
        if stories:
            sections.append(replace(section, stories=tuple(stories)))
    return replace(edition, sections=tuple(sections))


def dropped_stories(edition: Edition, adjustments: Iterable[Adjustment]) -> tuple[Story, ...]:
    """The stories of ``edition`` (before adjusting) that a ``drop`` adjustment removes."""
    drops = [a for a in adjustments if a.action == "drop"]
    return tuple(s for s in edition.stories if any(a.matches(s) for a in drops))


class AdjustmentStore(Protocol):
    """What the publish hooks need from :class:`digest.store.Store`."""

    def adjustments(self, list_name: str, period: str) -> list[Adjustment]: ...

    def approval(self, list_name: str, period: str) -> datetime | None: ...


def adjusted(edition: Edition, store: AdjustmentStore) -> Edition:
    """``edition`` with the editor's stored adjustments for its list and period applied.

    The hook for ``digest.pipeline.build``: call it on the assembled edition before any
    variant is rendered, so ``publish`` sends what the editor previewed.
    """
    return apply_adjustments(edition, store.adjustments(edition.list_name, edition.period))


def may_send(list_name: str, period: str, *, require_approval: bool, store: AdjustmentStore) -> bool:
    """Whether edition ``list_name``/``period`` may be sent: always, unless its list has
    ``require_approval`` and no editor has approved this period yet. The hook for
    ``digest.pipeline.publish``, checked before the edition is stored."""
    return not require_approval or store.approval(list_name, period) is not None


__all__ = [
    "ACTIONS",
    "MAX_SUMMARY_CHARS",
    "Adjustment",
    "AdjustmentStore",
    "adjusted",
    "apply_adjustments",
    "boost_factor",
    "clean_summary",
    "dropped_stories",
    "may_send",
]
