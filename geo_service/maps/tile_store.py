"""Costly map answers (overview tiles, the list of filled tiles) kept in files, so every
worker of a host serves what any of them drew: kept in each worker's memory, a worker that
had not drawn a tile yet paid 0.3-2.4 s of PostGIS for it.

Each answer is kept under the change token it was drawn at (already its ETag), in a folder
of its own per token: an answer is only ever read under the token it was drawn at, so an
older token's is never served, and the oldest tokens' folders are removed. The folders
belong to one database (the primary's URL, hashed: a replica reads the same data under the
same token), so two services on one host never share an answer; hosts keep their own.
A file is written whole under a temporary name and renamed into place, and carries its
length and checksum: a partial or damaged one reads as missing and is drawn again.
"""

import hashlib
import logging
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

from geo_service.settings import get_settings

log = logging.getLogger(__name__)

# A district's z0-11 overview is tens of tiles of 1-15 KB; a few districts' fit in one
# token's folder. Two tokens: a worker still drawing at the one before a change keeps its
# answers while the others draw at the new one. At most 512 files, a few MB.
KEPT_TILES = 256
KEPT_TOKENS = 2
_HEAD = struct.Struct(">4sII")  # magic, length, CRC-32 of what follows
_MAGIC = b"GST1"
_PARTIAL = ".part-"
# Folders already said to be unusable: said once per worker, not at every tile.
_said: set[Path] = set()


def _database_folder() -> Path | None:
    """This database's folder, made if missing; None when it cannot be trusted (a shared
    temporary directory where someone else made it) or made: nothing is kept then."""
    settings = get_settings()
    base = settings.cache_dir or Path(tempfile.gettempdir()) / f"geo-service-cache-{os.getuid()}"
    database = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = base.stat()
        # Someone else's folder could hand out tiles of their making.
        if owner.st_uid != os.getuid() or owner.st_mode & 0o022:
            return _unusable(base, "it is not this user's alone")
        folder = base / "tiles" / database
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder
    except OSError as error:
        return _unusable(base, str(error))


def _unusable(base: Path, why: str) -> None:
    if base not in _said:
        _said.add(base)
        log.warning("map cache %s unusable (%s): tiles are drawn each time", base, why)


def _name(text: str, size: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def read(token: str, key: tuple) -> bytes | None:
    """What is kept under `token` and `key`; None when nothing whole is."""
    folder = _database_folder()
    if folder is None:
        return None
    try:
        blob = (folder / _name(token, 24) / _name(repr(key), 32)).read_bytes()
    except OSError:
        return None
    if len(blob) < _HEAD.size:
        return None
    magic, length, crc = _HEAD.unpack_from(blob)
    body = blob[_HEAD.size :]
    if magic != _MAGIC or len(body) != length or zlib.crc32(body) != crc:
        return None
    return body


def write(token: str, key: tuple, body: bytes) -> None:
    """Keep `body` under `token` and `key`. A failure only costs drawing it again."""
    folder = _database_folder()
    if folder is None:
        return
    tokens = folder / _name(token, 24)
    part = None
    try:
        if not tokens.is_dir():
            tokens.mkdir(mode=0o700, exist_ok=True)
            _drop_old_tokens(folder, tokens)
        _bound(tokens)
        handle, part = tempfile.mkstemp(dir=tokens, prefix=_PARTIAL)
        with os.fdopen(handle, "wb") as out:
            out.write(_HEAD.pack(_MAGIC, len(body), zlib.crc32(body)) + body)
        os.replace(part, tokens / _name(repr(key), 32))
        part = None
    except OSError as error:
        # Another worker removed the folder of an older token meanwhile, or the disk is full.
        log.info("map cache: a tile not kept (%s)", error)
    finally:
        if part:
            Path(part).unlink(missing_ok=True)


def _drop_old_tokens(folder: Path, new: Path) -> None:
    """Remove all but the new token's folder and those written to last, KEPT_TOKENS in all."""
    found = []
    for entry in os.scandir(folder):
        if entry.name == new.name:
            continue
        try:
            found.append((entry.stat().st_mtime, entry.path))
        except OSError:
            continue  # removed by another worker meanwhile
    for _, path in sorted(found, reverse=True)[KEPT_TOKENS - 1 :]:
        shutil.rmtree(path, ignore_errors=True)


def _bound(tokens: Path) -> None:
    """Make room for one more file in a token's folder: the oldest go beyond KEPT_TILES - 1
    (and temporary files a killed worker left)."""
    found = []
    for entry in os.scandir(tokens):
        try:
            found.append((entry.stat().st_mtime, entry.path, entry.name))
        except OSError:
            continue
    kept = sorted(f for f in found if not f[2].startswith(_PARTIAL))
    dropped = kept[: max(len(kept) - KEPT_TILES + 1, 0)]
    # A temporary file older than a minute is a killed worker's, not one being written.
    newest = max((f[0] for f in found), default=0)
    dropped += [f for f in found if f[2].startswith(_PARTIAL) and f[0] < newest - 60]
    for _, path, _ in dropped:
        Path(path).unlink(missing_ok=True)


def forget() -> None:
    """Remove what this database's folder keeps (tests empty the tables and restart the ids:
    the same token could come back meaning other data)."""
    folder = _database_folder()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
