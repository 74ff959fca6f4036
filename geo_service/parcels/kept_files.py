"""The original files of accepted uploads, kept in the database for audit.

Content-addressed: each distinct file is stored once under its SHA-256 (upload_files), and
every upload names the file it was made from. Kept in the database rather than on a disk
beside it, so that a backup of the database holds them too.
"""

import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo_service.errors import NotFound
from geo_service.models import Upload, UploadFile


@dataclass(frozen=True)
class Kept:
    sha256: str
    name: str  # the name the file is handed back under
    content: bytes = b""


def keep_file(session: Session, path: Path, name: str) -> Kept:
    """Store the file (once per content) and return its checksum and name."""
    path = Path(path)
    if path.suffix.lower() == ".shp":
        content, name = _original(path, name)
        digest = hashlib.sha256(content).hexdigest()
        session.execute(
            insert(UploadFile)
            .values(sha256=digest, size_bytes=len(content), content=content)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
        return Kept(digest, name)
    digest = _sha256(path)
    stored = session.execute(select(UploadFile.sha256).where(UploadFile.sha256 == digest))
    if stored.first() is None:
        _copy_file(session, path, digest)
    return Kept(digest, name)


def keep_bytes(session: Session, content: bytes) -> str:
    """Store content held in memory (a photo, its thumbnail) once; its SHA-256."""
    digest = hashlib.sha256(content).hexdigest()
    session.execute(
        insert(UploadFile)
        .values(sha256=digest, size_bytes=len(content), content=content)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return digest


def kept_content(session: Session, sha256: str) -> bytes:
    """A kept file's bytes, checked against their checksum as they are read."""
    content = session.scalar(select(UploadFile.content).where(UploadFile.sha256 == sha256))
    if content is None:
        raise NotFound(f"no kept file {sha256}")
    content = bytes(content)
    if hashlib.sha256(content).hexdigest() != sha256:
        raise NotFound(f"the kept file {sha256} does not match its checksum")
    return content


# A city's GeoPackage is hundreds of MB: it is hashed and sent in pieces of this size.
_CHUNK = 1 << 22


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_file(session: Session, path: Path, digest: str) -> None:
    """One row of upload_files by binary COPY, its content streamed from the file, so the
    process never holds the whole file (PostgreSQL's COPY format: a header, one tuple of
    three fields, each a length and its bytes, then the trailer)."""
    size = path.stat().st_size
    conn = session.connection()
    # Through a temporary table: another upload of the same file may store it first.
    conn.execute(
        text(
            "CREATE TEMP TABLE kept_file_stage (sha256 text, size_bytes int8, content bytea) "
            "ON COMMIT DROP"
        )
    )
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(
        "COPY kept_file_stage (sha256, size_bytes, content) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        key = digest.encode("ascii")
        copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
        copy.write(struct.pack("!hi", 3, len(key)) + key + struct.pack("!iq", 8, size))
        copy.write(struct.pack("!i", size))
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                copy.write(chunk)
        copy.write(struct.pack("!h", -1))
    conn.execute(
        text(
            "INSERT INTO upload_files (sha256, size_bytes, content) "
            "SELECT sha256, size_bytes, content FROM kept_file_stage "
            "ON CONFLICT (sha256) DO NOTHING"
        )
    )
    conn.execute(text("DROP TABLE kept_file_stage"))


def _original(path: Path, name: str) -> tuple[bytes, str]:
    """The bytes the user sent. A bare .shp is only part of its dataset: its side files
    (.dbf, .prj, .cpg, ...) go with it, zipped, so the kept file reads the same again."""
    if path.suffix.lower() != ".shp":
        return path.read_bytes(), name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(path.parent.glob(path.stem + ".*")):
            if member.is_file():
                # A fixed date, so the same dataset always makes the same zip (one checksum).
                info = zipfile.ZipInfo(member.name, date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, member.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue(), Path(name).stem + ".zip"


def upload_file(session: Session, upload_id: int) -> Kept:
    """An upload's original file with its checksum, checked again as it is read."""
    row = session.execute(
        select(Upload.file_name, Upload.filename, UploadFile.sha256, UploadFile.content)
        .join(UploadFile, UploadFile.sha256 == Upload.file_sha256)
        .where(Upload.id == upload_id)
    ).first()
    if row is None:
        raise NotFound(f"no upload {upload_id} with a kept file")
    content = bytes(row.content)
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise NotFound(f"upload {upload_id}: the kept file does not match its checksum")
    return Kept(row.sha256, row.file_name or row.filename, content)
