"""Phone numbers as people type them, stored as E.164.

A Tanzanian school's spreadsheet holds "0712 345 678", "712345678", "255712345678" and
"+255 712 345 678" for the same phone; all four become "+255712345678".

phonenumbers.parse() and is_valid_number() cost 55-100 µs a number in pure Python: 0.5-1 s of
a bulk send to 10,000 recipients, which must be accepted in 300 ms. The usual shapes (digits,
spaces and hyphens, with or without "+" or "00") are read first by _normalize_phone_fast(): the
same rules, on phonenumbers' own metadata, with the patterns compiled once (4-6 µs). It answers
only for a number it finds valid; everything else, and every error message, comes from
_normalize_phone_slow(). tests/contacts/test_phones.py checks the two agree on every region's
numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from mifumo.memory import forget_tracebacks

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


def normalize_phone(raw: object, region: str) -> str:
    """Return the E.164 form of `raw`, read in `region` when it has no country code."""
    return _normalize_phone_fast(raw, region) or _normalize_phone_slow(raw, region)


def _text(raw: object) -> str:
    text = str(raw if raw is not None else "").strip()
    # A leading apostrophe is how spreadsheets (and our CSV export) mark text.
    return text.removeprefix("'").strip()


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


def _normalize_phone_slow(raw: object, region: str) -> str:
    """normalize_phone() through phonenumbers.parse(): every shape, and the reasons."""
    text = _text(raw)
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
            forget_tracebacks(error)  # parse() leaves a cycle through its frame: see there
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


# --- the fast path ------------------------------------------------------------------------------
# Each step names the phonenumbers function (phonenumberutil.py, 9.0.43) whose rules it repeats.
# None means "not certainly valid": the slow path then decides, and words the reason.

_MIN_NSN, _MAX_NSN = 2, 17  # parse(): _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
_CALLING_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}
_NOT_VALID = ""  # _national(): read in the tenant's region, the number is certainly not valid
# parse() keeps the national prefix when the number without it has one of these lengths.
_PREFIX_KEPT = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)

_Desc = tuple[frozenset[int], re.Pattern]


class _Plan:
    """One region's (or non-geographic code's) PhoneMetadata, its patterns compiled once."""

    def __init__(self, metadata: PhoneMetadata) -> None:
        general = metadata.general_desc
        self.country_code = str(metadata.country_code)
        self.general = _desc(general)
        # _number_type_helper(): a match with any of these makes a number valid. Mobile is
        # not tried when its pattern is fixed_line's (same_mobile_and_fixed_line_pattern).
        kinds = [metadata.fixed_line, metadata.premium_rate, metadata.toll_free]
        kinds += [metadata.shared_cost, metadata.voip, metadata.personal_number]
        kinds += [metadata.pager, metadata.uan, metadata.voicemail]
        if not metadata.same_mobile_and_fixed_line_pattern:
            kinds.insert(0, metadata.mobile)  # the likeliest kind first
        self.kinds = [desc for desc in map(_desc, kinds) if desc is not None]
        self.valid = _validity_pattern(self.general, self.kinds)
        self.lengths = list(general.possible_length)
        self.local_lengths = list(general.possible_length_local_only)
        self.national_prefix = _compile(metadata.national_prefix_for_parsing)
        self.transform = metadata.national_prefix_transform_rule or None
        # "" is a pattern for these two (it matches anything); None is none.
        self.idd = _compile(metadata.international_prefix, allow_empty=True)
        self.leading_digits = _compile(metadata.leading_digits, allow_empty=True)

    def matches_general(self, number: str) -> bool:
        # _match_national_number(number, general_desc, False): no length check.
        return self.general is not None and self.general[1].fullmatch(number) is not None

    def is_valid(self, nsn: str) -> bool:
        # _number_type_helper(nsn, metadata) != UNKNOWN, each desc by _is_number_matching_desc().
        return self.valid is not None and self.valid.fullmatch(nsn) is not None

    def length_result(self, number: str) -> int:
        # _test_number_length(number, metadata) for PhoneNumberType.UNKNOWN.
        length, lengths = len(number), self.lengths
        if length in self.local_lengths:
            return ValidationResult.IS_POSSIBLE_LOCAL_ONLY
        if lengths[0] == length:
            return ValidationResult.IS_POSSIBLE
        if lengths[0] > length:
            return ValidationResult.TOO_SHORT
        if lengths[-1] < length:
            return ValidationResult.TOO_LONG
        if length in lengths[1:]:
            return ValidationResult.IS_POSSIBLE
        return ValidationResult.INVALID_LENGTH

    def strip_national_prefix(self, number: str) -> str:
        # _maybe_strip_national_prefix_carrier_code(number, metadata)[1].
        if not number or self.national_prefix is None:
            return number
        match = self.national_prefix.match(number)
        if match is None:
            return number
        viable = self.matches_general(number)
        if self.transform is None or match.groups()[-1] is None:
            stripped = number[match.end() :]
        else:
            stripped = self.national_prefix.sub(self.transform, number, count=1)
        return number if viable and not self.matches_general(stripped) else stripped

    def national_number(self, number: str) -> str:
        # parse(): the national prefix goes only if what is left may be a whole number.
        stripped = self.strip_national_prefix(number)
        if stripped == number or self.length_result(stripped) in _PREFIX_KEPT:
            return number
        return stripped


class _CallingCode:
    """The regions of one calling code, for parse() (the main region) and is_valid_number()."""

    def __init__(self, code: int) -> None:
        self.code = code
        plans = [_plan(code, region) for region in COUNTRY_CODE_TO_REGION_CODE[code]]
        self.main = plans[0]
        self.plans = [plan for plan in plans if plan is not None]
        self.shared = len(plans) > 1

    def is_valid(self, nsn: str) -> bool:
        # is_valid_number(): region_code_for_number(), then is_valid_number_for_region().
        if not self.shared:
            return self.main is not None and self.main.is_valid(nsn)
        # _region_code_for_number_from_list(): the first region whose leading digits match,
        # or (for a region without any) whose patterns match.
        for plan in self.plans:
            if plan.leading_digits is not None:
                if plan.leading_digits.match(nsn):
                    return plan.is_valid(nsn)
            elif plan.is_valid(nsn):
                return True
        return False


def _compile(pattern: str | None, allow_empty: bool = False) -> re.Pattern | None:
    if pattern is None or (not pattern and not allow_empty):
        return None
    return re.compile(pattern)


def _desc(desc) -> _Desc | None:
    # _is_number_matching_desc(): a missing desc, or one without a pattern, matches nothing.
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


def _validity_pattern(general: _Desc | None, kinds: list[_Desc]) -> re.Pattern | None:
    """One regex that matches a national number (ASCII digits) when it matches the general
    desc and at least one of the kinds, each by _is_number_matching_desc(): a bulk send checks
    10,000 numbers, and one regex call in C costs a third of the Python and regex calls it
    replaces."""
    source = _validity_source(general, kinds, end=r"\Z")
    return re.compile(source) if source is not None else None


def _validity_source(general: _Desc | None, kinds: list[_Desc], *, end: str) -> str | None:
    """_validity_pattern()'s regex as text, the end of the number written `end`."""
    if general is None or not kinds:
        return None
    either = "|".join(_whole_number(kind, end) for kind in kinds)
    # Lookaheads test from the first digit without consuming; \d* then takes the number.
    return _whole_number(general, end) + "(?:" + either + ")" + r"\d*"


