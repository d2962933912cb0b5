"""POST /api/messaging/contacts/bulk-import/: the spec's examples and its duplicate rules."""

from __future__ import annotations

import pytest

from mifumo.contacts.models import Contact, ContactTag
from tests.contacts.imports.builders import xlsx_by_xlsxwriter
from tests.contacts.imports.conftest import phones_of, upload
from tests.helpers import assert_error

URL = "/api/messaging/contacts/bulk-import/"
RESPONSE_KEYS = {
    "success",
    "imported",
    "updated",
    "skipped",
    "total_processed",
    "errors",
    "message",
}


def test_it_imports_the_specs_csv_example(alice_client, tenant_a):
    body = {
        "import_type": "csv",
        "csv_data": "name,phone_e164,email,tags\nJohn Doe,+255700000001,john@example.com,vip\nJane Smith,+255700000002,jane@example.com,regular",  # noqa: E501
        "skip_duplicates": True,
        "update_existing": False,
    }
    response = alice_client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "success": True,
        "imported": 2,
        "updated": 0,
        "skipped": 0,
        "total_processed": 2,
        "errors": [],
        "message": "Successfully imported 2, updated 0, skipped 0 contacts",
    }
    john = Contact.objects.get(tenant=tenant_a, phone_e164="+255700000001")
    assert (john.name, john.email) == ("John Doe", "john@example.com")
    assert [tag.name for tag in john.tags.all()] == ["vip"]


def test_it_imports_the_specs_phone_contacts_example(alice_client, tenant_a):
    body = {
        "import_type": "phone_contacts",
        "contacts": [
            {"full_name": "John Doe", "phone": "+255700000001", "email": "john@example.com"},
            {"full_name": "Jane Smith", "phone": "+255700000002", "email": "jane@example.com"},
        ],
        "skip_duplicates": True,
        "update_existing": False,
    }
    response = alice_client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["imported"] == 2
    jane = Contact.objects.get(tenant=tenant_a, phone_e164="+255700000002")
    assert (jane.name, jane.email) == ("Jane Smith", "jane@example.com")


