"""Settings: API keys. A new key is shown on the response to the form that made it and
nowhere else (it is not kept: only its hash is stored); the list shows its public prefix."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from mifumo.tenancy import services
from mifumo.tenancy.models import API_KEY_PREFIX, ApiKey
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web.access import tenant_page
from mifumo.web.views.settings.common import in_tenant_timezone
from mifumo.web.views.settings.forms import ApiKeyForm


@tenant_page(admin=True)
@in_tenant_timezone
def api_keys(request):
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _key, new_key = services.api_key_issue(
            tenant=request.tenant, created_by=request.user, **form.cleaned_data
        )
        form = ApiKeyForm()  # an empty form under the new key
    keys = for_tenant(ApiKey, request.tenant).select_related("created_by")
    return render(
        request,
        "web/settings/api_keys.html",
        {"form": form, "keys": keys, "new_key": new_key, "prefix": API_KEY_PREFIX},
    )


@require_POST
@tenant_page(admin=True)
def api_key_revoke(request, pk):
    key = get_for_tenant_or_404(ApiKey, request.tenant, pk=pk)
    services.api_key_revoke(key=key)
    messages.success(request, f"The key {key.name} is revoked.")
    return redirect("web:settings-api-keys")


urlpatterns = [
    path("settings/api-keys/", api_keys, name="settings-api-keys"),
    path("settings/api-keys/<uuid:pk>/revoke/", api_key_revoke, name="settings-api-key-revoke"),
]
