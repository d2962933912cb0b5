from django.contrib import admin

from mifumo.delivery.models import Campaign, Message, ProviderAccount


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "tenant", "rate_limit", "is_default", "created_at"]
    list_filter = ["provider"]
    search_fields = ["name", "tenant__name"]
    raw_id_fields = ["tenant", "fallback"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["__str__", "tenant", "channel", "status", "total_messages", "created_at"]
    list_filter = ["status", "channel", "origin"]
    search_fields = ["name", "tenant__name"]
    raw_id_fields = ["tenant", "created_by", "provider_account"]
    readonly_fields = ["counters", "counters_at", "reports_at", "dispatched_at"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["to", "campaign", "status", "provider", "attempts", "updated_at"]
    list_filter = ["status", "provider"]
    search_fields = ["to", "provider_message_id"]
    raw_id_fields = ["tenant", "campaign", "contact"]
