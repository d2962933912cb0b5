"""POST /api/messaging/contacts/bulk-tag/: add and remove tags without replacing the others."""

from __future__ import annotations

import uuid

import pytest

from mifumo.contacts.fields import MAX_TAGS
from mifumo.contacts.models import Contact, Tag
from tests.factories import create_contact, insert_contacts
from tests.helpers import assert_error

URL = "/api/messaging/contacts/bulk-tag/"

pytestmark = pytest.mark.django_db


def ids(*contacts: Contact) -> list[str]:
    return [str(c.pk) for c in contacts]


def tag_names(contact: Contact) -> list[str]:
    return sorted(tag.name for tag in contact.tags.all())


def test_it_answers_like_bulk_edit(alice_client, tenant_a):
    contacts = [create_contact(tenant_a) for _ in range(3)]

    response = alice_client.post(URL, {"contact_ids": ids(*contacts), "add": ["vip"]})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "message": "Successfully updated 3 contacts",
        "updated_count": 3,
        "total_requested": 3,
        "errors": [],
    }


def test_it_adds_a_tag_to_100_contacts_keeping_their_other_tags(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 100)
    Contact.tags.through.objects.bulk_create(
        Contact.tags.through(contact_id=contact.pk, tag_id=tag.pk)
        for contact, tag in zip(
            contacts,
            [Tag.objects.create(tenant=tenant_a, name=f"own-{i}") for i in range(100)],
            strict=True,
        )
    )

    response = alice_client.post(URL, {"contact_ids": ids(*contacts), "add": ["Trip 2025"]})

    assert response.status_code == 200, response.content
    for i, contact in enumerate(contacts):
        assert tag_names(contact) == ["Trip 2025", f"own-{i}"]


def test_it_does_not_tag_contacts_outside_the_list(alice_client, tenant_a):
    tagged = create_contact(tenant_a)
    other = create_contact(tenant_a, tags=["keep"])

    alice_client.post(URL, {"contact_ids": ids(tagged), "add": ["vip"]})

    assert tag_names(other) == ["keep"]


def test_it_adds_a_tag_a_contact_already_has_without_error(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["vip"])

    response = alice_client.post(URL, {"contact_ids": ids(contact), "add": ["VIP", "new"]})

    assert response.status_code == 200, response.content
    assert tag_names(contact) == ["new", "vip"]


def test_it_keeps_the_spelling_of_an_existing_tag(alice_client, tenant_a):
    create_contact(tenant_a, tags=["Wazazi"])
    contact = create_contact(tenant_a)

    alice_client.post(URL, {"contact_ids": ids(contact), "add": ["WAZAZI"]})

    assert tag_names(contact) == ["Wazazi"]
    assert Tag.objects.filter(tenant=tenant_a).count() == 1


def test_it_removes_a_tag_in_any_case(alice_client, tenant_a):
    contacts = [create_contact(tenant_a, tags=["Wazazi", "vip"]) for _ in range(2)]

    response = alice_client.post(URL, {"contact_ids": ids(*contacts), "remove": ["wAZAZI"]})

    assert response.status_code == 200, response.content
    for contact in contacts:
        assert tag_names(contact) == ["vip"]


def test_it_removes_a_tag_only_from_the_listed_contacts(alice_client, tenant_a):
    listed = create_contact(tenant_a, tags=["vip"])
    other = create_contact(tenant_a, tags=["vip"])

    alice_client.post(URL, {"contact_ids": ids(listed), "remove": ["vip"]})

    assert tag_names(listed) == []
    assert tag_names(other) == ["vip"]


def test_it_ignores_removing_a_tag_nobody_has(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["vip"])

    response = alice_client.post(URL, {"contact_ids": ids(contact), "remove": ["nobody"]})

    assert response.status_code == 200, response.content
    assert tag_names(contact) == ["vip"]


def test_it_adds_and_removes_in_one_request(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["old", "keep"])

    alice_client.post(URL, {"contact_ids": ids(contact), "add": ["new"], "remove": ["OLD"]})

    assert tag_names(contact) == ["keep", "new"]


def test_it_lets_removal_win_over_addition_of_the_same_tag(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["vip"])

    alice_client.post(URL, {"contact_ids": ids(contact), "add": ["VIP"], "remove": ["vip"]})

    assert tag_names(contact) == []


def test_it_lets_a_member_tag_in_bulk(bob_client, tenant_a):
    contact = create_contact(tenant_a)

    response = bob_client.post(URL, {"contact_ids": ids(contact), "add": ["vip"]})

    assert response.status_code == 200, response.content
    assert tag_names(contact) == ["vip"]


