"""The contract between the delivery engine and a vendor adapter.

An adapter turns a batch of outgoing messages into the vendor's documented HTTP requests and
the vendor's answers into per-recipient results. It only returns or raises; the engine records
outcomes, retries, pauses campaigns and applies rate limits (hc's transports work the same way).

    adapter = get_provider("arkesel")(account)
    results = adapter.send(batch)                  # -> list[SendResult], one per message
    reports = adapter.parse_delivery_report(request)  # -> list[DeliveryReport]

Errors:
- a whole request that failed raises ProviderError(message, code=..., kind=...):
    TRANSIENT  nothing was accepted and trying again later may work (timeout before sending,
               connection refused, 429, 5xx); `retry_after` in seconds when the vendor said so;
    ACCOUNT    the account cannot send at all (bad credentials, no balance, suspended): the
               engine pauses the campaign and probes instead of failing every message;
    PERMANENT  this request will never be accepted (e.g. a malformed sender id);
    UNKNOWN    the request may have been accepted (the connection broke after it was sent): the
               engine marks the messages `unknown` and never resends them automatically.
- a request the vendor accepted for some recipients and refused for others returns a
  SendResult per message with `accepted=False` and the vendor's code and reason on the refused.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar


class ErrorKind(enum.StrEnum):
    TRANSIENT = "transient"
    ACCOUNT = "account"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


class ProviderError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        kind: ErrorKind = ErrorKind.TRANSIENT,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = str(code)
        self.kind = kind
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return self.kind == ErrorKind.PERMANENT


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one recipient, as the engine hands it to an adapter."""

    message_id: str  # Mifumo's id: adapters pass it to vendors that echo a reference back
    to: str  # E.164 for SMS, an address for e-mail
    body: str
    sender: str  # sender id (SMS) or From address (e-mail)
    subject: str = ""
    segments: int = 1
    encoding: str = "gsm7"  # gsm7 | ucs2


@dataclass(frozen=True)
class SendResult:
    message_id: str
    accepted: bool
    provider_message_id: str = ""
    error_code: str = ""
    error_message: str = ""
    # When a refusal is about the recipient, not the message (Twilio 21610: they sent STOP).
    opted_out: bool = False
    # A refusal that may succeed later for this one recipient (e.g. a DND window).
    retryable: bool = False
    cost: Decimal | None = None
    # Adapters that send one request per message (Twilio) and lose the connection after this
    # message's request left: it may have been accepted, so record it `unknown`, never resend.
    # (Raising ProviderError(kind=UNKNOWN) instead would also mark the batch's other messages,
    # already accepted or never sent, as unknown.)
    unknown: bool = False


class DeliveryStatus(enum.StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    PENDING = "pending"  # an intermediate report (submitted, buffered): no state change


@dataclass(frozen=True)
class DeliveryReport:
    provider_message_id: str
    status: DeliveryStatus
    error_code: str = ""
    error_message: str = ""
    occurred_at: datetime | None = None
    raw_status: str = ""


@dataclass
class AccountConfig:
    """Credentials and settings of one provider account (from env or a ProviderAccount row)."""

    provider: str
    base_url: str
    api_key: str = ""
    secret_key: str = ""
    username: str = ""
    sender_id: str = ""
    rate_limit: str = ""  # e.g. "100/m"; empty means no limit
    webhook_secret: str = ""
    callback_url: str = ""  # where the vendor should post delivery reports, when per-request
    extra: dict = field(default_factory=dict)


class Provider:
    """Base class of adapters. Subclasses set `name`, `channel` and implement send()."""

    name: ClassVar[str]
    channel: ClassVar[str] = "sms"
    # How many recipients one request may carry with the same text (1: one request each).
    max_recipients_per_request: ClassVar[int] = 1
    # Does the vendor's rate limit count segments (True) or messages?
    rate_counts_segments: ClassVar[bool] = False
    timeout_seconds: ClassVar[float] = 15.0

    def __init__(self, account: AccountConfig) -> None:
        self.account = account

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        raise NotImplementedError

    def parse_delivery_report(self, request) -> list[DeliveryReport]:
        """Read a vendor's delivery-report callback (a Django HttpRequest)."""
        raise NotImplementedError

    def probe(self) -> None:
        """Check the account can send (balance or auth endpoint); raise ProviderError if not.
        Used to resume a paused campaign."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Provider]] = {}


def register(cls: type[Provider]) -> type[Provider]:
    _REGISTRY[cls.name] = cls
    return cls


def get_provider_class(name: str) -> type[Provider]:
    from mifumo.delivery import providers  # noqa: F401 - importing registers the adapters

    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {sorted(_REGISTRY)}") from None


def registered_names() -> list[str]:
    from mifumo.delivery import providers  # noqa: F401

    return sorted(_REGISTRY)
