from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from mifumo.tenancy.tasks import flush_expired_tokens
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.integration


def test_a_real_worker_runs_a_task_queued_on_commit(worker, alice):
    long_ago = timezone.now() - timedelta(days=30)
    with transaction.atomic():
        expired = OutstandingToken.objects.create(
            user=alice, jti="expired-jti", token="x", created_at=long_ago, expires_at=long_ago
        )
        live = OutstandingToken.objects.create(
            user=alice,
            jti="live-jti",
            token="y",
            created_at=long_ago,
            expires_at=timezone.now() + timedelta(days=1),
        )
        transaction.on_commit(flush_expired_tokens.delay)

    wait_until(
        lambda: not OutstandingToken.objects.filter(pk=expired.pk).exists(),
        30,
        "the worker never flushed the expired token",
    )
    assert OutstandingToken.objects.filter(pk=live.pk).exists()
