"""How many SMS segments a text costs, exactly as GSM 03.38 counts them.

A text that fits the GSM 7-bit alphabet costs one segment up to 160 septets, else 153 per
segment (7 septets carry the concatenation header). Characters of the extension table
(^ { } \\ [ ~ ] | € and form feed) take two septets, an escape and the character, and the pair
is never split across two segments. One character outside the alphabet (a smart quote, a
non-breaking space, an emoji) turns the whole message into UCS-2: 70 UTF-16 code units in one
segment, else 67 per segment, an emoji's surrogate pair never split. That one character can
double or triple the bill, so the estimate names it and its position.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
_BASIC = frozenset(GSM7_BASIC) - {"\x1b"}
_EXTENSION = frozenset(GSM7_EXTENSION)

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class ForcingCharacter:
    character: str
    position: int  # 0-based index in the text
    name: str


class SegmentCount(NamedTuple):
    # A named tuple, not a dataclass: a send builds one per recipient, and a frozen
    # dataclass took longer to build than the regex took to count.
    encoding: str  # "gsm7" or "ucs2"
    characters: int
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    segments: int
    ucs2_characters: tuple[ForcingCharacter, ...] = ()


def _pack(unit_sizes: list[int], single: int, multi: int) -> int:
    """Segments needed for characters of the given sizes, never splitting a character."""
    total = sum(unit_sizes)
    if total == 0:
        return 1  # an empty message still costs one
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in unit_sizes:
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def _name(character: str) -> str:
    import unicodedata

    return unicodedata.name(character, f"U+{ord(character):04X}")


_GSM7_BASIC_TEXT = re.compile("[" + re.escape("".join(sorted(_BASIC))) + "]*")
_GSM7_TEXT = re.compile("[" + re.escape("".join(sorted(_BASIC | _EXTENSION))) + "]*")
_EXTENSION_CHARACTER = re.compile("[" + re.escape(GSM7_EXTENSION) + "]")


def count_segments(text: str) -> SegmentCount:
    # A bulk send counts 10,000 personalised texts in one request: the common cases (GSM 7-bit
    # with no extension character, or any text under a segment) are decided by a regex, in C.
    # Only a long text with extension characters (which must not straddle two segments) or
    # a long UCS-2 text with surrogate pairs walks its characters.
    if _GSM7_BASIC_TEXT.fullmatch(text):  # the commonest: one regex, and the count by length
        return _gsm7_basic_count(len(text))
    if _GSM7_TEXT.fullmatch(text):
        extensions = len(_EXTENSION_CHARACTER.findall(text))
        septets = len(text) + extensions
        if septets <= GSM7_SINGLE or not extensions:
            segments = 1 if septets <= GSM7_SINGLE else -(-septets // GSM7_MULTI)
            return SegmentCount("gsm7", len(text), septets, segments)
    return _count_segments_by_character(text)


@functools.lru_cache(maxsize=1024)
def _gsm7_basic_count(length: int) -> SegmentCount:
    """The count of a text of basic GSM 7-bit characters only: one septet each, so its length
    decides it (and texts of one length share one immutable answer)."""
    segments = 1 if length <= GSM7_SINGLE else -(-length // GSM7_MULTI)
    return SegmentCount("gsm7", length, length, segments)


def _count_segments_by_character(text: str) -> SegmentCount:
    forcing = [
        ForcingCharacter(ch, index, _name(ch))
        for index, ch in enumerate(text)
        if ch not in _BASIC and ch not in _EXTENSION
    ]
    if not forcing:
        sizes = [2 if ch in _EXTENSION else 1 for ch in text]
        return SegmentCount("gsm7", len(text), sum(sizes), _pack(sizes, GSM7_SINGLE, GSM7_MULTI))
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentCount(
        "ucs2", len(text), sum(sizes), _pack(sizes, UCS2_SINGLE, UCS2_MULTI), tuple(forcing)
    )
