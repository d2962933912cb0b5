"""The four SMS vendors as the simulator plays them: requests checked as each vendor checks
them, answers and delivery reports in each vendor's shape (see ../../../../shared/VENDORS.md;
where the vendors' documents are silent, the choice made here is named in a comment).

Each vendor says how to read its credentials and how it words 401, 429 and 500; `send` and
`balance` answer its documented endpoints. Outages, latency, 429s, failures and dropped
connections are applied around these by the server, the same way for every vendor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, ClassVar
from xml.sax.saxutils import escape

from aiohttp import web

from mifumo.delivery.simulator.dlr import Report

if TYPE_CHECKING:
    from mifumo.delivery.simulator.server import Simulator

DIGITS = re.compile(r"[1-9]\d{7,14}")  # international number without "+" (Beem, Arkesel)
E164 = re.compile(r"\+[1-9]\d{7,14}")  # with "+" (Africa's Talking, Twilio)


def basic_auth(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon and user and password else None


async def json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


class Vendor:
    name: ClassVar[str]
    send_path: ClassVar[str]
    balance_path: ClassVar[str]

    def credentials(self, request: web.Request) -> str | None:
        """The key the account is known by, or None when the request carries none."""
        raise NotImplementedError

    def unauthorized(self) -> web.Response:
        raise NotImplementedError

    def throttled(self, retry_after: int) -> web.Response:
        raise NotImplementedError

    def failed(self) -> web.Response:
        raise NotImplementedError

    async def send(self, sim: Simulator, request: web.Request) -> web.Response:
        raise NotImplementedError

    async def balance(self, sim: Simulator, request: web.Request) -> web.Response:
        raise NotImplementedError


class Beem(Vendor):
    """apisms.beem.africa. Error codes other than 100 and 120 are unconfirmed (VENDORS.md §1):
    101 invalid phone number, 102 insufficient balance, 104 missing parameters (as a
    third-party client of Beem numbers them) and 111 invalid sender id."""

    name = "beem"
    send_path = "/v1/send"
    balance_path = "/public/v1/vendors/balance"

    def credentials(self, request):
        pair = basic_auth(request)
        return pair[0] if pair else None

    def unauthorized(self):
        return web.json_response(
            {"code": 120, "message": "Invalid Authentication Parameters"}, status=401
        )

    def _error(self, status: int, code: int, message: str, **extra: Any) -> web.Response:
        body = {"successful": False, "code": code, "message": message, **extra}
        return web.json_response(body, status=status)

    def throttled(self, retry_after):
        response = self._error(429, 429, "Too Many Requests")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def failed(self):
        return self._error(500, 500, "Internal Server Error")

    async def send(self, sim, request):
        body = await json_object(request)
        if body is None:
            return self._error(400, 104, "Request body must be a JSON object")
        sender, text = body.get("source_addr"), body.get("message")
        recipients = body.get("recipients")
        if not isinstance(sender, str) or not sender.strip():
            return self._error(400, 111, "Invalid Sender Id")
        if not isinstance(text, str) or not text:
            return self._error(400, 104, "Missing required parameter: message")
        if not isinstance(recipients, list) or not recipients:
            return self._error(400, 104, "Missing required parameter: recipients")
        if body.get("encoding", 0) not in (0, 8, "0", "8"):
            return self._error(400, 104, "Invalid encoding")
        if sim.config.no_balance:
            return self._error(400, 102, "Insufficient balance")
        numbers, references, seen, invalid, duplicates = [], [], set(), 0, 0
        for item in recipients:
            number = item.get("dest_addr") if isinstance(item, dict) else None
            number = str(number) if isinstance(number, str | int) else ""
            if not DIGITS.fullmatch(number) or sim.config.is_opted_out(number):
                invalid += 1
            elif number in seen:  # Beem sends a number once per request and counts the rest
                duplicates += 1
            else:
                seen.add(number)
                numbers.append(number)
                references.append(str(item.get("recipient_id", "")))
        counts = {"valid": len(numbers), "invalid": invalid, "duplicates": duplicates}
        if not numbers:
            return self._error(400, 101, "Invalid phone number", **counts)
        _, request_id = sim.record(self.name, numbers, text, sender, references)
        url = sim.callback_url(self.name)
        for number, reference in zip(numbers, references, strict=True) if url else ():
            payload = {"request_id": request_id, "recipient_id": reference, "dest_addr": number}
            payload["Status"] = "DELIVERED" if sim.delivered() else "UNDELIVERED"
            sim.schedule_report(Report(self.name, "POST", url, json=payload))
        body = {"successful": True, "request_id": request_id, "code": 100}
        body["message"] = "Message Submitted Successfully"
        return web.json_response({**body, **counts})

    async def balance(self, sim, request):
        return web.json_response({"data": {"credit_balance": 0 if sim.config.no_balance else 1000}})


class Arkesel(Vendor):
    """sms.arkesel.com, SMS API v2."""

    name = "arkesel"
    send_path = "/api/v2/sms/send"
    balance_path = "/api/v2/clients/balance-details"

    def credentials(self, request):
        return request.headers.get("api-key") or None

    def _error(self, status: int, message: str) -> web.Response:
        return web.json_response({"status": "error", "message": message}, status=status)

    def unauthorized(self):
        return self._error(401, "Invalid API key")

    def throttled(self, retry_after):
        response = self._error(429, "Too Many Attempts.")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def failed(self):
        return self._error(500, "Request failed")

    async def send(self, sim, request):
        body = await json_object(request)
        if body is None:
            return self._error(422, "The given data was invalid.")
        sender, text, recipients = body.get("sender"), body.get("message"), body.get("recipients")
        callback_url, scheduled = body.get("callback_url"), body.get("scheduled_date")
        if not isinstance(sender, str) or not sender:
            return self._error(422, "The sender field is required.")
        if len(sender) > 11:
            return self._error(422, "The sender may not be greater than 11 characters.")
        if not isinstance(text, str) or not text:
            return self._error(422, "The message field is required.")
        if not isinstance(recipients, list) or not recipients:
            return self._error(422, "The recipients field is required.")
        if callback_url is not None and (
            not isinstance(callback_url, str)
            or not callback_url.startswith(("http://", "https://"))
        ):
            return self._error(422, "The callback url format is invalid.")
        if scheduled:
            try:
                datetime.strptime(str(scheduled), "%Y-%m-%d %I:%M %p")
            except ValueError:
                return self._error(422, "The scheduled date does not match the format Y-m-d h:i A.")
        if sim.config.no_balance:
            return self._error(402, "Insufficient balance")
        numbers, invalid = [], []
        for item in recipients:
            number = item if isinstance(item, str) else str(item)
            valid = DIGITS.fullmatch(number) and not sim.config.is_opted_out(number)
            (numbers if valid else invalid).append(number)
        first, _ = sim.record(self.name, numbers, text, sender) if numbers else (0, 0)
        if scheduled:  # Arkesel answers a scheduled send without ids (VENDORS.md §2)
            return web.json_response(
                {"status": "success", "message": "SMS request sent successfully!"}
            )
        url = sim.callback_url(self.name, callback_url)
        data: list[dict[str, Any]] = []
        for position in range(first, first + len(numbers)):
            sms_id = sim.store.provider_id(position)
            data.append({"recipient": numbers[position - first], "id": sms_id})
            if url and not body.get("sandbox"):  # sandbox messages are never delivered
                status = "DELIVERED" if sim.delivered() else "NOT_DELIVERED"
                query = {"sms_id": sms_id, "status": status}
                sim.schedule_report(Report(self.name, "GET", url, query=query))
        if invalid:
            data.append({"invalid numbers": invalid})
        return web.json_response({"status": "success", "data": data})

    async def balance(self, sim, request):
        sms, main = ("0", "GHS 0.00") if sim.config.no_balance else ("2003", "GHS 20.99")
        data = {"sms_balance": sms, "main_balance": main}
        return web.json_response({"status": "success", "data": data})


class AfricasTalking(Vendor):
    """api.africastalking.com. Answers XML unless the client sends Accept: application/json;
    a successful send is HTTP 201 (the vendor's SDKs accept any 2xx)."""

    name = "africastalking"
    send_path = "/version1/messaging"
    balance_path = "/version1/user"
    PRICE = 0.8  # KES per segment, as in the vendor's documented example

    def credentials(self, request):
        return request.headers.get("apiKey") or None

    def _text(self, status: int, message: str) -> web.Response:
        return web.Response(status=status, text=message)

    def unauthorized(self):
        return self._text(401, "The supplied authentication is invalid")

    def throttled(self, retry_after):
        headers = {"Retry-After": str(retry_after)}
        return web.Response(status=429, text="Too Many Requests", headers=headers)

    def failed(self):
        return self._text(500, "Internal Server Error")

    async def send(self, sim, request):
        form = await request.post()
        for field in ("username", "to", "message"):
            if not form.get(field):
                return self._text(400, f"Request is missing required form field '{field}'")
        text, sender = str(form["message"]), str(form.get("from") or "AFRICASTKNG")
        numbers = [n.strip() for n in str(form["to"]).split(",") if n.strip()]
        checked = [(number, self._refusal(number, sim)) for number in numbers]
        accepted = [number for number, refusal in checked if refusal is None]
        position, _ = sim.record(self.name, accepted, text, sender) if accepted else (0, 0)
        url = sim.callback_url(self.name)
        recipients, total = [], 0.0
        for number, refusal in checked:
            if refusal is not None:
                code, status = refusal
                recipients.append(
                    {"statusCode": code, "number": number, "status": status, "cost": "0"}
                    | {"messageId": "None"}
                )
                continue
            message_id = sim.store.provider_id(position)
            cost = self.PRICE * sim.store.segments_of(position)
            total, position = total + cost, position + 1
            recipients.append(
                {"statusCode": 101, "number": number, "status": "Success"}
                | {"cost": f"KES {cost:.4f}", "messageId": message_id}
            )
            if url:
                report = self._report(message_id, number, sim)
                sim.schedule_report(Report(self.name, "POST", url, form=report))
        summary = f"Sent to {len(accepted)}/{len(numbers)} Total Cost: KES {total:.4f}"
        data = {"SMSMessageData": {"Message": summary, "Recipients": recipients}}
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response(data, status=201)
        return web.Response(status=201, text=self._xml(data), content_type="application/xml")

    @staticmethod
    def _refusal(number: str, sim: Simulator) -> tuple[int, str] | None:
        if not E164.fullmatch(number):
            return 403, "InvalidPhoneNumber"
        if sim.config.no_balance:
            return 405, "InsufficientBalance"
        if sim.config.is_opted_out(number):
            return 406, "UserInBlacklist"
        return None

    def _report(self, message_id: str, number: str, sim: Simulator) -> dict[str, str]:
        form = {"id": message_id, "phoneNumber": number, "networkCode": "63902"}
        if sim.delivered():
            form["status"] = "Success"
        else:
            form.update(status="Failed", failureReason="DeliveryFailure")
        return form

    @staticmethod
    def _xml(data: dict[str, Any]) -> str:
        message_data = data["SMSMessageData"]
        recipients = "".join(
            "<Recipient>"
            + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in r.items())
            + "</Recipient>"
            for r in message_data["Recipients"]
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><AfricasTalkingResponse><SMSMessageData>'
            f"<Message>{escape(message_data['Message'])}</Message>"
            f"<Recipients>{recipients}</Recipients></SMSMessageData></AfricasTalkingResponse>"
        )

    async def balance(self, sim, request):
        if not request.query.get("username"):
            return self._text(400, "Request is missing required query parameter 'username'")
        balance = "KES 0.0000" if sim.config.no_balance else "KES 1785.5000"
        return web.json_response({"UserData": {"balance": balance}})


