"""Photos of parcels taken on site: checked, made into a display size and a thumbnail, kept
with the parcel version they belong to.

Every image is a kept file (kept_files: content-addressed, in the database, so a backup
holds them); a `parcel_photos` row ties them to the parcel, its version, when and where the
photo was taken and who sent it. The same file sent again for the same parcel is the row
already stored, so a phone that resends after a lost answer adds nothing.

Images are decoded by Pillow only after their header has been read and their pixel count
checked against the setting: a few kilobytes of PNG may unpack to gigabytes.
"""

import hashlib
import io
import math
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput, NotFound, TooLarge
from geo_service.models import Parcel, ParcelPhoto, UploadFile
from geo_service.parcels import kept_files
from geo_service.periods import CHINA
from geo_service.settings import get_settings

# An iPhone's HEIC (a browser that cannot draw it on a canvas sends it as taken): Pillow
# reads it through pillow-heif's opener, the page gets a JPEG made from it.
pillow_heif.register_heif_opener()
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
# Formats no browser is sure to show: kept as the original, shown as the display JPEG.
_NOT_SHOWN = {"image/heic"}
SIZES = ("display", "thumb", "original")
# A phone clock a little ahead is no reason to refuse; a day ahead is a wrong clock.
_FUTURE_SLACK = timedelta(hours=1)
_JPEG_QUALITY = 85

# EXIF tags (Exif 2.3): the IFD pointers, the time and the GPS fields read here.
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _DATETIME = 36867, 36868, 306
_OFFSET_ORIGINAL = 36881
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


@dataclass(frozen=True)
class PhotoSent:
    """What a client sent: the photo, perhaps the camera's original, and what it says of
    them (None: not said; read from the EXIF when there)."""

    content: bytes
    original: bytes | None = None
    taken_at: datetime | None = None
    lon: float | None = None
    lat: float | None = None
    accuracy_m: float | None = None
    version: int | None = None
    name: str = "photo"


@dataclass(frozen=True)
class Picture:
    """A checked image: its format and size, and what its EXIF says."""

    mime: str
    width: int
    height: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None


def _refused(name: str, rule: str, message: str, **params) -> InvalidInput:
    return InvalidInput(f"{name}: {message}", rule=rule, params={"file": name, **params})


def read_limited(stream, name: str) -> bytes:
    """A sent file's bytes, read no further than the photo limit (one byte more, to tell)."""
    limit = get_settings().photo_max_bytes
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise TooLarge(
            f"{name}: more than the photo limit ({limit:,} bytes)",
            rule="photo_too_large",
            params={"file": name, "limit": f"{limit:,}"},
        )
    return content


