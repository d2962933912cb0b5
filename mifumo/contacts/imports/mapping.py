"""Which column holds what: header aliases in English, Swahili and French.

Spreadsheets come with headers such as "Phone Number", "Simu", "Téléphone", "Mobile Phone"
(Outlook), "Phone 1 - Value" (Google Contacts) or "Jina la Mzazi". Each header is reduced to
a key (lower case, accents and punctuation dropped) and looked up here. Columns nobody
recognises become attributes under their header, so "Admission No" or "House" can be used in
message templates. The client may override any column in the preview step.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mifumo.contacts.export import FORMULA_TRIGGERS
from mifumo.contacts.fields import MAX_ATTRIBUTE_KEY_LENGTH

NAME, FIRST_NAME, MIDDLE_NAME, LAST_NAME = "name", "first_name", "middle_name", "last_name"
PHONE, EMAIL, TAGS, GROUPS = "phone", "email", "tags", "groups"
ROLE, CLASS, GUARDIAN_PHONE, GUARDIAN_NAME = "role", "class", "guardian_phone", "guardian_name"
IS_ACTIVE, OPTED_OUT = "is_active", "opted_out"
ATTRIBUTE, IGNORE = "attribute", "ignore"
PHONE_LABEL = "phone_label"  # Google's "Phone 1 - Label": says which number is the mobile

FIELDS = [
    NAME, FIRST_NAME, MIDDLE_NAME, LAST_NAME, PHONE, EMAIL, TAGS, GROUPS, ROLE, CLASS,
    GUARDIAN_PHONE, GUARDIAN_NAME, IS_ACTIVE, OPTED_OUT, PHONE_LABEL, ATTRIBUTE, IGNORE,
]  # fmt: skip

# Phone columns, best first: a mobile column beats a general one, which beats home/work.
_MOBILE, _GENERAL, _OTHER = 0, 1, 2

_ALIASES: dict[str, Iterable[str]] = {
    NAME: [
        "name", "names", "full name", "fullname", "contact name", "display name",
        "jina", "majina", "jina kamili", "majina kamili", "jina la mwanafunzi",
        "nom complet", "nom et prenom", "nom et prenoms", "nom prenom", "nom",
    ],
    FIRST_NAME: [
        "first name", "firstname", "given name", "forename", "jina la kwanza", "prenom",
        "prenoms",
    ],
    MIDDLE_NAME: ["middle name", "additional name", "jina la kati", "deuxieme prenom"],
    LAST_NAME: [
        "last name", "lastname", "surname", "family name", "jina la ukoo", "jina la mwisho",
        "nom de famille",
    ],
    EMAIL: [
        "email", "e mail", "email address", "e mail address", "mail", "barua pepe",
        "anwani ya barua pepe", "courriel", "adresse email", "adresse e mail",
        "adresse electronique", "e mail 1 value", "e mail 2 value", "e mail 2 address",
        "e mail 3 address",
    ],
    TAGS: [
        "tags", "tag", "labels", "label", "categories", "category", "group membership",
        "lebo", "alama", "etiquettes", "etiquette", "categorie", "categories",
    ],
    GROUPS: ["groups", "group", "kikundi", "vikundi", "kundi", "groupe", "groupes"],
    ROLE: ["role", "roles", "jukumu", "nafasi", "cheo", "aina", "fonction"],
    CLASS: [
        "class", "class name", "classroom", "form", "grade", "darasa", "kidato", "classe",
        "niveau",
    ],
    GUARDIAN_PHONE: [
        "guardian phone", "guardian phone number", "guardian mobile", "guardian contact",
        "parent phone", "parent phone number", "parent mobile", "parents phone",
        "parent contact", "simu ya mzazi", "namba ya mzazi", "namba ya simu ya mzazi",
        "simu ya mlezi", "telephone du parent", "telephone parent", "telephone du tuteur",
        "contact du parent",
    ],
    GUARDIAN_NAME: [
        "guardian", "guardian name", "parent", "parent name", "parents name", "mzazi",
        "mlezi", "jina la mzazi", "jina la mlezi", "nom du parent", "tuteur", "nom du tuteur",
    ],
    IS_ACTIVE: ["is active", "active", "enabled", "hai", "actif"],
    OPTED_OUT: ["opted out", "opt out", "unsubscribed", "amejiondoa", "desabonne"],
    IGNORE: [
        # Outlook writes these for every contact; as attributes they would only be noise.
        "e mail type", "e mail display name", "e mail 2 type", "e mail 2 display name",
        "e mail 3 type", "e mail 3 display name", "sensitivity", "priority", "private",
        "initials", "e mail 1 label", "e mail 1 type", "e mail 2 label", "e mail 3 label",
        "e mail 3 value", "photo",
    ],
}  # fmt: skip
_PHONE_ALIASES = {
    _MOBILE: [
        "mobile", "mobile phone", "mobile number", "mobile no", "cell", "cell phone",
        "cellphone", "msisdn", "simu ya mkononi", "portable", "telephone portable",
        "numero de portable", "whatsapp", "whatsapp number",
    ],
    _GENERAL: [
        "phone", "phone number", "phonenumber", "phone no", "phone e164", "telephone",
        "telephone number", "tel", "simu", "namba ya simu", "nambari ya simu",
        "numero", "numero de telephone", "primary phone", "contact number", "phone 1 value",
    ],
    _OTHER: [
        "home phone", "business phone", "work phone", "other phone", "home phone 2",
        "business phone 2", "car phone", "company main phone", "phone 2 value",
        "phone 3 value", "phone 4 value", "phone 5 value",
    ],
}  # fmt: skip

_LOOKUP: dict[str, str] = {}
for _field, _aliases in _ALIASES.items():
    _LOOKUP.update(dict.fromkeys(_aliases, _field))
# Within a tier, in the order listed: Outlook's Home Phone is likelier a mobile than its
# Business Phone.
_PHONE_RANK: dict[str, int] = {}
for _tier, _aliases in _PHONE_ALIASES.items():
    _PHONE_RANK.update({alias: _tier * 100 + n for n, alias in enumerate(_aliases)})

_GOOGLE_PHONE = re.compile(r"^phone (\d+) (value|label|type)$")
_NON_WORD = re.compile(r"[^\w]+")


def header_key(text: object) -> str:
    """'Téléphone', 'E-mail Address', 'phone_number' -> 'telephone', 'e mail address', ..."""
    decomposed = unicodedata.normalize("NFKD", str(text or ""))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NON_WORD.sub(" ", plain.replace("_", " ")).split()).lower()


def attribute_key(header: str) -> str:
    """The attribute a column is kept under: its header (an export's "attributes.name" is
    "name"), at most 64 characters."""
    key = " ".join(str(header).split()).removeprefix("attributes.")
    return key[:MAX_ATTRIBUTE_KEY_LENGTH]


def guess_field(header: object) -> str:
    key = header_key(header)
    if not key:
        return IGNORE
    if key in _PHONE_RANK:
        return PHONE
    google = _GOOGLE_PHONE.match(key)
    if google:
        return PHONE if google.group(2) == "value" else PHONE_LABEL
    return _LOOKUP.get(key, ATTRIBUTE)


def guess_fields(header: Sequence[object]) -> list[str]:
    fields = [guess_field(cell) for cell in header]
    keys = [header_key(cell) for cell in header]
    # French forms say "Nom" (surname) and "Prénom" (given name) side by side.
    if FIRST_NAME in fields:
        for index, key in enumerate(keys):
            if key == "nom" and fields[index] == NAME:
                fields[index] = LAST_NAME
    # Two "Name" columns: the first one is the name, the rest are attributes.
    for unique in (NAME, IS_ACTIVE, OPTED_OUT, ROLE, CLASS, GUARDIAN_PHONE, GUARDIAN_NAME):
        positions = [i for i, field in enumerate(fields) if field == unique]
        for index in positions[1:]:
            fields[index] = ATTRIBUTE
    return fields


@dataclass(frozen=True)
class Mapping:
    """One field per column, plus what follows from the headers."""

    columns: list[str]
    fields: list[str]

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.fields):
            raise ValueError("one field per column")

    @property
    def phone_columns(self) -> list[int]:
        """Columns mapped to the phone, best first (mobile, then general, then others)."""
        positions = [i for i, field in enumerate(self.fields) if field == PHONE]
        return sorted(positions, key=lambda i: (_phone_rank(self.columns[i]), i))

    @property
    def phone_labels(self) -> dict[int, int]:
        """Google Contacts pairs "Phone 1 - Label" with "Phone 1 - Value"."""
        labels, values = {}, {}
        for index, column in enumerate(self.columns):
            match = _GOOGLE_PHONE.match(header_key(column))
            if match and self.fields[index] == PHONE_LABEL:
                labels[match.group(1)] = index
            elif match and self.fields[index] == PHONE:
                values[match.group(1)] = index
        return {values[n]: labels[n] for n in values if n in labels}

    def has(self, field: str) -> bool:
        return field in self.fields

    def as_list(self) -> list[dict[str, str]]:
        return [{"column": c, "field": f} for c, f in zip(self.columns, self.fields, strict=True)]


def _phone_rank(column: str) -> int:
    key = header_key(column)
    google = _GOOGLE_PHONE.match(key)
    if google:
        return _GENERAL * 100 if google.group(1) == "1" else _OTHER * 100 + int(google.group(1))
    return _PHONE_RANK.get(key, _GENERAL * 100)


def detect_mapping(header: Sequence[object]) -> Mapping:
    columns = [_column_name(cell, index) for index, cell in enumerate(header)]
    return Mapping(columns=columns, fields=guess_fields(header))


def _column_name(cell: object, index: int) -> str:
    text = " ".join(str(cell if cell is not None else "").split())
    if text[:1] == "'" and text[1:2] in FORMULA_TRIGGERS and text[1:2]:
        text = text[1:]  # our export guards headers against formulas too
    return text or f"Column {_letters(index)}"


def _letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: how spreadsheet programs name columns."""
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(65 + remainder) + name
    return name


def apply_overrides(mapping: Mapping, overrides: dict[str, str]) -> Mapping:
    """The client's choices, keyed by column name, replace the guesses. Raises ValueError."""
    unknown = sorted(set(overrides) - set(mapping.columns))
    if unknown:
        raise ValueError(f"No such columns: {unknown}. The columns are: {mapping.columns}.")
    bad = sorted({field for field in overrides.values() if field not in FIELDS})
    if bad:
        raise ValueError(f"Unknown fields {bad}; use one of {FIELDS}.")
    pairs = zip(mapping.columns, mapping.fields, strict=True)
    fields = [overrides.get(column, field) for column, field in pairs]
    return Mapping(columns=mapping.columns, fields=fields)


def looks_like_header(cells: Sequence[object]) -> bool:
    """A row that names a phone column is the header (title rows above it are skipped)."""
    return any(guess_field(cell) == PHONE for cell in cells if isinstance(cell, str))
