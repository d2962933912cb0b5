"""Settings: Provider accounts: the tenant's own vendor accounts. Secrets are shown only by
their last characters; the delivery-report URL carries one, so it is shown in full once."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from mifumo.delivery import provider_accounts as services
from mifumo.delivery.models import ProviderAccount
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web import provider_accounts as shown
from mifumo.web.access import tenant_page
from mifumo.web.views.settings.common import show_error, show_once
from mifumo.web.views.settings.forms import PROVIDER_LABELS, ProviderAccountForm

NEW_REPORT_URL = "settings:new-report-url"


@tenant_page(admin=True)
def accounts(request):
    rows = for_tenant(ProviderAccount, request.tenant).select_related("fallback")
    listed = [
        {
            "account": row,
            "provider_label": PROVIDER_LABELS.get(row.provider, row.provider),
            "base_url": shown.url_without_password(row.base_url),
            "api_key": shown.mask(row.api_key),
            "secret_key": shown.mask(row.secret_key),
            "report_url": shown.delivery_report_url(row),
        }
        for row in rows.order_by("name")
    ]
    return render(
        request,
        "web/settings/providers.html",
        {"accounts": listed, "new_report_url": show_once(request, NEW_REPORT_URL)},
    )


@tenant_page(admin=True)
def account_edit(request, pk=None):
    account = get_for_tenant_or_404(ProviderAccount, request.tenant, pk=pk) if pk else None
    initial = {}
    if account is not None:
        initial = {name: getattr(account, name) for name in services.PLAIN_FIELDS}
        initial.update(is_default=account.is_default, fallback=account.fallback_id)
    form = ProviderAccountForm(
        request.POST or None, initial=initial, tenant=request.tenant, account=account
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved, secret_changed = services.provider_account_save(
                tenant=request.tenant, account=account, **form.cleaned_data
            )
        except ApplicationError as error:
            show_error(form, error)
        else:
            messages.success(request, f"{saved.name} saved.")
            url = shown.delivery_report_url(saved, masked=False)
            if secret_changed and url:
                show_once(request, NEW_REPORT_URL, {"name": saved.name, "url": url})
            return redirect("web:settings-providers")
    return render(request, "web/settings/provider_form.html", {"form": form, "account": account})


@require_POST
@tenant_page(admin=True)
def account_delete(request, pk):
    account = get_for_tenant_or_404(ProviderAccount, request.tenant, pk=pk)
    services.provider_account_delete(account=account)
    messages.success(request, f"{account.name} deleted.")
    return redirect("web:settings-providers")


urlpatterns = [
    path("settings/providers/", accounts, name="settings-providers"),
    path("settings/providers/new/", account_edit, name="settings-provider-new"),
    path("settings/providers/<uuid:pk>/", account_edit, name="settings-provider-edit"),
    path("settings/providers/<uuid:pk>/delete/", account_delete, name="settings-provider-delete"),
]
