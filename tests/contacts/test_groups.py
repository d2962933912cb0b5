"""/api/messaging/groups/: custom, class and system groups, and their members."""

from __future__ import annotations

import uuid

import pytest

from mifumo.contacts.models import Contact, Group
from tests.factories import create_contact, create_group
from tests.helpers import assert_error

URL = "/api/messaging/groups/"
CONTACTS = "/api/messaging/contacts/"

pytestmark = pytest.mark.django_db


def detail_url(group: Group) -> str:
    return f"{URL}{group.pk}/"


def ids(*contacts: Contact) -> list[str]:
    return [str(c.pk) for c in contacts]


def members_of(group: Group) -> set[Contact]:
    return set(group.contacts.all())


# --- Creating ----------------------------------------------------------------------------------


def test_it_creates_a_custom_group(alice_client, tenant_a):
    response = alice_client.post(URL, {"name": "Wazazi wa Kamati", "description": "Committee"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Wazazi wa Kamati"
    assert body["kind"] == "custom"
    assert body["description"] == "Committee"
    assert body["member_count"] == 0
    assert Group.objects.get(pk=body["id"]).tenant == tenant_a


def test_it_creates_a_class_group(alice_client):
    response = alice_client.post(URL, {"name": "Form 2B", "kind": "class"})

    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "class"


@pytest.mark.parametrize("name", ["All Students", "All Parents", "All Teachers", "All Staff"])
def test_it_creates_each_system_group(alice_client, name):
    response = alice_client.post(URL, {"name": name, "kind": "system"})

    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "system"


@pytest.mark.parametrize("name", ["All Drivers", "all students", "Form 2B"])
def test_it_refuses_a_system_group_with_another_name(alice_client, name):
    response = alice_client.post(URL, {"name": name, "kind": "system"})

    body = assert_error(response, 400, "validation_error")
    assert "name" in body["details"]
    assert not Group.objects.exists()


def test_it_rejects_an_unknown_kind(alice_client):
    response = alice_client.post(URL, {"name": "Drivers", "kind": "secret"})

    body = assert_error(response, 400, "validation_error")
    assert "kind" in body["details"]


def test_it_requires_a_name(alice_client):
    response = alice_client.post(URL, {"kind": "custom"})

    body = assert_error(response, 400, "validation_error")
    assert "name" in body["details"]


def test_it_rejects_a_name_longer_than_100_characters(alice_client):
    response = alice_client.post(URL, {"name": "n" * 101})

    assert_error(response, 400, "validation_error")


def test_it_rejects_unknown_fields(alice_client, tenant_b):
    response = alice_client.post(URL, {"name": "Drivers", "tenant": tenant_b.pk})

    body = assert_error(response, 400, "validation_error")
    assert "tenant" in body["details"]
    assert not Group.objects.exists()


def test_it_refuses_a_duplicate_name_in_any_case(alice_client, tenant_a):
    create_group(tenant_a, "Form 2B")

    response = alice_client.post(URL, {"name": "FORM 2b"})

    body = assert_error(response, 409, "duplicate_group")
    assert "name" in body["details"]
    assert Group.objects.count() == 1


def test_it_refuses_a_duplicate_name_with_extra_spaces(alice_client, tenant_a):
    create_group(tenant_a, "Form 2B")

    response = alice_client.post(URL, {"name": "  Form   2B "})

    assert_error(response, 409, "duplicate_group")


def test_it_allows_a_name_another_tenant_uses(alice_client, tenant_b):
    create_group(tenant_b, "Form 2B")

    response = alice_client.post(URL, {"name": "Form 2B"})

    assert response.status_code == 201, response.content


def test_it_lets_a_member_create_a_group(bob_client):
    response = bob_client.post(URL, {"name": "Drivers"})

    assert response.status_code == 201, response.content


# --- Reading, updating, deleting ---------------------------------------------------------------


def test_it_lists_groups_by_name_with_member_counts(alice_client, tenant_a):
    big = create_group(tenant_a, "Form 2B")
    create_group(tenant_a, "All Staff", kind="system")
    create_contact(tenant_a, group_ids=[big.pk])
    create_contact(tenant_a, group_ids=[big.pk])

    response = alice_client.get(URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert [(g["name"], g["member_count"]) for g in body["results"]] == [
        ("All Staff", 0),
        ("Form 2B", 2),
    ]


def test_it_filters_groups_by_kind(alice_client, tenant_a):
    create_group(tenant_a, "Form 2B", kind="class")
    create_group(tenant_a, "Drivers")

    response = alice_client.get(URL, {"kind": "class"})

    assert [g["name"] for g in response.json()["results"]] == ["Form 2B"]


def test_it_shows_a_group(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B", kind="class", description="Mwalimu Juma")
    create_contact(tenant_a, group_ids=[group.pk])

    response = alice_client.get(detail_url(group))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(group.pk)
    assert (body["name"], body["kind"], body["description"]) == (
        "Form 2B",
        "class",
        "Mwalimu Juma",
    )
    assert body["member_count"] == 1


def test_it_answers_404_for_an_unknown_group(alice_client):
    assert_error(alice_client.get(f"{URL}{uuid.uuid4()}/"), 404)


def test_it_renames_a_group(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B", kind="class")

    response = alice_client.patch(detail_url(group), {"name": "Form 3B"})

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Form 3B"
    assert response.json()["kind"] == "class"
    group.refresh_from_db()
    assert group.name == "Form 3B"


def test_it_keeps_the_member_count_in_an_update_response(alice_client, tenant_a):
    group = create_group(tenant_a)
    create_contact(tenant_a, group_ids=[group.pk])

    response = alice_client.patch(detail_url(group), {"description": "new"})

    assert response.json()["member_count"] == 1


def test_it_lets_a_group_change_the_case_of_its_own_name(alice_client, tenant_a):
    group = create_group(tenant_a, "form 2b")

    response = alice_client.patch(detail_url(group), {"name": "Form 2B"})

    assert response.status_code == 200, response.content


def test_it_refuses_to_rename_onto_another_groups_name(alice_client, tenant_a):
    create_group(tenant_a, "Form 2B")
    group = create_group(tenant_a, "Form 3B")

    response = alice_client.patch(detail_url(group), {"name": "form 2b"})

    assert_error(response, 409, "duplicate_group")
    group.refresh_from_db()
    assert group.name == "Form 3B"


def test_it_refuses_to_turn_a_group_into_a_system_group_of_another_name(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B")

    response = alice_client.patch(detail_url(group), {"kind": "system"})

    assert_error(response, 400, "validation_error")
    group.refresh_from_db()
    assert group.kind == "custom"


def test_it_replaces_a_group_on_put(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B", kind="class", description="old")

    response = alice_client.put(detail_url(group), {"name": "All Staff", "kind": "system"})

    assert response.status_code == 200, response.content
    group.refresh_from_db()
    assert (group.name, group.kind) == ("All Staff", "system")


def test_it_deletes_a_group_but_not_its_contacts(alice_client, tenant_a):
    group = create_group(tenant_a)
    contact = create_contact(tenant_a, group_ids=[group.pk])

    response = alice_client.delete(detail_url(group))

    assert response.status_code == 204, response.content
    assert not Group.objects.exists()
    assert Contact.objects.get() == contact


# --- Members -----------------------------------------------------------------------------------


def test_it_adds_members(alice_client, tenant_a):
    group = create_group(tenant_a)
    contacts = [create_contact(tenant_a) for _ in range(3)]

    response = alice_client.post(
        f"{detail_url(group)}members/add/", {"contact_ids": ids(*contacts)}
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "message": "Added 3 contacts", "count": 3}
    assert members_of(group) == set(contacts)
    assert alice_client.get(detail_url(group)).json()["member_count"] == 3


def test_it_adds_a_member_who_is_already_in_the_group_without_error(alice_client, tenant_a):
    group = create_group(tenant_a)
    already = create_contact(tenant_a, group_ids=[group.pk])
    new = create_contact(tenant_a)

    response = alice_client.post(
        f"{detail_url(group)}members/add/", {"contact_ids": ids(already, new)}
    )

    assert response.status_code == 200, response.content
    assert members_of(group) == {already, new}


def test_it_keeps_other_groups_of_a_new_member(alice_client, tenant_a):
    first = create_group(tenant_a)
    second = create_group(tenant_a)
    contact = create_contact(tenant_a, group_ids=[first.pk])

    alice_client.post(f"{detail_url(second)}members/add/", {"contact_ids": ids(contact)})

    assert set(contact.groups.all()) == {first, second}


def test_it_adds_no_member_when_one_belongs_to_another_tenant(alice_client, tenant_a, tenant_b):
    group = create_group(tenant_a)
    own = create_contact(tenant_a)
    outsider = create_contact(tenant_b)

    response = alice_client.post(
        f"{detail_url(group)}members/add/", {"contact_ids": ids(own, outsider)}
    )

    body = assert_error(response, 404, "contacts_not_found")
    assert body["details"] == {"missing_ids": [str(outsider.pk)]}
    assert members_of(group) == set()
    assert not outsider.groups.exists()


def test_it_rejects_malformed_and_duplicate_member_ids(alice_client, tenant_a):
    group = create_group(tenant_a)
    contact = create_contact(tenant_a)

    malformed = alice_client.post(f"{detail_url(group)}members/add/", {"contact_ids": ["nope"]})
    twice = alice_client.post(
        f"{detail_url(group)}members/add/", {"contact_ids": ids(contact, contact)}
    )

    assert "nope" in assert_error(malformed, 400, "validation_error")["message"]
    assert str(contact.pk) in assert_error(twice, 400, "validation_error")["message"]
    assert members_of(group) == set()


def test_it_rejects_an_empty_member_list(alice_client, tenant_a):
    group = create_group(tenant_a)

    assert_error(alice_client.post(f"{detail_url(group)}members/add/", {"contact_ids": []}), 400)


def test_it_rejects_more_than_1000_members_in_one_call(alice_client, tenant_a):
    group = create_group(tenant_a)

    response = alice_client.post(
        f"{detail_url(group)}members/add/",
        {"contact_ids": [str(uuid.uuid4()) for _ in range(1001)]},
    )

    body = assert_error(response, 400, "validation_error")
    assert "At most 1000" in body["message"]


def test_it_removes_members(alice_client, tenant_a):
    group = create_group(tenant_a)
    leaving = create_contact(tenant_a, group_ids=[group.pk])
    staying = create_contact(tenant_a, group_ids=[group.pk])

    response = alice_client.post(
        f"{detail_url(group)}members/remove/", {"contact_ids": ids(leaving)}
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "message": "Removed 1 contacts", "count": 1}
    assert members_of(group) == {staying}
    assert Contact.objects.filter(pk=leaving.pk).exists()


def test_it_removes_no_member_when_one_belongs_to_another_tenant(alice_client, tenant_a, tenant_b):
    group = create_group(tenant_a)
    member = create_contact(tenant_a, group_ids=[group.pk])
    outsider = create_contact(tenant_b)

    response = alice_client.post(
        f"{detail_url(group)}members/remove/", {"contact_ids": ids(member, outsider)}
    )

    assert_error(response, 404, "contacts_not_found")
    assert members_of(group) == {member}


def test_it_lists_the_members_of_a_group_by_name(alice_client, tenant_a):
    group = create_group(tenant_a)
    create_contact(tenant_a, name="Neema", group_ids=[group.pk])
    create_contact(tenant_a, name="Asha", group_ids=[group.pk])
    create_contact(tenant_a, name="Outside")

    response = alice_client.get(f"{detail_url(group)}members/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert [c["name"] for c in body["results"]] == ["Asha", "Neema"]
    assert body["results"][0]["groups"][0]["id"] == str(group.pk)


def test_it_pages_the_members_of_a_group(alice_client, tenant_a):
    group = create_group(tenant_a)
    for i in range(3):
        create_contact(tenant_a, name=f"M{i}", group_ids=[group.pk])

    body = alice_client.get(f"{detail_url(group)}members/", {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None


def test_it_lists_a_groups_contacts_with_the_group_filter(alice_client, tenant_a):
    group = create_group(tenant_a)
    contacts = [create_contact(tenant_a) for _ in range(2)]
    create_contact(tenant_a)
    alice_client.post(f"{detail_url(group)}members/add/", {"contact_ids": ids(*contacts)})

    response = alice_client.get(CONTACTS, {"group": str(group.pk)})

    assert {c["id"] for c in response.json()["results"]} == set(ids(*contacts))
