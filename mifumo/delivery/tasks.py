"""Celery tasks of the engine. Each takes ids, and each is safe to run twice at once."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils.timezone import now

from mifumo.delivery import dispatch, services
from mifumo.delivery.accounts import sending_account
from mifumo.delivery.models import Campaign, CampaignStatus
from mifumo.delivery.providers.base import ProviderError

logger = logging.getLogger(__name__)


@shared_task
def dispatch_campaign(campaign_id: str) -> None:
    outcome = dispatch.dispatch(campaign_id)
    if outcome.requeue_in is not None and outcome.requeue_in <= settings.CELERY_MAX_COUNTDOWN:
        # Behind whatever other campaigns queued meanwhile: campaigns take turns.
        dispatch_campaign.apply_async((campaign_id,), countdown=outcome.requeue_in)
    # Longer waits (retry backoff, rate limits) are kept on the messages; the sweep re-queues
    # the campaign when they are due, so no Celery countdown outlives the visibility timeout.


@shared_task
def probe_campaign(campaign_id: str) -> None:
    """Ask the vendor whether a paused campaign's account can send again; resume if so."""
    campaign = (
        Campaign.objects.select_related("provider_account", "tenant")
        .filter(pk=campaign_id, status=CampaignStatus.PAUSED)
        .first()
    )
    if campaign is None:
        return
    try:
        sending_account(campaign).provider.probe()
    except NotImplementedError:
        pass  # no probe for this vendor: the next send is the probe
    except ProviderError as error:
        logger.info("Campaign %s still paused: %s", campaign_id, error.message)
        return
    if Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.PAUSED).update(
        status=CampaignStatus.SENDING, pause_reason="", probe_at=None, consecutive_failures=0
    ):
        logger.info("Campaign %s resumed", campaign_id)
        dispatch_campaign.delay(campaign_id)


@shared_task
def sweep() -> None:
    stamp = now()
    services.release_due_campaigns(stamp)
    for campaign_id in services.reclaim_expired_leases(stamp):
        dispatch_campaign.delay(str(campaign_id))
    for campaign_id in services.campaigns_needing_dispatch(stamp):
        Campaign.objects.filter(pk=campaign_id).update(dispatched_at=stamp)
        dispatch_campaign.delay(str(campaign_id))
    services.refresh_stale_counters()
    interval = timedelta(seconds=settings.DELIVERY["probe_interval_seconds"])
    for campaign_id in Campaign.objects.filter(
        status=CampaignStatus.PAUSED, probe_at__lte=stamp
    ).values_list("pk", flat=True):
        # Of two sweeps, the one that moves probe_at on does the probing.
        if Campaign.objects.filter(pk=campaign_id, probe_at__lte=stamp).update(
            probe_at=stamp + interval
        ):
            probe_campaign.delay(str(campaign_id))
