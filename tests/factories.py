"""Small builders for test data (hc's and temba's style: plain functions, sensible defaults)."""

from __future__ import annotations

import itertools

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from mifumo.tenancy.models import Membership, Role, Tenant, User

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


def create_tenant(name: str | None = None, **fields) -> Tenant:
    fields.setdefault("default_region", "TZ")
    fields.setdefault("timezone", "Africa/Dar_es_Salaam")
    return Tenant.objects.create(name=name or f"Tenant {next(_numbers)}", **fields)


def create_user(
    tenant: Tenant,
    *,
    role: str = Role.MEMBER,
    email: str | None = None,
    name: str = "Test User",
    **fields,
) -> User:
    user = User.objects.create_user(
        email=email or f"user{next(_numbers)}@example.org", password=PASSWORD, name=name, **fields
    )
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def client_for(user: User) -> APIClient:
    """An API client holding a real access token for the user."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client