def test_it_imports_the_specs_excel_example_as_a_multipart_form(alice_client, tenant_a):
    workbook = xlsx_by_xlsxwriter(
        [["Name", "Phone Number", "Email"], ["Asha Said", "0712 345 678", "asha@example.org"]]
    )
    response = alice_client.post(
        URL,
        {
            "import_type": "excel",
            "file": upload("contacts.xlsx", workbook),
            "skip_duplicates": "true",
            "update_existing": "false",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert set(response.json()) == RESPONSE_KEYS
    assert phones_of(tenant_a) == {"+255712345678"}


def test_it_answers_the_specs_body_with_all_three_counts(alice_client, tenant_a, contact_in):
    """The spec's example response: imported 5, updated 2, skipped 1 of 8."""
    contact_in(tenant_a, "+255700000101", name="Old One")
    contact_in(tenant_a, "+255700000102", name="Old Two")
    lines = ["name,phone"] + [f"New {i},+25570000020{i}" for i in range(1, 6)]
    lines += ["Updated One,+255700000101", "Updated Two,+255700000102", "New 1 again,+255700000201"]
    # update_existing: the two existing contacts and the repeat of row 2 are updates...
    response = alice_client.post(
        URL,
        {"import_type": "csv", "csv_data": "\n".join(lines), "update_existing": True},
        format="json",
    )
    body = response.json()
    assert (body["imported"], body["updated"], body["skipped"]) == (5, 3, 0)
    assert body["total_processed"] == 8
    assert body["message"] == "Successfully imported 5, updated 3, skipped 0 contacts"
    # ... and with skip_duplicates they are skipped.
    response = alice_client.post(
        URL, {"import_type": "csv", "csv_data": "\n".join(lines)}, format="json"
    )
    body = response.json()
    assert (body["imported"], body["updated"], body["skipped"]) == (0, 0, 8)


def test_skip_duplicates_leaves_the_existing_contact_alone(alice_client, tenant_a, contact_in):
    contact_in(tenant_a, "+255712345678", name="Juma", email="juma@old.example", tags=["old"])
    csv = "name,phone,email,tags\nJuma Mpya,0712 345 678,juma@new.example,new"
    body = alice_client.post(
        URL, {"import_type": "csv", "csv_data": csv, "skip_duplicates": True}, format="json"
    ).json()
    assert (body["imported"], body["skipped"], body["errors"]) == (0, 1, [])
    juma = Contact.objects.get(tenant=tenant_a)
    assert (juma.name, juma.email) == ("Juma", "juma@old.example")
    assert [t.name for t in juma.tags.all()] == ["old"]


def test_update_existing_takes_the_rows_non_empty_fields(alice_client, tenant_a, contact_in):
    contact_in(
        tenant_a,
        "+255712345678",
        name="Juma",
        email="juma@old.example",
        tags=["old"],
        attributes={"house": "Red", "admission": "A-2"},
    )
    csv = "name,phone,email,tags,admission\n,+255712345678,juma@new.example,new,A-3"
    body = alice_client.post(
        URL, {"import_type": "csv", "csv_data": csv, "update_existing": True}, format="json"
    ).json()
    assert (body["imported"], body["updated"]) == (0, 1)
    juma = Contact.objects.get(tenant=tenant_a)
    assert juma.name == "Juma"  # the row's name is empty: kept
    assert juma.email == "juma@new.example"
    assert sorted(t.name for t in juma.tags.all()) == ["new", "old"]
    assert juma.attributes == {"house": "Red", "admission": "A-3"}


def test_links_are_written_once_for_new_and_existing_contacts(alice_client, tenant_a, contact_in):
    # A new contact's links go in a plain INSERT, an existing one's with ON CONFLICT DO
    # NOTHING (upsert._insert_links): neither may write a pair twice or fail on one.
    contact_in(tenant_a, "+255712345678", name="Juma", tags=["old"])
    csv = (
        "name,phone,tags,groups\n"
        "Asha,0713000001,wazazi,Form 2B\n"
        "Asha,+255713000001,wazazi,Form 2B\n"  # the same new contact again
        'Juma,0712345678,"old, new",Form 2B\n'  # a tag Juma has already
    )
    body = alice_client.post(
        URL, {"import_type": "csv", "csv_data": csv, "update_existing": True}, format="json"
    ).json()
    assert (body["imported"], body["updated"], body["errors"]) == (1, 2, [])
    asha = Contact.objects.get(tenant=tenant_a, phone_e164="+255713000001")
    juma = Contact.objects.get(tenant=tenant_a, phone_e164="+255712345678")
    assert [t.name for t in asha.tags.all()] == ["wazazi"]
    assert sorted(t.name for t in juma.tags.all()) == ["new", "old"]
    assert [g.name for g in asha.groups.all()] == [g.name for g in juma.groups.all()] == ["Form 2B"]
    assert ContactTag.objects.filter(contact__tenant=tenant_a).count() == 3


def test_with_neither_option_each_duplicate_is_an_error(alice_client, tenant_a, contact_in):
    contact_in(tenant_a, "+255712345678", name="Juma")
    csv = "name,phone\nJuma,0712345678\nAsha,0754321098\nAsha tena,+255 754 321 098"
    body = alice_client.post(
        URL,
        {
            "import_type": "csv",
            "csv_data": csv,
            "skip_duplicates": False,
            "update_existing": False,
        },
        format="json",
    ).json()
    assert (body["imported"], body["updated"], body["skipped"]) == (1, 0, 0)
    assert body["total_processed"] == 3
    assert body["errors"] == [
        "Row 2: A contact with the phone number +255712345678 already exists",
        "Row 4: Same phone number as row 3 (+255754321098)",
    ]
    assert Contact.objects.get(tenant=tenant_a, phone_e164="+255754321098").name == "Asha"


def test_a_repeated_phone_in_the_file_is_skipped_by_default(alice_client, tenant_a):
    csv = "name,phone\nAsha,0754321098\nAsha tena,+255754321098"
    body = alice_client.post(URL, {"import_type": "csv", "csv_data": csv}, format="json").json()
    assert (body["imported"], body["skipped"]) == (1, 1)
    assert Contact.objects.get(tenant=tenant_a).name == "Asha"


def test_rejected_rows_are_listed_and_the_valid_rows_imported(alice_client, tenant_a):
    csv = (
        "name,phone,email\n"
        "Asha,0754321098,asha@example.org\n"
        "Hakuna Simu,,\n"
        "Barua Mbaya,0712345678,not-an-email\n"
        "Herufi,0712-ABC-DEF,\n"
        "Juma,+255 712 000 111,juma@example.org\n"
    )
    body = alice_client.post(URL, {"import_type": "csv", "csv_data": csv}, format="json").json()
    assert body["imported"] == 2
    assert body["total_processed"] == 5
    assert body["errors"] == [
        "Row 3: Phone number is missing",
        "Row 4: Invalid email address: 'not-an-email'",
        "Row 5: Invalid phone number format: '0712-ABC-DEF' contains letters",
    ]
    assert phones_of(tenant_a) == {"+255754321098", "+255712000111"}


def test_it_refuses_more_than_1000_contacts_and_imports_none(alice_client, tenant_a):
    csv = "phone\n" + "\n".join(f"+2557120{i:05d}" for i in range(1001))
    response = alice_client.post(URL, {"import_type": "csv", "csv_data": csv}, format="json")
    body = assert_error(response, 400, "too_many_rows")
    assert "/api/messaging/contacts/imports/" in body["message"]
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_it_takes_exactly_1000_contacts(alice_client, tenant_a):
    csv = "phone\n" + "\n".join(f"+2557120{i:05d}" for i in range(1000))
    response = alice_client.post(URL, {"import_type": "csv", "csv_data": csv}, format="json")
    assert response.json()["imported"] == 1000


def test_it_refuses_more_than_1000_phone_contacts(alice_client):
    contacts = [{"full_name": "X", "phone": f"+2557120{i:05d}"} for i in range(1001)]
    response = alice_client.post(
        URL, {"import_type": "phone_contacts", "contacts": contacts}, format="json"
    )
    body = assert_error(response, 400, "validation_error")
    assert "At most 1000 contacts" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"import_type": "csv"}, "csv_data"),
        ({"import_type": "excel"}, "file"),
        ({"import_type": "phone_contacts"}, "contacts"),
        ({"import_type": "outlook", "csv_data": "phone\n0712345678"}, "import_type"),
        ({"import_type": "csv", "csv_data": "phone\n0712345678", "overwrite": True}, "overwrite"),
    ],
)
def test_it_names_what_is_wrong_with_the_request(alice_client, body, field):
    response = alice_client.post(URL, body, format="json")
    assert field in assert_error(response, 400, "validation_error")["details"]


