"""The score of a story and the reasons for it.

Order in which the rules apply (first match decides, top to bottom):

1. **Drop overrides** (``Override(action="drop")``) by URL, keyword or source. A URL or
   keyword drop removes the whole story; a source drop removes that source's entries and the
   story only if nothing is left. Expired overrides (``expires`` before ``now``) are ignored.
2. **Already sent.** A story whose entries were all in earlier editions is left out; one with
   new entries is left out too unless those are new reporting (not copies of the sent
   entries: :func:`digest.repeats.developments`) from an outlet the earlier editions did
   not have, or from one they had but published after every sent entry of the story (the
   second day of talks, told by the outlet that told the first); then it stays as an
   update (``Story.update = True``), led by that new reporting (the heaviest outlet's, then
   the latest), not by a sent entry, its sent entries named in ``Story.carried`` (so its
   card's image is new too). A story with no sent
   entry whose every entry repeats a sent one that clustering kept apart
   (:func:`digest.repeats.repeats_sent`) is left out too.
3. **Score**::

       score = (1 + ln outlets) × weight × 2^(−age / half_life) × novelty × boost

   - ``outlets``: distinct sources of the story's entries and of the copies deduplication
     dropped (``Entry.also_in``: a wire story four outlets ran counts four); copies from one
     outlet count once, so ten items from one outlet never beat three outlets of the same
     weight;
   - ``weight``: the highest weight among those sources (a missing source weighs 1.0), so
     adding an outlet never lowers a score;
   - ``age``: hours from the story's newest entry to ``now`` (0 for future dates and for a
     story with no dated entry);
     ``half_life`` defaults to 12 hours;
   - ``novelty``: 1 for a new story; for an update, the share of its outlets with new
     reporting;
   - ``boost``: the product of the factors of matching ``boost`` overrides (default 1).
4. **Pins** (``Override(action="pin")``) put matching stories first, in the order the pins
   are written, whatever their score; the rest follow by score (ties: story key).

Every factor is recorded as a :class:`~digest.types.Reason` on the story, in the order above,
followed by ``score`` itself, so ``digest build --explain`` can print why a story is where it is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from digest import repeats
from digest.overrides import Override
from digest.types import Entry, Reason, Story

__all__ = ["Override", "Ranked", "explain", "rank", "rank_and_leave_out", "story_score"]

log = logging.getLogger("digest.rank")


_OVERRIDE_FIELDS = ("action", "url", "source", "keyword", "factor", "expires", "note")


def _as_overrides(overrides: Sequence[Any]) -> list[Override]:
    """Accept :class:`Override` values, dicts, or any object with the same attributes (e.g. a
    config model declared in ``digest.config`` with these fields)."""
    result = []
    for item in overrides:
        if isinstance(item, Override):
            result.append(item)
        elif isinstance(item, Mapping):
            result.append(Override.model_validate(dict(item)))
        else:
            fields = {name: getattr(item, name) for name in _OVERRIDE_FIELDS if hasattr(item, name)}
            result.append(
                Override.model_validate({k: v for k, v in fields.items() if v is not None})
            )
    return result


def _newest(story: Story) -> datetime | None:
    times = [e.published or e.first_seen for e in story.entries]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def story_score(
    story: Story,
    *,
    weights: Mapping[str, float],
    now: datetime,
    half_life_hours: float = 12.0,
    novelty: float = 1.0,
    boost: float = 1.0,
) -> tuple[float, tuple[Reason, ...]]:
    """The score of one story and its factors (see the module docstring for the formula).

    Returns ``(score, reasons)`` with reasons ``outlets``, ``weight``, ``freshness``,
    ``novelty``, ``boost`` (only when not 1) and ``score``.
    """
    sources = story.outlets
    outlets = len(sources)
    weight = max((weights.get(s, 1.0) for s in sources), default=1.0)
    newest = _newest(story)
    age_hours = max(0.0, (now - newest).total_seconds() / 3600.0) if newest else 0.0
    freshness = 2.0 ** (-age_hours / half_life_hours)
    outlet_factor = 1.0 + math.log(outlets) if outlets else 0.0
    score = outlet_factor * weight * freshness * novelty * boost
    reasons = [
        Reason("outlets", float(outlets), ", ".join(sources)),
        Reason(
            "weight",
            weight,
            f"highest source weight ({max(sources, key=lambda s: weights.get(s, 1.0))})",
        ),
        Reason(
            "freshness",
            freshness,
            f"newest entry {age_hours:.1f} h old, half-life {half_life_hours:g} h",
        ),
        Reason(
            "novelty",
            novelty,
            "new story" if novelty == 1.0 else "update: share of outlets with new reporting",
        ),
    ]
    if boost != 1.0:
        reasons.append(Reason("boost", boost, "editor boost"))
    reasons.append(
        Reason("score", score, "(1 + ln outlets) × weight × freshness × novelty × boost")
    )
    return score, tuple(reasons)


def _without_source(story: Story, source: str) -> Story | None:
    kept = [e for e in story.entries if e.source != source]
    if not kept:
        return None
    return replace(story, lead=kept[0], others=tuple(kept[1:]))


def _new_reporting(old: Sequence[Entry], new: Sequence[Entry]) -> list[Entry]:
    """Of ``new`` (a sent story's developments), those from an outlet none of ``old`` (its
    sent entries) came from, or published after every one of them (rule 2); an undated
    entry is never after."""
    old_sources = {e.source for e in old}
    dated = [e.published or e.first_seen for e in old]
    latest = max((t for t in dated if t is not None), default=None)

    def later(entry: Entry) -> bool:
        when = entry.published or entry.first_seen
        return latest is not None and when is not None and when > latest

    return [e for e in new if e.source not in old_sources or later(e)]


def _led_by_news(story: Story, news: Sequence[Entry], weights: Mapping[str, float]) -> Story:
    """An update led by its new reporting: the entry of ``news`` (its new reporting,
    never empty) from the heaviest source, then the latest; the sent entries follow it. A
    sent lead would show readers yesterday's headline and summary again under [UPDATE]."""
    lead = max(news, key=lambda e: (weights.get(e.source, 1.0), e.time))
    return replace(story, lead=lead, others=tuple(e for e in story.entries if e is not lead))


