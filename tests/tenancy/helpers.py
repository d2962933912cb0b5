"""Small helpers shared by the auth and tenancy tests (assert_error is in tests.helpers)."""

from __future__ import annotations

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from mifumo.tenancy.models import ApiKey, Role, User
from tests.factories import PASSWORD


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
