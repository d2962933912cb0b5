"""Sender ids: the name a message comes from. Tenants ask, platform staff approve (vendors and
regulators such as TCRA register alphanumeric sender ids), and sends may use only approved
ones or the platform's default."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.timezone import now

from mifumo.delivery.accounts import platform_account
from mifumo.delivery.models import ProviderAccount
from mifumo.messaging.models import SenderId, SenderIdStatus
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant, User

# GSM 03.40 lets an alphanumeric originator carry 11 characters; a numeric one is a phone
# number or short code of up to 15 digits. Vendors accept letters, digits and spaces.
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 .\-]{1,11}$")
_NUMERIC = re.compile(r"^\+?[0-9]{3,15}$")


def sender_id_problem(value: str) -> str | None:
    """Why `value` cannot be a sender id, or None."""
    if _NUMERIC.match(value) or _ALPHANUMERIC.match(value):
        return None
    if any(ch.isalpha() for ch in value):
        return (
            "An alphanumeric sender id has 1 to 11 characters: letters, digits, spaces, "
            "dots and hyphens."
        )
    return "A numeric sender id has 3 to 15 digits."


def default_sender_id(tenant: Tenant) -> str:
    """The tenant's own default vendor account's sender id, else the platform's."""
    account = ProviderAccount.objects.filter(tenant=tenant, is_default=True).first()
    if account is not None and account.sender_id:
        return account.sender_id
    return platform_account(settings.SMS_PROVIDER).sender_id


def sender_id_resolve(*, tenant: Tenant, requested: str) -> str:
    """The sender id a send will use: `requested` when approved for the tenant (or the
    default), the default when none is asked for."""
    requested = (requested or "").strip()
    default = default_sender_id(tenant)
    if not requested or requested == default:
        return default
    approved = SenderId.objects.filter(
        tenant=tenant, value__iexact=requested, status=SenderIdStatus.APPROVED
    ).first()
    if approved is None:
        raise ApplicationError(
            f"The sender id {requested!r} is not approved for this organisation.",
            error_code="sender_id_not_approved",
            details={
                "sender_id": "Request it under /api/messaging/sender-ids/ and wait for "
                "approval, or leave it out to use the default."
            },
        )
    return approved.value


def sender_id_request(
    *, tenant: Tenant, value: str, requested_by: User, purpose: str = ""
) -> SenderId:
    value = value.strip()
    problem = sender_id_problem(value)
    if problem:
        raise ApplicationError(problem, error_code="invalid_sender_id", details={"value": problem})
    try:
        with transaction.atomic():
            return SenderId.objects.create(
                tenant=tenant, value=value, purpose=purpose, requested_by=requested_by
            )
    except IntegrityError:
        raise ApplicationError(
            f"The sender id {value!r} has already been requested.",
            error_code="duplicate",
            status_code=409,
            details={"value": "already requested"},
        ) from None


def sender_id_review(
    *, sender_id: SenderId, approve: bool, reviewed_by: User, reason: str = ""
) -> SenderId:
    """Platform staff's decision (the admin's approve and reject actions)."""
    sender_id.status = SenderIdStatus.APPROVED if approve else SenderIdStatus.REJECTED
    sender_id.rejection_reason = "" if approve else reason
    sender_id.reviewed_by = reviewed_by
    sender_id.reviewed_at = now()
    sender_id.save(update_fields=["status", "rejection_reason", "reviewed_by", "reviewed_at"])
    return sender_id


def sender_id_withdraw(*, sender_id: SenderId) -> None:
    sender_id.delete()