class Twilio(Vendor):
    """api.twilio.com, 2010-04-01 API: one To per request; status callbacks signed with
    X-Twilio-Signature as Twilio signs them (HMAC-SHA1 of the URL and sorted form fields)."""

    name = "twilio"
    send_path = "/2010-04-01/Accounts/{sid}/Messages.json"
    balance_path = "/2010-04-01/Accounts/{sid}.json"
    MAX_BODY = 1600

    def credentials(self, request):
        pair = basic_auth(request)
        if pair is None or pair[0] != request.match_info["sid"]:
            return None
        return pair[0]

    def _error(self, status: int, code: int, message: str) -> web.Response:
        more_info = f"https://www.twilio.com/docs/errors/{code}"
        body = {"code": code, "message": message, "more_info": more_info, "status": status}
        return web.json_response(body, status=status)

    def unauthorized(self):
        return self._error(401, 20003, "Authenticate")

    def throttled(self, retry_after):
        response = self._error(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def failed(self):
        return self._error(500, 20500, "Internal Server Error")

    async def send(self, sim, request):
        sid = request.match_info["sid"]
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        sender, service = str(form.get("From", "")), str(form.get("MessagingServiceSid", ""))
        callback = str(form.get("StatusCallback", "")) or None
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return self._error(400, 21602, "Message body is required.")
        if len(body) > self.MAX_BODY:
            return self._error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if callback and not callback.startswith(("http://", "https://")):
            return self._error(400, 21609, "Invalid StatusCallback url")
        if not E164.fullmatch(to):
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if sim.config.is_opted_out(to):
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        if sim.config.no_balance:
            # Twilio documents no balance error for sends; a suspended account is the nearest.
            return self._error(401, 20005, "Account not active")
        position, _ = sim.record(self.name, [to], body, sender or service)
        message_sid = sim.store.provider_id(position)
        url = sim.callback_url(self.name, callback)
        if url:
            token = (basic_auth(request) or ("", ""))[1]
            report = self._report(sid, message_sid, to, sender, sim.delivered())
            signed = {"X-Twilio-Signature": signature(token, url, report)}
            sim.schedule_report(Report(self.name, "POST", url, form=report, headers=signed))
        now = format_datetime(datetime.now(UTC))
        uri = f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json"
        return web.json_response(
            {
                "sid": message_sid,
                "account_sid": sid,
                "to": to,
                "from": sender or None,
                "messaging_service_sid": service or None,
                "body": body,
                "status": "accepted" if service else "queued",
                "num_segments": str(sim.store.segments_of(position)),
                "num_media": "0",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "price": None,
                "price_unit": "USD",
                "error_code": None,
                "error_message": None,
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "uri": uri,
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            },
            status=201,
        )

    @staticmethod
    def _report(
        sid: str, message_sid: str, to: str, sender: str, delivered: bool
    ) -> dict[str, str]:
        status = "delivered" if delivered else "undelivered"
        form = {
            "AccountSid": sid,
            "ApiVersion": "2010-04-01",
            "From": sender,
            "MessageSid": message_sid,
            "MessageStatus": status,
            "SmsSid": message_sid,
            "SmsStatus": status,
            "To": to,
        }
        if not delivered:
            form["ErrorCode"] = "30003"  # unreachable handset
        return form

    async def balance(self, sim, request):
        sid = request.match_info["sid"]
        return web.json_response(
            {
                "sid": sid,
                "friendly_name": "Simulated account",
                "status": "suspended" if sim.config.no_balance else "active",
                "type": "Full",
                "uri": f"/2010-04-01/Accounts/{sid}.json",
            }
        )


def signature(auth_token: str, url: str, form: dict[str, str]) -> str:
    """Twilio's request signature: base64(HMAC-SHA1(token, url + key1value1key2value2...))."""
    payload = url + "".join(f"{key}{form[key]}" for key in sorted(form))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


VENDOR_CLASSES: tuple[type[Vendor], ...] = (Beem, Arkesel, AfricasTalking, Twilio)
