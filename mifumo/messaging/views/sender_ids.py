"""Sender ids: a tenant's admins request them; platform staff approve them in the admin."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from mifumo.messaging.models import SenderId
from mifumo.messaging.serializers.campaigns import SenderIdRequestSerializer, SenderIdSerializer
from mifumo.messaging.services import sender_ids as services
from mifumo.tenancy.permissions import IsTenantAdmin, IsTenantMember
from mifumo.tenancy.scoping import TenantScopedMixin


class SenderIdViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):  # fmt: skip
    serializer_class = SenderIdSerializer
    queryset = SenderId.objects.order_by("-created_at")

    def get_permissions(self):
        # Members send with approved sender ids; asking for or withdrawing one is an admin's.
        if self.action in ("create", "destroy"):
            return [IsTenantAdmin()]
        return [IsTenantMember()]

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        response.data["default_sender_id"] = services.default_sender_id(request.tenant)
        return response

    @extend_schema(request=SenderIdRequestSerializer, responses=SenderIdSerializer)
    def create(self, request):
        """Request a sender id (pending until platform staff approve it)."""
        serializer = SenderIdRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sender_id = services.sender_id_request(
            tenant=request.tenant, requested_by=request.user, **serializer.validated_data
        )
        return Response(SenderIdSerializer(sender_id).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.sender_id_withdraw(sender_id=instance)


router = SimpleRouter()
router.register("sender-ids", SenderIdViewSet, basename="sender-id")
urlpatterns = router.urls
