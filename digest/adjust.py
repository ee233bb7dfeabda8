"""Per-edition editor adjustments: reshape stories (split, move, merge), pin, boost, drop a
story or rewrite its summary.

An adjustment belongs to one edition (list + period) and names one story by its ``key`` and
by its lead entry ``(source, entry_id)``; a story matches when either is the same, so an
adjustment survives re-building the edition even when new outlets join the story (its key
may then follow a new lead). Adjustments are stored by :class:`digest.store.Store`
(``edition_adjustments``) and applied to a built :class:`~digest.types.Edition` by
:func:`apply_adjustments`, the one function both the editor's preview and ``publish`` use,
so the preview and the email that is sent cannot drift apart.

Order in which they apply:

0. **Reshaping**, oldest first: ``split`` takes one entry out of its story into a story of
   its own; ``move`` takes one entry into the story holding the target entry (``value``);
   ``merge`` puts every entry of a story into the story holding the target entry. A
   reshaped story is scored again (and a story split off is sectioned again) by the list's
   own rules when the caller gives them (:class:`Rules`), else by the score formula with
   the edition's source weights, in its first story's section. An entry is named by
   :func:`entry_ref` (``source/entry_id``), so a reshaping follows the entry through
   re-builds whatever the stories' keys become.

Then, for each story:

1. ``drop``: the story is removed (a section left empty is removed too).
2. ``summary``: the lead entry's summary is replaced by the editor's plain text.
3. ``boost``: the score is multiplied by the factor (``value``, e.g. ``"2"``; below 1 demotes).
4. ``pin``: the story is marked ``pinned`` (the renderer puts pinned stories first for the
   subject and the preheader; within its section a pinned story comes first).

A section in which a story was reshaped, pinned or boosted is re-sorted: pinned first, then
by score, ties keeping their previous order. Sections themselves keep their configured order.
An edition already stored (built and sent, or being sent) cannot be adjusted any more:
:func:`refuse_if_sent` says so.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from digest.exceptions import DigestError
from digest.ledger_state import edition_complete
from digest.types import Edition, Entry, Reason, Section, Story

Action = Literal["split", "move", "merge", "pin", "boost", "drop", "summary"]
ACTIONS: tuple[str, ...] = ("split", "move", "merge", "pin", "boost", "drop", "summary")
RESHAPE: tuple[str, ...] = ("split", "move", "merge")
"""Actions that change which entries make a story (applied first)."""

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

    Reshaping (see :func:`split`, :func:`move`, :func:`merge` to make them): for ``split``
    and ``move``, ``story_key`` is the :func:`entry_ref` of the entry and ``lead_*`` name that
    entry; for ``merge``, ``story_key`` and ``lead_*`` name the story merged away. ``value``
    of ``move`` and ``merge`` is the :func:`entry_ref` of an entry of the target story.
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


def entry_ref(entry: Entry) -> str:
    """The name of one entry in a reshaping adjustment: ``"source/entry_id"`` (source names
    never hold a ``/``)."""
    return f"{entry.source}/{entry.entry_id}"


def _ref_of(source: str, entry_id: str) -> str:
    return f"{source}/{entry_id}"


def split(entry: Entry) -> Adjustment:
    """The adjustment that takes ``entry`` out of its story into a story of its own."""
    return Adjustment(entry_ref(entry), "split", "", entry.source, entry.entry_id)


def move(entry: Entry, into: Story) -> Adjustment:
    """The adjustment that moves ``entry`` into story ``into`` (named by its lead entry)."""
    return Adjustment(entry_ref(entry), "move", entry_ref(into.lead), entry.source, entry.entry_id)


def merge(story: Story, into: Story) -> Adjustment:
    """The adjustment that merges ``story`` into story ``into`` (named by its lead entry)."""
    lead = story.lead
    return Adjustment(story.key, "merge", entry_ref(into.lead), lead.source, lead.entry_id)


@dataclass(frozen=True)
class Rules:
    """How a reshaped story is scored and sectioned again: the list's own rules.

    ``score(story)`` gives ``(score, reasons)`` (``digest.rank.story_score`` with the list's
    weights, edition time and half-life); ``section(story)`` gives ``(section name,
    reason)`` or ``None`` for a story the list would leave out; ``sections`` are the list's
    ``(name, title)`` pairs in reading order (the fallback last).
    """

    score: Callable[[Story], tuple[float, tuple[Reason, ...]]]
    section: Callable[[Story], tuple[str, str] | None]
    sections: tuple[tuple[str, str], ...] = ()


def _default_rules(edition: Edition) -> Rules:
    from digest.rank import story_score

    weights = {name: info.weight for name, info in edition.sources.items()}
    return Rules(
        score=lambda story: story_score(story, weights=weights, now=edition.window_end),
        section=lambda story: None,
    )


def _with_entries(story: Story, entries: Sequence[Entry]) -> Story:
    """``story`` holding ``entries``: its lead stays lead while it is one of them."""
    lead = story.lead if story.lead in entries else entries[0]
    return replace(story, lead=lead, others=tuple(e for e in entries if e is not lead))


def reshape(
    edition: Edition, adjustments: Iterable[Adjustment], rules: Rules | None = None
) -> Edition:
    """``edition`` with its ``split``, ``move`` and ``merge`` adjustments applied (rule 0 of
    the module docstring), or the same object when none changes anything. Adjustments whose
    entries are no longer in the edition, or that would change nothing (splitting a story's
    only entry, moving an entry into its own story), are ignored. Pure."""
    from digest.cluster import story_key

    todo = [a for a in adjustments if a.action in RESHAPE]
    if not todo:
        return edition
    rules = rules or _default_rules(edition)
    # a flat list of [section name, its entries now, the story as built]; no entries: gone
    items: list[list[Any]] = [
        [section.name, list(story.entries), story]
        for section in edition.sections
        for story in section.stories
    ]
    changed: set[int] = set()
    added: set[int] = set()

    def holder(ref: str) -> int | None:
        for i, (_, entries, _) in enumerate(items):
            if entries and any(_ref_of(e.source, e.entry_id) == ref for e in entries):
                return i
        return None

    for adj in todo:
        if adj.action in ("split", "move"):
            ref = _ref_of(adj.lead_source, adj.lead_entry_id)
            at = holder(ref)
            if at is None:
                continue
            entry = next(e for e in items[at][1] if _ref_of(e.source, e.entry_id) == ref)
            if adj.action == "split":
                if len(items[at][1]) < 2:
                    continue
                items[at][1].remove(entry)
                alone = Story(key=story_key([entry]), lead=entry)
                items.append([items[at][0], [entry], alone])
                added.add(len(items) - 1)
            else:
                target = holder(adj.value)
                if target is None or target == at:
                    continue
                items[at][1].remove(entry)
                items[target][1].append(entry)
                changed.add(target)
            changed.add(at)
        else:  # merge
            # the story merged away: by its key, else by its lead among the current entries
            lead = _ref_of(adj.lead_source, adj.lead_entry_id)
            at = next(
                (i for i, (_, now, story) in enumerate(items) if now and story.key == adj.story_key),
                None,
            )
            at = holder(lead) if at is None and adj.lead_source else at
            target = holder(adj.value)
            if at is None or target is None or at == target:
                continue
            items[target][1].extend(items[at][1])
            items[at][1] = []
            changed.add(target)
    if not changed and not added:
        return edition

    titles = {s.name: s.title for s in edition.sections} | dict(rules.sections)
    # the list's section order when the rules give it (a new section takes its place there)
    order = [name for name, _ in rules.sections]
    order += [s.name for s in edition.sections if s.name not in order]
    placed: dict[str, list[Story]] = {}
    touched: set[str] = set()
    for i, (name, entries, story) in enumerate(items):
        if not entries:
            touched.add(name)
            continue
        if i in changed or i in added:
            story = _rescored(_with_entries(story, entries), rules, added=i in added)
            if i in added:
                found = rules.section(story)
                if found is not None:
                    name = found[0]
                    story = replace(story, section=found[0], section_reason=found[1])
                elif rules.sections:  # the list's rules leave it out
                    continue
                else:
                    story = replace(
                        story, section=name, section_reason="split off; kept in its story's section"
                    )
            touched.add(name)
        placed.setdefault(name, []).append(story)
    sections = []
    for name in order:
        stories = placed.get(name, [])
        if not stories:
            continue
        if name in touched:  # pinned first, then by score; ties keep their order
            stories.sort(key=lambda s: (not s.pinned, -s.score))
        sections.append(Section(name=name, title=titles.get(name, name), stories=tuple(stories)))
    return replace(edition, sections=tuple(sections))


def _rescored(story: Story, rules: Rules, *, added: bool) -> Story:
    score, reasons = rules.score(story)
    note = "split off by an editor" if added else "reshaped by an editor"
    return replace(
        story, score=score, reasons=(*reasons[:-1], Reason("editor", 1.0, note), reasons[-1])
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
        reasons.append(Reason("summary", 1.0, "summary rewritten by an editor for this edition"))
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


def apply_adjustments(
    edition: Edition, adjustments: Iterable[Adjustment], rules: Rules | None = None
) -> Edition:
    """``edition`` with ``adjustments`` applied (see the module docstring for the order);
    ``rules`` score and section reshaped stories (default: the score formula with the
    edition's source weights, in their first story's section).

    Pure: returns a new :class:`Edition` (the same object when there is nothing to apply).
    Unknown actions and boosts whose factor is not a number are ignored; adjustments that
    match no story do nothing (the story may have left the window).
    """
    given = list(adjustments)
    edition = reshape(edition, given, rules)
    known = [a for a in given if a.action in ACTIONS and a.action not in RESHAPE]
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


def adjusted(edition: Edition, store: AdjustmentStore, rules: Rules | None = None) -> Edition:
    """``edition`` with the editor's stored adjustments for its list and period applied.

    The hook for ``digest.pipeline.build``: call it on the assembled edition before any
    variant is rendered, so ``publish`` sends what the editor previewed.
    """
    return apply_adjustments(edition, store.adjustments(edition.list_name, edition.period), rules)


class EditionSent(DigestError):
    """An adjustment was asked for an edition that is already stored (built and sent)."""


class SentEditions(Protocol):
    """What :func:`refuse_if_sent` needs from :class:`digest.store.Store`."""

    def edition(self, list_name: str, period: str) -> Any: ...

    def delivery_counts(self, edition_id: int) -> Mapping[str, int]: ...


def sent_note(store: SentEditions, list_name: str, period: str) -> str:
    """Why edition ``list_name``/``period`` can no longer be adjusted, or ``""`` when it can
    (not stored yet). A stored edition's emails were rendered and queued, so an adjustment
    could change nothing that readers get. The note names the edition, whether its delivery
    is complete (the ledger's rows, :func:`digest.ledger_state.edition_complete`), when it
    was built and what can still be done; the editor's pages show it, :func:`refuse_if_sent`
    raises it."""

    row = store.edition(list_name, period)
    if row is None:
        return ""
    # derived from the ledger rows (digest.ledger_state), never from a stored flag
    state = "was sent" if edition_complete(store.delivery_counts(row.id)) else "is being sent"
    return (
        f"edition {list_name}/{period} {state} (built {row.created_at:%Y-%m-%d %H:%M} UTC): "
        "adjustments change only editions not yet sent; adjust the next one instead"
    )


def refuse_if_sent(store: SentEditions, list_name: str, period: str) -> None:
    """Raise :class:`EditionSent` with :func:`sent_note` when edition ``list_name``/``period``
    is already stored."""

    note = sent_note(store, list_name, period)
    if note:
        raise EditionSent(note)


def may_send(list_name: str, period: str, *, require_approval: bool, store: AdjustmentStore) -> bool:
    """Whether edition ``list_name``/``period`` may be sent: always, unless its list has
    ``require_approval`` and no editor has approved this period yet. The hook for
    ``digest.pipeline.publish``, checked before the edition is stored."""
    return not require_approval or store.approval(list_name, period) is not None


__all__ = [
    "ACTIONS",
    "MAX_SUMMARY_CHARS",
    "RESHAPE",
    "Adjustment",
    "AdjustmentStore",
    "EditionSent",
    "Rules",
    "adjusted",
    "apply_adjustments",
    "boost_factor",
    "clean_summary",
    "dropped_stories",
    "entry_ref",
    "may_send",
    "merge",
    "move",
    "refuse_if_sent",
    "reshape",
    "split",
]
