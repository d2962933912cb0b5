"""Which vendor account sends a campaign, and with what credentials and limits.

The platform's own accounts come from the environment (`<VENDOR>_API_KEY`, `_SECRET_KEY`,
`_USERNAME`, `_BASE_URL`, `_SENDER_ID`, `_RATE_LIMIT`, `_WEBHOOK_SECRET`; `SMS_PROVIDER` picks
the default). A tenant may have its own ProviderAccount rows instead; an account may name a
fallback used while it is down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings

from mifumo.delivery.models import Campaign, Channel, ProviderAccount
from mifumo.delivery.providers.base import AccountConfig, Provider, get_provider_class
from mifumo.delivery.ratelimit import Limit, RateLimiter

# The vendors' origins; `<VENDOR>_BASE_URL` replaces them (tests, the simulator).
DEFAULT_BASE_URLS = {
    "beem": "https://apisms.beem.africa",
    "arkesel": "https://sms.arkesel.com",
    "africastalking": "https://api.africastalking.com",
    "twilio": "https://api.twilio.com",
    "smtp": "",
}
PLATFORM = "platform"


def _env(provider: str, suffix: str) -> str:
    return os.environ.get(f"{provider.upper()}_{suffix}", "")


def platform_account(provider: str) -> AccountConfig:
    return AccountConfig(
        provider=provider,
        base_url=(_env(provider, "BASE_URL") or DEFAULT_BASE_URLS.get(provider, "")).rstrip("/"),
        api_key=_env(provider, "API_KEY"),
        secret_key=_env(provider, "SECRET_KEY"),
        username=_env(provider, "USERNAME"),
        sender_id=_env(provider, "SENDER_ID"),
        rate_limit=_env(provider, "RATE_LIMIT"),
        webhook_secret=_env(provider, "WEBHOOK_SECRET"),
        callback_url=_callback_url(provider, _env(provider, "WEBHOOK_SECRET")),
    )


def _callback_url(provider: str, secret: str) -> str:
    base = settings.MIFUMO_PUBLIC_URL
    if not base or not secret:
        return ""
    return f"{base.rstrip('/')}/api/messaging/webhooks/{provider}/?token={secret}"


def account_config(row: ProviderAccount) -> AccountConfig:
    return AccountConfig(
        provider=row.provider,
        base_url=(row.base_url or DEFAULT_BASE_URLS.get(row.provider, "")).rstrip("/"),
        api_key=row.api_key,
        secret_key=row.secret_key,
        username=row.username,
        sender_id=row.sender_id,
        rate_limit=row.rate_limit,
        webhook_secret=row.webhook_secret,
        callback_url=_callback_url(row.provider, row.webhook_secret),
    )


@dataclass
class SendingAccount:
    """An adapter ready to send, with the limiter shared by everyone using the account."""

    key: str  # "arkesel:platform" or "arkesel:<account uuid>"
    provider: Provider
    limiter: RateLimiter | None
    fallback_row: ProviderAccount | None = None


def default_provider_for(channel: str) -> str:
    return "smtp" if channel == Channel.EMAIL else settings.SMS_PROVIDER


def sending_account(campaign: Campaign, *, use_fallback: bool = False) -> SendingAccount:
    row = campaign.provider_account
    if row is not None and use_fallback and row.fallback_id:
        row = row.fallback
    if row is not None:
        config, key = account_config(row), f"{row.provider}:{row.pk}"
    else:
        name = campaign.provider or default_provider_for(campaign.channel)
        config, key = platform_account(name), f"{name}:{PLATFORM}"
    limit = Limit.parse(config.rate_limit)
    return SendingAccount(
        key=key,
        provider=get_provider_class(config.provider)(config),
        limiter=RateLimiter(key, limit) if limit else None,
        fallback_row=row.fallback if row is not None and not use_fallback else None,
    )
