"""Phone numbers as people type them become E.164; impossible ones are refused with a reason."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

from mifumo.contacts.phones import (
    InvalidPhone,
    _normalize_phone_fast,
    _normalize_phone_slow,
    normalize_phone,
    valid_as_written,
)

TANZANIAN_SHAPES = [
    "0712 345 678",
    "0712345678",
    "712345678",
    "255712345678",
    "+255712345678",
    "+255 712 345 678",
    "00255712345678",
    "0712-345-678",
    "(0712) 345 678",
]


@pytest.mark.parametrize("raw", TANZANIAN_SHAPES)
def test_it_reads_every_local_shape_for_a_tanzanian_tenant(raw):
    assert normalize_phone(raw, "TZ") == "+255712345678"


@pytest.mark.parametrize(
    "raw", ["0712 345 678", "712345678", "254712345678", "+254 712 345 678", "00254712345678"]
)
def test_it_reads_every_local_shape_for_a_kenyan_tenant(raw):
    assert normalize_phone(raw, "KE") == "+254712345678"


@pytest.mark.parametrize(
    "raw", ["024 412 3456", "0244123456", "244123456", "233244123456", "+233 24 412 3456"]
)
def test_it_reads_every_local_shape_for_a_ghanaian_tenant(raw):
    assert normalize_phone(raw, "GH") == "+233244123456"


def test_it_reads_a_local_number_in_the_tenants_own_country():
    assert normalize_phone("0712345678", "TZ") == "+255712345678"
    assert normalize_phone("0712345678", "KE") == "+254712345678"


def test_it_keeps_another_countrys_e164_number_as_it_is():
    assert normalize_phone("+254712345678", "TZ") == "+254712345678"


def test_it_strips_the_apostrophe_a_spreadsheet_puts_before_text():
    # The CSV export writes "'+255712345678" so that Excel keeps it as text.
    assert normalize_phone("'+255712345678", "TZ") == "+255712345678"


def test_it_accepts_a_number_that_is_not_a_string():
    assert normalize_phone(712345678, "TZ") == "+255712345678"


def _reason(raw, region="TZ") -> str:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(raw, region)
    return str(caught.value)


def test_it_rejects_a_number_that_is_too_short():
    assert "too short" in _reason("0712 345")


def test_it_rejects_a_number_that_is_too_long():
    assert "too long" in _reason("0712 345 678 90")


def test_it_rejects_an_e164_number_that_is_too_long():
    assert "too long" in _reason("+2557123456789")


def test_it_rejects_text_that_is_longer_than_any_phone_number():
    assert "too long" in _reason("1" * 41)


def test_it_rejects_words():
    assert "letters" in _reason("hello")


def test_it_rejects_letters_instead_of_reading_them_off_a_phone_keypad():
    # "0712-ABC-DEF" would dial +255712222333 on a keypad: a typo in a spreadsheet must not
    # quietly become someone else's number.
    assert "letters" in _reason("0712-ABC-DEF")
    assert "letters" in _reason("0712abc678")


def test_it_rejects_a_letter_l_typed_for_a_one():
    assert "letters" in _reason("07l2345678")


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_it_rejects_an_empty_number(raw):
    assert "empty" in _reason(raw)


def test_it_rejects_an_unknown_country_code():
    assert "unknown country code" in _reason("+999 712 345 678")


def test_it_rejects_an_unknown_country_code_after_the_00_prefix():
    assert "unknown country code" in _reason("00999712345678")


def test_it_rejects_a_number_that_does_not_exist_in_the_country():
    # Nine digits like a mobile number, but Tanzanian numbers do not begin with 9 after 0.
    reason = _reason("0912 345 678")
    assert "Invalid phone number format" in reason
    assert "'0912 345 678'" in reason


def test_it_names_the_input_in_the_message():
    assert "'0712 345'" in _reason("0712 345")


# --- the fast path --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [shape for shape in TANZANIAN_SHAPES if "(" not in shape])
def test_its_fast_path_reads_the_usual_shapes_of_a_tanzanian_number(raw):
    assert _normalize_phone_fast(raw, "TZ") == "+255712345678"


@pytest.mark.parametrize(
    "raw", ["(0712) 345 678", "0712.345.678", "0712345678 ext 5", "0912345678"]
)
def test_its_fast_path_leaves_other_shapes_and_invalid_numbers_to_phonenumbers(raw):
    assert _normalize_phone_fast(raw, "TZ") is None


def _slow_outcome(raw, region):
    try:
        return _normalize_phone_slow(raw, region)
    except InvalidPhone as error:
        return f"InvalidPhone: {error}"


def _mangled(nsn: str, rng: random.Random) -> set[str]:
    """The number, and the typos of a spreadsheet: a digit lost, added, changed."""
    digit = rng.choice("0123456789")
    return {
        nsn,
        nsn[:-1],
        nsn[1:],
        nsn + digit,
        nsn[:3] + digit + nsn[3:],
        nsn[:-1] + str((int(nsn[-1]) + rng.randint(1, 9)) % 10),
        str((int(nsn[0]) + 1) % 10) + nsn[1:],
    }


def _equivalence_cases():
    """About 340,000 (text, tenant region): every region's example numbers of every type, as
    written in that region and abroad, mangled, and random digits; each read in its own
    region and in TZ, KE and GH."""
    rng = random.Random(20261122)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        prefix = PhoneMetadata.metadata_for_region(region).national_prefix or ""
        texts = set()
        for kind in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            texts.add(phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL))
            texts.add(phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL))
            code = example.country_code
            for nsn in _mangled(phonenumbers.national_significant_number(example), rng):
                texts.update(
                    (
                        nsn,
                        f"{prefix}{nsn}",
                        f"{prefix}{nsn[:3]}-{nsn[3:]}",
                        f"+{code}{nsn}",
                        f"+{code} {nsn[:3]} {nsn[3:]}",
                        f"+{code}{prefix}{nsn}",
                        f"{code}{nsn}",
                        f"{code}{prefix}{nsn}",
                        f"00{code}{nsn}",
                    )
                )
        for _ in range(40):
            digits = "".join(rng.choices("0123456789", k=rng.randint(6, 16)))
            texts.update((digits, f"+{digits}"))
        for text in sorted(texts):
            for tenant_region in dict.fromkeys((region, "TZ", "KE", "GH")):
                yield text, tenant_region


def test_its_fast_path_answers_as_phonenumbers_does_for_every_regions_numbers():
    # normalize_phone() is `fast(raw) or slow(raw)`: where the fast path has no answer the
    # slow path runs as it is, so only the fast path's answers need checking (the slow path
    # on all 340,000 cases would take a minute). Each must be what the slow path returns:
    # never a number that it would refuse, never another number.
    cases, answered, wrong = 0, 0, []
    for raw, region in _equivalence_cases():
        cases += 1
        fast = _normalize_phone_fast(raw, region)
        if fast is None:
            continue
        answered += 1
        slow = _slow_outcome(raw, region)
        if fast != slow:
            wrong.append((raw, region, fast, slow))
    assert wrong[:20] == []
    assert cases > 300_000
    # Of the ~93,700 cases the slow path finds valid the fast path answers all but ~300
    # (parentheses, dots, "00" then a local reading).
    assert answered > 90_000


def test_numbers_valid_as_written_are_exactly_what_phonenumbers_keeps_unchanged():
    # valid_as_written() answers for many numbers at once (a bulk send's 10,000) and must
    # never claim a number that normalize_phone() would refuse or rewrite.
    by_region: dict[str, list[str]] = {}
    for raw, region in _equivalence_cases():
        by_region.setdefault(region, []).append(raw)
    claimed, wrong = 0, []
    for region, texts in by_region.items():
        found = valid_as_written([*texts, 255712345678, None, {"phone": 1}], region)
        assert found <= set(texts)
        claimed += len(found)
        wrong += [(text, region) for text in found if _slow_outcome(text, region) != text]
    assert wrong[:20] == []
    # The valid "+<code><number>" cases of the regions that do not share a calling code.
    assert claimed > 2_000


@pytest.mark.parametrize(
    "text",
    ["+255712345678\n", "+255 712 345 678", "+2550712345678", "+255712345678 ", "+25571２345678"],
)
def test_a_number_in_another_shape_is_left_to_normalize_phone(text):
    assert valid_as_written([text, "+255712345679"], "TZ") == {"+255712345679"}


def test_regions_that_share_a_calling_code_are_left_to_normalize_phone():
    assert valid_as_written(["+14155550123", "+447400123456"], "US") == frozenset()
    assert valid_as_written(["+447400123456"], "GB") == frozenset()
