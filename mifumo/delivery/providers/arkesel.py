"""Arkesel SMS v2: one JSON POST to /api/v2/sms/send carries one text for many recipients.

Confirmed with the search tool (stored copies of public repositories):
- request: ArkeselDev/arkesel-java-library src/main/java/com/arkesel/Messaging.java
  (official): POST <origin>/api/v2/sms/send with header `api-key`, JSON body, and the balance
  at GET /api/v2/clients/balance-details;
- response {status: "success", data: [{recipient, id}, ..., {"invalid numbers": [...]}]}
  (the invalid numbers are an element of `data`), balance {data: {sms_balance,
  main_balance}}, callback query parameters sms_id and status with the values DELIVERED,
  SUBMITTED, QUEUED, NOT_DELIVERED, EXPIRED, PROHIBITED: kalourmade/arkesel-sdk
  node/src/{models,deliveryCallback,errorMapping}.ts (third-party);
- HTTP 401 authentication failed, 402 insufficient balance, 403 inactive gateway, 422
  validation errors, 500 internal error: Parables/arkesel-sdk
  src/Exceptions/HandleSmsException.php (third-party; kalourmade maps 403 to authentication).
Unconfirmed: the callback's HTTP method (we read GET and POST alike) and the maximum
recipients per request (we send at most 100).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence

from mifumo.delivery.providers import http
from mifumo.delivery.providers.base import (
    DeliveryReport,
    DeliveryStatus,
    ErrorKind,
    OutgoingMessage,
    Provider,
    ProviderError,
    SendResult,
    register,
)

A, P, U = ErrorKind.ACCOUNT, ErrorKind.PERMANENT, ErrorKind.UNKNOWN

# Arkesel v2 answers by HTTP status (api_spec v2.4.0 as cited by the SDKs above); 429 and 5xx
# are transient for every vendor (providers/http.py).
ERRORS: dict[int, tuple[ErrorKind, str]] = {
    401: (A, "Authentication failed: check the API key"),
    402: (A, "Insufficient balance or coverage not active"),
    403: (A, "Inactive gateway or key not allowed"),
    404: (A, "No such endpoint: check ARKESEL_BASE_URL"),
    422: (P, "Validation error"),
}

# Per-recipient refusals read from a 200 answer.
REFUSED = {
    "invalid_number": "Arkesel refused the number as invalid",
    "not_listed": "Arkesel's answer did not list this recipient",
}

# SUBMITTED, QUEUED and anything new are intermediate.
STATUSES = {"DELIVERED": DeliveryStatus.DELIVERED} | dict.fromkeys(
    ["NOT_DELIVERED", "EXPIRED", "PROHIBITED", "REJECTED", "FAILED"], DeliveryStatus.FAILED
)


def _digits(number: str) -> str:
    return "".join(c for c in str(number) if c.isdigit())


@register
class ArkeselProvider(Provider):
    name = "arkesel"
    max_recipients_per_request = 100
    rate_counts_segments = True  # billed per segment (message_count in its reports)

    def _request(self, method: str, path: str, **kwargs):
        timeout = float(self.account.extra.get("timeout_seconds", self.timeout_seconds))
        headers = {"api-key": self.account.api_key, "Accept": "application/json"}
        return http.request(
            method, self.account.base_url + path, headers=headers, timeout=timeout, **kwargs
        )

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        first = batch[0]
        assert all(m.body == first.body and m.sender == first.sender for m in batch)
        payload: dict = {
            "sender": first.sender,
            "message": first.body,
            "recipients": [m.to.lstrip("+") for m in batch],
        }
        if self.account.callback_url:
            payload["callback_url"] = self.account.callback_url
        if self.account.extra.get("sandbox"):
            payload["sandbox"] = True  # accepted and listed, never delivered nor billed
        if self.account.extra.get("use_case"):
            payload["use_case"] = self.account.extra["use_case"]  # Nigeria only
        body = _answer(self._request("POST", "/api/v2/sms/send", json=payload))
        entries = body.get("data")
        if not isinstance(entries, list):
            # Accepted, but without the list of ids (what a scheduled send answers).
            raise ProviderError("Arkesel accepted but listed no recipients", code="no_ids", kind=U)
        try:
            ids: dict[str, deque[str]] = defaultdict(deque)
            invalid: set[str] = set()
            for entry in entries:
                if "id" in entry:
                    ids[_digits(entry.get("recipient", ""))].append(str(entry["id"]))
                else:
                    invalid.update(_digits(n) for n in entry.get("invalid numbers") or [])
        except (AttributeError, TypeError) as error:
            raise ProviderError(f"unreadable answer: {error}", code="bad_answer", kind=U) from None
        results = []
        for message in batch:
            number = _digits(message.to)
            if ids[number]:
                results.append(SendResult(message.message_id, True, ids[number].popleft()))
            else:
                code = "invalid_number" if number in invalid else "not_listed"
                results.append(
                    SendResult(
                        message.message_id, False, error_code=code, error_message=REFUSED[code]
                    )
                )
        return results

    def parse_delivery_report(self, request) -> list[DeliveryReport]:
        params = request.GET.dict() | request.POST.dict()  # GET is the likely method; both work
        if not params.get("sms_id"):
            raise ValueError("an Arkesel delivery report needs sms_id and status")
        raw = str(params.get("status", ""))
        return [
            DeliveryReport(
                provider_message_id=str(params["sms_id"]),
                status=STATUSES.get(raw.strip().upper(), DeliveryStatus.PENDING),
                raw_status=raw,
            )
        ]

    def probe(self) -> None:
        data = _answer(self._request("GET", "/api/v2/clients/balance-details")).get("data") or {}
        balances = [_amount(data.get("sms_balance")), _amount(data.get("main_balance"))]
        if all(balance is not None and balance <= 0 for balance in balances):
            raise ProviderError("the Arkesel account has no balance", code="402", kind=A)


def _amount(value) -> float | None:
    """'2003' or 'GHS 20.99' -> the number; None when unreadable."""
    try:
        return float(str(value).split()[-1].replace(",", ""))
    except (IndexError, ValueError):
        return None


def _answer(response) -> dict:
    status = response.status_code
    if status >= 400:
        try:
            message = str(response.json().get("message", ""))
        except (ValueError, AttributeError):
            message = response.text[:200]
        kind, meaning = ERRORS.get(status, (P, "Request refused"))
        raise ProviderError(
            f"Arkesel: {message or meaning} (HTTP {status})", code=str(status), kind=kind
        )
    body = http.json_body(response)
    if not isinstance(body, dict) or "status" not in body:  # it may have been accepted
        raise ProviderError("Arkesel answered with an unexpected shape", code="bad_answer", kind=U)
    if body["status"] != "success":
        # A refusal on a 2xx that the table cannot place: retried a bounded number of times.
        raise ProviderError(
            f"Arkesel refused the request: {body.get('message', '')}", code="refused"
        )
    return body
