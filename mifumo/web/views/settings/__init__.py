"""Settings (admins only): sender ids, provider accounts, users and roles, API keys, credits,
the audit log."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path

from mifumo.web.access import tenant_page
from mifumo.web.views.settings import (
    api_keys,
    audit_log,
    credits,
    providers,
    sender_ids,
    users,
)


@tenant_page(admin=True)
def index(request):
    return render(request, "web/settings/index.html")


urlpatterns = [
    path("settings/", index, name="settings"),
    *sender_ids.urlpatterns,
    *providers.urlpatterns,
    *users.urlpatterns,
    *api_keys.urlpatterns,
    *credits.urlpatterns,
    *audit_log.urlpatterns,
]
