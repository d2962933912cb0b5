"""/api/auth/users/ and /api/auth/users/<id>/: admins manage their organisation's users."""

from __future__ import annotations

import uuid

import pytest

from mifumo.tenancy.models import Role, User
from tests.factories import PASSWORD, create_user
from tests.helpers import assert_error
from tests.tenancy.helpers import login, refresh, refresh_token_for

URL = "/api/auth/users/"

pytestmark = pytest.mark.django_db


def detail_url(user) -> str:
    return f"{URL}{user.pk}/"


def new_member(**overrides) -> dict:
    body = {"email": "dora@a.example", "name": "Dora", "password": PASSWORD, "role": "member"}
    body.update(overrides)
    return body


def role_of(user) -> str:
    return User.objects.select_related("membership").get(pk=user.pk).membership.role


# --- Listing ----------------------------------------------------------------------------------


def test_it_lists_the_tenants_users_for_an_admin(alice_client, alice, bob, charlie):
    response = alice_client.get(URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert {u["email"] for u in body["results"]} == {"alice@a.example", "bob@a.example"}


def test_it_shows_each_users_role(alice_client, alice, bob):
    results = alice_client.get(URL).json()["results"]

    assert {u["email"]: u["role"] for u in results} == {
        "alice@a.example": "admin",
        "bob@a.example": "member",
    }


def test_it_never_lists_password_hashes(alice_client, alice, bob):
    response = alice_client.get(URL)

    assert "password" not in response.content.decode()
    assert alice.password not in response.content.decode()


def test_it_lists_only_the_outsiders_own_users(charlie_client, alice, bob, charlie):
    results = charlie_client.get(URL).json()["results"]

    assert [u["email"] for u in results] == ["charlie@b.example"]


def test_it_refuses_the_list_to_a_member(bob_client):
    response = bob_client.get(URL)

    assert_error(response, 403, "permission_denied")


def test_it_refuses_the_list_to_an_anonymous_caller(anon):
    response = anon.get(URL)

    assert_error(response, 401, "not_authenticated")


# --- Adding -----------------------------------------------------------------------------------


def test_it_adds_a_member(alice_client, tenant_a):
    response = alice_client.post(URL, new_member())

    assert response.status_code == 201, response.content
    assert response.json()["email"] == "dora@a.example"
    assert response.json()["role"] == "member"
    dora = User.objects.select_related("membership").get(email="dora@a.example")
    assert dora.membership.tenant == tenant_a


def test_it_lets_an_added_member_log_in(alice_client, anon):
    alice_client.post(URL, new_member())

    response = login(anon, "dora@a.example")

    assert response.status_code == 200, response.content


def test_it_adds_an_admin(alice_client):
    response = alice_client.post(URL, new_member(role="admin"))

    assert response.status_code == 201, response.content
    assert response.json()["role"] == "admin"


def test_it_adds_a_member_when_no_role_is_given(alice_client):
    body = new_member()
    del body["role"]

    response = alice_client.post(URL, body)

    assert response.status_code == 201, response.content
    assert response.json()["role"] == "member"


def test_it_refuses_adding_to_a_member(bob_client):
    response = bob_client.post(URL, new_member())

    assert_error(response, 403, "permission_denied")
    assert not User.objects.filter(email="dora@a.example").exists()


def test_it_rejects_a_duplicate_email(alice_client, bob):
    response = alice_client.post(URL, new_member(email="BOB@a.example"))

    body = assert_error(response, 400, "email_taken")
    assert body["details"]["email"]


def test_it_rejects_an_email_used_in_another_tenant(alice_client, charlie):
    response = alice_client.post(URL, new_member(email="charlie@b.example"))

    assert_error(response, 400, "email_taken")
    assert role_of(charlie) == Role.ADMIN


def test_it_rejects_an_unknown_role(alice_client):
    response = alice_client.post(URL, new_member(role="owner"))

    body = assert_error(response, 400, "validation_error")
    assert "role" in body["details"]


def test_it_rejects_a_weak_password_for_a_new_member(alice_client):
    response = alice_client.post(URL, new_member(password="password"))

    body = assert_error(response, 400, "validation_error")
    assert body["details"]["password"]


def test_it_rejects_an_unknown_field_when_adding(alice_client):
    response = alice_client.post(URL, new_member(tenant=str(uuid.uuid4())))

    body = assert_error(response, 400, "validation_error")
    assert list(body["details"]) == ["tenant"]


# --- Reading, changing, deactivating -----------------------------------------------------------


def test_it_shows_a_user_to_an_admin(alice_client, bob):
    response = alice_client.get(detail_url(bob))

    assert response.status_code == 200, response.content
    assert response.json()["email"] == "bob@a.example"


def test_it_refuses_the_detail_to_a_member(bob_client, alice):
    response = bob_client.get(detail_url(alice))

    assert_error(response, 403, "permission_denied")


def test_it_refuses_a_patch_to_a_member(bob_client, bob):
    response = bob_client.patch(detail_url(bob), {"role": "admin"})

    assert_error(response, 403, "permission_denied")
    assert role_of(bob) == Role.MEMBER


def test_it_refuses_a_delete_to_a_member(bob_client, alice):
    response = bob_client.delete(detail_url(alice))

    assert_error(response, 403, "permission_denied")
    alice.refresh_from_db()
    assert alice.is_active


def test_it_changes_a_role(alice_client, bob):
    response = alice_client.patch(detail_url(bob), {"role": "admin"})

    assert response.status_code == 200, response.content
    assert response.json()["role"] == "admin"
    assert role_of(bob) == Role.ADMIN


def test_it_renames_a_user(alice_client, bob):
    response = alice_client.patch(detail_url(bob), {"name": "  Robert "})

    assert response.status_code == 200, response.content
    bob.refresh_from_db()
    assert bob.name == "Robert"


def test_it_rejects_an_unknown_field_in_a_patch(alice_client, bob):
    response = alice_client.patch(detail_url(bob), {"email": "robert@a.example"})

    body = assert_error(response, 400, "validation_error")
    assert list(body["details"]) == ["email"]
    bob.refresh_from_db()
    assert bob.email == "bob@a.example"


def test_it_rejects_put(alice_client, bob):
    response = alice_client.put(detail_url(bob), {"name": "Robert"})

    assert_error(response, 405, "method_not_allowed")


def test_it_deactivates_a_user_on_delete(alice_client, bob):
    response = alice_client.delete(detail_url(bob))

    assert response.status_code == 204
    bob.refresh_from_db()
    assert not bob.is_active


def test_it_stops_a_deactivated_user_logging_in(alice_client, anon, bob):
    alice_client.delete(detail_url(bob))

    assert_error(login(anon, "bob@a.example"), 401, "no_active_account")


def test_it_stops_a_deactivated_user_refreshing(alice_client, anon, bob):
    token = login(anon, "bob@a.example").json()["refresh"]

    alice_client.delete(detail_url(bob))

    assert_error(refresh(anon, token), 401)


def test_it_stops_a_deactivated_users_access_token(alice_client, bob_client, bob):
    alice_client.delete(detail_url(bob))

    assert_error(bob_client.get("/api/auth/me/"), 401, "user_inactive")


def test_it_does_not_revive_old_refresh_tokens_on_reactivation(alice_client, anon, bob):
    token = refresh_token_for(bob)
    alice_client.delete(detail_url(bob))

    alice_client.patch(detail_url(bob), {"is_active": True})

    assert login(anon, "bob@a.example").status_code == 200
    assert_error(refresh(anon, token), 401, "token_not_valid")


def test_it_refuses_to_let_the_last_admin_demote_themselves(alice_client, alice, bob):
    response = alice_client.patch(detail_url(alice), {"role": "member"})

    assert_error(response, 400, "last_admin")
    assert role_of(alice) == Role.ADMIN


def test_it_refuses_to_let_the_last_admin_deactivate_themselves(alice_client, alice, bob):
    response = alice_client.delete(detail_url(alice))

    assert_error(response, 400, "last_admin")
    alice.refresh_from_db()
    assert alice.is_active


def test_it_refuses_to_deactivate_the_last_admin_by_patch(alice_client, alice):
    response = alice_client.patch(detail_url(alice), {"is_active": False})

    assert_error(response, 400, "last_admin")
    alice.refresh_from_db()
    assert alice.is_active


def test_it_lets_an_admin_step_down_when_another_admin_remains(alice_client, alice, tenant_a):
    create_user(tenant_a, role=Role.ADMIN, email="erasto@a.example")

    response = alice_client.patch(detail_url(alice), {"role": "member"})

    assert response.status_code == 200, response.content
    assert role_of(alice) == Role.MEMBER


def test_it_does_not_count_an_inactive_admin_as_remaining(alice_client, alice, tenant_a):
    create_user(tenant_a, role=Role.ADMIN, email="erasto@a.example", is_active=False)

    response = alice_client.patch(detail_url(alice), {"role": "member"})

    assert_error(response, 400, "last_admin")


def test_it_does_not_count_another_tenants_admin_as_remaining(alice_client, alice, charlie):
    response = alice_client.delete(detail_url(alice))

    assert_error(response, 400, "last_admin")


def test_it_answers_an_unknown_user_id_with_404(alice_client):
    response = alice_client.get(f"{URL}{uuid.uuid4()}/")

    assert_error(response, 404, "not_found")


# --- The outsider -----------------------------------------------------------------------------


def test_it_hides_another_tenants_user_from_get(charlie_client, bob):
    response = charlie_client.get(detail_url(bob))

    assert_error(response, 404, "not_found")


def test_it_hides_another_tenants_user_from_patch(charlie_client, bob):
    response = charlie_client.patch(detail_url(bob), {"role": "admin", "name": "Pwned"})

    assert_error(response, 404, "not_found")
    bob.refresh_from_db()
    assert bob.name == "Bob"
    assert role_of(bob) == Role.MEMBER


def test_it_hides_another_tenants_user_from_delete(charlie_client, alice):
    response = charlie_client.delete(detail_url(alice))

    assert_error(response, 404, "not_found")
    alice.refresh_from_db()
    assert alice.is_active


def test_it_answers_the_same_404_for_another_tenants_user_and_an_unknown_id(charlie_client, bob):
    outsider = charlie_client.get(detail_url(bob)).json()

    unknown = charlie_client.get(f"{URL}{uuid.uuid4()}/").json()

    assert outsider == unknown
