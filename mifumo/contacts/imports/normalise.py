"""One row of cells -> a clean contact, or the reason it cannot be one.

Phones: spreadsheet programs store a phone typed without an apostrophe as a number, so a cell
may hold 255712345678.0 or 712345678.0 (the leading zero gone), and a CSV saved from such a
sheet may say "2.55712345678E+11". Those are turned back into digits before the number is
read in the tenant's country. Exports of ours prefix risky cells with an apostrophe (see
export.py); it is removed here, so an export imports back unchanged.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from mifumo.contacts.export import FORMULA_TRIGGERS
from mifumo.contacts.fields import clean_attributes, clean_tags
from mifumo.contacts.imports import mapping as m
from mifumo.contacts.models import SYSTEM_GROUP_NAMES
from mifumo.contacts.phones import MAX_INPUT_LENGTH, InvalidPhone, normalize_phone
from mifumo.memory import forget_tracebacks

MAX_NAME = 200
MAX_EMAIL = 254
MAX_GROUP_NAME = 100

ROLES = {
    "student": ("student", "students", "pupil", "learner", "mwanafunzi", "wanafunzi", "eleve",
                "élève", "etudiant", "étudiant"),
    "parent": ("parent", "parents", "guardian", "mzazi", "wazazi", "mlezi", "walezi", "tuteur"),
    "teacher": ("teacher", "teachers", "mwalimu", "walimu", "enseignant", "enseignante",
                "professeur", "prof"),
    "staff": ("staff", "employee", "worker", "mfanyakazi", "wafanyakazi", "mtumishi",
              "watumishi", "personnel", "employe", "employé"),
}  # fmt: skip
_ROLE_LOOKUP = {alias: role for role, aliases in ROLES.items() for alias in aliases}
ROLE_GROUPS = dict(zip(("student", "parent", "teacher", "staff"), SYSTEM_GROUP_NAMES, strict=True))

_TRUE = {"true", "yes", "y", "1", "ndiyo", "ndio", "oui", "vrai", "active", "x"}
_FALSE = {"false", "no", "n", "0", "hapana", "non", "faux", "inactive", ""}
_SCIENTIFIC = re.compile(r"^(\d)(?:[.,](\d+))?[eE]\+?(\d{1,2})$")
_WHOLE_WITH_ZEROS = re.compile(r"^(\d+)\.0+$")
_LIST_SEPARATORS = re.compile(r"\s*(?::::|[,;])\s*")
# Strictly narrower than Django's validate_email: what it accepts, Django accepts too; the
# rest goes through Django's validator.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}"
)
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()\u00a0\t")


@dataclass(slots=True)
class ContactRow:
    row: int
    phone: str
    name: str = ""
    email: str = ""
    tags: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    is_active: bool | None = None  # None: the file does not say
    opted_out: bool = False
    role: str = ""
    class_name: str = ""
    guardian_phone: str = ""
    guardian_name: str = ""


@dataclass(slots=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def as_text(self) -> str:
        return f"Row {self.row}: {self.reason}"


class RowProblem(ValueError):
    def __init__(self, column: str, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.column, self.value, self.reason = column, value, reason


# --- cells --------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a spurious ".0", dates in ISO form, our export's
    formula-guard apostrophe removed."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] == "'" and text[1:2] and text[1:2] in FORMULA_TRIGGERS:
            return text[1:]
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    return str(value).strip()


def cell_value(value: Any) -> Any:
    """A cell kept as an attribute: numbers and true/false stay typed, the rest is text."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return cell_text(value)


