"""Settings: Audit log: every bulk operation and administrative change, newest first, with
who did it, to how many, and how it ended. Read only, like the API's /audit-log/."""

from __future__ import annotations

from django import forms
from django.shortcuts import render
from django.urls import path

from mifumo.tenancy.models import AuditAction, AuditOutcome, AuditRecord
from mifumo.tenancy.scoping import for_tenant
from mifumo.web.access import tenant_page
from mifumo.web.views.settings.common import in_tenant_timezone, page_of


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        label="Operation", required=False, choices=[("", "All operations"), *AuditAction.choices]
    )
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *AuditOutcome.choices]
    )
    date = forms.DateField(
        label="Day", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


@tenant_page(admin=True)
@in_tenant_timezone
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    records = for_tenant(AuditRecord, request.tenant).order_by("-created_at", "-id")
    if form.is_valid():
        wanted = form.cleaned_data
        if wanted["action"]:
            records = records.filter(action=wanted["action"])
        if wanted["outcome"]:
            records = records.filter(outcome=wanted["outcome"])
        if wanted["date"]:
            records = records.filter(created_at__date=wanted["date"])  # the tenant's day
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/settings/audit_log.html",
        {"form": form, "page": page_of(request, records), "query": query.urlencode()},
    )


urlpatterns = [path("settings/audit-log/", audit_log, name="settings-audit-log")]
