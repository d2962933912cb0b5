"""Who may see a dashboard page: a signed-in user of an active tenant, and for some pages
only the tenant's admins. Sets request.tenant and request.role as the API's authenticators
do, so pages call the same services with the same arguments."""

from __future__ import annotations

from functools import wraps
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from mifumo.tenancy.models import Membership, Role


def tenant_page(view=None, *, admin: bool = False):
    def decorate(function):
        @wraps(function)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = (
                Membership.objects.select_related("tenant")
                .filter(user=request.user, tenant__is_active=True)
                .first()
            )
            if membership is None:
                raise PermissionDenied("This account belongs to no active organisation.")
            request.tenant, request.role = membership.tenant, membership.role
            if admin and membership.role != Role.ADMIN:
                raise PermissionDenied("Only the organisation's admins can open this page.")
            # Times on the pages (and typed into them) are the organisation's local time.
            with timezone.override(_zone(membership.tenant.timezone)):
                return function(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
