"""Charlie (tenant B's admin) against tenant A, on every route the schema lists: another
tenant's id is a 404 that changes nothing (the whole database is compared, not assumed),
lists never show another tenant's rows, and a body mixing the caller's ids with another
tenant's is refused whole."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils.timezone import now

from mifumo.delivery.models import Campaign, CampaignStatus
from mifumo.messaging.models import SenderId, SenderIdStatus, Template
from tests.factories import client_for, create_contact, create_group
from tests.helpers import assert_error
from tests.security.world import (
    MULTIPART,
    NOT_TENANT_OBJECTS,
    OWNED_BY_ROUTE,
    World,
    body_for,
    call,
    changes,
    database_state,
    operation,
    operation_keys,
    operations,
    path_for,
)

pytestmark = pytest.mark.django_db

ID_OPERATIONS = operation_keys(lambda op: op.path_params and op.path not in NOT_TENANT_OBJECTS)
LISTS = operation_keys(lambda op: op.method == "get" and not op.public and not op.path_params)


@pytest.mark.parametrize("key", ID_OPERATIONS)
def test_another_tenants_id_is_a_404_that_changes_nothing(world, key):
    op = operation(key)
    url = path_for(op, world)
    before = database_state()

    response = call(client_for(world.charlie), op, world, url=url)

    assert_error(response, 404)
    assert "Asha" not in response.content.decode()
    assert changes(before, database_state()) == {}


@pytest.mark.parametrize("key", ID_OPERATIONS)
def test_the_owner_reaches_the_same_object(world, key):
    # The control for the test above: its 404 comes from the tenant, not a broken request.
    response = call(client_for(world.alice), operation(key), world)

    assert response.status_code != 404 and response.status_code < 500, response.content


# --- Lists ---------------------------------------------------------------------------------------


def tenant_a_markers(world: World) -> set[str]:
    """Every id tenant A's rows have, with names only A uses, after building one of A's objects
    for every route."""
    for build in OWNED_BY_ROUTE.values():
        build(world)
    # Integer ids would match any number in a page: rows with those are found by their text.
    markers = {"Asha", "alice@a.example", "bob@a.example", "Kikao cha wazazi", "wazazi.csv"}
    markers.add(str(world.tenant_a.pk))
    for rows in database_state().values():
        for row in rows.values():
            if row.get("tenant_id") == world.tenant_a.pk and len(str(row.get("id"))) >= 32:
                markers.add(str(row["id"]))
    markers |= {str(world.alice.pk), str(world.bob.pk)}
    return markers


def query_with_tenant_a_ids(op, world: World) -> dict[str, str]:
    """Filters that take an object of A (?campaign=, ?group=, ?user=) are given one."""
    ids = {
        "campaign": str(Campaign.objects.filter(tenant=world.tenant_a).first().pk),
        "group": world.group,
        "contact": world.contact,
        "user": str(world.alice.pk),
    }
    names = {p["name"] for p in op.spec.get("parameters", []) if p["in"] == "query"}
    return {name: ids[name] for name in names & ids.keys()}


def text_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


@pytest.mark.parametrize("key", LISTS)
def test_reads_never_show_another_tenants_rows(world, key):
    op = operation(key)
    markers = tenant_a_markers(world)
    charlie = client_for(world.charlie)

    response = charlie.get(op.path, query_with_tenant_a_ids(op, world))

    assert response.status_code < 500, response.content
    text = text_of(response)
    assert not [marker for marker in markers if marker in text]


def test_the_owner_sees_their_rows_in_the_lists(world):
    # The control for the test above: the same reads do show tenant A's rows to tenant A.
    markers = tenant_a_markers(world)
    alice = client_for(world.alice)
    blind = []
    for op in operations():
        if op.key not in LISTS:
            continue
        if not any(marker in text_of(alice.get(op.path)) for marker in markers):
            blind.append(op.key)
    # Billing is off by default: no balance or ledger rows exist to show.
    assert set(blind) <= {
        "GET /api/messaging/sms/balance/",
        "GET /api/messaging/sms/ledger/",
        "GET /api/auth/me/",
    }, blind


# --- Bodies with ids ---------------------------------------------------------------------------


def _campaign(tenant, user) -> str:
    campaign = Campaign.objects.create(
        tenant=tenant,
        created_by=user,
        body="Habari",
        status=CampaignStatus.SCHEDULED,
        scheduled_at=now() + timedelta(days=2),
    )
    return str(campaign.pk)


def _sender(tenant, user) -> str:
    value = f"S{str(tenant.pk)[:8].upper()}"[:11]
    SenderId.objects.create(tenant=tenant, value=value, status=SenderIdStatus.APPROVED)
    return value


# A field naming a tenant's object -> a builder of one such object for (tenant, user).
ID_FIELDS = {
    "contact_id": lambda t, u: str(create_contact(t).pk),
    "contact_ids": lambda t, u: str(create_contact(t).pk),
    "guardian_ids": lambda t, u: str(create_contact(t).pk),
    "group_id": lambda t, u: str(create_group(t).pk),
    "group_ids": lambda t, u: str(create_group(t).pk),
    "template_id": lambda t, u: str(
        Template.objects.create(tenant=t, name=f"T {uuid.uuid4().hex[:6]}", body="Hi").pk
    ),
    "campaign_id": _campaign,
    "sender_id": _sender,
}


def id_fields(op) -> list[str]:
    """Request-body fields of the operation that name a tenant's object."""
    from tests.security.world import api_schema

    components = api_schema()["components"]["schemas"]

    def resolve(schema):
        while "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    found = set()
    for content in op.spec.get("requestBody", {}).get("content", {}).values():
        for name, prop in resolve(content["schema"]).get("properties", {}).items():
            prop = resolve(prop)
            fmt = prop.get("format") or resolve(prop.get("items", {})).get("format")
            if not prop.get("readOnly") and (name.endswith(("_id", "_ids")) or fmt == "uuid"):
                found.add(name)
    return sorted(found)


