"""Files checked by a dry run on the upload page, waiting for the user to store them.

The dry run and the store are two requests; the file is sent once (it may be large) and
kept here in between, in a folder of its own under the system's temporary directory, with
what the user asked for and the dry run's report. Only the user who sent it may use it, for
a day; the store reads the file again through the same use case, so nothing here is trusted
beyond "this is the file that user sent".
"""

import json
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from geo_service.errors import NotFound

ROOT = Path(tempfile.gettempdir()) / "geo-service-pending-uploads"
KEEP_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass
class Pending:
    token: str
    folder: Path
    meta: dict

    @property
    def path(self) -> Path:
        return self.folder / self.meta["filename"]

    def save(self) -> None:
        (self.folder / "meta.json").write_text(json.dumps(self.meta, ensure_ascii=False))

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def new(username: str, filename: str) -> Pending:
    _clean_old()
    token = secrets.token_urlsafe(18)
    folder = ROOT / token
    folder.mkdir(parents=True, mode=0o700)
    return Pending(token, folder, {"username": username, "filename": filename})


_GONE = "this checked file is no longer waiting: check it again"


def find(token: str, username: str) -> Pending:
    """The user's own pending file; anyone else's (or an expired one) is not found."""
    folder = ROOT / token
    if not _TOKEN.match(token or "") or not (folder / "meta.json").is_file():
        raise NotFound(_GONE, rule="pending_gone", params={})
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("username") != username:
        raise NotFound(_GONE, rule="pending_gone", params={})
    return Pending(token, folder, meta)


def _clean_old() -> None:
    if not ROOT.is_dir():
        return
    limit = time.time() - KEEP_SECONDS
    for folder in ROOT.iterdir():
        try:
            if folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # another request cleaned it first
            continue
