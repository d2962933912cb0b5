from __future__ import annotations

from django.utils.timezone import now
from rest_framework import serializers

from mifumo.communications.models import BulkMessage, BulkMessageStatus, DeliveryMethod
from mifumo.tenancy.serializers import RejectUnknownFieldsMixin

# A schedule a little in the past is "now" (clocks differ); further back is a mistake.
SCHEDULE_GRACE_SECONDS = 60


class BulkMessageSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """The spec's fields, then read-only counts: total_recipients (messages queued),
    sent_count (sent or delivered), failed_count (failed, cancelled, or unknown: not
    confirmed sent), skipped_count and skipped_recipients (people who could not be addressed:
    no e-mail address, opted out, inactive; the first 100 with the reason)."""

    sender = serializers.SerializerMethodField()
    recipient_group = serializers.CharField(
        max_length=150, required=False, allow_blank=True, allow_null=True, default=""
    )
    custom_recipients = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default="", trim_whitespace=False
    )
    subject = serializers.CharField(
        max_length=300, required=False, allow_blank=True, allow_null=True, default=""
    )
    message_body = serializers.CharField()
    delivery_method = serializers.ChoiceField(choices=DeliveryMethod.choices)
    status = serializers.ChoiceField(choices=BulkMessageStatus.choices, required=False)
    scheduled_time = serializers.DateTimeField(required=False, allow_null=True, default=None)
    campaign_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = BulkMessage
        fields = [
            "id",
            "sender",
            "recipient_group",
            "custom_recipients",
            "subject",
            "message_body",
            "delivery_method",
            "status",
            "scheduled_time",
            "sent_time",
            "total_recipients",
            "sent_count",
            "failed_count",
            "skipped_count",
            "skipped_recipients",
            "campaign_id",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "sent_time",
            "total_recipients",
            "sent_count",
            "failed_count",
            "skipped_count",
            "skipped_recipients",
            "created_at",
        ]

    def get_sender(self, bulk: BulkMessage) -> str:
        user = bulk.created_by
        return (user.name or user.email) if user is not None else ""

    def validate_subject(self, value):
        # A line break in a subject would start a new mail header (a Bcc: of the attacker's
        # choosing); the mail adapter refuses such a message anyway, but only after it was
        # accepted. Say so now.
        if value and ("\r" in value or "\n" in value):
            raise serializers.ValidationError("A subject is one line: remove the line breaks.")
        return value

    def validate_scheduled_time(self, value):
        if value is not None and (now() - value).total_seconds() > SCHEDULE_GRACE_SECONDS:
            raise serializers.ValidationError(
                f"{value.isoformat()} has passed; leave it out (or null) to send now."
            )
        return value

    def validate_status(self, value):
        if self.instance is None and value != BulkMessageStatus.PENDING:
            raise serializers.ValidationError(
                "A new message is Pending; its status then follows the sending."
            )
        return value


class BulkMessageListSerializer(BulkMessageSerializer):
    """The list leaves out skipped_recipients (the detail has them); skipped_count stays."""

    class Meta(BulkMessageSerializer.Meta):
        fields = [f for f in BulkMessageSerializer.Meta.fields if f != "skipped_recipients"]


class RecipientGroupSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='What recipient_group takes, e.g. "Parents of Form 2B"')
    kind = serializers.ChoiceField(choices=["system", "class", "parents", "custom"])
    group_id = serializers.UUIDField(allow_null=True, help_text="The contacts group, if one")
    member_count = serializers.IntegerField()
    email_count = serializers.IntegerField(help_text="Members with an e-mail address")


class RecipientGroupPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RecipientGroupSerializer(many=True)
