"""What the "why here" page says of the entries an edition leaves out: grouped by kind, each
group with what it means and what an editor can do about it. Pure: takes the edition and the
stories the email left out for size, returns values for the template.

Kinds, in the order the page shows them (the ones an editor can act on first):

- ``size``: stories of the edition the email left out to stay under Gmail's clipping size;
  pinning one (a per-edition adjustment) puts it first, so the budget keeps it.
- ``cap``, ``off-topic``, ``dropped``: left out after ranking by the list's configuration
  (its or a section's ``max_stories``, no section and no fallback, an override); no
  per-edition adjustment brings them back, ``config.yaml`` does.
- ``sent``: an earlier edition carried the story; it comes back, as an update, once a new
  outlet reports a development.
- the kinds of :mod:`digest.noise` (``archive``, ``roundup``, ``podcast``, ``programme``,
  ``quiz``, ``service``): not news, left out before clustering.

A kind not in :data:`KINDS` is shown after these, under its own name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from digest.explain import SIZE_REASON
from digest.types import Edition, Entry, Story

__all__ = ["KINDS", "STORY_KINDS", "LeftOutGroup", "LeftOutItem", "left_out_groups"]

KINDS: dict[str, tuple[str, str]] = {
    "size": (
        "Left out of the email for size",
        "In the edition and on the web copy, not in the email. Pin one to keep it in the email "
        "(a pinned story leads its section and the size budget cuts the lowest-ranked first).",
    ),
    "cap": (
        "Over a cap on stories",
        "No adjustment of this edition brings these back (the cap is applied before "
        "adjustments, so dropping a story frees no place): raise the list's or the section's "
        "max_stories in config.yaml.",
    ),
    "off-topic": (
        "Off-topic: no section of the list claims them",
        "The list has no fallback section. Give it one, or a topic keyword that matches, in "
        "config.yaml.",
    ),
    "dropped": (
        "Dropped by a config override",
        "Remove the override from the list in config.yaml, or let it expire.",
    ),
    "sent": (
        "Already sent in an earlier edition",
        "Each comes back, marked as an update, when another outlet reports a new development.",
    ),
    "archive": ("Not news: archive items", "Republished old pieces and obituaries (digest/noise.py)."),
    "roundup": ("Not news: newsletters and roundups", "Items that bundle several stories."),
    "podcast": (
        "Not news: podcast episodes",
        "An audio file attached to the item, or its title or teaser names a show's episode.",
    ),
    "programme": ("Not news: programmes and briefs", "By the feed's own category."),
    "quiz": ("Not news: quizzes and puzzles", ""),
    "service": ("Not news: service pages and explainers", ""),
}
"""Per kind: the group's title and what an editor can do (shown under it)."""


STORY_KINDS = frozenset({"size", "cap", "off-topic", "dropped", "sent"})
"""Kinds left out after clustering: a story's entries (``LeftOut.story``), one row."""


@dataclass(frozen=True)
class LeftOutItem:
    """One entry left out, with its ``reason``; for the kinds of :data:`STORY_KINDS`, the
    first entry of a story (``story_key``) and its other entries in ``more``. ``story`` is set for a story
    of the edition (kind ``size``), which the page offers to pin."""

    entry: Entry
    reason: str
    story: Story | None = None
    more: tuple[Entry, ...] = ()
    story_key: str = ""


@dataclass(frozen=True)
class LeftOutGroup:
    """The entries left out for one ``kind``, with the group's ``title`` and ``action`` (what
    an editor can do; may be empty)."""

    kind: str
    title: str
    action: str
    items: tuple[LeftOutItem, ...]


def left_out_groups(edition: Edition, for_size: Sequence[Story] = ()) -> tuple[LeftOutGroup, ...]:
    """``edition.left_out`` and the stories of ``for_size`` (those the email left out for
    size) grouped by kind, in :data:`KINDS` order then unknown kinds by first appearance;
    entries keep the edition's order within a group, a story's entries (one after another
    with the same ``LeftOut.story``) in one item. Empty groups are left out."""
    found: dict[str, list[LeftOutItem]] = {}
    for story in for_size:
        found.setdefault("size", []).append(
            LeftOutItem(story.lead, SIZE_REASON, story, story.others)
        )
    for item in edition.left_out:
        rows = found.setdefault(item.kind, [])
        # a story's entries come one after another: one row
        if item.story and rows and rows[-1].story_key == item.story:
            rows[-1] = replace(rows[-1], more=(*rows[-1].more, item.entry))
        else:
            rows.append(LeftOutItem(item.entry, item.reason, story_key=item.story))
    order = [kind for kind in KINDS if kind in found] + [k for k in found if k not in KINDS]
    return tuple(
        LeftOutGroup(kind, *KINDS.get(kind, (kind.capitalize(), "")), tuple(found[kind]))
        for kind in order
    )
