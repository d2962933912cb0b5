"""Charlie (tenant B) on every contacts and groups endpoint with tenant A's ids: a 404 that says
nothing about A, and A's data exactly as it was. Lists never show another tenant's rows."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.utils.timezone import now

from mifumo.contacts.models import Contact, Group
from tests.factories import create_contact, create_group
from tests.helpers import assert_error

CONTACTS = "/api/messaging/contacts/"
GROUPS = "/api/messaging/groups/"

pytestmark = pytest.mark.django_db

# (method, path, body); "{contact}", "{opted_out}" and "{group}" stand for tenant A's ids.
ENDPOINTS = {
    "contact detail": ("get", CONTACTS + "{contact}/", None),
    "contact put": ("put", CONTACTS + "{contact}/", {"phone_e164": "+254733000111", "name": "X"}),
    "contact patch": ("patch", CONTACTS + "{contact}/", {"name": "Hijacked"}),
    "contact delete": ("delete", CONTACTS + "{contact}/", None),
    "opt-out": ("post", CONTACTS + "{contact}/opt-out/", {"reason": "hijacked"}),
    "opt-in": ("post", CONTACTS + "{opted_out}/opt-in/", None),
    "bulk edit": (
        "post",
        CONTACTS + "bulk-edit/",
        {"contact_ids": ["{contact}", "{opted_out}"], "updates": {"name": "Hijacked"}},
    ),
    "bulk delete": ("post", CONTACTS + "bulk-delete/", {"contact_ids": ["{contact}"]}),
    "bulk tag": (
        "post",
        CONTACTS + "bulk-tag/",
        {"contact_ids": ["{contact}"], "add": ["hijacked"], "remove": ["vip"]},
    ),
    "group detail": ("get", GROUPS + "{group}/", None),
    "group put": ("put", GROUPS + "{group}/", {"name": "Hijacked", "kind": "custom"}),
    "group patch": ("patch", GROUPS + "{group}/", {"name": "Hijacked"}),
    "group delete": ("delete", GROUPS + "{group}/", None),
    "members add": ("post", GROUPS + "{group}/members/add/", {"contact_ids": ["{contact}"]}),
    "members remove": ("post", GROUPS + "{group}/members/remove/", {"contact_ids": ["{contact}"]}),
    "members list": ("get", GROUPS + "{group}/members/", None),
}

LISTS = [CONTACTS, GROUPS, CONTACTS + "export/"]


@pytest.fixture
def a_ids(tenant_a) -> dict[str, str]:
    """Tenant A's contacts and group, with everything an endpoint could change set."""
    group = create_group(tenant_a, "Form 2B", kind="class", description="Mwalimu Juma")
    guardian = create_contact(tenant_a, name="Mama Asha", phone="+255754000111")
    contact = create_contact(
        tenant_a,
        name="Asha",
        phone="+255712345678",
        email="asha@a.example",
        tags=["vip"],
        attributes={"class": "2B"},
        group_ids=[group.pk],
        guardian_ids=[guardian.pk],
    )
    opted_out = create_contact(tenant_a, name="Opted Out", group_ids=[group.pk])
    Contact.objects.filter(pk=opted_out.pk).update(opted_out_at=now(), opt_out_reason="STOP")
    return {"contact": str(contact.pk), "opted_out": str(opted_out.pk), "group": str(group.pk)}


def tenant_state(tenant) -> tuple[list, list]:
    contacts = [
        (
            c.pk,
            c.name,
            c.phone_e164,
            c.email,
            c.attributes,
            c.is_active,
            c.opted_out_at,
            c.opt_out_reason,
            c.updated_at,
            sorted(t.name for t in c.tags.all()),
            sorted(g.pk for g in c.groups.all()),
            sorted(g.pk for g in c.guardians.all()),
        )
        for c in Contact.objects.filter(tenant=tenant).order_by("pk")
    ]
    groups = [
        (g.pk, g.name, g.kind, g.description)
        for g in Group.objects.filter(tenant=tenant).order_by("pk")
    ]
    return contacts, groups


