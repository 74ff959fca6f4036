"""Photos of parcels: sent from a phone or the parcel's page, read back in three sizes.

A refusal of a photo answers `{"detail", "rule", "words"}`: `words` is the refusal in the
caller's language (the field app shows it as it is), `detail` the English as everywhere.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as Path_
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from geo_service import actions, periods
from geo_service.accounts import permissions
from geo_service.api.auth import SignedIn
from geo_service.api.deps import INT_MAX, IdPath, ReadSessionDep, SessionDep
from geo_service.errors import GeoServiceError, InvalidInput, http_status
from geo_service.parcels import photos, workflow
from geo_service.web.i18n import gettext_for
from geo_service.web.problems import refusal_detail

PhotoId = Annotated[int, Path_(ge=1, le=INT_MAX, description="the photo's id")]


class Photo(BaseModel):
    """A photo of a parcel (parcels/photos.as_dict)."""

    id: int
    parcel_id: int
    version: int = Field(description="the parcel version it belongs to")
    url: str = Field(description="the display size (long edge PHOTO_DISPLAY_EDGE)")
    thumb_url: str
    original_url: str | None = Field(description="the camera's original, when kept")
    taken_at: str | None = Field(description="when it was taken (China time, ISO)")
    taken_from: str | None = Field(description="exif or form: where taken_at came from")
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    position_from: str | None = Field(description="exif or form")
    mime: str
    size_bytes: int
    width: int
    height: int
    uploaded_by: str
    uploaded_at: str | None


class PhotoRefusal(BaseModel):
    detail: str
    rule: str | None = Field(None, description="the rule code (photo_not_image, ...)")
    words: str | None = Field(None, description="the refusal in the caller's language")


_NUMBER = "a number, or empty"


def _refusal(request: Request, exc: GeoServiceError) -> JSONResponse:
    words = refusal_detail(exc, gettext_for(request))
    body = {"detail": str(exc), "rule": exc.rule, "words": words}
    return JSONResponse(body, status_code=http_status(exc))


def _read_limited(file: UploadFile | None, name: str) -> bytes | None:
    return None if file is None else photos.read_limited(file.file, name)


def _number(value: str | None, name: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be {_NUMBER}, not {value!r}", rule="photo_position", params={}
        ) from None


def _moment(value: str | None) -> datetime | None:
    """taken_at: an ISO moment (China time unless an offset is given); a bare day is no
    time a photo was taken."""
    if value is None or not value.strip():
        return None
    try:
        moment = periods.check_field_day(value)
    except ValueError as exc:
        raise InvalidInput(
            f"taken_at: {exc}", rule="photo_taken_at", params={"value": value}
        ) from None
    if not isinstance(moment, datetime):
        raise InvalidInput(
            f"taken_at: {value} is a day, not a moment (YYYY-MM-DDTHH:MM:SS)",
            rule="photo_taken_at",
            params={"value": value},
        )
    return moment


def photos_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["photos"])

    refused = {"model": PhotoRefusal, "description": "refused: `words` says why"}

    @router.post(
        "/parcels/{parcel_id}/photos",
        status_code=201,
        response_model=Photo,
        responses={
            200: {"model": Photo, "description": "the same file was already stored: that photo"},
            **{code: refused for code in (400, 401, 403, 404, 413, 422)},
        },
    )
    def post_photo(
        request: Request,
        parcel_id: IdPath,
        session: SessionDep,
        who: SignedIn,
        photo: Annotated[UploadFile, File(description="the photo (JPEG, PNG, WebP or HEIC)")],
        original: Annotated[
            UploadFile | None, File(description="the camera's original, to keep as well")
        ] = None,
        taken_at: Annotated[
            str | None, Form(description="when it was taken, ISO (default: its EXIF time)")
        ] = None,
        lon: Annotated[str | None, Form(description="where (default: its EXIF GPS)")] = None,
        lat: Annotated[str | None, Form()] = None,
        accuracy_m: Annotated[str | None, Form(description="the position's accuracy, m")] = None,
        version: Annotated[
            int | None,
            Form(ge=1, le=INT_MAX, description="the parcel version it belongs to (default: now)"),
        ] = None,
    ):
        """Keep a photo of the parcel (whoever may verify or dispute it). 201 with the
        photo; the same file for the same parcel again is 200 with the photo already
        stored, so a resend is harmless."""
        try:
            name = photo.filename or "photo"
            sent = photos.PhotoSent(
                content=_read_limited(photo, name),
                original=_read_limited(original, f"{name} (original)"),
                taken_at=_moment(taken_at),
                lon=_number(lon, "lon"),
                lat=_number(lat, "lat"),
                accuracy_m=_number(accuracy_m, "accuracy_m"),
                version=version,
                name=name,
            )
            parcel = workflow.get_parcel(session, parcel_id)
            permissions.check_read_district(who, parcel.township.parent)
            stored, created = actions.add_photo(session, who, parcel, sent)
        except GeoServiceError as exc:
            session.rollback()
            return _refusal(request, exc)
        return JSONResponse(photos.as_dict(stored), status_code=201 if created else 200)

    @router.get("/parcels/{parcel_id}/photos", response_model=list[Photo])
    def list_photos(parcel_id: IdPath, session: ReadSessionDep, who: SignedIn):
        """The parcel's photos, first sent first."""
        parcel = workflow.get_parcel(session, parcel_id)
        permissions.check_read_district(who, parcel.township.parent)
        return [photos.as_dict(p) for p in photos.photos_of(session, parcel_id)]

    @router.get(
        "/photos/{photo_id}",
        response_class=Response,
        responses={
            200: {
                # display and thumb are JPEG; an original is kept in the format it came in
                "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
                "description": "the image",
            }
        },
    )
    def get_photo(
        photo_id: PhotoId,
        session: ReadSessionDep,
        who: SignedIn,
        size: Annotated[str, Query(pattern="^(display|thumb|original)$")] = "display",
    ):
        """One of a photo's images: display (default), thumb or original (when kept).
        The content never changes under its id: cached by the browser."""
        photo = actions.photo_for_reading(session, who, photo_id)
        content, mime = photos.photo_image(session, photo, size)
        headers = {"Cache-Control": "private, max-age=31536000, immutable"}
        return Response(content, media_type=mime, headers=headers)

    return router
