"""The scale-out commands: `mifumo web` and `mifumo scheduler` as separate processes on the
test run's database and Redis (PostgreSQL + Redis in CI's second run)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import (
    MIFUMO,
    free_port,
    scale_out_env,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_mifumo_web_serves_the_api_on_the_shared_database(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_process(
        [*MIFUMO, "web", "--port", str(port), "--workers", "1"],
        tmp_path / "web.log",
        scale_out_env(),
    )
    try:
        wait_until(lambda: _healthy(base) or web.poll() is not None, 30, "web never became healthy")
        assert web.poll() is None, (tmp_path / "web.log").read_text()
        registered = httpx.post(
            f"{base}/api/auth/register/",
            json={
                "organization": "Scale Out Ltd",
                "name": "Amani",
                "email": "amani@scale.example",
                "password": "a long passphrase for amani",
            },
            timeout=10,
        )
        assert registered.status_code == 201, registered.text
        me = httpx.get(
            f"{base}/api/auth/me/",
            headers={"Authorization": f"Bearer {registered.json()['access']}"},
            timeout=10,
        )
        assert me.json()["user"]["email"] == "amani@scale.example"
    finally:
        stop_process(web)

    from mifumo.tenancy.models import User

    assert User.objects.filter(email="amani@scale.example").exists()


def test_mifumo_scheduler_starts_beat_with_the_schedule(tmp_path):
    log_path = tmp_path / "scheduler.log"
    scheduler = start_process([*MIFUMO, "scheduler"], log_path, scale_out_env())
    try:
        wait_until(
            lambda: "beat: Starting" in log_path.read_text() or scheduler.poll() is not None,
            30,
            "beat did not start",
        )
        assert scheduler.poll() is None, log_path.read_text()
    finally:
        stop_process(scheduler)


def test_scale_out_commands_refuse_to_start_without_their_settings(tmp_path):
    env = scale_out_env()
    del env["DATABASE_URL"]
    web = start_process([*MIFUMO, "web", "--port", str(free_port())], tmp_path / "web.log", env)
    assert web.wait(timeout=30) != 0
    assert "DATABASE_URL must be set" in (tmp_path / "web.log").read_text()
