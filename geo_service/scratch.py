"""Temporary folders for a request's files (an upload being checked, a roster, an export):
named geo-<kind>-<pid>-..., so a worker that was killed mid-request leaves folders that
say whose they were.

`sweep` removes the folders whose worker is gone (at start-up: a killed server's), and
any older than SCRATCH_MAX_AGE_MINUTES whoever made them (a pid reused since, folders from
before they carried a pid). A live worker's folder younger than that is never touched:
several workers share the temporary directory.
"""

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo_service.settings import get_settings

KINDS = ("upload", "roster", "export", "report")
_NAME = re.compile(rf"geo-(?:{'|'.join(KINDS)})-(?:(\d+)-)?.+")
# Sweeps while the service runs, at most this often per worker.
_EVERY_SECONDS = 600
_last_sweep: float | None = None


@contextmanager
def folder(kind: str) -> Iterator[Path]:
    """A folder of this worker's, removed when the block ends (however it ends)."""
    _sweep_now_and_then()
    with tempfile.TemporaryDirectory(prefix=f"geo-{kind}-{os.getpid()}-") as path:
        yield Path(path)


def sweep(now: float | None = None) -> list[Path]:
    """Remove what dead workers left and whatever is older than the configured age."""
    now = time.time() if now is None else now
    oldest = now - get_settings().scratch_max_age_minutes * 60
    removed = []
    for path in Path(tempfile.gettempdir()).glob("geo-*-*"):
        m = _NAME.fullmatch(path.name)
        if not m or not path.is_dir() or path.is_symlink():
            continue
        try:
            stale = path.stat().st_mtime < oldest
        except FileNotFoundError:  # its worker removed it meanwhile
            continue
        if stale or (m[1] is not None and not _alive(int(m[1]))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    except OverflowError:
        return False
    return True


def _sweep_now_and_then() -> None:
    global _last_sweep
    if _last_sweep is None or time.monotonic() - _last_sweep >= _EVERY_SECONDS:
        _last_sweep = time.monotonic()
        sweep()
