"""Beem adapter against a local server checking the request as Beem's samples show it."""

from __future__ import annotations

import base64
import email.utils
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory

from mifumo.delivery.providers.base import (
    AccountConfig,
    DeliveryStatus,
    ErrorKind,
    OutgoingMessage,
    ProviderError,
    SendResult,
)
from mifumo.delivery.providers.beem import BeemProvider

SUBMITTED = {
    "successful": True,
    "request_id": 35918915,
    "code": 100,
    "message": "Message Submitted Successfully",
    "valid": 2,
    "invalid": 0,
    "duplicates": 0,
}


def beem(url: str, timeout: float = 5.0) -> BeemProvider:
    return BeemProvider(
        AccountConfig(
            provider="beem",
            base_url=url,
            api_key="api-key-1",
            secret_key="secret-key-1",
            extra={"timeout_seconds": timeout},
        )
    )


def sms(n: int, to: str, body: str = "Kikao cha wazazi kesho", encoding: str = "gsm7"):
    return OutgoingMessage(f"m{n}", to=to, body=body, sender="SHULE", encoding=encoding)


BATCH = [sms(1, "+255700000001"), sms(2, "+255700000011")]


def send_expecting_error(url: str, batch=BATCH) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        beem(url).send(batch)
    return caught.value


def test_it_posts_the_documented_json_with_basic_auth(vendor):
    vendor.reply(200, json=SUBMITTED)
    beem(vendor.url).send(BATCH)

    received = vendor.last
    assert (received.method, received.path) == ("POST", "/v1/send")
    token = base64.b64encode(b"api-key-1:secret-key-1").decode()
    assert received.headers["Authorization"] == f"Basic {token}"
    assert received.headers["Content-Type"] == "application/json"
    assert received.json() == {
        "source_addr": "SHULE",
        "encoding": 0,
        "schedule_time": "",
        "message": "Kikao cha wazazi kesho",
        "recipients": [
            {"recipient_id": "1", "dest_addr": "255700000001"},
            {"recipient_id": "2", "dest_addr": "255700000011"},
        ],
    }


def test_it_sends_ucs2_text_with_encoding_8(vendor):
    vendor.reply(200, json=SUBMITTED)
    beem(vendor.url).send([sms(1, "+255700000001", body="Karibu 😊", encoding="ucs2")])
    assert vendor.last.json()["encoding"] == 8


def test_it_names_each_recipient_by_request_id_and_recipient_id(vendor):
    vendor.reply(200, json=SUBMITTED)
    assert beem(vendor.url).send(BATCH) == [
        SendResult("m1", True, provider_message_id="35918915:1"),
        SendResult("m2", True, provider_message_id="35918915:2"),
    ]


def test_it_refuses_a_batch_with_different_texts(vendor):
    with pytest.raises(AssertionError):
        beem(vendor.url).send([sms(1, "+255700000001"), sms(2, "+255700000011", body="Other")])
    assert vendor.requests == []


def test_it_is_not_accepted_unless_successful_is_true_and_code_is_100(vendor):
    vendor.reply(200, json=SUBMITTED | {"successful": False})
    error = send_expecting_error(vendor.url)
    assert error.kind == ErrorKind.TRANSIENT  # a refusal the table cannot place


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (101, "Invalid phone number", ErrorKind.PERMANENT),
        (102, "Insufficient balance", ErrorKind.ACCOUNT),
        (103, "Network timeout", ErrorKind.TRANSIENT),
        (104, "Please provide all required parameters", ErrorKind.PERMANENT),
        (107, "No authorization headers", ErrorKind.ACCOUNT),
        (108, "Invalid token", ErrorKind.ACCOUNT),
    ],
)
def test_it_sorts_beem_codes_into_error_kinds(vendor, code, message, kind):
    vendor.reply(200, json={"successful": False, "code": code, "message": message})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (kind, str(code))
    assert message in error.message


def test_it_reads_a_code_nested_under_data(vendor):
    vendor.reply(400, json={"data": {"code": 102, "message": "Insufficient balance"}})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (ErrorKind.ACCOUNT, "102")


def test_an_unknown_code_on_a_4xx_is_permanent(vendor):
    vendor.reply(400, json={"successful": False, "code": 999, "message": "Message too long"})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (ErrorKind.PERMANENT, "999")
    assert "Message too long" in error.message


