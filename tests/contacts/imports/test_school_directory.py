"""A school loads students, parents, teachers and staff from one sheet; the groups that
school messages go to ("All Parents", "Form 2B", the parents of Form 2B) fill themselves."""

from __future__ import annotations

import pytest

from mifumo.contacts.imports.models import ImportJob
from mifumo.contacts.imports.services import contacts_bulk_import
from mifumo.contacts.models import Contact, Group, GroupKind
from tests.contacts.imports import builders
from tests.contacts.imports.conftest import run_jobs, upload

pytestmark = pytest.mark.django_db

DIRECTORY = (
    "Name,Phone,Role,Class,Guardian Phone,Guardian Name,House\n"
    "Asha Juma,0712000001,Student,Form 2B,0754000001,Juma Ally,Red\n"
    "Baraka Said,0712000002,mwanafunzi,Form 2B,0754000001,,Blue\n"
    "Chausiku Ally,0712000003,élève,Form 1A,0754000003,Ally Hassan,\n"
    "Juma Ally,0754000001,Parent,,,,\n"
    "Mwalimu Neema,0712000009,Teacher,Form 2B,,,\n"
    "Mlinzi Hamisi,0712000010,mfanyakazi,,,,\n"
    "Mgeni,0712000011,visitor,,,,\n"
    "Own Guardian,0712000012,Student,Form 1A,0712000012,,\n"
)


def members(tenant, group_name: str) -> set[str]:
    group = Group.objects.get(tenant=tenant, name=group_name)
    return set(group.contacts.values_list("name", flat=True))


def test_roles_classes_and_guardians_fill_the_school_groups(tenant_a):
    result = contacts_bulk_import(tenant=tenant_a, data=DIRECTORY.encode())
    assert result.errors == [
        "Row 8: Role must be student, parent, teacher or staff, not 'visitor'",
        "Row 9: The guardian's phone number is the contact's own",
    ]
    assert result.imported == 6
    assert members(tenant_a, "All Students") == {"Asha Juma", "Baraka Said", "Chausiku Ally"}
    # A guardian named on a student's row is created (once) and is a parent.
    assert members(tenant_a, "All Parents") == {"Juma Ally", "Ally Hassan"}
    assert members(tenant_a, "All Teachers") == {"Mwalimu Neema"}
    assert members(tenant_a, "All Staff") == {"Mlinzi Hamisi"}
    # A class group holds its students only: the teacher's class column does not add her.
    assert members(tenant_a, "Form 2B") == {"Asha Juma", "Baraka Said"}
    kinds = dict(Group.objects.filter(tenant=tenant_a).values_list("name", "kind"))
    assert kinds == {
        "All Students": GroupKind.SYSTEM,
        "All Parents": GroupKind.SYSTEM,
        "All Teachers": GroupKind.SYSTEM,
        "All Staff": GroupKind.SYSTEM,
        "Form 2B": GroupKind.CLASS,
        "Form 1A": GroupKind.CLASS,
    }
    # The parents of Form 2B, as a school message finds them.
    parents = Contact.objects.filter(tenant=tenant_a, wards__groups__name="Form 2B").distinct()
    assert set(parents.values_list("name", flat=True)) == {"Juma Ally"}
    asha = Contact.objects.get(tenant=tenant_a, name="Asha Juma")
    assert asha.attributes == {"House": "Red"}
    assert [g.name for g in asha.guardians.all()] == ["Juma Ally"]


def test_importing_the_directory_again_changes_nothing(tenant_a):
    contacts_bulk_import(tenant=tenant_a, data=DIRECTORY.encode())
    before = Contact.objects.filter(tenant=tenant_a).count()
    again = contacts_bulk_import(tenant=tenant_a, data=DIRECTORY.encode())
    assert (again.imported, again.skipped) == (0, 6)
    assert Contact.objects.filter(tenant=tenant_a).count() == before
    assert Group.objects.get(tenant=tenant_a, name="All Parents").contacts.count() == 2


def test_existing_groups_are_reused_whatever_their_case(tenant_a):
    existing = Group.objects.create(tenant=tenant_a, name="form 2b", kind=GroupKind.CLASS)
    contacts_bulk_import(tenant=tenant_a, data=DIRECTORY.encode())
    assert not Group.objects.filter(tenant=tenant_a, name="Form 2B").exists()
    assert existing.contacts.count() == 2


def test_a_groups_column_adds_contacts_to_named_groups(tenant_a):
    data = "name,phone,groups\nAsha,0712000001,Kwaya; Wazazi wa Form 2\nJuma,0712000002,kwaya\n"
    contacts_bulk_import(tenant=tenant_a, data=data.encode())
    assert members(tenant_a, "Kwaya") == {"Asha", "Juma"}
    assert Group.objects.get(tenant=tenant_a, name="Kwaya").kind == GroupKind.CUSTOM
    assert members(tenant_a, "Wazazi wa Form 2") == {"Asha"}


