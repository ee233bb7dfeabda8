"""Text direction of an entry: right-to-left or left-to-right, from its language or its text.

A BCP 47 language whose primary subtag is written right to left (Arabic, Hebrew, Persian,
Urdu, Pashto, Sindhi, Yiddish, Dhivehi, Uyghur, Kurdish Sorani, Syriac...) means ``"rtl"``.
Otherwise the text decides: its strong characters are counted by Unicode bidirectional class
(UAX #9: ``R`` and ``AL`` against ``L``), and the majority wins; text with no strong
character is ``"ltr"``. Feeds often omit ``<language>``, or give the site's, not the item's.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

__all__ = ["RTL_LANGUAGES", "Direction", "text_direction"]

Direction = Literal["rtl", "ltr"]

RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ji", "ks", "ku-arab", "nqo", "pnb", "ps",
     "sd", "syr", "ug", "ur", "yi"}
)  # fmt: skip
_SAMPLE = 2000  # characters of text looked at


def text_direction(*texts: str, language: str | None = None) -> Direction:
    """``"rtl"`` or ``"ltr"`` for ``texts`` (title, summary...) in ``language`` (BCP 47 or
    ``None``); see the module docstring. Pure; never raises."""
    if language:
        tag = language.lower().replace("_", "-")
        if tag.split("-")[0] in RTL_LANGUAGES or tag in RTL_LANGUAGES or "-arab" in tag:
            return "rtl"
    rtl = ltr = 0
    budget = _SAMPLE
    for text in texts:
        for ch in text[:budget]:
            kind = unicodedata.bidirectional(ch)
            if kind in ("R", "AL"):
                rtl += 1
            elif kind == "L":
                ltr += 1
        budget -= min(len(text), budget)
        if budget <= 0:
            break
    return "rtl" if rtl > ltr else "ltr"