def phone_text(value: Any) -> str:
    """Digits as typed, with numbers that a spreadsheet made of them turned back."""
    if isinstance(value, bool):
        raise InvalidPhone(f"Invalid phone number format: {value!r} is not a phone number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and 0 < value < 1e16:
            return str(int(value))
        raise InvalidPhone(f"Invalid phone number format: {value!r} is not a phone number")
    text = cell_text(value)
    if ":::" in text:  # Google Contacts puts several numbers of one label in one cell
        text = text.split(":::", 1)[0].strip()
    scientific = _SCIENTIFIC.match(text) if "e" in text or "E" in text else None
    if scientific:
        lead, decimals, exponent = (
            scientific.group(1),
            scientific.group(2) or "",
            scientific.group(3),
        )
        if len(decimals) < int(exponent):
            raise InvalidPhone(
                f"The spreadsheet rounded this phone number to {text}, so its last digits are "
                "lost. Format the column as text and export the file again."
            )
        if len(decimals) > int(exponent):
            raise InvalidPhone(f"Invalid phone number format: {text!r} is not a phone number")
        return lead + decimals
    whole = _WHOLE_WITH_ZEROS.match(text) if "." in text else None
    return whole.group(1) if whole else text


class PhoneReader:
    """normalize_phone() with a fast path for the tenant's own numbers.

    phonenumbers.parse() costs about 20 µs a number: 1 s of a 50,000-row import. Numbers in
    the tenant's country in the usual shapes (+255712345678, 0712345678, 712345678,
    255712345678) are checked here against the same metadata patterns is_valid_number() uses;
    anything else, or anything ambiguous, goes through normalize_phone(). The two agree on
    every input (tests/contacts/imports/test_normalise.py compares them).
    """

    # Any match makes a number valid, so the likeliest kinds come first.
    _DESCS = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip",
              "personal_number", "pager", "uan", "voicemail")  # fmt: skip

    _KNOWN_LIMIT = 20_000  # texts remembered at a time: about 3 MB

    def __init__(self, region: str) -> None:
        self.region = region
        self._known: dict[str, str] = {}
        self.code = str(phonenumbers.country_code_for_region(region) or "")
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        self.fast = bool(
            metadata
            and self.code
            and phonenumbers.region_codes_for_country_code(int(self.code)) == (region,)
            and metadata.national_prefix_transform_rule is None
            and metadata.national_prefix_for_parsing in (None, metadata.national_prefix)
        )
        if self.fast:
            self.prefix = metadata.national_prefix or ""
            self.general = self._pattern(metadata.general_desc)
            self.kinds = [
                p for name in self._DESCS if (p := self._pattern(getattr(metadata, name)))
            ]
            self._by_length: dict[int, tuple] = {}

    @staticmethod
    def _pattern(desc):
        if desc is None or not desc.national_number_pattern:
            return None
        return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)

    def _valid(self, national: str) -> bool:
        if not national or national[0] == "0" or not self.general:
            return False
        patterns = self._by_length.get(len(national))
        if patterns is None:
            patterns = self._by_length[len(national)] = self._for_length(len(national))
        general, kinds = patterns
        return (
            general is not None
            and kinds is not None
            and general.fullmatch(national) is not None
            and kinds.fullmatch(national) is not None
        )

    def _for_length(self, length: int):
        """(the general pattern, one pattern for all the kinds) for numbers of this length, as
        is_valid_number() checks them: a possible length, the general pattern, then any kind
        whose lengths allow it. Compiled once per length; None where nothing applies."""
        lengths, general = self.general
        if lengths and length not in lengths:
            return None, None
        kinds = [regex.pattern for kind_lengths, regex in self.kinds
                 if not kind_lengths or length in kind_lengths]  # fmt: skip
        if not kinds:
            return general, None
        return general, re.compile("|".join(f"(?:{pattern})" for pattern in kinds))

    def _national(self, text: str) -> str | None:
        digits = text.translate(_PHONE_PUNCTUATION)
        if digits.startswith("+"):
            rest = digits[1:]
            if rest.isdigit() and rest.startswith(self.code):
                return rest[len(self.code) :]
            return None
        if not digits.isdigit():
            return None
        if self.prefix and digits.startswith(self.prefix):
            return digits[len(self.prefix) :]
        if digits.startswith(self.code):
            as_is, without_code = digits, digits[len(self.code) :]
            valid_as_is, valid_without = self._valid(as_is), self._valid(without_code)
            if valid_as_is == valid_without:
                return None  # both or neither: let phonenumbers decide
            return as_is if valid_as_is else without_code
        return digits

    def __call__(self, raw: Any) -> str:
        # A file repeats numbers (a parent of three pupils): each text is read once. Only
        # numbers that are valid are remembered; an invalid one raises again, with its reason.
        if type(raw) is str:
            known = self._known.get(raw)
            if known is not None:
                return known
        text = phone_text(raw)
        phone = None
        if self.fast and len(text) <= MAX_INPUT_LENGTH:
            national = self._national(text.removeprefix("'").strip())
            if national is not None and self._valid(national):
                phone = f"+{self.code}{national}"
        if phone is None:
            phone = normalize_phone(text, self.region)
        if type(raw) is str:
            if len(self._known) >= self._KNOWN_LIMIT:
                self._known.clear()  # bounded: memory stays flat whatever the file's length
            self._known[raw] = phone
        return phone


