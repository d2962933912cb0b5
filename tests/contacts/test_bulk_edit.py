"""POST /api/messaging/contacts/bulk-edit/: the spec's "Bulk Edit Contacts", all or nothing."""

from __future__ import annotations

import uuid

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from mifumo.contacts import services
from mifumo.contacts.models import Contact
from tests.factories import create_contact, insert_contacts, next_phone
from tests.helpers import assert_error, post_at_once

URL = "/api/messaging/contacts/bulk-edit/"

pytestmark = pytest.mark.django_db

# The spec's "Test Data Examples".
SPEC_IDS = [
    "123e4567-e89b-12d3-a456-426614174000",
    "123e4567-e89b-12d3-a456-426614174001",
    "123e4567-e89b-12d3-a456-426614174002",
]
SPEC_UPDATES = {
    "name": "Updated Name",
    "email": "updated@example.com",
    "tags": ["tag1", "tag2"],
    "attributes": {"company": "New Company", "department": "Sales"},
    "is_active": True,
}


def contact_with_id(tenant, contact_id: str, **fields) -> Contact:
    """A contact with one of the spec's ids; its other fields are set by the service."""
    contact = Contact.objects.create(id=contact_id, tenant=tenant, phone_e164=next_phone())
    return services.contact_update(contact=contact, **fields)


def tag_names(contact: Contact) -> list[str]:
    return sorted(tag.name for tag in contact.tags.all())


def snapshot(*contacts: Contact) -> list[tuple]:
    """Everything a bulk edit could change, read back from the database."""
    rows = []
    for contact in Contact.objects.filter(pk__in=[c.pk for c in contacts]).order_by("pk"):
        rows.append(
            (contact.name, contact.email, contact.attributes, contact.is_active, tag_names(contact))
        )
    return rows


def ids(*contacts: Contact) -> list[str]:
    return [str(c.pk) for c in contacts]


# --- The spec's examples -----------------------------------------------------------------------


def test_it_answers_the_spec_success_body(alice_client, tenant_a):
    for contact_id in SPEC_IDS:
        contact_with_id(tenant_a, contact_id, name="Old", is_active=False)

    response = alice_client.post(URL, {"contact_ids": SPEC_IDS, "updates": SPEC_UPDATES})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "message": "Successfully updated 3 contacts",
        "updated_count": 3,
        "total_requested": 3,
        "errors": [],
    }


def test_it_applies_every_update_of_the_spec_example(alice_client, tenant_a):
    for contact_id in SPEC_IDS:
        contact_with_id(tenant_a, contact_id, name="Old", tags=["old"], is_active=False)

    alice_client.post(URL, {"contact_ids": SPEC_IDS, "updates": SPEC_UPDATES})

    for contact in Contact.objects.filter(pk__in=SPEC_IDS):
        assert contact.name == "Updated Name"
        assert contact.email == "updated@example.com"
        assert tag_names(contact) == ["tag1", "tag2"]
        assert contact.attributes == {"company": "New Company", "department": "Sales"}
        assert contact.is_active is True


def test_it_applies_the_spec_test_data_updates(alice_client, tenant_a):
    for contact_id in SPEC_IDS:
        contact_with_id(tenant_a, contact_id, is_active=False)
    updates = {
        "tags": ["test", "bulk"],
        "is_active": True,
        "attributes": {"test_field": "test_value"},
    }

    response = alice_client.post(URL, {"contact_ids": SPEC_IDS, "updates": updates})

    assert response.status_code == 200, response.content
    for contact in Contact.objects.filter(pk__in=SPEC_IDS):
        assert (contact.is_active, contact.attributes) == (True, {"test_field": "test_value"})
        assert tag_names(contact) == ["bulk", "test"]


def test_it_answers_the_spec_404_body_when_some_contacts_are_not_found(alice_client, tenant_a):
    for contact_id in SPEC_IDS[1:]:
        contact_with_id(tenant_a, contact_id)

    response = alice_client.post(URL, {"contact_ids": SPEC_IDS, "updates": SPEC_UPDATES})

    assert response.status_code == 404, response.content
    assert response.json() == {
        "success": False,
        "message": f"Some contacts not found: ['{SPEC_IDS[0]}']",
        "error_code": "contacts_not_found",
        "details": {"missing_ids": [SPEC_IDS[0]]},
        "updated_count": 0,
        "total_requested": 3,
        "errors": [f"Contact with ID {SPEC_IDS[0]} not found"],
    }