def check_image(content: bytes, name: str) -> Picture:
    """The image's format, size and EXIF, or a refusal naming the file: not an image,
    over the byte or pixel limit, or damaged."""
    settings = get_settings()
    if not content:
        raise _refused(name, "photo_empty", "the file is empty")
    if len(content) > settings.photo_max_bytes:
        raise TooLarge(
            f"{name}: {len(content):,} bytes, more than the photo limit "
            f"({settings.photo_max_bytes:,} bytes)",
            rule="photo_too_large",
            params={"file": name, "limit": f"{settings.photo_max_bytes:,}"},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                mime = MIME.get(image.format or "")
                width, height = image.size
                if mime is not None and width * height <= settings.photo_max_pixels:
                    taken_at, lon, lat = _exif(image)
                    image.verify()
    except Image.DecompressionBombError:
        width, height, mime = 0, 0, "bomb"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise _refused(
            name, "photo_not_image", "not an image (JPEG, PNG, WebP or HEIC) or a damaged one"
        ) from None
    if mime is None:
        raise _refused(name, "photo_not_image", "not an image (JPEG, PNG, WebP or HEIC)")
    if mime == "bomb" or width * height > settings.photo_max_pixels:
        raise _refused(
            name, "photo_too_many_pixels",
            f"more pixels than the limit of {settings.photo_max_pixels:,} (a decompression "
            "bomb, or an image too large to show)", limit=f"{settings.photo_max_pixels:,}",
        )  # fmt: skip
    return Picture(mime, width, height, taken_at, lon, lat)


def _resized(content: bytes, edge: int, name: str) -> bytes:
    """A JPEG whose long edge is at most `edge`, turned upright as its EXIF says."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.draft("RGB", (edge, edge))  # JPEG: decode at a fraction of full size
            upright = ImageOps.exif_transpose(image)
            upright = upright.convert("RGB")
            upright.thumbnail((edge, edge), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            upright.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _refused(name, "photo_not_image", "a damaged image") from None
    return out.getvalue()


def _display(content: bytes, picture: Picture, name: str) -> bytes:
    """What the page shows: the photo itself when it is already a JPEG of the display
    size and upright (what the phone sends), else one made from it."""
    edge = get_settings().photo_display_edge
    fits = max(picture.width, picture.height) <= edge
    if picture.mime == "image/jpeg" and fits and _orientation(content) in (None, 1):
        return content
    return _resized(content, edge, name)


def _orientation(content: bytes) -> int | None:
    with Image.open(io.BytesIO(content)) as image:
        return image.getexif().get(0x0112)


def _exif(image: Image.Image) -> tuple[datetime | None, float | None, float | None]:
    """When and where the camera says the photo was taken; None for what it does not say
    or says wrongly (a camera's clock is no reason to refuse its photo)."""
    try:
        exif = image.getexif()
        inner = exif.get_ifd(_EXIF_IFD)
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001 - any damaged EXIF reads as none
        return None, None, None
    raw = inner.get(_DATETIME_ORIGINAL) or inner.get(_DATETIME_DIGITIZED) or exif.get(_DATETIME)
    taken = _exif_time(raw, inner.get(_OFFSET_ORIGINAL))
    lat = _exif_degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S", 90)
    lon = _exif_degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W", 180)
    if lat is None or lon is None:
        lat = lon = None
    return taken, lon, lat


def _exif_time(raw, offset) -> datetime | None:
    """EXIF's 'YYYY:MM:DD HH:MM:SS'; without an offset the camera's clock is China time."""
    try:
        moment = datetime.strptime(str(raw).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    try:
        zone = datetime.strptime(str(offset).strip("\x00 "), "%z").tzinfo if offset else CHINA
    except ValueError:
        zone = CHINA
    moment = moment.replace(tzinfo=zone)
    return moment if moment <= datetime.now(UTC) + _FUTURE_SLACK else None


def _exif_degrees(value, ref, negative: str, limit: float) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = degrees + minutes / 60 + seconds / 3600
    if str(ref or "").strip("\x00 ").upper() == negative:
        result = -result
    return result if math.isfinite(result) and abs(result) <= limit else None


def check_position(lon, lat, accuracy_m) -> None:
    """A position is both coordinates, on the globe, with an accuracy of 0 m or more."""
    if (lon is None) != (lat is None):
        raise InvalidInput(
            "a photo's position needs both lon and lat", rule="photo_position", params={}
        )
    for value in (lon, lat, accuracy_m):
        if value is not None and not math.isfinite(value):
            raise InvalidInput("lon, lat and accuracy_m must be numbers", rule="photo_position",
                               params={})  # fmt: skip
    if lon is not None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(
            f"the position {lon}, {lat} is not on the globe (lon -180..180, lat -90..90)",
            rule="photo_position", params={},
        )  # fmt: skip
    if accuracy_m is not None and accuracy_m < 0:
        raise InvalidInput("accuracy_m must be 0 or more", rule="photo_position", params={})


def check_taken_at(taken_at: datetime | None) -> datetime | None:
    """A time without an offset is China time; one in the future is a wrong clock."""
    if taken_at is None:
        return None
    if taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=CHINA)
    if taken_at > datetime.now(UTC) + _FUTURE_SLACK:
        shown = f"{taken_at.astimezone(CHINA):%Y-%m-%d %H:%M}"
        raise InvalidInput(
            f"the photo's time {shown} is in the future",
            rule="photo_taken_future",
            params={"time": shown},
        )
    return taken_at


def _check_version(parcel: Parcel, version: int | None) -> int:
    if version is None:
        return parcel.version
    if not 1 <= version <= parcel.version:
        raise InvalidInput(
            f"parcel {parcel.code} has no version {version} (its versions are 1 to "
            f"{parcel.version})",
            rule="photo_version",
            params={"code": parcel.code, "version": version, "latest": parcel.version},
        )
    return version


def add_photo(
    session: Session, parcel: Parcel, sent: PhotoSent, username: str
) -> tuple[ParcelPhoto, bool]:
    """Keep a photo of `parcel` (and its original when sent); (the photo, True when it was
    stored now, False when the same file was already stored for this parcel)."""
    check_position(sent.lon, sent.lat, sent.accuracy_m)
    taken_at = check_taken_at(sent.taken_at)
    version = _check_version(parcel, sent.version)
    picture = check_image(sent.content, sent.name)
    original = check_image(sent.original, f"{sent.name} (original)") if sent.original else None
    if original is None and picture.mime in _NOT_SHOWN:
        sent, original = replace(sent, original=sent.content), picture
    known = _stored(session, parcel.id, sent.content)
    if known is not None:
        return known, False
    said = [p for p in (picture, original) if p is not None]
    exif_time = next((p.taken_at for p in said if p.taken_at), None)
    exif_place = next(((p.lon, p.lat) for p in said if p.lon is not None), (None, None))
    lon, lat = (sent.lon, sent.lat) if sent.lon is not None else exif_place
    display = _display(sent.content, picture, sent.name)
    thumb = _resized(sent.content, get_settings().photo_thumb_edge, sent.name)
    row = {
        "parcel_id": parcel.id,
        "version": version,
        "sha256": kept_files.keep_bytes(session, sent.content),
        "display_sha256": kept_files.keep_bytes(session, display),
        "thumb_sha256": kept_files.keep_bytes(session, thumb),
        "original_sha256": kept_files.keep_bytes(session, sent.original) if original else None,
        "mime": "image/jpeg" if display is not sent.content else picture.mime,
        "size_bytes": len(display),
        "width": picture.width,
        "height": picture.height,
        "original_mime": original.mime if original else None,
        "original_bytes": len(sent.original) if original else None,
        "taken_at": taken_at or exif_time,
        "taken_from": "form" if taken_at else ("exif" if exif_time else None),
        "lon": lon,
        "lat": lat,
        "accuracy_m": sent.accuracy_m if sent.lon is not None else None,
        "position_from": "form" if sent.lon is not None else ("exif" if lon is not None else None),
        "uploaded_by": username,
    }
    stored = session.scalar(
        insert(ParcelPhoto)
        .values(**row)
        .on_conflict_do_nothing(constraint="uq_parcel_photo_content")
        .returning(ParcelPhoto.id)
    )
    if stored is None:  # another request stored the same file a moment ago
        return _stored(session, parcel.id, sent.content), False
    return session.get(ParcelPhoto, stored), True


def _stored(session: Session, parcel_id: int, content: bytes) -> ParcelPhoto | None:
    digest = hashlib.sha256(content).hexdigest()
    return session.scalar(
        select(ParcelPhoto).where(ParcelPhoto.parcel_id == parcel_id, ParcelPhoto.sha256 == digest)
    )


def get_photo(session: Session, photo_id: int) -> ParcelPhoto:
    photo = session.get(ParcelPhoto, photo_id)
    if photo is None:
        raise NotFound(f"no photo {photo_id}", rule="photo_id", params={"id": photo_id})
    return photo


def photo_image(session: Session, photo: ParcelPhoto, size: str) -> tuple[bytes, str]:
    """One of the photo's images (display, thumb or original) and its media type."""
    if size not in SIZES:
        raise InvalidInput(f"size must be one of {', '.join(SIZES)}")
    sha256 = {
        "display": photo.display_sha256,
        "thumb": photo.thumb_sha256,
        "original": photo.original_sha256,
    }[size]
    if sha256 is None:
        raise NotFound(
            f"photo {photo.id}: the original was not kept",
            rule="photo_no_original",
            params={"id": photo.id},
        )
    mime = {"display": photo.mime, "thumb": "image/jpeg", "original": photo.original_mime}[size]
    return kept_files.kept_content(session, sha256), mime or "application/octet-stream"


def photos_of(session: Session, parcel_id: int) -> list[ParcelPhoto]:
    """A parcel's photos, first sent first."""
    return list(
        session.scalars(
            select(ParcelPhoto).where(ParcelPhoto.parcel_id == parcel_id).order_by(ParcelPhoto.id)
        )
    )


def photo_counts(session: Session, parcel_ids) -> dict[int, tuple[int, int]]:
    """Parcel id -> (how many photos, the first one's id), for the parcels that have any."""
    rows = session.execute(
        select(ParcelPhoto.parcel_id, func.count(), func.min(ParcelPhoto.id))
        .where(ParcelPhoto.parcel_id.in_(list(parcel_ids)))
        .group_by(ParcelPhoto.parcel_id)
    )
    return {parcel: (count, first) for parcel, count, first in rows}


def as_dict(photo: ParcelPhoto) -> dict:
    """The photo as the API answers it."""
    base = f"/api/photos/{photo.id}"
    return {
        "id": photo.id,
        "parcel_id": photo.parcel_id,
        "version": photo.version,
        "url": f"{base}?size=display",
        "thumb_url": f"{base}?size=thumb",
        "original_url": f"{base}?size=original" if photo.original_sha256 else None,
        "taken_at": _china(photo.taken_at),
        "taken_from": photo.taken_from,
        "lon": photo.lon,
        "lat": photo.lat,
        "accuracy_m": photo.accuracy_m,
        "position_from": photo.position_from,
        "mime": photo.mime,
        "size_bytes": photo.size_bytes,
        "width": photo.width,
        "height": photo.height,
        "uploaded_by": photo.uploaded_by,
        "uploaded_at": _china(photo.uploaded_at),
    }


def _china(moment: datetime | None) -> str | None:
    """A moment as the teams read it: China time, with its offset."""
    return moment.astimezone(CHINA).isoformat() if moment else None


@dataclass(frozen=True)
class ExportedPhoto:
    """A photo as a layer export carries it: its display-size image and what it says."""

    id: int
    parcel_id: int
    version: int
    taken_at: str | None
    lon: float | None
    lat: float | None
    mime: str
    content: bytes

    @property
    def suffix(self) -> str:
        return {"image/png": ".png", "image/webp": ".webp"}.get(self.mime, ".jpg")


def exported_photos(session: Session, versions: dict[int, int]) -> list[ExportedPhoto]:
    """The photos of the exported parcels (parcel id -> the version exported) that belong to
    that version or an earlier one, first sent first, with their display images."""
    if not versions:
        return []
    rows = session.execute(
        select(ParcelPhoto, UploadFile.content)
        .join(UploadFile, UploadFile.sha256 == ParcelPhoto.display_sha256)
        .where(ParcelPhoto.parcel_id.in_(list(versions)))
        .order_by(ParcelPhoto.parcel_id, ParcelPhoto.id)
    )
    return [
        ExportedPhoto(
            photo.id,
            photo.parcel_id,
            photo.version,
            _china(photo.taken_at),
            photo.lon,
            photo.lat,
            photo.mime,
            bytes(content),
        )  # fmt: skip
        for photo, content in rows
        if photo.version <= versions[photo.parcel_id]
    ]
