"""The per-user limits of the spec (10/min on contact bulk operations, 5/min on SMS bulk
operations) hold exactly, also when requests arrive all at once at a real threaded server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import client_for

pytestmark = pytest.mark.urls("tests.tenancy.throttle_urls")


def _post_at_once(url: str, token: str, count: int) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def post(_):
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            return client.post(url, headers={"Authorization": f"Bearer {token}"}, json={})

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(post, range(count)))


@pytest.mark.django_db(transaction=True)
def test_it_accepts_exactly_ten_of_twenty_concurrent_bulk_requests(live_server, alice):
    responses = _post_at_once(
        f"{live_server.url}/probe/contacts-bulk/", str(AccessToken.for_user(alice)), 20
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 10
    for refused in (r for r in responses if r.status_code == 429):
        body = refused.json()
        assert body["success"] is False
        assert body["error_code"] == "throttled"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert body["details"]["retry_after_seconds"] == int(refused.headers["Retry-After"])


def test_it_allows_five_sms_bulk_requests_a_minute(alice):
    client = client_for(alice)
    statuses = [client.post("/probe/sms-bulk/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_it_counts_each_user_separately(alice, bob):
    for _ in range(10):
        assert client_for(alice).post("/probe/contacts-bulk/").status_code == 200
    assert client_for(alice).post("/probe/contacts-bulk/").status_code == 429
    assert client_for(bob).post("/probe/contacts-bulk/").status_code == 200


def test_it_keeps_separate_budgets_per_scope(alice):
    client = client_for(alice)
    for _ in range(5):
        client.post("/probe/sms-bulk/")
    assert client.post("/probe/sms-bulk/").status_code == 429
    assert client.post("/probe/contacts-bulk/").status_code == 200


def test_it_lets_requests_through_again_once_the_window_slides(alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "contacts_bulk": "2/1s",
        },
    }
    client = client_for(alice)
    assert [client.post("/probe/contacts-bulk/").status_code for _ in range(3)] == [200, 200, 429]
    # Wait on Redis's clock, the one the limiter uses, rather than sleeping a guessed time.
    import time

    deadline = time.monotonic() + 3
    while client.post("/probe/contacts-bulk/").status_code == 429:
        assert time.monotonic() < deadline, "the window never slid"
        time.sleep(0.05)


def test_it_answers_503_in_the_envelope_when_redis_is_unreachable(alice, unreachable_redis):
    response = client_for(alice).post("/probe/contacts-bulk/")
    assert response.status_code == 503
    assert response.json()["error_code"] == "service_unavailable"


def test_it_limits_logins_per_client_address(anon, alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "auth": "3/min",
        },
    }
    body = {"email": "alice@a.example", "password": "wrong"}
    statuses = [anon.post("/api/auth/token/", body).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
