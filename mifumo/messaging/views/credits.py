"""GET /api/messaging/sms/balance/ and /api/messaging/sms/ledger/: any member may read them."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.messaging.models import CreditEntry
from mifumo.messaging.serializers.credits import BalanceSerializer, CreditEntrySerializer
from mifumo.messaging.services import billing
from mifumo.tenancy.scoping import TenantScopedMixin


class BalanceView(APIView):
    @extend_schema(responses=BalanceSerializer)
    def get(self, request):
        body = {
            "success": True,
            "billing_enabled": billing.billing_enabled(),
            "balance": billing.credit_balance(request.tenant),
            "reserved_in_flight": billing.credit_reserved_in_flight(request.tenant),
        }
        return Response(BalanceSerializer(body).data)


class LedgerView(TenantScopedMixin, generics.ListAPIView):
    """The tenant's credit ledger, newest first: every change of the balance and why."""

    serializer_class = CreditEntrySerializer
    queryset = CreditEntry.objects.order_by("-created_at", "-id")


urlpatterns = [
    path("sms/balance/", BalanceView.as_view(), name="sms-balance"),
    path("sms/ledger/", LedgerView.as_view(), name="sms-ledger"),
]
