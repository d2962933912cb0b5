"""POST /api/messaging/sms/estimate/: what a send would cost, before sending it.

A read, so no throttle beyond the defaults. `cost`, `balance` and `balance_after` are
decimal strings with 2 to 4 decimals ("12.50", "0.0375"): credits are priced to 4 decimals
and a float would round them.
"""

from __future__ import annotations

from dataclasses import asdict

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.messaging.serializers.estimate import (
    EstimateResponseSerializer,
    EstimateSerializer,
    format_money,
)
from mifumo.messaging.services.estimate import sms_estimate


class EstimateView(APIView):
    @extend_schema(request=EstimateSerializer, responses=EstimateResponseSerializer)
    def post(self, request):
        """Encoding, segments, cost and balance after, for a message or template and its
        recipients; warnings name the characters that make it UCS-2."""
        serializer = EstimateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        estimate = sms_estimate(tenant=request.tenant, **serializer.validated_data)
        body = {"success": True, **asdict(estimate)}
        # Built directly rather than through the response serializer: `errors` may list
        # thousands of recipients.
        for key in ("cost", "balance", "balance_after"):
            body[key] = None if body[key] is None else format_money(body[key])
        return Response(body)


urlpatterns = [path("sms/estimate/", EstimateView.as_view(), name="sms-estimate")]
