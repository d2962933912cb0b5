"""POST /api/auth/register/: a new organisation and its first admin, and how the API treats
bodies it cannot read."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from mifumo.tenancy.models import Membership, Role, Tenant, User
from tests.factories import PASSWORD
from tests.helpers import assert_error

URL = "/api/auth/register/"

pytestmark = pytest.mark.django_db


def registration(**overrides) -> dict:
    body = {
        "organization": "Shule ya Upili Mwanza",
        "name": "Neema Mushi",
        "email": "neema@mwanza.example",
        "password": PASSWORD,
    }
    body.update(overrides)
    return body


def post_raw(client: APIClient, body: str | bytes, content_type: str = "application/json"):
    return client.post(URL, body, content_type=content_type)


def test_it_creates_a_tenant_and_its_first_admin(anon):
    response = anon.post(URL, registration())

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"tenant", "user", "access", "refresh"}
    assert body["tenant"]["name"] == "Shule ya Upili Mwanza"
    assert body["user"]["email"] == "neema@mwanza.example"
    assert body["user"]["role"] == "admin"
    membership = Membership.objects.select_related("tenant").get(user__email="neema@mwanza.example")
    assert str(membership.tenant.id) == body["tenant"]["id"]
    assert membership.role == Role.ADMIN


def test_it_returns_an_access_token_that_works_on_me(anon):
    access = anon.post(URL, registration()).json()["access"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = client.get("/api/auth/me/")

    assert response.status_code == 200, response.content
    me = response.json()
    assert me["user"]["email"] == "neema@mwanza.example"
    assert me["tenant"]["name"] == "Shule ya Upili Mwanza"
    assert me["role"] == "admin"
    assert me["auth"] == "jwt"


def test_it_returns_a_refresh_token_that_works(anon):
    token = anon.post(URL, registration()).json()["refresh"]

    response = anon.post("/api/auth/token/refresh/", {"refresh": token})

    assert response.status_code == 200, response.content
    assert response.json()["access"]


def test_it_does_not_return_the_password(anon):
    response = anon.post(URL, registration())

    assert PASSWORD not in response.content.decode()


def test_it_defaults_the_country_to_tanzania(anon):
    tenant = anon.post(URL, registration()).json()["tenant"]

    assert tenant["default_region"] == "TZ"
    assert tenant["timezone"] == "Africa/Dar_es_Salaam"


def test_it_takes_the_timezone_from_the_country(anon):
    tenant = anon.post(URL, registration(country="KE")).json()["tenant"]

    assert tenant["default_region"] == "KE"
    assert tenant["timezone"] == "Africa/Nairobi"


def test_it_accepts_a_lower_case_country_code(anon):
    response = anon.post(URL, registration(country="ug"))

    assert response.status_code == 201, response.content
    assert response.json()["tenant"]["default_region"] == "UG"
    assert response.json()["tenant"]["timezone"] == "Africa/Kampala"


def test_it_keeps_a_timezone_given_with_the_country(anon):
    response = anon.post(URL, registration(country="KE", timezone="Africa/Dar_es_Salaam"))

    assert response.status_code == 201, response.content
    assert response.json()["tenant"]["timezone"] == "Africa/Dar_es_Salaam"


def test_it_rejects_an_unknown_timezone(anon):
    response = anon.post(URL, registration(timezone="Africa/Atlantis"))

    body = assert_error(response, 400, "validation_error")
    assert "timezone" in body["details"]


def test_it_stores_the_email_in_lower_case(anon):
    response = anon.post(URL, registration(email="Neema@Mwanza.Example"))

    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == "neema@mwanza.example"
    assert User.objects.filter(email="neema@mwanza.example").exists()


def test_it_rejects_an_email_already_taken(anon, alice):
    response = anon.post(URL, registration(email="alice@a.example"))

    body = assert_error(response, 400, "email_taken")
    assert body["details"]["email"]


def test_it_rejects_an_email_taken_in_another_letter_case(anon, alice):
    response = anon.post(URL, registration(email="ALICE@A.Example"))

    body = assert_error(response, 400, "email_taken")
    assert body["details"]["email"]


def test_it_creates_no_tenant_when_the_email_is_taken(anon, alice):
    tenants = Tenant.objects.count()

    anon.post(URL, registration(email="alice@a.example"))

    assert Tenant.objects.count() == tenants


@pytest.mark.parametrize("password", ["password", "12345678901", "Xy7!q"])
def test_it_rejects_a_weak_password(anon, password):
    response = anon.post(URL, registration(password=password))

    body = assert_error(response, 400, "validation_error")
    assert body["details"]["password"]
    assert not User.objects.filter(email="neema@mwanza.example").exists()


def test_it_rejects_a_password_like_the_email(anon):
    response = anon.post(URL, registration(password="neema@mwanza.example"))

    body = assert_error(response, 400, "validation_error")
    assert body["details"]["password"]


def test_it_rejects_an_unknown_field_and_names_it(anon):
    response = anon.post(URL, registration(emial="neema@mwanza.example"))

    body = assert_error(response, 400, "validation_error")
    assert list(body["details"]) == ["emial"]
    assert "emial" in body["message"]


def test_it_names_every_missing_field(anon):
    response = anon.post(URL, {})

    body = assert_error(response, 400, "validation_error")
    assert {"organization", "name", "email", "password"} <= set(body["details"])


def test_it_rejects_an_invalid_email(anon):
    response = anon.post(URL, registration(email="neema-at-mwanza"))

    body = assert_error(response, 400, "validation_error")
    assert "email" in body["details"]


@pytest.mark.parametrize("country", ["XX", "KEN", "K", "12"])
def test_it_rejects_a_bad_country_code(anon, country):
    response = anon.post(URL, registration(country=country))

    body = assert_error(response, 400, "validation_error")
    assert "country" in body["details"]


def test_it_rejects_malformed_json(anon):
    response = post_raw(anon, '{"organization": "Shule", "name": ')

    assert_error(response, 400, "parse_error")


def test_it_rejects_a_body_that_is_not_utf8(anon):
    response = post_raw(anon, b'{"organization": "Shule \xff\xfe"}')

    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize("charset", ["rot13", "hex"])
def test_it_rejects_a_charset_that_is_not_a_text_encoding(anon, charset):
    # Python knows both codecs, so Django accepts them as the request's encoding.
    response = post_raw(anon, b'{"organization": "Shule"}', f"application/json; charset={charset}")

    assert_error(response, 415, "unsupported_media_type")


def test_it_rejects_a_form_encoded_body(anon):
    response = post_raw(anon, "organization=Shule&name=Neema", "application/x-www-form-urlencoded")

    assert_error(response, 415, "unsupported_media_type")


def test_it_rejects_a_plain_text_body(anon):
    response = post_raw(anon, '{"organization": "Shule"}', "text/plain")

    assert_error(response, 415, "unsupported_media_type")


def test_it_rejects_a_body_over_the_limit(anon, settings):
    settings.MAX_JSON_BODY_BYTES = 1024

    response = anon.post(URL, registration(organization="x" * 2000))

    body = assert_error(response, 413, "payload_too_large")
    assert body["details"]["limit_bytes"] == 1024
    assert not Tenant.objects.exists()


def test_it_rejects_a_body_over_the_default_limit_of_8_mb(anon):
    response = anon.post(URL, registration(organization="x" * (8 * 1024 * 1024)))

    assert_error(response, 413, "payload_too_large")


def test_it_accepts_a_body_just_under_the_limit(anon, settings):
    settings.MAX_JSON_BODY_BYTES = 1024

    response = anon.post(URL, registration(organization="x" * 100))

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_it_rejects_json_nested_100000_deep(anon, opening, closing):
    deep = opening * 100_000 + "1" + closing * 100_000

    response = post_raw(anon, '{"organization": ' + deep + "}")

    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_it_rejects_non_standard_number_literals(anon, literal):
    response = post_raw(anon, '{"organization": "Shule", "name": ' + literal + "}")

    assert_error(response, 400, "parse_error")


def test_it_rejects_a_json_array_body(anon):
    response = post_raw(anon, '[{"organization": "Shule"}]')

    body = assert_error(response, 400, "validation_error")
    assert "non_field_errors" in body["details"]


@pytest.mark.parametrize("document", ['"Shule"', "42", "true", "null"])
def test_it_rejects_a_json_scalar_body(anon, document):
    response = post_raw(anon, document)

    assert_error(response, 400, "validation_error")


def test_it_rejects_an_empty_body(anon):
    response = post_raw(anon, "")

    body = assert_error(response, 400, "validation_error")
    assert "email" in body["details"]


def test_it_answers_get_with_405(anon):
    response = anon.get(URL)

    assert_error(response, 405, "method_not_allowed")


def test_it_answers_an_unknown_api_path_with_404(anon):
    response = anon.get("/api/no-such-endpoint/")

    assert_error(response, 404, "not_found")


def test_it_answers_a_post_to_an_unknown_api_path_with_404(anon):
    response = anon.post("/api/auth/no-such-endpoint/", {"a": 1})

    assert_error(response, 404, "not_found")
