"""Per-user request limits that stay exact under concurrency.

DRF's stock throttles read a history list from the cache, decide, then write it back: twenty
simultaneous requests all read the same history and all pass. Here the check and the record
are one Lua script in Redis, so the tenth request in a window is the last one let through,
however many arrive at once. The window slides (a log of request times), and Redis's clock is
the only clock, so web servers on different hosts agree.
"""

from __future__ import annotations

import uuid

import redis
from django.conf import settings
from rest_framework import exceptions, throttling

from mifumo.counters import shared_redis
from mifumo.env import parse_rate

# KEYS[1]: the log of accepted requests (a sorted set scored by time in ms).
# ARGV: limit, window in ms, a unique member for this request.
# Returns {1, 0} when accepted, {0, ms until a slot frees} when refused.
_SLIDING_LOG = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "A required service is unavailable; try again shortly."
    default_code = "service_unavailable"


class SlidingWindowThrottle(throttling.BaseThrottle):
    """Subclasses name a `scope` whose rate is in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]."""

    scope: str = ""
    _script = None

    def __init__(self) -> None:
        rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]
        self.limit, self.period = parse_rate(rate)
        self.wait_seconds: float | None = None

    def identity(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"addr:{self.get_ident(request)}"

    def allow_request(self, request, view) -> bool:
        key = f"mifumo:throttle:{self.scope}:{self.identity(request, view)}"
        script = self._registered_script()
        try:
            accepted, wait_ms = script(
                keys=[key], args=[self.limit, self.period * 1000, uuid.uuid4().hex]
            )
        except redis.RedisError:
            # Failing open would silently drop the spec's limits; failing closed says why.
            raise ServiceUnavailable() from None
        self.wait_seconds = int(wait_ms) / 1000
        return bool(accepted)

    def wait(self) -> float | None:
        return self.wait_seconds

    @classmethod
    def _registered_script(cls):
        if SlidingWindowThrottle._script is None:
            SlidingWindowThrottle._script = shared_redis().register_script(_SLIDING_LOG)
        return SlidingWindowThrottle._script


class ContactsBulkThrottle(SlidingWindowThrottle):
    scope = "contacts_bulk"


class SmsBulkThrottle(SlidingWindowThrottle):
    scope = "sms_bulk"


class AuthThrottle(SlidingWindowThrottle):
    """Per client address, for sign-up and login."""

    scope = "auth"

    def identity(self, request, view) -> str:
        return f"addr:{self.get_ident(request)}"
