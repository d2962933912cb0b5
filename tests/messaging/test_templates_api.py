"""/api/messaging/templates/: CRUD, variables, preview, and tenant isolation."""

from __future__ import annotations

import uuid

import pytest

from mifumo.messaging.models import Template
from mifumo.messaging.services.templates import template_create
from tests.factories import create_contact
from tests.helpers import assert_error

URL = "/api/messaging/templates/"

pytestmark = pytest.mark.django_db


def create_template(tenant, **fields) -> Template:
    fields.setdefault("name", f"Template {uuid.uuid4().hex[:8]}")
    fields.setdefault("body", "Habari {{name|mzazi}}, ada ya {{term}} ni {{fee}}.")
    return template_create(tenant=tenant, **fields)


def detail_url(template: Template) -> str:
    return f"{URL}{template.pk}/"


def preview_url(template: Template) -> str:
    return f"{URL}{template.pk}/preview/"


# --- Creating ----------------------------------------------------------------------------------


def test_it_creates_a_template_and_lists_its_variables(alice_client, alice, tenant_a):
    body = "Habari {{name|mzazi}}, ada ya {{Term}} ni {{fee}}. {{name}}"

    response = alice_client.post(URL, {"name": "Ada ya muhula", "body": body})

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["name"] == "Ada ya muhula"
    assert data["channel"] == "sms"
    assert data["body"] == body
    assert data["variables"] == ["fee", "name", "term"]
    assert data["created_by"] == "alice@a.example"
    template = Template.objects.get(pk=data["id"])
    assert template.tenant == tenant_a
    assert template.created_by == alice


def test_it_lets_a_member_create_a_template(bob_client, bob):
    response = bob_client.post(URL, {"name": "Mkutano", "body": "Mkutano kesho saa 4."})

    assert response.status_code == 201, response.content
    assert response.json()["variables"] == []
    assert Template.objects.get(pk=response.json()["id"]).created_by == bob


def test_it_creates_an_email_template_with_a_subject(alice_client):
    response = alice_client.post(
        URL,
        {
            "name": "Ripoti",
            "channel": "email",
            "subject": "Ripoti ya {{student}}",
            "body": "Mpendwa {{name|mzazi}}, " + "x" * 2000,
        },
    )

    assert response.status_code == 201, response.content
    assert response.json()["subject"] == "Ripoti ya {{student}}"
    assert response.json()["variables"] == ["name", "student"]


def test_it_tidies_the_spaces_of_a_name(alice_client):
    response = alice_client.post(URL, {"name": "  Ada   ya  muhula ", "body": "Hi"})

    assert response.json()["name"] == "Ada ya muhula"


def test_it_refuses_a_name_the_tenant_already_uses_in_any_case(alice_client, tenant_a):
    create_template(tenant_a, name="Ada ya Muhula")

    response = alice_client.post(URL, {"name": "ada ya muhula", "body": "Hi"})

    body = assert_error(response, 409, "duplicate_template")
    assert "name" in body["details"]


def test_it_allows_a_name_another_tenant_uses(alice_client, tenant_b):
    create_template(tenant_b, name="Ada")

    response = alice_client.post(URL, {"name": "Ada", "body": "Hi"})

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "A"}, "body"),
        ({"name": "A", "body": "   "}, "body"),
        ({"body": "Hi"}, "name"),
        ({"name": "A", "body": "Hi", "channel": "whatsapp"}, "channel"),
        ({"name": "A", "body": "Hi", "bodyy": "x"}, "bodyy"),
        ({"name": "A", "body": "x" * 1601}, "body"),
        ({"name": "A", "body": "Hi", "subject": "Only e-mail"}, "subject"),
        ({"name": "x" * 101, "body": "Hi"}, "name"),
    ],
)
def test_it_refuses_invalid_templates_naming_the_field(alice_client, payload, field):
    response = alice_client.post(URL, payload)

    body = assert_error(response, 400, "validation_error")
    assert field in body["details"], body


def test_it_accepts_an_sms_body_of_exactly_1600_characters(alice_client):
    response = alice_client.post(URL, {"name": "Long", "body": "x" * 1600})

    assert response.status_code == 201, response.content


