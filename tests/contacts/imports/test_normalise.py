"""Cells to contacts: phone recovery, the fast phone reader, column aliases."""

from __future__ import annotations

import random

import pytest

from mifumo.contacts.imports import mapping as m
from mifumo.contacts.imports.normalise import PhoneReader, is_blank, phone_text
from mifumo.contacts.phones import InvalidPhone, normalize_phone


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (255712345678.0, "255712345678"),  # typed 255712345678 into a number cell
        (712345678.0, "712345678"),  # typed 0712345678: the zero is gone
        (712345678, "712345678"),
        ("2.55712345678E+11", "255712345678"),  # the same cell saved as CSV
        ("2,55712345678E+11", "255712345678"),  # ... by Excel in French
        ("7.12345678e8", "712345678"),
        ("255712345678.0", "255712345678"),  # a pandas export
        ("'+255712345678", "+255712345678"),  # our export's formula guard
        ("+255 712 345 678 ::: +255 754 321 098", "+255 712 345 678"),  # Google
    ],
)
def test_phone_cells_that_spreadsheets_turned_into_numbers_are_recovered(cell, text):
    assert phone_text(cell) == text


@pytest.mark.parametrize("cell", ["2.55712E+11", "2.5571234567E+11"])
def test_a_phone_rounded_by_the_spreadsheet_is_refused_not_guessed(cell):
    with pytest.raises(InvalidPhone, match="rounded this phone number"):
        phone_text(cell)


@pytest.mark.parametrize("cell", [7.5, True, -712345678.0])
def test_numbers_that_cannot_be_phones_are_refused(cell):
    with pytest.raises(InvalidPhone):
        PhoneReader("TZ")(cell)


def _outcome(function, raw):
    try:
        return function(raw)
    except InvalidPhone as error:
        return ("invalid", str(error))


@pytest.mark.parametrize("region", ["TZ", "KE", "UG", "RW", "NG", "ZA", "GB", "US", "IT", "BR"])
def test_the_fast_phone_reader_agrees_with_normalize_phone(region):
    """Shapes people type, for numbers of many lengths and prefixes: same answer, same error."""
    rng = random.Random(region)
    import phonenumbers

    code = str(phonenumbers.country_code_for_region(region))
    inputs = ["", "0", "+", "00", "+" + code, code, "0" + code, "++255712345678", "07123 4567 8"]
    for _ in range(400):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 13)))
        inputs += [
            digits,
            "0" + digits,
            "+" + code + digits,
            code + digits,
            "00" + code + digits,
            f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            "+" + code + " " + digits[:3] + "." + digits[3:],
            "+" + digits,
        ]
    # Real numbers of the region, in every shape.
    for kind in ("mobile", "fixed_line"):
        example = phonenumbers.example_number_for_type(
            region, getattr(phonenumbers.PhoneNumberType, kind.upper())
        )
        if example:
            national = str(example.national_number)
            inputs += [national, "0" + national, "+" + code + national, code + national]
    reader = PhoneReader(region)
    for raw in inputs:
        assert _outcome(reader, raw) == _outcome(lambda r: normalize_phone(r, region), raw), raw


def test_the_fast_path_is_used_for_a_tanzanian_tenant():
    reader = PhoneReader("TZ")
    assert reader.fast
    assert reader._national("0712345678") == "712345678"
    assert not PhoneReader("US").fast  # +1 is shared by many countries: the slow path decides


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Phone", m.PHONE),
        ("phone_number", m.PHONE),
        ("Phone Number", m.PHONE),
        ("Mobile Phone", m.PHONE),
        ("MSISDN", m.PHONE),
        ("Simu", m.PHONE),
        ("Namba ya simu", m.PHONE),
        ("Téléphone", m.PHONE),
        ("Numéro de téléphone", m.PHONE),
        ("phone_e164", m.PHONE),
        ("Phone 1 - Value", m.PHONE),
        ("Phone 1 - Label", m.PHONE_LABEL),
        ("Name", m.NAME),
        ("Full Name", m.NAME),
        ("full_name", m.NAME),
        ("Jina", m.NAME),
        ("Jina Kamili", m.NAME),
        ("First Name", m.FIRST_NAME),
        ("Given Name", m.FIRST_NAME),
        ("Prénom", m.FIRST_NAME),
        ("Jina la Ukoo", m.LAST_NAME),
        ("E-mail Address", m.EMAIL),
        ("Barua pepe", m.EMAIL),
        ("Courriel", m.EMAIL),
        ("Tags", m.TAGS),
        ("Labels", m.TAGS),
        ("Categories", m.TAGS),
        ("Groups", m.GROUPS),
        ("Vikundi", m.GROUPS),
        ("Class", m.CLASS),
        ("Darasa", m.CLASS),
        ("Classe", m.CLASS),
        ("Role", m.ROLE),
        ("Jukumu", m.ROLE),
        ("Guardian Phone", m.GUARDIAN_PHONE),
        ("Parent Phone Number", m.GUARDIAN_PHONE),
        ("Simu ya Mzazi", m.GUARDIAN_PHONE),
        ("Téléphone du parent", m.GUARDIAN_PHONE),
        ("Jina la Mzazi", m.GUARDIAN_NAME),
        ("Admission No", m.ATTRIBUTE),
        ("", m.IGNORE),
    ],
)
def test_header_aliases_in_english_swahili_and_french(header, field):
    assert m.guess_field(header) == field


def test_nom_is_the_surname_beside_prenom_and_the_name_alone():
    assert m.guess_fields(["Nom", "Prénom", "Téléphone"]) == [m.LAST_NAME, m.FIRST_NAME, m.PHONE]
    assert m.guess_fields(["Nom", "Téléphone"]) == [m.NAME, m.PHONE]


def test_phone_columns_are_tried_mobile_first():
    mapping = m.detect_mapping(["Business Phone", "Home Phone", "Phone", "Mobile Phone"])
    assert [mapping.columns[i] for i in mapping.phone_columns] == [
        "Mobile Phone",
        "Phone",
        "Home Phone",
        "Business Phone",
    ]


def test_column_overrides_replace_the_guesses_and_unknown_ones_are_named():
    mapping = m.detect_mapping(["Jina", "Namba"])
    assert m.apply_overrides(mapping, {"Namba": "phone"}).fields == [m.NAME, m.PHONE]
    with pytest.raises(ValueError, match=r"No such columns: \['Simu'\]"):
        m.apply_overrides(mapping, {"Simu": "phone"})


def test_a_row_is_blank_only_when_every_cell_is_empty_or_spaces():
    assert is_blank([]) and is_blank([None, "", "  \t"])
    assert not is_blank([None, "", "x"])
    # A number or a boolean is a value, even a zero or false.
    assert not is_blank(["", 0]) and not is_blank([0.0]) and not is_blank([None, False])
