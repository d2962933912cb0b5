from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from mifumo.counters import shared_redis
from mifumo.tenancy.models import Role
from tests.factories import client_for, create_tenant, create_user
from tests.faults.conftest import RECOVERY


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Every test starts with empty request logs (only Mifumo's keys: the broker may share the
    Redis)."""
    client = shared_redis()
    keys = list(client.scan_iter(match="mifumo:throttle:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_prices():
    """Every test reads SMS prices from its own database: the per-process price cache
    (mifumo/messaging/pricing.py) would otherwise carry one test's prices into the next."""
    from mifumo.messaging.pricing import forget_prices

    forget_prices()
    yield
    forget_prices()


@pytest.fixture
def unreachable_redis(settings, tmp_path):
    """Point the shared-counter Redis at a socket nobody listens on."""
    from mifumo.tenancy.throttles import SlidingWindowThrottle

    def reset():
        shared_redis.cache_clear()
        SlidingWindowThrottle._script = None

    settings.REDIS_URL = f"unix://{tmp_path / 'nobody-here.sock'}"
    reset()
    yield
    reset()


@pytest.fixture
def tenant_a(db):
    return create_tenant("Shule ya Msingi A")


@pytest.fixture
def tenant_b(db):
    return create_tenant("Other Org B", default_region="KE", timezone="Africa/Nairobi")


@pytest.fixture
def alice(tenant_a):
    """Admin of tenant A."""
    return create_user(tenant_a, role=Role.ADMIN, email="alice@a.example", name="Alice")


@pytest.fixture
def bob(tenant_a):
    """Member of tenant A."""
    return create_user(tenant_a, role=Role.MEMBER, email="bob@a.example", name="Bob")


@pytest.fixture
def charlie(tenant_b):
    """Admin of tenant B: the outsider in every tenant-A test."""
    return create_user(tenant_b, role=Role.ADMIN, email="charlie@b.example", name="Charlie")


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def alice_client(alice):
    return client_for(alice)


@pytest.fixture
def bob_client(bob):
    return client_for(bob)


@pytest.fixture
def charlie_client(charlie):
    return client_for(charlie)


# The fault tests' recovery figures (tests/faults/conftest.py), printed at the end of the run.
# Here rather than beside them: an xdist controller collects nothing, so it loads this
# conftest only, and the figures arrive with the workers' reports.
def pytest_terminal_summary(terminalreporter) -> None:
    rows = [
        value
        for report in terminalreporter.stats.get("passed", [])
        + terminalreporter.stats.get("failed", [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == RECOVERY
    ]
    if not rows:
        return
    terminalreporter.section("time to recover from each fault")
    terminalreporter.write_line(
        "recovered: seconds from the end of the fault until the vendor received messages at "
        "half the rate of before; settled: until no message was queued or sending"
    )
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in {"fault", "recovered", "settled"}}
        terminalreporter.write_line(
            f"  {row['fault']:<44} recovered {_seconds(row.get('recovered'))}"
            f"  settled {_seconds(row.get('settled'))}  {json.dumps(extra)}"
        )


def _seconds(value) -> str:
    return f"{value:6.1f}s" if isinstance(value, int | float) else f"{value!s:>7}"
