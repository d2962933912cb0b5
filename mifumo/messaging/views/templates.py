"""/api/messaging/templates/: CRUD and a preview for one contact."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from mifumo.messaging.models import Template
from mifumo.messaging.serializers.templates import (
    TemplatePreviewResponseSerializer,
    TemplatePreviewSerializer,
    TemplateSerializer,
)
from mifumo.messaging.services import templates as services
from mifumo.tenancy.scoping import TenantScopedMixin


class TemplateViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """Members and admins alike manage templates, as they do contacts."""

    serializer_class = TemplateSerializer
    queryset = Template.objects.select_related("created_by").order_by("-created_at", "-id")
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    filterset_fields = ["channel"]

    def perform_create(self, serializer):
        serializer.instance = services.template_create(
            tenant=self.request.tenant, created_by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.template_update(
            template=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.template_delete(template=instance)

    @extend_schema(request=TemplatePreviewSerializer, responses=TemplatePreviewResponseSerializer)
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """The template rendered for a contact and/or given variables, with its segments."""
        serializer = TemplatePreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preview = services.template_preview(template=self.get_object(), **serializer.validated_data)
        body = asdict(preview)
        if body["subject"] is None:
            del body["subject"]
        return Response(body)


router = SimpleRouter()
router.register("templates", TemplateViewSet, basename="template")
urlpatterns = router.urls
