"""An edition as plain JSON-ready data: what ``digest build --json`` prints.

Pure: takes an :class:`~digest.types.Edition`, returns dicts and lists of str/float/bool.
"""

from __future__ import annotations

from typing import Any

from digest.types import Edition, Entry

__all__ = ["edition_json"]


def _entry(entry: Entry) -> dict[str, Any]:
    return {
        "source": entry.source,
        "id": entry.entry_id,
        "title": entry.title,
        "url": entry.url,
        "published": entry.published.isoformat() if entry.published else None,
    }


def edition_json(edition: Edition) -> dict[str, Any]:
    """``{"list", "period", "window": [start, end], "stories": [...], "left_out": [...]}``.

    Each story, in reading order: ``position`` (1-based), ``key``, ``section`` (config name),
    ``section_reason``, ``score``, ``update``, ``pinned``, ``title`` (the lead's), ``outlets``
    (source names), ``reasons`` (``name``, ``value``, ``note``) and ``entries`` (lead first:
    ``source``, ``id``, ``title``, ``url``, ``published`` ISO 8601 UTC). ``left_out`` lists
    the entries recognised as not news with ``kind`` and ``reason``.
    """
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
            {**_entry(item.entry), "kind": item.kind, "reason": item.reason}
            for item in edition.left_out
        ],
    }
