"""Whatever goes wrong, the body is the spec's envelope: {success, message, error_code, details}."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.urls("tests.error_urls")


def _is_envelope(body: dict) -> bool:
    return body["success"] is False and {"message", "error_code", "details"} <= set(body)


def test_an_unexpected_error_in_an_api_view_is_a_500_envelope_and_is_logged(alice_client, caplog):
    response = alice_client.get("/broken/")
    assert response.status_code == 500
    assert _is_envelope(response.json())
    assert response.json()["error_code"] == "server_error"
    assert "a bug" not in response.content.decode()  # no internals leak to the client
    assert any("Unhandled error" in record.message for record in caplog.records)


def test_an_error_outside_drf_is_a_500_envelope_too(db):
    client = APIClient(raise_request_exception=False)
    response = client.get("/plain-broken/")
    assert response.status_code == 500
    assert _is_envelope(response.json())


def test_an_application_error_can_carry_the_richer_body_a_spec_shows(alice_client):
    response = alice_client.get("/rich-error/")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "message": "Some contacts not found: ['x']",
        "error_code": "contacts_not_found",
        "details": {"missing_ids": ["x"]},
        "updated_count": 0,
        "total_requested": 1,
    }


def test_an_unknown_path_is_a_404_envelope(anon, db):
    response = anon.get("/no/such/page/")
    assert response.status_code == 404
    assert _is_envelope(response.json())


def test_a_non_numeric_content_length_is_a_400_envelope(anon, db):
    response = anon.generic("POST", "/api/auth/token/", b"{}", CONTENT_LENGTH="lots")
    assert response.status_code == 400
    assert _is_envelope(response.json())
