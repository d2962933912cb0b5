"""/api/communications/: school bulk messages (admins only) and the groups they can go to."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import filters, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.communications import services
from mifumo.communications.filters import BulkMessageFilter
from mifumo.communications.models import BulkMessage
from mifumo.communications.recipients import recipient_groups
from mifumo.communications.serializers import (
    BulkMessageListSerializer,
    BulkMessageSerializer,
    RecipientGroupPageSerializer,
    RecipientGroupSerializer,
)
from mifumo.tenancy.models import AuditAction
from mifumo.tenancy.pagination import PageNumberPagination
from mifumo.tenancy.permissions import IsTenantAdmin
from mifumo.tenancy.scoping import TenantScopedMixin


class PagedOnRequest(PageNumberPagination):
    """The spec's list is a plain JSON array; ?page= asks for pages instead."""

    def paginate_queryset(self, queryset, request, view=None):
        if self.page_query_param not in request.query_params:
            return None
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response_schema(self, schema):
        # The schema says both shapes, so clients (and schemathesis) accept the plain array.
        return {"oneOf": [schema, super().get_paginated_response_schema(schema)]}


class BulkMessageViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    permission_classes = [IsTenantAdmin]
    queryset = BulkMessage.objects.select_related("created_by").order_by("-created_at", "-id")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = PagedOnRequest
    filter_backends = [DjangoFilterBackend, filters.SearchFilter]
    filterset_class = BulkMessageFilter
    search_fields = ["subject", "message_body"]
    audit_action = {
        "create": AuditAction.BULK_MESSAGE_CREATE,
        "destroy": AuditAction.BULK_MESSAGE_DELETE,
    }

    def get_serializer_class(self):
        return BulkMessageListSerializer if self.action == "list" else BulkMessageSerializer

    @extend_schema(
        responses=BulkMessageListSerializer(many=True),
        description="A plain JSON array, newest first; with ?page= (and ?page_size=) it is "
        "paginated as {count, next, previous, results}.",
    )
    def list(self, request, *args, **kwargs):
        services.bulk_messages_refresh(tenant=request.tenant)
        return super().list(request, *args, **kwargs)

    def get_object(self):
        bulk = super().get_object()
        if services.bulk_messages_refresh(tenant=self.request.tenant, pk=bulk.pk):
            bulk.refresh_from_db()
        return bulk

    def create(self, request, *args, **kwargs):
        """Queue the message (sent by the delivery engine) and answer 201, Pending."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if k != "status"}
        bulk = services.bulk_message_create(tenant=request.tenant, created_by=request.user, **data)
        return Response(self.get_serializer(bulk).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        """{"status": "Failed"} cancels; other fields may change until sending begins."""
        bulk = self.get_object()
        serializer = self.get_serializer(bulk, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        bulk = services.bulk_message_update(bulk=bulk, **changes)
        return Response(self.get_serializer(bulk).data)

    def destroy(self, request, *args, **kwargs):
        """Cancel what has not been sent, and delete the message."""
        services.bulk_message_delete(bulk=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecipientGroupsView(APIView):
    permission_classes = [IsTenantAdmin]
    pagination_class = PageNumberPagination

    @extend_schema(responses=RecipientGroupPageSerializer)
    def get(self, request):
        """The groups a bulk message can go to, with their member counts (paginated)."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(recipient_groups(request.tenant), request, view=self)
        return paginator.get_paginated_response(RecipientGroupSerializer(page, many=True).data)
