"""Assemble an :class:`~digest.types.Edition`: its period, its window and its stories.

Order of work, all pure (``now`` and the edition time are arguments):

1. :func:`edition_time` / :func:`period_of`: the list's latest scheduled time at or before the
   requested time, in the list's timezone, names the edition (``2026-02-18`` for a daily list);
   the schedule arithmetic itself is :mod:`digest.schedule`.
2. :func:`edition_window`: from the previous edition's end (or ``max_age_hours`` back, whichever
   is later) to the edition time.
3. :func:`assemble`: leave out what is not news (:mod:`digest.noise`) → dedupe → cluster → rank (stories made only of entries already sent are
   left out) → sections → the list's cap on stories; every entry left out on the way (but
   those an earlier edition carried) is in ``Edition.left_out`` with its kind and reason.
4. :func:`for_topics`: the same edition narrowed to a subscriber's chosen sections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from digest import schedule
from digest.config import Config, ListConfig
from digest.types import Edition, Entry, LeftOut, Section, SourceInfo, Story


def edition_time(list_config: ListConfig, at: datetime) -> datetime | None:
    """The list's latest scheduled time at or before ``at`` (:func:`digest.schedule.latest`),
    in the list's timezone: the time naming the edition due at ``at``."""
    fire = schedule.latest(list_config.schedule, at)
    return None if fire is None else fire.at.astimezone(ZoneInfo(list_config.schedule.timezone))


def next_edition_time(list_config: ListConfig, after: datetime) -> datetime | None:
    """The list's first scheduled time strictly after ``after``, in the list's timezone."""
    fire = schedule.next_after(list_config.schedule, after)
    return None if fire is None else fire.at.astimezone(ZoneInfo(list_config.schedule.timezone))


def period_of(list_config: ListConfig, scheduled: datetime) -> str:
    """The period key of the edition scheduled at ``scheduled``
    (:func:`digest.schedule.period_key`): its local date for lists sent at most once a day
    (``2026-02-18``), else the local date and time (``2026-02-18T0700``)."""
    return schedule.period_key(list_config.schedule, scheduled)


def edition_window(
    end: datetime, previous_end: datetime | None, max_age_hours: float
) -> tuple[datetime, datetime]:
    """``(start, end)`` of an edition's window: from the previous edition's end, but never
    further back than ``max_age_hours`` before ``end``."""
    start = end - timedelta(hours=max_age_hours)
    if previous_end is not None and previous_end > start:
        start = min(previous_end, end)
    return start, end


def assemble(
    *,
    config: Config,
    list_config: ListConfig,
    period: str,
    window: tuple[datetime, datetime],
    entries: Sequence[Entry],
    sent: Mapping[tuple[str, str], str],
    model: Any | None = None,
) -> Edition:
    """Build the edition of ``list_config`` for ``period`` from stored ``entries``.

    ``entries`` are the window's entries, including ones already carried by earlier editions
    (``sent`` maps their ``(source, entry_id)`` to that edition's period) so that a story that
    grew since can come back as an update. The result holds at most
    ``max_stories`` stories, in config section order, empty sections removed.
    """
    from digest import cluster, noise, rank, topics  # the heavy stages, only when assembling

    start, end = window
    sources = config.list_sources(list_config)
    weights = {s.name: s.weight for s in sources}
    source_topics = {s.name: s.topic for s in sources if s.topic}
    news, not_news = noise.split_noise(entries)
    unique = cluster.dedupe(news, weights=weights)
    stories = cluster.cluster(unique, weights=weights, window_hours=list_config.story_window_hours)
    ranked, unranked = rank.rank_and_leave_out(
        stories,
        weights=weights,
        now=end,
        sent=sent,
        half_life_hours=list_config.half_life_hours,
        overrides=list_config.overrides,
    )
    topic_configs = [config.topic(name) for name in list_config.topics]
    sections = topics.assign_sections(
        ranked,
        topics=topic_configs,
        list_config=list_config,
        source_topics=source_topics,
        model=model,
    )
    placed = {story.key for section in sections for story in section.stories}
    left = [*unranked]
    for story in ranked:
        if story.key in placed:
            continue
        found = topics.section_of(
            story, topics=topic_configs, list_config=list_config, source_topics=source_topics,
            model=model,
        )  # fmt: skip
        if found is None:
            left.append((story, "off-topic", "no section of the list claims it (no fallback)"))
        else:
            cap = config.topic(found[0]).max_stories
            left.append((
                story, "cap",
                f"beyond the {found[0]} section's {cap} best stories (score {story.score:.3f})",
            ))  # fmt: skip
    capped = _cap(sections, list_config.max_stories)
    kept = {story.key for section in capped for story in section.stories}
    left += [
        (story, "cap", f"beyond the list's {list_config.max_stories} stories (score {story.score:.3f})")
        for section in sections
        for story in section.stories
        if story.key not in kept
    ]
    noise_left = tuple(LeftOut(e, v.kind, v.reason) for e, v in not_news if e.time >= start)
    return Edition(
        list_name=list_config.name,
        list_title=list_config.title,
        period=period,
        window_start=start,
        window_end=end,
        sections=capped,
        sources={
            s.name: SourceInfo(
                name=s.name,
                title=s.title,
                link=str(s.home) if s.home else None,
                weight=s.weight,
            )
            for s in sources
        },
        left_out=noise_left + _left_entries(left, sent),
    )


def _left_entries(
    left: Sequence[tuple[Story, str, str]], sent: Mapping[tuple[str, str], str]
) -> tuple[LeftOut, ...]:
    """The entries of stories left out after clustering (``(story, kind, reason)``), but
    those an earlier edition carried, as :class:`LeftOut` values: so an entry folded into an
    already-sent story, or cut by the list's cap, is shown with its reason, not lost from
    sight."""
    return tuple(
        LeftOut(entry, kind, reason, story.key)
        for story, kind, reason in left
        for entry in story.entries
        if (entry.source, entry.entry_id) not in sent
    )


def for_topics(edition: Edition, choice: Sequence[str]) -> Edition:
    """The edition as a subscriber who chose ``choice`` (topic names) receives it: only those
    sections, in the edition's order. An empty choice, or one that matches no section of
    this edition, gets the whole edition rather than an empty email."""
    chosen = set(choice)
    sections = tuple(s for s in edition.sections if s.name in chosen)
    if not chosen or not sections:
        return edition
    return replace(edition, sections=sections, topics=tuple(sorted(chosen)))


def _cap(sections: Sequence[Section], max_stories: int) -> tuple[Section, ...]:
    """Keep the ``max_stories`` best-scored stories overall, each in its own section."""
    stories = sorted(
        (story for section in sections for story in section.stories),
        key=lambda s: (not s.pinned, -s.score),
    )
    keep = {id(story) for story in stories[:max_stories]}
    capped = (
        replace(section, stories=tuple(s for s in section.stories if id(s) in keep))
        for section in sections
    )
    return tuple(section for section in capped if section.stories)