def parse_bool(text: str, column: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowProblem(column, text, f"{column} must be true or false (yes/no, 1/0), not {text!r}")


def check_email(text: str, column: str) -> str:
    email = text.split(":::", 1)[0].strip() if ":::" in text else text
    if not email:
        return ""
    if len(email) > MAX_EMAIL:
        raise RowProblem(column, text, f"Email is longer than {MAX_EMAIL} characters")
    if _PLAIN_EMAIL.fullmatch(email):
        return email
    try:
        validate_email(email)
    except ValidationError as error:
        forget_tracebacks(error)  # it refers to itself: see there
        raise RowProblem(column, text, f"Invalid email address: {email!r}") from None
    return email


def split_list(text: str) -> list[str]:
    """ "vip, wazazi", "a; b", Google's "Family ::: * myContacts" -> items; Google's own
    system labels ("* myContacts", "* starred") are dropped."""
    return [item for item in _LIST_SEPARATORS.split(text) if item and not item.startswith("* ")]


# --- rows ---------------------------------------------------------------------------------------


class RowNormaliser:
    """Turns cells into a ContactRow (or raises RowProblem), for one mapping and region.

    Runs once per row of every import, so work that depends only on the mapping is done
    here once, and columns the file does not have cost nothing."""

    _MEMO_LIMIT = 10_000  # distinct tag/group cells remembered: they repeat row after row

    def __init__(self, mapping: m.Mapping, region: str) -> None:
        self.mapping = mapping
        self.columns = mapping.columns
        self.read_phone = PhoneReader(region)
        fields = mapping.fields
        self.phone_columns = mapping.phone_columns
        self.phone_labels = mapping.phone_labels
        self.by_field = {
            name: [i for i, f in enumerate(fields) if f == name] for name in set(fields)
        }
        self.attribute_columns = [
            (i, m.attribute_key(self.columns[i])) for i in self.by_field.get(m.ATTRIBUTE, [])
        ]
        has = self.by_field.__contains__
        self.has_split_name = any(has(f) for f in (m.FIRST_NAME, m.MIDDLE_NAME, m.LAST_NAME))
        self.has_lists = has(m.TAGS) or has(m.GROUPS)
        self.has_flags = has(m.IS_ACTIVE) or has(m.OPTED_OUT)
        self.has_school = any(has(f) for f in (m.ROLE, m.CLASS, m.GUARDIAN_PHONE, m.GUARDIAN_NAME))
        self._tags_memo: dict[str, list[str]] = {}
        self._groups_memo: dict[str, list[str]] = {}
        # The usual file has one column of each: those are read directly (None: use _first).
        self._name_at = self._only(m.NAME) if not self.has_split_name else None
        self._email_at = self._only(m.EMAIL)

    def _only(self, name: str) -> int | None:
        indexes = self.by_field.get(name, [])
        return indexes[0] if len(indexes) == 1 else None

    def _first(self, cells: list[Any], name: str) -> tuple[str, str]:
        """(column, text) of the first non-empty cell mapped to `name`."""
        for index in self.by_field.get(name, ()):
            if index < len(cells):
                text = cell_text(cells[index])
                if text:
                    return self.columns[index], text
        return "", ""

    def _all(self, cells: list[Any], name: str) -> list[tuple[str, str]]:
        found = []
        for index in self.by_field.get(name, ()):
            if index < len(cells):
                text = cell_text(cells[index])
                if text:
                    found.append((self.columns[index], text))
        return found

    def _phone_cell(self, cells: list[Any]) -> tuple[str, Any]:
        """The row's phone: a column labelled mobile (Google), else the best non-empty one."""
        columns = self.phone_columns
        if len(columns) == 1:  # the usual case: one phone column
            index = columns[0]
            return self.columns[index], cells[index] if index < len(cells) else ""
        candidates = [i for i in columns if i < len(cells) and cell_text(cells[i]) != ""]
        for index in candidates:
            label = self.phone_labels.get(index)
            if label is not None and label < len(cells) and _is_mobile_label(cells[label]):
                return self.columns[index], cells[index]
        if candidates:
            return self.columns[candidates[0]], cells[candidates[0]]
        return (self.columns[columns[0]] if columns else "phone"), ""

    def __call__(self, number: int, cells: list[Any]) -> ContactRow:
        phone_column, phone_cell = self._phone_cell(cells)
        if _is_empty(phone_cell):
            raise RowProblem(phone_column, "", "Phone number is missing")
        try:
            phone = self.read_phone(phone_cell)
        except InvalidPhone as error:
            raise RowProblem(phone_column, cell_text(phone_cell), str(error)) from None
        contact = ContactRow(row=number, phone=phone)
        at = self._name_at
        if at is None:
            contact.name = self._name(cells)
        elif at < len(cells):
            name = _text(cells[at])
            if name:
                contact.name = self._clean_name(name, self.columns[at])
        at = self._email_at
        if at is None:
            column, text = self._first(cells, m.EMAIL)
        else:
            column, text = self.columns[at], _text(cells[at]) if at < len(cells) else ""
        if text:
            contact.email = check_email(text, column)
        if self.has_lists:
            self._lists(cells, contact)
        if self.has_flags:
            self._flags(cells, contact)
        if self.has_school:
            self._school(cells, contact)
        if self.attribute_columns:
            self._attributes(cells, contact)
        return contact

    def _name(self, cells: list[Any]) -> str:
        column, name = self._first(cells, m.NAME)
        if not name and self.has_split_name:
            parts = [self._first(cells, f)[1] for f in (m.FIRST_NAME, m.MIDDLE_NAME, m.LAST_NAME)]
            name, column = " ".join(p for p in parts if p), "name"
        if not name:
            return ""
        return self._clean_name(name, column)

    @staticmethod
    def _clean_name(name: str, column: str) -> str:
        name = " ".join(name.split())
        if len(name) > MAX_NAME:
            raise RowProblem(column, name[:50], f"Name is longer than {MAX_NAME} characters")
        return name

    def _memo(self, memo: dict[str, list[str]], text: str, parse) -> list[str]:
        found = memo.get(text)
        if found is None:
            found = parse(text)
            if len(memo) < self._MEMO_LIMIT:
                memo[text] = found
        return found

    def _lists(self, cells: list[Any], contact: ContactRow) -> None:
        tags: list[str] = []
        for column, text in self._all(cells, m.TAGS):
            try:
                tags.extend(self._memo(self._tags_memo, text, _parse_tags))
            except ValueError as error:
                raise RowProblem(column, text[:200], str(error)) from None
        if tags:
            try:
                contact.tags = clean_tags(tags) if len(self.by_field[m.TAGS]) > 1 else tags
            except ValueError as error:
                raise RowProblem("tags", ", ".join(tags)[:200], str(error)) from None
        groups: list[str] = []
        for column, text in self._all(cells, m.GROUPS):
            try:
                groups.extend(self._memo(self._groups_memo, text, _parse_groups))
            except ValueError as error:
                raise RowProblem(column, text[:200], str(error)) from None
        contact.groups = groups

    def _flags(self, cells: list[Any], contact: ContactRow) -> None:
        column, text = self._first(cells, m.IS_ACTIVE)
        if text:
            contact.is_active = parse_bool(text, column)
        column, text = self._first(cells, m.OPTED_OUT)
        if text:
            contact.opted_out = parse_bool(text, column)

    def _school(self, cells: list[Any], contact: ContactRow) -> None:
        column, text = self._first(cells, m.ROLE)
        if text:
            role = _ROLE_LOOKUP.get(m.header_key(text)) or _ROLE_LOOKUP.get(text.lower())
            if role is None:
                raise RowProblem(
                    column, text, f"Role must be student, parent, teacher or staff, not {text!r}"
                )
            contact.role = role
        column, text = self._first(cells, m.CLASS)
        if len(text) > MAX_GROUP_NAME:
            raise RowProblem(column, text[:50], "A class name is over 100 characters")
        contact.class_name = " ".join(text.split())
        for index in self.by_field.get(m.GUARDIAN_PHONE, ()):
            if index < len(cells) and cell_text(cells[index]):
                try:
                    contact.guardian_phone = self.read_phone(cells[index])
                except InvalidPhone as error:
                    raise RowProblem(
                        self.columns[index], cell_text(cells[index]), f"Guardian: {error}"
                    ) from None
                if contact.guardian_phone == contact.phone:
                    raise RowProblem(
                        self.columns[index],
                        cell_text(cells[index]),
                        "The guardian's phone number is the contact's own",
                    )
                break
        guardian_name = " ".join(self._first(cells, m.GUARDIAN_NAME)[1].split())
        contact.guardian_name = guardian_name[:MAX_NAME]

    def _attributes(self, cells: list[Any], contact: ContactRow) -> None:
        attributes = {}
        for index, key in self.attribute_columns:
            if index < len(cells):
                value = cell_value(cells[index])
                if value != "":
                    attributes[key] = value
        if attributes:
            try:
                contact.attributes = clean_attributes(attributes)
            except ValueError as error:
                raise RowProblem("attributes", "", str(error)) from None


def _is_mobile_label(cell: Any) -> bool:
    return cell_text(cell).lower().lstrip("* ") in ("mobile", "cell")


def _parse_tags(text: str) -> list[str]:
    return clean_tags(split_list(text))


def _parse_groups(text: str) -> list[str]:
    groups = []
    for name in split_list(text):
        if len(name) > MAX_GROUP_NAME:
            raise ValueError(f"A group name is over {MAX_GROUP_NAME} characters: {name[:30]!r}…")
        groups.append(" ".join(name.split()))
    return groups


def _text(value: Any) -> str:
    """cell_text() for the usual cell, text without a leading apostrophe, in fewer steps."""
    if type(value) is str:
        text = value.strip()
        if text[:1] != "'":
            return text
    return cell_text(value)


def _is_empty(value: Any) -> bool:
    """cell_text(value) == "" without building the text."""
    if value is None:
        return True
    if type(value) is str:
        return not value.strip()
    return cell_text(value) == ""


def is_blank(cells: list[Any]) -> bool:
    # A loop that stops at the first filled cell (usually the first): called for every row.
    for cell in cells:
        if cell is None:
            continue
        if not isinstance(cell, str) or cell.strip():
            return False
    return True
