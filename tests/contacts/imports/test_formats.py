"""Every kind of file people have, read by content, rows numbered as their program shows."""

from __future__ import annotations

import codecs
import json

import pytest

from mifumo.contacts.imports.services import contacts_bulk_import
from mifumo.contacts.models import Contact
from tests.contacts.imports import builders
from tests.contacts.imports.conftest import phones_of

pytestmark = pytest.mark.django_db


def contact(tenant, phone: str) -> Contact:
    return Contact.objects.prefetch_related("tags", "groups").get(tenant=tenant, phone_e164=phone)


def test_a_google_contacts_csv_keeps_the_mobile_and_google_labels_become_tags(tenant_a):
    result = contacts_bulk_import(tenant=tenant_a, data=builders.google_csv())
    assert (result.imported, result.total_processed) == (2, 3)
    assert result.errors == ["Row 4: Phone number is missing"]
    amina = contact(tenant_a, "+255712345678")  # Phone 2 is labelled Mobile: it wins
    assert (amina.name, amina.email) == ("Amina Juma", "amina@example.org")
    assert [t.name for t in amina.tags.all()] == ["Wazazi"]  # "* myContacts" dropped
    # Unmapped columns with a value are attributes; empty ones are not stored.
    assert amina.attributes == {
        "Organization Name": "Shule ya Upendo",
        "Organization Title": "Mwalimu",
        "Address 1 - Label": "Home",
        "Address 1 - Formatted": "Mtaa wa Uhuru 12\nDar es Salaam",
    }
    baraka = contact(tenant_a, "+255754321098")  # the first of "0754 321 098 ::: 0765 111 222"
    assert baraka.name == "Baraka Mushi"
    assert baraka.attributes == {"Nickname": "Bk", "Birthday": "1990-04-01", "Notes": "Dereva"}
    assert list(baraka.tags.all()) == []


def test_an_outlook_csv_in_windows_1252_prefers_the_mobile_phone_column(tenant_a):
    result = contacts_bulk_import(tenant=tenant_a, data=builders.outlook_csv())
    assert (result.imported, result.errors) == (2, [])
    zoe = contact(tenant_a, "+255784000111")  # Mobile Phone beats Business Phone
    assert (zoe.name, zoe.email) == ("Zoé Ndayisenga", "zoe@cafe.example")
    assert sorted(t.name for t in zoe.tags.all()) == ["Clients", "VIP"]
    assert zoe.attributes["Company"] == "Café Kigoma Ltd"
    assert zoe.attributes["Notes"] == "Préfère le français"
    assert "Sensitivity" not in zoe.attributes and "E-mail Type" not in zoe.attributes
    hamisi = contact(tenant_a, "+255655000222")  # no mobile: Home Phone beats Business Phone
    assert hamisi.name == "Hamisi Kombo"
    # The phone columns not chosen are not kept as attributes.
    assert hamisi.attributes == {"Title": "Mr."}


def test_an_android_vcard_21_with_quoted_printable_names(tenant_a):
    data = builders.ANDROID_VCF_21.encode()
    result = contacts_bulk_import(tenant=tenant_a, data=data)
    assert (result.imported, result.errors) == (2, [])
    elise = contact(tenant_a, "+255713456789")  # TEL;CELL, not TEL;HOME
    assert (elise.name, elise.email) == ("Élisé Mwakyusa wa Mbeya Mjini", "elise@example.org")
    peter = contact(tenant_a, "+254202222333")  # N only; one TEL, a Kenyan number
    assert peter.name == "Peter Otieno"


def test_an_iphone_vcard_30(tenant_a):
    result = contacts_bulk_import(tenant=tenant_a, data=builders.IPHONE_VCF_30.encode())
    assert (result.imported, result.errors) == (1, [])
    neema = contact(tenant_a, "+255767890123")  # TYPE=IPHONE;TYPE=CELL
    assert (neema.name, neema.email) == ("Neema Mrema", "neema@example.org")
    assert sorted(t.name for t in neema.tags.all()) == ["Familia", "Kanisa"]
    assert neema.attributes == {
        "Organization": "Hospitali ya Mkoa, Moshi",
        "Note": "Anapenda SMS asubuhi\nsi jioni",
    }


