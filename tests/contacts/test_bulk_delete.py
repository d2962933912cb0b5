"""POST /api/messaging/contacts/bulk-delete/: the spec's "Bulk Delete Contacts", all or nothing."""

from __future__ import annotations

import uuid

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from mifumo.contacts.models import Contact, Group, Tag
from tests.factories import create_contact, create_group, insert_contacts
from tests.helpers import assert_error, post_at_once

URL = "/api/messaging/contacts/bulk-delete/"

pytestmark = pytest.mark.django_db


def ids(*contacts: Contact) -> list[str]:
    return [str(c.pk) for c in contacts]


def test_it_answers_the_spec_success_body(alice_client, tenant_a):
    contacts = [create_contact(tenant_a) for _ in range(3)]

    response = alice_client.post(URL, {"contact_ids": ids(*contacts)})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "message": "Successfully deleted 3 contacts",
        "deleted_count": 3,
        "total_requested": 3,
    }


def test_it_deletes_only_the_given_contacts(alice_client, tenant_a):
    doomed = [create_contact(tenant_a) for _ in range(2)]
    kept = create_contact(tenant_a)

    alice_client.post(URL, {"contact_ids": ids(*doomed)})

    assert list(Contact.objects.all()) == [kept]


def test_it_answers_the_spec_404_body_when_no_contact_is_found(alice_client, tenant_a):
    create_contact(tenant_a)
    missing = [str(uuid.uuid4()) for _ in range(3)]

    response = alice_client.post(URL, {"contact_ids": missing})

    assert response.status_code == 404, response.content
    assert response.json() == {
        "success": False,
        "message": "No contacts found with the provided IDs",
        "error_code": "contacts_not_found",
        "details": {"missing_ids": missing},
        "deleted_count": 0,
        "total_requested": 3,
        "errors": [f"Contact with ID {cid} not found" for cid in missing],
    }
    assert Contact.objects.count() == 1


def test_it_deletes_nothing_when_one_id_is_not_found(alice_client, tenant_a):
    contacts = [create_contact(tenant_a) for _ in range(2)]
    missing = str(uuid.uuid4())

    response = alice_client.post(URL, {"contact_ids": [*ids(*contacts), missing]})

    assert response.status_code == 404, response.content
    body = response.json()
    assert body["message"] == f"Some contacts not found: ['{missing}']"
    assert (body["deleted_count"], body["total_requested"]) == (0, 3)
    assert body["errors"] == [f"Contact with ID {missing} not found"]
    assert Contact.objects.count() == 2


def test_it_counts_another_tenants_contact_as_not_found_and_deletes_nothing(
    alice_client, tenant_a, tenant_b
):
    own = create_contact(tenant_a)
    outsider = create_contact(tenant_b)

    response = alice_client.post(URL, {"contact_ids": ids(own, outsider)})

    assert response.status_code == 404, response.content
    assert response.json()["details"] == {"missing_ids": [str(outsider.pk)]}
    assert set(Contact.objects.all()) == {own, outsider}


def test_it_deletes_100_contacts(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 100)

    response = alice_client.post(URL, {"contact_ids": ids(*contacts)})

    assert response.status_code == 200, response.content
    assert response.json()["deleted_count"] == 100
    assert not Contact.objects.exists()


def test_it_leaves_groups_and_tags_in_place(alice_client, tenant_a):
    group = create_group(tenant_a)
    contact = create_contact(tenant_a, tags=["vip"], group_ids=[group.pk])

    alice_client.post(URL, {"contact_ids": ids(contact)})

    assert Group.objects.filter(pk=group.pk).exists()
    assert Tag.objects.filter(tenant=tenant_a, name="vip").exists()
    assert not group.contacts.exists()


def test_it_lets_a_member_delete_in_bulk(bob_client, tenant_a):
    contact = create_contact(tenant_a)

    response = bob_client.post(URL, {"contact_ids": ids(contact)})

    assert response.status_code == 200, response.content
    assert not Contact.objects.exists()


def test_it_rejects_an_empty_id_list(alice_client):
    response = alice_client.post(URL, {"contact_ids": []})

    body = assert_error(response, 400, "validation_error")
    assert "contact_ids" in body["details"]


def test_it_requires_contact_ids(alice_client):
    response = alice_client.post(URL, {})

    body = assert_error(response, 400, "validation_error")
    assert "contact_ids" in body["details"]


def test_it_rejects_more_than_100_ids(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 101)

    response = alice_client.post(URL, {"contact_ids": ids(*contacts)})

    body = assert_error(response, 400, "validation_error")
    assert "At most 100" in body["details"]["contact_ids"][0]
    assert Contact.objects.count() == 101


def test_it_rejects_the_same_id_twice_naming_it(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": [str(contact.pk), str(contact.pk)]})

    body = assert_error(response, 400, "validation_error")
    assert f"Duplicate contact IDs: ['{contact.pk}']" in body["details"]["contact_ids"][0]
    assert Contact.objects.exists()


def test_it_rejects_malformed_ids_naming_them(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": [str(contact.pk), "uuid1", "uuid2"]})

    body = assert_error(response, 400, "validation_error")
    assert "Malformed contact IDs: ['uuid1', 'uuid2']" in body["details"]["contact_ids"][0]
    assert Contact.objects.exists()


def test_it_rejects_unknown_fields(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"name": "x"}})

    body = assert_error(response, 400, "validation_error")
    assert "updates" in body["details"]
    assert Contact.objects.exists()


def test_it_refuses_the_eleventh_bulk_request_in_a_minute(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 11)
    for contact in contacts[:10]:
        assert alice_client.post(URL, {"contact_ids": ids(contact)}).status_code == 200

    response = alice_client.post(URL, {"contact_ids": ids(contacts[10])})

    assert_error(response, 429, "throttled")
    assert list(Contact.objects.all()) == [contacts[10]]


@pytest.mark.django_db(transaction=True)
def test_it_deletes_once_when_the_same_contacts_are_deleted_at_once(live_server, alice, tenant_a):
    contacts = [create_contact(tenant_a) for _ in range(3)]
    bodies = [{"contact_ids": ids(*contacts)} for _ in range(6)]

    responses = post_at_once(f"{live_server.url}{URL}", str(AccessToken.for_user(alice)), bodies)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [404] * 5, [r.content for r in responses]
    for refused in (r for r in responses if r.status_code == 404):
        assert refused.json()["message"] == "No contacts found with the provided IDs"
        assert refused.json()["deleted_count"] == 0
    assert not Contact.objects.exists()
