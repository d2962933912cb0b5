"""Compose in the browser: the live counter, recipients from groups, tags, the contact picker
and a spreadsheet, templates, schedules in the organisation's timezone, and a test send."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.test import Client
from django.utils.timezone import now
from playwright.sync_api import expect

from mifumo.contacts import services as contacts
from mifumo.contacts.models import Contact
from mifumo.delivery.models import Campaign, CampaignStatus, Message
from mifumo.messaging.models import SenderId, SenderIdStatus, Template
from mifumo.messaging.services.billing import credit_top_up
from tests.factories import create_contact, create_group


def _type_message(page, text: str) -> None:
    """Type the text and wait for the figures that follow it (a page left while its request
    is in flight logs htmx's "aborted" as a console error)."""
    with page.expect_response("**/compose/estimate/"):
        page.get_by_label("Message", exact=True).fill(text)


def test_the_counter_follows_the_text_and_marks_what_makes_it_ucs2(sign_in, alice):
    page = sign_in(alice)
    page.goto("/compose/")
    estimate = page.locator("#estimate")

    _type_message(page, "Habari mzazi, kikao ni kesho saa nne.")
    expect(page.get_by_test_id("encoding")).to_have_text("GSM-7")
    expect(page.get_by_test_id("characters")).to_have_text("37")
    expect(page.get_by_test_id("segments")).to_have_text("1 segment")
    expect(page.locator("mark.ucs2")).to_have_count(0)

    _type_message(page, "Habari mzazi 😀 kikao ni kesho.")
    expect(page.get_by_test_id("encoding")).to_have_text("UCS-2")
    expect(page.get_by_test_id("preview").locator("mark.ucs2")).to_have_text("😀")
    expect(estimate).to_contain_text("70 characters per segment instead of 160")
    expect(page.get_by_test_id("ucs2-note")).to_contain_text("grinning face")

    # Smart quotes from a word processor: only they are marked, the rest is plain text.
    _type_message(page, "Mwalimu alisema “karibu” kwa wote")
    expect(page.get_by_test_id("encoding")).to_have_text("UCS-2")
    preview = page.get_by_test_id("preview")
    expect(preview).to_have_text("Mwalimu alisema “karibu” kwa wote")
    expect(preview.locator("mark.ucs2")).to_have_text(["“", "”"])

    _type_message(page, "a" * 160)
    expect(page.get_by_test_id("segments")).to_have_text("1 segment")
    expect(page.get_by_test_id("encoding")).to_have_text("GSM-7")
    _type_message(page, "a" * 161)
    expect(page.get_by_test_id("segments")).to_have_text("2 segments")
    expect(page.get_by_test_id("characters")).to_have_text("161")


def test_the_counter_shows_the_recipients_cost_and_balance_after(sign_in, alice, settings):
    settings.BILLING_ENABLED = True
    tenant = alice.membership.tenant
    credit_top_up(tenant=tenant, amount=Decimal("10"))
    group = create_group(tenant, "Form 2B")
    for phone in ("0754000101", "0754000102", "0754000103"):
        create_contact(tenant, phone=phone, group_ids=[group.pk])
    page = sign_in(alice)
    page.goto("/compose/")
    _type_message(page, "Ada ya muhula wa pili")
    page.get_by_label("Form 2B").check()
    expect(page.get_by_test_id("recipients")).to_have_text("3")
    expect(page.get_by_test_id("cost")).to_have_text("3.00")
    expect(page.get_by_test_id("balance-after")).to_have_text("7.00")


def test_a_member_sends_to_a_group_a_tag_and_a_picked_contact(sign_in, bob):
    tenant = bob.membership.tenant
    group = create_group(tenant, "Walimu")
    create_contact(tenant, name="Mwalimu Baraka", phone="0754000201", group_ids=[group.pk])
    create_contact(tenant, name="Mzazi Neema", phone="0754000202", tags=["wazazi"])
    create_contact(tenant, name="Asha Juma", phone="0754000203")
    opted_out = create_contact(tenant, name="Juma Opted", phone="0754000204", tags=["wazazi"])
    contacts.contact_opt_out(contact=opted_out)
    create_contact(tenant, name="Asha Mwingine", phone="0754000205")  # found, not picked

    page = sign_in(bob)
    page.goto("/compose/")
    page.get_by_label("Walimu").check()
    page.get_by_label("wazazi").check()
    page.get_by_label("Find a contact").fill("Asha")
    page.get_by_role("button", name="Add Asha Juma").click()
    expect(page.get_by_role("button", name="Remove Asha Juma")).to_be_visible()
    expect(page.locator("#contact-results")).to_contain_text("Added")
    # Added by mistake, removed, added again.
    page.get_by_role("button", name="Add Asha Mwingine").click()
    page.get_by_role("button", name="Remove Asha Mwingine").click()
    expect(page.get_by_role("button", name="Add Asha Mwingine")).to_be_enabled()
    expect(page.get_by_role("button", name="Remove Asha Mwingine")).to_have_count(0)
    _type_message(page, "Habari {{first_name}}, mkutano ni Jumamosi.")
    expect(page.get_by_test_id("recipients")).to_have_text("3")  # the opted-out one cannot
    expect(page.get_by_test_id("total-segments")).to_have_text("3")
    expect(page.locator("#estimate")).to_contain_text("1 recipient cannot receive it")
    page.get_by_role("button", name="Send now").click()

    expect(page.get_by_test_id("campaign-status")).to_have_text("Queued")
    expect(page.get_by_test_id("send-report")).to_contain_text("Juma Opted")
    expect(page.get_by_test_id("send-report")).to_contain_text("opted out")
    campaign = Campaign.objects.get(tenant=tenant)
    assert campaign.created_by == bob and campaign.origin == "dashboard"
    assert campaign.name == "Walimu, #wazazi, Asha Juma"
    bodies = dict(Message.objects.filter(campaign=campaign).values_list("to", "body"))
    assert bodies == {
        "+255754000201": "Habari Mwalimu, mkutano ni Jumamosi.",
        "+255754000202": "Habari Mzazi, mkutano ni Jumamosi.",
        "+255754000203": "Habari Asha, mkutano ni Jumamosi.",
    }


def test_a_template_fills_the_text_and_the_chosen_sender_id_is_used(sign_in, alice):
    tenant = alice.membership.tenant
    Template.objects.create(
        tenant=tenant, name="Ada", body="Ada ya {{term|muhula huu}} ni TSh 50,000."
    )
    SenderId.objects.create(tenant=tenant, value="SHULEYETU", status=SenderIdStatus.APPROVED)
    SenderId.objects.create(tenant=tenant, value="PENDING1")
    contact = create_contact(tenant, name="Neema", phone="0754000301")

    page = sign_in(alice)
    page.goto(f"/compose/?contact={contact.pk}")  # a contact page's "send a message" link
    expect(page.get_by_role("button", name="Remove Neema")).to_be_visible()
    page.get_by_label("Template").select_option(label="Ada")
    message = page.get_by_label("Message", exact=True)
    expect(message).to_have_value("Ada ya {{term|muhula huu}} ni TSh 50,000.")
    expect(page.get_by_test_id("recipients")).to_have_text("1")
    sender = page.get_by_label("Sender id", exact=True)
    expect(sender.locator("option")).to_have_text(["The default sender id", "SHULEYETU"])
    sender.select_option("SHULEYETU")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("campaign-status")).to_be_visible()
    campaign = Campaign.objects.get(tenant=tenant)
    assert campaign.sender_id == "SHULEYETU"
    assert campaign.messages.get().body == "Ada ya muhula huu ni TSh 50,000."


