"""Campaigns in the browser: the list's progress bars and the campaign page's chart follow the
sending without a reload; the message log gives reasons; cancel and retry ask first."""

from __future__ import annotations

from django.db import transaction
from django.test import Client
from playwright.sync_api import expect

from mifumo.delivery.models import Campaign, CampaignStatus, Message, MessageStatus
from mifumo.delivery.services import campaign_refresh
from mifumo.messaging.services.sends import RecipientInput, sms_send

POLL = {"timeout": 10_000}  # the pages poll every 2 s


def a_campaign(tenant, count: int, name: str = "Kikao cha wazazi") -> Campaign:
    """A campaign of `count` queued messages, sent the way the dashboard sends."""
    code = {"TZ": "+2557541", "KE": "+2547121"}[tenant.default_region]
    phones = [f"{code}{index:05d}" for index in range(count)]
    with transaction.atomic():
        outcome = sms_send(
            tenant=tenant,
            created_by=None,
            recipients=[RecipientInput(label=phone, phone=phone) for phone in phones],
            message="Kikao cha wazazi ni Jumamosi saa nne.",
            origin="dashboard",
            name=name,
        )
    return outcome.campaign


def progress(campaign: Campaign, count: int, status: str, **fields) -> None:
    """What the engine does: move `count` of the campaign's waiting messages on."""
    waiting = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    ids = list(waiting.order_by("to").values_list("pk", flat=True)[:count])
    Message.objects.filter(pk__in=ids).update(status=status, **fields)
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.QUEUED).update(
        status=CampaignStatus.SENDING
    )
    campaign_refresh(campaign.pk)


def accept_dialogs(page) -> list[str]:
    """Accept the confirmations the page asks for, and keep what they said."""
    said: list[str] = []

    def accept(dialog):
        said.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return said


def test_the_list_shows_progress_and_follows_a_sending_campaign(sign_in, bob, tenant_a, tenant_b):
    done = a_campaign(tenant_a, 2, name="Mkutano wa jana")
    progress(done, 2, MessageStatus.DELIVERED)
    sending = a_campaign(tenant_a, 5, name="Ada ya muhula")
    progress(sending, 2, MessageStatus.SENT)
    a_campaign(tenant_b, 3, name="Their campaign")

    page = sign_in(bob)  # a member sees the organisation's campaigns
    page.goto("/campaigns/")
    rows = page.get_by_test_id("campaign-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Ada ya muhula")
    expect(rows.nth(0).get_by_test_id("progress")).to_have_text("2 / 5")
    expect(rows.nth(0).get_by_test_id("campaign-status")).to_have_text("Sending")
    expect(rows.nth(1).get_by_test_id("progress")).to_have_text("2 / 2")
    expect(page.get_by_text("Their campaign")).to_have_count(0)

    progress(sending, 3, MessageStatus.SENT)  # no reload: the rows poll while one is sending
    expect(rows.nth(0).get_by_test_id("progress")).to_have_text("5 / 5", **POLL)
    expect(rows.nth(0).get_by_test_id("campaign-status")).to_have_text("Completed", **POLL)
    rows.nth(0).get_by_role("link", name="Ada ya muhula").click()
    expect(page.get_by_role("heading", name="Ada ya muhula")).to_be_visible()


def test_the_chart_follows_the_sending_and_the_log_gives_reasons(sign_in, alice, tenant_a):
    campaign = a_campaign(tenant_a, 4)
    progress(campaign, 1, MessageStatus.DELIVERED)
    progress(
        campaign,
        1,
        MessageStatus.FAILED,
        error_code="1006",
        error_message="The number is not on any network",
    )
    page = sign_in(alice)
    page.goto(f"/campaigns/{campaign.pk}/")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    expect(page.get_by_test_id("count-delivered")).to_have_text("1")
    expect(page.get_by_test_id("count-failed")).to_have_text("1")
    expect(page.get_by_test_id("count-queued")).to_have_text("2")
    expect(page.get_by_test_id("campaign-progress")).to_have_text("2 of 4 sent or finished")

    progress(campaign, 2, MessageStatus.DELIVERED)  # no reload: the chart and the log poll
    expect(page.get_by_test_id("count-delivered")).to_have_text("3", **POLL)
    rows = page.get_by_test_id("message-row")
    expect(rows.filter(has_text="Delivered")).to_have_count(3, **POLL)
    expect(page.get_by_test_id("count-queued")).to_have_text("0")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
    expect(page.get_by_role("button", name="Cancel campaign")).to_have_count(0)

    expect(rows).to_have_count(4)
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("The number is not on any network (1006)")
    assert page.url.endswith("?status=failed")


