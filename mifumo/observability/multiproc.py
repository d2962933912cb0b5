"""prometheus-client's multiprocess directory for `mifumo serve`, `web` and `worker`.

Each process (every gunicorn worker, every Celery prefork child) writes its counters to files
named by its pid in PROMETHEUS_MULTIPROC_DIR; /metrics adds them up. The variable must be set
before prometheus_client is imported, so the CLI calls this first. Nothing here imports it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare(data_dir: Path, *, clear_all: bool) -> Path:
    """Point PROMETHEUS_MULTIPROC_DIR at <data dir>/metrics unless the operator set it, and
    clear it: every file (`serve`, which starts all processes at once) or only the files of
    processes that are gone (`web` and `worker`, which may share the directory on one host)."""
    configured = os.environ.get(ENV)
    directory = Path(configured) if configured else data_dir / "metrics"
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(directory)
    if configured:
        return directory  # the operator's directory: theirs to clear
    for path in directory.glob("*.db"):
        match = _PID.search(path.name)
        if clear_all or (match and not _alive(int(match.group(1)))):
            path.unlink(missing_ok=True)
    return directory