def test_a_schedule_is_read_in_the_organisations_timezone(sign_in, charlie):
    # Charlie's organisation is in Nairobi (UTC+3).
    tenant = charlie.membership.tenant
    group = create_group(tenant, "Wateja")
    create_contact(tenant, phone="+254712000401", group_ids=[group.pk])
    page = sign_in(charlie)
    page.goto("/compose/")
    page.get_by_label("Wateja").check()
    _type_message(page, "Duka litafunguliwa saa mbili asubuhi.")
    page.get_by_label("Schedule").check()
    page.get_by_label("Date and time (Africa/Nairobi)").fill("2031-01-15T08:30")
    page.get_by_role("button", name="Schedule").click()

    expect(page.get_by_test_id("scheduled-at")).to_have_text("15 Jan 2031 08:30 (Africa/Nairobi)")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Scheduled")
    campaign = Campaign.objects.get(tenant=tenant)
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.scheduled_at == datetime(2031, 1, 15, 5, 30, tzinfo=UTC)


def test_a_time_that_has_passed_is_refused_with_the_reason(sign_in, alice):
    tenant = alice.membership.tenant
    contact = create_contact(tenant, phone="0754000501")
    page = sign_in(alice)
    page.goto(f"/compose/?contact={contact.pk}")
    _type_message(page, "Habari")
    page.get_by_label("Schedule").check()
    page.get_by_label("Date and time (Africa/Dar_es_Salaam)").fill("2020-01-01T08:00")
    page.get_by_role("button", name="Schedule").click()
    expect(page.locator(".field-error")).to_contain_text("That time has passed")
    # What was chosen and typed is still there.
    expect(page.get_by_role("button", name=f"Remove {contact.phone_e164}")).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_have_value("Habari")
    assert not Campaign.objects.exists()