def test_a_vcard_40_with_tel_uris(tenant_a):
    result = contacts_bulk_import(tenant=tenant_a, data=builders.VCF_40.encode())
    assert (result.imported, result.errors) == (2, [])
    assert contact(tenant_a, "+255745000111").name == "Rehema Kassim"  # cell, not home
    assert contact(tenant_a, "+255689222333").name == "Salim Ally"  # FN missing: from N


def test_a_vcard_card_without_a_phone_is_reported_by_its_position(tenant_a):
    cards = builders.VCF_40 + "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Hana Simu\r\nEND:VCARD\r\n"
    result = contacts_bulk_import(tenant=tenant_a, data=cards.encode())
    assert result.errors == ["Row 3: Phone number is missing"]


def test_xlsx_written_by_xlsxwriter_recovers_phones_turned_into_numbers(tenant_a):
    rows = [
        ["Name", "Mobile", "Email", "Tags"],
        ["Asha", 712345678, "asha@example.org", "wazazi"],  # typed 0712345678: zero lost
        ["Juma", 255754321098, "", "wazazi, vip"],  # typed 255754321098
        ["Neema", 2.55767890123e11, "", ""],  # shown as 2.55768E+11
        ["Peter", "+254 712 345 678", "", ""],
    ]
    result = contacts_bulk_import(tenant=tenant_a, data=builders.xlsx_by_xlsxwriter(rows))
    assert (result.imported, result.errors) == (4, [])
    assert phones_of(tenant_a) == {
        "+255712345678",
        "+255754321098",
        "+255767890123",
        "+254712345678",
    }
    assert sorted(t.name for t in contact(tenant_a, "+255754321098").tags.all()) == [
        "vip",
        "wazazi",
    ]


def test_xlsx_written_by_openpyxl_with_a_named_sheet_and_title_rows(tenant_a):
    data = builders.xlsx_by_openpyxl(
        [["Darasa la Saba - 2025"], [], ["Jina", "Simu", "Barua pepe"], ["Asha", "0712345678"]],
        sheets={"Walimu": [["Jina", "Simu"], ["Mwalimu Juma", 754321098], ["Bad", "12"]]},
    )
    first = contacts_bulk_import(tenant=tenant_a, data=data)
    assert (first.imported, first.errors) == (1, [])
    named = contacts_bulk_import(tenant=tenant_a, data=data, sheet="Walimu")
    assert named.imported == 1
    # Row numbers as the spreadsheet shows them: the header is row 1, "Bad" is row 3.
    assert named.errors == ["Row 3: Invalid phone number format: '12' is too short"]
    assert contact(tenant_a, "+255754321098").name == "Mwalimu Juma"


def test_a_missing_sheet_is_named_with_the_ones_there_are(tenant_a):
    from mifumo.contacts.imports.sniff import FileRejected

    data = builders.xlsx_by_openpyxl([["Simu"], ["0712345678"]])
    with pytest.raises(FileRejected, match=r"no sheet named 'Parents'.*Wanafunzi"):
        contacts_bulk_import(tenant=tenant_a, data=data, sheet="Parents")


def test_an_xls_made_by_libreoffice_a_swahili_school_directory(tenant_a):
    data = (builders.FIXTURES / "shule.xls").read_bytes()
    result = contacts_bulk_import(tenant=tenant_a, data=data)
    # Title and blank rows above the header are skipped; the header is row 3.
    assert result.errors == ["Row 8: Invalid phone number format: '7123456' is too short"]
    assert result.imported == 5
    juma = contact(tenant_a, "+255712345601")  # 712345601.0 in the cell
    assert juma.name == "Juma Hamisi"
    assert juma.attributes == {"Namba ya Usajili": "U-001"}
    assert contact(tenant_a, "+255712345602").name == "Asha Bakari"  # 255712345602.0


def test_an_ods_made_by_libreoffice_a_french_school_directory(tenant_a):
    data = (builders.FIXTURES / "ecole.ods").read_bytes()
    result = contacts_bulk_import(tenant=tenant_a, data=data)
    assert result.imported == 3
    assert result.errors == [
        "Row 5: Guardian: Invalid phone number format: 'not a phone' contains letters"
    ]
    eric = contact(tenant_a, "+255712345612")
    assert (eric.name, eric.email) == ("Éric Habimana", "eric@example.org")  # Prénom + Nom