def test_cancel_asks_first_then_stops_the_messages_not_yet_sent(sign_in, alice, tenant_a):
    campaign = a_campaign(tenant_a, 3)
    page = sign_in(alice)
    page.goto(f"/campaigns/{campaign.pk}/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Queued")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.QUEUED

    said = accept_dialogs(page)
    # Right after a poll, so that leaving the page aborts no request (htmx logs an abort as
    # a console error).
    with page.expect_response("**/live/"):
        pass
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.get_by_text("Campaign cancelled: 3 messages stopped.")).to_be_visible()
    assert said == ["Cancel this campaign? 3 messages not yet sent will not be sent."]
    expect(page.get_by_test_id("campaign-status")).to_have_text("Cancelled")
    expect(page.get_by_test_id("count-cancelled")).to_have_text("3")
    assert set(campaign.messages.values_list("status", flat=True)) == {MessageStatus.CANCELLED}


def test_retry_sends_the_failed_and_unknown_messages_again(sign_in, alice, tenant_a):
    campaign = a_campaign(tenant_a, 4)
    progress(campaign, 1, MessageStatus.DELIVERED)
    progress(campaign, 2, MessageStatus.FAILED, error_message="Network timeout")
    progress(campaign, 1, MessageStatus.UNKNOWN, error_message="The worker stopped")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED

    page = sign_in(alice)
    page.goto(f"/campaigns/{campaign.pk}/")
    said = accept_dialogs(page)
    page.get_by_role("button", name="Retry failed (3)").click()
    expect(page.get_by_text("Sending again to 3 recipients.")).to_be_visible()
    assert said == [
        "Send again to 3 recipients? 1 of them may have received it already: their outcome "
        "is unknown."
    ]
    expect(page.get_by_test_id("count-queued")).to_have_text("3")
    expect(page.get_by_role("button", name="Retry failed (3)")).to_have_count(0)
    statuses = sorted(campaign.messages.values_list("status", flat=True))
    assert statuses == ["delivered", "queued", "queued", "queued"]
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.QUEUED


def test_another_organisations_campaign_is_not_found(sign_in, charlie, tenant_a):
    campaign = a_campaign(tenant_a, 2)
    progress(campaign, 1, MessageStatus.FAILED, error_message="Rejected")
    page = sign_in(charlie)
    page.goto("/campaigns/")
    expect(page.get_by_text("Nothing sent yet.")).to_be_visible()
    # In another tab: Chromium logs a console error for every 404, which the `page` fixture
    # counts as a failure.
    tab = page.context.new_page()
    for url in [f"/campaigns/{campaign.pk}/", f"/campaigns/{campaign.pk}/live/"]:
        assert tab.goto(url).status == 404, url
        expect(tab.get_by_role("heading", name="Not found")).to_be_visible()
    tab.close()
    client = Client()
    client.force_login(charlie)
    for action in ["cancel", "retry"]:
        response = client.post(f"/campaigns/{campaign.pk}/{action}/", HTTP_ACCEPT="text/html")
        assert response.status_code == 404, action
    assert sorted(campaign.messages.values_list("status", flat=True)) == ["failed", "queued"]
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING


def test_the_campaign_pages_fit_a_phone_screen(sign_in, alice, tenant_a):
    campaign = a_campaign(tenant_a, 3, name="Mkutano wa wazazi wa darasa la saba mwaka huu")
    progress(campaign, 1, MessageStatus.FAILED, error_message="The number is not on any network")
    progress(campaign, 2, MessageStatus.DELIVERED)
    page = sign_in(alice)
    page.set_viewport_size({"width": 375, "height": 740})
    for url in ["/campaigns/", f"/campaigns/{campaign.pk}/"]:
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, url
