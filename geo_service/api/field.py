"""What the field app keeps on the phone: GET /api/field/bundle.

The signed-in user's townships (outlines), their parcels and the verification queue as the
queue page shows it, in one answer the app stores in IndexedDB and works from without a
signal. The SQL is parcels.field's; this only assembles it.
"""

import hashlib
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import SessionDep
from geo_service.parcels import field
from geo_service.settings import get_settings


def field_router() -> APIRouter:
    router = APIRouter(prefix="/api/field", tags=["field app"])

    @router.get("/bundle", response_model=schemas.FieldBundle)
    def get_bundle(session: SessionDep, who: SignedIn, request: Request, response: Response):
        """Townships, parcels (code, kind, status, version, area, township) and the queue
        of the signed-in user; `generated_at` is when it was read. Sent with an `ETag`: an
        `If-None-Match` naming it gets 304 while nothing in it has changed."""
        # The app asks every 20 s: a phone should not fetch a township's parcels again
        # (hundreds of KB) when nothing changed.
        etag = _etag(field.bundle_token(session), who)
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
            "parcels": field.parcel_outlines(session, townships),
            "queue": field.queue_rows(queue),
        }

    return router


def _etag(token: str, who) -> str:
    """The bundle's validator: what it is read from, and who it is for."""
    scope = repr((who.username, who.display_name, who.role, who.group, sorted(who.kinds),
                  sorted(who.township_ids or ()), sorted(who.district_ids or ())))  # fmt: skip
    return f'W/"{token}-{hashlib.sha256(scope.encode()).hexdigest()[:16]}"'
