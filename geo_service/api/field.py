"""What the field app keeps on the phone: GET /api/field/bundle.

The signed-in user's townships (outlines), their parcels and the verification queue as the
queue page shows it, in one answer the app stores in IndexedDB and works from without a
signal. The SQL is parcels.field's; this only assembles it.
"""

from datetime import UTC, datetime

from fastapi import APIRouter

from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import SessionDep
from geo_service.parcels import field
from geo_service.settings import get_settings


def field_router() -> APIRouter:
    router = APIRouter(prefix="/api/field", tags=["field app"])

    @router.get("/bundle", response_model=schemas.FieldBundle)
    def get_bundle(session: SessionDep, who: SignedIn):
        """Townships, parcels (code, kind, status, version, area, township) and the queue
        of the signed-in user; `generated_at` is when it was read."""
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