def test_utf16_tab_separated_text_as_excel_saves_unicode_text(tenant_a):
    text = "Jina\tSimu\tBarua pepe\r\nZoë Kéita\t0712345678\tzoe@example.org\r\n"
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    result = contacts_bulk_import(tenant=tenant_a, data=data)
    assert (result.imported, result.errors) == (1, [])
    assert contact(tenant_a, "+255712345678").name == "Zoë Kéita"


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_any_common_delimiter(tenant_a, delimiter):
    text = delimiter.join(["Nom", "Téléphone", "Tags"]) + "\n"
    text += delimiter.join(["Amani", "0712 345 678", "vip"]) + "\n"
    text += delimiter.join(["Baraka", "+255 754 321 098", ""]) + "\n"
    result = contacts_bulk_import(tenant=tenant_a, data=text.encode())
    assert (result.imported, result.errors) == (2, [])
    assert contact(tenant_a, "+255712345678").name == "Amani"


def test_excels_sep_line_names_the_delimiter(tenant_a):
    data = b"sep=;\r\nname;phone\r\nAmani, Jr.;0712345678\r\n"
    result = contacts_bulk_import(tenant=tenant_a, data=data)
    assert (result.imported, result.errors) == (1, [])
    assert contact(tenant_a, "+255712345678").name == "Amani, Jr."


def test_utf8_with_a_byte_order_mark(tenant_a):
    data = codecs.BOM_UTF8 + "name,phone\nÉlodie,0712345678\n".encode()
    assert contacts_bulk_import(tenant=tenant_a, data=data).imported == 1
    assert contact(tenant_a, "+255712345678").name == "Élodie"


def test_latin1_is_the_fallback_when_the_bytes_are_not_utf8(tenant_a):
    data = "name;phone\nFrançois Müller;0712345678\n".encode("latin-1")
    assert contacts_bulk_import(tenant=tenant_a, data=data).imported == 1
    assert contact(tenant_a, "+255712345678").name == "François Müller"


def test_a_csv_phone_column_saved_by_excel_in_scientific_notation(tenant_a):
    data = b"Name,Phone\nAsha,2.55712345678E+11\nJuma,712345679\nRounded,2.55712E+11\n"
    result = contacts_bulk_import(tenant=tenant_a, data=data)
    assert phones_of(tenant_a) == {"+255712345678", "+255712345679"}
    assert len(result.errors) == 1
    assert result.errors[0].startswith("Row 4: The spreadsheet rounded this phone number")


def test_a_json_file_of_phone_contacts(tenant_a):
    data = json.dumps(
        {"contacts": [{"full_name": "Asha", "phone": "0712345678", "email": "a@example.org"}]}
    ).encode()
    assert contacts_bulk_import(tenant=tenant_a, data=data).imported == 1
    assert contact(tenant_a, "+255712345678").email == "a@example.org"


def test_a_bare_list_of_numbers_with_no_header(tenant_a):
    result = contacts_bulk_import(tenant=tenant_a, data=b"0712345678\n0754321098\n")
    assert (result.imported, result.total_processed) == (2, 2)


def test_a_contacts_export_imports_back_unchanged(alice_client, tenant_a, tenant_b, contact_in):
    """CSV and XLSX exports into another tenant: same contacts, tags, groups, attributes."""
    contact_in(
        tenant_a,
        "+255712345678",
        name="=HYPERLINK(x)",
        email="asha@example.org",
        tags=["vip", "-minus"],
        attributes={"house": "+Red", "admission": 17, "boarder": True, "=rank": "1"},
    )
    contact_in(tenant_a, "+255754321098", name="Juma")
    for file_format in ("csv", "xlsx"):
        Contact.objects.filter(tenant=tenant_b).delete()
        exported = alice_client.get(f"/api/messaging/contacts/export/?file_format={file_format}")
        data = b"".join(exported.streaming_content)
        result = contacts_bulk_import(tenant=tenant_b, data=data)
        assert (result.imported, result.errors) == (2, []), file_format
        copy = contact(tenant_b, "+255712345678")
        assert (copy.name, copy.email) == ("=HYPERLINK(x)", "asha@example.org"), file_format
        assert sorted(t.name for t in copy.tags.all()) == ["-minus", "vip"]
        expected = {"house": "+Red", "admission": 17, "boarder": True, "=rank": "1"}
        if file_format == "csv":  # CSV has no types
            expected = {"house": "+Red", "admission": "17", "boarder": "true", "=rank": "1"}
        assert copy.attributes == expected, file_format
        assert copy.is_active and copy.opted_out_at is None
