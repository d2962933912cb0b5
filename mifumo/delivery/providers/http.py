"""HTTP for adapters: one pooled httpx client per process, and the mapping of transport
failures onto the engine's error kinds.

What matters is whether the vendor may have received the request. A refused connection or a
connect timeout means it did not: safe to retry. A read timeout or a connection dropped while
waiting for the answer means it may have: the messages become `unknown`, never resent blindly.
"""

from __future__ import annotations

import email.utils
import threading
import time
from typing import Any

import httpx

from mifumo.delivery.providers.base import ErrorKind, ProviderError

_local = threading.local()


def client() -> httpx.Client:
    # One client per thread (httpx clients are not shared across prefork children safely).
    if getattr(_local, "client", None) is None:
        _local.client = httpx.Client(
            timeout=httpx.Timeout(15.0, connect=5.0),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": "Mifumo/0.1"},
        )
    return _local.client


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After in seconds ("120") or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - (now if now is not None else time.time()))


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send one request; transport failures become ProviderError of the right kind. HTTP
    statuses are left to the adapter, except 429 and 5xx which mean the same for every vendor."""
    try:
        response = client().request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise ProviderError(
            f"could not connect: {type(error).__name__}", code="connect", kind=ErrorKind.TRANSIENT
        ) from error
    except httpx.WriteTimeout as error:
        # The body was not fully written: the vendor cannot have acted on it.
        raise ProviderError("timed out sending the request", code="write_timeout") from error
    except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as error:
        raise ProviderError(
            f"no answer after the request was sent: {type(error).__name__}",
            code="no_answer",
            kind=ErrorKind.UNKNOWN,
        ) from error
    except httpx.HTTPError as error:
        raise ProviderError(f"HTTP error: {error}", code="http_error") from error
    if response.status_code == 429:
        raise ProviderError(
            "the vendor is rate limiting us (429)",
            code="429",
            kind=ErrorKind.TRANSIENT,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if response.status_code >= 500:
        raise ProviderError(
            f"the vendor failed with HTTP {response.status_code}",
            code=str(response.status_code),
            kind=ErrorKind.TRANSIENT,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return response


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(
            f"the vendor answered HTTP {response.status_code} with a body that is not JSON",
            code=f"http_{response.status_code}",
            kind=ErrorKind.UNKNOWN if response.status_code < 300 else ErrorKind.TRANSIENT,
        ) from None
