"""Africa's Talking SMS: one form POST to /version1/messaging, comma-separated `to` in bulk mode.

Confirmed with the search tool (stored copies of public repositories):
- request: AfricasTalkingLtd/africastalking-python africastalking/{SMS,Service,Application}.py
  (official): POST <origin>/version1/messaging, headers `apiKey` and `Accept:
  application/json`, form username, to (+E.164 numbers joined by ","), message, bulkSMSMode=1,
  `from` only with a sender id; account data at GET /version1/user?username=;
- recipient statusCode 100-102 accepted, 401-409 and 500-502 refused: a Go copy of the AT docs
  (hekimapro/utils, VENDORS.md [T5]) and several integrations;
- delivery reports, a form POST of id, status, phoneNumber, networkCode, failureReason; the DND
  rejection answered with HTTP 409 and a normal body: a copy of AT's "SMS Notifications" page.
Unconfirmed: 407 as permanent, the /version1/user shape ({UserData: {balance: "KES 12.50"}},
read defensively), the maximum recipients per request (a third-party tool caps at 100; so do we).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

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
ACCEPTED = {100, 101, 102}  # Processed, Sent, Queued

# Per-recipient statusCode (Africa's Talking SMS API docs, "Status codes").
ERRORS: dict[int, tuple[str, ErrorKind]] = {
    401: ("RiskHold", A),  # the account's traffic is held for review
    402: ("InvalidSenderId", P),
    403: ("InvalidPhoneNumber", P),
    404: ("UnsupportedNumberType", P),
    405: ("InsufficientBalance", A),
    406: ("UserInBlacklist", P),  # the subscriber opted out of this sender
    407: ("CouldNotRoute", P),
    409: ("DoNotDisturbRejection", T),  # Nigeria: promotional sender outside 8am-8pm
    500: ("InternalServerError", T),
    501: ("GatewayError", T),
    502: ("RejectedByGateway", P),
}
BY_NAME = {name: (code, kind) for code, (name, kind) in ERRORS.items()}
ACCOUNT_CODES = {str(code) for code, (_name, kind) in ERRORS.items() if kind == A}

# Sent, Submitted, Buffered and anything new are intermediate.
STATUSES = {"Success": DeliveryStatus.DELIVERED} | dict.fromkeys(
    ["Rejected", "Failed", "AbsentSubscriber", "Expired"], DeliveryStatus.FAILED
)


def _digits(number: str) -> str:
    return "".join(c for c in str(number) if c.isdigit())


@register
class AfricasTalkingProvider(Provider):
    name = "africastalking"
    max_recipients_per_request = 100
    rate_counts_segments = True  # billed per message part

    def _request(self, method: str, path: str, **kwargs):
        timeout = float(self.account.extra.get("timeout_seconds", self.timeout_seconds))
        headers = {"apiKey": self.account.api_key, "Accept": "application/json"}
        return http.request(
            method, self.account.base_url + path, headers=headers, timeout=timeout, **kwargs
        )

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        first = batch[0]
        assert all(m.body == first.body and m.sender == first.sender for m in batch)
        form = {
            "username": self.account.username,
            "to": ",".join(m.to for m in batch),
            "message": first.body,
            "bulkSMSMode": "1",
        }
        if first.sender:
            form["from"] = first.sender
        # Delivery reports go to the one URL set in AT's dashboard, not per request.
        response = self._request("POST", "/version1/messaging", data=form)
        data = _answer(response).get("SMSMessageData")
        if not isinstance(data, dict):  # on a 2xx it may have been accepted; else retried
            kind = U if response.status_code < 300 else T
            raise ProviderError("no SMSMessageData in the answer", code="bad_answer", kind=kind)
        recipients = data.get("Recipients")
        if not recipients:
            # Nothing sent; `Message` says why ("InvalidSenderId"). A reason we cannot place is
            # retried a bounded number of times, unless HTTP said our request was wrong.
            reason = str(data.get("Message", "")).strip() or response.text[:200]
            fallback = P if 400 <= response.status_code < 500 else T
            code, kind = BY_NAME.get(reason, (response.status_code, fallback))
            raise ProviderError(
                f"Africa's Talking sent nothing: {reason}", code=str(code), kind=kind
            )
        try:
            by_number: dict[str, deque[dict]] = defaultdict(deque)
            for recipient in recipients:
                by_number[_digits(recipient.get("number", ""))].append(recipient)
            results = [_result(m, by_number[_digits(m.to)]) for m in batch]
        except (AttributeError, TypeError, ValueError) as error:
            raise ProviderError(f"unreadable answer: {error}", code="bad_answer", kind=U) from None
        account_level = [r for r in results if r.error_code in ACCOUNT_CODES]
        if account_level and not any(r.accepted for r in results):
            # No balance or a risk hold: pause the campaign rather than fail its messages.
            raise ProviderError(
                account_level[0].error_message, code=account_level[0].error_code, kind=A
            )
        return results

    def parse_delivery_report(self, request) -> list[DeliveryReport]:
        params = request.POST
        if not params.get("id"):
            raise ValueError("an Africa's Talking delivery report needs id and status")
        raw = str(params.get("status", ""))
        reason = str(params.get("failureReason", ""))
        return [
            DeliveryReport(
                provider_message_id=str(params["id"]),
                status=STATUSES.get(raw.strip(), DeliveryStatus.PENDING),
                error_code=reason,
                error_message=f"{raw}: {reason}" if reason else "",
                raw_status=raw,
            )
        ]

    def probe(self) -> None:
        query = {"username": self.account.username}
        body = _answer(self._request("GET", "/version1/user", params=query))
        balance = (body.get("UserData") or {}).get("balance", "")
        if (amount := _cost(balance)) is not None and amount <= 0:
            raise ProviderError(f"Africa's Talking: no balance ({balance})", code="405", kind=A)


def _result(message: OutgoingMessage, entries: deque[dict]) -> SendResult:
    if not entries:
        reason = "Africa's Talking's answer did not list this recipient"
        return SendResult(message.message_id, False, error_code="not_listed", error_message=reason)
    recipient = entries.popleft()
    code = int(recipient.get("statusCode") or 0)
    if code in ACCEPTED:
        provider_id, cost = str(recipient.get("messageId", "")), _cost(recipient.get("cost"))
        return SendResult(message.message_id, True, provider_id, cost=cost)
    status = str(recipient.get("status", ""))
    _name, kind = ERRORS.get(code, (status, T if code >= 500 else P))
    return SendResult(
        message.message_id,
        False,
        error_code=str(code),
        error_message=f"Africa's Talking: {status or 'refused'}",
        # An account-level refusal next to accepted recipients: retry them after the engine
        # has paused on the next request's InsufficientBalance.
        retryable=kind in (T, A),
        opted_out=code == 406,
    )


def _cost(value) -> Decimal | None:
    """'KES 0.8000' -> Decimal('0.8000')."""
    try:
        return Decimal(str(value).split()[-1])
    except (IndexError, InvalidOperation):
        return None


def _answer(response) -> dict:
    status, text = response.status_code, response.text[:200]
    if status in (401, 403, 404):  # bad key or username, or a wrong AFRICASTALKING_BASE_URL
        raise ProviderError(f"Africa's Talking: HTTP {status}: {text}", code=str(status), kind=A)
    try:
        body = response.json()
    except ValueError:
        if 400 <= status < 500:  # "Invalid senderId" and the like come as plain text
            raise ProviderError(f"Africa's Talking: {text}", code=str(status), kind=P) from None
        body = http.json_body(response)  # raises: UNKNOWN on a 2xx
    if not isinstance(body, dict):
        raise ProviderError("unexpected answer from Africa's Talking", code="bad_answer", kind=U)
    # A 409 (DND) and other refusals still carry a normal SMSMessageData body.
    return body
