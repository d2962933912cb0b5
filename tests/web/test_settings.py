"""Settings in the browser: sender ids, provider accounts (secrets masked), users and roles,
API keys (shown once), credits; members are refused, outsiders find nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from playwright.sync_api import expect

from mifumo.delivery.models import ProviderAccount
from mifumo.delivery.provider_accounts import provider_account_save
from mifumo.messaging.models import CreditEntry, SenderId, SenderIdStatus
from mifumo.messaging.services.billing import credit_top_up
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import ApiKey, Membership, Role, User
from tests.factories import create_user

API_KEY = "ark-live-7f3a9c2e5b1d0a1a2b"


def accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())


def error_page(page, url: str):
    """Open `url` in another tab of the same browser session and return (status, tab). The
    `page` fixture fails a test on any console error, and Chromium logs one for every page
    answered with 403 or 404, which is what these visits expect."""
    tab = page.context.new_page()
    response = tab.goto(url)
    return response.status, tab


def an_account(tenant_a, **fields) -> ProviderAccount:
    fields = {
        "provider": "arkesel",
        "name": "Arkesel main",
        "api_key": API_KEY,
        "webhook_secret": "whsec-0123456789-abcdef",
        "rate_limit": "100/m",
        **fields,
    }
    return ProviderAccount.objects.create(tenant=tenant_a, **fields)


def test_it_requests_and_withdraws_a_sender_id(tenant_a, sign_in, alice):
    page = sign_in(alice)
    accept_dialogs(page)
    page.goto("/settings/")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Sender ids").click()
    page.get_by_label("Sender id").fill("SHULE-YA-MBEZI")
    page.get_by_role("button", name="Request").click()
    expect(page.locator(".field-error")).to_contain_text("1 to 11 characters")
    page.get_by_label("Sender id").fill("MBEZI")
    page.get_by_label("What it is for").fill("Parents' notices")
    page.get_by_role("button", name="Request").click()
    expect(page.get_by_role("status")).to_contain_text("MBEZI requested")
    expect(page.get_by_test_id("sender-ids")).to_contain_text("Pending")
    assert SenderId.objects.get(tenant=tenant_a).status == SenderIdStatus.PENDING

    page.get_by_label("Sender id").fill("MBEZI")  # asked for already
    page.get_by_role("button", name="Request").click()
    expect(page.locator(".field-error")).to_contain_text("has already been requested")

    page.get_by_role("button", name="Withdraw MBEZI").click()
    expect(page.get_by_role("status")).to_contain_text("MBEZI withdrawn")
    assert not SenderId.objects.exists()


def test_it_adds_a_provider_account_and_never_shows_its_secrets_again(
    tenant_a, sign_in, alice, live_server, settings
):
    settings.MIFUMO_PUBLIC_URL = live_server.url
    page = sign_in(alice)
    page.goto("/settings/providers/")
    page.get_by_role("button", name="Add an account").click()
    page.get_by_label("Provider").select_option("arkesel")
    page.get_by_label(re.compile(r"^Name")).fill("Arkesel main")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_label("Rate limit").fill("lots")
    page.get_by_label("Default account").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error")).to_contain_text("a rate looks like 100/m")
    # A secret typed once is not echoed back into the page, even on an error.
    assert page.get_by_label("API key").input_value() == ""
    assert API_KEY not in page.content()

    page.get_by_label("API key").fill(API_KEY)
    page.get_by_label("Rate limit").fill("100/m")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Arkesel main saved")

    account = ProviderAccount.objects.get(tenant=tenant_a)
    assert account.api_key == API_KEY and account.is_default and account.rate_limit == "100/m"
    assert len(account.webhook_secret) >= 24  # made for it
    report_url = f"{live_server.url}/api/messaging/webhooks/arkesel/?token={account.webhook_secret}"
    # The delivery-report URL holds the webhook secret: in full this once...
    expect(page.get_by_label("Delivery-report URL")).to_have_value(report_url)
    table = page.get_by_test_id("provider-accounts")
    expect(table).to_contain_text("••••1a2b")
    assert API_KEY not in page.content()

    # ...and masked from then on.
    page.reload()
    expect(table).to_contain_text(f"token=••••{account.webhook_secret[-4:]}")
    expect(page.get_by_test_id("new-report-url")).to_have_count(0)
    assert account.webhook_secret not in page.content()
    assert API_KEY not in page.content()


def test_a_secret_left_blank_keeps_the_stored_one(tenant_a, sign_in, alice):
    account = an_account(tenant_a, secret_key="beem-secret-98765zyxw")
    page = sign_in(alice)
    page.goto("/settings/providers/")
    page.get_by_role("link", name="Edit Arkesel main").click()
    expect(page.get_by_label(re.compile(r"^Name"))).to_have_value("Arkesel main")
    assert page.get_by_label("API key").input_value() == ""
    expect(page.get_by_text("Stored: ••••1a2b. Leave blank to keep it.")).to_be_visible()
    page.get_by_label("Secret key or password").fill("a-brand-new-secret-key")
    page.get_by_label("Rate limit").fill("50/m")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    assert API_KEY not in page.content()

    account.refresh_from_db()
    assert account.api_key == API_KEY  # left blank: kept
    assert account.webhook_secret == "whsec-0123456789-abcdef"
    assert account.secret_key == "a-brand-new-secret-key"
    assert account.rate_limit == "50/m"


def test_it_deletes_a_provider_account(tenant_a, sign_in, alice):
    an_account(tenant_a)
    page = sign_in(alice)
    accept_dialogs(page)
    page.goto("/settings/providers/")
    page.get_by_role("button", name="Delete Arkesel main").click()
    expect(page.get_by_role("status")).to_contain_text("Arkesel main deleted")
    expect(page.get_by_text("No accounts of your own.")).to_be_visible()
    assert not ProviderAccount.objects.exists()


def test_it_adds_users_and_changes_their_roles(tenant_a, sign_in, alice, bob):
    page = sign_in(alice)
    accept_dialogs(page)
    page.goto("/settings/users/")
    form = page.locator("form", has=page.get_by_role("button", name="Add user"))
    form.get_by_label(re.compile(r"^Name")).fill("Neema Mushi")
    form.get_by_label("Email").fill("neema@a.example")
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Add user").click()
    expect(page.locator(".field-error")).to_contain_text("too short")
    form.get_by_label("Password").fill("mwalimu-mkuu-2026")
    form.get_by_label("Role").select_option("member")
    form.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("neema@a.example added as member")
    neema = User.objects.get(email="neema@a.example")
    assert neema.membership.tenant == tenant_a and neema.check_password("mwalimu-mkuu-2026")

    page.get_by_label("Role of bob@a.example", exact=True).select_option("admin")
    page.get_by_role("button", name="Change the role of bob@a.example").click()
    expect(page.get_by_role("status")).to_contain_text("bob@a.example is now admin")
    assert Membership.objects.get(user=bob).role == Role.ADMIN

    page.get_by_role("button", name="Deactivate neema@a.example").click()
    expect(page.get_by_test_id("user-neema@a.example")).to_contain_text("Deactivated")
    neema.refresh_from_db()
    assert not neema.is_active


def test_the_last_admin_is_told_why_they_cannot_step_down(sign_in, alice, bob):
    page = sign_in(alice)
    accept_dialogs(page)
    page.goto("/settings/users/")
    page.get_by_label("Role of alice@a.example", exact=True).select_option("member")
    page.get_by_role("button", name="Change the role of alice@a.example").click()
    expect(page.locator(".notice.error")).to_have_text(
        "An organisation keeps at least one active admin; promote someone else first."
    )
    page.get_by_role("button", name="Deactivate alice@a.example").click()
    expect(page.locator(".notice.error")).to_contain_text("at least one active admin")
    alice.refresh_from_db()
    assert alice.is_active and alice.membership.role == Role.ADMIN


def test_a_new_api_key_is_shown_once_then_only_its_prefix(tenant_a, sign_in, alice):
    page = sign_in(alice)
    accept_dialogs(page)
    page.goto("/settings/api-keys/")
    page.get_by_label(re.compile(r"^Name")).fill("School website")
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Create key").click()
    plain = page.get_by_label("API key").input_value()
    assert re.fullmatch(r"mif_[0-9a-f]{12}_[\w-]{40,}", plain)
    key = ApiKey.objects.get(tenant=tenant_a)
    assert key.name == "School website" and key.role == Role.MEMBER
    assert key.matches(plain.split("_", 2)[2])
    # The key works against the API.
    response = Client().get("/api/auth/me/", HTTP_AUTHORIZATION=f"Api-Key {plain}")
    assert response.status_code == 200

    page.goto("/settings/api-keys/")
    prefix = f"mif_{key.lookup_id}_…"
    expect(page.get_by_test_id("api-keys")).to_contain_text(prefix)
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    assert plain not in page.content()
    assert plain.split("_", 2)[2] not in page.content()
    # Last used: just now, by the call above.
    expect(page.get_by_test_id("api-keys")).not_to_contain_text("Never")

    page.get_by_role("button", name="Revoke School website").click()
    expect(page.get_by_test_id("api-keys")).to_contain_text("Revoked")
    key.refresh_from_db()
    assert key.is_revoked


def test_credits_show_the_balance_and_the_ledger_newest_first(tenant_a, sign_in, alice, settings):
    settings.BILLING_ENABLED = True
    for amount in range(1, 56):
        credit_top_up(tenant=tenant_a, amount=Decimal(amount), note=f"Top-up {amount}")
    page = sign_in(alice)
    page.goto("/settings/credits/")
    expect(page.get_by_test_id("credit-balance")).to_have_text("1540.00")
    expect(page.get_by_test_id("credit-reserved")).to_have_text("0.00")
    expect(page.get_by_test_id("balance")).to_contain_text("1540.00")
    rows = page.get_by_test_id("ledger").locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("Top-up 55")
    expect(rows.first).to_contain_text("+55.00")
    page.get_by_role("link", name="Next").click()
    expect(rows).to_have_count(5)
    expect(rows.last).to_contain_text("Top-up 1")
    expect(page.get_by_test_id("billing-off")).to_have_count(0)
    assert CreditEntry.objects.filter(tenant=tenant_a).count() == 55


def test_credits_say_when_billing_is_off(sign_in, alice, settings):
    settings.BILLING_ENABLED = False
    page = sign_in(alice)
    page.goto("/settings/credits/")
    expect(page.get_by_test_id("billing-off")).to_contain_text("Billing is off")
    expect(page.get_by_text("No changes to the balance yet.")).to_be_visible()


ADMIN_PAGES = [
    "/settings/",
    "/settings/sender-ids/",
    "/settings/providers/",
    "/settings/providers/new/",
    "/settings/users/",
    "/settings/api-keys/",
    "/settings/credits/",
    "/school/",
    "/school/new/",
]


def test_a_member_cannot_reach_admin_pages(tenant_a, sign_in, bob, alice):
    account = an_account(tenant_a)
    sender_id = SenderId.objects.create(tenant=tenant_a, value="MBEZI")
    key, _ = ApiKey.issue(tenant=tenant_a, created_by=alice, name="Website", role=Role.MEMBER)
    page = sign_in(bob)
    page.goto("/")
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    for url in [*ADMIN_PAGES, f"/settings/providers/{account.pk}/"]:
        status, tab = error_page(page, url)
        assert status == 403, url
        expect(tab.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(
            tab.get_by_text("Only the organisation's admins can open this page.")
        ).to_be_visible()
        tab.close()

    # Nor can a member's browser change anything by posting to the forms' addresses.
    client = Client()
    client.force_login(bob)
    posts = {
        "/settings/sender-ids/": {"value": "BOBS"},
        f"/settings/sender-ids/{sender_id.pk}/withdraw/": {},
        "/settings/providers/new/": {"provider": "beem", "name": "Bob's"},
        f"/settings/providers/{account.pk}/delete/": {},
        "/settings/users/": {"name": "X", "email": "x@a.example", "password": "p" * 12},
        f"/settings/users/{alice.pk}/": {"role": "member"},
        "/settings/api-keys/": {"name": "Bob's key", "role": "admin"},
        f"/settings/api-keys/{key.pk}/revoke/": {},
        "/school/new/": {"delivery_method": "sms", "message_body": "Hi", "when": "now"},
    }
    for url, data in posts.items():
        assert client.post(url, data, HTTP_ACCEPT="text/html").status_code == 403, url
    assert SenderId.objects.get().value == "MBEZI"
    assert ProviderAccount.objects.count() == 1 and ApiKey.objects.get().revoked_at is None
    assert Membership.objects.get(user=alice).role == Role.ADMIN
    assert not User.objects.filter(email="x@a.example").exists()


def test_an_outsider_finds_nothing_of_another_organisation(tenant_a, sign_in, alice, charlie):
    account = an_account(tenant_a)
    sender_id = SenderId.objects.create(tenant=tenant_a, value="MBEZI")
    key, _ = ApiKey.issue(tenant=tenant_a, created_by=alice, name="Website", role=Role.MEMBER)
    page = sign_in(charlie)
    status, tab = error_page(page, f"/settings/providers/{account.pk}/")
    assert status == 404
    expect(tab.get_by_role("heading", name="Not found")).to_be_visible()
    tab.close()
    page.goto("/settings/providers/")
    expect(page.get_by_text("No accounts of your own.")).to_be_visible()
    page.goto("/settings/users/")
    expect(page.get_by_test_id("users")).not_to_contain_text("alice@a.example")

    client = Client()
    client.force_login(charlie)
    for url in [
        f"/settings/sender-ids/{sender_id.pk}/withdraw/",
        f"/settings/providers/{account.pk}/",
        f"/settings/providers/{account.pk}/delete/",
        f"/settings/users/{alice.pk}/",
        f"/settings/api-keys/{key.pk}/revoke/",
    ]:
        response = client.post(url, {"role": "member", "name": "x"}, HTTP_ACCEPT="text/html")
        assert response.status_code == 404, url
    assert SenderId.objects.filter(pk=sender_id.pk).exists()
    account.refresh_from_db()
    assert account.name == "Arkesel main"
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert Membership.objects.get(user=alice).role == Role.ADMIN


@pytest.mark.parametrize("url", ADMIN_PAGES[1:7])
def test_settings_fit_a_phone_screen(tenant_a, sign_in, alice, url):
    an_account(tenant_a, base_url="https://sms.arkesel.example", sender_id="MBEZI")
    SenderId.objects.create(tenant=tenant_a, value="MBEZI", purpose="Notices to parents")
    create_user(tenant_a, email="a-rather-long-address@shule-ya-msingi.example", name="Mwalimu")
    ApiKey.issue(tenant=tenant_a, created_by=alice, name="School website", role=Role.MEMBER)
    page = sign_in(alice)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375


def test_a_new_default_account_replaces_the_old_one_for_its_kind_of_message(tenant_a):
    sms = an_account(tenant_a, is_default=True)
    mail = an_account(tenant_a, provider="smtp", name="Mail", is_default=True)
    beem, _ = provider_account_save(
        tenant=tenant_a, provider="beem", name="Beem", api_key="k" * 20, is_default=True
    )
    sms.refresh_from_db()
    mail.refresh_from_db()
    assert beem.is_default and not sms.is_default
    assert mail.is_default  # e-mail keeps its own default


def test_an_account_falls_back_only_on_another_of_the_tenants_own(tenant_a, tenant_b):
    arkesel = an_account(tenant_a)
    theirs = an_account(tenant_b, name="Theirs")
    with pytest.raises(ApplicationError, match="not one of yours"):
        provider_account_save(tenant=tenant_a, account=arkesel, fallback=theirs)
    with pytest.raises(ApplicationError, match="cannot fall back on itself"):
        provider_account_save(tenant=tenant_a, account=arkesel, fallback=arkesel)
    mail = an_account(tenant_a, provider="smtp", name="Mail")
    with pytest.raises(ApplicationError, match="same kind of message"):
        provider_account_save(tenant=tenant_a, account=arkesel, fallback=mail)
    beem, _ = provider_account_save(tenant=tenant_a, provider="beem", name="Beem", fallback=arkesel)
    assert beem.fallback == arkesel
