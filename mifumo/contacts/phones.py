"""Phone numbers as people type them, stored as E.164.

A Tanzanian school's spreadsheet holds "0712 345 678", "712345678", "255712345678" and
"+255 712 345 678" for the same phone; all four become "+255712345678".
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

MAX_INPUT_LENGTH = 40

_REASONS = {
    ValidationResult.TOO_SHORT: "is too short",
    ValidationResult.TOO_LONG: "is too long",
    ValidationResult.INVALID_COUNTRY_CODE: "has an unknown country code",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "has an unknown country code",
    NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
    NumberParseException.TOO_SHORT_NSN: "is too short",
    NumberParseException.TOO_LONG: "is too long",
}


class InvalidPhone(ValueError):
    """The text is not a phone number that can receive messages; the message says why."""


def _candidates(text: str, region: str):
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("00") and digits.startswith("00"):
        # 00 is the international prefix across most of Africa. Read that way first, so that
        # "00999..." is refused for its unknown country code, not as a too-long local number.
        yield "+" + digits[2:], None
        yield text, region
        return
    yield text, region
    if not text.startswith("+") and digits == text.replace(" ", "").replace("-", ""):
        yield "+" + digits, None  # "255712345678": a country code without its plus


def normalize_phone(raw: object, region: str) -> str:
    """Return the E.164 form of `raw`, read in `region` when it has no country code."""
    text = str(raw if raw is not None else "").strip()
    # A leading apostrophe is how spreadsheets (and our CSV export) mark text.
    text = text.removeprefix("'").strip()
    if not text:
        raise InvalidPhone("Phone number is empty")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhone("Phone number is too long")
    if any(ch.isalpha() for ch in text):
        # phonenumbers would read letters off a keypad ("0712-ABC-DEF" -> +255712222333): a
        # typo in a spreadsheet must not quietly become someone else's number.
        raise InvalidPhone(f"Invalid phone number format: {text!r} contains letters")
    first_reason = None
    for candidate, candidate_region in _candidates(text, region):
        try:
            number = phonenumbers.parse(candidate, candidate_region)
        except NumberParseException as error:
            first_reason = first_reason or _PARSE_REASONS.get(
                error.error_type, "is not a phone number"
            )
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if first_reason is None:
            possible = phonenumbers.is_possible_number_with_reason(number)
            first_reason = _REASONS.get(possible, f"is not a valid number for {region}")
    raise InvalidPhone(f"Invalid phone number format: {text!r} {first_reason}")
