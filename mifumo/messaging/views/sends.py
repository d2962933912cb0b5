"""The spec's bulk send and Excel upload."""

from __future__ import annotations

import io

from django.conf import settings
from django.urls import path
from django.utils.timezone import now
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from mifumo.delivery.models import Campaign
from mifumo.memory import collector_paused
from mifumo.messaging import idempotency
from mifumo.messaging.models import BulkUpload, Template
from mifumo.messaging.serializers.sends import (
    BulkSendResponseSerializer,
    BulkSendSerializer,
    BulkUploadDetailSerializer,
    BulkUploadResponseSerializer,
    BulkUploadSerializer,
)
from mifumo.messaging.services.sends import NoValidRecipients, RecipientInput, sms_send
from mifumo.messaging.services.uploads import sms_bulk_upload
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditAction
from mifumo.tenancy.scoping import get_for_tenant_or_404
from mifumo.tenancy.throttles import SmsBulkThrottle
from mifumo.tenancy.uploads import checked_upload

# A schedule a little in the past is "now" (clocks differ); further back is a mistake.
SCHEDULE_GRACE_SECONDS = 60


def _counts_body(total: int, results) -> dict:
    return {
        "total_contacts": total,
        "processed_contacts": sum(1 for r in results if not r.invalid_phone),
        "successful_contacts": sum(1 for r in results if r.success),
    }


def _spec_400(message: str, total: int = 0, results=(), error_code: str = "validation_error"):
    """The spec's 400 body for bulk send, inside the envelope."""
    return ApplicationError(
        message,
        error_code=error_code,
        body={**_counts_body(total, results), "results": [r.as_dict() for r in results]},
    )


def _schedule(value):
    if value is None:
        return None
    if (now() - value).total_seconds() > SCHEDULE_GRACE_SECONDS:
        raise ApplicationError(
            "schedule_at is in the past.",
            error_code="validation_error",
            details={"schedule_at": f"{value.isoformat()} has passed; leave it out to send now."},
        )
    return value


def _recipients(contacts: list) -> list[RecipientInput]:
    recipients = []
    for item in contacts:
        if not isinstance(item, dict):
            recipients.append(RecipientInput(label="", phone=None))
            continue
        phone, name = item.get("phone"), item.get("name")
        variables = (
            {
                key: value
                for key, value in item.items()
                if key not in ("phone", "name") and isinstance(value, str | int | float | bool)
            }
            if len(item) > ("phone" in item) + ("name" in item)
            else None  # only phone and name: the common case, no variables
        )
        recipients.append(
            RecipientInput(
                label=str(phone or ""),
                phone=phone,
                name=name if isinstance(name, str) else "",
                variables=variables,
            )
        )
    return recipients


def _lookups(request, data) -> dict:
    found = {}
    if data.get("template_id"):
        found["template"] = get_for_tenant_or_404(Template, request.tenant, pk=data["template_id"])
    if data.get("campaign_id"):
        found["campaign"] = get_for_tenant_or_404(Campaign, request.tenant, pk=data["campaign_id"])
    return found


class BulkSendView(APIView):
    throttle_classes = [SmsBulkThrottle]
    audit_action = AuditAction.SMS_BULK_SEND

    @extend_schema(request=BulkSendSerializer, responses=BulkSendResponseSerializer)
    def post(self, request):
        """Send one SMS per contact (personalised by `message` or `template_id` variables)."""
        with collector_paused():  # 10,000 recipients' objects, all freed by the request's end
            return self._post(request)

    def _post(self, request):
        serializer = BulkSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        contacts = data["contacts"]
        limit = settings.SMS_BULK_SEND_MAX_RECIPIENTS
        if not contacts:
            raise _spec_400("No contacts were given.")
        if len(contacts) > limit:
            raise _spec_400(
                f"Too many contacts: {len(contacts):,}; the limit is {limit:,} per request.",
                error_code="too_many_recipients",
            )
        if not data.get("message") and not data.get("template_id"):
            raise _spec_400("A message or a template_id is required.")
        return idempotency.run_once(
            request,
            endpoint="sms-bulk-send",
            fingerprint_of=lambda: idempotency.fingerprint(request.data),
            handler=lambda: self._send(request, data),
        )

    def _send(self, request, data) -> Response:
        contacts = data["contacts"]
        try:
            outcome = sms_send(
                tenant=request.tenant,
                created_by=request.user,
                recipients=_recipients(contacts),
                message=data.get("message", ""),
                sender_id=data.get("sender_id", ""),
                schedule_at=_schedule(data.get("schedule_at")),
                **_lookups(request, data),
            )
        except NoValidRecipients as refused:
            raise _spec_400(refused.message, len(contacts), refused.results) from None
        except ApplicationError as error:
            if error.status_code == 400 and not error.body:
                # The spec's 400 body for every refusal of the request as a whole.
                error.body = {**_counts_body(len(contacts), []), "results": []}
            raise
        return Response(
            {
                "success": True,
                **_counts_body(len(contacts), outcome.results),
                "campaign_id": str(outcome.campaign.pk),
                "status": outcome.campaign.status,
                "scheduled_at": outcome.campaign.scheduled_at,
                "results": [result.as_dict() for result in outcome.results],
            }
        )


