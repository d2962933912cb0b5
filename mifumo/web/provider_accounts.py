"""How the dashboard shows a tenant's provider accounts (delivery/provider_accounts.py saves
them). Secrets are never read back to the browser: the page shows their last characters."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from mifumo.delivery.accounts import account_config
from mifumo.delivery.models import ProviderAccount

MASK = "••••"


def mask(value: str) -> str:
    """ "••••1a2b": enough to tell two keys apart. A short value shows nothing of itself,
    since its last four characters would be most of it."""
    if not value:
        return ""
    return MASK + value[-4:] if len(value) >= 12 else MASK


def url_without_password(url: str) -> str:
    """An SMTP account's URL may carry its password (smtp://user:pass@host): hide it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def delivery_report_url(account: ProviderAccount, *, masked: bool = True) -> str:
    """Where the vendor posts delivery reports for this account ("" until MIFUMO_PUBLIC_URL
    and the account's webhook secret are both set). The secret is its token: masked unless
    the caller is showing it once, right after it was set."""
    url = account_config(account).callback_url
    if url and masked:
        url = url.replace(
            f"token={account.webhook_secret}", f"token={mask(account.webhook_secret)}"
        )
    return url
