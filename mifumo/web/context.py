"""What every dashboard page shows: the organisation, its balance, the user's role."""

from __future__ import annotations

from django.conf import settings


def dashboard(request) -> dict:
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {}
    from mifumo.messaging.services.billing import credit_balance

    return {
        "tenant": tenant,
        "is_admin": getattr(request, "role", "") == "admin",
        "billing_enabled": settings.BILLING_ENABLED,
        "balance": credit_balance(tenant) if settings.BILLING_ENABLED else None,
    }