def test_a_file_without_a_phone_column_is_refused_whole(alice_client, tenant_a):
    response = alice_client.post(
        URL, {"import_type": "csv", "csv_data": "jina,barua pepe\nAsha,a@example.org"}
    )
    body = assert_error(response, 400, "no_phone_column")
    assert "jina, barua pepe" in body["message"]
    assert not Contact.objects.filter(tenant=tenant_a).exists()


def test_a_file_over_10_mb_is_413(alice_client):
    big = b"phone\n" + b"0712345678\n" * (10 * 1024 * 1024 // 11 + 10)
    assert len(big) > 10 * 1024 * 1024
    response = alice_client.post(
        URL, {"import_type": "csv", "file": upload("big.csv", big)}, format="multipart"
    )
    assert_error(response, 413, "payload_too_large")


def test_it_is_throttled_as_a_contacts_bulk_operation(alice_client):
    body = {"import_type": "phone_contacts", "contacts": [{"phone": "0712345678"}]}
    statuses = [alice_client.post(URL, body, format="json").status_code for _ in range(11)]
    assert statuses == [201] * 10 + [429]


def test_it_needs_a_signed_in_user(anon):
    response = anon.post(URL, {"import_type": "csv", "csv_data": "phone\n0712345678"})
    assert_error(response, 401)


def test_an_outsider_imports_into_their_own_tenant_only(
    charlie_client, tenant_a, tenant_b, contact_in
):
    contact_in(tenant_a, "+255712345678", name="Juma of A")
    # Tenant B is in Kenya: a local number is read as Kenyan, an E.164 one as it is.
    csv = "name,phone\nJuma of B,+255712345678\nWanjiru,0712 345 678"
    body = charlie_client.post(URL, {"import_type": "csv", "csv_data": csv}).json()
    assert (body["imported"], body["skipped"]) == (2, 0)
    assert phones_of(tenant_b) == {"+255712345678", "+254712345678"}
    assert Contact.objects.get(tenant=tenant_a).name == "Juma of A"
