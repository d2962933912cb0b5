"""Prometheus metrics, served at /metrics in the text format by prometheus-client.

With PROMETHEUS_MULTIPROC_DIR set (`mifumo serve`, `web` and `worker` set it), every process
writes its values to files there and /metrics adds up all of them, so the counts are right with
several gunicorn workers and Celery prefork children. Queue depth is read when scraped.

Label values are bounded: routes are URL patterns (never raw paths), providers are vendor
names, error codes come from the vendors' tables.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
from collections import Counter as Tally
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

MESSAGES = Counter(
    "mifumo_messages_total",
    "Messages by the status the engine recorded for them, and provider.",
    ["status", "provider"],
)
VENDOR_LATENCY = Histogram(
    "mifumo_vendor_request_seconds",
    "Time of one HTTP request to an SMS vendor.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
VENDOR_ERRORS = Counter(
    "mifumo_vendor_errors_total",
    "Failed vendor requests, by the vendor's error code (or http_<status>, timeout).",
    ["provider", "code"],
)
RATE_LIMIT_WAIT = Histogram(
    "mifumo_rate_limit_wait_seconds",
    "How long a send waited for its provider account's rate limiter.",
    buckets=(0, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30),
)
IMPORT_ROWS = Counter(
    "mifumo_import_rows_total",
    "Contact rows imported; rate(mifumo_import_rows_total[1m]) is rows per second.",
)
IMPORT_SECONDS = Counter(
    "mifumo_import_seconds_total",
    "Time spent importing those rows (rows_total / seconds_total = rows per second).",
)
HTTP_REQUESTS = Counter(
    "mifumo_http_requests_total",
    "HTTP requests by route (the URL pattern) and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "mifumo_http_request_seconds",
    "Time to answer an HTTP request, by route.",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def count_messages(provider: str, statuses: Iterable[str]) -> None:
    """Messages the engine recorded an outcome for ("retry": handed back for a later try)."""
    for status, count in Tally(statuses).items():
        MESSAGES.labels(status, provider).inc(count)


def vendor_request(provider: str, seconds: float, error=None, *, messages: int = 0) -> None:
    """One request to a vendor; with `error` (a ProviderError), what became of its messages."""
    VENDOR_LATENCY.labels(provider).observe(seconds)
    if error is None:
        return
    from mifumo.delivery.providers.base import ErrorKind

    VENDOR_ERRORS.labels(provider, error.code or error.kind).inc()
    status = {ErrorKind.UNKNOWN: "unknown", ErrorKind.PERMANENT: "failed"}.get(error.kind, "retry")
    count_messages(provider, [status] * messages)


_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_of(request) -> str:
    """The URL pattern that served the request, readable: /api/messaging/contacts/<pk>/."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "unmatched"  # 404s: their paths are anyone's choice, so not a label
    return "/" + _REGEX_GROUP.sub(r"<\1>", match.route).replace("^", "").replace("$", "")


def observe_http(request, status: int, seconds: float) -> None:
    route = route_of(request)
    HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
    HTTP_LATENCY.labels(route).observe(seconds)


class QueueDepthCollector:
    """Read at scrape time: tasks waiting in the broker's queue and messages waiting to be
    sent in the database. Both are facts of the shared stores, not of one process."""

    def collect(self):
        broker = GaugeMetricFamily(
            "mifumo_queue_depth", "Tasks waiting in the Celery queue.", labels=["queue"]
        )
        try:
            from mifumo.counters import shared_redis

            broker.add_metric(["celery"], shared_redis().llen("celery"))
        except Exception:  # a broker other than Redis, or Redis down: no sample, no 500
            logger.warning("Could not read the broker's queue depth", exc_info=True)
        yield broker
        waiting = GaugeMetricFamily(
            "mifumo_messages_waiting",
            "Messages queued for sending, or being sent, by status.",
            labels=["status"],
        )
        from django.db import DatabaseError

        from mifumo.delivery.models import CAMPAIGN_FINISHED, Campaign, Message, MessageStatus

        try:
            # Neither count reads the messages table: queued messages are counted campaign by
            # campaign (the unfinished ones, through message_claim), those being sent from the
            # partial index on status='sending'.
            unfinished = Campaign.objects.exclude(status__in=CAMPAIGN_FINISHED).values("pk")
            queued = Message.objects.filter(campaign__in=unfinished, status=MessageStatus.QUEUED)
            waiting.add_metric([MessageStatus.QUEUED], queued.count())
            sending = Message.objects.filter(status=MessageStatus.SENDING)
            waiting.add_metric([MessageStatus.SENDING], sending.count())
        except DatabaseError:
            logger.warning("Could not count the waiting messages", exc_info=True)
        yield waiting


class _ThisProcess:
    """This process's metrics, when there is no multiprocess directory (tests, `manage`)."""

    def collect(self):
        return REGISTRY.collect()


def exposition(accept: str = "") -> tuple[bytes, str]:
    """Every process's metrics (or this process's, without a multiprocess directory) and the
    queue depths, in the format the scraper asked for; the body and its content type."""
    registry = CollectorRegistry()
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    if directory and os.path.isdir(directory):
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueDepthCollector())
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    if not settings.METRICS_LOCAL_ONLY:
        return True
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_http_methods(["GET", "HEAD"])
def metrics_view(request):
    """GET /metrics: Prometheus' text format. With MIFUMO_METRICS_TOKEN set, only for
    `Authorization: Bearer <token>`; otherwise only for local addresses unless
    MIFUMO_METRICS_LOCAL_ONLY=false."""
    if not _allowed(request):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    body, content_type = exposition(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(body, content_type=content_type)