def test_a_spreadsheet_is_sent_row_by_row_and_bad_rows_are_listed(sign_in, alice, tmp_path):
    sheet = tmp_path / "wazazi.csv"
    sheet.write_text(
        "phone,name,message,sender_id,term\n"
        "0754000601,Asha,,,Term 2\n"
        "12345,Bad Number,,,Term 2\n"
        "0754000602,Baraka,Kikao kesho saa nne,,\n"
    )
    page = sign_in(alice)
    page.goto("/compose/")
    page.get_by_label("A spreadsheet of numbers").check()
    expect(page.get_by_label("Find a contact")).to_be_hidden()
    page.get_by_label("Spreadsheet", exact=True).set_input_files(str(sheet))
    _type_message(page, "Habari {{name}}, ada ya {{term}} inadaiwa.")
    page.get_by_role("button", name="Send now").click()

    expect(page.get_by_test_id("send-report")).to_contain_text("Row 3")
    campaign = Campaign.objects.get()
    assert campaign.origin == "bulk_upload"
    bodies = dict(campaign.messages.values_list("to", "body"))
    assert bodies == {
        "+255754000601": "Habari Asha, ada ya Term 2 inadaiwa.",
        "+255754000602": "Kikao kesho saa nne",
    }


def test_nothing_sendable_stays_on_the_page_with_the_reasons(sign_in, alice):
    tenant = alice.membership.tenant
    contact = create_contact(tenant, name="Opted", phone="0754000701")
    contacts.contact_opt_out(contact=contact)
    page = sign_in(alice)
    page.goto(f"/compose/?contact={contact.pk}")
    _type_message(page, "Habari")
    expect(page.get_by_test_id("estimate-error")).to_contain_text("None of the recipients")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("send-error")).to_contain_text("opted out")
    assert not Campaign.objects.exists()


def test_a_test_send_goes_to_one_number(sign_in, alice):
    page = sign_in(alice)
    page.goto("/compose/")
    _type_message(page, "Jaribio la ujumbe")
    page.get_by_label("Phone number").fill("0754 000 801")
    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("queued to +255754000801")
    message = Message.objects.get()
    assert (message.to, message.body, message.campaign.origin) == (
        "+255754000801",
        "Jaribio la ujumbe",
        "dashboard",
    )
    page.get_by_label("Phone number").fill("12")
    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_test_id("test-result")).to_have_class("notice error")
    assert Message.objects.count() == 1


