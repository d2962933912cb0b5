"""Campaigns: the list with progress bars, and a campaign's page with a chart of its messages
by status that follows the sending, the message log with reasons, cancel and retry.

Progress in the list comes from the counters the engine keeps; a campaign's page counts its
messages (delivery.services.campaign_counts), as the API's detail does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.timezone import now
from django.views.decorators.http import require_POST

from mifumo.delivery import services as delivery
from mifumo.delivery.models import (
    MESSAGE_PENDING,
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
)
from mifumo.messaging.services import campaigns as campaign_services
from mifumo.messaging.services.campaigns import campaign_retry_paid
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.scoping import for_tenant, get_for_tenant_or_404
from mifumo.web.access import tenant_page
from mifumo.web.views.compose import report_key

CAMPAIGNS_PER_PAGE = 25
MESSAGES_PER_PAGE = 50
# Campaigns whose figures still move by themselves: their pages poll every 2 s.
SENDING = {CampaignStatus.QUEUED, CampaignStatus.SENDING, CampaignStatus.PAUSED}
# Delivery reports arrive after a campaign has finished sending: its page keeps following
# them this long while some messages are still only "sent".
REPORTS_WINDOW = timedelta(minutes=10)
# The chart's order: the way a message goes, then the ways it can end.
CHART_ORDER = [
    MessageStatus.DELIVERED,
    MessageStatus.SENT,
    MessageStatus.SENDING,
    MessageStatus.QUEUED,
    MessageStatus.UNKNOWN,
    MessageStatus.FAILED,
    MessageStatus.CANCELLED,
]
RETRYABLE = [MessageStatus.FAILED, MessageStatus.UNKNOWN]


def _progress(campaign: Campaign) -> dict:
    """Messages no longer waiting to be sent, out of the campaign's, from its counters."""
    total = campaign.total_messages
    pending = sum(campaign.counters.get(status, 0) for status in MESSAGE_PENDING)
    if campaign.status in SENDING and not campaign.counters:
        pending = total
    done = max(0, total - pending)
    return {"done": done, "total": total, "percent": round(100 * done / total) if total else 0}


@tenant_page
def campaign_list(request):
    campaigns = for_tenant(Campaign, request.tenant).order_by("-created_at", "-id")
    page = Paginator(campaigns, CAMPAIGNS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"campaign": campaign, **_progress(campaign)} for campaign in page]
    context = {
        "page": page,
        "rows": rows,
        "polling": any(row["campaign"].status in SENDING for row in rows),
    }
    if request.headers.get("HX-Request"):
        return render(request, "web/campaigns/rows.html", context)
    return render(request, "web/campaigns/list.html", context)


def _live(campaign: Campaign) -> dict:
    """The chart, status and actions of a campaign, counted from its messages now."""
    counts = delivery.campaign_counts(campaign.pk)
    total = sum(counts.values())
    bars = [
        {
            "status": status,
            "label": status.label.capitalize(),
            "count": counts.get(status, 0),
            "percent": round(100 * counts.get(status, 0) / total, 1) if total else 0,
        }
        for status in CHART_ORDER
    ]
    awaiting_reports = (
        campaign.is_finished
        and counts.get(MessageStatus.SENT, 0) > 0
        and campaign.completed_at is not None
        and now() - campaign.completed_at < REPORTS_WINDOW
    )
    pending = sum(counts.get(status, 0) for status in MESSAGE_PENDING)
    return {
        "campaign": campaign,
        "counts": counts,
        "total": total,
        "bars": bars,
        "done": total - pending,
        "polling": campaign.status in SENDING or awaiting_reports,
        "can_cancel": not campaign.is_finished,
        "cancellable": counts.get(MessageStatus.QUEUED, 0),
        "failed": counts.get(MessageStatus.FAILED, 0),
        "unknown": counts.get(MessageStatus.UNKNOWN, 0),
    }


@tenant_page
def campaign_page(request, campaign_id: uuid.UUID):
    campaign = get_for_tenant_or_404(Campaign, request.tenant, pk=campaign_id)
    status = request.GET.get("status", "")
    log = Message.objects.filter(campaign=campaign).select_related("contact")
    if status in MessageStatus.values:
        log = log.filter(status=status)
    else:
        status = ""
    page = Paginator(log.order_by("created_at", "to"), MESSAGES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "web/campaigns/detail.html",
        {
            **_live(campaign),
            "page": page,
            "status": status,
            "statuses": MessageStatus.choices,
            "report": request.session.pop(report_key(campaign.pk), None),
        },
    )


@tenant_page
def campaign_live(request, campaign_id: uuid.UUID):
    """The part of a campaign's page that follows the sending (polled every 2 s)."""
    campaign = get_for_tenant_or_404(Campaign, request.tenant, pk=campaign_id)
    return render(request, "web/campaigns/live.html", _live(campaign))


@tenant_page
@require_POST
def campaign_cancel(request, campaign_id: uuid.UUID):
    campaign = get_for_tenant_or_404(Campaign, request.tenant, pk=campaign_id)
    try:
        cancelled = campaign_services.campaign_cancel(campaign=campaign)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Campaign cancelled: {cancelled:,} message{'s' * (cancelled != 1)} stopped."
        )
    return redirect("web:campaign", campaign_id=campaign.pk)


@tenant_page
@require_POST
def campaign_retry(request, campaign_id: uuid.UUID):
    campaign = get_for_tenant_or_404(Campaign, request.tenant, pk=campaign_id)
    try:
        retried = campaign_retry_paid(
            campaign=campaign, statuses=RETRYABLE, created_by=request.user
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if retried:
            messages.success(
                request, f"Sending again to {retried:,} recipient{'s' * (retried != 1)}."
            )
        else:
            messages.info(request, "No failed or unknown message to send again.")
    return redirect("web:campaign", campaign_id=campaign.pk)


urlpatterns = [
    path("campaigns/", campaign_list, name="campaigns"),
    path("campaigns/<uuid:campaign_id>/", campaign_page, name="campaign"),
    path("campaigns/<uuid:campaign_id>/live/", campaign_live, name="campaign-live"),
    path("campaigns/<uuid:campaign_id>/cancel/", campaign_cancel, name="campaign-cancel"),
    path("campaigns/<uuid:campaign_id>/retry/", campaign_retry, name="campaign-retry"),
]
