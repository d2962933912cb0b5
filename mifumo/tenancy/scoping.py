"""The one way to load tenant-owned rows: always through the request's tenant.

Another tenant's id is simply not in the queryset, so it is a 404, never a 403 that would
confirm the id exists.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404


def for_tenant(queryset_or_model: QuerySet | type[Model], tenant) -> QuerySet:
    queryset = (
        queryset_or_model._default_manager.all()
        if isinstance(queryset_or_model, type)
        else queryset_or_model
    )
    return queryset.filter(tenant=tenant)


def get_for_tenant_or_404(queryset_or_model, tenant, **lookup):
    return get_object_or_404(for_tenant(queryset_or_model, tenant), **lookup)


class TenantScopedMixin:
    """For generic views: `queryset` is narrowed to the caller's tenant before any lookup."""

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return super().get_queryset().none()
        return for_tenant(super().get_queryset(), self.request.tenant)