def test_another_organisations_group_is_not_found(sign_in, alice, charlie):
    theirs = create_group(charlie.membership.tenant, "Their group")
    mine = create_contact(alice.membership.tenant, phone="0754000901")
    page = sign_in(alice)
    # In another tab: Chromium logs a console error for every 404, which the `page` fixture
    # counts as a failure.
    tab = page.context.new_page()
    assert tab.goto(f"/compose/?group={theirs.pk}").status == 404
    expect(tab.get_by_role("heading", name="Not found")).to_be_visible()

    # A tampered form that names it is refused the same way, and nothing is sent.
    tab.goto(f"/compose/?contact={mine.pk}")
    tab.get_by_label("Message", exact=True).fill("Habari")
    expect(tab.get_by_test_id("total-segments")).to_have_text("1")
    tab.evaluate(
        """(id) => {
            const box = document.createElement("input");
            box.type = "hidden"; box.name = "groups"; box.value = id;
            document.getElementById("compose-form").append(box);
        }""",
        str(theirs.pk),
    )
    with tab.expect_response("**/compose/") as answer:
        tab.get_by_role("button", name="Send now").click()
    assert answer.value.status == 404
    expect(tab.get_by_role("heading", name="Not found")).to_be_visible()
    tab.close()
    assert not Campaign.objects.exists()
    page.goto("/compose/")  # its own groups only
    expect(page.get_by_text("No groups yet.")).to_be_visible()


def test_compose_fits_a_phone_screen(sign_in, alice):
    tenant = alice.membership.tenant
    create_group(tenant, "All Parents of the Primary School Section")
    page = sign_in(alice)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/compose/")
    _type_message(page, "Mwalimu alisema “karibu” " + "x" * 200)
    expect(page.get_by_test_id("encoding")).to_have_text("UCS-2")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375


def test_more_recipients_than_a_send_takes_are_refused_before_sending(sign_in, alice, settings):
    settings.SMS_BULK_SEND_MAX_RECIPIENTS = 2
    tenant = alice.membership.tenant
    group = create_group(tenant, "Wote")
    for phone in ("0754001001", "0754001002", "0754001003"):
        create_contact(tenant, phone=phone, group_ids=[group.pk])
    create_contact(tenant, name="Zamani", phone="0754001004", group_ids=[group.pk], is_active=False)
    page = sign_in(alice)
    page.goto(f"/compose/?group={group.pk}")
    _type_message(page, "Habari")
    expect(page.get_by_test_id("estimate-error")).to_have_text(
        "At most 2 recipients per send; these have 3. Send to fewer groups at a time, or "
        "upload a spreadsheet."
    )
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("send-error")).to_contain_text("At most 2 recipients per send")
    assert not Campaign.objects.exists()


def test_the_contact_picker_shows_the_newest_matches_by_name(alice, tenant_a):
    """Ten of them: on PostgreSQL a name search is paged from its word rows, never sorting
    every match by name (bench/contacts_list.py's million contacts)."""
    start = now() - timedelta(days=1)
    for i in range(12):
        contact = create_contact(tenant_a, name=f"Juma {i:02d}")
        Contact.objects.filter(pk=contact.pk).update(created_at=start + timedelta(minutes=i))
    create_contact(tenant_a, name="Mwajuma")  # not a word beginning with "juma"
    client = Client()
    client.force_login(alice)

    for query in ("juma", "jum ju"):
        page = client.get("/compose/contacts/", {"q": query}).content.decode()

        shown = re.findall(r"<span>(Juma \d\d|Mwajuma) ·", page)
        assert shown == [f"Juma {i:02d}" for i in range(2, 12)], query
