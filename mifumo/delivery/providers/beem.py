"""Beem Africa SMS: one JSON POST to /v1/send carries one text for many recipients.

Confirmed with the search tool (stored copies of public repositories):
- request: beemafrica/beem-sms-api-sample send/php/send.php (official): POST
  https://apisms.beem.africa/v1/send, `Authorization: Basic base64(api_key:secret_key)`, JSON
  {source_addr, encoding: 0, schedule_time: "", message, recipients: [{recipient_id: "1",
  dest_addr: "255700000001"}]}: digits without "+", recipient ids chosen by the sender;
- callback: the same repository's callback/php/receive.php reads JSON request_id,
  recipient_id, dest_addr and Status (capital S);
- response {successful, request_id, code, message, valid, invalid, duplicates}, the SMS codes
  100-108, encoding 8 = UCS-2, and the balance at /public/v1/vendors/balance answering
  {data: {credit_balance}}: gowelle/laravel-beem-africa src/Enums/SmsResponseCode.php,
  src/DTOs/{SmsRequest,SmsResponse,SmsBalance}.php, src/Sms/BeemSmsService.php (third-party,
  citing https://docs.beem.africa/index.html#api-SMS; another third-party guide numbers the
  codes differently, so the table trusts `message` as much as `code` in what users see).
Unconfirmed: 111 (invalid sender id, from memory); the delivery statuses Beem sends (so any
status not recognised is PENDING); the maximum recipients per request (one integration
batches 200, so we do).
"""

from __future__ import annotations

import json
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

A, P, T, U = ErrorKind.ACCOUNT, ErrorKind.PERMANENT, ErrorKind.TRANSIENT, ErrorKind.UNKNOWN

# Beem SMS response codes (docs.beem.africa #api-SMS, via gowelle/laravel-beem-africa).
# 100 is success; everything else refuses the whole request.
ERRORS: dict[str, tuple[ErrorKind, str]] = {
    "101": (P, "Invalid phone number"),
    "102": (A, "Insufficient balance"),
    "103": (T, "Network timeout at Beem"),
    "104": (P, "Missing required parameters"),
    "105": (A, "Account not found"),
    "106": (A, "No route mapped to the account"),
    "107": (A, "No authorization headers"),
    "108": (A, "Invalid token"),
    "111": (P, "Invalid sender id"),  # unconfirmed
    # Beem's checkout API documents 120 with HTTP 401; the SMS API likely shares it.
    "120": (A, "Invalid authentication parameters"),
}

# Beem's status values are not documented where we could read them: these are the usual
# SMSC words; anything else is an intermediate report.
STATUSES = dict.fromkeys(
    ["DELIVERED", "DELIVRD", "SUCCESS", "SUCCESSFUL"], DeliveryStatus.DELIVERED
)
STATUSES |= dict.fromkeys(
    ["FAILED", "UNDELIVERED", "UNDELIV", "UNDELIVERABLE", "REJECTED", "REJECTD", "EXPIRED"],
    DeliveryStatus.FAILED,
)


@register
class BeemProvider(Provider):
    name = "beem"
    max_recipients_per_request = 200
    rate_counts_segments = True  # Beem bills credits per SMS segment

    def _request(self, method: str, path: str, **kwargs):
        timeout = float(self.account.extra.get("timeout_seconds", self.timeout_seconds))
        return http.request(
            method,
            self.account.base_url + path,
            auth=(self.account.api_key, self.account.secret_key),
            timeout=timeout,
            **kwargs,
        )

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        first = batch[0]
        assert all(m.body == first.body and m.sender == first.sender for m in batch)
        # Beem answers with one request_id for the whole request and no per-recipient ids; its
        # callback names the request_id and the recipient_id we chose. Our recipient_id is the
        # message's 1-based position in the request, so "<request_id>:<recipient_id>" is a
        # unique provider_message_id that the callback maps straight back to.
        payload = {
            "source_addr": first.sender,
            "encoding": 8 if first.encoding == "ucs2" else 0,
            "schedule_time": "",
            "message": first.body,
            "recipients": [
                {"recipient_id": str(index), "dest_addr": m.to.lstrip("+")}
                for index, m in enumerate(batch, start=1)
            ],
        }
        response = self._request("POST", "/v1/send", json=payload)
        body = _answer(response)
        if body.get("successful") is True and str(body.get("code")) == "100":
            # Beem counts invalid and duplicate recipients but does not say which; they get no
            # delivery report and stay `sent`.
            request_id = body.get("request_id", "")
            return [
                SendResult(m.message_id, True, provider_message_id=f"{request_id}:{index}")
                for index, m in enumerate(batch, start=1)
            ]
        raise _error(body, response.status_code)

    def parse_delivery_report(self, request) -> list[DeliveryReport]:
        try:
            data = json.loads(request.body or b"null")
        except ValueError as error:
            raise ValueError(f"the Beem callback is not JSON: {error}") from None
        items = data if isinstance(data, list) else [data]
        reports = []
        for item in items:
            if (
                not isinstance(item, dict)
                or not item.get("request_id")
                or not item.get("recipient_id")
            ):
                raise ValueError("a Beem delivery report needs request_id and recipient_id")
            raw = str(item.get("Status") or item.get("status") or "")
            reports.append(
                DeliveryReport(
                    provider_message_id=f"{item['request_id']}:{item['recipient_id']}",
                    status=STATUSES.get(raw.strip().upper(), DeliveryStatus.PENDING),
                    raw_status=raw,
                )
            )
        return reports

    def probe(self) -> None:
        response = self._request("GET", "/public/v1/vendors/balance")
        body = _answer(response)
        data = body.get("data") if isinstance(body.get("data"), dict) else body
        try:
            balance = float(data["credit_balance"])
        except (KeyError, TypeError, ValueError):
            return  # authenticated; a balance we cannot read is not a reason to stay paused
        if balance <= 0:
            raise ProviderError("the Beem account has no SMS credit", code="102", kind=A)


def _answer(response) -> dict:
    """The JSON answer, after the statuses that mean the same whatever the body says."""
    if response.status_code in (401, 403):
        raise ProviderError(
            f"Beem refused our credentials (HTTP {response.status_code}): {response.text[:200]}",
            code=str(response.status_code),
            kind=A,
        )
    if response.status_code == 404:
        raise ProviderError("Beem has no such endpoint: check BEEM_BASE_URL", code="404", kind=A)
    body = http.json_body(response)
    if not isinstance(body, dict):
        kind = U if response.status_code < 300 else T  # on a 2xx it may have been accepted
        raise ProviderError(
            "Beem answered with an unexpected JSON shape", code="bad_answer", kind=kind
        )
    return body


def _error(body: dict, status: int) -> ProviderError:
    info = body.get("data") if isinstance(body.get("data"), dict) else body
    code, message = str(info.get("code", "")), str(info.get("message", ""))
    if status < 300 and not code and "successful" not in body:
        return ProviderError(
            "Beem's answer says neither success nor refusal", code="bad_answer", kind=U
        )
    # A code we do not know: a 4xx says the request itself is wrong; on a 2xx we cannot tell,
    # so the engine retries a bounded number of times, then fails the messages with it.
    kind, meaning = ERRORS.get(code, (P if 400 <= status < 500 else T, "refused"))
    return ProviderError(f"Beem: {message or meaning} (code {code or '?'})", code=code, kind=kind)
