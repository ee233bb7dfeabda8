"""An edition as plain JSON-ready data: what ``digest build --json`` prints.

Pure: takes an :class:`~digest.types.Edition`, returns dicts and lists of str/float/bool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from digest.types import Edition, Entry, Story

__all__ = ["edition_json"]


SIZE_REASON = "left out of the email to stay under Gmail's 102 KB clipping limit; linked on the web"


def _entry(entry: Entry) -> dict[str, Any]:
    return {
        "source": entry.source,
        "id": entry.entry_id,
        "title": entry.title,
        "url": entry.url,
        "published": entry.published.isoformat() if entry.published else None,
        "also_in": [{"source": c.source, "id": c.entry_id, "url": c.url} for c in entry.also_in],
    }


def edition_json(edition: Edition, for_size: Sequence[Story] = ()) -> dict[str, Any]:
    """``{"list", "period", "window": [start, end], "stories": [...], "left_out": [...]}``.

    Each story, in reading order: ``position`` (1-based), ``key``, ``section`` (config name),
    ``section_reason``, ``score``, ``update``, ``pinned``, ``in_email`` (``False`` for the
    stories of ``for_size``, which the email left out for size), ``title`` (the lead's),
    ``outlets`` (source names, with those of the copies dedupe dropped), ``reasons``
    (``name``, ``value``, ``note``) and ``entries`` (lead first: ``source``, ``id``,
    ``title``, ``url``, ``published`` ISO 8601 UTC, ``also_in``: the copies of it dedupe
    dropped, ``source``, ``id``, ``url``). ``left_out`` lists the entries left out, each with
    ``kind``, ``reason`` and ``story`` (:class:`~digest.types.LeftOut`: the key of the story
    it was in, ``""`` for an entry left out before clustering; kind ``size`` for the entries of
    the stories the email left out for size), so a left-out story's entries read as one.
    """
    omitted = {story.key for story in for_size}
    stories: list[dict[str, Any]] = []
    for section in edition.sections:
        for story in section.stories:
            stories.append(
                {
                    "position": len(stories) + 1,
                    "key": story.key,
                    "section": section.name,
                    "section_reason": story.section_reason,
                    "score": story.score,
                    "update": story.update,
                    "pinned": story.pinned,
                    "in_email": story.key not in omitted,
                    "title": story.lead.title,
                    "outlets": list(story.sources),
                    "reasons": [
                        {"name": r.name, "value": r.value, "note": r.note} for r in story.reasons
                    ],
                    "entries": [_entry(e) for e in story.entries],
                }
            )
    return {
        "list": edition.list_name,
        "period": edition.period,
        "window": [edition.window_start.isoformat(), edition.window_end.isoformat()],
        "stories": stories,
        "left_out": [
            {**_entry(item.entry), "kind": item.kind, "reason": item.reason, "story": item.story}
            for item in edition.left_out
        ]
        + [
            {**_entry(entry), "kind": "size", "reason": SIZE_REASON, "story": story.key}
            for story in for_size
            for entry in story.entries
        ],
    }