def test_refused_credentials_are_an_account_error(vendor):
    vendor.reply(401, json={"code": 120, "message": "Invalid Authentication Parameters"})
    assert send_expecting_error(vendor.url).kind == ErrorKind.ACCOUNT


def test_429_with_retry_after_in_seconds_is_transient(vendor):
    vendor.reply(429, text="slow down", headers={"Retry-After": "7"})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.retry_after) == (ErrorKind.TRANSIENT, 7.0)


def test_429_with_retry_after_as_an_http_date_is_transient(vendor):
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    vendor.reply(429, text="slow down", headers={"Retry-After": later})
    error = send_expecting_error(vendor.url)
    assert error.kind == ErrorKind.TRANSIENT
    assert 100 < error.retry_after <= 120


def test_503_is_transient(vendor):
    vendor.reply(503, text="maintenance")
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (ErrorKind.TRANSIENT, "503")


def test_a_refused_connection_is_transient(closed_port_url):
    assert send_expecting_error(closed_port_url).kind == ErrorKind.TRANSIENT


def test_a_connection_closed_after_the_request_is_unknown(vendor):
    vendor.close_after_reading()
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN
    assert vendor.last.json()["recipients"][0]["dest_addr"] == "255700000001"


def test_no_answer_before_the_read_timeout_is_unknown(vendor):
    vendor.never_answer()
    with pytest.raises(ProviderError) as caught:
        beem(vendor.url, timeout=0.3).send(BATCH)
    assert caught.value.kind == ErrorKind.UNKNOWN


def test_a_success_status_with_a_body_that_is_not_json_is_unknown(vendor):
    vendor.reply(200, text="<html>OK</html>")
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN


# --- delivery reports -----------------------------------------------------------------------


def callback(payload) -> object:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return RequestFactory().post("/hook/?token=t", data=body, content_type="application/json")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("DELIVERED", DeliveryStatus.DELIVERED),
        ("UNDELIVERED", DeliveryStatus.FAILED),
        ("REJECTED", DeliveryStatus.FAILED),
        ("EXPIRED", DeliveryStatus.FAILED),
        ("PENDING", DeliveryStatus.PENDING),
        ("SOMETHING_NEW", DeliveryStatus.PENDING),
    ],
)
def test_it_reads_the_documented_callback(status, expected):
    request = callback(
        {"request_id": 35918915, "recipient_id": "2", "dest_addr": "255700000011", "Status": status}
    )
    [report] = beem("http://unused").parse_delivery_report(request)
    assert report.provider_message_id == "35918915:2"
    assert (report.status, report.raw_status) == (expected, status)


def test_it_reads_a_list_of_reports():
    request = callback(
        [
            {"request_id": 7, "recipient_id": "1", "dest_addr": "2557", "Status": "DELIVERED"},
            {"request_id": 7, "recipient_id": "2", "dest_addr": "2558", "status": "FAILED"},
        ]
    )
    reports = beem("http://unused").parse_delivery_report(request)
    assert [(r.provider_message_id, r.status) for r in reports] == [
        ("7:1", DeliveryStatus.DELIVERED),
        ("7:2", DeliveryStatus.FAILED),
    ]


@pytest.mark.parametrize(
    "payload", ["not json", {"request_id": 7, "Status": "DELIVERED"}, [1, 2], "null"]
)
def test_an_unreadable_callback_is_a_value_error(payload):
    with pytest.raises(ValueError):
        beem("http://unused").parse_delivery_report(callback(payload))


# --- probe ----------------------------------------------------------------------------------


def test_the_probe_reads_the_balance_with_the_same_credentials(vendor):
    vendor.reply(200, json={"data": {"credit_balance": 1500}})
    beem(vendor.url).probe()
    received = vendor.last
    assert (received.method, received.path) == ("GET", "/public/v1/vendors/balance")
    assert received.headers["Authorization"].startswith("Basic ")


def test_the_probe_fails_on_an_empty_balance(vendor):
    vendor.reply(200, json={"data": {"credit_balance": 0}})
    with pytest.raises(ProviderError) as caught:
        beem(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT


def test_the_probe_fails_on_refused_credentials(vendor):
    vendor.reply(401, json={"code": 120, "message": "Invalid Authentication Parameters"})
    with pytest.raises(ProviderError) as caught:
        beem(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT


def test_a_success_status_with_an_unexpected_json_shape_is_unknown(vendor):
    vendor.reply(200, json={"result": "ok"})
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN
