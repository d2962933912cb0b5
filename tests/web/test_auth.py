"""Sign-up, login and logout in the browser."""

from __future__ import annotations

from playwright.sync_api import expect

from mifumo.tenancy.models import Membership, Role
from tests.factories import PASSWORD


def test_it_signs_up_an_organisation_and_shows_its_name(page, db):
    page.goto("/signup/")
    page.get_by_label("Organisation").fill("Shule ya Msingi Mbezi")
    page.get_by_label("Your name").fill("Asha Juma")
    page.get_by_label("Email").fill("asha@mbezi.sc.tz")
    page.get_by_label("Password").fill("kalamu-ya-bluu-2026")
    page.get_by_label("Country").select_option("TZ")
    page.get_by_role("button", name="Create and sign in").click()
    expect(page.get_by_test_id("tenant-name")).to_have_text("Shule ya Msingi Mbezi")
    expect(page.get_by_test_id("send-button")).to_be_visible()
    membership = Membership.objects.get(user__email="asha@mbezi.sc.tz")
    assert membership.role == Role.ADMIN and membership.tenant.timezone == "Africa/Dar_es_Salaam"


def test_a_weak_password_is_refused_with_the_reason_next_to_the_field(page, db):
    page.goto("/signup/")
    page.get_by_label("Organisation").fill("Duka")
    page.get_by_label("Your name").fill("Neema")
    page.get_by_label("Email").fill("neema@example.org")
    page.get_by_label("Password").fill("123")
    page.get_by_role("button", name="Create and sign in").click()
    expect(page.locator(".field-error")).to_contain_text("too short")
    assert not Membership.objects.exists()


def test_it_logs_in_and_out(page, alice):
    page.goto("/")  # not signed in: sent to the login page, then back
    assert "/login/?next=/" in page.url
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("tenant-name")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_the_layout_fits_a_phone_screen(sign_in, alice):
    page = sign_in(alice)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/")
    expect(page.get_by_test_id("send-button")).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375


def test_an_unknown_page_is_an_html_page_for_a_browser(page, db):
    page.goto("/no-such-page/")
    assert page.get_by_role("heading", name="Not found").is_visible()
