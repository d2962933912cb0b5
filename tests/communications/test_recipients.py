"""Who a bulk message reaches: every kind of recipient group, custom recipients mixing
phones, e-mail addresses and garbage, deduplication, and the people who are skipped."""

from __future__ import annotations

import pytest
from django.utils.timezone import now

from mifumo.contacts.models import Group, GroupKind
from mifumo.delivery.models import Message
from tests.communications.conftest import GROUPS_URL, URL
from tests.factories import create_contact
from tests.helpers import assert_error


def send(client, **fields) -> dict:
    fields.setdefault("message_body", "Habari")
    fields.setdefault("delivery_method", "sms")
    if fields["delivery_method"] == "email":
        fields.setdefault("subject", "Taarifa")
    response = client.post(URL, fields, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def addresses(body) -> set[str]:
    return set(Message.objects.filter(campaign_id=body["campaign_id"]).values_list("to", flat=True))


@pytest.mark.parametrize(
    ("group", "members"),
    [
        ("All Students", ["Asha Juma", "Baraka Juma", "Chausiku Ally"]),
        ("All Parents", ["Juma Ally", "Mama Chausiku"]),
        ("All Teachers", ["Mwalimu Neema"]),
        ("All Staff", ["Mlinzi Hamisi"]),
        ("Form 2B", ["Asha Juma", "Baraka Juma"]),  # a class: its students
        ("Form 1A", ["Chausiku Ally"]),
        # The guardians of the class's students, each once (Juma has two children in 2B).
        ("Parents of Form 2B", ["Juma Ally"]),
        ("Parents of Form 1A", ["Mama Chausiku"]),
        ("Kwaya", ["Asha Juma", "Mwalimu Neema"]),  # a custom group
        ("parents of  form 2b", ["Juma Ally"]),  # names are read as people type them
    ],
)
def test_each_kind_of_group_reaches_its_members_by_sms(alice_client, school, group, members):
    body = send(alice_client, recipient_group=group)
    assert addresses(body) == school.phones(*members)
    assert body["total_recipients"] == len(members)
    assert body["skipped_count"] == 0


def test_a_group_by_email_skips_and_reports_people_without_an_address(alice_client, school):
    body = send(alice_client, recipient_group="All Parents", delivery_method="email")
    assert addresses(body) == {"juma@example.org"}
    assert (body["total_recipients"], body["skipped_count"]) == (1, 1)
    assert body["skipped_recipients"] == [
        {
            "name": "Mama Chausiku",
            "phone": school.phone("Mama Chausiku"),
            "email": "",
            "reason": "no e-mail address",
        }
    ]


def test_opted_out_and_inactive_contacts_are_skipped_with_the_reason(alice_client, school):
    asha, baraka = school.people["Asha Juma"], school.people["Baraka Juma"]
    asha.opted_out_at = now()
    asha.save()
    baraka.is_active = False
    baraka.save()
    body = send(alice_client, recipient_group="All Students")
    assert addresses(body) == school.phones("Chausiku Ally")
    assert {(s["name"], s["reason"]) for s in body["skipped_recipients"]} == {
        ("Asha Juma", "opted out of messages"),
        ("Baraka Juma", "inactive contact"),
    }


def test_custom_sms_recipients_are_normalised_and_deduplicated(alice_client, school):
    body = send(
        alice_client,
        recipient_group="Form 2B",
        # Asha again in three shapes, a new number in local form, a newline-separated one.
        custom_recipients="0712 000 001, +255712000001,255712000001\n0765 111 222\n+254712345678",
    )
    assert addresses(body) == school.phones("Asha Juma", "Baraka Juma") | {
        "+255765111222",
        "+254712345678",
    }
    # Asha's message is linked to her contact (so her opt-out would be honoured).
    asha = Message.objects.get(to=school.phone("Asha Juma"))
    assert asha.contact_id == school.people["Asha Juma"].pk


def test_an_email_in_an_sms_reaches_the_contact_with_that_address(alice_client, school):
    body = send(
        alice_client, custom_recipients="NEEMA@staff.example, stranger@example.org, 0765111222"
    )
    assert addresses(body) == school.phones("Mwalimu Neema") | {"+255765111222"}
    assert body["skipped_recipients"] == [
        {
            "name": "",
            "phone": "",
            "email": "stranger@example.org",
            "reason": "no contact with a phone number has this address",
        }
    ]


def test_custom_email_recipients_mix_addresses_and_contacts_numbers(alice_client, school):
    body = send(
        alice_client,
        delivery_method="email",
        recipient_group="Form 1A",
        # Juma's number: his address is used; Mama Chausiku's: she has none; Chausiku's own
        # address typed again in capitals; a stranger's address.
        custom_recipients="0754000001;0754000003\nCHAUSIKU@Students.Example, Mgeni@Example.ORG",
    )
    assert addresses(body) == {
        "chausiku@students.example",
        "juma@example.org",
        "Mgeni@example.org",
    }
    assert [(s["name"], s["reason"]) for s in body["skipped_recipients"]] == [
        ("Mama Chausiku", "no e-mail address")
    ]


def test_garbage_among_custom_recipients_is_a_400_listing_every_bad_entry(alice_client, school):
    response = alice_client.post(
        URL,
        {
            "delivery_method": "sms",
            "message_body": "Habari",
            "custom_recipients": "0712000001, hello, asha@, 07123, +15551234567,0754000001",
        },
        format="json",
    )
    body = assert_error(response, 400, "invalid_recipients")
    assert body["details"]["custom_recipients"] == [
        "hello: Invalid phone number format: 'hello' contains letters",
        "asha@: not a valid e-mail address",
        "07123: Invalid phone number format: '07123' is too short",
        "+15551234567: Invalid phone number format: '+15551234567' is not a valid number for TZ",
    ]
    assert "4 invalid entries" in body["message"]
    assert not Message.objects.exists()


def test_garbage_in_an_email_is_a_400_too(alice_client, school):
    response = alice_client.post(
        URL,
        {
            "delivery_method": "email",
            "subject": "Taarifa",
            "message_body": "Habari",
            "custom_recipients": "asha@students.example, not an address, 12",
        },
        format="json",
    )
    body = assert_error(response, 400, "invalid_recipients")
    assert [entry.split(":")[0] for entry in body["details"]["custom_recipients"]] == [
        "not an address",
        "12",
    ]


def test_more_than_10000_custom_entries_are_refused(alice_client, settings, school):
    settings.SMS_BULK_SEND_MAX_RECIPIENTS = 3
    body = assert_error(
        alice_client.post(
            URL,
            {
                "delivery_method": "sms",
                "message_body": "x",
                "custom_recipients": "0712000001,0712000002,0712000003,0712000004",
            },
            format="json",
        ),
        400,
        "too_many_recipients",
    )
    assert "at most 3" in body["details"]["custom_recipients"][0].lower()


class TestRecipientGroups:
    def test_it_lists_system_groups_classes_their_parents_and_custom_groups(
        self, alice_client, school
    ):
        response = alice_client.get(GROUPS_URL)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 9
        listed = {
            g["name"]: (g["kind"], g["member_count"], g["email_count"]) for g in body["results"]
        }
        assert listed == {
            "All Students": ("system", 3, 2),
            "All Parents": ("system", 2, 1),
            "All Teachers": ("system", 1, 1),
            "All Staff": ("system", 1, 0),
            "Form 1A": ("class", 1, 1),
            "Form 2B": ("class", 2, 1),
            "Parents of Form 1A": ("parents", 1, 0),
            "Parents of Form 2B": ("parents", 1, 1),
            "Kwaya": ("custom", 2, 2),
        }
        assert [g["name"] for g in body["results"]][:4] == [
            "All Students",
            "All Parents",
            "All Teachers",
            "All Staff",
        ]
        by_name = {g["name"]: g for g in body["results"]}
        assert by_name["Form 2B"]["group_id"] == str(school.groups["Form 2B"].pk)
        assert by_name["Parents of Form 2B"]["group_id"] is None

    def test_a_new_school_sees_the_four_system_groups_empty(self, alice_client):
        body = alice_client.get(GROUPS_URL).json()
        assert [(g["name"], g["member_count"]) for g in body["results"]] == [
            ("All Students", 0),
            ("All Parents", 0),
            ("All Teachers", 0),
            ("All Staff", 0),
        ]

    def test_a_parent_of_two_classes_counts_once_in_each(self, alice_client, school, tenant_a):
        create_contact(
            tenant_a,
            name="Rehema Juma",
            phone="0712000020",
            group_ids=[school.groups["Form 1A"].pk],
            guardian_ids=[school.people["Juma Ally"].pk],
        )
        listed = {
            g["name"]: g["member_count"] for g in alice_client.get(GROUPS_URL).json()["results"]
        }
        assert listed["Parents of Form 1A"] == 2
        assert listed["Parents of Form 2B"] == 1

    def test_another_tenants_groups_are_not_listed(self, charlie_client, school, tenant_b):
        Group.objects.create(tenant=tenant_b, name="Grade 7", kind=GroupKind.CLASS)
        names = [g["name"] for g in charlie_client.get(GROUPS_URL).json()["results"]]
        assert "Form 2B" not in names and "Grade 7" in names
