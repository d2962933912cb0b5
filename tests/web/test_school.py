"""School messages in the browser: compose to a recipient group by SMS or e-mail, now or
later; the list with the spec's filters; what a mistake looks like."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from mifumo.communications import services
from mifumo.communications.models import BulkMessage, BulkMessageStatus
from mifumo.contacts.models import GroupKind
from mifumo.delivery.models import Campaign, Message
from tests.factories import create_contact, create_group


@pytest.fixture
def school(tenant_a):
    """All Parents (3, two with e-mail) and Form 2B (2 students) with their guardian."""
    parents = create_group(tenant_a, "All Parents", kind=GroupKind.SYSTEM)
    form_2b = create_group(tenant_a, "Form 2B", kind=GroupKind.CLASS)
    juma = create_contact(
        tenant_a, name="Juma Ally", phone="0754000001", email="juma@example.org",
        group_ids=[parents.pk],
    )  # fmt: skip
    create_contact(
        tenant_a, name="Neema Mushi", phone="0754000002", email="neema@example.org",
        group_ids=[parents.pk],
    )  # fmt: skip
    create_contact(tenant_a, name="Mama Chausiku", phone="0754000003", group_ids=[parents.pk])
    for name, phone in [("Asha Juma", "0712000001"), ("Baraka Juma", "0712000002")]:
        create_contact(
            tenant_a, name=name, phone=phone, group_ids=[form_2b.pk], guardian_ids=[juma.pk]
        )
    return tenant_a


def compose(page):
    page.goto("/school/")
    page.get_by_role("button", name="New school message").click()
    expect(page.get_by_role("heading", name="New school message")).to_be_visible()


def test_it_sends_an_sms_to_a_class(sign_in, alice, school):
    page = sign_in(alice)
    compose(page)
    expect(page.get_by_label("SMS", exact=True)).to_be_checked()
    expect(page.get_by_label("Subject")).to_be_hidden()  # only for e-mail
    page.get_by_label("Recipient group").select_option(label="Form 2B (2 people, 0 with e-mail)")
    page.get_by_label("Message").fill("Mkutano wa wazazi wa Form 2B ni Jumamosi saa 3 asubuhi.")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("status")).to_have_text("Message queued for 2 recipients.")
    row = page.get_by_test_id("bulk-messages").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Form 2B")
    expect(row).to_contain_text("Pending")

    bulk = BulkMessage.objects.get(tenant=school)
    assert (bulk.delivery_method, bulk.recipient_group, bulk.subject) == ("sms", "Form 2B", "")
    assert bulk.created_by == alice and bulk.scheduled_time is None
    assert set(Message.objects.filter(campaign=bulk.campaign).values_list("to", flat=True)) == {
        "+255712000001",
        "+255712000002",
    }


def test_it_sends_an_email_with_a_subject_to_the_parents(sign_in, alice, school):
    page = sign_in(alice)
    compose(page)
    page.get_by_label("E-mail", exact=True).check()
    page.get_by_label("Recipient group").select_option("All Parents")
    page.get_by_label("Message").fill("Ada ya muhula wa pili inalipwa kabla ya tarehe 15.")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator("#id_subject-error")).to_have_text("An e-mail needs a subject.")
    assert not BulkMessage.objects.exists()

    page.get_by_label("Subject").fill("Ada ya shule")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("status")).to_have_text(
        "Message queued for 2 recipients. 1 could not get it (no address, or opted out)."
    )
    expect(page.get_by_test_id("bulk-messages")).to_contain_text("Ada ya shule")
    bulk = BulkMessage.objects.get()
    assert (bulk.delivery_method, bulk.subject, bulk.skipped_count) == ("email", "Ada ya shule", 1)
    messages = Message.objects.filter(campaign=bulk.campaign)
    assert {m.to for m in messages} == {"juma@example.org", "neema@example.org"}
    assert {m.subject for m in messages} == {"Ada ya shule"}


def test_it_schedules_a_message_in_the_schools_time_zone(sign_in, alice, school):
    page = sign_in(alice)
    compose(page)
    page.get_by_label("Recipient group").select_option("Parents of Form 2B")
    page.get_by_label("Message").fill("Kesho ni siku ya michezo.")
    page.get_by_label("Send later").check()
    tomorrow = (timezone.now() + timedelta(days=1)).astimezone(ZoneInfo("Africa/Dar_es_Salaam"))
    page.get_by_label("Send at").fill(f"{tomorrow:%Y-%m-%d}T07:30")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Message scheduled for {tomorrow.day} {tomorrow:%b %Y} 07:30, to 1 recipient."
    )
    bulk = BulkMessage.objects.get()
    expected = datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, 7, 30, tzinfo=ZoneInfo("Africa/Dar_es_Salaam")
    )
    assert bulk.scheduled_time == expected  # 04:30 UTC
    assert bulk.campaign.status == "scheduled"
    assert list(Message.objects.filter(campaign=bulk.campaign).values_list("to", flat=True)) == [
        "+255754000001"
    ]


def test_it_explains_what_is_missing_or_wrong(sign_in, alice, school):
    page = sign_in(alice)
    compose(page)
    page.get_by_role("button", name="Send message").click()  # the browser asks for a message
    expect(page.get_by_label("Message")).to_have_js_property("validity.valueMissing", True)
    page.get_by_label("Message").fill("Habari")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator("#id_recipient_group-error")).to_have_text(
        "Choose a group or type some recipients."
    )

    page.get_by_label("Other recipients").fill("0754000002\n12ab\nneema@")
    page.get_by_label("Send later").check()
    page.get_by_role("button", name="Send message").click()
    expect(page.locator("#id_scheduled_time-error")).to_have_text("Choose when to send it.")

    yesterday = timezone.localtime(timezone.now() - timedelta(days=1))
    page.get_by_label("Send at").fill(f"{yesterday:%Y-%m-%d}T10:00")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator("#id_scheduled_time-error")).to_have_text(
        "That time has passed: choose a later one."
    )

    page.get_by_label("Send now").check()
    page.get_by_role("button", name="Send message").click()
    error = page.locator("#id_custom_recipients-error")
    expect(error).to_contain_text("12ab:")
    expect(error).to_contain_text("neema@: not a valid e-mail address")
    expect(page.get_by_label("Other recipients")).to_have_value("0754000002\n12ab\nneema@")

    page.get_by_label("Other recipients").fill("0754000002, +255 754 000 003")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("status")).to_have_text("Message queued for 2 recipients.")
    assert BulkMessage.objects.get().custom_recipients == "0754000002, +255 754 000 003"


def send(tenant, user, **fields) -> BulkMessage:
    fields.setdefault("delivery_method", "sms")
    return services.bulk_message_create(tenant=tenant, created_by=user, **fields)


def test_the_list_filters_by_group_status_method_and_words(sign_in, alice, school):
    send(school, alice, recipient_group="Form 2B", message_body="Mkutano wa wazazi Jumamosi")
    send(school, alice, recipient_group="All Parents", message_body="Ada ya muhula wa pili")
    send(
        school, alice, recipient_group="All Parents", delivery_method="email",
        subject="Ripoti za wanafunzi", message_body="Ripoti ziko tayari.",
    )  # fmt: skip
    cancelled = send(school, alice, custom_recipients="0754000003", message_body="Samahani")
    services.bulk_message_cancel(bulk=cancelled)

    page = sign_in(alice)
    page.goto("/school/")
    count = page.get_by_test_id("message-count")
    rows = page.get_by_test_id("bulk-messages").locator("tbody tr")
    expect(count).to_have_text("4 messages")

    page.get_by_label("Sent by").select_option("email")  # htmx swaps the results
    expect(count).to_have_text("1 message")
    expect(rows).to_contain_text(["Ripoti za wanafunzi"])
    assert "delivery_method=email" in page.url

    page.get_by_label("Sent by").select_option("")
    page.get_by_label("Recipient group").select_option("All Parents")
    expect(count).to_have_text("2 messages")
    page.get_by_label("Search").fill("muhula")
    page.get_by_label("Search").press("Enter")
    expect(count).to_have_text("1 message")
    expect(rows).to_contain_text(["Ada ya muhula wa pili"])

    page.goto("/school/?status=Failed")
    expect(count).to_have_text("1 message")
    expect(rows.first).to_contain_text("Samahani")
    expect(rows.first).to_contain_text("Failed")
    expect(page.get_by_label("Status")).to_have_value("Failed")

    page.goto("/school/?search=hakuna+kitu")
    expect(count).to_have_text("0 messages")
    expect(page.get_by_text("No messages match these filters.")).to_be_visible()


def test_the_list_shows_counts_and_cancels_a_pending_message(sign_in, alice, school):
    bulk = send(school, alice, recipient_group="All Parents", message_body="Habari za asubuhi")
    page = sign_in(alice)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/school/")
    row = page.get_by_test_id(f"bulk-{bulk.pk}")
    expect(row.locator("td.num")).to_have_text(["3", "0", "0", "0"])
    row.get_by_role("button", name=f"Cancel message {bulk.pk}").click()
    expect(page.get_by_role("status")).to_contain_text("The message is cancelled")
    expect(row).to_contain_text("Failed")
    expect(row.get_by_role("button")).to_have_count(0)
    bulk.refresh_from_db()
    assert bulk.status == BulkMessageStatus.FAILED and bulk.cancelled_at is not None
    assert Campaign.objects.get(pk=bulk.campaign_id).status == "cancelled"


def test_an_outsider_cannot_see_or_cancel_the_schools_messages(sign_in, alice, charlie, school):
    bulk = send(school, alice, recipient_group="Form 2B", message_body="Mkutano")
    page = sign_in(charlie)
    page.goto("/school/")
    expect(page.get_by_test_id("message-count")).to_have_text("0 messages")
    page.goto("/school/new/")
    expect(page.get_by_label("Recipient group")).not_to_contain_text("Form 2B")

    client = Client()
    client.force_login(charlie)
    response = client.post(f"/school/{bulk.pk}/cancel/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert re.search(r"<h1>Not found</h1>", response.content.decode())
    bulk.refresh_from_db()
    assert bulk.status == BulkMessageStatus.PENDING


def test_the_school_pages_fit_a_phone_screen(sign_in, alice, school):
    send(
        school, alice, recipient_group="All Parents", delivery_method="email",
        subject="Ripoti za wanafunzi wa kidato cha pili", message_body="Ripoti ziko tayari.",
    )  # fmt: skip
    page = sign_in(alice)
    page.set_viewport_size({"width": 375, "height": 740})
    for url in ["/school/new/", "/school/"]:
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375, url
