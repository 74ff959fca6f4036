"""Safe handling of .zip and .kmz uploads.

Every member is judged from the central directory before a byte is decompressed: path
traversal, absolute paths, symlinks, encrypted members, too many members, too much data in
total, or a member compressed suspiciously well (a zip bomb) refuse the archive. Members are
then extracted, capped at their declared size, into a temporary directory that the caller's
`with` block always removes.
"""

import contextlib
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geo_service.errors import UploadRefused

MAX_MEMBERS = 1000
MAX_UNCOMPRESSED = 1 << 30  # 1 GiB in total
MAX_RATIO = 200  # uncompressed : compressed, for members above RATIO_FLOOR
RATIO_FLOOR = 10 * (1 << 20)  # 10 MB: small members may compress as well as they like
_CHUNK = 1 << 20
# Clutter that archivers add: macOS resource forks, Windows thumbnails.
_IGNORED_PARTS = ("__MACOSX",)
_IGNORED_NAMES = ("thumbs.db", ".ds_store", "desktop.ini")


@dataclass(frozen=True)
class Limits:
    max_members: int = MAX_MEMBERS
    max_uncompressed: int = MAX_UNCOMPRESSED
    max_ratio: float = MAX_RATIO
    ratio_floor: int = RATIO_FLOOR


@dataclass(frozen=True)
class Member:
    name: str  # the name in the archive, '/'-separated
    size: int

    @property
    def path(self) -> PurePosixPath:
        return PurePosixPath(self.name)

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()


def inspect(path: Path, limits: Limits | None = None, filename: str | None = None) -> list[Member]:
    """The archive's file members, after checking every entry of its central directory.

    Raises UploadRefused naming the file for anything unsafe or unreadable.
    """
    limits = limits or Limits()
    name = filename or Path(path).name
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise UploadRefused(
            f"{name}: not a valid zip archive ({exc})",
            rule="zip_invalid",
            params={"file": name, "reason": str(exc)},
        ) from None
    if len(infos) > limits.max_members:
        raise UploadRefused(
            f"{name}: the archive holds {len(infos)} entries, more than the "
            f"{limits.max_members} allowed",
            rule="zip_too_many",
            params={"file": name, "count": len(infos), "limit": limits.max_members},
        )
    total = 0
    members = []
    for info in infos:
        _check_entry(info, name, limits)
        total += info.file_size
        if total > limits.max_uncompressed:
            raise UploadRefused(
                f"{name}: the archive would unpack to more than "
                f"{_size(limits.max_uncompressed)}; refused",
                rule="zip_too_large",
                params={"file": name, "limit": _size(limits.max_uncompressed)},
            )
        if not info.is_dir() and not _ignored(info.filename):
            members.append(Member(info.filename, info.file_size))
    return members


def _check_entry(info: zipfile.ZipInfo, name: str, limits: Limits) -> None:
    entry = info.filename
    parts = PurePosixPath(entry.replace("\\", "/")).parts
    if entry.startswith(("/", "\\")) or (len(entry) > 1 and entry[1] == ":") or ".." in parts:
        raise UploadRefused(
            f"{name}: unsafe path {entry!r} in the archive (absolute or '..')",
            rule="zip_unsafe_path", params={"file": name, "entry": entry},
        )  # fmt: skip
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UploadRefused(
            f"{name}: the archive holds a symbolic link ({entry!r})",
            rule="zip_symlink", params={"file": name, "entry": entry},
        )  # fmt: skip
    if info.flag_bits & 0x1:
        raise UploadRefused(
            f"{name}: {entry!r} is encrypted; send an archive without a password",
            rule="zip_encrypted", params={"file": name, "entry": entry},
        )  # fmt: skip
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # bzip2/LZMA members are rare in survey hand-overs and GDAL cannot stream all of them.
        raise UploadRefused(
            f"{name}: {entry!r} uses an unsupported compression method; "
            "re-zip it with ordinary (deflate) compression",
            rule="zip_compression", params={"file": name, "entry": entry},
        )  # fmt: skip
    if info.file_size > limits.ratio_floor:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise UploadRefused(
                f"{name}: {entry!r} would unpack from {_size(info.compress_size)} to "
                f"{_size(info.file_size)} (ratio {ratio:,.0f}:1, limit {limits.max_ratio:,.0f}:1); "
                "refused as a possible zip bomb",
                rule="zip_bomb",
                params={"file": name, "entry": entry, "packed": _size(info.compress_size),
                        "unpacked": _size(info.file_size)},
            )  # fmt: skip


def _ignored(entry: str) -> bool:
    path = PurePosixPath(entry)
    return (
        any(part in _IGNORED_PARTS for part in path.parts)
        or path.name.startswith("._")
        or path.name.lower() in _IGNORED_NAMES
    )


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} GiB"


@contextlib.contextmanager
def extracted(path: Path, members: list[Member], filename: str | None = None) -> Iterator[Path]:
    """Extract the given (already inspected) members flat into a temporary directory,
    each capped at its declared size; yields the directory, removed afterwards."""
    name = filename or Path(path).name
    with tempfile.TemporaryDirectory(prefix="geo-archive-") as folder:
        root = Path(folder)
        try:
            with zipfile.ZipFile(path) as archive:
                for member in members:
                    target = root / member.path.name
                    with archive.open(member.name) as source, target.open("wb") as out:
                        _copy_capped(source, out, member.size)
        except Exception as exc:  # BadZipFile, zlib.error, EOFError: a damaged archive
            raise UploadRefused(
                f"{name}: the archive is damaged ({exc})",
                rule="zip_damaged",
                params={"file": name, "reason": str(exc)},
            ) from None
        yield root


def read_member(path: Path, member: Member, filename: str | None = None) -> bytes:
    """One inspected member's bytes (for small text members)."""
    name = filename or Path(path).name
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member.name) as source:
            return source.read(member.size + 1)[: member.size]
    except Exception as exc:
        raise UploadRefused(
            f"{name}: the archive is damaged ({exc})",
            rule="zip_damaged",
            params={"file": name, "reason": str(exc)},
        ) from None


def _copy_capped(source, out, size: int) -> None:
    # ZipExtFile never yields more than the declared size and checks the CRC at the end, so
    # a member that lies about its size in the central directory cannot write more.
    remaining = size
    while chunk := source.read(min(_CHUNK, max(remaining, 1))):
        out.write(chunk)
        remaining -= len(chunk)