def test_it_says_no_contacts_were_found_when_none_is(alice_client, tenant_a):
    response = alice_client.post(URL, {"contact_ids": SPEC_IDS, "updates": {"name": "x"}})

    assert response.status_code == 404, response.content
    body = response.json()
    assert body["message"] == "No contacts found with the provided IDs"
    assert (body["updated_count"], body["total_requested"]) == (0, 3)
    assert body["errors"] == [f"Contact with ID {cid} not found" for cid in SPEC_IDS]


# --- All or nothing ----------------------------------------------------------------------------


def test_it_changes_nothing_when_one_id_is_not_found(alice_client, tenant_a):
    contacts = [create_contact(tenant_a, name="Keep", tags=["keep"]) for _ in range(2)]
    before = snapshot(*contacts)

    response = alice_client.post(
        URL,
        {
            "contact_ids": [*ids(*contacts), str(uuid.uuid4())],
            "updates": {"name": "Changed", "tags": ["new"], "attributes": {"a": 1}},
        },
    )

    assert response.status_code == 404, response.content
    assert snapshot(*contacts) == before


def test_it_counts_another_tenants_contact_as_not_found_and_changes_nothing(
    alice_client, tenant_a, tenant_b
):
    own = create_contact(tenant_a, name="Own")
    outsider = create_contact(tenant_b, name="Outsider")
    before = snapshot(own, outsider)

    response = alice_client.post(
        URL, {"contact_ids": ids(own, outsider), "updates": {"name": "Changed"}}
    )

    assert response.status_code == 404, response.content
    assert response.json()["message"] == f"Some contacts not found: ['{outsider.pk}']"
    assert response.json()["details"] == {"missing_ids": [str(outsider.pk)]}
    assert snapshot(own, outsider) == before


def test_it_keeps_fields_that_are_not_in_the_updates(alice_client, tenant_a):
    contact = create_contact(
        tenant_a, name="Asha", email="a@example.org", tags=["vip"], attributes={"class": "2B"}
    )

    alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"is_active": False}})

    assert snapshot(contact) == [("Asha", "a@example.org", {"class": "2B"}, False, ["vip"])]


def test_it_merges_attributes_into_each_contacts_own(alice_client, tenant_a):
    first = create_contact(tenant_a, attributes={"class": "2B", "house": "Red"})
    second = create_contact(tenant_a, attributes={"class": "3A"})

    alice_client.post(
        URL, {"contact_ids": ids(first, second), "updates": {"attributes": {"house": "Blue"}}}
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.attributes == {"class": "2B", "house": "Blue"}
    assert second.attributes == {"class": "3A", "house": "Blue"}


def test_it_removes_an_attribute_given_as_null(alice_client, tenant_a):
    contact = create_contact(tenant_a, attributes={"class": "2B", "house": "Red"})

    response = alice_client.post(
        URL, {"contact_ids": ids(contact), "updates": {"attributes": {"house": None}}}
    )

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.attributes == {"class": "2B"}


def test_it_replaces_tags(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["old", "vip"])

    alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"tags": ["new", "NEW"]}})

    assert tag_names(contact) == ["new"]


def test_it_clears_tags_with_an_empty_list(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["old"])

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"tags": []}})

    assert response.status_code == 200, response.content
    assert tag_names(contact) == []


def test_it_stamps_updated_at(alice_client, tenant_a):
    contact = create_contact(tenant_a)
    before = contact.updated_at

    alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"name": "New"}})

    contact.refresh_from_db()
    assert contact.updated_at > before


def test_it_edits_100_contacts(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 100)

    response = alice_client.post(URL, {"contact_ids": ids(*contacts), "updates": {"name": "All"}})

    assert response.status_code == 200, response.content
    assert response.json()["updated_count"] == 100
    assert set(Contact.objects.values_list("name", flat=True)) == {"All"}


def test_it_lets_a_member_edit_in_bulk(bob_client, tenant_a):
    contact = create_contact(tenant_a)

    response = bob_client.post(URL, {"contact_ids": ids(contact), "updates": {"name": "Bob's"}})

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.name == "Bob's"


# --- Refused requests --------------------------------------------------------------------------


