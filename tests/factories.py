"""Small builders for test data (hc's and temba's style: plain functions, sensible defaults)."""

from __future__ import annotations

import itertools

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from mifumo.contacts import services
from mifumo.contacts.models import Contact, Group
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


def next_phone() -> str:
    """A valid Tanzanian mobile number no other test contact has (E.164 works in any tenant)."""
    return f"+2557{next(_numbers):08d}"


def create_contact(tenant: Tenant, **fields) -> Contact:
    """A contact made the way the API makes it; `phone` may be in any shape the service reads."""
    fields.setdefault("phone", next_phone())
    return services.contact_create(tenant=tenant, **fields)


def create_group(tenant: Tenant, name: str | None = None, **fields) -> Group:
    return services.group_create(tenant=tenant, name=name or f"Group {next(_numbers)}", **fields)


def insert_contacts(tenant: Tenant, count: int, **fields) -> list[Contact]:
    """Many plain contacts in one INSERT, for tests that need volume rather than the service's
    path (no tags, groups or guardians)."""
    return Contact.objects.bulk_create(
        Contact(tenant=tenant, name=f"Contact {i:04d}", phone_e164=next_phone(), **fields)
        for i in range(count)
    )