def test_the_libreoffice_swahili_directory_fills_the_groups(tenant_a):
    contacts_bulk_import(tenant=tenant_a, data=(builders.FIXTURES / "shule.xls").read_bytes())
    assert members(tenant_a, "All Students") == {"Juma Hamisi", "Asha Bakari"}
    assert members(tenant_a, "All Parents") == {"Hamisi Juma", "Bakari Asha"}
    assert members(tenant_a, "All Teachers") == {"Mwalimu Neema"}
    assert members(tenant_a, "All Staff") == {"Zawadi Ally"}
    assert members(tenant_a, "Darasa la 4") == {"Juma Hamisi", "Asha Bakari"}


def test_opt_outs_in_a_file_are_kept_and_never_cleared(tenant_a):
    data = "name,phone,opted_out\nAsha,0712000001,true\nJuma,0712000002,false\n"
    contacts_bulk_import(tenant=tenant_a, data=data.encode())
    asha = Contact.objects.get(tenant=tenant_a, name="Asha")
    assert asha.opted_out_at is not None
    contacts_bulk_import(
        tenant=tenant_a,
        data=b"name,phone,opted_out\nAsha,0712000001,false\n",
        update_existing=True,
    )
    asha.refresh_from_db()
    assert asha.opted_out_at is not None


# A child's row names their parent's phone before the parent's own row; in chunks of two rows
# the child's row makes the parent a contact (a guardian) one transaction before the parent's
# own row comes. A later row of the same parent is a plain duplicate.
PARENT_AFTER_CHILD = (
    "Name,Phone,Role,Class,Guardian Phone,Guardian Name,Email,Tags\n"
    "Asha Juma,0712000001,Student,Form 2B,0754000001,Baba Asha,,\n"
    "Baraka Said,0712000002,Student,Form 2B,0754000002,,,\n"
    "Juma Ally,0754000001,Parent,,,,juma@example.org,kamati\n"
    "Said Omari,0754000002,Parent,,,,,\n"
    "Juma Tena,0754000001,Parent,,,,juma@other.example,\n"
)


def test_a_parents_own_row_in_a_later_chunk_completes_the_guardian_their_child_made(
    tenant_a, settings
):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2
    result = contacts_bulk_import(tenant=tenant_a, data=PARENT_AFTER_CHILD.encode())
    # As if each parent's row had come first: imported, not skipped; the repeat is skipped.
    assert (result.imported, result.skipped, result.errors) == (4, 1, [])
    juma = Contact.objects.get(tenant=tenant_a, phone_e164="+255754000001")
    assert (juma.name, juma.email) == ("Juma Ally", "juma@example.org")
    assert list(juma.tags.values_list("name", flat=True)) == ["kamati"]
    assert members(tenant_a, "All Parents") == {"Juma Ally", "Said Omari"}
    assert [w.name for w in juma.wards.all()] == ["Asha Juma"]
    # A completed contact is stamped with its own row's chunk, after the child's: the list
    # (newest first) shows it where the file has it, and no later row completes it again.
    asha = Contact.objects.get(tenant=tenant_a, phone_e164="+255712000001")
    assert juma.created_at > asha.created_at
    assert Contact.objects.filter(tenant=tenant_a).count() == result.imported


def test_a_parents_own_row_completes_the_guardian_made_by_an_earlier_task_of_the_job(
    alice_client, tenant_a, settings
):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2
    settings.CONTACTS_IMPORT_TASK_SECONDS = 0  # one chunk per task
    response = alice_client.post(
        "/api/messaging/contacts/imports/",
        {"file": upload("shule.csv", PARENT_AFTER_CHILD.encode())},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert run_jobs() == 3
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.imported, job.skipped, job.failed) == ("completed", 4, 1, 0)
    juma = Contact.objects.get(tenant=tenant_a, phone_e164="+255754000001")
    assert (juma.name, juma.email) == ("Juma Ally", "juma@example.org")


def test_a_guardian_who_was_a_contact_before_the_import_is_left_alone(
    tenant_a, settings, contact_in
):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2
    before = contact_in(tenant_a, "+255754000001", name="Baba Asha")
    result = contacts_bulk_import(tenant=tenant_a, data=PARENT_AFTER_CHILD.encode())
    assert (result.imported, result.skipped) == (3, 2)
    juma = Contact.objects.get(pk=before.pk)
    assert (juma.name, juma.email, juma.created_at) == ("Baba Asha", "", before.created_at)
    assert not juma.tags.exists()
    assert [w.name for w in juma.wards.all()] == ["Asha Juma"]


def test_with_update_existing_the_parents_rows_complete_the_guardian_in_file_order(
    tenant_a, settings
):
    settings.CONTACTS_IMPORT_CHUNK_ROWS = 2
    result = contacts_bulk_import(
        tenant=tenant_a, data=PARENT_AFTER_CHILD.encode(), update_existing=True
    )
    # The parent's first row creates the contact (as if it had come first), the repeat updates.
    assert (result.imported, result.updated, result.skipped) == (4, 1, 0)
    juma = Contact.objects.get(tenant=tenant_a, phone_e164="+255754000001")
    assert (juma.name, juma.email) == ("Juma Tena", "juma@other.example")
