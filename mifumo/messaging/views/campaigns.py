"""Campaigns (list, detail with live counters, cancel, retry) and their messages."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from mifumo.contacts.filters import phone_prefixes
from mifumo.delivery import services as delivery
from mifumo.delivery.models import Campaign, Message, MessageStatus
from mifumo.messaging.serializers.campaigns import (
    RETRYABLE,
    CampaignRetrySerializer,
    CampaignSerializer,
    MessageSerializer,
)
from mifumo.messaging.services.campaigns import campaign_cancel, campaign_retry_paid
from mifumo.tenancy.filters import IsoDateTimeFilter
from mifumo.tenancy.models import AuditAction
from mifumo.tenancy.scoping import TenantScopedMixin


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.CharFilter()
    origin = django_filters.CharFilter()
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")


class CampaignViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = CampaignSerializer
    queryset = Campaign.objects.order_by("-created_at", "-id")
    filterset_class = CampaignFilter
    audit_action = {"cancel": AuditAction.CAMPAIGN_CANCEL, "retry": AuditAction.CAMPAIGN_RETRY}

    def retrieve(self, request, *args, **kwargs):
        """A campaign with its messages counted per status now (the list shows the cached
        counters the engine refreshes every few seconds)."""
        campaign = self.get_object()
        body = self.get_serializer(campaign).data
        body["counters"] = delivery.campaign_counts(campaign.pk)
        return Response(body)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a campaign: messages not yet sent are cancelled (and refunded)."""
        campaign = self.get_object()
        cancelled = campaign_cancel(campaign=campaign)
        campaign.refresh_from_db()
        return Response(
            {"success": True, "cancelled_messages": cancelled, **self.get_serializer(campaign).data}
        )

    @extend_schema(request=CampaignRetrySerializer, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Send again to the recipients whose message failed or whose outcome is unknown."""
        campaign = self.get_object()
        serializer = CampaignRetrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        retried = campaign_retry_paid(
            campaign=campaign,
            statuses=serializer.validated_data.get("statuses", RETRYABLE),
            created_by=request.user,
        )
        campaign.refresh_from_db()
        return Response(
            {"success": True, "retried_messages": retried, **self.get_serializer(campaign).data}
        )


class MessageFilter(django_filters.FilterSet):
    campaign = django_filters.UUIDFilter(field_name="campaign_id")
    status = django_filters.MultipleChoiceFilter(choices=MessageStatus.choices)
    phone = django_filters.CharFilter(method="filter_phone", help_text="Any shape, or a prefix.")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    def filter_phone(self, queryset, name, value):
        query = Q()
        for prefix in phone_prefixes(value, self.request.tenant.default_region):
            query |= Q(to__startswith=prefix)
        return queryset.filter(query)


class MessageViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):  # fmt: skip
    serializer_class = MessageSerializer
    queryset = Message.objects.order_by("-created_at", "-id")
    filterset_class = MessageFilter


router = SimpleRouter()
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("messages", MessageViewSet, basename="message")
urlpatterns = router.urls
