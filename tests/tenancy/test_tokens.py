"""Login, refresh and logout: POST /api/auth/token/, /api/auth/token/refresh/, /api/auth/logout/."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from mifumo.tenancy.models import Tenant, User
from tests.factories import PASSWORD, create_user
from tests.helpers import assert_error
from tests.tenancy.helpers import login, refresh, refresh_token_for

pytestmark = pytest.mark.django_db


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_it_issues_an_access_and_a_refresh_token(anon, alice):
    response = login(anon, "alice@a.example")

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}


def test_it_issues_an_access_token_that_works_on_me(anon, alice):
    access = login(anon, "alice@a.example").json()["access"]

    response = bearer(access).get("/api/auth/me/")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == "alice@a.example"


def test_it_ignores_the_letter_case_of_the_email(anon, alice):
    response = login(anon, "  Alice@A.EXAMPLE")

    assert response.status_code == 200, response.content
    assert response.json()["access"]


def test_it_records_the_login_time(anon, alice):
    login(anon, "alice@a.example")

    alice.refresh_from_db()
    assert alice.last_login is not None


def test_it_rejects_a_wrong_password(anon, alice):
    response = login(anon, "alice@a.example", "not the password")

    assert_error(response, 401, "no_active_account")


def test_it_answers_an_unknown_email_as_a_wrong_password(anon, alice):
    wrong_password = login(anon, "alice@a.example", "not the password").json()

    unknown_email = login(anon, "nobody@a.example").json()

    assert unknown_email == wrong_password


def test_it_names_the_missing_password(anon, alice):
    response = anon.post("/api/auth/token/", {"email": "alice@a.example"})

    body = assert_error(response, 400, "validation_error")
    assert "password" in body["details"]


def test_it_rejects_an_unknown_field_on_login(anon, alice):
    response = anon.post(
        "/api/auth/token/", {"email": "alice@a.example", "password": PASSWORD, "otp": "1"}
    )

    body = assert_error(response, 400, "validation_error")
    assert list(body["details"]) == ["otp"]


def test_it_refuses_login_to_a_deactivated_user(anon, alice):
    alice.is_active = False
    alice.save()

    response = login(anon, "alice@a.example")

    assert_error(response, 401, "no_active_account")


def test_it_refuses_login_to_a_user_of_a_deactivated_tenant(anon, alice, tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)

    response = login(anon, "alice@a.example")

    assert_error(response, 401, "no_active_account")


def test_it_refuses_login_to_a_user_without_a_tenant(anon):
    User.objects.create_user(email="loner@example.org", password=PASSWORD, name="Loner")

    response = login(anon, "loner@example.org")

    assert_error(response, 401, "no_active_account")


def test_it_rotates_the_refresh_token(anon, alice):
    old = login(anon, "alice@a.example").json()["refresh"]

    response = refresh(anon, old)

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}
    assert response.json()["refresh"] != old


def test_it_issues_a_working_access_token_on_refresh(anon, alice):
    old = login(anon, "alice@a.example").json()["refresh"]

    access = refresh(anon, old).json()["access"]

    assert bearer(access).get("/api/auth/me/").status_code == 200


def test_it_accepts_the_rotated_refresh_token(anon, alice):
    old = login(anon, "alice@a.example").json()["refresh"]
    new = refresh(anon, old).json()["refresh"]

    response = refresh(anon, new)

    assert response.status_code == 200, response.content


def test_it_refuses_a_refresh_token_already_rotated(anon, alice):
    old = login(anon, "alice@a.example").json()["refresh"]
    refresh(anon, old)

    response = refresh(anon, old)

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_to_refresh_for_a_deactivated_user(anon, alice):
    token = refresh_token_for(alice)
    alice.is_active = False
    alice.save()

    response = refresh(anon, token)

    assert_error(response, 401, "no_active_account")


def test_it_refuses_an_access_token_of_a_deactivated_user(alice_client, alice):
    alice.is_active = False
    alice.save()

    response = alice_client.get("/api/auth/me/")

    assert_error(response, 401, "user_inactive")


def test_it_refuses_to_refresh_for_a_user_of_a_deactivated_tenant(anon, alice, tenant_a):
    token = refresh_token_for(alice)
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)

    response = refresh(anon, token)

    assert_error(response, 401, "no_active_account")


def test_it_refuses_an_access_token_of_a_user_of_a_deactivated_tenant(alice_client, tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)

    response = alice_client.get("/api/auth/me/")

    assert_error(response, 401, "user_inactive")


def test_it_leaves_other_tenants_alone_when_one_is_deactivated(charlie_client, tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)

    response = charlie_client.get("/api/auth/me/")

    assert response.status_code == 200, response.content


def test_it_blacklists_the_refresh_token_on_logout(anon, alice):
    token = login(anon, "alice@a.example").json()["refresh"]

    response = anon.post("/api/auth/logout/", {"refresh": token})

    assert response.status_code == 200, response.content
    assert_error(refresh(anon, token), 401, "token_not_valid")


def test_it_keeps_other_sessions_on_logout(anon, alice):
    phone = login(anon, "alice@a.example").json()["refresh"]
    laptop = login(anon, "alice@a.example").json()["refresh"]

    anon.post("/api/auth/logout/", {"refresh": laptop})

    assert refresh(anon, phone).status_code == 200


def test_it_rejects_logout_with_a_garbage_token(anon):
    response = anon.post("/api/auth/logout/", {"refresh": "not-a-token"})

    assert_error(response, 401, "token_not_valid")


def test_it_rejects_logout_without_a_token(anon):
    response = anon.post("/api/auth/logout/", {})

    body = assert_error(response, 400, "validation_error")
    assert "refresh" in body["details"]


def test_it_refuses_a_refresh_token_of_a_deleted_user(anon, tenant_a):
    dave = create_user(tenant_a, email="dave@a.example")
    token = refresh_token_for(dave)
    dave.delete()

    response = refresh(anon, token)

    assert_error(response, 401, "no_active_account")


def test_it_refuses_to_refresh_a_garbage_token(anon):
    response = refresh(anon, "garbage")

    assert_error(response, 401, "token_not_valid")


def test_it_names_the_missing_refresh_token(anon):
    response = anon.post("/api/auth/token/refresh/", {})

    body = assert_error(response, 400, "validation_error")
    assert "refresh" in body["details"]


def test_it_throttles_logins_from_one_address(anon, alice, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    for _ in range(3):
        login(anon, "alice@a.example", "guess")

    response = login(anon, "alice@a.example")

    body = assert_error(response, 429, "throttled")
    assert int(response.headers["Retry-After"]) >= 1
    assert body["details"]["retry_after_seconds"] >= 1
