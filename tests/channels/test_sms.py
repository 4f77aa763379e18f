"""GSM-7 vs UCS-2 detection and segment counting."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from channels.sms import GSM7_BASIC, GSM7_EXTENSION, encoding_of, sms_info


def test_plain_ascii_is_gsm7_and_160_fit_one_segment() -> None:
    info = sms_info("a" * 160)
    assert (info.encoding, info.segments, info.units) == ("GSM-7", 1, 160)
    assert sms_info("a" * 161).segments == 2
    assert sms_info("a" * 306).segments == 2
    assert sms_info("a" * 307).segments == 3


def test_gsm7_accented_letters_in_the_alphabet_stay_gsm7() -> None:
    assert encoding_of("é è ù ì ò à ñ Ñ ü ä ö ¿ ¡ £ ¥") == "GSM-7"


def test_extension_characters_count_double() -> None:
    info = sms_info("€" * 80)
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 160, 1)
    assert sms_info("€" * 81).segments == 2
    assert sms_info("[]{}^~|\\").units == 16


def test_escape_pair_is_never_split_across_segments() -> None:
    # 306 septets would be exactly two parts of 153, but the euro's escape
    # pair cannot straddle parts 1 and 2, so a third part is needed.
    text = "a" * 152 + "€" + "a" * 152
    info = sms_info(text)
    assert info.units == 306
    assert info.segments == 3


def test_one_accent_outside_gsm7_doubles_the_cost() -> None:
    plain = "Hola Maria, su pago de MXN 1,250.00 vence hoy. Pague en https://pay.example/p/abc " * 1
    plain = plain + "x" * (130 - len(plain))
    accented = plain.replace("Maria", "María")
    cheap, dear = sms_info(plain), sms_info(accented)
    assert (cheap.encoding, cheap.segments) == ("GSM-7", 1)
    assert (dear.encoding, dear.segments) == ("UCS-2", 2)
    assert dear.non_gsm == ("í",)


def test_ucs2_limits_are_70_and_67() -> None:
    assert sms_info("á" * 70).segments == 1
    assert sms_info("á" * 71).segments == 2
    assert sms_info("á" * 134).segments == 2
    assert sms_info("á" * 135).segments == 3


def test_emoji_are_surrogate_pairs() -> None:
    info = sms_info("😀" * 35)
    assert (info.encoding, info.units, info.segments) == ("UCS-2", 70, 1)
    # 33 emoji = 66 units, the 34th cannot be split: 67-unit parts hold 33 each.
    assert sms_info("😀" * 67).segments == 3


def test_empty_body_is_one_segment() -> None:
    assert sms_info("").segments == 1


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC)), max_size=800))
def test_basic_gsm7_matches_the_textbook_formula(text: str) -> None:
    info = sms_info(text)
    assert info.encoding == "GSM-7"
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert info.segments == expected


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), max_size=600))
def test_packing_never_beats_the_lower_bound(text: str) -> None:
    info = sms_info(text)
    if info.units > 160:
        assert info.segments >= math.ceil(info.units / 153)
        assert info.segments <= math.ceil(info.units / 152)