def test_it_refuses_a_tag_that_would_give_a_contact_more_than_the_limit(alice_client, tenant_a):
    full = create_contact(tenant_a, tags=[f"t{i}" for i in range(MAX_TAGS)])
    roomy = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(full, roomy), "add": ["one-more"]})

    body = assert_error(response, 400, "validation_error")
    assert str(full.pk) in body["message"]
    assert str(roomy.pk) not in body["message"]
    assert len(tag_names(full)) == MAX_TAGS
    assert tag_names(roomy) == []


def test_it_lets_a_full_contact_swap_one_tag_for_another(alice_client, tenant_a):
    full = create_contact(tenant_a, tags=[f"t{i}" for i in range(MAX_TAGS)])

    response = alice_client.post(URL, {"contact_ids": ids(full), "add": ["new"], "remove": ["t0"]})

    assert response.status_code == 200, response.content
    assert len(tag_names(full)) == MAX_TAGS
    assert "new" in tag_names(full)


# --- Refused requests --------------------------------------------------------------------------


def test_it_needs_tags_to_add_or_remove(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact)})

    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("add", [[1], ["ok", None], [{"name": "vip"}], "vip"])
def test_it_rejects_tags_that_are_not_strings(alice_client, tenant_a, add):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact), "add": add})

    body = assert_error(response, 400, "validation_error")
    assert "add" in body["details"]
    assert tag_names(contact) == []


def test_it_rejects_a_tag_longer_than_50_characters(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact), "add": ["t" * 51]})

    assert_error(response, 400, "validation_error")
    assert not Tag.objects.exists()


def test_it_rejects_an_empty_id_list(alice_client):
    response = alice_client.post(URL, {"contact_ids": [], "add": ["vip"]})

    assert_error(response, 400, "validation_error")


def test_it_rejects_more_than_100_ids(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 101)

    response = alice_client.post(URL, {"contact_ids": ids(*contacts), "add": ["vip"]})

    body = assert_error(response, 400, "validation_error")
    assert "At most 100" in body["details"]["contact_ids"][0]
    assert not Tag.objects.exists()


def test_it_rejects_the_same_id_twice_naming_it(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact, contact), "add": ["vip"]})

    body = assert_error(response, 400, "validation_error")
    assert str(contact.pk) in body["details"]["contact_ids"][0]


def test_it_rejects_malformed_ids_naming_them(alice_client):
    response = alice_client.post(URL, {"contact_ids": ["not-a-uuid"], "add": ["vip"]})

    body = assert_error(response, 400, "validation_error")
    assert "not-a-uuid" in body["details"]["contact_ids"][0]


def test_it_answers_the_bulk_404_body_and_changes_nothing(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["keep"])
    missing = str(uuid.uuid4())

    response = alice_client.post(
        URL, {"contact_ids": [str(contact.pk), missing], "add": ["new"], "remove": ["keep"]}
    )

    assert response.status_code == 404, response.content
    assert response.json() == {
        "success": False,
        "message": f"Some contacts not found: ['{missing}']",
        "error_code": "contacts_not_found",
        "details": {"missing_ids": [missing]},
        "updated_count": 0,
        "total_requested": 2,
        "errors": [f"Contact with ID {missing} not found"],
    }
    assert tag_names(contact) == ["keep"]


def test_it_counts_another_tenants_contact_as_not_found(alice_client, tenant_a, tenant_b):
    own = create_contact(tenant_a, tags=["keep"])
    outsider = create_contact(tenant_b, tags=["theirs"])

    response = alice_client.post(
        URL, {"contact_ids": ids(own, outsider), "add": ["new"], "remove": ["keep", "theirs"]}
    )

    assert response.status_code == 404, response.content
    assert response.json()["details"] == {"missing_ids": [str(outsider.pk)]}
    assert tag_names(own) == ["keep"]
    assert tag_names(outsider) == ["theirs"]


def test_it_refuses_the_eleventh_bulk_request_in_a_minute(alice_client, tenant_a):
    contact = create_contact(tenant_a)
    for i in range(10):
        response = alice_client.post(URL, {"contact_ids": ids(contact), "add": [f"t{i}"]})
        assert response.status_code == 200, response.content

    response = alice_client.post(URL, {"contact_ids": ids(contact), "add": ["t10"]})

    assert_error(response, 429, "throttled")
    assert "t10" not in tag_names(contact)


def test_it_adds_tags_with_non_ascii_capitals(alice_client, tenant_a):
    from tests.factories import create_contact

    contact = create_contact(tenant_a)
    response = alice_client.post(
        "/api/messaging/contacts/bulk-tag/",
        {"contact_ids": [str(contact.pk)], "add": ["Élève", "Ürün"]},
    )
    assert response.status_code == 200, response.content
    assert sorted(contact.tags.values_list("name", flat=True)) == ["Élève", "Ürün"]
