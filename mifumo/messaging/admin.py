"""Platform staff's side of messaging: approve sender ids, set prices, top up credits.

Balances, the ledger and charges are read-only here: they change only through
services.billing, so every change has its ledger entry (a top-up goes through the form below).
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.timezone import now

from mifumo.messaging.models import (
    BulkUpload,
    CampaignCharge,
    CreditAccount,
    CreditEntry,
    IdempotencyRecord,
    SenderId,
    SenderIdStatus,
    SmsPrice,
    Template,
)
from mifumo.messaging.pricing import forget_prices
from mifumo.messaging.services.billing import credit_top_up
from mifumo.tenancy.models import Tenant


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "channel", "created_at", "updated_at"]
    list_filter = ["channel"]
    search_fields = ["name", "tenant__name"]
    raw_id_fields = ["tenant", "created_by"]
    list_select_related = ["tenant"]


@admin.register(SenderId)
class SenderIdAdmin(admin.ModelAdmin):
    list_display = ["value", "tenant", "status", "purpose", "requested_by", "reviewed_by"]
    list_filter = ["status"]
    search_fields = ["value", "tenant__name"]
    raw_id_fields = ["tenant", "requested_by"]
    readonly_fields = ["reviewed_by", "reviewed_at", "created_at"]
    list_select_related = ["tenant", "requested_by", "reviewed_by"]
    actions = ["approve", "reject"]

    # Only rows not already in that state: approving again keeps the first review.
    @admin.action(description="Approve the selected sender ids", permissions=["change"])
    def approve(self, request, queryset):
        count = queryset.exclude(status=SenderIdStatus.APPROVED).update(
            status=SenderIdStatus.APPROVED,
            reviewed_by=request.user,
            reviewed_at=now(),
            rejection_reason="",
        )
        self.message_user(request, f"{count} sender id(s) approved.", messages.SUCCESS)

    @admin.action(description="Reject the selected sender ids", permissions=["change"])
    def reject(self, request, queryset):
        count = queryset.exclude(status=SenderIdStatus.REJECTED).update(
            status=SenderIdStatus.REJECTED, reviewed_by=request.user, reviewed_at=now()
        )
        self.message_user(
            request,
            f"{count} sender id(s) rejected. Open one to write the reason its tenant will see.",
            messages.SUCCESS,
        )

    def save_model(self, request, obj, form, change):
        if "status" in form.changed_data:
            obj.reviewed_by, obj.reviewed_at = request.user, now()
        super().save_model(request, obj, form, change)


@admin.register(SmsPrice)
class SmsPriceAdmin(admin.ModelAdmin):
    list_display = ["region", "price_per_segment"]
    search_fields = ["region"]
    ordering = ["region"]

    # Other processes see a change within pricing._PRICE_CACHE_SECONDS; this one at once.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_prices()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget_prices()


class TopUpForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.order_by("name"))
    amount = forms.DecimalField(max_digits=14, decimal_places=4, min_value=Decimal("0.0001"))
    note = forms.CharField(
        max_length=300, required=False, help_text="Shown in the tenant's ledger, e.g. an invoice."
    )


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["tenant", "balance", "updated_at", "top_up_link"]
    search_fields = ["tenant__name"]
    list_select_related = ["tenant"]
    ordering = ["tenant__name"]
    change_list_template = "admin/messaging/creditaccount/change_list.html"

    @admin.display(description="")
    def top_up_link(self, account):
        url = reverse("admin:messaging_creditaccount_top_up")
        return format_html('<a href="{}?tenant={}">Top up</a>', url, account.tenant_id)

    def get_urls(self):
        view = self.admin_site.admin_view(self.top_up_view)
        return [path("top-up/", view, name="messaging_creditaccount_top_up"), *super().get_urls()]

    def top_up_view(self, request):
        """Add credits to any tenant's balance (a tenant without an account gets one)."""
        if not request.user.has_perm("messaging.add_creditentry"):
            raise PermissionDenied
        form = TopUpForm(request.POST or None, initial={"tenant": request.GET.get("tenant")})
        if request.method == "POST" and form.is_valid():
            entry = credit_top_up(
                tenant=form.cleaned_data["tenant"],
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
                created_by=request.user,
            )
            self.message_user(
                request,
                f"{form.cleaned_data['tenant']}: {entry.amount} added, "
                f"the balance is now {entry.balance_after}.",
                messages.SUCCESS,
            )
            return redirect("admin:messaging_creditaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Top up credits",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/messaging/top_up.html", context)


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "kind", "amount", "balance_after", "created_by", "note"]
    list_filter = ["kind"]
    search_fields = ["tenant__name", "note"]
    list_select_related = ["tenant", "created_by"]
    date_hierarchy = "created_at"


@admin.register(CampaignCharge)
class CampaignChargeAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "tenant", "reserved", "refunded", "settled_at"]
    search_fields = ["tenant__name"]
    list_select_related = ["campaign", "tenant"]


@admin.register(BulkUpload)
class BulkUploadAdmin(ReadOnlyAdmin):
    list_display = ["file_name", "tenant", "total_contacts", "successful_contacts", "created_at"]
    search_fields = ["file_name", "tenant__name"]
    list_select_related = ["tenant"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "endpoint", "tenant", "status_code", "created_at"]
    search_fields = ["key"]
    list_select_related = ["tenant"]