def _whole_number(desc: _Desc, end: str) -> str:
    """A lookahead for _is_number_matching_desc(): the length is one of the desc's (when it
    names any; -1 alone means none) and the pattern matches the whole number."""
    lengths, pattern = desc
    length = ""
    if lengths:
        sizes = [rf"\d{{{n}}}" for n in sorted(lengths) if n >= 0]
        length = "(?=(?:" + "|".join(sizes) + ")" + end + ")" if sizes else "(?!)"
    return length + "(?=(?:" + pattern.pattern + ")" + end + ")"


def valid_as_written(numbers: Iterable[object], region: str) -> frozenset[str]:
    """Those of `numbers` that normalize_phone(number, region) returns unchanged because they
    are already valid E.164 numbers of the region's calling code ("+255712345678" for TZ).

    A bulk send checks 10,000 numbers, nearly all written this way: one regular expression
    over all of them, in C, takes a third of the time of a normalize_phone() call each. Only
    what is certain is answered: a number with anything else in it (a space, another calling
    code, a national prefix after the code) is left out, for normalize_phone() to read.
    """
    pattern = _valid_lines_pattern(region)
    if pattern is None:
        return frozenset()
    # One number a line: a text with a line break of its own would split into lines.
    text = "\n".join(number for number in numbers if number.__class__ is str and "\n" not in number)
    if pattern.groups:  # a national prefix's pattern with groups: findall() would give those
        return frozenset(match.group() for match in pattern.finditer(text))
    return frozenset(pattern.findall(text))