def fill(value, ids: dict[str, str]):
    """The endpoint's path or body with tenant A's ids put in."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    return value


def send(client, endpoint: str, ids: dict[str, str]):
    method, path, body = ENDPOINTS[endpoint]
    if body is None:
        return getattr(client, method)(fill(path, ids))
    return getattr(client, method)(fill(path, ids), fill(body, ids))


# --- Tenant A's ids, used by the outsider ------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_answers_404_to_an_outsider_and_changes_nothing(
    charlie_client, tenant_a, a_ids, endpoint
):
    before = tenant_state(tenant_a)

    response = send(charlie_client, endpoint, a_ids)

    assert response.status_code == 404, response.content
    body = response.json()
    assert body["success"] is False
    assert "Asha" not in response.content.decode()
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_lets_the_owner_use_the_same_request(alice_client, a_ids, endpoint):
    # The outsider's 404 above comes from the tenant, not from a broken request.
    response = send(alice_client, endpoint, a_ids)

    assert response.status_code in (200, 204), response.content


def test_it_says_no_contacts_found_to_an_outsider_bulk_editing(charlie_client, tenant_a, a_ids):
    response = send(charlie_client, "bulk edit", a_ids)

    assert response.json()["message"] == "No contacts found with the provided IDs"
    assert response.json()["updated_count"] == 0


@pytest.mark.parametrize("action", ["add", "remove"])
def test_it_refuses_tenant_a_contacts_in_an_outsiders_own_group(
    charlie_client, tenant_a, tenant_b, a_ids, action
):
    own_group = create_group(tenant_b, "Charlie's")
    before = tenant_state(tenant_a)

    response = charlie_client.post(
        f"{GROUPS}{own_group.pk}/members/{action}/", {"contact_ids": [a_ids["contact"]]}
    )

    assert_error(response, 404, "contacts_not_found")
    assert not own_group.contacts.exists()
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize("field", ["guardian_ids", "group_ids"])
def test_it_refuses_tenant_a_ids_as_an_outsiders_contacts_relations(
    charlie_client, tenant_a, a_ids, field
):
    related = a_ids["contact"] if field == "guardian_ids" else a_ids["group"]
    before = tenant_state(tenant_a)

    response = charlie_client.post(CONTACTS, {"phone_e164": "0733 000 111", field: [related]})

    assert_error(response, 400, "validation_error")
    assert not Contact.objects.filter(phone_e164="+254733000111").exists()
    assert tenant_state(tenant_a) == before


# --- Lists -------------------------------------------------------------------------------------


def test_it_lists_only_the_callers_contacts(charlie_client, tenant_b, a_ids):
    own = create_contact(tenant_b, name="Charlie's")

    body = charlie_client.get(CONTACTS).json()

    assert body["count"] == 1
    assert [row["id"] for row in body["results"]] == [str(own.pk)]


def test_it_lists_only_the_callers_groups(charlie_client, tenant_b, a_ids):
    own = create_group(tenant_b, "Charlie's")

    body = charlie_client.get(GROUPS).json()

    assert [row["id"] for row in body["results"]] == [str(own.pk)]


@pytest.mark.parametrize("search", ["Asha", "asha@a.example", "+255712345678", "+255"])
def test_it_finds_no_other_tenants_contacts_by_search(charlie_client, a_ids, search):
    assert charlie_client.get(CONTACTS, {"search": search}).json()["count"] == 0


def test_it_finds_no_contacts_with_another_tenants_group(charlie_client, a_ids):
    response = charlie_client.get(CONTACTS, {"group": a_ids["group"]})

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0


def test_it_finds_no_contacts_with_another_tenants_tag(charlie_client, tenant_b, a_ids):
    create_contact(tenant_b)

    assert charlie_client.get(CONTACTS, {"tag": "vip"}).json()["count"] == 0


def test_it_exports_only_the_callers_contacts_as_csv(charlie_client, tenant_b, a_ids):
    create_contact(tenant_b, name="Charlie's", attributes={"desk": "3"})

    response = charlie_client.get(CONTACTS + "export/", {"file_format": "csv"})

    text = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["name"] for row in rows] == ["Charlie's"]
    assert "class" not in rows[0]  # tenant A's attribute names are not columns either


def test_it_exports_only_the_callers_contacts_as_xlsx(charlie_client, tenant_b, a_ids):
    create_contact(tenant_b, name="Charlie's")

    response = charlie_client.get(CONTACTS + "export/", {"file_format": "xlsx"})

    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == ["Charlie's"]


def test_it_hides_the_outsiders_contacts_from_tenant_a_too(alice_client, tenant_b, a_ids):
    create_contact(tenant_b, name="Charlie's")

    names = {row["name"] for row in alice_client.get(CONTACTS).json()["results"]}

    assert "Charlie's" not in names
    assert names == {"Asha", "Mama Asha", "Opted Out"}


# --- No login ----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_answers_401_without_a_login_and_changes_nothing(anon, tenant_a, a_ids, endpoint):
    before = tenant_state(tenant_a)

    response = send(anon, endpoint, a_ids)

    assert_error(response, 401, "not_authenticated")
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize("path", LISTS)
def test_it_answers_401_to_a_list_without_a_login(anon, a_ids, path):
    response = anon.get(path)

    assert_error(response, 401, "not_authenticated")
    assert "Asha" not in response.content.decode()


@pytest.mark.parametrize("path", [CONTACTS, GROUPS])
def test_it_answers_401_to_a_create_without_a_login(anon, tenant_a, path):
    response = anon.post(path, {"name": "All Staff", "phone_e164": "+255712345678"})

    assert_error(response, 401, "not_authenticated")
    assert not Contact.objects.exists()
    assert not Group.objects.exists()
