"""Arkesel v2 adapter against a local server checking the request as Arkesel documents it."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory

from mifumo.delivery.providers.arkesel import ArkeselProvider
from mifumo.delivery.providers.base import (
    AccountConfig,
    DeliveryStatus,
    ErrorKind,
    OutgoingMessage,
    ProviderError,
    SendResult,
)

CALLBACK = "https://mifumo.example/api/messaging/webhooks/arkesel/?token=s3cret"


def arkesel(url: str, timeout: float = 5.0, **extra) -> ArkeselProvider:
    return ArkeselProvider(
        AccountConfig(
            provider="arkesel",
            base_url=url,
            api_key="ark-key-1",
            callback_url=CALLBACK,
            extra={"timeout_seconds": timeout, **extra},
        )
    )


def sms(n: int, to: str, body: str = "School opens on Monday"):
    return OutgoingMessage(f"m{n}", to=to, body=body, sender="SCHOOL")


BATCH = [sms(1, "+233544919953"), sms(2, "+233553995047"), sms(3, "+2235")]


def send_expecting_error(url: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        arkesel(url).send(BATCH)
    return caught.value


def test_it_posts_the_documented_json_with_the_api_key_header(vendor):
    vendor.reply(200, json={"status": "success", "data": []})
    arkesel(vendor.url).send(BATCH)

    received = vendor.last
    assert (received.method, received.path) == ("POST", "/api/v2/sms/send")
    assert received.headers["api-key"] == "ark-key-1"
    assert received.headers["Content-Type"] == "application/json"
    assert received.json() == {
        "sender": "SCHOOL",
        "message": "School opens on Monday",
        "recipients": ["233544919953", "233553995047", "2235"],
        "callback_url": CALLBACK,
    }


def test_it_asks_for_sandbox_delivery_when_the_account_says_so(vendor):
    vendor.reply(200, json={"status": "success", "data": []})
    arkesel(vendor.url, sandbox=True).send(BATCH[:1])
    assert vendor.last.json()["sandbox"] is True


def test_it_maps_ids_and_invalid_numbers_listed_in_data(vendor):
    vendor.reply(
        200,
        json={
            "status": "success",
            "data": [
                {"recipient": "233553995047", "id": "9b75-bbb"},
                {"recipient": "233544919953", "id": "9b75-aaa"},
                {"invalid numbers": ["2235"]},
            ],
        },
    )
    results = arkesel(vendor.url).send(BATCH)
    assert results[:2] == [
        SendResult("m1", True, provider_message_id="9b75-aaa"),
        SendResult("m2", True, provider_message_id="9b75-bbb"),
    ]
    refused = results[2]
    assert (refused.message_id, refused.accepted, refused.error_code) == (
        "m3",
        False,
        "invalid_number",
    )
    assert refused.error_message == "Arkesel refused the number as invalid"


def test_a_recipient_missing_from_the_answer_is_not_counted_as_sent(vendor):
    vendor.reply(
        200, json={"status": "success", "data": [{"recipient": "233544919953", "id": "x"}]}
    )
    results = arkesel(vendor.url).send(BATCH[:2])
    assert [r.accepted for r in results] == [True, False]
    assert results[1].error_code == "not_listed"


def test_a_success_without_ids_is_unknown(vendor):
    vendor.reply(200, json={"status": "success", "message": "SMS request sent successfully!"})
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (401, "Authentication failed", ErrorKind.ACCOUNT),
        (402, "Insufficient balance", ErrorKind.ACCOUNT),
        (403, "Inactive gateway", ErrorKind.ACCOUNT),
        (422, "The sender field is required.", ErrorKind.PERMANENT),
    ],
)
def test_it_sorts_arkesel_http_errors_into_kinds(vendor, status, message, kind):
    vendor.reply(status, json={"status": "error", "message": message})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (kind, str(status))
    assert message in error.message


def test_an_error_status_on_a_200_is_retried_rather_than_trusted(vendor):
    vendor.reply(200, json={"status": "error", "message": "Something happened"})
    error = send_expecting_error(vendor.url)
    assert error.kind == ErrorKind.TRANSIENT
    assert "Something happened" in error.message


def test_429_with_retry_after_in_seconds_is_transient(vendor):
    vendor.reply(429, text="Too Many Attempts.", headers={"Retry-After": "30"})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.retry_after) == (ErrorKind.TRANSIENT, 30.0)


def test_429_with_retry_after_as_an_http_date_is_transient(vendor):
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    vendor.reply(429, text="Too Many Attempts.", headers={"Retry-After": later})
    error = send_expecting_error(vendor.url)
    assert error.kind == ErrorKind.TRANSIENT
    assert 70 < error.retry_after <= 90


def test_500_and_503_are_transient(vendor):
    vendor.reply(500, json={"status": "error", "message": "Request failed"})
    vendor.reply(503, text="down")
    assert send_expecting_error(vendor.url).kind == ErrorKind.TRANSIENT
    assert send_expecting_error(vendor.url).code == "503"


def test_a_refused_connection_is_transient(closed_port_url):
    assert send_expecting_error(closed_port_url).kind == ErrorKind.TRANSIENT


def test_a_connection_closed_after_the_request_is_unknown(vendor):
    vendor.close_after_reading()
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN
    assert vendor.last.path == "/api/v2/sms/send"


def test_no_answer_before_the_read_timeout_is_unknown(vendor):
    vendor.never_answer()
    with pytest.raises(ProviderError) as caught:
        arkesel(vendor.url, timeout=0.3).send(BATCH)
    assert caught.value.kind == ErrorKind.UNKNOWN


def test_a_success_status_with_a_body_that_is_not_json_is_unknown(vendor):
    vendor.reply(200, text="<html>Welcome</html>")
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN


def test_a_success_status_with_an_unexpected_json_shape_is_unknown(vendor):
    vendor.reply(200, json=[{"recipient": "233544919953", "id": "x"}])
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN


# --- delivery reports -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("DELIVERED", DeliveryStatus.DELIVERED),
        ("NOT_DELIVERED", DeliveryStatus.FAILED),
        ("EXPIRED", DeliveryStatus.FAILED),
        ("PROHIBITED", DeliveryStatus.FAILED),
        ("SUBMITTED", DeliveryStatus.PENDING),
        ("QUEUED", DeliveryStatus.PENDING),
        ("WHATEVER_NEXT", DeliveryStatus.PENDING),
    ],
)
def test_it_reads_the_callback_query_parameters(status, expected):
    request = RequestFactory().get(
        "/hook/", {"token": "s3cret", "sms_id": "9b75", "status": status}
    )
    [report] = arkesel("http://unused").parse_delivery_report(request)
    assert (report.provider_message_id, report.status, report.raw_status) == (
        "9b75",
        expected,
        status,
    )


def test_it_reads_a_callback_posted_as_a_form():
    request = RequestFactory().post(
        "/hook/?token=s3cret", {"sms_id": "9b75", "status": "DELIVERED"}
    )
    [report] = arkesel("http://unused").parse_delivery_report(request)
    assert (report.provider_message_id, report.status) == ("9b75", DeliveryStatus.DELIVERED)


def test_a_callback_without_sms_id_is_a_value_error():
    request = RequestFactory().get("/hook/", {"token": "s3cret", "status": "DELIVERED"})
    with pytest.raises(ValueError):
        arkesel("http://unused").parse_delivery_report(request)


# --- probe ----------------------------------------------------------------------------------


def test_the_probe_reads_the_balance_details(vendor):
    vendor.reply(
        200,
        json={"status": "success", "data": {"sms_balance": "2003", "main_balance": "GHS 20.99"}},
    )
    arkesel(vendor.url).probe()
    received = vendor.last
    assert (received.method, received.path) == ("GET", "/api/v2/clients/balance-details")
    assert received.headers["api-key"] == "ark-key-1"


def test_the_probe_fails_when_both_balances_are_empty(vendor):
    vendor.reply(
        200, json={"status": "success", "data": {"sms_balance": "0", "main_balance": "GHS 0.00"}}
    )
    with pytest.raises(ProviderError) as caught:
        arkesel(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT


def test_the_probe_fails_on_a_refused_key(vendor):
    vendor.reply(401, json={"status": "error", "message": "Authentication failed"})
    with pytest.raises(ProviderError) as caught:
        arkesel(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT
