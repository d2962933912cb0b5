"""Small helpers shared by the auth and tenancy tests."""

from __future__ import annotations

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from mifumo.tenancy.models import ApiKey, Role, User
from tests.factories import PASSWORD

ENVELOPE_KEYS = {"success", "message", "error_code", "details"}


def assert_error(response, status: int, error_code: str | None = None) -> dict:
    """The response is the error envelope with this status (and code); returns the body."""
    assert response.status_code == status, response.content
    body = response.json()  # also fails unless the Content-Type is JSON
    assert set(body) == ENVELOPE_KEYS, body
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["error_code"], str) and body["error_code"]
    assert isinstance(body["details"], dict)
    if error_code is not None:
        assert body["error_code"] == error_code, body
    return body


def login(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/api/auth/token/", {"email": email, "password": password})


def refresh(client: APIClient, token: str):
    return client.post("/api/auth/token/refresh/", {"refresh": token})


def refresh_token_for(user: User) -> str:
    """A refresh token issued the way login issues it (recorded as outstanding)."""
    return str(RefreshToken.for_user(user))


def issue_api_key(user: User, role: str = Role.MEMBER) -> tuple[ApiKey, str]:
    return ApiKey.issue(tenant=user.membership.tenant, created_by=user, name="Server", role=role)


def api_key_client(plain: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client
