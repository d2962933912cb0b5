"""The simulator's knobs: set by `mifumo simulator`'s options, changed at run time through
POST /_simulator/config."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class SimulatorConfig:
    latency_ms: float = 0.0  # added before every vendor answer
    failure_rate: float = 0.0  # share of send requests answered 500 (nothing recorded)
    rate_429: float = 0.0  # share of send requests answered 429 with Retry-After
    retry_after: int = 1  # seconds, in the Retry-After header of 429s
    # Share of send requests recorded, then the connection is closed without an answer: the
    # client cannot know whether the messages left ("the connection broke after sending").
    drop_rate: float = 0.0
    dlr_delay_ms: float = 500.0
    dlr_failure_rate: float = 0.0  # share of delivery reports that say "failed"
    # Where delivery reports go when the vendor takes no per-request URL (Beem, Africa's
    # Talking) or the request named none. "{vendor}" is replaced by beem, arkesel,
    # africastalking or twilio, so one template reaches /api/messaging/webhooks/<provider>/.
    callback_url: str = ""
    down_until: float = 0.0  # time.time() until which every vendor endpoint answers 503
    # Accepted credentials (Beem api_key, Arkesel api-key, Africa's Talking apiKey, Twilio
    # AccountSid); empty: any non-empty credentials are accepted.
    api_keys: list[str] = field(default_factory=list)
    # Recipients the vendor refuses as unsubscribed/blacklisted (Twilio 21610, AT 406; Beem
    # and Arkesel count them as invalid numbers). Written as received, "+" or not.
    opted_out: list[str] = field(default_factory=list)
    no_balance: bool = False  # answer sends with each vendor's insufficient-balance error

    _RATES = ("failure_rate", "rate_429", "drop_rate", "dlr_failure_rate")
    _NON_NEGATIVE = ("latency_ms", "retry_after", "dlr_delay_ms")

    def __post_init__(self) -> None:
        self.validate()
        self._opted_out_digits = frozenset(number.lstrip("+") for number in self.opted_out)

    def validate(self) -> None:
        for name in self._RATES:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        for name in self._NON_NEGATIVE:
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.callback_url and not self.callback_url.startswith(("http://", "https://")):
            raise ValueError(f"callback_url must be an http(s) URL, got {self.callback_url!r}")
        for name in ("api_keys", "opted_out"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of strings")

    def is_down(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.down_until

    def is_opted_out(self, number: str) -> bool:
        return number.lstrip("+") in self._opted_out_digits

    def accepts_key(self, key: str) -> bool:
        return bool(key) and (not self.api_keys or key in self.api_keys)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a JSON object of changes. `down: true|false` toggles an outage without end or
        ends it; `down_for: seconds` starts one that ends by itself."""
        known = {f.name for f in fields(self)} - {"down_until"}
        unknown = set(changes) - known - {"down", "down_for"}
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}; known: {sorted(known)}")
        candidate = SimulatorConfig(**{**self.as_dict(internal=True), **_without_outage(changes)})
        if "down" in changes:
            if not isinstance(changes["down"], bool):
                raise ValueError("down must be true or false")
            candidate.down_until = float("inf") if changes["down"] else 0.0
        if "down_for" in changes:
            seconds = changes["down_for"]
            if not isinstance(seconds, int | float) or seconds < 0:
                raise ValueError("down_for must be a number of seconds >= 0")
            candidate.down_until = time.time() + seconds
        self.__dict__.update(candidate.__dict__)

    def as_dict(self, *, internal: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not internal:
            data["down"] = self.is_down()
            remaining = self.down_until - time.time()
            data["down_until"] = None if self.down_until in (0.0, float("inf")) else self.down_until
            data["down_remaining_seconds"] = (
                None if not data["down"] or self.down_until == float("inf") else remaining
            )
        return data


def _without_outage(changes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in changes.items() if key not in {"down", "down_for"}}
