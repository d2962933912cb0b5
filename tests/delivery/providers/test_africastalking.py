"""Africa's Talking adapter against a local server checking the request as AT documents it."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import RequestFactory

from mifumo.delivery.providers.africastalking import AfricasTalkingProvider
from mifumo.delivery.providers.base import (
    AccountConfig,
    DeliveryStatus,
    ErrorKind,
    OutgoingMessage,
    ProviderError,
    SendResult,
)


def at(url: str, timeout: float = 5.0, **extra) -> AfricasTalkingProvider:
    return AfricasTalkingProvider(
        AccountConfig(
            provider="africastalking",
            base_url=url,
            api_key="at-key-1",
            username="shule",
            extra={"timeout_seconds": timeout, **extra},
        )
    )


def sms(n: int, to: str, sender: str = "SHULE"):
    return OutgoingMessage(f"m{n}", to=to, body="Ada ya shule: 20,000", sender=sender)


BATCH = [sms(1, "+254711000001"), sms(2, "+254711000002"), sms(3, "+254711000003")]


def recipient(number: str, code: int, status: str, message_id: str = "None", cost: str = "0"):
    return {
        "statusCode": code,
        "number": number,
        "status": status,
        "cost": cost,
        "messageId": message_id,
    }


def answer(*recipients, message: str = "Sent to 1/1 Total Cost: KES 0.8000") -> dict:
    return {"SMSMessageData": {"Message": message, "Recipients": list(recipients)}}


SENT = answer(
    recipient("+254711000001", 101, "Success", "ATXid_1", "KES 0.8000"),
    recipient("+254711000002", 101, "Success", "ATXid_2", "KES 0.8000"),
    recipient("+254711000003", 102, "Queued", "ATXid_3", "KES 0.8000"),
)


def send_expecting_error(url: str, batch=BATCH) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        at(url).send(batch)
    return caught.value


def test_it_posts_the_documented_form_with_the_api_key_header(vendor):
    vendor.reply(201, json=SENT)
    at(vendor.url).send(BATCH)

    received = vendor.last
    assert (received.method, received.path) == ("POST", "/version1/messaging")
    assert received.headers["apiKey"] == "at-key-1"
    assert received.headers["Accept"] == "application/json"
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert received.form() == {
        "username": "shule",
        "to": "+254711000001,+254711000002,+254711000003",
        "message": "Ada ya shule: 20,000",
        "from": "SHULE",
        "bulkSMSMode": "1",
    }


def test_it_leaves_from_out_without_a_sender_id(vendor):
    vendor.reply(201, json=SENT)
    at(vendor.url).send([sms(1, "+254711000001", sender="")])
    assert "from" not in vendor.last.form()


def test_it_returns_each_recipients_message_id_and_cost(vendor):
    vendor.reply(201, json=SENT)
    results = at(vendor.url).send(BATCH)
    assert results == [
        SendResult("m1", True, provider_message_id="ATXid_1", cost=Decimal("0.8000")),
        SendResult("m2", True, provider_message_id="ATXid_2", cost=Decimal("0.8000")),
        SendResult("m3", True, provider_message_id="ATXid_3", cost=Decimal("0.8000")),
    ]


def test_it_sorts_partial_refusals_per_recipient(vendor):
    vendor.reply(
        201,
        json=answer(
            recipient("+254711000001", 101, "Success", "ATXid_1", "KES 0.8000"),
            recipient("+254711000002", 403, "InvalidPhoneNumber"),
            recipient("+254711000003", 406, "UserInBlacklist"),
        ),
    )
    ok, invalid, blacklisted = at(vendor.url).send(BATCH)
    assert ok.accepted
    assert (invalid.accepted, invalid.error_code, invalid.retryable) == (False, "403", False)
    assert invalid.error_message == "Africa's Talking: InvalidPhoneNumber"
    assert (blacklisted.error_code, blacklisted.opted_out) == ("406", True)


def test_a_dnd_rejection_answered_with_409_is_retryable_for_that_recipient(vendor):
    vendor.reply(
        409,
        json=answer(
            recipient("+254711000001", 409, "DoNotDisturbRejection"), message="Sent to 0/1"
        ),
    )
    [result] = at(vendor.url).send(BATCH[:1])
    assert (result.accepted, result.error_code, result.retryable) == (False, "409", True)


def test_insufficient_balance_for_every_recipient_is_an_account_error(vendor):
    vendor.reply(
        201,
        json=answer(
            recipient("+254711000001", 405, "InsufficientBalance"),
            recipient("+254711000002", 405, "InsufficientBalance"),
        ),
    )
    error = send_expecting_error(vendor.url, BATCH[:2])
    assert (error.kind, error.code) == (ErrorKind.ACCOUNT, "405")


def test_insufficient_balance_after_some_were_sent_keeps_those_and_retries_the_rest(vendor):
    vendor.reply(
        201,
        json=answer(
            recipient("+254711000001", 101, "Success", "ATXid_1", "KES 0.8000"),
            recipient("+254711000002", 405, "InsufficientBalance"),
        ),
    )
    sent, short = at(vendor.url).send(BATCH[:2])
    assert sent.accepted
    assert (short.accepted, short.error_code, short.retryable) == (False, "405", True)


def test_an_invalid_sender_id_with_no_recipients_is_permanent(vendor):
    vendor.reply(201, json=answer(message="InvalidSenderId"))
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (ErrorKind.PERMANENT, "402")


def test_a_recipient_missing_from_the_answer_is_not_counted_as_sent(vendor):
    vendor.reply(201, json=answer(recipient("+254711000001", 101, "Success", "ATXid_1")))
    results = at(vendor.url).send(BATCH[:2])
    assert [r.accepted for r in results] == [True, False]
    assert results[1].error_code == "not_listed"


def test_refused_credentials_are_an_account_error(vendor):
    vendor.reply(401, text="The supplied authentication is invalid")
    error = send_expecting_error(vendor.url)
    assert error.kind == ErrorKind.ACCOUNT
    assert "The supplied authentication is invalid" in error.message


def test_a_plain_text_4xx_is_permanent(vendor):
    vendor.reply(400, text="Invalid senderId")
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.code) == (ErrorKind.PERMANENT, "400")


def test_429_with_retry_after_in_seconds_is_transient(vendor):
    vendor.reply(429, text="Too many requests", headers={"Retry-After": "12"})
    error = send_expecting_error(vendor.url)
    assert (error.kind, error.retry_after) == (ErrorKind.TRANSIENT, 12.0)


def test_429_with_retry_after_as_an_http_date_is_transient(vendor):
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    vendor.reply(429, text="Too many requests", headers={"Retry-After": later})
    error = send_expecting_error(vendor.url)
    assert error.kind == ErrorKind.TRANSIENT
    assert 40 < error.retry_after <= 60


def test_503_is_transient(vendor):
    vendor.reply(503, text="Service Unavailable")
    assert send_expecting_error(vendor.url).kind == ErrorKind.TRANSIENT


def test_a_refused_connection_is_transient(closed_port_url):
    assert send_expecting_error(closed_port_url).kind == ErrorKind.TRANSIENT


def test_a_connection_closed_after_the_request_is_unknown(vendor):
    vendor.close_after_reading()
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN
    assert vendor.last.form()["to"].startswith("+254711000001")


def test_no_answer_before_the_read_timeout_is_unknown(vendor):
    vendor.never_answer()
    with pytest.raises(ProviderError) as caught:
        at(vendor.url, timeout=0.3).send(BATCH)
    assert caught.value.kind == ErrorKind.UNKNOWN


def test_a_success_status_with_xml_instead_of_json_is_unknown(vendor):
    vendor.reply(201, text="<AfricasTalkingResponse><SMSMessageData/></AfricasTalkingResponse>")
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN


def test_a_success_status_with_an_unexpected_json_shape_is_unknown(vendor):
    vendor.reply(201, json={"status": "ok"})
    assert send_expecting_error(vendor.url).kind == ErrorKind.UNKNOWN


# --- delivery reports -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Success", DeliveryStatus.DELIVERED),
        ("Failed", DeliveryStatus.FAILED),
        ("Rejected", DeliveryStatus.FAILED),
        ("AbsentSubscriber", DeliveryStatus.FAILED),
        ("Expired", DeliveryStatus.FAILED),
        ("Sent", DeliveryStatus.PENDING),
        ("Submitted", DeliveryStatus.PENDING),
        ("Buffered", DeliveryStatus.PENDING),
        ("SomethingNew", DeliveryStatus.PENDING),
    ],
)
def test_it_reads_the_documented_form_callback(status, expected):
    request = RequestFactory().post(
        "/hook/?token=t",
        {"id": "ATXid_2", "status": status, "phoneNumber": "+254711000002", "networkCode": "63902"},
    )
    [report] = at("http://unused").parse_delivery_report(request)
    assert (report.provider_message_id, report.status, report.raw_status) == (
        "ATXid_2",
        expected,
        status,
    )


def test_it_keeps_the_failure_reason():
    request = RequestFactory().post(
        "/hook/?token=t",
        {"id": "ATXid_2", "status": "Failed", "failureReason": "UserDoesNotExist"},
    )
    [report] = at("http://unused").parse_delivery_report(request)
    assert (report.status, report.error_code) == (DeliveryStatus.FAILED, "UserDoesNotExist")
    assert "UserDoesNotExist" in report.error_message


def test_a_callback_without_an_id_is_a_value_error():
    request = RequestFactory().post("/hook/?token=t", {"status": "Success"})
    with pytest.raises(ValueError):
        at("http://unused").parse_delivery_report(request)


# --- probe ----------------------------------------------------------------------------------


def test_the_probe_reads_the_user_data(vendor):
    vendor.reply(200, json={"UserData": {"balance": "KES 1785.50"}})
    at(vendor.url).probe()
    received = vendor.last
    assert (received.method, received.path, received.query) == (
        "GET",
        "/version1/user",
        {"username": "shule"},
    )
    assert received.headers["apiKey"] == "at-key-1"
    assert received.headers["Accept"] == "application/json"


def test_the_probe_fails_on_an_empty_balance(vendor):
    vendor.reply(200, json={"UserData": {"balance": "KES 0.0000"}})
    with pytest.raises(ProviderError) as caught:
        at(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT


def test_the_probe_fails_on_refused_credentials(vendor):
    vendor.reply(401, text="The supplied authentication is invalid")
    with pytest.raises(ProviderError) as caught:
        at(vendor.url).probe()
    assert caught.value.kind == ErrorKind.ACCOUNT
