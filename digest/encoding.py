"""Which character encoding a feed document's bytes are in: one pure decision, from the bytes.

Order (the bytes decide; a label only breaks a tie the bytes leave open):

1. A byte order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE), or the NUL pattern of UTF-16/32
   text that starts with ``<`` (XML 1.0 Appendix F), or the EBCDIC ``<?xm`` (``4C 6F A7 94``),
   in which case the declaration inside names the EBCDIC code page.
2. A strict UTF-8 decode (a BOM'd or unlabelled/UTF-8-labelled document with more valid
   multi-byte sequences than stray bytes is UTF-8 with the stray bytes read as windows-1252): bytes with non-ASCII content that decode as UTF-8 are UTF-8, whatever
   the prolog or the HTTP ``charset`` says (publishers often declare ``us-ascii`` or
   ``iso-8859-1`` over UTF-8 bytes; the reverse almost never decodes). A warning says so.
   All-ASCII bytes follow a 7-bit label (``iso-2022-jp``, ``utf-7``, ``hz``) if there is one.
3. The HTTP ``charset``, then the prolog's ``encoding``, read as the WHATWG Encoding Standard
   reads labels: ``us-ascii``/``iso-8859-1`` mean windows-1252, ``gb2312``/``gbk`` mean
   GB18030, ``shift_jis`` means windows-31J, ``euc-kr`` means windows-949... The first label
   whose encoding decodes the bytes strictly wins.
4. chardet, when it names a non-Western script encoding that decodes the bytes strictly
   (undeclared GB2312, windows-1251...); else windows-1252 (which decodes any bytes).

Feeds in JSON are not handled here (RFC 8259 requires UTF-8; ``digest.parse`` reads them).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = [
    "MIXED",
    "EncodingDecision",
    "codec_name",
    "is_utf8",
    "decide_encoding",
    "declared_encoding",
    "decode",
]


@dataclass(frozen=True)
class EncodingDecision:
    """The encoding to read a document with.

    ``encoding``: a Python codec name (``"utf-8"``, ``"cp1252"``, ``"gb18030"``...) or
    :data:`MIXED`.
    ``source``: what decided it: ``"bom"``, ``"utf-8"`` (strict decode), ``"http"``,
    ``"declared"``, ``"detected"`` or ``"fallback"``. ``skip``: bytes of BOM to skip.
    ``warning``: a sentence for the feed's warnings when a label was wrong or missing, else
    ``None``.
    """

    encoding: str
    source: str
    skip: int = 0
    warning: str | None = None


_XML_DECL_ENCODING = re.compile(
    r"^\s*<\?xml[^>]*?\bencoding\s*=\s*([\"'])([A-Za-z0-9._:\-]+)\1", re.IGNORECASE
)
_EBCDIC_XML = b"\x4c\x6f\xa7\x94"

# Labels Python does not know, as the IANA registry / Microsoft name them.
_ALIASES = {
    "mac": "mac_roman", "csmacintosh": "mac_roman", "x-mac-roman": "mac_roman",
    "ms-ansi": "cp1252", "ms-arab": "cp1256", "ms-cyrl": "cp1251", "ms-ee": "cp1250",
    "ms-greek": "cp1253", "ms-hebr": "cp1255", "ms-turk": "cp1254", "windows-874": "cp874",
    "x-sjis": "cp932", "x-euc-jp": "euc_jp", "unicode-1-1-utf-8": "utf-8",
    "x-mac-cyrillic": "mac_cyrillic", "x-gbk": "gb18030",
}  # fmt: skip
# WHATWG Encoding Standard: what browsers (and so publishers) mean by these labels.
_SUPERSETS = {
    "latin_1": "cp1252", "ascii": "cp1252", "iso8859-1": "cp1252",
    "gb2312": "gb18030", "gbk": "gb18030", "shift_jis": "cp932", "euc_kr": "cp949",
    "iso8859-9": "cp1254", "iso8859-11": "cp874", "tis-620": "cp874", "big5": "big5hkscs",
}  # fmt: skip
_SEVEN_BIT = frozenset({"iso2022_jp", "iso2022_jp_2", "iso2022_kr", "utf-7", "hz"})
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_NON_WESTERN = re.compile(
    r"^(gb|big5|shift_jis|cp932|euc|iso-?2022|cp949|uhc|johab|windows-125[1356]|cp125[1356]|"
    r"koi8|iso-?8859-[5678]|maccyrillic|ibm866|cp866|tis-?620|cp874|windows-874)",
    re.IGNORECASE,
)


def codec_name(label: str | None) -> str | None:
    """Python codec name for an encoding label (IANA, WHATWG or Python spelling), or ``None``."""
    if not label:
        return None
    label = label.strip().lower()
    try:
        return codecs.lookup(_ALIASES.get(label, label)).name
    except LookupError:
        return None


def declared_encoding(text_head: str) -> str | None:
    """The ``encoding`` pseudo-attribute of an XML declaration at the start of ``text_head``."""
    m = _XML_DECL_ENCODING.match(text_head)
    return m.group(2).lower() if m else None


def _wide(content: bytes) -> tuple[str, int] | None:
    head = content[:4]
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32", 0  # the codec reads and removes the BOM itself
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0
    patterns = {
        b"\x00\x00\x00<": "utf-32-be",
        b"<\x00\x00\x00": "utf-32-le",
    }
    if head in patterns:
        return patterns[head], 0
    if head[:2] == b"\x00<":
        return "utf-16-be", 0
    if head[:2] == b"<\x00":
        return "utf-16-le", 0
    return None


MIXED = "utf-8+cp1252"
"""Pseudo-encoding: UTF-8, with each byte that is not part of a valid sequence read as
windows-1252 (documents pasted together from two sources)."""
_UTF8_MULTI = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def is_utf8(content: bytes) -> bool:
    """Whether ``content`` decodes as strict UTF-8."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mostly_utf8(content: bytes) -> bool:
    """More valid multi-byte UTF-8 sequences than stray non-ASCII bytes."""
    valid = len(_UTF8_MULTI.findall(content))
    stray = sum(1 for b in _UTF8_MULTI.sub(b"", content) if b >= 0x80)
    return valid > 0 and valid >= stray


