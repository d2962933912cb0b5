"""The contacts pages in the browser: search, filters, pages, bulk actions with their
confirmation, a contact's page with its messages, and the form that adds or edits one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils.timezone import now
from playwright.sync_api import expect

from mifumo.contacts.filters import NameSearchPaginator
from mifumo.contacts.models import Contact
from mifumo.delivery.models import Campaign, Message
from tests.factories import create_contact, create_group, insert_contacts


def rows(page):
    return page.locator("table.contacts tbody tr")


def test_it_searches_by_name_and_by_phone_in_any_shape(sign_in, alice, tenant_a, tenant_b):
    create_contact(tenant_a, name="Asha Juma", phone="+255712345678")
    create_contact(tenant_a, name="Baraka Mushi", phone="+255754000111", email="baraka@mail.tz")
    create_contact(tenant_b, name="Asha Otieno", phone="+254712345678")  # another tenant's
    page = sign_in(alice)
    page.goto("/contacts/")
    expect(rows(page)).to_have_count(2)
    page.get_by_label("Search").fill("asha")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Asha Juma")
    assert "search=asha" in page.url  # the filtered list has its own address
    page.get_by_label("Search").fill("0754 000")  # national, with a space
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Baraka Mushi")
    page.get_by_label("Search").fill("baraka@")
    expect(rows(page).first).to_contain_text("+255754000111")
    page.get_by_label("Search").fill("nobody")
    expect(page.get_by_text("No contact matches these filters.")).to_be_visible()


def test_it_filters_by_tag_group_and_opt_out(sign_in, alice, tenant_a):
    form_2b = create_group(tenant_a, "Form 2B")
    create_contact(tenant_a, name="Asha", tags=["wazazi"], group_ids=[form_2b.pk])
    create_contact(tenant_a, name="Baraka", tags=["wazazi"])
    out = create_contact(tenant_a, name="Chausiku")
    out.opted_out_at = now()
    out.save()
    page = sign_in(alice)
    page.goto("/contacts/")
    expect(rows(page)).to_have_count(3)
    page.get_by_label("Tag", exact=True).select_option("wazazi")
    expect(rows(page)).to_have_count(2)
    page.get_by_label("Group", exact=True).select_option(label="Form 2B")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Asha")
    page.goto("/contacts/?opted_out=true")
    expect(page.get_by_label("Opted out")).to_have_value("true")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Chausiku")
    expect(rows(page).first).to_contain_text("Opted out")


def test_it_shows_fifty_contacts_a_page(sign_in, alice, tenant_a):
    insert_contacts(tenant_a, 120)
    page = sign_in(alice)
    page.goto("/contacts/")
    expect(page.get_by_test_id("match-count")).to_have_text("120 contacts")
    expect(rows(page)).to_have_count(50)
    expect(page.get_by_text("Page 1 of 3")).to_be_visible()
    page.get_by_role("link", name="Next →").click()
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_text("Page 3 of 3")).to_be_visible()
    expect(rows(page)).to_have_count(20)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a name search is counted up to a cap on PostgreSQL"
)
def test_a_name_search_says_more_match_than_it_counts(sign_in, alice, tenant_a, monkeypatch):
    monkeypatch.setattr(NameSearchPaginator, "cap", 4)
    insert_contacts(tenant_a, 6)  # "Contact 0000".."Contact 0005"
    create_contact(tenant_a, name="Asha Juma")
    page = sign_in(alice)
    page.goto("/contacts/?search=contact")
    expect(page.get_by_test_id("match-count")).to_have_text("More than 4 contacts match")
    expect(rows(page)).to_have_count(6)
    page.get_by_label("With the selected contacts").select_option("delete")
    page.get_by_label("All the matching contacts (more than 4)").check()
    expect(page.locator("#selection")).to_have_text("More than 4 selected")
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_test_id("question")).to_have_text("Delete 6 contacts?")  # exact
    page.goto("/contacts/?search=asha")
    expect(page.get_by_test_id("match-count")).to_have_text("1 contact matches")


def test_it_deletes_all_matching_contacts_across_pages_after_saying_how_many(
    sign_in, alice, tenant_a
):
    insert_contacts(tenant_a, 230)  # "Contact 0000".."Contact 0229": more than the API's 100
    keep = create_contact(tenant_a, name="Asha Juma")
    page = sign_in(alice)
    page.goto("/contacts/?search=contact")
    expect(page.get_by_test_id("match-count")).to_have_text("230 contacts match")
    page.get_by_label("With the selected contacts").select_option("delete")
    page.get_by_label("All 230 matching contacts, on every page").check()
    expect(page.locator("#selection")).to_have_text("230 selected")
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_test_id("question")).to_have_text("Delete 230 contacts?")
    assert Contact.objects.filter(tenant=tenant_a).count() == 231  # nothing yet
    page.get_by_role("button", name="Delete 230 contacts").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted 230 contacts.")
    expect(page.get_by_text("No contact matches these filters.")).to_be_visible()
    assert list(Contact.objects.filter(tenant=tenant_a)) == [keep]


def test_it_tags_the_ticked_contacts(sign_in, alice, tenant_a):
    asha = create_contact(tenant_a, name="Asha", tags=["wazazi"])
    baraka = create_contact(tenant_a, name="Baraka")
    chausiku = create_contact(tenant_a, name="Chausiku")
    page = sign_in(alice)
    page.goto("/contacts/")
    expect(page.get_by_role("button", name="Apply…")).to_be_disabled()  # nothing ticked yet
    page.get_by_label("Select Asha").check()
    page.get_by_label("Select Baraka").check()
    expect(page.locator("#selection")).to_have_text("2 selected")
    page.get_by_label("Tag to add").fill("VIP")
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_test_id("question")).to_have_text("Add the tag “VIP” to 2 contacts?")
    page.get_by_role("button", name="Add the tag “VIP” to 2 contacts").click()
    expect(page.get_by_role("status")).to_contain_text("Tagged 2 contacts.")

    def tags(contact):
        return sorted(contact.tags.values_list("name", flat=True))

    assert (tags(asha), tags(baraka), tags(chausiku)) == (["VIP", "wazazi"], ["VIP"], [])


def test_it_deactivates_a_whole_page_and_cancel_changes_nothing(sign_in, alice, tenant_a):
    insert_contacts(tenant_a, 3)
    page = sign_in(alice)
    page.goto("/contacts/")
    page.get_by_label("Select every contact on this page").check()
    expect(page.locator("#selection")).to_have_text("3 selected")
    page.get_by_label("With the selected contacts").select_option("deactivate")
    expect(page.get_by_label("Tag to add")).to_be_hidden()
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_test_id("question")).to_have_text("Deactivate 3 contacts?")
    page.get_by_role("button", name="Cancel").click()
    assert Contact.objects.filter(tenant=tenant_a, is_active=True).count() == 3
    page.get_by_label("Select every contact on this page").check()
    page.get_by_label("With the selected contacts").select_option("deactivate")
    page.get_by_role("button", name="Apply…").click()
    page.get_by_role("button", name="Deactivate 3 contacts").click()
    expect(page.get_by_role("status")).to_contain_text("Deactivated 3 contacts.")
    assert Contact.objects.filter(tenant=tenant_a, is_active=True).count() == 0
    page.get_by_label("Status").select_option("false")
    expect(rows(page)).to_have_count(3)


def test_bulk_actions_refuse_another_tenants_contacts(alice, tenant_b):
    theirs = create_contact(tenant_b, name="Charlie's")
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/contacts/bulk/",
        {"action": "delete", "ids": [str(theirs.pk)], "confirmed": "yes"},
        follow=True,
    )
    assert "No contacts found with the provided IDs" in response.content.decode()
    assert Contact.objects.filter(pk=theirs.pk).exists()


def test_the_contact_page_shows_its_messages_newest_first_with_reasons(sign_in, alice, tenant_a):
    form_2b = create_group(tenant_a, "Form 2B")
    asha = create_contact(
        tenant_a, name="Asha Juma", phone="0712345678", tags=["wazazi"], group_ids=[form_2b.pk]
    )
    for days, body, status, reason in [
        (3, "Ada ya shule inadaiwa", "delivered", ""),
        (1, "Mkutano wa wazazi Ijumaa", "failed", "Number is on the network's blocklist"),
    ]:
        Message.objects.create(
            tenant=tenant_a,
            campaign=Campaign.objects.create(tenant=tenant_a, body=body),
            contact=asha,
            to=asha.phone_e164,
            body=body,
            status=status,
            error_message=reason,
            created_at=now() - timedelta(days=days),
        )
    page = sign_in(alice)
    page.goto("/contacts/")
    page.get_by_role("link", name="Asha Juma").click()
    expect(page.get_by_role("heading", name="Asha Juma")).to_be_visible()
    expect(page.get_by_test_id("contact-phone")).to_have_text("+255712345678")
    expect(page.get_by_test_id("contact-tags")).to_have_text("wazazi")
    expect(page.get_by_test_id("contact-groups")).to_have_text("Form 2B")
    history = page.get_by_test_id("history").locator("tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("Mkutano wa wazazi Ijumaa")
    expect(history.nth(0)).to_contain_text("Failed")
    expect(history.nth(0)).to_contain_text("Number is on the network's blocklist")
    expect(history.nth(1)).to_contain_text("Delivered")


def test_it_adds_a_contact_and_shows_a_bad_phone_at_its_field(sign_in, alice, tenant_a):
    create_group(tenant_a, "Form 2B")
    page = sign_in(alice)
    page.goto("/contacts/")
    page.get_by_role("button", name="Add a contact").click()
    page.get_by_label("Name").fill("Neema Mollel")
    page.get_by_label("Phone").fill("12")
    page.get_by_label("Tags").fill("wazazi, VIP")
    page.get_by_label("Form 2B").check()
    page.get_by_role("button", name="Add the contact").click()
    expect(page.locator("#id_phone-error")).to_contain_text("12")
    expect(page.get_by_label("Phone")).to_have_attribute("aria-invalid", "true")
    assert not Contact.objects.exists()
    page.get_by_label("Phone").fill("0713 000 111")
    page.get_by_role("button", name="Add the contact").click()
    expect(page.get_by_role("heading", name="Neema Mollel")).to_be_visible()
    contact = Contact.objects.get(tenant=tenant_a)
    assert contact.phone_e164 == "+255713000111"
    assert sorted(contact.tags.values_list("name", flat=True)) == ["VIP", "wazazi"]
    assert list(contact.groups.values_list("name", flat=True)) == ["Form 2B"]


def test_it_edits_a_contact_and_refuses_another_contacts_phone(sign_in, alice, tenant_a):
    create_contact(tenant_a, name="Asha", phone="+255712345678")
    baraka = create_contact(tenant_a, name="Baraka", phone="+255754000111", tags=["old"])
    page = sign_in(alice)
    page.goto(f"/contacts/{baraka.pk}/")
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Tags")).to_have_value("old")
    page.get_by_label("Phone").fill("0712345678")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_phone-error")).to_have_text(
        "A contact with the phone number +255712345678 already exists."
    )
    page.get_by_label("Phone").fill("+255754000111")
    page.get_by_label("Name").fill("Baraka Mushi")
    page.get_by_label("Tags").fill("new")
    page.get_by_label("Active").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("contact-status")).to_have_text("Inactive")
    baraka.refresh_from_db()
    assert (baraka.name, baraka.is_active) == ("Baraka Mushi", False)
    assert list(baraka.tags.values_list("name", flat=True)) == ["new"]


def test_it_deletes_a_contact_from_its_page_after_asking(sign_in, alice, tenant_a):
    asha = create_contact(tenant_a, name="Asha")
    page = sign_in(alice)
    page.goto(f"/contacts/{asha.pk}/")
    questions = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted Asha.")
    assert questions == ["Delete Asha? This cannot be undone."]
    assert not Contact.objects.exists()


def test_a_member_uses_the_contacts_and_an_outsider_gets_not_found(sign_in, bob, charlie, tenant_a):
    asha = create_contact(tenant_a, name="Asha")
    page = sign_in(charlie)
    page.goto("/contacts/")
    expect(page.get_by_text("No contacts yet.")).to_be_visible()
    # In another tab: Chromium logs a console error for every 404, which the `page` fixture
    # counts as a failure.
    tab = page.context.new_page()
    for url in [f"/contacts/{asha.pk}/", f"/contacts/{asha.pk}/edit/"]:
        assert tab.goto(url).status == 404, url
        expect(tab.get_by_role("heading", name="Not found")).to_be_visible()
    tab.close()
    client = Client()
    client.force_login(charlie)
    for url in ["edit/", "delete/", "opt-out/"]:
        response = client.post(f"/contacts/{asha.pk}/{url}", {"phone": "0712000000"})
        assert response.status_code == 404, url
    asha.refresh_from_db()
    assert (asha.name, asha.opted_out_at) == ("Asha", None)
    page.context.clear_cookies()
    page = sign_in(bob)
    page.goto(f"/contacts/{asha.pk}/")
    expect(page.get_by_role("heading", name="Asha")).to_be_visible()


def test_the_contact_pages_fit_a_phone_screen(sign_in, alice, tenant_a):
    asha = create_contact(
        tenant_a, name="Asha Juma", email="asha.juma@shule-ya-msingi.example", tags=["wazazi"]
    )
    insert_contacts(tenant_a, 60)
    page = sign_in(alice)
    page.set_viewport_size({"width": 375, "height": 740})
    for url in ["/contacts/", f"/contacts/{asha.pk}/", "/contacts/new/"]:
        page.goto(url)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, url
    page.goto("/contacts/?search=asha")
    page.get_by_label("Select Asha Juma").check()
    expect(page.locator("#selection")).to_have_text("1 selected")
