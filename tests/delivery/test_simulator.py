"""The vendor simulator, driven over HTTP with requests shaped as VENDORS.md documents them."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil
import pytest

from mifumo.delivery.simulator import SimulatorConfig, SimulatorThread
from mifumo.delivery.simulator.vendors import signature

ROOT = Path(__file__).resolve().parents[2]
BEEM_AUTH = "Basic " + base64.b64encode(b"beem-key:beem-secret").decode()
TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_AUTH = "Basic " + base64.b64encode(f"{TWILIO_SID}:twilio-token".encode()).decode()
TWILIO_PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def wait_until(predicate, timeout: float = 5.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"{message} not met within {timeout}s")


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running():
    with SimulatorThread(seed=7) as thread:
        yield thread


@pytest.fixture
def sim(running):
    """A running simulator with default settings and nothing recorded."""
    running.simulator.config = SimulatorConfig(dlr_delay_ms=20)
    with httpx.Client(base_url=running.url, timeout=10) as client:
        assert client.post("/_simulator/reset").status_code == 200
        client.simulator, client.origin = running.simulator, running.url
        yield client


class Receiver:
    """A local web server that records the delivery reports posted to it."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.received: list[dict] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if delay:
                    time.sleep(delay)
                parts = urlsplit(self.path)
                receiver.received.append(
                    {
                        "method": self.command,
                        "path": parts.path,
                        "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                        "headers": dict(self.headers.items()),
                        "body": body,
                        "url": f"http://127.0.0.1:{receiver.port}{self.path}",
                    }
                )
                status = 500 if receiver.fail_first > 0 else 200
                receiver.fail_first -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _handle

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def by_path(self, path: str) -> dict:
        return next(r for r in self.received if r["path"] == path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def configure(sim, **changes) -> dict:
    response = sim.post("/_simulator/config", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


def beem_send(sim, numbers, **extra):
    body = {
        "source_addr": "SHULE",
        "encoding": 0,
        "schedule_time": "",
        "message": "Hello",
        "recipients": [
            {"recipient_id": str(i), "dest_addr": number} for i, number in enumerate(numbers, 1)
        ],
        **extra,
    }
    return sim.post("/v1/send", json=body, headers={"Authorization": BEEM_AUTH})


def arkesel_send(sim, numbers, **extra):
    body = {"sender": "SHULE", "message": "Hello", "recipients": numbers, **extra}
    return sim.post("/api/v2/sms/send", json=body, headers={"api-key": "ark-key"})


def at_send(sim, to: str, accept_json: bool = True, **extra):
    form = {"username": "shule", "to": to, "message": "Hello", "bulkSMSMode": "1", **extra}
    headers = {"apiKey": "at-key"}
    if accept_json:
        headers["Accept"] = "application/json"
    return sim.post("/version1/messaging", data=form, headers=headers)


def twilio_send(sim, to: str, **extra):
    form = {"To": to, "From": "+15005550006", "Body": "Hello", **extra}
    return sim.post(TWILIO_PATH, data=form, headers={"Authorization": TWILIO_AUTH})


def messages(sim, **params) -> list[dict]:
    return sim.get("/_simulator/messages", params=params).json()["results"]


# --- Beem ---------------------------------------------------------------------------------------


def test_beem_accepts_a_send_and_records_each_recipient(sim):
    response = beem_send(sim, ["255700000001", "255700000002"])

    assert response.status_code == 200
    body = response.json()
    assert body["successful"] is True and body["code"] == 100
    assert (body["valid"], body["invalid"], body["duplicates"]) == (2, 0, 0)
    assert body["message"] == "Message Submitted Successfully"
    records = messages(sim)
    assert [r["recipient"] for r in records] == ["255700000001", "255700000002"]
    assert {r["id"] for r in records} == {str(body["request_id"])}
    assert records[0]["vendor"] == "beem" and records[0]["text"] == "Hello"
    assert records[0]["sender"] == "SHULE" and records[0]["reference"] == "1"
    assert abs(records[0]["received_at"] - time.time()) < 5


def test_beem_counts_invalid_and_duplicate_numbers_without_sending_them(sim):
    response = beem_send(sim, ["255700000001", "+255700000002", "12", "255700000001"])

    body = response.json()
    assert (body["valid"], body["invalid"], body["duplicates"]) == (1, 2, 1)
    assert [r["recipient"] for r in messages(sim)] == ["255700000001"]


def test_beem_refuses_a_request_with_only_invalid_numbers(sim):
    response = beem_send(sim, ["0700"])

    assert response.status_code == 400
    assert response.json()["successful"] is False and response.json()["code"] == 101


def test_beem_without_credentials_is_401_with_code_120(sim):
    response = sim.post("/v1/send", json={"source_addr": "X", "message": "m", "recipients": []})

    assert response.status_code == 401
    assert response.json()["code"] == 120


def test_beem_missing_fields_are_refused_its_way(sim):
    no_sender = beem_send(sim, ["255700000001"], source_addr="")
    no_message = beem_send(sim, ["255700000001"], message="")

    assert (no_sender.status_code, no_sender.json()["code"]) == (400, 111)
    assert (no_message.status_code, no_message.json()["code"]) == (400, 104)
    assert messages(sim) == []


def test_beem_balance(sim):
    response = sim.get("/public/v1/vendors/balance", headers={"Authorization": BEEM_AUTH})

    assert response.status_code == 200
    assert response.json()["data"]["credit_balance"] > 0


# --- Arkesel ------------------------------------------------------------------------------------


def test_arkesel_answers_an_id_per_recipient_and_invalid_numbers_inside_data(sim):
    response = arkesel_send(sim, ["233544919953", "233544919954", "+233544919955"])

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    sent, invalid = body["data"][:2], body["data"][2]
    assert [item["recipient"] for item in sent] == ["233544919953", "233544919954"]
    assert invalid == {"invalid numbers": ["+233544919955"]}
    assert [r["id"] for r in messages(sim)] == [item["id"] for item in sent]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", sent[0]["id"]
    )


def test_arkesel_without_api_key_is_401(sim):
    response = sim.post("/api/v2/sms/send", json={"sender": "S", "message": "m"})

    assert response.status_code == 401
    assert response.json()["status"] == "error"


def test_arkesel_validates_like_arkesel(sim):
    long_sender = arkesel_send(sim, ["233544919953"], sender="TWELVECHARSX")
    no_message = arkesel_send(sim, ["233544919953"], message="")
    bad_date = arkesel_send(sim, ["233544919953"], scheduled_date="tomorrow")

    for response in (long_sender, no_message, bad_date):
        assert response.status_code == 422
        assert response.json()["status"] == "error"
    assert "11 characters" in long_sender.json()["message"]


def test_arkesel_answers_a_scheduled_send_without_ids(sim):
    response = arkesel_send(sim, ["233544919953"], scheduled_date="2031-04-09 07:30 AM")

    assert response.json() == {"status": "success", "message": "SMS request sent successfully!"}


def test_arkesel_balance(sim):
    response = sim.get("/api/v2/clients/balance-details", headers={"api-key": "k"})

    assert response.json()["data"] == {"sms_balance": "2003", "main_balance": "GHS 20.99"}


def test_arkesel_without_balance_is_402(sim):
    configure(sim, no_balance=True)

    response = arkesel_send(sim, ["233544919953"])

    assert response.status_code == 402
    assert messages(sim) == []


# --- Africa's Talking -------------------------------------------------------------------------


def test_africastalking_answers_json_per_recipient(sim):
    response = at_send(sim, "+254711000001, +254711000002,0711")

    assert response.status_code == 201
    data = response.json()["SMSMessageData"]
    assert data["Message"] == "Sent to 2/3 Total Cost: KES 1.6000"
    first, second, bad = data["Recipients"]
    assert first["statusCode"] == 101 and first["status"] == "Success"
    assert first["number"] == "+254711000001" and first["cost"] == "KES 0.8000"
    assert first["messageId"].startswith("ATXid_")
    assert bad == {
        "statusCode": 403,
        "number": "0711",
        "status": "InvalidPhoneNumber",
        "cost": "0",
        "messageId": "None",
    }
    assert [r["id"] for r in messages(sim)] == [first["messageId"], second["messageId"]]


def test_africastalking_answers_xml_without_the_accept_header(sim):
    response = at_send(sim, "+254711000001", accept_json=False)

    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/xml")
    assert "<AfricasTalkingResponse>" in response.text
    assert "<statusCode>101</statusCode>" in response.text


def test_africastalking_refusals(sim):
    no_key = sim.post("/version1/messaging", data={"username": "u", "to": "+254711000001"})
    no_username = at_send(sim, "+254711000001", username="")

    assert no_key.status_code == 401
    assert no_username.status_code == 400 and "username" in no_username.text


def test_africastalking_refuses_a_blacklisted_recipient_with_406(sim):
    configure(sim, opted_out=["254711000009"])

    recipient = at_send(sim, "+254711000009").json()["SMSMessageData"]["Recipients"][0]

    assert (recipient["statusCode"], recipient["status"]) == (406, "UserInBlacklist")


def test_africastalking_user_balance(sim):
    response = sim.get("/version1/user", params={"username": "shule"}, headers={"apiKey": "at-key"})

    assert response.json() == {"UserData": {"balance": "KES 1785.5000"}}


# --- Twilio -------------------------------------------------------------------------------------


def test_twilio_answers_201_with_a_message_sid(sim):
    response = twilio_send(sim, "+255700000001")

    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert (body["status"], body["to"], body["num_segments"]) == ("queued", "+255700000001", "1")
    assert body["account_sid"] == TWILIO_SID and body["error_code"] is None
    assert messages(sim)[0]["id"] == body["sid"]


def test_twilio_credentials_must_name_the_account_in_the_path(sim):
    other = "Basic " + base64.b64encode(b"ACsomeoneelse:token").decode()

    missing = sim.post(TWILIO_PATH, data={"To": "+255700000001"})
    wrong = sim.post(TWILIO_PATH, data={"To": "+255700000001"}, headers={"Authorization": other})

    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["code"] == 20003


def test_twilio_refusals_carry_twilio_codes(sim):
    configure(sim, opted_out=["+255700000009"])

    invalid = twilio_send(sim, "0700000001")
    no_body = twilio_send(sim, "+255700000001", Body="")
    opted_out = twilio_send(sim, "+255700000009")

    assert (invalid.status_code, invalid.json()["code"]) == (400, 21211)
    assert (no_body.status_code, no_body.json()["code"]) == (400, 21602)
    assert (opted_out.status_code, opted_out.json()["code"]) == (400, 21610)
    assert messages(sim) == []


def test_twilio_account_fetch(sim):
    response = sim.get(
        f"/2010-04-01/Accounts/{TWILIO_SID}.json", headers={"Authorization": TWILIO_AUTH}
    )

    assert response.json()["status"] == "active"


def test_configured_api_keys_refuse_others(sim):
    configure(sim, api_keys=["right-key"])

    wrong = arkesel_send(sim, ["233544919953"])
    right = sim.post(
        "/api/v2/sms/send",
        json={"sender": "S", "message": "m", "recipients": ["233544919953"]},
        headers={"api-key": "right-key"},
    )

    assert (wrong.status_code, right.status_code) == (401, 200)


# --- faults ---------------------------------------------------------------------------------


def test_it_answers_429_with_retry_after_and_records_nothing(sim):
    configure(sim, rate_429=1.0, retry_after=7)

    beem = beem_send(sim, ["255700000001"])
    twilio = twilio_send(sim, "+255700000001")

    assert beem.status_code == twilio.status_code == 429
    assert beem.headers["Retry-After"] == twilio.headers["Retry-After"] == "7"
    assert twilio.json()["code"] == 20429
    assert messages(sim) == []
    assert sim.get("/_simulator/stats").json()["requests"]["twilio"]["send"] == {"429": 1}


def test_the_429_rate_is_a_share_of_requests(sim):
    configure(sim, rate_429=0.3)

    statuses = [arkesel_send(sim, [f"2335449{i:05d}"]).status_code for i in range(300)]

    assert 50 < statuses.count(429) < 130
    assert statuses.count(200) == len(messages(sim))


def test_failures_answer_500_in_the_vendors_words(sim):
    configure(sim, failure_rate=1.0)

    arkesel = arkesel_send(sim, ["233544919953"])
    twilio = twilio_send(sim, "+255700000001")

    assert arkesel.status_code == twilio.status_code == 500
    assert arkesel.json() == {"status": "error", "message": "Request failed"}
    assert twilio.json()["code"] == 20500
    assert messages(sim) == []


def test_an_outage_answers_503_until_it_ends(sim):
    configure(sim, down=True)
    assert beem_send(sim, ["255700000001"]).status_code == 503
    assert sim.get("/api/v2/clients/balance-details", headers={"api-key": "k"}).status_code == 503

    configure(sim, down=False)

    assert beem_send(sim, ["255700000001"]).status_code == 200


def test_an_outage_with_a_duration_ends_by_itself(sim):
    config = configure(sim, down_for=0.3)
    assert config["down"] is True
    assert twilio_send(sim, "+255700000001").status_code == 503

    wait_until(lambda: twilio_send(sim, "+255700000001").status_code == 201, 3, "recovery")

    assert len(messages(sim)) == 1


def test_latency_delays_every_answer(sim):
    configure(sim, latency_ms=150)

    started = time.monotonic()
    twilio_send(sim, "+255700000001")

    assert time.monotonic() - started >= 0.15


def test_a_dropped_connection_was_recorded_but_never_answered(sim):
    configure(sim, drop_rate=1.0)

    with pytest.raises(httpx.RemoteProtocolError):
        twilio_send(sim, "+255700000001")

    assert len(messages(sim)) == 1
    assert sim.get("/_simulator/stats").json()["dropped_connections"] == 1


def test_config_refuses_unknown_settings_and_bad_values(sim):
    assert sim.post("/_simulator/config", json={"latncy_ms": 5}).status_code == 400
    assert sim.post("/_simulator/config", json={"failure_rate": 2}).status_code == 400
    assert sim.get("/_simulator/config").json()["failure_rate"] == 0.0


# --- delivery reports -----------------------------------------------------------------------


def test_delivery_reports_reach_the_callback_in_each_vendors_format(sim, receiver):
    configure(sim, callback_url=receiver.url + "/hooks/{vendor}/?secret=s3")

    beem = beem_send(sim, ["255700000001"]).json()
    arkesel_id = arkesel_send(
        sim, ["233544919953"], callback_url=receiver.url + "/arkesel-own?token=t"
    ).json()["data"][0]["id"]
    at_id = at_send(sim, "+254711000001").json()["SMSMessageData"]["Recipients"][0]["messageId"]
    twilio_sid = twilio_send(
        sim, "+255700000001", StatusCallback=receiver.url + "/twilio-own"
    ).json()["sid"]
    wait_until(lambda: len(receiver.received) == 4, message="four delivery reports")

    report = receiver.by_path("/hooks/beem/")
    assert report["method"] == "POST" and report["query"] == {"secret": "s3"}
    assert json.loads(report["body"]) == {
        "request_id": beem["request_id"],
        "recipient_id": "1",
        "dest_addr": "255700000001",
        "Status": "DELIVERED",
    }
    report = receiver.by_path("/arkesel-own")
    assert report["method"] == "GET"
    assert report["query"] == {"token": "t", "sms_id": arkesel_id, "status": "DELIVERED"}
    report = receiver.by_path("/hooks/africastalking/")
    assert report["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(report["body"].decode()).items()}
    assert form == {
        "id": at_id,
        "status": "Success",
        "phoneNumber": "+254711000001",
        "networkCode": "63902",
    }
    report = receiver.by_path("/twilio-own")
    form = {k: v[0] for k, v in parse_qs(report["body"].decode()).items()}
    assert (form["MessageSid"], form["MessageStatus"]) == (twilio_sid, "delivered")
    assert (form["To"], form["AccountSid"]) == ("+255700000001", TWILIO_SID)
    assert report["headers"]["X-Twilio-Signature"] == signature(
        "twilio-token", receiver.url + "/twilio-own", form
    )


def test_failed_delivery_reports_use_each_vendors_failure_words(sim, receiver):
    configure(sim, callback_url=receiver.url + "/{vendor}", dlr_failure_rate=1.0)

    beem_send(sim, ["255700000001"])
    arkesel_send(sim, ["233544919953"])
    at_send(sim, "+254711000001")
    twilio_send(sim, "+255700000001")
    wait_until(lambda: len(receiver.received) == 4, message="four delivery reports")

    assert json.loads(receiver.by_path("/beem")["body"])["Status"] == "UNDELIVERED"
    assert receiver.by_path("/arkesel")["query"]["status"] == "NOT_DELIVERED"
    at_form = parse_qs(receiver.by_path("/africastalking")["body"].decode())
    assert (at_form["status"], at_form["failureReason"]) == (["Failed"], ["DeliveryFailure"])
    twilio_form = parse_qs(receiver.by_path("/twilio")["body"].decode())
    assert (twilio_form["MessageStatus"], twilio_form["ErrorCode"]) == (["undelivered"], ["30003"])


def test_a_refused_delivery_report_is_tried_again(sim):
    receiver = Receiver(fail_first=1)
    try:
        configure(sim, callback_url=receiver.url + "/{vendor}")

        twilio_send(sim, "+255700000001")

        wait_until(lambda: len(receiver.received) == 2, 5, "a second attempt")
        dlr = wait_until(
            lambda: (d := sim.get("/_simulator/stats").json()["delivery_reports"])["sent"] and d
        )
        assert (dlr["sent"], dlr["retried"], dlr["failed"]) == (1, 1, 0)
    finally:
        receiver.stop()


def test_a_slow_callback_receiver_does_not_slow_the_vendor_endpoints(sim):
    def hundred_sends(first: int) -> float:
        started = time.monotonic()
        for index in range(first, first + 100):
            assert twilio_send(sim, f"+2557000{index:05d}").status_code == 201
        return time.monotonic() - started

    # The same sends with no receiver first: the machine's own pace (CI runs other tests
    # beside this one), against which the slow receiver's effect is measured.
    configure(sim, callback_url="", dlr_delay_ms=0)
    unhindered = hundred_sends(0)
    receiver = Receiver(delay=2.0)
    try:
        configure(sim, callback_url=receiver.url + "/{vendor}", dlr_delay_ms=0)
        elapsed = hundred_sends(100)

        # Each report takes the receiver two seconds: were the 32 senders in the way of the
        # handlers, the 100 sends would take at least six seconds longer.
        assert elapsed < unhindered + 3.0, (elapsed, unhindered)
        wait_until(lambda: receiver.received, 6, "the first delivery report")
    finally:
        configure(sim, callback_url="")
        receiver.stop()


# --- what it received -------------------------------------------------------------------------


def test_stats_count_each_recipient_and_the_duplicates(sim):
    beem_send(sim, ["255700000001", "255700000002"])
    twilio_send(sim, "+255700000001")  # the same person as 255700000001
    arkesel_send(sim, ["233544919953"])

    stats = sim.get("/_simulator/stats").json()

    assert stats["messages"] == 4 and stats["unique_recipients"] == 3
    assert stats["duplicates"] == {"255700000001": 2}
    assert stats["duplicate_messages"] == 1
    assert stats["counts"]["255700000002"] == 1
    assert stats["by_vendor"] == {"beem": 2, "arkesel": 1, "africastalking": 0, "twilio": 1}
    assert "counts" not in sim.get("/_simulator/stats", params={"per_recipient": 0}).json()


def test_stats_find_the_busiest_60_second_window(sim):
    store = sim.simulator.store
    start = 1_700_000_000.0
    # 100 messages 0.6 s apart (seconds 0 to 59.4, one window), then 30 a second apart from
    # second 61: no window that reaches into the second group holds more than 78.
    for index in range(100):
        store.add("twilio", [f"+2557{index:08d}"], "Hi", "S", start + index * 0.6, 1)
    for index in range(30):
        store.add("twilio", [f"+2558{index:08d}"], "Hi", "S", start + 61 + index, 2)

    stats = sim.get("/_simulator/stats").json()

    assert stats["max_messages_in_window"] == 100
    assert stats["window_seconds"] == 60
    ten_seconds = sim.get("/_simulator/stats", params={"window": 10}).json()
    assert ten_seconds["max_messages_in_window"] == 17  # 0.6 s apart: 17 within 10 s


def test_the_window_counts_segments_too(sim):
    long_text = "x" * 161  # two GSM-7 segments
    arkesel_send(sim, ["233544919953", "233544919954"], message=long_text)

    stats = sim.get("/_simulator/stats").json()

    assert (stats["max_messages_in_window"], stats["max_segments_in_window"]) == (2, 4)


def test_messages_can_be_filtered_and_paged(sim):
    arkesel_send(sim, [f"2335449199{i:02d}" for i in range(10)])
    twilio_send(sim, "+255700000001")

    page = sim.get("/_simulator/messages", params={"vendor": "arkesel", "offset": 8}).json()
    one = messages(sim, recipient="255700000001")

    assert page["count"] == 10 and len(page["results"]) == 2
    assert [r["vendor"] for r in one] == ["twilio"]


def test_reset_forgets_messages_and_counters(sim):
    first = twilio_send(sim, "+255700000001").json()["sid"]

    sim.post("/_simulator/reset")

    stats = sim.get("/_simulator/stats").json()
    assert stats["messages"] == 0 and stats["requests"] == {}
    assert twilio_send(sim, "+255700000001").json()["sid"] != first


# --- the command ----------------------------------------------------------------------------


def start_command(*options: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mifumo.cli", "simulator", "--port", "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    assert match, line + process.stdout.read()
    return process, match.group(1)


def stop_command(process: subprocess.Popen) -> None:
    process.terminate()
    assert process.wait(timeout=10) == 0


def test_the_command_has_help():
    result = subprocess.run(
        [sys.executable, "-m", "mifumo.cli", "simulator", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0
    for option in ("--latency-ms", "--rate-429", "--down-for", "--callback-url"):
        assert option in result.stdout


def test_the_command_starts_down_then_recovers_and_answers():
    process, url = start_command("--down-for", "0.5", "--retry-after", "3")
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/_simulator/health").status_code == 200
            assert twilio_send(client, "+255700000001").status_code == 503
            wait_until(
                lambda: twilio_send(client, "+255700000001").status_code == 201, 5, "recovery"
            )
            assert client.get("/_simulator/config").json()["retry_after"] == 3
    finally:
        stop_command(process)


def test_50000_recorded_messages_take_little_memory():
    process, url = start_command("--dlr-delay-ms", "0")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            arkesel_send(client, ["233544919953"])  # warm up the code paths once
            client.post("/_simulator/reset")
            before = psutil.Process(process.pid).memory_info().rss
            for start in range(0, 50_000, 500):
                numbers = [f"2335{index:08d}" for index in range(start, start + 500)]
                assert arkesel_send(client, numbers).status_code == 200
            after = psutil.Process(process.pid).memory_info().rss
            stats = client.get("/_simulator/stats", params={"per_recipient": 0}).json()
    finally:
        stop_command(process)

    assert stats["messages"] == stats["unique_recipients"] == 50_000
    assert stats["duplicate_messages"] == 0
    assert (after - before) / 2**20 < 25, f"{(after - before) / 2**20:.1f} MB"


# --- the real adapters --------------------------------------------------------------------------

ACCOUNTS = {
    "beem": {"api_key": "k", "secret_key": "s", "sender_id": "SHULE"},
    "arkesel": {"api_key": "k", "sender_id": "SHULE"},
    "africastalking": {"api_key": "k", "username": "sandbox", "sender_id": "SHULE"},
    "twilio": {"username": TWILIO_SID, "secret_key": "twilio-token", "sender_id": "+15005550006"},
}


@pytest.mark.parametrize("name", sorted(ACCOUNTS))
def test_the_adapters_send_through_it_and_read_its_delivery_reports(sim, receiver, name):
    from django.test import RequestFactory

    from mifumo.delivery.providers.base import (
        AccountConfig,
        DeliveryStatus,
        OutgoingMessage,
        get_provider_class,
    )

    callback = f"{receiver.url}/hooks/{name}/"
    configure(sim, callback_url=callback)
    account = AccountConfig(name, sim.origin, callback_url=callback, **ACCOUNTS[name])
    provider = get_provider_class(name)(account)
    batch = [
        OutgoingMessage(f"m{i}", f"+25570000000{i}", "Hello", account.sender_id) for i in (1, 2)
    ]

    results = provider.send(batch)

    assert [r.accepted for r in results] == [True, True]
    assert sorted(r["recipient"].lstrip("+") for r in messages(sim)) == [
        "255700000001",
        "255700000002",
    ]
    wait_until(lambda: len(receiver.received) == 2, message="two delivery reports")
    for report in receiver.received:
        request = RequestFactory().generic(
            report["method"],
            report["url"].removeprefix(receiver.url),
            data=report["body"],
            content_type=report["headers"].get("Content-Type", ""),
        )
        [parsed] = provider.parse_delivery_report(request)
        assert parsed.status == DeliveryStatus.DELIVERED
        assert parsed.provider_message_id in {r.provider_message_id for r in results}
