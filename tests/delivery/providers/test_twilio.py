"""Twilio adapter against a local server checking the requests as Twilio documents them."""

from __future__ import annotations

import base64
import email.utils
from datetime import UTC, datetime, timedelta
from decimal import Decimal

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
from mifumo.delivery.providers.twilio import TwilioProvider

SID = "AC" + "a" * 32
CALLBACK = "https://mifumo.example/api/messaging/webhooks/twilio/?token=s3cret"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"


def twilio(url: str, timeout: float = 5.0) -> TwilioProvider:
    return TwilioProvider(
        AccountConfig(
            provider="twilio",
            base_url=url,
            username=SID,
            secret_key="auth-token-1",
            callback_url=CALLBACK,
            extra={"timeout_seconds": timeout},
        )
    )


def sms(n: int, to: str, sender: str = "+15017122661"):
    return OutgoingMessage(f"m{n}", to=to, body=f"Hello {n}", sender=sender)


BATCH = [sms(1, "+15558675301"), sms(2, "+15558675302"), sms(3, "+15558675303")]


def created(n: int, price: str | None = "-0.00750") -> dict:
    return {
        "sid": f"SM{n:032d}",
        "status": "queued",
        "error_code": None,
        "error_message": None,
        "num_segments": "1",
        "price": price,
    }


def refusal(code: int, message: str, status: int = 400) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def send_expecting_error(url: str, batch=BATCH) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        twilio(url).send(batch)
    return caught.value


def test_it_posts_one_documented_form_per_message_with_basic_auth(vendor):
    for n in (1, 2, 3):
        vendor.reply(201, json=created(n))
    twilio(vendor.url).send(BATCH)

    assert len(vendor.requests) == 3
    token = base64.b64encode(f"{SID}:auth-token-1".encode()).decode()
    for n, received in enumerate(vendor.requests, start=1):
        assert (received.method, received.path) == ("POST", MESSAGES)
        assert received.headers["Authorization"] == f"Basic {token}"
        assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert received.form() == {
            "To": f"+1555867530{n}",
            "From": "+15017122661",
            "Body": f"Hello {n}",
            "StatusCallback": CALLBACK,
        }


def test_it_sends_from_a_messaging_service_when_the_sender_is_one(vendor):
    vendor.reply(201, json=created(1))
    service = "MG" + "b" * 32
    twilio(vendor.url).send([sms(1, "+15558675301", sender=service)])
    form = vendor.last.form()
    assert form["MessagingServiceSid"] == service
    assert "From" not in form


def test_it_returns_each_sid_and_price(vendor):
    vendor.reply(201, json=created(1))
    vendor.reply(201, json=created(2, price=None))
    assert twilio(vendor.url).send(BATCH[:2]) == [
        SendResult("m1", True, provider_message_id=f"SM{1:032d}", cost=Decimal("0.00750")),
        SendResult("m2", True, provider_message_id=f"SM{2:032d}"),
    ]


def test_a_refused_recipient_does_not_stop_the_others(vendor):
    vendor.reply(400, json=refusal(21211, "Invalid 'To' Phone Number"))
    vendor.reply(400, json=refusal(21610, "Attempt to send to unsubscribed recipient"))
    vendor.reply(201, json=created(3))
    invalid, unsubscribed, sent = twilio(vendor.url).send(BATCH)

    assert (invalid.accepted, invalid.error_code, invalid.opted_out) == (False, "21211", False)
    assert invalid.error_message == "Twilio: Invalid 'To' Phone Number"
    assert (unsubscribed.error_code, unsubscribed.opted_out) == ("21610", True)
    assert sent.accepted
    assert len(vendor.requests) == 3


def test_refused_credentials_are_an_account_error(vendor):
    vendor.reply(401, json=refusal(20003, "Authenticate", status=401))
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (ErrorKind.ACCOUNT, "20003")
    assert len(vendor.requests) == 1


def test_429_with_retry_after_in_seconds_is_transient(vendor):
    vendor.reply(429, json=refusal(20429, "Too Many Requests", 429), headers={"Retry-After": "3"})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.retry_after) == (ErrorKind.TRANSIENT, 3.0)


def test_429_with_retry_after_as_an_http_date_is_transient(vendor):
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    vendor.reply(429, json=refusal(20429, "Too Many Requests", 429), headers={"Retry-After": later})
    error = send_expecting_error(vendor.url)
    assert error.kind == ErrorKind.TRANSIENT
    assert 10 < error.retry_after <= 30


