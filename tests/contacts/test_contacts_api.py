"""/api/messaging/contacts/: create, read, update and delete one contact; list, search, filter;
opt-out; guardians and groups."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now
from rest_framework_simplejwt.tokens import AccessToken

from mifumo.contacts.models import Contact, Tag
from tests.factories import create_contact, create_group, insert_contacts
from tests.helpers import assert_error, post_at_once

URL = "/api/messaging/contacts/"

pytestmark = pytest.mark.django_db


def detail_url(contact) -> str:
    return f"{URL}{contact.pk}/"


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


# --- Creating ----------------------------------------------------------------------------------


def test_it_creates_a_contact_from_a_local_phone_number(alice_client, tenant_a):
    response = alice_client.post(
        URL, {"name": "Juma Hassan", "phone_e164": "0712 345 678", "email": "juma@example.org"}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["phone_e164"] == "+255712345678"
    assert body["name"] == "Juma Hassan"
    assert body["email"] == "juma@example.org"
    assert body["tags"] == []
    assert body["attributes"] == {}
    assert body["is_active"] is True
    assert body["opted_out"] is False
    contact = Contact.objects.get(pk=body["id"])
    assert contact.tenant == tenant_a
    assert contact.phone_e164 == "+255712345678"


def test_it_lets_a_member_create_a_contact(bob_client):
    response = bob_client.post(URL, {"phone_e164": "+255712345678"})

    assert response.status_code == 201, response.content


def test_it_reads_a_local_number_in_the_callers_country(charlie_client):
    response = charlie_client.post(URL, {"phone_e164": "0712 345 678"})

    assert response.status_code == 201, response.content
    assert response.json()["phone_e164"] == "+254712345678"


def test_it_rejects_an_impossible_phone_number_with_the_reason(alice_client):
    response = alice_client.post(URL, {"phone_e164": "0712 345"})

    body = assert_error(response, 400, "validation_error")
    assert "too short" in body["message"]
    assert "too short" in body["details"]["phone_e164"][0]
    assert not Contact.objects.exists()


def test_it_rejects_a_phone_number_with_letters(alice_client):
    response = alice_client.post(URL, {"phone_e164": "0712-ABC-DEF"})

    body = assert_error(response, 400, "validation_error")
    assert "letters" in body["message"]
    assert not Contact.objects.exists()


def test_it_requires_a_phone_number(alice_client):
    response = alice_client.post(URL, {"name": "No Phone"})

    body = assert_error(response, 400, "validation_error")
    assert "phone_e164" in body["details"]


def test_it_rejects_an_invalid_email(alice_client):
    response = alice_client.post(URL, {"phone_e164": "+255712345678", "email": "not-an-email"})

    body = assert_error(response, 400, "validation_error")
    assert "email" in body["details"]
    assert not Contact.objects.exists()


def test_it_rejects_unknown_fields_naming_them(alice_client, tenant_b):
    response = alice_client.post(
        URL, {"phone_e164": "+255712345678", "tenant": tenant_b.pk, "nmae": "typo"}
    )

    body = assert_error(response, 400, "validation_error")
    assert set(body["details"]) == {"nmae", "tenant"}
    assert not Contact.objects.exists()


def test_it_trims_tags_and_drops_duplicates_in_any_case(alice_client):
    response = alice_client.post(
        URL,
        {
            "phone_e164": "+255712345678",
            "tags": ["  vip ", "VIP", "Form   2B", "vip", "", "Wazazi"],
        },
    )

    assert response.status_code == 201, response.content
    assert response.json()["tags"] == ["Form 2B", "vip", "Wazazi"]


def test_it_reuses_a_tag_the_tenant_has_in_another_case(alice_client, tenant_a):
    create_contact(tenant_a, tags=["vip"])

    response = alice_client.post(URL, {"phone_e164": "+255712345678", "tags": ["VIP"]})

    assert response.status_code == 201, response.content
    assert response.json()["tags"] == ["vip"]
    assert Tag.objects.filter(tenant=tenant_a).count() == 1


def test_it_accepts_a_tag_of_50_characters(alice_client):
    response = alice_client.post(URL, {"phone_e164": "+255712345678", "tags": ["t" * 50]})

    assert response.status_code == 201, response.content


def test_it_rejects_a_tag_longer_than_50_characters(alice_client):
    response = alice_client.post(URL, {"phone_e164": "+255712345678", "tags": ["t" * 51]})

    body = assert_error(response, 400, "validation_error")
    assert "50 characters" in body["details"]["tags"][0]
    assert not Contact.objects.exists()


@pytest.mark.parametrize("tag", [1, None, True, ["vip"], {"name": "vip"}])
def test_it_rejects_tags_that_are_not_strings(alice_client, tag):
    response = alice_client.post(URL, {"phone_e164": "+255712345678", "tags": ["ok", tag]})

    body = assert_error(response, 400, "validation_error")
    assert "not a string" in body["details"]["tags"][0]
    assert not Contact.objects.exists()


def test_it_rejects_tags_that_are_not_a_list(alice_client):
    response = alice_client.post(URL, {"phone_e164": "+255712345678", "tags": "vip"})

    body = assert_error(response, 400, "validation_error")
    assert "tags" in body["details"]


def test_it_stores_flat_scalar_attributes(alice_client):
    attributes = {"class": "Form 2B", "age": 14, "fees_paid": 150000.5, "boarding": False}

    response = alice_client.post(URL, {"phone_e164": "+255712345678", "attributes": attributes})

    assert response.status_code == 201, response.content
    assert response.json()["attributes"] == attributes
    assert Contact.objects.get().attributes == attributes


@pytest.mark.parametrize("value", [{"street": "Uhuru"}, ["a", "b"], None])
def test_it_rejects_attribute_values_that_are_not_scalars(alice_client, value):
    response = alice_client.post(
        URL, {"phone_e164": "+255712345678", "attributes": {"address": value}}
    )

    body = assert_error(response, 400, "validation_error")
    assert "'address'" in body["details"]["attributes"][0]
    assert not Contact.objects.exists()


def test_it_rejects_attributes_that_are_not_an_object(alice_client):
    response = alice_client.post(URL, {"phone_e164": "+255712345678", "attributes": ["a"]})

    body = assert_error(response, 400, "validation_error")
    assert "attributes" in body["details"]


def test_it_rejects_attributes_larger_than_8_kb(alice_client):
    response = alice_client.post(
        URL, {"phone_e164": "+255712345678", "attributes": {"notes": "x" * 8200}}
    )

    body = assert_error(response, 400, "validation_error")
    assert "8192 bytes" in body["details"]["attributes"][0]
    assert not Contact.objects.exists()


def test_it_rejects_a_megabyte_of_attributes_with_a_reason(alice_client):
    attributes = {f"key{i}": "x" * 20_000 for i in range(50)}

    response = alice_client.post(URL, {"phone_e164": "+255712345678", "attributes": attributes})

    assert_error(response, 400, "validation_error")
    assert not Contact.objects.exists()


def test_it_refuses_a_10_mb_attributes_body_with_the_envelope(alice_client):
    attributes = {"notes": "x" * (10 * 1024 * 1024)}

    response = alice_client.post(URL, {"phone_e164": "+255712345678", "attributes": attributes})

    assert response.status_code in (400, 413), response.status_code
    assert_error(response, response.status_code)
    assert not Contact.objects.exists()


def test_it_refuses_a_duplicate_phone_naming_the_existing_contact(alice_client, tenant_a):
    existing = create_contact(tenant_a, phone="+255712345678")

    response = alice_client.post(URL, {"phone_e164": "0712 345 678", "name": "Again"})

    body = assert_error(response, 409, "duplicate_contact")
    assert body["details"]["existing_id"] == str(existing.pk)
    assert Contact.objects.count() == 1


def test_it_allows_the_same_phone_in_another_tenant(alice_client, tenant_b):
    create_contact(tenant_b, phone="+255712345678")

    response = alice_client.post(URL, {"phone_e164": "+255712345678"})

    assert response.status_code == 201, response.content


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_contact_when_the_same_phone_arrives_at_once(live_server, alice):
    bodies = [{"phone_e164": "0712 345 678", "name": f"Try {i}"} for i in range(8)]

    responses = post_at_once(f"{live_server.url}{URL}", str(AccessToken.for_user(alice)), bodies)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.content for r in responses]
    created = next(r.json() for r in responses if r.status_code == 201)
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["error_code"] == "duplicate_contact"
        assert refused.json()["details"]["existing_id"] == created["id"]
    assert list(Contact.objects.values_list("pk", flat=True)) == [uuid.UUID(created["id"])]


# --- Reading -----------------------------------------------------------------------------------


def test_it_shows_a_contact(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B")
    contact = create_contact(
        tenant_a,
        phone="+255712345678",
        name="Asha",
        email="asha@example.org",
        tags=["vip"],
        attributes={"class": "2B"},
        group_ids=[group.pk],
    )

    response = alice_client.get(detail_url(contact))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(contact.pk)
    assert body["phone_e164"] == "+255712345678"
    assert body["tags"] == ["vip"]
    assert body["attributes"] == {"class": "2B"}
    assert body["group_ids"] == [str(group.pk)]
    assert body["groups"] == [{"id": str(group.pk), "name": "Form 2B"}]
    assert body["guardian_ids"] == []
    assert body["opted_out"] is False
    assert body["opted_out_at"] is None


def test_it_answers_404_for_an_unknown_id(alice_client):
    response = alice_client.get(f"{URL}{uuid.uuid4()}/")

    assert_error(response, 404, "not_found")


def test_it_answers_404_for_a_malformed_id(alice_client):
    response = alice_client.get(f"{URL}not-a-uuid/")

    assert_error(response, 404)


# --- Updating ----------------------------------------------------------------------------------


def test_it_keeps_absent_fields_on_patch(alice_client, tenant_a):
    group = create_group(tenant_a)
    contact = create_contact(
        tenant_a,
        phone="+255712345678",
        name="Asha",
        email="asha@example.org",
        tags=["vip"],
        attributes={"class": "2B"},
        group_ids=[group.pk],
        is_active=False,
    )

    response = alice_client.patch(detail_url(contact), {"name": "Asha Juma"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Asha Juma"
    assert body["phone_e164"] == "+255712345678"
    assert body["email"] == "asha@example.org"
    assert body["tags"] == ["vip"]
    assert body["attributes"] == {"class": "2B"}
    assert body["group_ids"] == [str(group.pk)]
    assert body["is_active"] is False


def test_it_shows_the_new_tags_after_a_patch(alice_client, tenant_a):
    contact = create_contact(tenant_a, tags=["old"])

    response = alice_client.patch(detail_url(contact), {"tags": ["new", "NEW", "other"]})

    assert response.status_code == 200, response.content
    assert response.json()["tags"] == ["new", "other"]
    assert sorted(t.name for t in Contact.objects.get().tags.all()) == ["new", "other"]


def test_it_normalises_a_patched_phone(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.patch(detail_url(contact), {"phone_e164": "0754 000 111"})

    assert response.status_code == 200, response.content
    assert response.json()["phone_e164"] == "+255754000111"
    contact.refresh_from_db()
    assert contact.phone_e164 == "+255754000111"


def test_it_refuses_to_patch_a_phone_onto_another_contacts_number(alice_client, tenant_a):
    other = create_contact(tenant_a, phone="+255712345678")
    contact = create_contact(tenant_a, phone="+255754000111", name="Keep")

    response = alice_client.patch(
        detail_url(contact), {"phone_e164": "0712345678", "name": "Changed"}
    )

    body = assert_error(response, 409, "duplicate_contact")
    assert body["details"]["existing_id"] == str(other.pk)
    contact.refresh_from_db()
    assert (contact.phone_e164, contact.name) == ("+255754000111", "Keep")


def test_it_replaces_the_contact_on_put(alice_client, tenant_a):
    contact = create_contact(
        tenant_a, phone="+255712345678", name="Asha", email="a@example.org", tags=["vip"]
    )

    response = alice_client.put(detail_url(contact), {"phone_e164": "0754000111", "name": "Neema"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["phone_e164"] == "+255754000111"
    assert body["name"] == "Neema"
    assert body["email"] == ""
    assert body["tags"] == []
    assert body["id"] == str(contact.pk)


def test_it_requires_the_phone_on_put(alice_client, tenant_a):
    contact = create_contact(tenant_a, name="Asha")

    response = alice_client.put(detail_url(contact), {"name": "Neema"})

    body = assert_error(response, 400, "validation_error")
    assert "phone_e164" in body["details"]
    contact.refresh_from_db()
    assert contact.name == "Asha"


def test_it_rejects_an_invalid_email_on_patch(alice_client, tenant_a):
    contact = create_contact(tenant_a, email="ok@example.org")

    response = alice_client.patch(detail_url(contact), {"email": "nope"})

    assert_error(response, 400, "validation_error")
    contact.refresh_from_db()
    assert contact.email == "ok@example.org"


# --- Deleting ----------------------------------------------------------------------------------


def test_it_deletes_a_contact(alice_client, tenant_a):
    contact = create_contact(tenant_a)
    kept = create_contact(tenant_a)

    response = alice_client.delete(detail_url(contact))

    assert response.status_code == 204, response.content
    assert list(Contact.objects.all()) == [kept]


def test_it_answers_404_when_deleting_an_unknown_contact(alice_client, tenant_a):
    create_contact(tenant_a)

    response = alice_client.delete(f"{URL}{uuid.uuid4()}/")

    assert_error(response, 404)
    assert Contact.objects.count() == 1


# --- Listing and pages -------------------------------------------------------------------------


def test_it_lists_contacts_in_pages_with_count_next_and_previous(alice_client, tenant_a):
    for i in range(3):
        create_contact(tenant_a, name=f"C{i}")

    first = alice_client.get(URL, {"page_size": 2})
    second = alice_client.get(URL, {"page_size": 2, "page": 2})

    assert first.status_code == 200, first.content
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["previous"] is None
    assert "page=2" in body["next"]
    assert second.json()["next"] is None
    assert second.json()["previous"] is not None
    assert len(second.json()["results"]) == 1


def test_it_lists_the_newest_contacts_first(alice_client, tenant_a):
    for name in ["first", "second", "third"]:
        create_contact(tenant_a, name=name)

    assert names(alice_client.get(URL)) == ["third", "second", "first"]


def test_it_lists_50_contacts_a_page_by_default(alice_client, tenant_a):
    insert_contacts(tenant_a, 51)

    body = alice_client.get(URL).json()

    assert len(body["results"]) == 50
    assert body["count"] == 51


def test_it_gives_up_to_500_contacts_a_page(alice_client, tenant_a):
    insert_contacts(tenant_a, 501)

    body = alice_client.get(URL, {"page_size": 500}).json()

    assert len(body["results"]) == 500
    assert body["count"] == 501
    assert body["next"] is not None


def test_it_clamps_a_page_size_above_500_to_500(alice_client, tenant_a):
    insert_contacts(tenant_a, 501)

    body = alice_client.get(URL, {"page_size": 501}).json()

    assert len(body["results"]) == 500
    assert body["next"] is not None


def test_it_answers_404_for_a_page_past_the_end(alice_client, tenant_a):
    create_contact(tenant_a)

    response = alice_client.get(URL, {"page": 3})

    assert_error(response, 404)


def test_it_lists_a_page_in_the_same_number_of_queries_whatever_its_size(alice_client, tenant_a):
    group = create_group(tenant_a)
    guardian = create_contact(tenant_a)

    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get(URL).status_code == 200
        return len(captured)

    create_contact(tenant_a, tags=["a"], group_ids=[group.pk], guardian_ids=[guardian.pk])
    few = queries_for_a_page()
    for i in range(10):
        create_contact(
            tenant_a, tags=[f"t{i}", "a"], group_ids=[group.pk], guardian_ids=[guardian.pk]
        )
    assert queries_for_a_page() == few


def test_it_reads_the_caller_their_membership_and_tenant_in_one_query(alice_client, tenant_a):
    """Every API request authenticates: the user, their membership and tenant are read
    together (they were three queries, a fifth of a list page's Python time)."""
    create_contact(tenant_a)

    with CaptureQueriesContext(connection) as captured:
        assert alice_client.get(URL).status_code == 200

    tenancy = [query["sql"] for query in captured if '"tenancy_' in query["sql"]]
    assert len(tenancy) == 1, tenancy
    assert all(f'"{table}"' in tenancy[0] for table in ("tenancy_membership", "tenancy_tenant"))


def test_it_lists_a_contact_as_drf_shows_the_serializers_fields(alice_client, tenant_a):
    """The list writes contacts out by hand (ContactSerializer.to_representation), with the
    relations read along with the page (arrays on PostgreSQL): the same as DRF's walk over
    the serializer's fields, which reads each relation with a query of its own."""
    from rest_framework import serializers

    from mifumo.contacts import services
    from mifumo.contacts.serializers import ContactSerializer

    form_2b, walimu = create_group(tenant_a, "Form 2B"), create_group(tenant_a, "walimu")
    mama = create_contact(tenant_a, name="Mama Asha")
    baba = create_contact(tenant_a, name="Baba Asha")
    asha = create_contact(
        tenant_a,
        name="Asha Juma",
        email="asha@shule.example",
        tags=["wazazi", "VIP", "alumni"],
        attributes={"class": "2B", "age": 14, "boarder": True},
        group_ids=[walimu.pk, form_2b.pk],
        guardian_ids=[mama.pk, baba.pk],
    )
    services.contact_opt_out(contact=asha, reason="STOP")

    listed = {row["id"]: row for row in alice_client.get(URL).json()["results"]}

    assert len(listed) == 3
    for contact in Contact.objects.filter(tenant=tenant_a):
        by_fields = serializers.Serializer.to_representation(ContactSerializer(), contact)
        if contact == asha:  # the one order the API does not promise
            by_fields["guardian_ids"] = sorted(by_fields["guardian_ids"])
            listed[str(contact.pk)]["guardian_ids"].sort()
        assert listed[str(contact.pk)] == by_fields
    assert listed[str(asha.pk)]["tags"] == ["alumni", "VIP", "wazazi"]
    assert [group["name"] for group in listed[str(asha.pk)]["groups"]] == ["Form 2B", "walimu"]


# --- Searching ---------------------------------------------------------------------------------


def test_it_searches_by_a_name_fragment_in_any_case(alice_client, tenant_a):
    create_contact(tenant_a, name="Juma Hassan")
    create_contact(tenant_a, name="Asha Juma")
    create_contact(tenant_a, name="Neema")

    assert sorted(names(alice_client.get(URL, {"search": "jUMa"}))) == ["Asha Juma", "Juma Hassan"]


def test_it_searches_by_email(alice_client, tenant_a):
    create_contact(tenant_a, name="Asha", email="asha@shule.example")
    create_contact(tenant_a, name="Neema", email="neema@other.example")

    assert names(alice_client.get(URL, {"search": "asha@shule"})) == ["Asha"]
    assert names(alice_client.get(URL, {"search": "SHULE.example"})) == ["Asha"]


@pytest.mark.parametrize("query", ["+255712", "+255 712", "255712", "0712", "0712 3", "712"])
def test_it_searches_by_a_phone_prefix_in_any_shape(alice_client, tenant_a, query):
    create_contact(tenant_a, name="Match 1", phone="+255712345678")
    create_contact(tenant_a, name="Match 2", phone="+255712399000")
    create_contact(tenant_a, name="Other", phone="+255754000111")

    assert sorted(names(alice_client.get(URL, {"search": query}))) == ["Match 1", "Match 2"]


def test_it_searches_a_full_local_phone_number(alice_client, tenant_a):
    create_contact(tenant_a, name="Match", phone="+255712345678")
    create_contact(tenant_a, name="Other", phone="+255712345679")

    assert names(alice_client.get(URL, {"search": "0712 345 678"})) == ["Match"]


def test_it_reads_a_phone_search_in_the_callers_country(charlie_client, tenant_b):
    create_contact(tenant_b, name="Kenyan", phone="+254712345678")
    create_contact(tenant_b, name="Tanzanian", phone="+255712345678")

    assert names(charlie_client.get(URL, {"search": "0712"})) == ["Kenyan"]


# --- Filtering and ordering --------------------------------------------------------------------


def test_it_filters_by_tag_in_any_case(alice_client, tenant_a):
    create_contact(tenant_a, name="Tagged", tags=["Wazazi"])
    create_contact(tenant_a, name="Untagged", tags=["other"])

    assert names(alice_client.get(URL, {"tag": "WAZAZI"})) == ["Tagged"]


def test_it_finds_nothing_for_a_tag_nobody_has(alice_client, tenant_a):
    create_contact(tenant_a, tags=["vip"])

    assert names(alice_client.get(URL, {"tag": "nobody"})) == []


def test_it_filters_by_group(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B")
    create_contact(tenant_a, name="Member", group_ids=[group.pk])
    create_contact(tenant_a, name="Outside")

    assert names(alice_client.get(URL, {"group": str(group.pk)})) == ["Member"]


def test_it_rejects_a_malformed_group_filter(alice_client):
    response = alice_client.get(URL, {"group": "not-a-uuid"})

    body = assert_error(response, 400, "validation_error")
    assert "group" in body["details"]


@pytest.mark.parametrize(("value", "expected"), [("true", ["Active"]), ("false", ["Inactive"])])
def test_it_filters_by_is_active(alice_client, tenant_a, value, expected):
    create_contact(tenant_a, name="Active")
    create_contact(tenant_a, name="Inactive", is_active=False)

    assert names(alice_client.get(URL, {"is_active": value})) == expected


@pytest.mark.parametrize(("value", "expected"), [("true", ["Out"]), ("false", ["In"])])
def test_it_filters_by_opted_out(alice_client, tenant_a, value, expected):
    out = create_contact(tenant_a, name="Out")
    create_contact(tenant_a, name="In")
    Contact.objects.filter(pk=out.pk).update(opted_out_at=now())

    assert names(alice_client.get(URL, {"opted_out": value})) == expected


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("name", ["Asha", "Juma", "Neema"]),
        ("-name", ["Neema", "Juma", "Asha"]),
        ("phone_e164", ["Juma", "Neema", "Asha"]),
        ("created_at", ["Neema", "Asha", "Juma"]),
    ],
)
def test_it_orders_the_list(alice_client, tenant_a, ordering, expected):
    create_contact(tenant_a, name="Neema", phone="+255712000002")
    create_contact(tenant_a, name="Asha", phone="+255754000111")
    create_contact(tenant_a, name="Juma", phone="+255712000001")

    assert names(alice_client.get(URL, {"ordering": ordering})) == expected


