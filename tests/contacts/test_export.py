"""GET /api/messaging/contacts/export/: the filtered list as CSV or XLSX, safe in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from django.utils.timezone import now
from openpyxl.utils.escape import unescape

from mifumo.contacts import export
from mifumo.contacts.models import Contact
from mifumo.contacts.phones import normalize_phone
from tests.factories import create_contact, create_group
from tests.helpers import assert_error

URL = "/api/messaging/contacts/export/"
STANDARD = ["name", "phone_e164", "email", "tags", "groups", "is_active", "opted_out"]
# Cells beginning with these are formulas to Excel and LibreOffice.
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]

pytestmark = pytest.mark.django_db


def export_csv(client, **params) -> list[dict]:
    response = client.get(URL, {"file_format": "csv", **params})
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def export_xlsx(client, **params):
    response = client.get(URL, {"file_format": "xlsx", **params})
    assert response.status_code == 200, response.content
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return workbook["Contacts"]


def xlsx_cells(sheet) -> list[dict]:
    """Each data row as {column title: openpyxl cell}."""
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def text_of(cell) -> str:
    # The file stores control characters as OOXML escapes (_x000D_); Excel shows the character.
    return unescape(cell.value)


# --- CSV ---------------------------------------------------------------------------------------


def test_it_exports_csv_as_an_attachment(alice_client, tenant_a):
    create_contact(tenant_a)

    response = alice_client.get(URL, {"file_format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    assert response["Content-Disposition"].endswith('.csv"')


def test_it_exports_csv_when_no_format_is_given(alice_client, tenant_a):
    create_contact(tenant_a)

    response = alice_client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_it_starts_the_csv_with_a_bom_so_excel_reads_utf8(alice_client, tenant_a):
    create_contact(tenant_a, name="Zoé Mwanaidi")

    response = alice_client.get(URL, {"file_format": "csv"})

    content = b"".join(response.streaming_content)
    assert content.startswith("\ufeff".encode())
    assert "Zoé Mwanaidi" in content.decode("utf-8")


def test_it_writes_one_csv_row_per_contact_with_the_standard_columns(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B")
    create_contact(
        tenant_a,
        name="Asha",
        phone="0712 345 678",
        email="asha@example.org",
        tags=["vip", "Wazazi"],
        group_ids=[group.pk],
    )

    [row] = export_csv(alice_client)

    assert list(row) == STANDARD
    assert row["name"] == "Asha"
    assert row["email"] == "asha@example.org"
    assert row["tags"] == "vip, Wazazi"
    assert row["groups"] == "Form 2B"
    assert (row["is_active"], row["opted_out"]) == ("true", "false")


def test_it_writes_phone_numbers_as_text_in_csv(alice_client, tenant_a):
    create_contact(tenant_a, phone="0712 345 678")

    [row] = export_csv(alice_client)

    # The apostrophe keeps a spreadsheet from reading "+255..." as a number or a formula.
    assert row["phone_e164"] == "'+255712345678"


def test_it_exports_phone_numbers_that_read_back_as_the_same_contacts(alice_client, tenant_a):
    contacts = [create_contact(tenant_a, phone=p) for p in ["0712345678", "+254712345678"]]

    rows = export_csv(alice_client)

    assert sorted(normalize_phone(r["phone_e164"], "TZ") for r in rows) == sorted(
        c.phone_e164 for c in contacts
    )


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_it_neutralises_a_name_that_begins_like_a_formula_in_csv(alice_client, tenant_a, trigger):
    name = f'{trigger}HYPERLINK("http://evil.example")'
    create_contact(tenant_a, name=name)

    [row] = export_csv(alice_client)

    assert row["name"] == "'" + name


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_it_neutralises_an_attribute_that_begins_like_a_formula_in_csv(
    alice_client, tenant_a, trigger
):
    create_contact(tenant_a, attributes={"note": f"{trigger}1+1"})

    [row] = export_csv(alice_client)

    assert row["note"] == f"'{trigger}1+1"


def test_it_neutralises_tags_and_group_names_in_csv(alice_client, tenant_a):
    group = create_group(tenant_a, "=cmd|' /C calc'!A0")
    create_contact(tenant_a, tags=["@SUM(1)"], group_ids=[group.pk])

    [row] = export_csv(alice_client)

    assert row["tags"] == "'@SUM(1)"
    assert row["groups"] == "'=cmd|' /C calc'!A0"


def test_it_neutralises_a_negative_number_in_csv(alice_client, tenant_a):
    create_contact(tenant_a, attributes={"balance": -5})

    [row] = export_csv(alice_client)

    assert row["balance"] == "'-5"


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@"])
def test_it_neutralises_an_attribute_name_in_the_csv_header(alice_client, tenant_a, trigger):
    create_contact(tenant_a, attributes={f"{trigger}1+1": "value"})

    response = alice_client.get(URL, {"file_format": "csv"})

    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    header = next(csv.reader(io.StringIO(text, newline="")))
    assert header[-1] == f"'{trigger}1+1"


def test_it_leaves_safe_cells_as_they_are_in_csv(alice_client, tenant_a):
    create_contact(tenant_a, name="Asha O'Neil", email="asha@example.org", attributes={"n": 5})

    [row] = export_csv(alice_client)

    assert (row["name"], row["email"], row["n"]) == ("Asha O'Neil", "asha@example.org", "5")


# --- XLSX --------------------------------------------------------------------------------------


def test_it_exports_xlsx_as_an_attachment(alice_client, tenant_a):
    create_contact(tenant_a)

    response = alice_client.get(URL, {"file_format": "xlsx"})

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="contacts-' in response["Content-Disposition"]
    assert response["Content-Disposition"].endswith('.xlsx"')


def test_it_writes_the_standard_columns_in_xlsx(alice_client, tenant_a):
    create_contact(tenant_a, name="Asha", tags=["vip"])

    sheet = export_xlsx(alice_client)

    assert [cell.value for cell in next(sheet.iter_rows())] == STANDARD
    [row] = xlsx_cells(sheet)
    assert row["name"].value == "Asha"
    assert row["tags"].value == "vip"
    assert (row["is_active"].value, row["opted_out"].value) == (True, False)


def test_it_writes_phone_numbers_as_exact_text_cells_in_xlsx(alice_client, tenant_a):
    create_contact(tenant_a, phone="0712 345 678")

    [row] = xlsx_cells(export_xlsx(alice_client))

    cell = row["phone_e164"]
    assert cell.value == "+255712345678"
    assert cell.data_type == "s"
    assert cell.quotePrefix is True


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_it_keeps_a_formula_like_name_exact_in_a_quoted_text_cell(alice_client, tenant_a, trigger):
    name = f'{trigger}HYPERLINK("http://evil.example")'
    create_contact(tenant_a, name=name)

    [row] = xlsx_cells(export_xlsx(alice_client))

    cell = row["name"]
    assert text_of(cell) == name
    assert cell.data_type == "s"
    assert cell.quotePrefix is True


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_it_keeps_a_formula_like_attribute_exact_in_a_quoted_text_cell(
    alice_client, tenant_a, trigger
):
    create_contact(tenant_a, attributes={"note": f"{trigger}1+1"})

    [row] = xlsx_cells(export_xlsx(alice_client))

    assert text_of(row["note"]) == f"{trigger}1+1"
    assert row["note"].data_type == "s"
    assert row["note"].quotePrefix is True


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@"])
def test_it_writes_a_formula_like_attribute_name_as_quoted_text_in_xlsx(
    alice_client, tenant_a, trigger
):
    create_contact(tenant_a, attributes={f"{trigger}1+1": "value"})

    sheet = export_xlsx(alice_client)

    title = list(next(sheet.iter_rows()))[-1]
    assert title.value == f"{trigger}1+1"
    assert title.data_type == "s"
    assert title.quotePrefix is True


def test_it_quotes_only_the_risky_cells_in_xlsx(alice_client, tenant_a):
    create_contact(tenant_a, name="Asha", attributes={"class": "2B"})

    [row] = xlsx_cells(export_xlsx(alice_client))

    assert row["name"].quotePrefix is False
    assert row["class"].quotePrefix is False


def test_it_keeps_numbers_as_numbers_in_xlsx(alice_client, tenant_a):
    create_contact(tenant_a, attributes={"age": 14, "balance": -5, "fees": 1500.5})

    [row] = xlsx_cells(export_xlsx(alice_client))

    assert (row["age"].value, row["balance"].value, row["fees"].value) == (14, -5, 1500.5)
    assert row["balance"].data_type == "n"


# --- Columns and filters -----------------------------------------------------------------------


def test_it_turns_attributes_into_columns(alice_client, tenant_a):
    create_contact(tenant_a, name="A", attributes={"class": "2B", "House": "Red"})
    create_contact(tenant_a, name="B", attributes={"class": "3A", "age": 14})

    rows = {row["name"]: row for row in export_csv(alice_client)}

    assert list(rows["A"]) == [*STANDARD, "age", "class", "House"]
    assert (rows["A"]["class"], rows["A"]["House"], rows["A"]["age"]) == ("2B", "Red", "")
    assert (rows["B"]["class"], rows["B"]["House"], rows["B"]["age"]) == ("3A", "", "14")


def test_it_prefixes_an_attribute_named_like_a_standard_column(alice_client, tenant_a):
    create_contact(tenant_a, name="Real", attributes={"name": "Nickname"})

    [row] = export_csv(alice_client)

    assert row["name"] == "Real"
    assert row["attributes.name"] == "Nickname"


def test_it_exports_only_the_contacts_the_list_filters_select(alice_client, tenant_a):
    create_contact(tenant_a, name="VIP", tags=["vip"])
    create_contact(tenant_a, name="Other", tags=["other"])

    assert [row["name"] for row in export_csv(alice_client, tag="VIP")] == ["VIP"]


def test_it_applies_the_search_to_the_export(alice_client, tenant_a):
    create_contact(tenant_a, name="Match", phone="+255712345678")
    create_contact(tenant_a, name="Other", phone="+255754000111")

    assert [row["name"] for row in export_csv(alice_client, search="0712")] == ["Match"]


def test_it_exports_a_name_search_oldest_first_across_chunks(alice_client, tenant_a, monkeypatch):
    """A name search alone is read by ids from its word rows on PostgreSQL, export.CHUNK at a
    time (the attribute columns too); elsewhere through the list's filter: the same rows."""
    monkeypatch.setattr(export, "CHUNK", 2)
    names = ["Juma 1", "Neema", "Asha Juma", "Jumanne", "Mwajuma", "Juma 2", "Baraka Juma"]
    start = now() - timedelta(days=1)
    for i, name in enumerate(names):
        attributes = {"class": "2B"} if name == "Baraka Juma" else {}
        contact = create_contact(tenant_a, name=name, tags=[f"t{i}"], attributes=attributes)
        Contact.objects.filter(pk=contact.pk).update(created_at=start + timedelta(minutes=i))

    rows = export_csv(alice_client, search="juma")

    expected = ["Juma 1", "Asha Juma", "Jumanne", "Juma 2", "Baraka Juma"]
    assert [row["name"] for row in rows] == expected
    assert [row["tags"] for row in rows] == ["t0", "t2", "t3", "t5", "t6"]
    assert [row["class"] for row in rows] == ["", "", "", "", "2B"]