MAX_ERRORS_SHOWN = 1000


def upload_body(upload: BulkUpload, *, message: str) -> dict:
    errors = upload.errors
    body = {
        "success": True,
        "message": message,
        "upload_id": str(upload.pk),
        "total_contacts": upload.total_contacts,
        "processed_contacts": upload.processed_contacts,
        "successful_contacts": upload.successful_contacts,
        "errors": errors[:MAX_ERRORS_SHOWN],
    }
    if len(errors) > MAX_ERRORS_SHOWN:
        body["errors_not_shown"] = len(errors) - MAX_ERRORS_SHOWN
    return body


class BulkUploadView(APIView):
    throttle_classes = [SmsBulkThrottle]
    audit_action = AuditAction.SMS_BULK_UPLOAD
    parser_classes = [MultiPartParser]

    @extend_schema(request=BulkUploadSerializer, responses=BulkUploadResponseSerializer)
    def post(self, request):
        """Send the SMS listed in a spreadsheet: A phone, B name, C message, D sender id."""
        with collector_paused():  # 50,000 rows' objects, all freed by the request's end
            return self._post(request)

    def _post(self, request):
        serializer = BulkUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        content = checked_upload(data["file"]).read()
        fields = {k: v for k, v in data.items() if k != "file"}
        return idempotency.run_once(
            request,
            endpoint="sms-bulk-upload",
            fingerprint_of=lambda: idempotency.fingerprint(fields, content),
            handler=lambda: self._upload(request, data, content),
        )

    def _upload(self, request, data, content: bytes) -> Response:
        upload = sms_bulk_upload(
            tenant=request.tenant,
            created_by=request.user,
            data=io.BytesIO(content),
            file_name=data["file"].name or "",
            sender_id=data.get("sender_id", ""),
            schedule_at=_schedule(data.get("schedule_at")),
            **_lookups(request, data),
        )
        if not upload.successful_contacts:
            raise ApplicationError(
                "No row of the file could be sent.",
                error_code="no_valid_recipients",
                body={
                    k: v
                    for k, v in upload_body(upload, message="").items()
                    if k != "success" and k != "message"
                },
            )
        return Response(upload_body(upload, message="Bulk SMS upload processed successfully"))


class BulkUploadDetailView(APIView):
    @extend_schema(responses=BulkUploadDetailSerializer)
    def get(self, request, upload_id):
        """An upload's report again, with the progress of its campaigns."""
        upload = get_for_tenant_or_404(BulkUpload, request.tenant, pk=upload_id)
        body = upload_body(upload, message="")
        body.pop("message")
        body["created_at"] = upload.created_at
        body["campaigns"] = [
            {
                "id": str(campaign.pk),
                "status": campaign.status,
                "sender_id": campaign.sender_id,
                "total_messages": campaign.total_messages,
                "counters": campaign.counters,
            }
            for campaign in upload.campaigns.order_by("created_at")
        ]
        return Response(body)


urlpatterns = [
    path("sms/bulk-send/", BulkSendView.as_view(), name="sms-bulk-send"),
    path("sms/bulk-upload/", BulkUploadView.as_view(), name="sms-bulk-upload"),
    path(
        "sms/bulk-upload/<uuid:upload_id>/",
        BulkUploadDetailView.as_view(),
        name="sms-bulk-upload-detail",
    ),
]
