"""Real processes: `mifumo serve`, Celery workers. These tests prove the parts work together."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float, message: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"{message} (waited {timeout:.0f}s)")


def test_database_url() -> str:
    """A URL for the database the tests run on (pytest-django's test_ database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def scale_out_env(**extra: str) -> dict[str, str]:
    """The environment of a scale-out process that shares this test run's database and Redis."""
    return {
        **os.environ,
        "MIFUMO_MODE": "scale-out",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        **extra,
    }


def start_process(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        env=env,
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


MIFUMO = [sys.executable, "-m", "mifumo.cli"]


def restart_redis() -> None:
    """Restart the Redis the run uses: the private one (append-only file, like `mifumo serve`)
    or the machine's (CI starts it without persistence, so its queues are lost: the database
    is what the engine recovers from)."""
    from urllib.parse import urlsplit

    if settings.REDIS_URL.startswith("unix://"):
        from mifumo import testing

        testing.restart_private_redis()
        return
    url = urlsplit(settings.REDIS_URL)
    host, port = url.hostname or "127.0.0.1", str(url.port or 6379)
    subprocess.run(["redis-cli", "-h", host, "-p", port, "shutdown", "nosave"], check=False)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            host,
            "--port",
            port,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=True,
    )
    wait_until(
        lambda: (
            subprocess.run(
                ["redis-cli", "-h", host, "-p", port, "ping"], capture_output=True
            ).returncode
            == 0
        ),
        30,
        "Redis did not come back",
    )


def restart_postgres(down_seconds: float = 2.0) -> None:
    """Stop the machine's PostgreSQL (fast shutdown: every connection is cut, as in a crash
    of the server), keep it down a moment, start it again, and wait until it answers. This
    test process's own connection dies with it and is replaced."""
    port = str(connection.settings_dict["PORT"] or 5432)
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    version, name = next(
        line.split()[:2] for line in clusters.stdout.splitlines() if line.split()[2] == port
    )
    control = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name]
    subprocess.run([*control, "stop", "--mode", "fast"], check=True)
    time.sleep(down_seconds)
    subprocess.run([*control, "start"], check=True)
    connection.close()
    wait_until(
        lambda: (
            subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", port], capture_output=True
            ).returncode
            == 0
        ),
        30,
        "PostgreSQL did not come back",
    )


@pytest.fixture
def worker(transactional_db, tmp_path) -> Iterator[subprocess.Popen]:
    """A real Celery worker (`mifumo worker`) on the suite's broker, sharing the test database."""
    log_path = tmp_path / "worker.log"
    process = start_process(
        [*MIFUMO, "worker", "--concurrency", "1", "--pool", "solo", "--without-gossip"],
        log_path,
        scale_out_env(),
    )
    try:
        wait_until(
            lambda: "ready." in log_path.read_text() or process.poll() is not None,
            60,
            "the worker did not start",
        )
        assert process.poll() is None, log_path.read_text()
        yield process
    finally:
        stop_process(process)
