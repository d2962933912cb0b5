"""Bearer tokens that must not get in: each is a 401 envelope, never a 500."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import create_user
from tests.helpers import assert_error
from tests.tenancy.helpers import refresh, refresh_token_for

ME = "/api/auth/me/"

pytestmark = pytest.mark.django_db


def get_me(authorization: str | None):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get(ME)


def claims_for(user, **overrides) -> dict:
    """What simplejwt puts in an access token for the user."""
    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user.pk),
    }
    claims.update(overrides)
    return claims


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_it_accepts_a_token_signed_the_same_way_with_the_right_key(alice):
    # The control for the forgeries below: the claims they carry are otherwise acceptable.
    token = jwt.encode(claims_for(alice), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")

    response = get_me(f"Bearer {token}")

    assert response.status_code == 200, response.content


def test_it_refuses_a_request_without_an_authorization_header():
    response = get_me(None)

    assert_error(response, 401, "not_authenticated")


def test_it_names_the_bearer_scheme_when_refusing():
    response = get_me(None)

    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_an_expired_access_token(alice):
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(minutes=1))

    response = get_me(f"Bearer {token}")

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_a_token_signed_with_another_key(alice):
    token = jwt.encode(claims_for(alice), "another secret " * 4, algorithm="HS256")

    response = get_me(f"Bearer {token}")

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_an_unsigned_token_with_alg_none(alice):
    token = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims_for(alice))}."

    response = get_me(f"Bearer {token}")

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_a_token_signed_with_another_algorithm(alice):
    key = settings.SIMPLE_JWT["SIGNING_KEY"]
    token = jwt.encode(claims_for(alice), key, algorithm="HS512")

    response = get_me(f"Bearer {token}")

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_a_token_whose_payload_was_changed(alice, charlie):
    header, _, signature = str(AccessToken.for_user(alice)).split(".")
    forged = f"{header}.{b64url(claims_for(charlie))}.{signature}"

    response = get_me(f"Bearer {forged}")

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_a_refresh_token_used_as_an_access_token(alice):
    response = get_me(f"Bearer {refresh_token_for(alice)}")

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_an_access_token_sent_to_the_refresh_endpoint(anon, alice):
    response = refresh(anon, str(AccessToken.for_user(alice)))

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_a_token_of_a_deleted_user(tenant_a):
    dave = create_user(tenant_a, email="dave@a.example")
    token = AccessToken.for_user(dave)
    dave.delete()

    response = get_me(f"Bearer {token}")

    assert_error(response, 401, "user_not_found")


def test_it_refuses_a_token_without_a_user(alice):
    token = AccessToken.for_user(alice)
    del token["user_id"]

    response = get_me(f"Bearer {token}")

    assert_error(response, 401, "token_not_valid")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer " + "A" * 5000,
        # Bytes that are not UTF-8 arrive from the server decoded as latin-1.
        "Bearer \xff\xfe.\xff.\xff",
    ],
)
def test_it_refuses_a_garbage_token(authorization):
    response = get_me(authorization)

    assert_error(response, 401, "token_not_valid")


def test_it_refuses_bearer_without_a_token():
    response = get_me("Bearer")

    assert_error(response, 401, "bad_authorization_header")


def test_it_refuses_bearer_with_two_tokens(alice):
    token = AccessToken.for_user(alice)

    response = get_me(f"Bearer {token} {token}")

    assert_error(response, 401, "bad_authorization_header")


@pytest.mark.parametrize("authorization", ["", "Basic YWxpY2U6c2VjcmV0", "Token abc"])
def test_it_treats_another_scheme_as_no_credentials(authorization):
    response = get_me(authorization)

    assert_error(response, 401, "not_authenticated")
