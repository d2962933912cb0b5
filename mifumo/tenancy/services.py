"""Writes for tenants, users and API keys. Views validate, then call one of these."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import phonenumbers
from django.db import IntegrityError, transaction
from django.utils import timezone
from phonenumbers import timezone as number_timezones
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from mifumo.tenancy import audit
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import (
    ApiKey,
    AuditAction,
    Membership,
    Role,
    Tenant,
    User,
    normalize_email,
)


def default_timezone_for(country: str) -> str:
    """The first IANA zone that phonenumbers' metadata gives for the country's mobiles."""
    example = phonenumbers.example_number_for_type(
        country, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(country)
    for zone in number_timezones.time_zones_for_number(example) if example else ():
        try:
            ZoneInfo(zone)
            return zone
        except (KeyError, ValueError):
            continue
    return "UTC"


def _email_taken() -> ApplicationError:
    return ApplicationError(
        "An account with this e-mail address already exists.",
        error_code="email_taken",
        details={"email": ["An account with this e-mail address already exists."]},
    )


def _create_member(*, tenant: Tenant, email: str, name: str, password: str, role: str) -> User:
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise _email_taken()
    try:
        # A savepoint, so that losing a race on the unique e-mail leaves the outer
        # transaction usable and the caller gets the same clear error.
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name)
    except IntegrityError:
        raise _email_taken() from None
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


@transaction.atomic
def tenant_register(
    *,
    organization: str,
    name: str,
    email: str,
    password: str,
    country: str = "TZ",
    timezone_name: str | None = None,
) -> User:
    """Create an organisation and its first admin."""
    tenant = Tenant.objects.create(
        name=organization.strip(),
        default_region=country,
        timezone=timezone_name or default_timezone_for(country),
    )
    return _create_member(
        tenant=tenant, email=email, name=name.strip(), password=password, role=Role.ADMIN
    )


def user_add(*, tenant: Tenant, email: str, name: str, password: str, role: str) -> User:
    with audit.operation(tenant=tenant, action=AuditAction.USER_ADD) as op:
        user = _create_member(
            tenant=tenant, email=email, name=name.strip(), password=password, role=role
        )
        op.add_ids([user.pk])
        op.counts = {"users": 1}
    return user


def _would_leave_no_admin(membership: Membership, *, role: str, is_active: bool) -> bool:
    if membership.role != Role.ADMIN or not membership.user.is_active:
        return False
    if role == Role.ADMIN and is_active:
        return False
    other_admins = Membership.objects.filter(
        tenant=membership.tenant, role=Role.ADMIN, user__is_active=True
    ).exclude(pk=membership.pk)
    return not other_admins.exists()


def user_update(
    *,
    tenant: Tenant,
    user_id,
    name: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Rename, change the role of, deactivate or reactivate a member of the tenant.

    The tenant's admin rows are locked first, so two admins demoting each other at the same
    moment cannot both succeed and leave the organisation with no admin.
    """
    with audit.operation(tenant=tenant, action=AuditAction.USER_UPDATE, object_ids=[user_id]) as op:
        list(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.ADMIN))
        membership = (
            Membership.objects.select_related("user", "tenant")
            .select_for_update()
            .get(tenant=tenant, user_id=user_id)
        )
        user = membership.user
        was_active = user.is_active
        new_role = role or membership.role
        new_active = user.is_active if is_active is None else is_active
        if _would_leave_no_admin(membership, role=new_role, is_active=new_active):
            raise ApplicationError(
                "An organisation keeps at least one active admin; promote someone else first.",
                error_code="last_admin",
            )
        if name is not None:
            user.name = name.strip()
        if is_active is not None and is_active != user.is_active:
            user.is_active = is_active
            if not is_active:
                _end_sessions(user)
        user.save(update_fields=["name", "is_active"])
        role_changed = new_role != membership.role
        deactivated = was_active and not user.is_active
        if new_role != membership.role:
            membership.role = new_role
            membership.save(update_fields=["role"])
        op.counts = {
            "role_changed": int(role_changed),
            "deactivated": int(deactivated),
            "reactivated": int(user.is_active and not was_active),
        }
        return user


def _end_sessions(user: User) -> None:
    """Blacklist every refresh token of the user, so reactivation does not revive old logins."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now())
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )


def api_key_issue(*, tenant: Tenant, created_by: User, name: str, role: str) -> tuple[ApiKey, str]:
    with audit.operation(tenant=tenant, action=AuditAction.API_KEY_ISSUE) as op:
        key, plain = ApiKey.issue(
            tenant=tenant, created_by=created_by, name=name.strip(), role=role
        )
        op.add_ids([key.pk])
        op.counts = {"keys": 1}
    return key, plain


def api_key_revoke(*, key: ApiKey) -> None:
    with audit.operation(
        tenant=key.tenant, action=AuditAction.API_KEY_REVOKE, object_ids=[key.pk]
    ) as op:
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        op.counts = {"keys": revoked}


def expired_tokens_flush() -> int:
    """Delete refresh tokens past their expiry (their blacklist rows go with them)."""
    deleted, _ = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
