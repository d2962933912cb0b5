"""Serializers of GET /api/messaging/sms/balance/ and /api/messaging/sms/ledger/."""

from __future__ import annotations

from rest_framework import serializers

from mifumo.messaging.models import CreditEntry

_AMOUNT = {"max_digits": 14, "decimal_places": 4}


class BalanceSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    billing_enabled = serializers.BooleanField()
    balance = serializers.DecimalField(**_AMOUNT)
    reserved_in_flight = serializers.DecimalField(
        **_AMOUNT, help_text="Held by campaigns that have not been settled yet."
    )


class CreditEntrySerializer(serializers.ModelSerializer):
    campaign_id = serializers.UUIDField(allow_null=True, read_only=True)

    class Meta:
        model = CreditEntry
        fields = ["id", "kind", "amount", "balance_after", "campaign_id", "note", "created_at"]
        read_only_fields = fields
