"""Credentials that must not get in, tried on every signed-in route the schema lists: a forged,
expired or misused JWT and a revoked API key are each a 401 envelope, and nothing changes.
(tests/tenancy/test_bad_tokens.py checks the same tokens, and more shapes, on one route.)"""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from mifumo.tenancy.services import api_key_revoke
from tests.factories import PASSWORD
from tests.helpers import assert_error
from tests.security.world import (
    World,
    call,
    changes,
    database_state,
    operation,
    operation_keys,
    path_for,
)
from tests.tenancy.helpers import issue_api_key, login, refresh

pytestmark = pytest.mark.django_db

SIGNED_IN = operation_keys(lambda op: not op.public)


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
    return {**claims, **overrides}


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def signed(claims: dict, key: str | None = None) -> str:
    key = key or settings.SIMPLE_JWT["SIGNING_KEY"]
    return jwt.encode(claims, key, algorithm=settings.SIMPLE_JWT["ALGORITHM"])


def none_algorithm(w: World) -> str:
    return (
        "Bearer " + b64url({"alg": "none", "typ": "JWT"}) + "." + b64url(claims_for(w.alice)) + "."
    )


def wrong_key(w: World) -> str:
    return "Bearer " + signed(claims_for(w.alice), key="not-the-servers-key-" + "x" * 40)


def expired(w: World) -> str:
    past = int(time.time()) - 3600
    return "Bearer " + signed(claims_for(w.alice, iat=past - 900, exp=past))


def refresh_as_access(w: World) -> str:
    return f"Bearer {RefreshToken.for_user(w.alice)}"


def deactivated_user(w: World) -> str:
    token = AccessToken.for_user(w.alice)
    w.alice.is_active = False
    w.alice.save(update_fields=["is_active"])
    return f"Bearer {token}"


def deactivated_tenant(w: World) -> str:
    token = AccessToken.for_user(w.alice)
    w.tenant_a.is_active = False
    w.tenant_a.save(update_fields=["is_active"])
    return f"Bearer {token}"


def revoked_api_key(w: World) -> str:
    key, plain = issue_api_key(w.alice, role="admin")
    api_key_revoke(key=key)
    return f"Api-Key {plain}"


def api_key_of_a_deactivated_admin(w: World) -> str:
    _key, plain = issue_api_key(w.alice, role="admin")
    w.alice.is_active = False
    w.alice.save(update_fields=["is_active"])
    return f"Api-Key {plain}"


ATTACKS = [
    none_algorithm,
    wrong_key,
    expired,
    refresh_as_access,
    deactivated_user,
    deactivated_tenant,
    revoked_api_key,
    api_key_of_a_deactivated_admin,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.__name__)
def test_a_bad_credential_is_a_401_on_every_signed_in_route(world, attack):
    client = APIClient()
    urls = {key: path_for(operation(key), world) for key in SIGNED_IN}
    client.credentials(HTTP_AUTHORIZATION=attack(world))
    before = database_state()

    let_in = []
    for key in SIGNED_IN:
        response = call(client, operation(key), world, url=urls[key])
        if response.status_code != 401:
            let_in.append(f"{key}: {response.status_code}")
        else:
            assert_error(response, 401)

    assert let_in == []
    assert changes(before, database_state()) == {}


@pytest.mark.parametrize("attack", [deactivated_user, revoked_api_key], ids=lambda a: a.__name__)
def test_the_same_credential_worked_before(world, attack):
    # The control: these credentials were good until the deactivation or revocation.
    if attack is deactivated_user:
        good = f"Bearer {AccessToken.for_user(world.alice)}"
    else:
        _key, plain = issue_api_key(world.alice, role="admin")
        good = f"Api-Key {plain}"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=good)

    assert client.get("/api/auth/users/").status_code == 200


def test_a_rotated_refresh_token_reused_is_a_401_and_gives_nothing(world, anon):
    first = login(anon, world.alice.email, PASSWORD).json()["refresh"]
    rotated = refresh(anon, first)
    assert rotated.status_code == 200  # the control: the first use works

    response = refresh(anon, first)

    assert_error(response, 401)
    assert "access" not in response.json()
