"""Text direction of an entry: right-to-left or left-to-right, from its text or its language.

The text decides first: its strong characters are counted by Unicode bidirectional class
(UAX #9: ``R`` and ``AL`` against ``L``), and the majority wins, so a Hebrew headline that
starts with "iPhone" is still right to left and an English item in an Arabic-language feed
is left to right. Text with no strong character (digits, punctuation) takes its language: a
BCP 47 tag whose primary subtag is written right to left (Arabic, Hebrew, Persian, Urdu,
Pashto, Sindhi, Yiddish, Dhivehi, Uyghur, Kurdish Sorani, Syriac...) means ``"rtl"``. Feeds
often omit ``<language>``, or give the site's, not the item's. (``digest.render`` decides a
story's ``dir`` the same way.)
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


def text_direction(*texts: str, language: str | None = None) -> Direction:
    """``"rtl"`` or ``"ltr"`` for ``texts`` (title, summary...) in ``language`` (BCP 47 or
    ``None``); see the module docstring. Pure; never raises."""
    rtl = ltr = 0
    for text in texts:
        for ch in text:
            kind = unicodedata.bidirectional(ch)
            if kind in ("R", "AL"):
                rtl += 1
            elif kind == "L":
                ltr += 1
    if rtl or ltr:
        return "rtl" if rtl > ltr else "ltr"
    if language:
        tag = language.lower().replace("_", "-")
        if tag.split("-")[0] in RTL_LANGUAGES or tag in RTL_LANGUAGES or "-arab" in tag:
            return "rtl"
    return "ltr"