@functools.cache
def _valid_lines_pattern(region: str) -> re.Pattern | None:
    """Lines that are "+", the region's calling code and a valid national number, by the
    rules of _international(): the calling code is not shared by several regions, and what
    follows it has no national prefix to strip (so national_number() keeps it whole)."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    plan, calling_code = _region(region)
    main = calling_code.main
    if calling_code.shared or main is None or main is not plan:
        return None
    source = _validity_source(main.general, main.kinds, end="$")
    if source is None:
        return None
    no_prefix = f"(?!{main.national_prefix.pattern})" if main.national_prefix else ""
    lengths = rf"(?=\d{{{_MIN_NSN},{_MAX_NSN}}}$)"
    # ASCII: \d must not match other scripts' digits, which only the slow path reads.
    return re.compile(
        rf"^\+{calling_code.code}{lengths}{no_prefix}{source}$", re.ASCII | re.MULTILINE
    )


@functools.cache
def _plan(code: int, region: str) -> _Plan | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    return _Plan(metadata) if metadata is not None else None


@functools.cache
def _calling_code(code: int) -> _CallingCode:
    return _CallingCode(code)


@functools.cache
def _region(region: str) -> tuple[_Plan, _CallingCode]:
    code = phonenumbers.country_code_for_region(region)
    return _plan(code, region), _calling_code(code)


def _normalize_phone_fast(raw: object, region: str) -> str | None:
    """_normalize_phone_slow()'s answer when `raw` is certainly a valid number, else None.

    Only text of ASCII digits, spaces and hyphens, with or without a leading "+", is read:
    the candidates of _candidates(), in the same order.
    """
    text = _text(raw)
    if len(text) > MAX_INPUT_LENGTH or not isinstance(region, str):
        return None
    compact = text.replace(" ", "").replace("-", "")
    if compact[:1] == "+":
        return _international(compact[1:])
    if not (compact.isascii() and compact.isdigit()):
        return None
    if text.startswith("00"):
        # Read as "+" first. When that is not valid the slow path also tries the digits in
        # the region; not worth repeating here.
        return _international(compact[2:])
    e164 = _national(compact, region)
    if e164 != _NOT_VALID:
        return e164
    return _international(compact)  # "255712345678": a country code without its plus


def _international(digits: str) -> str | None:
    """parse("+" + digits) and is_valid_number(): the E.164 form if valid."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) <= _MIN_NSN:
        return None  # _maybe_extract_country_code(): too short after the "+"
    # _extract_country_code(): no calling code is the start of another one.
    for size in (1, 2, 3):
        code = _CALLING_CODES.get(digits[:size])
        if code is not None:
            break
    else:
        return None
    calling_code = _calling_code(code)
    national = digits[size:]
    if len(national) < _MIN_NSN or calling_code.main is None:
        return None
    national = calling_code.main.national_number(national)
    if len(national) > _MAX_NSN or not calling_code.is_valid(national):
        return None
    return f"+{code}{national}"


def _national(digits: str, region: str) -> str | None:
    """parse(digits, region) and is_valid_number(): the E.164 form if valid, _NOT_VALID if
    parse() raises or the number is not valid, None if this cannot tell."""
    if region not in phonenumbers.SUPPORTED_REGIONS or len(digits) < 3:
        return None  # 2 digits with a space between are "not a number", without one are read
    plan, calling_code = _region(region)
    if plan.idd is not None and plan.idd.match(digits):
        return None  # dialled with the region's international prefix
    national = digits
    if digits.startswith(plan.country_code):
        # _maybe_extract_country_code(): the region's own country code without a "+" is taken
        # as one if the rest fits the region better, or if the whole is too long.
        rest = plan.strip_national_prefix(digits[len(plan.country_code) :])
        if (not plan.matches_general(digits) and plan.matches_general(rest)) or (
            plan.length_result(digits) == ValidationResult.TOO_LONG
        ):
            national = rest
            # parse() goes on with the metadata of the code's main region (US for CA).
            plan = calling_code.main
    if len(national) < _MIN_NSN:
        return _NOT_VALID
    national = plan.national_number(national)
    if len(national) > _MAX_NSN or not calling_code.is_valid(national):
        return _NOT_VALID
    return f"+{calling_code.code}{national}"
