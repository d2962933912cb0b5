from __future__ import annotations

from rest_framework import serializers

from mifumo.delivery.models import Campaign, Message, MessageStatus
from mifumo.messaging.models import SenderId
from mifumo.tenancy.serializers import StrictSerializer


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = [
            "id", "name", "origin", "channel", "sender_id", "subject", "body", "status",
            "pause_reason", "scheduled_at", "total_messages", "total_segments", "counters",
            "created_at", "started_at", "completed_at",
        ]  # fmt: skip
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    campaign_id = serializers.UUIDField(read_only=True)
    phone = serializers.CharField(source="to", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id", "campaign_id", "phone", "to", "subject", "body", "segments", "encoding",
            "status", "provider", "provider_message_id", "attempts", "error_code",
            "error_message", "cost", "created_at", "sent_at", "delivered_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


RETRYABLE = [MessageStatus.FAILED, MessageStatus.UNKNOWN]


class CampaignRetrySerializer(StrictSerializer):
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=RETRYABLE),
        required=False,
        allow_empty=False,
        help_text="Which recipients to send to again: failed, unknown (default both).",
    )


class SenderIdSerializer(serializers.ModelSerializer):
    class Meta:
        model = SenderId
        fields = ["id", "value", "purpose", "status", "rejection_reason", "created_at",
                  "reviewed_at"]  # fmt: skip
        read_only_fields = ["id", "status", "rejection_reason", "created_at", "reviewed_at"]


class SenderIdRequestSerializer(StrictSerializer):
    value = serializers.CharField(max_length=15)
    purpose = serializers.CharField(max_length=300, required=False, allow_blank=True)