def _cp1252_for_invalid(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(_cp1252_chunks(bytes(bad))), exc.end


codecs.register_error("digest-cp1252", _cp1252_for_invalid)


def _decodes(content: bytes, encoding: str) -> bool:
    if encoding == "cp1252":
        return True  # read with the five unassigned bytes as latin-1 (see decode)
    try:
        content.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def may_detect(content: bytes) -> bool:
    """Whether :func:`decide_encoding` may ask chardet about ``content`` (the whole
    document): only bytes that are neither ASCII nor UTF-8 get that far. A necessary
    condition, not a sufficient one (a declared encoding that decodes them comes first).
    Checked 64 KB at a time, so no text of the whole document is built (a poll asks this of
    every body it holds: decoding the largest at once raised its peak RSS by 7 MB)."""
    if content.isascii():
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(content)
    try:
        for start in range(0, len(view), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return True
    return False


_CHUNK = 65536


def _detect(content: bytes) -> str | None:
    try:
        import chardet

        guess = chardet.detect(content[:65536]).get("encoding")
    except Exception:  # noqa: BLE001 - a guess is optional; windows-1252 is the fallback
        return None
    if not isinstance(guess, str) or not _NON_WESTERN.match(guess):
        return None
    name = codec_name(guess)
    name = _SUPERSETS.get(name, name) if name else None
    return name if name and _decodes(content, name) else None


def decide_encoding(
    content: bytes, *, declared: str | None, http_charset: str | None
) -> EncodingDecision:
    """Decide the encoding of ``content`` (the whole document) as the module docstring says.

    ``declared``: the prolog's ``encoding`` label as written (``None`` if absent); for EBCDIC
    documents it is read here. ``http_charset``: the ``charset`` parameter of the HTTP
    ``Content-Type`` (``None`` if absent). Unknown labels are ignored. Never raises.
    """
    if content.startswith(codecs.BOM_UTF8):
        if is_utf8(content[3:]):
            return EncodingDecision("utf-8", "bom", skip=3)
        return EncodingDecision(
            MIXED, "bom", skip=3, warning="UTF-8 with invalid bytes; those read as windows-1252"
        )
    wide = _wide(content)
    if wide:
        return EncodingDecision(wide[0], "bom")
    if content.startswith(_EBCDIC_XML):
        inner = codec_name(declared_encoding(content[:1024].decode("cp037", "replace")))
        return EncodingDecision(inner if inner and inner.startswith("cp") else "cp037", "bom")
    labels = [("http", http_charset), ("declared", declared)]
    known = [(src, lab, codec_name(lab)) for src, lab in labels if lab]
    if content.isascii():
        for src, _lab, name in known:
            if name in _SEVEN_BIT:
                return EncodingDecision(name, src)
        return EncodingDecision("utf-8", "utf-8")
    if is_utf8(content):
        wrong = [lab for _src, lab, name in known if name not in ("utf-8", "utf-8-sig")]
        warning = f"declared {wrong[0]} but the bytes are UTF-8; read as UTF-8" if wrong else None
        return EncodingDecision("utf-8", "utf-8", warning=warning)
    if _mostly_utf8(content) and all(name in ("utf-8", None) for _s, _l, name in known):
        return EncodingDecision(
            MIXED, "utf-8", warning="UTF-8 with invalid bytes; those read as windows-1252"
        )
    failed: list[str] = []
    for src, lab, name in known:
        if name is None or name in _WIDE or name in ("utf-8", "utf-8-sig"):
            if lab:
                failed.append(lab)
            continue
        name = _SUPERSETS.get(name, name)
        if _decodes(content, name):
            if failed:
                return EncodingDecision(
                    name, src, warning=f"declared {failed[0]} but the bytes are not; read as {lab}"
                )
            return EncodingDecision(name, src)
        failed.append(lab or "")
    said = f"declared {failed[0]} but the bytes are not" if failed else "encoding not declared"
    guess = _detect(content)
    if guess:
        return EncodingDecision(
            guess, "detected", warning=f"{said} and not UTF-8; read as {guess} (detected)"
        )
    return EncodingDecision(
        "cp1252", "fallback", warning=f"{said} and not UTF-8; read as windows-1252"
    )


def decode(content: bytes, decision: EncodingDecision) -> str:
    """The text of ``content`` under ``decision``; undecodable bytes become U+FFFD, and
    windows-1252's five unassigned bytes are read as their latin-1 (C1) code points."""
    data = content[decision.skip :]
    if decision.encoding == "cp1252":
        return "".join(_cp1252_chunks(data))
    if decision.encoding == MIXED:
        return data.decode("utf-8", errors="digest-cp1252")
    text = data.decode(decision.encoding, errors="replace")
    return text.removeprefix("\ufeff")


def _cp1252_chunks(content: bytes) -> list[str]:
    out: list[str] = []
    start = 0
    for m in re.finditer(rb"[\x81\x8d\x8f\x90\x9d]", content):
        out.append(content[start : m.start()].decode("cp1252"))
        out.append(content[m.start() : m.end()].decode("latin-1"))
        start = m.end()
    out.append(content[start:].decode("cp1252"))
    return out