BODY_IDS = [(op.key, name) for op in operations() if not op.public for name in id_fields(op)]


def test_every_id_field_in_a_body_has_a_builder():
    assert {name for _key, name in BODY_IDS} <= ID_FIELDS.keys()


def body_with(op, world: World, name: str, value) -> dict:
    """The operation's valid body, with tenant B's ids, and `value` in the field `name`."""
    if op.key in MULTIPART:
        body = {}
    else:
        body = dict(body_for(op, world, contact=world.b_contact, group=world.b_group) or {})
    body[name] = value
    if name == "template_id":
        body.pop("message", None)  # a template or a message, not both
    return body


def charlie_url(op, world: World) -> str:
    """The operation's URL with one of tenant B's own objects in the path."""
    owner_object = {
        "/api/messaging/contacts/": lambda: world.b_contact,
        "/api/messaging/groups/": lambda: world.b_group,
        "/api/messaging/templates/": lambda: ID_FIELDS["template_id"](world.tenant_b, None),
    }
    url = op.path
    for param in op.path_params:
        prefix = next(p for p in owner_object if op.path.startswith(p))
        url = url.replace("{" + param + "}", owner_object[prefix]())
    return url


def send_as_charlie(op, world: World, url: str, name: str, ids: list[str]):
    value = ids if name.endswith("_ids") else ids[0]
    return call(
        client_for(world.charlie), op, world, url=url, body=body_with(op, world, name, value)
    )


@pytest.mark.parametrize(("key", "name"), BODY_IDS)
def test_a_body_mixing_own_and_foreign_ids_changes_nothing(world, key, name):
    op = operation(key)
    own = ID_FIELDS[name](world.tenant_b, world.charlie)
    foreign = ID_FIELDS[name](world.tenant_a, world.alice)
    url = charlie_url(op, world)
    before = database_state()

    response = send_as_charlie(
        op, world, url, name, [foreign, own] if name.endswith("s") else [foreign]
    )

    assert response.status_code in (400, 404), response.content
    assert changes(before, database_state()) == {}


@pytest.mark.parametrize(("key", "name"), BODY_IDS)
def test_the_same_body_with_only_own_ids_is_accepted(world, key, name):
    # The control for the test above: the body is valid, only the foreign id is refused.
    op = operation(key)
    own = ID_FIELDS[name](world.tenant_b, world.charlie)

    response = send_as_charlie(op, world, charlie_url(op, world), name, [own])

    assert response.status_code < 300, response.content
