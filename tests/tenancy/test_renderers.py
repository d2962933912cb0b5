"""The API's JSON renderer (orjson) writes what DRF's JSONRenderer writes."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from mifumo.delivery.models import MessageStatus
from mifumo.tenancy.renderers import FastJSONRenderer

NAIROBI = ZoneInfo("Africa/Nairobi")


@pytest.mark.parametrize(
    "data",
    [
        {"success": True, "count": 0, "results": [], "next": None},
        {"at": datetime.datetime(2026, 11, 23, 8, 0, 5, 123456, tzinfo=datetime.UTC)},
        {"at": datetime.datetime(2026, 11, 23, 11, 0, tzinfo=NAIROBI)},
        {"at": datetime.datetime(2026, 11, 23, 8, 0)},  # naive
        {"day": datetime.date(2026, 11, 23), "time": datetime.time(7, 30, 15)},
        {"cost": Decimal("25.5000"), "id": uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0123456789ab")},
        {"status": MessageStatus.DELIVERED, "label": gettext_lazy("Delivered")},
        {"text": 'Habari mzazi \u2028 mstari\u2029 ‘njoo’ 😀 \x00 \\ "', "tuple": (1, "a")},
        {"nested": [{"a": [1, 2, {"b": None}]}, -5, 0, 2**63 - 1, 0.1, 1.5]},
        [
            {"phone": f"+2557{i:08d}", "success": True, "message_id": str(uuid.uuid4())}
            for i in range(50)
        ],
    ],
)
def test_it_writes_the_same_bytes_as_drf(data):
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


@pytest.mark.parametrize(
    "data",
    [
        {"big": 123456789012345678901234567890},  # beyond orjson's 64 bits
        {1: "a key that is not a string", None: "null", 2.5: "a float"},
    ],
)
def test_what_orjson_refuses_drf_writes(data):
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)
    assert json.loads(FastJSONRenderer().render(data))


def test_an_asked_for_indent_and_no_data_are_drfs():
    data = {"a": [1, 2]}
    asked = "application/json; indent=2"
    assert FastJSONRenderer().render(data, asked) == JSONRenderer().render(data, asked)
    assert b"\n  " in FastJSONRenderer().render(data, asked)
    assert FastJSONRenderer().render(None) == b""


def test_the_api_answers_with_it(alice_client):
    response = alice_client.get("/api/auth/me/")
    assert response.status_code == 200
    assert isinstance(response.accepted_renderer, FastJSONRenderer)
    assert response.content == JSONRenderer().render(response.data)
