"""Settings: Credits: the balance, what running sends hold, and the ledger."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path

from mifumo.messaging.models import CreditEntry
from mifumo.messaging.services import billing
from mifumo.tenancy.scoping import for_tenant
from mifumo.web.access import tenant_page
from mifumo.web.views.settings.common import in_tenant_timezone, page_of


@tenant_page(admin=True)
@in_tenant_timezone
def credits(request):
    ledger = for_tenant(CreditEntry, request.tenant).order_by("-created_at", "-id")
    return render(
        request,
        "web/settings/credits.html",
        {
            "billing_on": billing.billing_enabled(),
            "credit_balance": billing.credit_balance(request.tenant),
            "reserved": billing.credit_reserved_in_flight(request.tenant),
            "page": page_of(request, ledger.select_related("campaign")),
        },
    )


urlpatterns = [path("settings/credits/", credits, name="settings-credits")]