def test_it_refuses_a_body_with_a_malformed_variable_naming_its_position(alice_client):
    response = alice_client.post(URL, {"name": "A", "body": "Habari {{name"})

    body = assert_error(response, 400, "validation_error")
    assert "position 7" in body["details"]["body"][0]
    assert "position 7" in body["message"]
    assert not Template.objects.exists()


# --- Reading -----------------------------------------------------------------------------------


def test_it_lists_the_tenants_templates_newest_first(alice_client, tenant_a, tenant_b):
    older = create_template(tenant_a, name="Older")
    newer = create_template(tenant_a, name="Newer")
    create_template(tenant_b, name="Theirs")

    response = alice_client.get(URL)

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2
    assert [t["id"] for t in data["results"]] == [str(newer.pk), str(older.pk)]
    assert data["results"][0]["variables"] == ["fee", "name", "term"]


def test_it_filters_the_list_by_channel(alice_client, tenant_a):
    create_template(tenant_a, name="SMS")
    email = create_template(tenant_a, name="Mail", channel="email", body="Hi")

    response = alice_client.get(URL, {"channel": "email"})

    assert [t["id"] for t in response.json()["results"]] == [str(email.pk)]


def test_it_shows_one_template(bob_client, tenant_a):
    template = create_template(tenant_a, name="Ada")

    response = bob_client.get(detail_url(template))

    assert response.status_code == 200
    assert response.json()["name"] == "Ada"


# --- Changing and deleting ---------------------------------------------------------------------


def test_it_changes_the_body_and_its_variables(bob_client, tenant_a):
    template = create_template(tenant_a, name="Ada")
    before = template.updated_at

    response = bob_client.patch(detail_url(template), {"body": "Karibu {{first_name}}"})

    assert response.status_code == 200, response.content
    assert response.json()["variables"] == ["first_name"]
    template.refresh_from_db()
    assert template.body == "Karibu {{first_name}}"
    assert template.name == "Ada"
    assert template.updated_at > before


def test_it_replaces_a_template(alice_client, tenant_a):
    template = create_template(tenant_a, name="Ada")

    response = alice_client.put(detail_url(template), {"name": "Ada 2", "body": "Hi {{name}}"})

    assert response.status_code == 200, response.content
    template.refresh_from_db()
    assert (template.name, template.body) == ("Ada 2", "Hi {{name}}")


def test_it_keeps_a_templates_own_name_on_update(alice_client, tenant_a):
    template = create_template(tenant_a, name="Ada")

    response = alice_client.patch(detail_url(template), {"name": "ADA"})

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "ADA"


def test_it_refuses_renaming_to_another_templates_name(alice_client, tenant_a):
    create_template(tenant_a, name="Ada")
    other = create_template(tenant_a, name="Mkutano")

    response = alice_client.patch(detail_url(other), {"name": "ada"})

    assert_error(response, 409, "duplicate_template")
    other.refresh_from_db()
    assert other.name == "Mkutano"


def test_it_refuses_turning_a_long_email_template_into_an_sms(alice_client, tenant_a):
    template = create_template(tenant_a, name="Mail", channel="email", body="x" * 2000)

    response = alice_client.patch(detail_url(template), {"channel": "sms"})

    body = assert_error(response, 400, "validation_error")
    assert "1600" in body["details"]["body"][0]


def test_it_refuses_a_malformed_body_on_update(alice_client, tenant_a):
    template = create_template(tenant_a)

    response = alice_client.patch(detail_url(template), {"body": "Hi }} there"})

    body = assert_error(response, 400, "validation_error")
    assert "position 3" in body["details"]["body"][0]


def test_it_deletes_a_template(bob_client, tenant_a):
    template = create_template(tenant_a)

    response = bob_client.delete(detail_url(template))

    assert response.status_code == 204
    assert not Template.objects.filter(pk=template.pk).exists()


# --- Preview -----------------------------------------------------------------------------------


def test_it_previews_a_template_for_a_contact(alice_client, tenant_a):
    template = create_template(tenant_a, body="Habari {{first_name|mzazi}}, ada ya {{term}}.")
    contact = create_contact(tenant_a, name="Asha Juma", attributes={"Term": "II"})

    response = alice_client.post(preview_url(template), {"contact_id": str(contact.pk)})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "rendered": "Habari Asha, ada ya II.",
        "encoding": "GSM-7",
        "characters": 23,
        "segments": 1,
        "missing_variables": [],
    }


