from rest_framework.permissions import BasePermission

from mifumo.tenancy.models import Role


class IsTenantMember(BasePermission):
    """Any authenticated user of an active tenant (the authenticators resolved it)."""

    def has_permission(self, request, view) -> bool:
        return bool(
            request.user and request.user.is_authenticated and getattr(request, "tenant", None)
        )


class IsTenantAdmin(IsTenantMember):
    message = "Only the organisation's admins can do this."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.role == Role.ADMIN
