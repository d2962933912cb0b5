"""POST /api/messaging/sms/estimate/: segments by GSM 03.38, personalised totals, cost,
balance and the characters that make a text UCS-2.

Every segment count below is worked by hand in its comment: GSM-7 texts hold 160 septets in
one segment, else 153 per segment (an extension character takes 2 septets and never
straddles two segments); UCS-2 texts hold 70 UTF-16 units, else 67 (an emoji takes 2 and is
never split).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from mifumo.contacts import services as contact_services
from mifumo.messaging.models import CreditAccount, SmsPrice
from mifumo.messaging.pricing import forget_prices
from mifumo.messaging.services.templates import template_create
from tests.factories import create_contact, create_group
from tests.helpers import assert_error

URL = "/api/messaging/sms/estimate/"
TZ, TZ_2, KE, UG = "+255712345678", "+255712345679", "+254712123456", "+256712345678"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _east_africa(tenant_a):
    # A tenant texts only its own country unless it says otherwise; these tests price three.
    tenant_a.allowed_countries = ["TZ", "KE", "UG"]
    tenant_a.save(update_fields=["allowed_countries"])


@pytest.fixture(autouse=True)
def _fresh_prices():
    # pricing keeps the price table for 30 s per process.
    forget_prices()
    yield
    forget_prices()


def estimate(client, **payload) -> dict:
    response = client.post(URL, payload)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    return body


def figures(body: dict) -> tuple[str, int, int]:
    return body["encoding"], body["characters"], body["segments"]


# --- GSM-7 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [
        (1, 1),
        (160, 1),  # fits one segment
        (161, 2),  # 153 + 8
        (306, 2),  # 153 + 153
        (307, 3),  # 153 + 153 + 1
        (459, 3),  # 3 x 153
        (460, 4),
    ],
)
def test_it_counts_gsm_segments_at_the_boundaries(alice_client, length, segments):
    body = estimate(alice_client, message="a" * length)

    assert figures(body) == ("GSM-7", length, segments)
    assert body["warnings"] == []


def test_it_counts_the_euro_sign_as_two_septets(alice_client):
    # 158 + 2 = 160 septets: one segment; 159 + 2 = 161: two.
    assert figures(estimate(alice_client, message="a" * 158 + "€")) == ("GSM-7", 159, 1)
    assert figures(estimate(alice_client, message="a" * 159 + "€")) == ("GSM-7", 160, 2)


def test_it_moves_an_escape_pair_at_the_153rd_septet_to_the_next_segment(alice_client):
    # 152 + (2) + 152 = 306 septets, which would fit two segments if the pair could be split:
    # [152 a] [€ + 151 a = 153] [1 a] is three.
    assert figures(estimate(alice_client, message="a" * 152 + "€" + "a" * 152)) == (
        "GSM-7",
        305,
        3,
    )
    # One septet earlier it ends the first segment exactly: [151 a + €] [153 a] is two.
    assert figures(estimate(alice_client, message="a" * 151 + "€" + "a" * 153)) == (
        "GSM-7",
        305,
        2,
    )


def test_it_counts_every_extension_character_twice(alice_client):
    # ^ { } \ [ ~ ] | €: 9 characters, 18 septets; + 142 = 160 septets, one segment.
    body = estimate(alice_client, message="^{}\\[~]|€" + "a" * 142)

    assert figures(body) == ("GSM-7", 151, 1)
    assert figures(estimate(alice_client, message="^{}\\[~]|€" + "a" * 143))[2] == 2


def test_it_counts_swahili_text_as_gsm(alice_client):
    text = (
        "Habari za asubuhi, mzazi mpendwa. Ada ya muhula wa pili ni TSh 150,000. "
        "Tafadhali lipa kabla ya tarehe 15 Machi. Asante!"
    )
    # 72 + 48 = 120 characters: one segment; twice with a space, 241: two (153 + 88).
    assert figures(estimate(alice_client, message=text)) == ("GSM-7", 120, 1)
    assert figures(estimate(alice_client, message=text + " " + text)) == ("GSM-7", 241, 2)


def test_it_counts_french_accents_of_the_gsm_alphabet_as_gsm(alice_client):
    # é, è, à, É and Ç are in the GSM 03.38 basic table.
    text = "Réunion des parents à l'école: élève, père, très bien. Ça va. École."

    body = estimate(alice_client, message=text)

    assert figures(body) == ("GSM-7", 68, 1)
    assert body["warnings"] == []


# --- UCS-2 -------------------------------------------------------------------------------------


def test_it_makes_a_lower_case_c_cedilla_ucs2_and_names_it(alice_client):
    # Ç is GSM, ç is not: the whole text becomes UCS-2.
    body = estimate(alice_client, message="La leçon de demain")

    assert figures(body) == ("UCS-2", 18, 1)
    [warning] = body["warnings"]
    assert warning["character"] == "ç"
    assert warning["name"] == "LATIN SMALL LETTER C WITH CEDILLA"
    assert warning["codepoint"] == "U+00E7"
    assert (warning["position"], warning["column"]) == (5, 6)
    assert warning["source"] == "text"


def test_it_makes_an_e_circumflex_ucs2(alice_client):
    # "fête": ê at index 1; 71 characters of UCS-2 need two segments (67 + 4).
    body = estimate(alice_client, message="fête" + "a" * 67)

    assert figures(body) == ("UCS-2", 71, 2)
    assert body["warnings"][0]["name"] == "LATIN SMALL LETTER E WITH CIRCUMFLEX"
    assert body["warnings"][0]["position"] == 1


@pytest.mark.parametrize(
    ("length", "segments"),
    [(70, 1), (71, 2), (134, 2), (135, 3)],  # 70 | 67 + 4 | 67 + 67 | 67 + 67 + 1
)
def test_it_counts_ucs2_segments_at_the_boundaries(alice_client, length, segments):
    assert figures(estimate(alice_client, message="ê" * length)) == ("UCS-2", length, segments)


def test_it_counts_an_emoji_as_two_units(alice_client):
    # 68 + 2 = 70 units: one segment; 69 + 2 = 71: two. Characters are code points.
    assert figures(estimate(alice_client, message="a" * 68 + "😀")) == ("UCS-2", 69, 1)
    assert figures(estimate(alice_client, message="a" * 69 + "😀")) == ("UCS-2", 70, 2)


def test_it_never_splits_an_emoji_across_segments(alice_client):
    # 66 + (2) + 66 = 134 units: [66 a] [😀 + 65 a = 67] [1 a] is three.
    assert figures(estimate(alice_client, message="a" * 66 + "😀" + "a" * 66))[2] == 3
    # [65 a + 😀 = 67] [67 a] is two.
    assert figures(estimate(alice_client, message="a" * 65 + "😀" + "a" * 67))[2] == 2


def test_it_names_a_smart_quote_and_a_non_breaking_space_with_their_positions(alice_client):
    body = estimate(alice_client, message="Don’t miss\u00a0the meeting")

    # "Don\u2019t" 5 + " " 1 + "miss" 4 + NBSP 1 + "the" 3 + " " 1 + "meeting" 7 = 22 characters.
    assert figures(body) == ("UCS-2", 22, 1)
    assert [(w["name"], w["position"]) for w in body["warnings"]] == [
        ("RIGHT SINGLE QUOTATION MARK", 3),
        ("NO-BREAK SPACE", 10),
    ]
    assert body["warnings"][0]["message"] == (
        "RIGHT SINGLE QUOTATION MARK at position 3 makes this message UCS-2 "
        "(70 characters per segment instead of 160)"
    )


def test_it_names_an_ellipsis(alice_client):
    body = estimate(alice_client, message="Habari za asubuhi, mzazi…")

    assert figures(body) == ("UCS-2", 25, 1)
    assert [(w["name"], w["position"]) for w in body["warnings"]] == [("HORIZONTAL ELLIPSIS", 24)]


def test_it_does_not_warn_about_the_name_of_a_variable(alice_client):
    body = estimate(alice_client, message="Habari {{jina_ê|mzazi}}", variables={"jina_ê": "Asha"})

    assert figures(body) == ("GSM-7", 11, 1)  # "Habari Asha"
    assert body["warnings"] == []


def test_it_warns_about_a_default_that_is_sent(alice_client):
    body = estimate(alice_client, message="Habari {{name|mzazi’}}")

    assert [(w["name"], w["position"]) for w in body["warnings"]] == [
        ("RIGHT SINGLE QUOTATION MARK", 19)
    ]


# --- Recipients and personalisation ------------------------------------------------------------


def test_it_totals_the_segments_of_each_personalised_message(alice_client):
    # "Habari <name>. " + 140 a = 149 + len(name) characters:
    #   Ali        152 GSM-7: 1 segment
    #   Bartholomew Mwakyembe (21): 170 GSM-7: 2 segments (153 + 17)
    #   Zoë        152 UCS-2: 3 segments (67 + 67 + 18)
    message = "Habari {{name}}. " + "a" * 140
    contacts = [
        {"phone": TZ, "name": "Ali"},
        {"phone": TZ_2, "name": "Bartholomew Mwakyembe"},
        {"phone": KE, "name": "Zoë"},
    ]

    body = estimate(alice_client, message=message, contacts=contacts)

    assert figures(body) == ("GSM-7", 152, 1)  # the first recipient's message
    assert body["recipients"] == 3
    assert body["total_segments"] == 6
    assert body["errors"] == []
    [warning] = body["warnings"]
    assert warning["source"] == "variables"
    assert warning["name"] == "LATIN SMALL LETTER E WITH DIAERESIS"
    assert warning["recipients"] == 1


def test_it_renders_each_rows_own_variables(alice_client):
    # "Ada: 5000" is 9 characters; "Ada: " + 200 digits is 205: 2 segments. 1 + 2 = 3.
    contacts = [{"phone": TZ, "fee": 5000}, {"phone": TZ_2, "fee": "9" * 200}]

    body = estimate(alice_client, message="Ada: {{fee}}", contacts=contacts)

    assert (body["recipients"], body["total_segments"]) == (2, 3)


def test_it_fills_a_recipients_blanks_with_the_requests_variables(alice_client):
    contacts = [{"phone": TZ, "term": "I"}, {"phone": TZ_2}]

    body = estimate(
        alice_client, message="Muhula {{term}}", contacts=contacts, variables={"term": "II"}
    )

    assert (body["recipients"], body["errors"]) == (2, [])
    assert figures(body) == ("GSM-7", 8, 1)  # "Muhula I": the row's own value first


def test_it_lists_recipients_lacking_a_variable_and_does_not_count_them(alice_client):
    contacts = [{"phone": TZ, "name": "Asha"}, {"phone": TZ_2}, {"phone": KE, "name": " "}]

    body = estimate(alice_client, message="Habari {{name}}", contacts=contacts)

    assert (body["recipients"], body["total_segments"]) == (1, 1)
    assert body["errors"] == [
        {"phone": TZ_2, "reason": "No value for {{name}}", "variable": "name"},
        {"phone": KE, "reason": "No value for {{name}}", "variable": "name"},
    ]
    assert body["missing_variables"] == ["name"]


def test_it_lists_invalid_numbers_and_counts_the_others(alice_client):
    contacts = [{"phone": "0712 345 678"}, {"phone": "12345"}, {"phone": "0712-ABC"}, {}]

    body = estimate(alice_client, message="Hi", contacts=contacts)

    assert body["recipients"] == 1
    assert [e["phone"] for e in body["errors"]] == ["12345", "0712-ABC", ""]
    assert all(e["reason"] for e in body["errors"])


def test_it_lists_numbers_outside_the_tenants_countries_as_a_send_would(alice_client, tenant_a):
    tenant_a.allowed_countries = []  # its own country only: TZ
    tenant_a.save(update_fields=["allowed_countries"])

    body = estimate(alice_client, message="Hi", contacts=[{"phone": TZ}, {"phone": KE}])

    assert (body["recipients"], body["total_segments"]) == (1, 1)
    assert body["errors"] == [
        {"phone": KE, "reason": f"{KE} is outside the organisation's allowed countries (KE)"}
    ]


def test_it_personalises_a_row_whose_number_is_a_saved_contact(alice_client, tenant_a):
    saved = create_contact(tenant_a, phone=TZ, name="Asha Juma", attributes={"term": "II"})

    body = estimate(
        alice_client, message="{{first_name}}: {{term}}", contacts=[{"phone": "0712345678"}]
    )

    assert figures(body) == ("GSM-7", 8, 1)  # "Asha: II"
    assert body["errors"] == []
    assert saved.phone_e164 == TZ


def test_it_lists_a_row_whose_number_opted_out(alice_client, tenant_a):
    saved = create_contact(tenant_a, phone=TZ)
    contact_services.contact_opt_out(contact=saved, reason="STOP")

    body = estimate(alice_client, message="Hi", contacts=[{"phone": TZ}, {"phone": TZ_2}])

    assert body["recipients"] == 1
    assert body["errors"] == [
        {
            "phone": TZ,
            "contact_id": str(saved.pk),
            "reason": "The contact has opted out of messages.",
        }
    ]


def test_it_lists_a_recipient_whose_message_renders_empty(alice_client):
    body = estimate(
        alice_client, message="{{note|}}", contacts=[{"phone": TZ}, {"phone": TZ_2, "note": "x"}]
    )

    assert body["recipients"] == 1
    assert body["errors"] == [{"phone": TZ, "reason": "The message is empty."}]


def test_it_counts_the_same_number_once(alice_client):
    contacts = [{"phone": TZ}, {"phone": "0712345678"}, {"phone": "255 712 345 678"}]

    body = estimate(alice_client, message="Hi", contacts=contacts)

    assert (body["recipients"], body["total_segments"], body["errors"]) == (1, 1, [])


def test_it_estimates_a_template_for_saved_contacts(alice_client, tenant_a):
    template = template_create(
        tenant=tenant_a, name="Ada", body="Habari {{first_name|mzazi}}, ada ya {{term}}."
    )
    asha = create_contact(tenant_a, name="Asha Juma", attributes={"Term": "II"})
    nobody = create_contact(tenant_a, name="", attributes={"term": "III"})
    no_term = create_contact(tenant_a, name="Juma")

    body = estimate(
        alice_client,
        template_id=str(template.pk),
        contact_ids=[str(asha.pk), str(nobody.pk), str(no_term.pk)],
    )

    assert figures(body) == ("GSM-7", 23, 1)  # "Habari Asha, ada ya II."
    assert (body["recipients"], body["total_segments"]) == (2, 2)
    assert body["errors"] == [
        {
            "phone": no_term.phone_e164,
            "contact_id": str(no_term.pk),
            "reason": "No value for {{term}}",
            "variable": "term",
        }
    ]


def test_it_estimates_a_groups_members(bob_client, tenant_a):
    group = create_group(tenant_a, name="Form 2B")
    members = [create_contact(tenant_a, name=name) for name in ("Asha", "Juma", "Neema")]
    create_contact(tenant_a, name="Not in the group")
    contact_services.group_add_members(group=group, contact_ids=[c.pk for c in members])

    body = estimate(bob_client, message="Habari {{name}}", group_id=str(group.pk))

    assert (body["recipients"], body["total_segments"]) == (3, 3)


def test_it_leaves_out_opted_out_contacts(alice_client, tenant_a):
    asha = create_contact(tenant_a, name="Asha")
    gone = contact_services.contact_opt_out(contact=create_contact(tenant_a), reason="STOP")

    body = estimate(alice_client, message="Hi", contact_ids=[str(asha.pk), str(gone.pk)])

    assert body["recipients"] == 1
    assert body["errors"][0]["contact_id"] == str(gone.pk)
    assert "opted out" in body["errors"][0]["reason"]


def test_it_gives_the_texts_figures_without_recipients(alice_client, tenant_a):
    template = template_create(tenant=tenant_a, name="Ada", body="Habari {{name|mzazi}}!")

    body = estimate(alice_client, template_id=str(template.pk))

    assert figures(body) == ("GSM-7", 13, 1)  # "Habari mzazi!"
    assert (body["recipients"], body["total_segments"], body["cost"]) == (0, 0, "0.00")


def test_it_counts_a_text_whose_variables_are_missing_as_written(alice_client):
    body = estimate(alice_client, message="Ada ya {{term}}")

    assert figures(body) == ("GSM-7", 15, 1)
    assert body["missing_variables"] == ["term"]


# --- Cost and balance --------------------------------------------------------------------------


@pytest.fixture
def prices(settings):
    settings.SMS_DEFAULT_PRICE = Decimal("30")
    SmsPrice.objects.create(region="TZ", price_per_segment=Decimal("20"))
    SmsPrice.objects.create(region="KE", price_per_segment=Decimal("25.5"))


def test_it_prices_each_message_by_its_destination(alice_client, prices):
    # TZ: 1 segment x 20; KE: 2 segments x 25.5 = 51; UG (no row): 1 x 30. 101 in all.
    contacts = [
        {"phone": TZ, "msg": "short"},
        {"phone": KE, "msg": "b" * 200},
        {"phone": UG, "msg": "short"},
    ]

    body = estimate(alice_client, message="{{msg}}", contacts=contacts)

    assert (body["recipients"], body["total_segments"]) == (3, 4)
    assert body["cost"] == "101.00"


def test_it_keeps_the_fractions_of_a_credit(alice_client, settings):
    SmsPrice.objects.create(region="TZ", price_per_segment=Decimal("0.0125"))

    # 3 segments (153 + 153 + 1) x 0.0125 = 0.0375
    body = estimate(alice_client, message="a" * 307, contacts=[{"phone": TZ}])

    assert body["cost"] == "0.0375"


def test_it_shows_no_balance_when_billing_is_off(alice_client, tenant_a, settings):
    settings.BILLING_ENABLED = False
    CreditAccount.objects.create(tenant=tenant_a, balance=Decimal("500"))

    body = estimate(alice_client, message="Hi", contacts=[{"phone": TZ}])

    assert body["billing_enabled"] is False
    assert (body["balance"], body["balance_after"]) == (None, None)
    assert body["cost"] == "1.00"  # the default price still says what the vendor may charge


def test_it_shows_the_balance_after_the_send_when_billing_is_on(
    alice_client, tenant_a, settings, prices
):
    settings.BILLING_ENABLED = True
    CreditAccount.objects.create(tenant=tenant_a, balance=Decimal("100.5"))

    body = estimate(alice_client, message="Hi", contacts=[{"phone": TZ}, {"phone": KE}])

    assert body["billing_enabled"] is True
    assert (body["cost"], body["balance"], body["balance_after"]) == ("45.50", "100.50", "55.00")


def test_it_shows_a_balance_of_zero_for_a_tenant_without_an_account(alice_client, settings, prices):
    settings.BILLING_ENABLED = True

    body = estimate(alice_client, message="Hi", contacts=[{"phone": TZ}])

    assert (body["balance"], body["balance_after"]) == ("0.00", "-20.00")


def test_it_reads_only_its_own_tenants_balance(charlie_client, tenant_a, settings):
    settings.BILLING_ENABLED = True
    CreditAccount.objects.create(tenant=tenant_a, balance=Decimal("500"))

    body = estimate(charlie_client, message="Hi", contacts=[{"phone": KE}])

    assert body["balance"] == "0.00"


# --- Bad input ---------------------------------------------------------------------------------


def test_it_refuses_an_empty_list_of_recipients(alice_client):
    body = assert_error(alice_client.post(URL, {"message": "Hi", "contacts": []}), 400)

    assert "contacts" in body["details"]


def test_it_refuses_more_than_10000_recipients(alice_client):
    contacts = [{"phone": f"+2557{i:08d}"} for i in range(10_001)]

    body = assert_error(alice_client.post(URL, {"message": "Hi", "contacts": contacts}), 400)

    assert "10000" in body["details"]["contacts"][0]


def test_it_accepts_10000_recipients(alice_client):
    contacts = [{"phone": f"+2557{i:08d}", "name": f"Mzazi {i}"} for i in range(10_000)]

    body = estimate(alice_client, message="Habari {{name}}", contacts=contacts)

    assert (body["recipients"], body["total_segments"]) == (10_000, 10_000)


def test_it_refuses_a_group_over_the_limit(alice_client, tenant_a, settings):
    settings.SMS_BULK_SEND_MAX_RECIPIENTS = 2
    group = create_group(tenant_a)
    contacts = [create_contact(tenant_a) for _ in range(3)]
    contact_services.group_add_members(group=group, contact_ids=[c.pk for c in contacts])

    response = alice_client.post(URL, {"message": "Hi", "group_id": str(group.pk)})

    assert_error(response, 400, "too_many_recipients")


def test_it_refuses_recipients_none_of_whom_can_receive_it(alice_client):
    response = alice_client.post(URL, {"message": "Hi", "contacts": [{"phone": "123"}]})

    body = assert_error(response, 400, "no_recipients")
    assert body["details"]["errors"][0]["phone"] == "123"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"contacts": [{"phone": TZ}]},
        {"message": "Hi", "template_id": str(uuid.uuid4())},
        {"message": "Hi", "contacts": "+255712345678"},
        {"message": "Hi", "contacts": [TZ]},
        {"message": "Hi", "contacts": [{"phone": TZ, "tags": ["a"]}]},
        {"message": "Hi", "contact_ids": ["not-a-uuid"]},
        {"message": "Hi", "sender_id": "MIFUMO"},
        {"message": "x" * 1601},
    ],
)
def test_it_refuses_malformed_requests(alice_client, payload):
    assert_error(alice_client.post(URL, payload), 400, "validation_error")


def test_it_refuses_a_malformed_variable_naming_its_position(alice_client):
    body = assert_error(alice_client.post(URL, {"message": "Hi {{name"}), 400, "validation_error")

    assert "position 3" in body["details"]["message"][0]


def test_it_refuses_an_email_template(alice_client, tenant_a):
    template = template_create(tenant=tenant_a, name="Mail", channel="email", body="Hi")

    response = alice_client.post(URL, {"template_id": str(template.pk)})

    body = assert_error(response, 400, "validation_error")
    assert "template_id" in body["details"]


# --- Isolation ---------------------------------------------------------------------------------


def test_it_answers_404_for_another_tenants_template(charlie_client, tenant_a):
    template = template_create(tenant=tenant_a, name="Ada", body="Hi")

    assert_error(charlie_client.post(URL, {"template_id": str(template.pk)}), 404, "not_found")


def test_it_answers_404_for_another_tenants_group(charlie_client, tenant_a):
    group = create_group(tenant_a)

    response = charlie_client.post(URL, {"message": "Hi", "group_id": str(group.pk)})

    assert_error(response, 404, "not_found")


def test_it_answers_404_for_another_tenants_contacts(charlie_client, tenant_a):
    contact = create_contact(tenant_a)

    response = charlie_client.post(URL, {"message": "Hi", "contact_ids": [str(contact.pk)]})

    body = assert_error(response, 404, "contacts_not_found")
    assert body["details"]["missing_ids"] == [str(contact.pk)]


def test_it_answers_404_for_an_unknown_template(alice_client):
    assert_error(alice_client.post(URL, {"template_id": str(uuid.uuid4())}), 404, "not_found")


def test_it_requires_authentication(anon):
    assert_error(anon.post(URL, {"message": "Hi"}), 401)