def test_it_rejects_an_empty_id_list(alice_client):
    response = alice_client.post(URL, {"contact_ids": [], "updates": {"name": "x"}})

    body = assert_error(response, 400, "validation_error")
    assert "At least one" in body["details"]["contact_ids"][0]


def test_it_rejects_more_than_100_ids(alice_client, tenant_a):
    contacts = insert_contacts(tenant_a, 101)

    response = alice_client.post(URL, {"contact_ids": ids(*contacts), "updates": {"name": "x"}})

    body = assert_error(response, 400, "validation_error")
    assert "At most 100" in body["details"]["contact_ids"][0]
    assert not Contact.objects.filter(name="x").exists()


def test_it_rejects_the_same_id_twice_naming_it(alice_client, tenant_a):
    twice = create_contact(tenant_a, name="Keep")
    once = create_contact(tenant_a, name="Keep")

    response = alice_client.post(
        URL, {"contact_ids": [str(twice.pk), str(once.pk), str(twice.pk)], "updates": {"name": "x"}}
    )

    body = assert_error(response, 400, "validation_error")
    assert str(twice.pk) in body["details"]["contact_ids"][0]
    assert str(once.pk) not in body["details"]["contact_ids"][0]
    assert set(Contact.objects.values_list("name", flat=True)) == {"Keep"}


def test_it_sees_the_same_id_in_another_case_as_a_duplicate(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(
        URL,
        {"contact_ids": [str(contact.pk), str(contact.pk).upper()], "updates": {"name": "x"}},
    )

    body = assert_error(response, 400, "validation_error")
    assert str(contact.pk) in body["message"]


def test_it_rejects_malformed_ids_naming_them(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(
        URL,
        {"contact_ids": [str(contact.pk), "uuid1", "123", 42, None], "updates": {"name": "x"}},
    )

    body = assert_error(response, 400, "validation_error")
    reason = body["details"]["contact_ids"][0]
    assert "Malformed" in reason
    for bad in ("uuid1", "123", "42", "None"):
        assert bad in reason
    assert str(contact.pk) not in reason


def test_it_rejects_contact_ids_that_are_not_a_list(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": str(contact.pk), "updates": {"name": "x"}})

    body = assert_error(response, 400, "validation_error")
    assert "contact_ids" in body["details"]


def test_it_requires_updates(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact)})

    body = assert_error(response, 400, "validation_error")
    assert "updates" in body["details"]


def test_it_rejects_empty_updates(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": {}})

    assert_error(response, 400, "validation_error")


def test_it_rejects_fields_not_allowed_in_updates_naming_them(alice_client, tenant_a, tenant_b):
    contact = create_contact(tenant_a, name="Keep")
    before = (contact.phone_e164, contact.tenant_id)

    response = alice_client.post(
        URL,
        {
            "contact_ids": ids(contact),
            "updates": {"name": "x", "phone_e164": "+255754000111", "tenant": tenant_b.pk},
        },
    )

    body = assert_error(response, 400, "validation_error")
    assert set(body["details"]["updates"]) == {"phone_e164", "tenant"}
    assert "phone_e164" in body["message"]
    contact.refresh_from_db()
    assert (contact.phone_e164, contact.tenant_id, contact.name) == (*before, "Keep")


@pytest.mark.parametrize("field", ["id", "opted_out_at", "groups", "created_at"])
def test_it_rejects_other_fields_of_a_contact_in_updates(alice_client, tenant_a, field):
    contact = create_contact(tenant_a)

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": {field: None}})

    body = assert_error(response, 400, "validation_error")
    assert field in body["details"]["updates"]


def test_it_rejects_unknown_top_level_fields(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(
        URL, {"contact_ids": ids(contact), "updates": {"name": "x"}, "dry_run": True}
    )

    body = assert_error(response, 400, "validation_error")
    assert "dry_run" in body["details"]


@pytest.mark.parametrize("tags", [[1], ["ok", None], [["nested"]], "vip"])
def test_it_rejects_tags_that_are_not_strings(alice_client, tenant_a, tags):
    contact = create_contact(tenant_a, tags=["keep"])

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"tags": tags}})

    body = assert_error(response, 400, "validation_error")
    assert "tags" in body["details"]["updates"]
    assert tag_names(contact) == ["keep"]


