"""Settings: Sender ids: what the tenant has asked for, and asking for another."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from mifumo.messaging.models import SenderId
from mifumo.messaging.services import sender_ids as services
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web.access import tenant_page
from mifumo.web.views.settings.common import in_tenant_timezone, show_error
from mifumo.web.views.settings.forms import SenderIdForm


@tenant_page(admin=True)
@in_tenant_timezone
def sender_ids(request):
    form = SenderIdForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sender_id = services.sender_id_request(
                tenant=request.tenant, requested_by=request.user, **form.cleaned_data
            )
        except ApplicationError as error:
            show_error(form, error)
        else:
            messages.success(request, f"{sender_id.value} requested: it waits for approval.")
            return redirect("web:settings-sender-ids")
    rows = for_tenant(SenderId, request.tenant).order_by("-created_at")
    return render(
        request,
        "web/settings/sender_ids.html",
        {
            "form": form,
            "sender_ids": rows,
            "default_sender_id": services.default_sender_id(request.tenant),
        },
    )


@require_POST
@tenant_page(admin=True)
def sender_id_withdraw(request, pk):
    sender_id = get_for_tenant_or_404(SenderId, request.tenant, pk=pk)
    services.sender_id_withdraw(sender_id=sender_id)
    messages.success(request, f"{sender_id.value} withdrawn.")
    return redirect("web:settings-sender-ids")


urlpatterns = [
    path("settings/sender-ids/", sender_ids, name="settings-sender-ids"),
    path(
        "settings/sender-ids/<uuid:pk>/withdraw/",
        sender_id_withdraw,
        name="settings-sender-id-withdraw",
    ),
]
