"""Editor overrides: the value a list's config declares to pin, boost or drop stories,
and the whole-word keyword match they and the topic rules share. Pure; imports no stage, so
:mod:`digest.config` can declare ``ListConfig.overrides`` with it."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from digest.places import END, UNSPACED
from digest.types import Entry, Story

_START = rf"(?:(?<!\w)|(?=[{UNSPACED}]))"  # a keyword starting in an unspaced script: no edge

__all__ = ["Override", "keyword_pattern"]


@functools.lru_cache(maxsize=1024)
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """The compiled whole-word pattern for an editor keyword.

    ``keyword`` may hold several words (``"climate change"``: any run of spaces between them).
    ALL-CAPS keywords (at least one letter, no lower-case letter) are case-sensitive. An edge
    written in a script without spaces between words (Chinese: "经济" in "中国经济增长")
    needs no boundary (:data:`digest.places.UNSPACED`).
    """
    words = keyword.split()
    body = r"\s+".join(re.escape(w) for w in words)
    caps = any(c.isalpha() for c in keyword) and keyword == keyword.upper()
    flags = 0 if caps else re.IGNORECASE
    return re.compile(rf"{_START}{body}{END}", flags)



class Override(BaseModel):
    """An editor's override for one list: pin, boost or drop the stories that match.

    Exactly one of ``url`` (matched after :func:`digest.cluster.canonical_url`, so tracking
    parameters and http/https do not matter), ``source`` (a source name) or ``keyword`` (whole
    words in any entry's title or summary; ALL-CAPS keywords such as ``US`` match case-
    sensitively, others case-insensitively) must be set. ``factor`` multiplies the score of
    a ``boost`` (values below 1 demote). ``expires`` (UTC) ends the override; ``note`` is
    shown in the story's reasons.

    Declared by the config (``ListConfig.overrides``), applied by :mod:`digest.rank`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["pin", "boost", "drop"]
    url: str | None = None
    source: str | None = None
    keyword: str | None = None
    factor: float = Field(default=2.0, gt=0, le=100)
    expires: datetime | None = None
    note: str = ""

    @model_validator(mode="after")
    def _one_target(self) -> Override:
        given = [name for name in ("url", "source", "keyword") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("an override needs exactly one of 'url', 'source' or 'keyword'")
        if self.expires is not None and self.expires.tzinfo is None:
            raise ValueError("expires: give a timezone (e.g. 2026-02-18T07:00:00Z)")
        return self

    @property
    def target(self) -> str:
        """``"url=…"``, ``"source=…"`` or ``"keyword=…"``: what the override matches."""
        for name in ("url", "source", "keyword"):
            value = getattr(self, name)
            if value:
                return f"{name}={value}"
        return ""

    def active(self, now: datetime) -> bool:
        """Whether the override still applies at ``now``."""
        return self.expires is None or now < self.expires

    def matches_entry(self, entry: Entry) -> bool:
        """Whether this override's target matches one entry."""
        if self.url:
            from digest.cluster import canonical_url  # a stage: loaded when ranking, not by config

            wanted = canonical_url(self.url)
            return wanted is not None and canonical_url(entry.url) == wanted
        if self.source:
            return entry.source == self.source
        if self.keyword:
            pattern = keyword_pattern(self.keyword)
            return bool(pattern.search(entry.title) or pattern.search(entry.summary_text))
        return False

    def matches(self, story: Story) -> bool:
        """Whether this override's target matches any entry of ``story``."""
        return any(self.matches_entry(e) for e in story.entries)
