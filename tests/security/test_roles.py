"""Roles and fields a caller must not set: every admin-only route refuses a member with 403
and changes nothing; fields that look writable but are the server's (`tenant`, `status`,
`cost`, `sent_count`, `is_staff`) are refused or ignored on every operation that takes a body."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import resolve

from mifumo.tenancy.models import User
from mifumo.tenancy.permissions import IsTenantAdmin
from tests.factories import PASSWORD, client_for
from tests.helpers import assert_error
from tests.security.world import (
    BODIES,
    MULTIPART,
    NO_BODY,
    Operation,
    body_for,
    call,
    changes,
    database_state,
    operation,
    operation_keys,
    operations,
    path_for,
)
from tests.tenancy.helpers import refresh_token_for

pytestmark = pytest.mark.django_db

# What a member may not do. Checked against the views' own permission classes below, so this
# list and the code cannot drift apart, and a new admin-only route must be added here.
ADMIN_ONLY = {
    "GET /api/auth/users/",
    "POST /api/auth/users/",
    "GET /api/auth/users/{id}/",
    "PATCH /api/auth/users/{id}/",
    "DELETE /api/auth/users/{id}/",
    "GET /api/auth/api-keys/",
    "POST /api/auth/api-keys/",
    "GET /api/auth/api-keys/{id}/",
    "DELETE /api/auth/api-keys/{id}/",
    "GET /api/messaging/audit-log/",
    "GET /api/messaging/audit-log/{id}/",
    "POST /api/messaging/sender-ids/",
    "DELETE /api/messaging/sender-ids/{id}/",
    "GET /api/communications/bulk-messages/",
    "POST /api/communications/bulk-messages/",
    "GET /api/communications/bulk-messages/{id}/",
    "PATCH /api/communications/bulk-messages/{id}/",
    "DELETE /api/communications/bulk-messages/{id}/",
    "GET /api/communications/recipient-groups/",
}

SIGNED_IN = operation_keys(lambda op: not op.public)


def view_requires_admin(op: Operation) -> bool:
    """What the view itself says: is IsTenantAdmin among its permissions for this method?"""
    url = op.path
    for param in op.path_params:
        url = url.replace("{" + param + "}", str(uuid.uuid4()))
    view = resolve(url).func
    instance = view.cls(**view.initkwargs)
    actions = getattr(view, "actions", None)
    if actions:  # a viewset: permissions may depend on the action
        instance.action_map = actions
        instance.action = actions.get(op.method)
    return any(isinstance(p, IsTenantAdmin) for p in instance.get_permissions())


def test_the_admin_only_list_matches_the_views():
    by_views = {op.key for op in operations() if not op.public and view_requires_admin(op)}
    assert by_views == ADMIN_ONLY


@pytest.mark.parametrize("key", sorted(ADMIN_ONLY))
def test_a_member_gets_403_from_an_admin_only_route_and_changes_nothing(world, key):
    op = operation(key)
    url = path_for(op, world)
    before = database_state()

    response = call(client_for(world.bob), op, world, url=url)

    assert_error(response, 403, "permission_denied")
    assert changes(before, database_state()) == {}


@pytest.mark.parametrize("key", sorted(set(SIGNED_IN) - ADMIN_ONLY))
def test_a_member_is_not_refused_for_their_role_elsewhere(world, key):
    # The other half: a route missing from ADMIN_ONLY that refuses members fails here.
    response = call(client_for(world.bob), operation(key), world)

    assert response.status_code != 403, response.content
    assert response.status_code < 500, response.content


# --- Fields that are the server's --------------------------------------------------------------

WITH_BODY = operation_keys(lambda op: bool(op.media_types))


def test_every_operation_with_a_body_has_a_valid_one_here():
    # A new endpoint needs a body in tests/security/world.py, so the checks below cover it.
    assert set(WITH_BODY) <= BODIES.keys() | MULTIPART.keys() | NO_BODY


INJECTED_COST = Decimal("123456")
INJECTED_SENT_COUNT = 9999


def injected(op: Operation, world) -> dict:
    status = {
        "/api/communications/": "Sent",
        "/api/messaging/sender-ids/": "approved",
        "/api/auth/users/": "active",
    }
    return {
        "tenant": str(world.tenant_b.pk),
        "tenant_id": str(world.tenant_b.pk),
        "status": next((v for k, v in status.items() if op.path.startswith(k)), "completed"),
        "cost": str(INJECTED_COST),
        "sent_count": INJECTED_SENT_COUNT,
        "is_staff": True,
        "is_superuser": True,
    }


def smuggled(found: dict, world, fields: dict) -> list[str]:
    """Values the request put into rows (added, or changed to) that are the injected ones."""
    wanted = {
        "tenant_id": world.tenant_b.pk,
        "status": fields["status"],
        "cost": INJECTED_COST,
        "sent_count": INJECTED_SENT_COUNT,
        "is_staff": True,
        "is_superuser": True,
    }
    bad = []
    for label, diff in found.items():
        pairs = [({}, row) for row in diff["added"]] + diff["changed"]
        for old, new in pairs:
            for name, value in wanted.items():
                if name in new and new[name] == value and old.get(name) != value:
                    bad.append(f"{label}.{name} = {value!r}")
    return bad


@pytest.mark.parametrize("key", WITH_BODY)
def test_server_fields_in_a_body_are_refused_or_ignored(world, key):
    op = operation(key)
    fields = injected(op, world)
    refresh = refresh_token_for(world.alice) if "refresh" in str(BODIES.get(key)) else ""
    body = body_for(op, world, refresh=refresh, password=PASSWORD) or {}
    url = path_for(op, world)
    before = database_state()

    response = call(client_for(world.alice), op, world, url=url, body={**body, **fields})

    assert response.status_code < 500, response.content
    if response.status_code < 300 and response.content:
        answer = response.json()
        answer = answer if isinstance(answer, dict) else {}
        assert answer.get("status") != fields["status"], answer
        assert answer.get("sent_count") != INJECTED_SENT_COUNT, answer
        assert answer.get("is_staff") is not True, answer
    assert smuggled(changes(before, database_state()), world, fields) == []
    assert not User.objects.filter(is_staff=True).exists()