def test_it_rejects_an_unknown_ordering(alice_client):
    response = alice_client.get(URL, {"ordering": "attributes"})

    assert_error(response, 400, "validation_error")


def test_it_lists_every_contact_for_filters_given_no_value(alice_client, tenant_a):
    """Empty values filter nothing and keep the default order (the view then skips the
    filters altogether)."""
    create_contact(tenant_a, name="Older", is_active=False, tags=["vip"])
    create_contact(tenant_a, name="Newer")
    empty = dict.fromkeys(
        ["search", "tag", "group", "is_active", "opted_out", "created_after", "ordering"], ""
    )

    response = alice_client.get(URL, empty)

    assert names(response) == ["Newer", "Older"]
    assert response.json()["count"] == 2


# --- Opting out --------------------------------------------------------------------------------


def test_it_opts_a_contact_out_with_a_time_and_reason(alice_client, tenant_a):
    contact = create_contact(tenant_a)
    before = now()

    response = alice_client.post(f"{detail_url(contact)}opt-out/", {"reason": "Replied STOP"})

    assert response.status_code == 200, response.content
    assert response.json()["opted_out"] is True
    assert response.json()["opt_out_reason"] == "Replied STOP"
    contact.refresh_from_db()
    assert before <= contact.opted_out_at <= now()
    assert contact.opt_out_reason == "Replied STOP"