def test_it_rejects_a_tag_longer_than_50_characters(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(
        URL, {"contact_ids": ids(contact), "updates": {"tags": ["t" * 51]}}
    )

    assert_error(response, 400, "validation_error")


def test_it_rejects_an_invalid_email(alice_client, tenant_a):
    contact = create_contact(tenant_a, email="keep@example.org")

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"email": "nope"}})

    body = assert_error(response, 400, "validation_error")
    assert "email" in body["details"]["updates"]
    contact.refresh_from_db()
    assert contact.email == "keep@example.org"


def test_it_rejects_nested_attributes(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(
        URL, {"contact_ids": ids(contact), "updates": {"attributes": {"address": {"a": 1}}}}
    )

    body = assert_error(response, 400, "validation_error")
    assert "attributes" in body["details"]["updates"]


def test_it_rejects_an_is_active_that_is_not_a_boolean(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(
        URL, {"contact_ids": ids(contact), "updates": {"is_active": "perhaps"}}
    )

    assert_error(response, 400, "validation_error")


def test_it_refuses_a_10_mb_attributes_body_with_the_envelope(alice_client, tenant_a):
    contact = create_contact(tenant_a, attributes={"keep": "yes"})
    updates = {"attributes": {"notes": "x" * (10 * 1024 * 1024)}}

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": updates})

    assert response.status_code in (400, 413), response.status_code
    assert_error(response, response.status_code)
    contact.refresh_from_db()
    assert contact.attributes == {"keep": "yes"}


def test_it_refuses_attributes_that_would_grow_a_contact_past_8_kb(alice_client, tenant_a):
    small = create_contact(tenant_a, attributes={})
    large = create_contact(tenant_a, attributes={"notes": "x" * 5000})

    response = alice_client.post(
        URL, {"contact_ids": ids(small, large), "updates": {"attributes": {"more": "y" * 5000}}}
    )

    body = assert_error(response, 400, "validation_error")
    assert str(large.pk) in body["message"]
    assert str(small.pk) not in body["message"]
    small.refresh_from_db()
    large.refresh_from_db()
    assert (small.attributes, large.attributes) == ({}, {"notes": "x" * 5000})


def test_it_refuses_attributes_that_would_give_a_contact_more_than_50(alice_client, tenant_a):
    contact = create_contact(tenant_a, attributes={f"key{i}": i for i in range(50)})

    response = alice_client.post(
        URL, {"contact_ids": ids(contact), "updates": {"attributes": {"one_more": 1}}}
    )

    assert_error(response, 400, "validation_error")
    contact.refresh_from_db()
    assert len(contact.attributes) == 50


def test_it_refuses_a_51st_attribute_however_short_the_names(alice_client, tenant_a):
    # The shortest JSON 51 attributes can take ({"a":0,...}, 307 characters): the read-back
    # checks only contacts whose attributes are 300 characters long or more.
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
    contact = create_contact(tenant_a, attributes=dict.fromkeys(letters, 0))

    response = alice_client.post(
        URL, {"contact_ids": ids(contact), "updates": {"attributes": {"Y": 0}}}
    )

    assert_error(response, 400, "validation_error")
    contact.refresh_from_db()
    assert len(contact.attributes) == 50


def test_it_lets_a_full_contact_replace_one_attribute_with_another(alice_client, tenant_a):
    contact = create_contact(tenant_a, attributes={f"key{i}": i for i in range(50)})

    response = alice_client.post(
        URL,
        {"contact_ids": ids(contact), "updates": {"attributes": {"key0": None, "new": 1}}},
    )

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert len(contact.attributes) == 50
    assert "key0" not in contact.attributes


def test_it_needs_a_login(anon, tenant_a):
    contact = create_contact(tenant_a, name="Keep")

    response = anon.post(URL, {"contact_ids": ids(contact), "updates": {"name": "x"}})

    assert_error(response, 401)
    contact.refresh_from_db()
    assert contact.name == "Keep"


# --- Rate limit ----------------------------------------------------------------------------------


def test_it_refuses_the_eleventh_bulk_request_in_a_minute(alice_client, tenant_a):
    contact = create_contact(tenant_a)
    for i in range(10):
        response = alice_client.post(
            URL, {"contact_ids": ids(contact), "updates": {"name": f"Edit {i}"}}
        )
        assert response.status_code == 200, response.content

    response = alice_client.post(URL, {"contact_ids": ids(contact), "updates": {"name": "Edit 10"}})

    body = assert_error(response, 429, "throttled")
    assert 1 <= body["details"]["retry_after_seconds"] <= 60
    contact.refresh_from_db()
    assert contact.name == "Edit 9"


def test_it_counts_bulk_edit_delete_and_tag_in_one_budget(alice_client, tenant_a):
    contacts = [create_contact(tenant_a) for _ in range(4)]
    for _ in range(4):
        alice_client.post(URL, {"contact_ids": ids(contacts[0]), "updates": {"name": "x"}})
    for _ in range(4):
        alice_client.post(
            "/api/messaging/contacts/bulk-tag/", {"contact_ids": ids(contacts[0]), "add": ["t"]}
        )
    for contact in contacts[1:3]:
        alice_client.post("/api/messaging/contacts/bulk-delete/", {"contact_ids": ids(contact)})

    response = alice_client.post(
        "/api/messaging/contacts/bulk-delete/", {"contact_ids": ids(contacts[3])}
    )

    assert_error(response, 429, "throttled")
    assert Contact.objects.filter(pk=contacts[3].pk).exists()


def test_it_counts_each_users_bulk_requests_separately(alice_client, bob_client, tenant_a):
    contact = create_contact(tenant_a)
    body = {"contact_ids": ids(contact), "updates": {"name": "x"}}
    for _ in range(10):
        alice_client.post(URL, body)
    assert alice_client.post(URL, body).status_code == 429

    assert bob_client.post(URL, body).status_code == 200


def test_it_counts_refused_bulk_requests_too(alice_client):
    for _ in range(10):
        assert alice_client.post(URL, {"contact_ids": []}).status_code == 400

    assert_error(alice_client.post(URL, {"contact_ids": []}), 429, "throttled")


def test_it_does_not_limit_the_contact_list(alice_client, tenant_a):
    create_contact(tenant_a)

    statuses = {alice_client.get("/api/messaging/contacts/").status_code for _ in range(12)}

    assert statuses == {200}


# --- Concurrency ---------------------------------------------------------------------------------


def _assert_clean(responses) -> list[int]:
    """Every response succeeded or was refused with the envelope; returns the succeeded indexes."""
    succeeded = []
    for index, response in enumerate(responses):
        assert response.status_code < 500, response.content
        if response.status_code == 200:
            succeeded.append(index)
        else:
            assert response.status_code == 409, response.content
            assert response.json()["success"] is False
    assert succeeded, "no concurrent bulk edit succeeded"
    return succeeded


@pytest.mark.django_db(transaction=True)
def test_it_applies_concurrent_bulk_edits_one_whole_edit_at_a_time(live_server, alice, tenant_a):
    contacts = [create_contact(tenant_a, attributes={"keep": "yes"}) for _ in range(5)]
    bodies = [
        {
            "contact_ids": ids(*contacts),
            "updates": {"name": f"Round {i}", "tags": [f"round-{i}"], "attributes": {"round": i}},
        }
        for i in range(8)
    ]

    responses = post_at_once(f"{live_server.url}{URL}", str(AccessToken.for_user(alice)), bodies)

    succeeded = _assert_clean(responses)
    states = {(name, tuple(tags), attrs) for name, _, attrs, _, tags in _hashable(contacts)}
    assert len(states) == 1, states  # every contact ends in the state of the same request
    (name, tags, attrs) = states.pop()
    winner = int(name.removeprefix("Round "))
    assert winner in succeeded
    assert tags == (f"round-{winner}",)
    assert attrs == (("keep", "yes"), ("round", winner))


@pytest.mark.django_db(transaction=True)
def test_it_does_not_deadlock_on_overlapping_edits_in_opposite_orders(live_server, alice, tenant_a):
    contacts = [create_contact(tenant_a) for _ in range(6)]
    forwards, backwards = ids(*contacts[:4]), ids(*contacts[2:])[::-1]
    bodies = [
        {"contact_ids": forwards if i % 2 else backwards, "updates": {"attributes": {"n": i}}}
        for i in range(8)
    ]

    responses = post_at_once(f"{live_server.url}{URL}", str(AccessToken.for_user(alice)), bodies)

    succeeded = _assert_clean(responses)
    assert len(succeeded) == 8
    for contact in Contact.objects.all():
        assert contact.attributes["n"] in succeeded


def _hashable(contacts):
    return [
        (name, email, tuple(sorted(attrs.items())), active, tags)
        for name, email, attrs, active, tags in snapshot(*contacts)
    ]
