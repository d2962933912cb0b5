"""A tenant's own provider accounts: creating, changing and deleting them (the dashboard's
settings call these).

Secrets (api_key, secret_key, webhook_secret) given as "" or None keep the stored value, so
a form that never shows them back can be saved without retyping them.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction

from mifumo.delivery.models import ProviderAccount
from mifumo.delivery.providers.base import get_provider_class
from mifumo.env import ConfigurationError, parse_email_url, parse_rate
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Tenant

SECRET_FIELDS = ("api_key", "secret_key", "webhook_secret")
PLAIN_FIELDS = ("provider", "name", "base_url", "username", "sender_id", "rate_limit")


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, error_code="validation_error", details={field: [message]})


def _channel(provider: str) -> str:
    return get_provider_class(provider).channel


def _check(tenant: Tenant, account: ProviderAccount) -> None:
    try:
        channel = _channel(account.provider)
    except KeyError:
        raise _invalid("provider", f"There is no provider named {account.provider!r}.") from None
    if not account.name.strip():
        raise _invalid("name", "Give the account a name.")
    if account.rate_limit:
        try:
            parse_rate(account.rate_limit)
        except ValueError as error:
            raise _invalid("rate_limit", f"The rate limit: {error}.") from None
    if account.base_url:
        try:
            if channel == "email":
                parse_email_url(account.base_url, name="The server URL")
            else:
                URLValidator(schemes=["http", "https"])(account.base_url)
        except (ConfigurationError, ValidationError):
            example = (
                "smtp://user@mail.example.org:587?tls=1"
                if channel == "email"
                else "https://sms.example.com"
            )
            raise _invalid("base_url", f"The base URL looks like {example}.") from None
    fallback = account.fallback
    if fallback is not None:
        if fallback.tenant_id != tenant.pk:
            raise _invalid("fallback", "The fallback account is not one of yours.")
        if fallback.pk == account.pk or fallback.fallback_id == account.pk:
            raise _invalid("fallback", "An account cannot fall back on itself.")
        if _channel(fallback.provider) != channel:
            raise _invalid("fallback", "The fallback must send the same kind of message.")


@transaction.atomic
def provider_account_save(
    *, tenant: Tenant, account: ProviderAccount | None = None, **fields
) -> tuple[ProviderAccount, bool]:
    """Create (account None) or change one of the tenant's accounts. A secret given as "" or
    None keeps the stored value. A new account without a webhook secret gets a random one, so
    its delivery reports can be authenticated. Making an account the default unsets the
    tenant's other default for the same channel (SMS or e-mail). Returns the account and
    whether its webhook secret changed (the page then shows the full report URL once)."""
    if account is None:
        account = ProviderAccount(tenant=tenant)
    elif account.tenant_id != tenant.pk:
        raise ApplicationError("Not found.", error_code="not_found", status_code=404)
    for name in PLAIN_FIELDS:
        if name in fields:
            setattr(account, name, (fields[name] or "").strip())
    old_secret = account.webhook_secret
    for name in SECRET_FIELDS:
        if fields.get(name):
            setattr(account, name, fields[name].strip())
    if not account.webhook_secret:
        account.webhook_secret = secrets.token_urlsafe(24)
    if "fallback" in fields:
        account.fallback = fields["fallback"]
    if "is_default" in fields:
        account.is_default = bool(fields["is_default"])
    _check(tenant, account)
    if account.is_default:
        others = ProviderAccount.objects.filter(tenant=tenant, is_default=True).exclude(
            pk=account.pk
        )
        same_channel = [o.pk for o in others if _channel(o.provider) == _channel(account.provider)]
        ProviderAccount.objects.filter(pk__in=same_channel).update(is_default=False)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise _invalid("name", f"You already have an account named {account.name!r}.") from None
    return account, account.webhook_secret != old_secret


@transaction.atomic
def provider_account_delete(*, account: ProviderAccount) -> None:
    """Campaigns that named it, and accounts falling back on it, go back to the platform's
    account (their foreign keys are SET_NULL)."""
    account.delete()