def test_it_keeps_opted_out_contacts_listed_and_marked(alice_client, tenant_a):
    contact = create_contact(tenant_a, name="Out")
    create_contact(tenant_a, name="In")
    alice_client.post(f"{detail_url(contact)}opt-out/", {})

    rows = {row["name"]: row for row in alice_client.get(URL).json()["results"]}

    assert set(rows) == {"Out", "In"}
    assert rows["Out"]["opted_out"] is True
    assert rows["Out"]["opted_out_at"] is not None
    assert rows["In"]["opted_out"] is False


def test_it_keeps_the_first_opt_out_time_when_opted_out_again(alice_client, tenant_a):
    contact = create_contact(tenant_a)
    alice_client.post(f"{detail_url(contact)}opt-out/", {"reason": "first"})
    first_time = Contact.objects.get().opted_out_at

    alice_client.post(f"{detail_url(contact)}opt-out/", {"reason": "second"})

    contact.refresh_from_db()
    assert contact.opted_out_at == first_time
    assert contact.opt_out_reason == "second"


def test_it_opts_a_contact_back_in(alice_client, tenant_a):
    contact = create_contact(tenant_a)
    alice_client.post(f"{detail_url(contact)}opt-out/", {"reason": "Replied STOP"})

    response = alice_client.post(f"{detail_url(contact)}opt-in/")

    assert response.status_code == 200, response.content
    assert response.json()["opted_out"] is False
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    assert contact.opt_out_reason == ""