def test_it_previews_a_template_with_given_variables(bob_client, tenant_a):
    template = create_template(tenant_a, body="Habari {{name|mzazi}}, ada ni {{fee}}.")

    response = bob_client.post(preview_url(template), {"variables": {"fee": 150000}})

    assert response.status_code == 200, response.content
    assert response.json()["rendered"] == "Habari mzazi, ada ni 150000."
    assert response.json()["missing_variables"] == []


def test_its_preview_variables_override_the_contacts_values(alice_client, tenant_a):
    template = create_template(tenant_a, body="{{name}}: {{term}}")
    contact = create_contact(tenant_a, name="Asha", attributes={"term": "I"})

    response = alice_client.post(
        preview_url(template), {"contact_id": str(contact.pk), "variables": {"Term": "III"}}
    )

    assert response.json()["rendered"] == "Asha: III"


def test_its_preview_reports_missing_variables_instead_of_failing(alice_client, tenant_a):
    template = create_template(tenant_a, body="Habari {{name}}, ada ya {{term}} ni {{fee}}.")
    contact = create_contact(tenant_a, name="", attributes={"fee": "5000"})

    response = alice_client.post(preview_url(template), {"contact_id": str(contact.pk)})

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["missing_variables"] == ["name", "term"]
    assert data["rendered"] == "Habari {{name}}, ada ya {{term}} ni 5000."


def test_its_preview_counts_the_segments_of_the_rendered_text(alice_client, tenant_a):
    template = create_template(tenant_a, body="{{greeting}} " + "a" * 150)

    # "Habari Zoë" makes it UCS-2: 11 + 150 = 161 characters, 67 per segment: 3 segments.
    response = alice_client.post(preview_url(template), {"variables": {"greeting": "Habari Zoë"}})

    data = response.json()
    assert (data["encoding"], data["characters"], data["segments"]) == ("UCS-2", 161, 3)


def test_its_preview_of_an_email_template_renders_the_subject(alice_client, tenant_a):
    template = create_template(
        tenant_a, channel="email", subject="Ripoti ya {{student}}", body="Mpendwa {{name}}"
    )

    response = alice_client.post(preview_url(template), {"variables": {"name": "Asha"}})

    data = response.json()
    assert data["subject"] == "Ripoti ya {{student}}"
    assert data["rendered"] == "Mpendwa Asha"
    assert data["missing_variables"] == ["student"]
    assert (data["encoding"], data["segments"]) == (None, None)


def test_its_preview_needs_a_contact_or_variables(alice_client, tenant_a):
    template = create_template(tenant_a)

    assert_error(alice_client.post(preview_url(template), {}), 400, "validation_error")


def test_its_preview_of_an_unknown_contact_is_a_404(alice_client, tenant_a):
    template = create_template(tenant_a)

    response = alice_client.post(preview_url(template), {"contact_id": str(uuid.uuid4())})

    assert_error(response, 404, "not_found")


def test_its_preview_of_another_tenants_contact_is_a_404(alice_client, tenant_a, tenant_b):
    template = create_template(tenant_a)
    theirs = create_contact(tenant_b, name="Charlie's contact")

    response = alice_client.post(preview_url(template), {"contact_id": str(theirs.pk)})

    assert_error(response, 404, "not_found")


# --- Isolation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"name": "Mine now"}),
        ("put", "", {"name": "Mine now", "body": "Hi"}),
        ("delete", "", None),
        ("post", "preview/", {"variables": {"name": "x"}}),
    ],
)
def test_it_answers_404_to_an_outsider_on_every_route(
    charlie_client, tenant_a, method, suffix, payload
):
    template = create_template(tenant_a, name="Ada")

    response = getattr(charlie_client, method)(f"{detail_url(template)}{suffix}", payload)

    assert_error(response, 404, "not_found")
    template.refresh_from_db()
    assert template.name == "Ada"


def test_it_does_not_list_another_tenants_templates(charlie_client, tenant_a):
    create_template(tenant_a)

    assert charlie_client.get(URL).json()["count"] == 0


def test_it_requires_authentication(anon, tenant_a):
    template = create_template(tenant_a)

    assert_error(anon.get(URL), 401)
    assert_error(anon.post(preview_url(template), {"variables": {"a": "b"}}), 401)
