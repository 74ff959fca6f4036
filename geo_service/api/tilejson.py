"""TileJSON for the parcel vector tiles, so GIS clients open the whole tileset rather than
single tiles: QGIS and MapLibre from `tiles`, GDAL's MVT driver from `vector_layers`
(`ogrinfo MVT:http://host/tiles/14`, which finds `/tiles/metadata.json` by itself)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from geo_service.accounts.permissions import check_read_district, home_district
from geo_service.api import schemas
from geo_service.api.auth import SignedIn
from geo_service.api.deps import KIND_PATTERN, DayQuery, ReadSessionDep
from geo_service.maps import tiles as maps_tiles
from geo_service.settings import get_settings
from geo_service.units import find_district


def tilejson_router() -> APIRouter:
    router = APIRouter(tags=["maps"])
    kind_query = Annotated[str, Query(pattern=KIND_PATTERN)]

    def _tilejson(request, session, who, district, kind, as_of):
        district = district or home_district(session, who, get_settings().default_district)
        check_read_district(who, find_district(session, district))
        return maps_tiles.tilejson(session, str(request.base_url), district, kind, as_of)

    @router.get("/tiles/tilejson.json", response_model=schemas.TileJSON)
    def tilejson(
        request: Request,
        session: ReadSessionDep,
        who: SignedIn,
        district: str | None = None,
        kind: kind_query = "land",
        as_of: DayQuery = None,
    ):
        """TileJSON 3.0.0: the tile URL template keeps the district, kind and day."""
        return _tilejson(request, session, who, district, kind, as_of)

    @router.get("/tiles/metadata.json", include_in_schema=False)
    def metadata(request: Request, session: ReadSessionDep, who: SignedIn):
        # Where GDAL's MVT driver looks for a tileset's metadata: the user's district's land.
        return _tilejson(request, session, who, None, "land", None)

    return router