def test_it_applies_the_opted_out_filter_to_the_xlsx_export(alice_client, tenant_a):
    out = create_contact(tenant_a, name="Out")
    create_contact(tenant_a, name="In")
    Contact.objects.filter(pk=out.pk).update(opted_out_at=now())

    rows = xlsx_cells(export_xlsx(alice_client, opted_out="true"))

    assert [(row["name"].value, row["opted_out"].value) for row in rows] == [("Out", True)]


def test_it_exports_only_the_attribute_columns_of_the_selected_contacts(alice_client, tenant_a):
    create_contact(tenant_a, name="VIP", tags=["vip"], attributes={"class": "2B"})
    create_contact(tenant_a, name="Other", attributes={"secret": "x"})

    [row] = export_csv(alice_client, tag="vip")

    assert list(row) == [*STANDARD, "class"]


def test_it_exports_a_header_only_when_nothing_matches(alice_client, tenant_a):
    create_contact(tenant_a, tags=["vip"])

    response = alice_client.get(URL, {"file_format": "csv", "tag": "nobody"})

    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    assert text.splitlines() == [",".join(STANDARD)]


def test_it_exports_contacts_oldest_first(alice_client, tenant_a):
    for name in ["first", "second", "third"]:
        create_contact(tenant_a, name=name)

    assert [row["name"] for row in export_csv(alice_client)] == ["first", "second", "third"]


def test_it_rejects_an_unknown_file_format(alice_client, tenant_a):
    create_contact(tenant_a)

    response = alice_client.get(URL, {"file_format": "pdf"})

    body = assert_error(response, 400, "validation_error")
    assert "'pdf'" in body["details"]["file_format"][0]


def test_it_rejects_a_bad_filter_on_the_export(alice_client):
    response = alice_client.get(URL, {"file_format": "csv", "group": "not-a-uuid"})

    assert_error(response, 400, "validation_error")
