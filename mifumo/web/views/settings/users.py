"""Settings: Users and roles: who may sign in to the organisation, and as what."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from mifumo.tenancy import services
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import Role, User
from mifumo.web.access import tenant_page
from mifumo.web.views.settings.common import in_tenant_timezone, show_error
from mifumo.web.views.settings.forms import UserAddForm


def _users(tenant):
    # Users are the tenant's through their membership.
    return User.objects.filter(membership__tenant=tenant).select_related("membership")


@tenant_page(admin=True)
@in_tenant_timezone
def users(request):
    form = UserAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_add(tenant=request.tenant, **form.cleaned_data)
        except ApplicationError as error:
            show_error(form, error)
        else:
            messages.success(request, f"{user.email} added as {form.cleaned_data['role']}.")
            return redirect("web:settings-users")
    return render(
        request,
        "web/settings/users.html",
        {
            "form": form,
            "users": _users(request.tenant).order_by("date_joined", "email"),
            "roles": Role.choices,
        },
    )


@require_POST
@tenant_page(admin=True)
def user_change(request, pk):
    """One row's buttons: a new role, or deactivate / reactivate."""
    user = get_object_or_404(_users(request.tenant), pk=pk)
    changes = {}
    if request.POST.get("role") in Role.values:
        changes["role"] = request.POST["role"]
    if request.POST.get("is_active") in ("0", "1"):
        changes["is_active"] = request.POST["is_active"] == "1"
    try:
        services.user_update(tenant=request.tenant, user_id=user.pk, **changes)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if "is_active" in changes:
            done = "reactivated" if changes["is_active"] else "deactivated"
        else:
            done = f"is now {changes.get('role', user.membership.role)}"
        messages.success(request, f"{user.email} {done}.")
    return redirect("web:settings-users")


urlpatterns = [
    path("settings/users/", users, name="settings-users"),
    path("settings/users/<uuid:pk>/", user_change, name="settings-user-change"),
]
