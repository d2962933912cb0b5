"""/api/messaging/contacts/ and /api/messaging/groups/."""

from __future__ import annotations

from functools import cached_property, partial

from django.db.models import Count
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mifumo.contacts import export, services
from mifumo.contacts.filters import (
    CappedCountPaginator,
    ContactFilter,
    ContactPaginator,
    CountedPaginator,
    NameSearch,
    NameSearchPaginator,
)
from mifumo.contacts.models import Contact, ContactCount, Group
from mifumo.contacts.serializers import (
    BulkDeleteResponseSerializer,
    BulkDeleteSerializer,
    BulkEditResponseSerializer,
    BulkEditSerializer,
    BulkTagSerializer,
    ContactSerializer,
    GroupMembersResponseSerializer,
    GroupMembersSerializer,
    GroupSerializer,
    OptOutSerializer,
    with_relations,
)
from mifumo.tenancy.models import AuditAction
from mifumo.tenancy.pagination import PageNumberPagination
from mifumo.tenancy.scoping import TenantScopedMixin
from mifumo.tenancy.throttles import ContactsBulkThrottle

BULK_ACTIONS = {"bulk_edit", "bulk_delete", "bulk_tag"}


def _updated_body(count: int, requested: int) -> dict:
    """The spec's success body of bulk edit, also used by bulk tag."""
    return {
        "success": True,
        "message": f"Successfully updated {count} contacts",
        "updated_count": count,
        "total_requested": requested,
        "errors": [],
    }


class ContactPagination(PageNumberPagination):
    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        paginator = self.page.paginator
        if isinstance(paginator, CappedCountPaginator) and paginator.capped:
            response.data["count_capped"] = True  # count is the cap; there are more
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count_capped"] = {
            "type": "boolean",
            "description": "Present when a search matched more than `count` contacts.",
        }
        return schema


def _contact_fields(data: dict) -> dict:
    """Serializer output -> service keyword arguments."""
    fields = dict(data)
    if "phone_e164" in fields:
        fields["phone"] = fields.pop("phone_e164")
    return fields


class ContactViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    serializer_class = ContactSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ContactFilter
    pagination_class = ContactPagination
    queryset = Contact.objects.order_by("-created_at", "-id")
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    audit_action = {
        "bulk_edit": AuditAction.CONTACTS_BULK_EDIT,
        "bulk_delete": AuditAction.CONTACTS_BULK_DELETE,
        "bulk_tag": AuditAction.CONTACTS_BULK_TAG,
    }

    def get_queryset(self):
        # Once a request: the list asks twice (its rows and their page), and the relations'
        # three subqueries took 1-2 ms of Python to build each time (cProfile). A queryset
        # is not evaluated here, and filtering or slicing it makes a new one.
        if "_contacts" not in self.__dict__:
            contacts = super().get_queryset()
            # The export reads the relations it writes by chunks of its own.
            self._contacts = contacts if self.action == "export" else with_relations(contacts)
        return self._contacts

    def get_throttles(self):
        return [ContactsBulkThrottle()] if self.action in BULK_ACTIONS else []

    @cached_property
    def name_search_alone(self) -> NameSearch | None:
        """The list's or the export's name search when it is their only filter (PostgreSQL),
        else None: they read its contacts from ContactWord."""
        if self.action not in ("list", "export"):
            return None
        return ContactFilter.name_search_alone(self.request.query_params, self.request.tenant)

    def filter_queryset(self, queryset):
        if self.name_search_alone:
            # The tenant's contacts, of which NameSearchPaginator or the export picks the
            # search's by id: filtered, they would build its condition for nothing (3 ms of
            # Python in a list's request, cProfile).
            return queryset
        if not ContactFilter.in_use(self.request.query_params):
            # Every filter ignores an absent or empty value: the FilterSet and its form would
            # change nothing, for an eighth of the plain list's Python time (cProfile).
            return queryset
        return super().filter_queryset(queryset)

    def paginate_queryset(self, queryset):
        params = self.request.query_params
        search = self.name_search_alone
        # A page's contacts are read by id from the tenant's (ContactPaginator).
        rows = self.get_queryset()
        if search:
            # The filtered queryset would join the words to every contact of the tenant.
            self.paginator.django_paginator_class = partial(NameSearchPaginator, search=search)
            return super().paginate_queryset(rows)
        if self.action == "list" and not ContactFilter.narrows(params):
            # All the tenant's contacts: their number is kept by triggers (ContactCount).
            total = ContactCount.total_for(self.request.tenant)
            self.paginator.django_paginator_class = partial(
                CountedPaginator, total=total, rows=rows
            )
        elif self.action == "list":
            self.paginator.django_paginator_class = partial(CappedCountPaginator, rows=rows)
        return super().paginate_queryset(queryset)

    def perform_create(self, serializer):
        serializer.instance = services.contact_create(
            tenant=self.request.tenant, **_contact_fields(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = services.contact_update(
            contact=serializer.instance, **_contact_fields(serializer.validated_data)
        )

    def update(self, request, *args, **kwargs):
        response = super().update(request, *args, **kwargs)
        # Re-read so the response shows the new tags and groups, not the prefetched old ones.
        response.data = self.get_serializer(self.get_object()).data
        return response

    def perform_destroy(self, instance):
        services.contact_delete(contact=instance)

    @extend_schema(request=BulkEditSerializer, responses=BulkEditResponseSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-edit")
    def bulk_edit(self, request):
        """Apply the same changes to up to 100 contacts, all or none."""
        serializer = BulkEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data["contact_ids"]
        count = services.contacts_bulk_edit(
            tenant=request.tenant, contact_ids=ids, updates=serializer.validated_data["updates"]
        )
        return Response(_updated_body(count, len(ids)))

    @extend_schema(request=BulkDeleteSerializer, responses=BulkDeleteResponseSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-delete")
    def bulk_delete(self, request):
        """Delete up to 100 contacts, all or none."""
        serializer = BulkDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data["contact_ids"]
        count = services.contacts_bulk_delete(tenant=request.tenant, contact_ids=ids)
        return Response(
            {
                "success": True,
                "message": f"Successfully deleted {count} contacts",
                "deleted_count": count,
                "total_requested": len(ids),
            }
        )

    @extend_schema(request=BulkTagSerializer, responses=BulkEditResponseSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-tag")
    def bulk_tag(self, request):
        """Add and remove tags on up to 100 contacts without touching their other tags."""
        serializer = BulkTagSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data["contact_ids"]
        count = services.contacts_bulk_tag(
            tenant=request.tenant,
            contact_ids=ids,
            add=serializer.validated_data["add"],
            remove=serializer.validated_data["remove"],
        )
        return Response(_updated_body(count, len(ids)))

    @extend_schema(request=OptOutSerializer, responses=ContactSerializer)
    @action(detail=True, methods=["post"], url_path="opt-out")
    def opt_out(self, request, pk=None):
        """Stop all messages to this contact (it stays listed, marked as opted out)."""
        serializer = OptOutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = services.contact_opt_out(
            contact=self.get_object(), reason=serializer.validated_data["reason"]
        )
        return Response(self.get_serializer(contact).data)

    @extend_schema(request=None, responses=ContactSerializer)
    @action(detail=True, methods=["post"], url_path="opt-in")
    def opt_in(self, request, pk=None):
        contact = services.contact_opt_in(contact=self.get_object())
        return Response(self.get_serializer(contact).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "file_format", OpenApiTypes.STR, enum=["csv", "xlsx"], description="Default csv."
            )
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (
                200,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ): OpenApiTypes.BINARY,
        },
    )
    @action(detail=False, methods=["get"], url_path="export", pagination_class=None)
    def export(self, request):
        """The filtered list as CSV or XLSX (the list's filters apply)."""
        contacts = self.filter_queryset(self.get_queryset())
        return export.contacts_export_response(
            contacts,
            request.query_params.get("file_format", "csv"),
            search=self.name_search_alone,
        )


class GroupViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    serializer_class = GroupSerializer
    queryset = Group.objects.annotate(member_count=Count("contacts")).order_by("name")
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    filterset_fields = ["kind"]

    def perform_create(self, serializer):
        serializer.instance = services.group_create(
            tenant=self.request.tenant, **serializer.validated_data
        )
        serializer.instance.member_count = 0

    def perform_update(self, serializer):
        serializer.instance = services.group_update(
            group=serializer.instance, **serializer.validated_data
        )

    @extend_schema(request=GroupMembersSerializer, responses=GroupMembersResponseSerializer)
    @action(detail=True, methods=["post"], url_path="members/add")
    def add_members(self, request, pk=None):
        """Add up to 1,000 contacts to the group (ones already in it are left as they are)."""
        serializer = GroupMembersSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = services.group_add_members(
            group=self.get_object(), contact_ids=serializer.validated_data["contact_ids"]
        )
        return Response({"success": True, "message": f"Added {count} contacts", "count": count})

    @extend_schema(request=GroupMembersSerializer, responses=GroupMembersResponseSerializer)
    @action(detail=True, methods=["post"], url_path="members/remove")
    def remove_members(self, request, pk=None):
        serializer = GroupMembersSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = services.group_remove_members(
            group=self.get_object(), contact_ids=serializer.validated_data["contact_ids"]
        )
        return Response({"success": True, "message": f"Removed {count} contacts", "count": count})

    @extend_schema(responses=ContactSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="members")
    def members(self, request, pk=None):
        """The group's contacts, paginated (the contact list's ?group= gives the same)."""
        group = self.get_object()
        members = Contact.objects.filter(tenant=request.tenant, groups=group).order_by("name", "id")
        rows = with_relations(Contact.objects.filter(tenant=request.tenant))
        self.paginator.django_paginator_class = partial(ContactPaginator, rows=rows)
        page = self.paginate_queryset(with_relations(members))
        return self.get_paginated_response(ContactSerializer(page, many=True).data)