def test_it_rejects_an_opt_out_reason_longer_than_200_characters(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.post(f"{detail_url(contact)}opt-out/", {"reason": "r" * 201})

    assert_error(response, 400, "validation_error")
    contact.refresh_from_db()
    assert contact.opted_out_at is None


def test_it_does_not_opt_out_through_a_patch(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.patch(detail_url(contact), {"opted_out_at": now().isoformat()})

    # opted_out_at is read-only (DRF ignores it): opting out goes through opt-out/ only.
    assert response.status_code == 200, response.content
    assert response.json()["opted_out"] is False
    contact.refresh_from_db()
    assert contact.opted_out_at is None


# --- Guardians and groups ----------------------------------------------------------------------


def test_it_links_guardians_of_the_same_tenant(alice_client, tenant_a):
    mother = create_contact(tenant_a, name="Mother")
    father = create_contact(tenant_a, name="Father")

    response = alice_client.post(
        URL, {"phone_e164": "+255712345678", "guardian_ids": [str(mother.pk), str(father.pk)]}
    )

    assert response.status_code == 201, response.content
    assert sorted(response.json()["guardian_ids"]) == sorted([str(mother.pk), str(father.pk)])
    student = Contact.objects.get(pk=response.json()["id"])
    assert set(student.guardians.all()) == {mother, father}
    assert list(mother.wards.all()) == [student]


def test_it_rejects_a_guardian_from_another_tenant(alice_client, tenant_b):
    outsider = create_contact(tenant_b)

    response = alice_client.post(
        URL, {"phone_e164": "+255712345678", "guardian_ids": [str(outsider.pk)]}
    )

    body = assert_error(response, 400, "validation_error")
    assert str(outsider.pk) in body["details"]["guardian_ids"][0]
    assert not Contact.objects.filter(phone_e164="+255712345678").exists()


def test_it_rejects_a_contact_as_its_own_guardian(alice_client, tenant_a):
    contact = create_contact(tenant_a)

    response = alice_client.patch(detail_url(contact), {"guardian_ids": [str(contact.pk)]})

    body = assert_error(response, 400, "validation_error")
    assert "guardian_ids" in body["details"]
    assert not contact.guardians.exists()


def test_it_undoes_the_whole_patch_when_a_guardian_is_refused(alice_client, tenant_a, tenant_b):
    contact = create_contact(tenant_a, name="Before", tags=["old"])
    outsider = create_contact(tenant_b)

    response = alice_client.patch(
        detail_url(contact),
        {"name": "After", "tags": ["new"], "guardian_ids": [str(outsider.pk)]},
    )

    assert_error(response, 400, "validation_error")
    contact.refresh_from_db()
    assert contact.name == "Before"
    assert [t.name for t in contact.tags.all()] == ["old"]


def test_it_puts_a_new_contact_in_groups(alice_client, tenant_a):
    group = create_group(tenant_a, "Form 2B")

    response = alice_client.post(URL, {"phone_e164": "+255712345678", "group_ids": [str(group.pk)]})

    assert response.status_code == 201, response.content
    assert response.json()["groups"] == [{"id": str(group.pk), "name": "Form 2B"}]
    assert list(group.contacts.all()) == [Contact.objects.get()]


def test_it_rejects_group_ids_of_another_tenant(alice_client, tenant_b):
    outsider_group = create_group(tenant_b)

    response = alice_client.post(
        URL, {"phone_e164": "+255712345678", "group_ids": [str(outsider_group.pk)]}
    )

    body = assert_error(response, 400, "validation_error")
    assert str(outsider_group.pk) in body["details"]["group_ids"][0]
    assert not Contact.objects.exists()


def test_it_rejects_patching_in_a_group_of_another_tenant(alice_client, tenant_a, tenant_b):
    own_group = create_group(tenant_a)
    contact = create_contact(tenant_a, group_ids=[own_group.pk])
    outsider_group = create_group(tenant_b)

    response = alice_client.patch(detail_url(contact), {"group_ids": [str(outsider_group.pk)]})

    assert_error(response, 400, "validation_error")
    assert list(contact.groups.all()) == [own_group]
    assert not outsider_group.contacts.exists()


def test_a_search_counts_its_matches_up_to_the_cap(alice_client, tenant_a, settings):
    from mifumo.contacts.views import CappedCountPaginator

    for _ in range(5):
        create_contact(tenant_a, name="Juma Hamisi")
    create_contact(tenant_a, name="Asha Juma")
    create_contact(tenant_a, name="Asha Bakari")
    original = CappedCountPaginator.cap
    CappedCountPaginator.cap = 4
    try:
        body = alice_client.get("/api/messaging/contacts/?search=juma&page_size=2").json()
        assert body["count"] == 4 and body["count_capped"] is True
        assert body["next"] and len(body["results"]) == 2
        exact = alice_client.get("/api/messaging/contacts/?search=asha").json()
        assert exact["count"] == 2 and "count_capped" not in exact
        unfiltered = alice_client.get("/api/messaging/contacts/").json()
        assert unfiltered["count"] == 7 and "count_capped" not in unfiltered
        past_the_cap = alice_client.get("/api/messaging/contacts/?search=juma&page_size=2&page=3")
        assert past_the_cap.status_code == 404
    finally:
        CappedCountPaginator.cap = original
