"""Assertions and request helpers shared by every app's tests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

ENVELOPE_KEYS = {"success", "message", "error_code", "details"}


def assert_error(response, status: int, error_code: str | None = None) -> dict:
    """The response is the error envelope with this status (and code); returns the body."""
    assert response.status_code == status, response.content
    body = response.json()  # also fails unless the Content-Type is JSON
    assert set(body) == ENVELOPE_KEYS, body
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["error_code"], str) and body["error_code"]
    assert isinstance(body["details"], dict)
    if error_code is not None:
        assert body["error_code"] == error_code, body
    return body


def post_at_once(url: str, token: str, bodies: list[dict]) -> list[httpx.Response]:
    """POST each body to `url` (a live server's) from its own thread, all released together."""
    barrier = threading.Barrier(len(bodies))

    def post(body: dict) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(url, headers={"Authorization": f"Bearer {token}"}, json=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))
