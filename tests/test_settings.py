"""Settings come from the environment and fail loudly, naming the variable at fault."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from mifumo.embedded import embedded_secret_key
from mifumo.env import ConfigurationError, env_bool, env_int, parse_rate

STRONG_KEY = "k" * 40


def _load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "MIFUMO_MODE"}
    }
    clean.update(MIFUMO_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="mifumo.settings", **env)
    code = "import django; django.setup(); from django.conf import settings; print(settings.MODE)"
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60
    )


def test_it_runs_embedded_with_no_environment_at_all(tmp_path):
    result = _load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "embedded"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_it_refuses_to_start_scale_out_without_a_required_setting(tmp_path, missing):
    env = {
        "MIFUMO_MODE": "scale-out",
        "SECRET_KEY": STRONG_KEY,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mifumo",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    del env[missing]
    result = _load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert f"{missing} must be set when MIFUMO_MODE=scale-out" in result.stderr


def test_it_refuses_a_short_secret_key(tmp_path):
    result = _load_settings(tmp_path, SECRET_KEY="short")
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 32 characters" in result.stderr


def test_it_refuses_an_unknown_mode(tmp_path):
    result = _load_settings(tmp_path, MIFUMO_MODE="cluster")
    assert result.returncode != 0
    assert "MIFUMO_MODE must be" in result.stderr


def test_it_names_a_malformed_rate(tmp_path):
    result = _load_settings(tmp_path, MIFUMO_RATE_SMS_BULK="five a minute")
    assert result.returncode != 0
    assert "MIFUMO_RATE_SMS_BULK" in result.stderr


def test_it_keeps_the_generated_secret_key_private_and_stable(tmp_path):
    first = embedded_secret_key(tmp_path)
    assert embedded_secret_key(tmp_path) == first
    assert len(first) >= 50
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_env_bool_rejects_values_that_are_not_booleans(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ConfigurationError, match="SOME_FLAG"):
        env_bool("SOME_FLAG")


def test_env_int_enforces_its_minimum(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "0")
    with pytest.raises(ConfigurationError, match="at least 1"):
        env_int("SOME_NUMBER", 5, minimum=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100/m", (100, 60)), ("10/min", (10, 60)), ("5/10s", (5, 10)), ("1000/h", (1000, 3600))],
)
def test_parse_rate_reads_the_usual_shapes(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "100", "0/m", "x/m", "10/fortnight"])
def test_parse_rate_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_rate(text)


def test_celery_settings_let_no_accepted_task_be_lost(settings):
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    # A task redelivered while still running would run twice: the timeout outlasts any task.
    assert options["visibility_timeout"] > settings.CELERY_TASK_TIME_LIMIT
    assert options["visibility_timeout"] > settings.CELERY_MAX_COUNTDOWN
    # ...and a dead worker's tasks come back within a minute.
    assert options["visibility_timeout"] + options["unacked_restore_interval"] <= 60
