"""Idempotency-Key: a client that retries a bulk send after a timeout must not text 10,000
parents twice.

The first successful answer to a key is stored in the same transaction as the work it did. A
retry with the same key and the same body gets that answer again (`Idempotent-Replayed:
true`) and sends nothing; the same key with another body is a 409. Two requests with one key
at the same moment: on PostgreSQL the second one's insert of the record waits for the first
transaction and then fails on the unique constraint, which rolls back everything the second
did (dispatch is queued only on commit, so nothing of it was sent) and it answers with the
first one's response; SQLite runs one writing transaction at a time, so the second finds the
record at its start. Errors are not stored: a request refused for a bad field may be retried
with the same key once fixed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.timezone import now
from rest_framework.response import Response

from mifumo.messaging.models import IdempotencyRecord
from mifumo.tenancy.errors import ApplicationError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def fingerprint(*parts: object) -> str:
    """A hash of what the request asks for, independent of JSON key order and spacing."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            digest.update(part)
        else:
            digest.update(
                json.dumps(part, sort_keys=True, separators=(",", ":"), default=str).encode()
            )
        digest.update(b"\x00")
    return digest.hexdigest()


def _key_of(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ApplicationError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            error_code="invalid_idempotency_key",
            details={HEADER: "e.g. a UUID generated once per logical send"},
        )
    return key


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise ApplicationError(
            f"This {HEADER} was already used for a different request.",
            error_code="idempotency_key_reused",
            status_code=409,
            details={HEADER: "Use a new key for a new send."},
        )
    return Response(
        record.response, status=record.status_code, headers={"Idempotent-Replayed": "true"}
    )


def run_once(
    request,
    *,
    endpoint: str,
    fingerprint_of: Callable[[], str],
    handler: Callable[[], Response],
):
    """Answer with handler() — or, for a key seen before, with the answer it gave then.
    `fingerprint_of` is called only when the request has a key (hashing 10,000 recipients
    costs tens of milliseconds)."""
    key = _key_of(request)
    if key is None:
        with transaction.atomic():
            return handler()
    request_hash = fingerprint_of()
    records = IdempotencyRecord.objects.filter(tenant=request.tenant, endpoint=endpoint, key=key)
    expired = now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    records.filter(created_at__lt=expired).delete()
    existing = records.first()
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        with transaction.atomic():
            response = handler()
            if 200 <= response.status_code < 300:
                IdempotencyRecord.objects.create(
                    tenant=request.tenant,
                    endpoint=endpoint,
                    key=key,
                    request_hash=request_hash,
                    status_code=response.status_code,
                    response=response.data,
                )
    except IntegrityError:
        # Another request with this key committed first; all of this one was rolled back.
        existing = records.first()
        if existing is None:
            raise
        return _replay(existing, request_hash)
    return response


def idempotency_records_expire() -> int:
    cutoff = now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