def test_a_429_after_some_were_sent_keeps_them_and_retries_the_rest(vendor):
    vendor.reply(201, json=created(1))
    vendor.reply(429, json=refusal(20429, "Too Many Requests", 429))
    sent, limited, untried = twilio(vendor.url).send(BATCH)

    assert sent.accepted
    assert (limited.accepted, limited.retryable, limited.error_code) == (False, True, "429")
    assert (untried.retryable, untried.error_code) == (True, "not_attempted")
    assert len(vendor.requests) == 2  # it stopped at the 429


def test_503_is_transient(vendor):
    vendor.reply(503, text="Service Unavailable")
    assert send_expecting_error(vendor.url).kind == ErrorKind.TRANSIENT


def test_a_refused_connection_is_transient(closed_port_url):
    assert send_expecting_error(closed_port_url).kind == ErrorKind.TRANSIENT


def test_a_connection_closed_after_the_only_request_is_unknown(vendor):
    vendor.close_after_reading()
    assert send_expecting_error(vendor.url, BATCH[:1]).kind == ErrorKind.UNKNOWN
    assert vendor.last.form()["To"] == "+15558675301"


def test_a_connection_lost_mid_batch_leaves_only_that_message_unknown(vendor):
    vendor.reply(201, json=created(1))
    vendor.close_after_reading()
    sent, lost, untried = twilio(vendor.url).send(BATCH)

    assert sent.accepted
    assert (lost.accepted, lost.unknown, lost.retryable) == (False, True, False)
    assert (untried.unknown, untried.retryable) == (False, True)
    assert len(vendor.requests) == 2


def test_no_answer_before_the_read_timeout_is_unknown(vendor):
    vendor.never_answer()
    with pytest.raises(ProviderError) as caught:
        twilio(vendor.url, timeout=0.3).send(BATCH[:1])
    assert caught.value.kind == ErrorKind.UNKNOWN


def test_a_success_status_with_a_body_that_is_not_json_is_unknown(vendor):
    vendor.reply(201, text="<TwilioResponse/>")
    assert send_expecting_error(vendor.url, BATCH[:1]).kind == ErrorKind.UNKNOWN


def test_a_success_status_without_a_sid_is_unknown(vendor):
    vendor.reply(201, json={"status": "queued"})
    assert send_expecting_error(vendor.url, BATCH[:1]).kind == ErrorKind.UNKNOWN


# --- status callbacks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("delivered", DeliveryStatus.DELIVERED),
        ("undelivered", DeliveryStatus.FAILED),
        ("failed", DeliveryStatus.FAILED),
        ("queued", DeliveryStatus.PENDING),
        ("sent", DeliveryStatus.PENDING),
        ("sending", DeliveryStatus.PENDING),
        ("brand_new_status", DeliveryStatus.PENDING),
    ],
)
def test_it_reads_the_documented_status_callback(status, expected):
    request = RequestFactory().post(
        "/hook/?token=s3cret",
        {"MessageSid": "SM1", "MessageStatus": status, "AccountSid": SID, "To": "+15558675301"},
    )
    [report] = twilio("http://unused").parse_delivery_report(request)
    assert (report.provider_message_id, report.status, report.raw_status) == (
        "SM1",
        expected,
        status,
    )


def test_it_keeps_the_error_code_and_explains_it():
    request = RequestFactory().post(
        "/hook/?token=s3cret",
        {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30007"},
    )
    [report] = twilio("http://unused").parse_delivery_report(request)
    assert (report.status, report.error_code) == (DeliveryStatus.FAILED, "30007")
    assert report.error_message == "Message filtered by Twilio or the carrier"


def test_a_callback_without_a_message_sid_is_a_value_error():
    request = RequestFactory().post("/hook/?token=s3cret", {"MessageStatus": "delivered"})
    with pytest.raises(ValueError):
        twilio("http://unused").parse_delivery_report(request)


# --- probe ----------------------------------------------------------------------------------


def test_the_probe_fetches_the_account(vendor):
    vendor.reply(200, json={"sid": SID, "status": "active", "type": "Full"})
    twilio(vendor.url).probe()
    received = vendor.last
    assert (received.method, received.path) == ("GET", f"/2010-04-01/Accounts/{SID}.json")
    assert received.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_the_probe_fails_on_an_inactive_account(vendor, status):
    vendor.reply(200, json={"sid": SID, "status": status})
    with pytest.raises(ProviderError) as caught:
        twilio(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT
    assert status in caught.value.message


def test_the_probe_fails_on_refused_credentials(vendor):
    vendor.reply(401, json=refusal(20003, "Authenticate", status=401))
    with pytest.raises(ProviderError) as caught:
        twilio(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT
