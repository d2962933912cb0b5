"""Issue item 6 end to end: a school uploads one spreadsheet of students, parents, teachers
and staff through the import API; the recipient groups fill themselves, and a bulk message to
"Parents of Form 2B" reaches exactly the parents of that class."""

from __future__ import annotations

import pytest

from mifumo.contacts.models import Contact
from mifumo.delivery.models import Message
from tests.communications.conftest import GROUPS_URL, URL
from tests.contacts.imports.builders import xlsx_by_xlsxwriter
from tests.contacts.imports.conftest import run_jobs, upload

JOBS = "/api/messaging/contacts/imports/"

# As a school secretary would type it in Excel: phones become numbers (the zero is lost),
# Swahili roles, a guardian named only on the student's row, parents with their own rows.
DIRECTORY = [
    ["Jina", "Simu", "Role", "Darasa", "Simu ya Mzazi", "Guardian Name", "Email"],
    ["Asha Juma", 712000001, "Mwanafunzi", "Form 2B", 754000001, "", ""],
    ["Baraka Juma", 712000002, "Student", "Form 2B", 754000001, "", ""],
    ["Chausiku Ally", 712000003, "Student", "Form 1A", 754000003, "Mama Chausiku", ""],
    ["Juma Ally", 754000001, "Mzazi", "", "", "", "juma@example.org"],
    ["Mwalimu Neema", 712000009, "Mwalimu", "Form 2B", "", "", "neema@staff.example"],
    ["Mlinzi Hamisi", 712000010, "Staff", "", "", "", ""],
]


def import_directory(client, rows, **fields) -> dict:
    response = client.post(
        JOBS,
        {"file": upload("shule.xlsx", xlsx_by_xlsxwriter(rows)), **fields},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    run_jobs()
    job = client.get(f"{JOBS}{response.json()['id']}/").json()
    assert job["status"] == "completed", job
    return job


def groups(client) -> dict[str, tuple[int, int]]:
    body = client.get(GROUPS_URL).json()
    return {g["name"]: (g["member_count"], g["email_count"]) for g in body["results"]}


def test_one_spreadsheet_fills_every_recipient_group(alice_client, tenant_a):
    job = import_directory(alice_client, DIRECTORY)
    assert (job["imported"], job["failed"]) == (6, 0)
    assert groups(alice_client) == {
        "All Students": (3, 0),
        "All Parents": (2, 1),  # Juma (own row, with his e-mail) and Mama Chausiku
        "All Teachers": (1, 1),
        "All Staff": (1, 0),
        "Form 1A": (1, 0),
        "Form 2B": (2, 0),  # the students, not their teacher
        "Parents of Form 1A": (1, 0),
        "Parents of Form 2B": (1, 1),
    }
    response = alice_client.post(
        URL,
        {
            "recipient_group": "Parents of Form 2B",
            "message_body": "Mkutano wa wazazi wa Form 2B Jumamosi",
            "delivery_method": "sms",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert list(Message.objects.values_list("to", flat=True)) == ["+255754000001"]


@pytest.mark.parametrize(
    ("chunk_rows", "fields"),
    [
        (5000, {}),
        # Chunks of two rows: the child's row made the guardian in an earlier transaction,
        # and the parent's own row completes it, with either duplicate policy.
        (2, {"update_existing": "true"}),
        (2, {}),
    ],
)
def test_a_parents_own_row_after_their_childs_keeps_their_details(
    alice_client, tenant_a, settings, chunk_rows, fields
):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = chunk_rows
    import_directory(alice_client, DIRECTORY, **fields)
    juma = Contact.objects.get(tenant=tenant_a, phone_e164="+255754000001")
    assert (juma.name, juma.email) == ("Juma Ally", "juma@example.org")
    assert groups(alice_client)["Parents of Form 2B"] == (1, 1)
