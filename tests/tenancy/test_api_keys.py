"""/api/auth/api-keys/ and `Authorization: Api-Key <key>`: keys for server-to-server calls."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from mifumo.tenancy.models import ApiKey, Role, Tenant
from tests.factories import create_user
from tests.helpers import assert_error
from tests.tenancy.helpers import api_key_client, issue_api_key

URL = "/api/auth/api-keys/"
ME = "/api/auth/me/"

pytestmark = pytest.mark.django_db


def detail_url(key: ApiKey) -> str:
    return f"{URL}{key.pk}/"


def get_me(authorization: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get(ME)


# --- Creating and using -----------------------------------------------------------------------


def test_it_creates_a_key_and_shows_it_once(alice_client):
    response = alice_client.post(URL, {"name": "School website", "role": "member"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "School website"
    assert body["role"] == "member"
    assert body["created_by"] == "alice@a.example"
    assert body["key"].startswith("mif_")


def test_it_never_shows_the_key_again(alice_client):
    created = alice_client.post(URL, {"name": "School website"}).json()

    response = alice_client.get(f"{URL}{created['id']}/")

    assert response.status_code == 200, response.content
    assert "key" not in response.json()
    assert created["key"] not in response.content.decode()


def test_it_stores_only_a_hash_of_the_key(alice_client):
    plain = alice_client.post(URL, {"name": "School website"}).json()["key"]

    key = ApiKey.objects.get()
    secret = plain.split("_", 2)[2]
    assert secret not in key.secret_hash
    assert key.matches(secret)


def test_it_authenticates_with_a_key(alice_client):
    plain = alice_client.post(URL, {"name": "School website", "role": "member"}).json()["key"]

    response = api_key_client(plain).get(ME)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["auth"] == "api_key"
    assert body["role"] == "member"
    assert body["user"]["email"] == "alice@a.example"
    assert body["tenant"]["name"] == "Shule ya Msingi A"


def test_it_gives_an_admin_key_the_admin_role(alice_client):
    plain = alice_client.post(URL, {"name": "Sync job", "role": "admin"}).json()["key"]

    response = api_key_client(plain).get(ME)

    assert response.json()["role"] == "admin"


def test_it_lets_an_admin_key_manage_users(alice_client, bob):
    plain = alice_client.post(URL, {"name": "Sync job", "role": "admin"}).json()["key"]

    response = api_key_client(plain).get("/api/auth/users/")

    assert response.status_code == 200, response.content


def test_it_defaults_a_key_to_the_member_role(alice_client):
    response = alice_client.post(URL, {"name": "School website"})

    assert response.json()["role"] == "member"


def test_it_accepts_the_scheme_in_any_letter_case(alice):
    _, plain = issue_api_key(alice)

    response = get_me(f"api-key {plain}")

    assert response.status_code == 200, response.content


def test_it_records_when_a_key_was_last_used(alice):
    key, plain = issue_api_key(alice)

    api_key_client(plain).get(ME)

    key.refresh_from_db()
    assert key.last_used_at is not None


def test_it_rejects_an_unknown_role_for_a_key(alice_client):
    response = alice_client.post(URL, {"name": "Sync job", "role": "owner"})

    body = assert_error(response, 400, "validation_error")
    assert "role" in body["details"]


def test_it_rejects_an_unknown_field_for_a_key(alice_client):
    response = alice_client.post(URL, {"name": "Sync job", "scopes": ["sms"]})

    body = assert_error(response, 400, "validation_error")
    assert list(body["details"]) == ["scopes"]


def test_it_names_the_missing_key_name(alice_client):
    response = alice_client.post(URL, {"role": "member"})

    body = assert_error(response, 400, "validation_error")
    assert "name" in body["details"]


# --- Listing ----------------------------------------------------------------------------------


def test_it_lists_the_tenants_keys(alice_client, alice, charlie):
    issue_api_key(alice)
    issue_api_key(charlie)

    response = alice_client.get(URL)

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1
    assert response.json()["results"][0]["created_by"] == "alice@a.example"


def test_it_never_lists_the_key_or_its_hash(alice_client):
    plain = alice_client.post(URL, {"name": "School website"}).json()["key"]
    key = ApiKey.objects.get()

    response = alice_client.get(URL)

    text = response.content.decode()
    assert response.json()["count"] == 1
    assert plain not in text
    assert plain.split("_", 2)[2] not in text
    assert key.secret_hash not in text
    assert "key" not in response.json()["results"][0]
    assert "secret_hash" not in response.json()["results"][0]


# --- Members ----------------------------------------------------------------------------------


def test_it_refuses_key_creation_to_a_member(bob_client):
    response = bob_client.post(URL, {"name": "Mine"})

    assert_error(response, 403, "permission_denied")
    assert not ApiKey.objects.exists()


def test_it_refuses_the_key_list_to_a_member(bob_client, alice):
    issue_api_key(alice)

    response = bob_client.get(URL)

    assert_error(response, 403, "permission_denied")


def test_it_refuses_revoking_to_a_member(bob_client, alice):
    key, plain = issue_api_key(alice)

    response = bob_client.delete(detail_url(key))

    assert_error(response, 403, "permission_denied")
    assert api_key_client(plain).get(ME).status_code == 200


def test_it_refuses_the_users_list_to_a_member_key(alice):
    _, plain = issue_api_key(alice, role=Role.MEMBER)

    response = api_key_client(plain).get("/api/auth/users/")

    assert_error(response, 403, "permission_denied")


def test_it_refuses_key_creation_to_a_member_key(alice):
    _, plain = issue_api_key(alice, role=Role.MEMBER)

    response = api_key_client(plain).post(URL, {"name": "Escalate", "role": "admin"})

    assert_error(response, 403, "permission_denied")
    assert ApiKey.objects.count() == 1


# --- Revoking ---------------------------------------------------------------------------------


def test_it_revokes_a_key(alice_client, alice):
    key, _ = issue_api_key(alice)

    response = alice_client.delete(detail_url(key))

    assert response.status_code == 204
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_it_refuses_a_revoked_key(alice_client, alice):
    key, plain = issue_api_key(alice)

    alice_client.delete(detail_url(key))

    assert_error(api_key_client(plain).get(ME), 401, "bad_api_key")


def test_it_answers_revoking_twice_with_204(alice_client, alice):
    key, _ = issue_api_key(alice)
    alice_client.delete(detail_url(key))

    response = alice_client.delete(detail_url(key))

    assert response.status_code == 204


def test_it_answers_an_unknown_key_id_with_404(alice_client):
    response = alice_client.delete(f"{URL}{uuid.uuid4()}/")

    assert_error(response, 404, "not_found")


# --- The outsider -----------------------------------------------------------------------------


def test_it_hides_another_tenants_key_from_get(charlie_client, alice):
    key, _ = issue_api_key(alice)

    response = charlie_client.get(detail_url(key))

    assert_error(response, 404, "not_found")


def test_it_hides_another_tenants_key_from_delete(charlie_client, alice):
    key, plain = issue_api_key(alice)

    response = charlie_client.delete(detail_url(key))

    assert_error(response, 404, "not_found")
    key.refresh_from_db()
    assert key.revoked_at is None
    assert api_key_client(plain).get(ME).status_code == 200


def test_it_gives_another_tenants_admin_key_nothing_in_this_tenant(charlie, alice):
    _, plain = issue_api_key(charlie, role=Role.ADMIN)

    response = api_key_client(plain).get("/api/auth/users/")

    assert [u["email"] for u in response.json()["results"]] == ["charlie@b.example"]


# --- Keys that must not work ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Api-Key", id="no-key"),
        pytest.param("Api-Key abc_{id}_{secret}", id="wrong-prefix"),
        pytest.param("Api-Key mif_{id}", id="missing-secret"),
        pytest.param("Api-Key mif_{id}_", id="empty-secret"),
        pytest.param("Api-Key mif__{secret}", id="empty-id"),
        pytest.param("Api-Key {id}_{secret}", id="missing-prefix"),
        pytest.param("Api-Key mif_{id}_{secret}x", id="wrong-secret"),
        pytest.param("Api-Key mif_000000000000_{secret}", id="unknown-id"),
        pytest.param("Api-Key {key} {key}", id="key-twice"),
        pytest.param("Api-Key {key} extra", id="extra-part"),
        # Header bytes reach Django decoded as latin-1, whatever the client meant.
        pytest.param("Api-Key {key}\xe9", id="lone-non-ascii-byte"),
        pytest.param("Api-Key {key}" + "é".encode().decode("latin-1"), id="utf8-bytes"),
        pytest.param("Api-Key mif_\xff\xfe_{secret}", id="invalid-utf8-id"),
    ],
)
def test_it_refuses_a_malformed_api_key_header(alice, header):
    _, plain = issue_api_key(alice)
    _, lookup_id, secret = plain.split("_", 2)

    response = get_me(header.format(key=plain, id=lookup_id, secret=secret))

    assert_error(response, 401, "bad_api_key")


def test_it_refuses_a_key_whose_creator_was_deactivated(alice_client, tenant_a):
    dora = create_user(tenant_a, role=Role.ADMIN, email="dora@a.example")
    _, plain = issue_api_key(dora, role=Role.ADMIN)

    alice_client.delete(f"/api/auth/users/{dora.pk}/")

    assert_error(api_key_client(plain).get(ME), 401, "bad_api_key")


def test_it_refuses_a_key_of_a_deactivated_tenant(alice, tenant_a):
    _, plain = issue_api_key(alice)
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)

    assert_error(api_key_client(plain).get(ME), 401, "bad_api_key")


def test_it_limits_a_key_to_its_creators_current_role(alice_client, tenant_a):
    # A key acts for the admin who created it, never with more than that admin's role: an
    # admin demoted to member must not keep admin powers through a key made earlier.
    dora = create_user(tenant_a, role=Role.ADMIN, email="dora@a.example")
    _, plain = issue_api_key(dora, role=Role.ADMIN)

    alice_client.patch(f"/api/auth/users/{dora.pk}/", {"role": "member"})

    assert_error(api_key_client(plain).get("/api/auth/users/"), 403, "permission_denied")


def test_it_shows_a_key_of_a_demoted_admin_as_a_member_key(alice_client, tenant_a):
    dora = create_user(tenant_a, role=Role.ADMIN, email="dora@a.example")
    _, plain = issue_api_key(dora, role=Role.ADMIN)

    alice_client.patch(f"/api/auth/users/{dora.pk}/", {"role": "member"})

    assert api_key_client(plain).get(ME).json()["role"] == "member"
