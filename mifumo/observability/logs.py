"""Log records carry the request id (and the tenant of the request, when known); LOG_FORMAT
chooses readable text (the default) or one JSON object a line for a log collector.

The redaction filter is the last guard, not the first: code never logs credentials, API keys
or message bodies, and tests/observability/test_logs.py greps a whole send's logs for them.
What it catches is what a third-party library might print (an Authorization header in a
debugging line, a URL with an api_key= parameter)."""

from __future__ import annotations

import logging
import re

from mifumo.observability.context import current_request, request_id

_SECRETS = [
    # Mifumo's own API keys: mif_<lookup>_<secret>.
    (re.compile(r"\bmif_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}"), "mif_[redacted]"),
    # Authorization headers, with or without their scheme.
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization[\"':=\s]+)(?:(bearer|basic|api-key|token)\s+)?"
            r"[^\s\"',}]+"
        ),
        r"\1\2 [redacted]",
    ),
    # A scheme and its credential anywhere else ("Bearer eyJ...").
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    # key=value pairs named like credentials, in query strings, form bodies, headers and reprs.
    (
        re.compile(
            r"(?i)\b(api[_-]?key|secret(?:_key)?|password|token|auth_token|access|refresh)"
            r"([\"':= ]+)[^\s\"'&,}]+"
        ),
        r"\1\2[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Adds `request_id` and `tenant_id` to every record, and redacts what looks secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        request = current_request.get()
        tenant = getattr(request, "tenant", None) if request is not None else None
        record.tenant_id = str(tenant.pk) if tenant is not None else "-"
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(tenant_id)s %(message)s"


def logging_config(log_format: str, level: str) -> dict:
    """Django's LOGGING for this format ("text" or "json")."""
    if log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "mifumo.observability.logs.ContextFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # httpx logs every request URL at INFO: noise, and callback URLs carry secrets.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