def rank(stories: Sequence[Story], **options: Any) -> list[Story]:
    """Score, filter and order stories, best first: the stories of
    :func:`rank_and_leave_out` (same keyword arguments)."""
    return rank_and_leave_out(stories, **options).stories


class Ranked(NamedTuple):
    """What :func:`rank_and_leave_out` gives: the kept ``stories``, best first, and the
    stories rules 1-2 left out, each with its ``kind`` (``dropped``: an override; ``sent``:
    already carried by an earlier edition, or a copy of what one carried) and a ``reason``
    for a reader (``digest build --explain``/``--json``)."""

    stories: list[Story]
    left_out: list[tuple[Story, str, str]]


def rank_and_leave_out(
    stories: Sequence[Story],
    *,
    weights: Mapping[str, float],
    now: datetime,
    sent: Mapping[tuple[str, str], str] | None = None,
    half_life_hours: float = 12.0,
    overrides: Sequence[Any] = (),
) -> Ranked:
    """Score, filter and order stories, best first, and say which were left out and why.

    ``weights`` maps source name to weight (missing: 1.0); ``now`` is the edition time (UTC).
    ``sent`` maps (source, entry_id) of entries already in earlier editions of the list to that
    edition's period. ``overrides`` are :class:`Override` values (or dicts that validate as
    one). Rules apply in the order given in the module docstring. Returned stories have
    ``score``, ``reasons``, ``update`` and ``pinned`` set.

    Raises ``pydantic.ValidationError`` (a ``ValueError``) when an override dict is invalid;
    the config loader validates overrides first, so the pipeline never sees this.
    """
    if half_life_hours <= 0:
        raise ValueError("half_life_hours must be positive")
    sent = sent or {}
    active = [o for o in _as_overrides(overrides) if o.active(now)]
    drops = [o for o in active if o.action == "drop"]
    boosts = [o for o in active if o.action == "boost"]
    pins = [o for o in active if o.action == "pin"]

    kept: list[Story] = []
    left: list[tuple[Story, str, str]] = []
    pin_order: list[int | None] = []
    sent_index = repeats.SentIndex(
        [e for s in stories for e in s.entries if (e.source, e.entry_id) in sent]
    )
    for story in stories:
        current: Story | None = story
        for rule in drops:
            if current is None:
                break
            if rule.source:
                current = _without_source(current, rule.source)
            elif rule.matches(current):
                current = None
            if current is None:
                log.debug("rank.drop story=%s override=%s", story.key, rule.target)
                left.append((story, "dropped", f"dropped by the override {rule.target}"))
        if current is None:
            continue
        story = current

        reasons_extra: list[Reason] = []
        novelty = 1.0
        update = False
        old = [e for e in story.entries if (e.source, e.entry_id) in sent]
        if old:
            developed = repeats.developments(story.entries, sent)
            new = _new_reporting(old, developed)
            new_outlets = sorted({e.source for e in new})
            periods = sorted({sent[(e.source, e.entry_id)] for e in old})
            if not new_outlets:
                log.debug("rank.sent story=%s", story.key)
                why = (
                    "its outlets were in it already, with nothing later"
                    if developed else "it repeats what was sent"
                )
                left.append((story, "sent", (
                    f"in the story “{old[0].title}” sent in {', '.join(periods)}: {why}"
                )))  # fmt: skip
                continue
            update = True
            novelty = len(new_outlets) / len(story.sources)
            story = _led_by_news(story, new, weights)
            reasons_extra.append(
                Reason(
                    "update",
                    float(len(new_outlets)),
                    f"sent in {', '.join(periods)}; new: {', '.join(new_outlets)}",
                )
            )
        elif sent_index.repeats(story.entries):
            log.debug("rank.repeat story=%s", story.key)  # a copy clustering kept apart
            left.append((story, "sent", (
                "repeats an entry an earlier edition carried (the same link, headline or "
                "summary)"
            )))  # fmt: skip
            continue

        boost = 1.0
        for rule in boosts:
            if rule.matches(story):
                boost *= rule.factor
                reasons_extra.append(
                    Reason("boost", rule.factor, rule.note or f"override {rule.target}")
                )
        pin_rank = next((i for i, rule in enumerate(pins) if rule.matches(story)), None)
        if pin_rank is not None:
            rule = pins[pin_rank]
            reasons_extra.append(
                Reason("pin", float(pin_rank + 1), rule.note or f"override {rule.target}")
            )

        score, reasons = story_score(
            story,
            weights=weights,
            now=now,
            half_life_hours=half_life_hours,
            novelty=novelty,
            boost=boost,
        )
        reasons = tuple(r for r in reasons if r.name != "boost")
        kept.append(
            replace(
                story,
                score=score,
                reasons=(*reasons[:-1], *reasons_extra, reasons[-1]),
                update=update,
                pinned=pin_rank is not None,
                carried=tuple((e.source, e.entry_id) for e in old) if update else (),
            )
        )
        pin_order.append(pin_rank)

    ranked = sorted(
        zip(kept, pin_order, strict=True),
        key=lambda pair: (pair[1] is None, pair[1] or 0, -pair[0].score, pair[0].key),
    )
    return Ranked([story for story, _ in ranked], left)


def explain(story: Story) -> str:
    """One line per reason of a ranked story, for ``digest build --explain`` and previews.

    Example::

        score 2.524  US civil rights leader Jesse Jackson dies aged 84
          outlets    7        bbc-world, nyt-world, ...
          weight     1.2      highest source weight (bbc-world)
    """
    lines = [
        f"score {story.score:.3f}  {story.lead.title}" + ("  [update]" if story.update else "")
    ]
    for reason in story.reasons:
        if reason.name == "score":
            continue
        lines.append(f"  {reason.name:<10} {reason.value:<8.3g} {reason.note}")
    if story.section:
        lines.append(f"  {'section':<10} {story.section:<8} {story.section_reason}")
    return "\n".join(lines)
