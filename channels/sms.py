"""SMS encoding and segment counting (GSM 03.38 / 3GPP TS 23.038).

A message that fits the GSM-7 alphabet costs 160 septets per single segment,
153 per part once concatenated (the UDH eats 7). One character outside it (an
"á", an emoji) switches the whole message to UCS-2: 70 UTF-16 units single,
67 per part. Carriers bill per segment, so one accent can double the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The 128 code points of the GSM-7 default alphabet, minus 0x1B (the escape).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape, so each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67


@dataclass(frozen=True)
class SmsInfo:
    """How a body travels: its encoding, billable segments and size in units.

    ``units`` are septets for GSM-7 and UTF-16 code units for UCS-2;
    ``non_gsm`` lists the characters that forced UCS-2 (empty for GSM-7).
    """

    encoding: Encoding
    segments: int
    units: int
    non_gsm: tuple[str, ...] = ()


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in the basic or extension table, else UCS-2."""
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            return "UCS-2"
    return "GSM-7"


def _unit_sizes(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # Astral characters (most emoji) are a UTF-16 surrogate pair.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(sizes: list[int], per_part: int) -> int:
    """Segments needed when an escape pair / surrogate pair may not be split."""
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            parts += 1
            used = 0
        used += size
    return parts


def sms_info(text: str) -> SmsInfo:
    """Encoding, segment count and unit count of an SMS body.

    An empty body is one segment (it is still a message).
    """
    encoding = encoding_of(text)
    sizes = _unit_sizes(text, encoding)
    units = sum(sizes)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_MULTI)
    segments = 1 if units <= single else _pack(sizes, multi)
    non_gsm: tuple[str, ...] = ()
    if encoding == "UCS-2":
        seen: dict[str, None] = {}
        for ch in text:
            if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
                seen.setdefault(ch, None)
        non_gsm = tuple(seen)
    return SmsInfo(encoding=encoding, segments=segments, units=units, non_gsm=non_gsm)
