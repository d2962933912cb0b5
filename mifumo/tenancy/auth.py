"""Who is calling: JWT bearer tokens for people, API keys for servers.

Both authenticators resolve the caller's tenant and role once and leave them on the request
(`request.tenant`, `request.role`); views and helpers read them from there.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JWTAuthenticationFailed

from mifumo.tenancy.models import ApiKey, Membership, Role, User


def user_can_authenticate(user: User | None) -> bool:
    """simplejwt's USER_AUTHENTICATION_RULE: login and refresh need an active user in an
    active tenant, so deactivating either ends access within one access-token lifetime."""
    if user is None or not user.is_active:
        return False
    membership = _membership_of(user)
    return membership is not None and membership.tenant.is_active


def _membership_of(user: User) -> Membership | None:
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def _attach_context(request, membership: Membership, role: str, api_key: ApiKey | None = None):
    # DRF passes its Request; set on the underlying HttpRequest too so middleware and
    # logging see the same tenant.
    for target in (request, getattr(request, "_request", None)):
        if target is not None:
            target.tenant = membership.tenant
            target.role = role
            target.api_key = api_key


class _UsersWithTenant:
    """What simplejwt's get_user reads of the user model (`objects.get()`, `DoesNotExist`),
    with the user's membership and tenant joined in: read lazily, they were two more queries
    in every request (bench/contacts_list.py)."""

    DoesNotExist = User.DoesNotExist
    objects = User.objects.select_related("membership__tenant")


class TenantJWTAuthentication(JWTAuthentication):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithTenant

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not user_can_authenticate(user):
            raise JWTAuthenticationFailed(
                "This account is inactive or belongs to no active organisation.",
                code="user_inactive",
            )
        return user

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        membership = user.membership
        _attach_context(request, membership, membership.role)
        return user, token


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key mif_<id>_<secret>`."""

    keyword = "Api-Key"
    # Recording every use would make each API call a write; once a minute is enough to tell
    # which keys are still in use.
    last_used_resolution = timedelta(minutes=1)

    def authenticate_header(self, request) -> str:
        return self.keyword

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Api-Key header.", code="bad_api_key")
        try:
            parts = ApiKey.split(header[1].decode())
        except UnicodeDecodeError:
            parts = None
        if parts is None:
            raise exceptions.AuthenticationFailed("Invalid API key.", code="bad_api_key")
        lookup_id, secret = parts
        key = (
            ApiKey.objects.usable()
            .select_related("tenant", "created_by__membership__tenant")
            .filter(lookup_id=lookup_id)
            .first()
        )
        if key is None or not key.matches(secret) or not user_can_authenticate(key.created_by):
            raise exceptions.AuthenticationFailed("Invalid API key.", code="bad_api_key")
        self._touch(key)
        membership = key.created_by.membership
        # Never more than the creator's role today: demoting the admin demotes their keys.
        role = key.role if membership.is_admin else Role.MEMBER
        _attach_context(request, membership, role, key)
        return key.created_by, key

    def _touch(self, key: ApiKey) -> None:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > self.last_used_resolution:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
