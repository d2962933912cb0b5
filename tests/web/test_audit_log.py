"""The audit log in the dashboard's settings: admins see their organisation's operations and
filter them; members are refused; another organisation's records never show."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from mifumo.contacts import services as contacts
from mifumo.tenancy.errors import ApplicationError
from mifumo.tenancy.models import AuditRecord
from tests.factories import create_contact
from tests.web.test_settings import error_page


def test_an_admin_sees_who_did_what_and_filters_the_refusals(
    tenant_a, tenant_b, sign_in, alice, charlie
):
    kept = create_contact(tenant_a, name="Asha")
    contacts.contacts_bulk_tag(tenant=tenant_a, contact_ids=[kept.pk], add=["wazazi"])
    with pytest.raises(ApplicationError):
        contacts.contacts_bulk_delete(tenant=tenant_a, contact_ids=[kept.pk, uuid.uuid4()])
    theirs = create_contact(tenant_b, name="Other")
    contacts.contacts_bulk_delete(tenant=tenant_b, contact_ids=[theirs.pk])

    page = sign_in(alice)
    page.goto("/settings/api-keys/")
    page.get_by_label(re.compile(r"^Name")).fill("School website")
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Audit log").click()

    log = page.get_by_test_id("audit-log")
    expect(log.locator("tbody tr")).to_have_count(3)
    newest = log.locator("tbody tr").first
    expect(newest).to_contain_text("API key created")
    expect(newest).to_contain_text("alice@a.example")
    expect(newest).to_contain_text("keys: 1")
    expect(log).to_contain_text("Bulk tagging of contacts")
    expect(log).not_to_contain_text("Other")  # tenant B's delete is not here

    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(log.locator("tbody tr")).to_have_count(1)
    expect(log).to_contain_text("Bulk delete of contacts")
    expect(log).to_contain_text("contacts_not_found")
    expect(log).to_contain_text("deleted: 0, requested: 2")

    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Operation").select_option("contacts.bulk_edit")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("audit-log-empty")).to_contain_text("for this filter")
    assert AuditRecord.objects.filter(tenant=tenant_a).count() == 3


def test_a_member_cannot_open_the_audit_log(tenant_a, sign_in, bob):
    page = sign_in(bob)
    page.goto("/")
    status, tab = error_page(page, "/settings/audit-log/")
    assert status == 403
    expect(tab.get_by_text("Only the organisation's admins can open this page.")).to_be_visible()
