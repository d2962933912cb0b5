"""Twilio Programmable Messaging: one form POST per message (one `To` per request).

Confirmed with the search tool (stored copies of public repositories):
- POST <origin>/2010-04-01/Accounts/{AccountSid}/Messages.json, form To, From (or
  MessagingServiceSid), Body, StatusCallback, Basic AccountSid:AuthToken, answered 201 with sid,
  status, error_code, num_segments, price: Twilio's Messages resource page as copied in
  lucaslopezpuerta/LavpopBusinessIntelligence docs/Twilio-API-Doc.md;
- the error body {code, message, more_info, status}; 20003 (HTTP 401), 20429 (429, never
  processed, safe to retry), 21211, 21610, 30003, 30005-30007: api-evangelist/twilio
  errors/twilio-error-codes.yml (a digest of https://www.twilio.com/docs/api/errors);
- account status active | suspended | closed: twilio/twilio-python rest/api/v2010/account.
Not re-checked: 21408 and 21614 (VENDORS.md [W8]). Twilio splits codes over time, so a code
missing from the table is judged by its HTTP status.
"""

from __future__ import annotations

import re
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

# https://www.twilio.com/docs/api/errors/<code>. Synchronous codes refuse one message;
# the 30xxx ones arrive in status callbacks and only name the reason there.
ERRORS: dict[str, tuple[ErrorKind, str]] = {
    "10001": (A, "Account is not active"),
    "20003": (A, "Permission denied: check the Account SID and Auth Token"),
    "20404": (A, "Not found: check the Account SID and TWILIO_BASE_URL"),
    "20429": (T, "Too many concurrent requests"),
    "21211": (P, "Invalid 'To' phone number"),
    "21408": (P, "SMS to this region is not enabled for the account"),
    "21610": (P, "The recipient unsubscribed (replied STOP)"),
    "21614": (P, "The 'To' number cannot receive SMS"),
    "30003": (T, "Unreachable destination handset"),
    "30005": (P, "Unknown destination handset"),
    "30006": (P, "Landline or unreachable carrier"),
    "30007": (P, "Message filtered by Twilio or the carrier"),
}
OPTED_OUT = "21610"

# queued, accepted, scheduled, sending, sent, partially_delivered and new ones: on its way.
STATUSES = dict.fromkeys(["delivered", "read"], DeliveryStatus.DELIVERED) | dict.fromkeys(
    ["undelivered", "failed", "canceled"], DeliveryStatus.FAILED
)

MESSAGING_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")


@register
class TwilioProvider(Provider):
    name = "twilio"
    max_recipients_per_request = 1
    rate_counts_segments = True  # Twilio's sending rate is in segments per second

    def _request(self, method: str, path: str, **kwargs):
        timeout = float(self.account.extra.get("timeout_seconds", self.timeout_seconds))
        url = f"{self.account.base_url}/2010-04-01/Accounts/{self.account.username}{path}"
        auth = (self.account.username, self.account.secret_key)
        return http.request(method, url, auth=auth, timeout=timeout, **kwargs)

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        for index, message in enumerate(batch):
            try:
                results.append(self._send_one(message))
            except ProviderError as error:
                if index == 0 and (error.kind != ErrorKind.UNKNOWN or len(batch) == 1):
                    raise  # nothing left yet: the whole batch shares the error
                # Earlier messages were accepted: keep their results; only this one may have
                # gone out (UNKNOWN), and the rest were never sent.
                return results + _unfinished(batch[index:], error)
        return results

    def _send_one(self, message: OutgoingMessage) -> SendResult:
        form = {"To": message.to, "Body": message.body}
        sender = "MessagingServiceSid" if MESSAGING_SERVICE.match(message.sender) else "From"
        form[sender] = message.sender
        if self.account.callback_url:
            form["StatusCallback"] = self.account.callback_url
        response = self._request("POST", "/Messages.json", data=form)
        body = _answer(response)
        if response.status_code < 300:
            if not body.get("sid"):
                raise ProviderError(
                    "Twilio accepted a message without a sid", kind=U, code="no_sid"
                )
            return SendResult(
                message.message_id, True, provider_message_id=body["sid"], cost=_price(body)
            )
        code = str(body.get("code") or body.get("error_code") or response.status_code)
        kind, meaning = ERRORS.get(code, (P, ""))
        if kind != P:  # account-level or transient: about the request, not this recipient
            raise ProviderError(f"Twilio: {body.get('message') or meaning}", code=code, kind=kind)
        return SendResult(
            message.message_id,
            False,
            error_code=code,
            error_message=f"Twilio: {body.get('message') or meaning or 'refused'}",
            opted_out=code == OPTED_OUT,
        )

    def parse_delivery_report(self, request) -> list[DeliveryReport]:
        params = request.POST
        sid = params.get("MessageSid") or params.get("SmsSid")
        if not sid:
            raise ValueError("a Twilio status callback needs MessageSid and MessageStatus")
        raw = params.get("MessageStatus") or params.get("SmsStatus") or ""
        code = params.get("ErrorCode", "")
        return [
            DeliveryReport(
                provider_message_id=sid,
                status=STATUSES.get(raw.strip().lower(), DeliveryStatus.PENDING),
                error_code=code,
                error_message=ERRORS.get(code, (P, ""))[1],
                raw_status=raw,
            )
        ]

    def probe(self) -> None:
        response = self._request("GET", ".json")
        body = _answer(response)
        if response.status_code >= 400:
            code = str(body.get("code") or response.status_code)
            raise ProviderError(f"Twilio: {body.get('message', '')}", code=code, kind=A)
        if body.get("status") != "active":
            status = body.get("status") or "not active"
            raise ProviderError(f"the Twilio account is {status}", code="10001", kind=A)


def _unfinished(rest: Sequence[OutgoingMessage], error: ProviderError) -> list[SendResult]:
    """The message whose request failed, then the ones never sent."""
    unknown = error.kind == ErrorKind.UNKNOWN
    results = [
        SendResult(
            rest[0].message_id,
            False,
            error_code=error.code,
            error_message=error.message,
            unknown=unknown,
            retryable=not unknown,
        )
    ]
    reason = f"Not sent: an earlier request failed ({error.message})"
    for message in rest[1:]:
        results.append(
            SendResult(
                message.message_id,
                False,
                error_code="not_attempted",
                error_message=reason,
                retryable=True,
            )
        )
    return results


def _price(body: dict) -> Decimal | None:
    # Twilio reports what a message cost as a negative amount, null until it is known.
    try:
        return abs(Decimal(str(body["price"])))
    except (KeyError, InvalidOperation):
        return None


def _answer(response) -> dict:
    if response.status_code == 401:
        raise ProviderError(f"Twilio: {ERRORS['20003'][1]}", code="20003", kind=A)
    body = http.json_body(response)
    if not isinstance(body, dict):
        kind = U if response.status_code < 300 else T  # on a 2xx it may have been accepted
        raise ProviderError(
            "Twilio answered with an unexpected JSON shape", code="bad_answer", kind=kind
        )
    return body
