"""What the field app keeps on the phone: GET /api/field/bundle.

The signed-in user's townships (outlines), their parcels and the verification queue as the
queue page shows it, in one answer the app stores in IndexedDB and works from without a
signal. The SQL is parcels.field's; this only assembles it.
"""

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import SessionDep
from geo_service.parcels import field
from geo_service.settings import get_settings

PARCELS = (
    "`geojson`: a GeoJSON FeatureCollection. `compact` (what the field app asks for): the "
    "same parcels in a fifth of the bytes, a column per property (`id` as the difference "
    "from the one before), `townships` naming each `township_id`, and `geometry`, each "
    "parcel's polygons as rings of integers in units of 1/`scale` degree, each the "
    "difference from the vertex before it in the whole list, the first from 0, 0, a ring's "
    "closing vertex left out."
)
_PARCELS = {"geojson": field.parcel_outlines, "compact": field.compact_parcels}


def field_router() -> APIRouter:
    router = APIRouter(prefix="/api/field", tags=["field app"])

    @router.get("/bundle", response_model=schemas.FieldBundle)
    def get_bundle(
        session: SessionDep,
        who: SignedIn,
        request: Request,
        response: Response,
        parcels: Annotated[Literal["geojson", "compact"], Query(description=PARCELS)] = "geojson",
    ):
        """Townships, parcels (code, kind, status, version, area, township) and the queue
        of the signed-in user; `generated_at` is when it was read. Sent with an `ETag`: an
        `If-None-Match` naming it gets 304 while nothing in it has changed."""
        # The app asks every 20 s: a phone should not fetch a township's parcels again
        # (hundreds of KB) when nothing changed.
        etag = _etag(field.bundle_token(session), who, parcels)
        headers = {
            "ETag": etag,
            "Cache-Control": "private, no-cache",
            "Vary": "Cookie, Authorization",
        }
        if etag in {t.strip() for t in (request.headers.get("if-none-match") or "").split(",")}:
            return Response(status_code=304, headers=headers)
        response.headers.update(headers)
        settings = get_settings()
        townships = field.field_townships(
            session, who.township_ids, who.district_ids, settings.default_district
        )
        queue = field.verification_queue(session, who.kinds, who.township_ids)
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "user": {
                "username": who.username,
                "display_name": who.display_name,
                "role": who.role,
                "group": who.group,
                "kinds": sorted(who.kinds),
            },
            "townships": field.township_outlines(session, townships),
            "parcels": _PARCELS[parcels](session, townships),
            "queue": field.queue_rows(queue),
        }

    return router


def _etag(token: str, who, encoding: str) -> str:
    """The bundle's validator: what it is read from, who it is for, and how it is written."""
    scope = repr((who.username, who.display_name, who.role, who.group, sorted(who.kinds),
                  sorted(who.township_ids or ()), sorted(who.district_ids or ()),
                  encoding))  # fmt: skip
    return f'W/"{token}-{hashlib.sha256(scope.encode()).hexdigest()[:16]}"'
