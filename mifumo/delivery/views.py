"""Delivery reports from vendors: /api/messaging/webhooks/<provider>/?token=<secret>.

Vendors cannot send our JWTs, so each account has a webhook secret, carried in the callback
URL; a report only reaches messages sent through the account whose secret it carries.
"""

from __future__ import annotations

import hmac

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.delivery import services
from mifumo.delivery.accounts import account_config, platform_account
from mifumo.delivery.models import ProviderAccount
from mifumo.delivery.providers.base import get_provider_class
from mifumo.tenancy.errors import ApplicationError


def _account_for(provider: str, token: str):
    """(config, ProviderAccount row or None for the platform's) whose secret is `token`."""
    platform = platform_account(provider)
    if platform.webhook_secret and hmac.compare_digest(platform.webhook_secret, token):
        return platform, None
    row = ProviderAccount.objects.filter(provider=provider, webhook_secret=token).first()
    if row is not None and row.webhook_secret:
        return account_config(row), row
    return None, None


class DeliveryReportView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
        request=None,
        responses=inline_serializer(
            "DeliveryReportReceipt",
            {
                "success": serializers.BooleanField(),
                "received": serializers.IntegerField(),
                "applied": serializers.IntegerField(),
            },
        ),
        description="Called by SMS vendors, in each vendor's own format.",
    )
    def post(self, request, provider: str):
        try:
            provider_class = get_provider_class(provider)
        except KeyError:
            raise ApplicationError(
                f"Unknown provider {provider!r}.", error_code="not_found", status_code=404
            ) from None
        token = request.query_params.get("token", "")
        config, row = _account_for(provider, token) if token else (None, None)
        if config is None:
            raise ApplicationError(
                "Unknown or missing webhook token.", error_code="not_authenticated", status_code=401
            )
        try:
            reports = provider_class(config).parse_delivery_report(request._request)
        except (ValueError, KeyError) as error:
            raise ApplicationError(
                f"Unreadable delivery report: {error}", error_code="invalid_report"
            ) from None
        applied = services.apply_delivery_reports(provider=provider, reports=reports, account=row)
        return Response({"success": True, "received": len(reports), "applied": applied})

    @extend_schema(exclude=True)
    def get(self, request, provider: str):
        # Arkesel calls its callback URL with query parameters.
        return self.post(request, provider)
