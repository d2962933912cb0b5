"""Logs: readable text by default, JSON with LOG_FORMAT=json, a request id on every line, and
no vendor credential, API key, token or message body anywhere in them."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

from mifumo.delivery.models import Campaign
from mifumo.observability.logs import logging_config, redact
from tests.communications.conftest import ARKESEL_KEY, arkesel, arkesel_accepts, send_all
from tests.tenancy.helpers import api_key_client

__all__ = ["arkesel"]  # the fixture, imported to be used here

SNIPPET = textwrap.dedent(
    """
    import logging, django
    django.setup()
    from mifumo.observability.context import request_id
    request_id.set("rid-from-the-test-0001")
    logging.getLogger("mifumo.test").warning("hello %s", "there")
    """
)


def _run_logging(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SNIPPET],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mifumo.settings",
            "MIFUMO_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_logs_are_readable_text_by_default_with_the_request_id(tmp_path):
    result = _run_logging(tmp_path)
    assert result.returncode == 0, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.endswith("WARNING mifumo.test [rid-from-the-test-0001] hello there"), line


def test_log_format_json_writes_one_object_a_line(tmp_path):
    result = _run_logging(tmp_path, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello there"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "mifumo.test"
    assert entry["request_id"] == "rid-from-the-test-0001"
    assert entry["tenant_id"] == "-"
    assert "time" in entry


def test_an_unknown_log_format_stops_the_start(tmp_path):
    result = _run_logging(tmp_path, LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be 'text' or 'json'" in result.stderr


def test_the_response_carries_the_request_id_and_a_forged_one_is_replaced(alice_client):
    kept = alice_client.get("/api/auth/me/", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")
    assert kept["X-Request-ID"] == "lb-7f3a9c2e-0001"
    forged = alice_client.get("/api/auth/me/", HTTP_X_REQUEST_ID="x\nFAKE LOG LINE")
    assert forged["X-Request-ID"] != "x\nFAKE LOG LINE"
    assert len(forged["X-Request-ID"]) == 32
    fresh = alice_client.get("/api/auth/me/")
    assert fresh["X-Request-ID"] not in {kept["X-Request-ID"], forged["X-Request-ID"]}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("headers={'api-key': 'ark-live-123'}", "ark-live-123"),
        ("GET /x?api_key=abc123&to=255", "abc123"),
        ("key mif_0123456789ab_" + "s" * 43 + " used", "s" * 43),
        ('{"password": "hunter2-long"}', "hunter2-long"),
    ],
)
def test_what_looks_like_a_credential_is_redacted(text, secret):
    assert secret not in redact(text)


@pytest.fixture
def captured_logs():
    """Everything logged while the test runs, through the configured logging (JSON, at DEBUG:
    the most an operator can turn on)."""
    buffer = io.StringIO()
    config = logging_config("json", "DEBUG")
    config["handlers"]["console"]["stream"] = buffer
    logging.config.dictConfig(config)
    try:
        yield buffer
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_a_whole_send_logs_no_credential_key_token_or_message_body(
    alice_client, charlie_client, tenant_a, tenant_b, arkesel, captured_logs, monkeypatch
):
    created = alice_client.post("/api/auth/api-keys/", {"name": "SIS", "role": "member"})
    plain_key = created.json()["key"]
    token = alice_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    body_a = "Ada ya muhula wa pili ni TSh 150,000 kwa Asha"
    body_b = "Siri ya shirika B: mkutano wa bodi"
    phones_a = ["+255712000301", "+255712000302"]

    arkesel_accepts(arkesel, phones_a)
    sent = api_key_client(plain_key).post(
        "/api/messaging/sms/bulk-send/",
        {"contacts": [{"phone": p} for p in phones_a], "message": body_a, "sender_id": "SHULE"},
        format="json",
    )
    assert sent.status_code == 200, sent.content
    send_all(sent.json()["campaign_id"])

    # Tenant B's send meets a vendor that refuses the account: warnings are logged.
    arkesel.reply(401, json={"code": "101", "message": "Invalid API key"})
    refused = charlie_client.post(
        "/api/messaging/sms/bulk-send/",
        {"contacts": [{"phone": "+254712000303"}], "message": body_b, "sender_id": "SHULE"},
        format="json",
    )
    assert refused.status_code == 200, refused.content
    from mifumo.delivery import dispatch

    dispatch.dispatch(refused.json()["campaign_id"])
    assert Campaign.objects.get(pk=refused.json()["campaign_id"]).status == "paused"
    # A failed login and a bad key are logged too.
    alice_client.post("/api/auth/token/", {"email": "alice@a.example", "password": "wrong-pw"})
    api_key_client(plain_key + "x").get("/api/auth/me/")

    logs = captured_logs.getvalue()
    lines = [json.loads(line) for line in logs.splitlines()]
    assert any("paused" in line["message"] for line in lines), logs  # the logs are not empty
    assert any(line["request_id"] == sent["X-Request-ID"] for line in lines)
    assert arkesel.requests and arkesel.requests[0].headers["api-key"] == ARKESEL_KEY
    # The key is mif_<lookup id>_<secret>, and the secret (urlsafe) may itself hold "_".
    for secret in (ARKESEL_KEY, plain_key, plain_key.split("_", 2)[2], token, "wrong-pw"):
        assert secret not in logs
    for body in (body_a, body_b, "Ada ya muhula", "mkutano wa bodi"):
        assert body not in logs
