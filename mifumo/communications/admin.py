from django.contrib import admin

from mifumo.communications.models import BulkMessage


@admin.register(BulkMessage)
class BulkMessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "tenant", "delivery_method", "recipient_group", "status"]
    list_filter = ["status", "delivery_method"]
    search_fields = ["subject", "message_body", "tenant__name"]
    raw_id_fields = ["tenant", "created_by", "campaign"]
    readonly_fields = ["sent_count", "failed_count", "skipped_count", "skipped_recipients"]
