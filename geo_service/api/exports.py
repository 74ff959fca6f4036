"""Downloads for planners and GIS staff: tallies (XLSX, CSV, printable HTML) and parcel
layers (GeoPackage, zipped Shapefile, GeoJSON, KML, CSV) in the CRS asked for."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BeforeValidator

from geo_service import exports, scratch
from geo_service.accounts.permissions import readable_district
from geo_service.api.auth import SignedIn
from geo_service.api.deps import CampaignQuery, DayQuery, KindFilter, ReadSessionDep, YearQuery
from geo_service.web import i18n

_BY = Annotated[
    str,
    Query(
        pattern="^(district|township|project|quarter|month)$",
        description="district, township, project, or a township series by quarter or month",
    ),
]
_LANG = Annotated[
    str,
    Query(
        pattern="^(zh|en)$",
        description="header language; by default the reader's (lang cookie, "
        "Accept-Language), else zh",
    ),
]


def _blank_is_none(value):
    # The export page's forms send a filter left on "All" as an empty value: no filter.
    return None if value == "" else value


_Blank = BeforeValidator(_blank_is_none)
_Kind = Annotated[KindFilter, _Blank]
_Year = Annotated[YearQuery, _Blank]
_Day = Annotated[DayQuery, _Blank]
_Name = Annotated[str | None, _Blank]
_LAYER_PATTERN = f"^({'|'.join(exports.PARCEL_FORMATS)})$"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(filename: str) -> dict:
    # HTTP headers are Latin-1: Chinese file names travel percent-encoded (RFC 6266),
    # with a plain ASCII fallback for old clients.
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return {
        "Content-Disposition": f'attachment; filename="{fallback}"; '
        f"filename*=UTF-8''{quote(filename)}"
    }


def _file(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type, headers=attachment(name))


def _layer_schema(media_type: str) -> dict:
    # GeoJSON is JSON to a client (an RFC 7946 FeatureCollection); the others are files.
    if media_type.endswith("json"):
        return {"schema": {"type": "object", "required": ["type", "features"]}}
    return {"schema": {"type": "string", "format": "binary"}}


def _binary(media_type: str, what: str) -> dict:
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
                  "description": what}}  # fmt: skip


@dataclass(frozen=True)
class TallyQuery:
    """What every tally download is asked with (the grouping aside)."""

    kind: str | None
    year: int | None
    as_of: date | None
    district: str | None
    lang: str
    campaign: str | None = None


def _tally_query(
    request: Request,
    kind: _Kind = None,
    year: _Year = None,
    as_of: _Day = None,
    district: _Name = None,
    lang: _LANG | None = None,
    campaign: CampaignQuery = None,
) -> TallyQuery:
    # A link followed from an English page brings the reader's language (its cookie or
    # Accept-Language); a program that says nothing gets Chinese, as before.
    chosen = lang or ("en" if i18n.choose(request) == "en" else "zh")
    return TallyQuery(kind, year, as_of, district, chosen, campaign)


TallyQueryDep = Annotated[TallyQuery, Depends(_tally_query)]


def exports_router() -> APIRouter:
    router = APIRouter(prefix="/api/exports", tags=["exports"])

    def _export(session, who, by, q: TallyQuery):
        district = readable_district(session, who, q.district)
        return exports.tally_export(
            session, by=by, kind=q.kind, year=q.year, as_of=q.as_of, district=district,
            campaign=q.campaign,
        )  # fmt: skip

    @router.get(
        "/tallies.xlsx",
        response_class=Response,
        responses=_binary(_XLSX, "a workbook: a sheet per kind, ranking and pace, about"),
    )
    def tallies_xlsx(
        session: ReadSessionDep, who: SignedIn, q: TallyQueryDep, by: _BY = "township"
    ):
        """Tallies as an Excel workbook (exact values, rounded display, frozen headers)."""
        export = _export(session, who, by, q)
        name = f"tallies-{by}-{export.year}.xlsx"
        return _file(exports.tallies_xlsx(export, q.lang), _XLSX, name)

    @router.get(
        "/tallies.csv",
        response_class=Response,
        responses=_binary("text/csv", "UTF-8 with a byte-order mark"),
    )
    def tallies_csv(session: ReadSessionDep, who: SignedIn, q: TallyQueryDep, by: _BY = "township"):
        """Tallies as CSV (UTF-8 with BOM; m² and mu to 0.01, progress in %)."""
        export = _export(session, who, by, q)
        body = exports.tallies_csv(export, q.lang)
        return _file(body, "text/csv; charset=utf-8", f"tallies-{by}-{export.year}.csv")

    @router.get("/tallies.html", response_class=HTMLResponse)
    def tallies_html(session: ReadSessionDep, who: SignedIn, q: TallyQueryDep):
        """One printable page (A4 landscape) per district for the wall (制表挂图)."""
        export = _export(session, who, "township", q)
        return HTMLResponse(exports.tallies_html(export, q.lang))

    @router.get(
        "/parcels.{fmt}",
        response_class=Response,
        responses={
            200: {
                "content": {
                    m.split(";")[0]: _layer_schema(m) for m in exports.MEDIA_TYPES.values()
                },
                "description": "the parcel layer",
            }
        },
    )
    def parcels_layer(
        session: ReadSessionDep,
        who: SignedIn,
        fmt: Annotated[str, PathParam(pattern=_LAYER_PATTERN, description="format")],
        crs: Annotated[str, Query(description="EPSG:4490, 4326, 4527-4529, 4548-4550")] = (
            "EPSG:4490"
        ),
        district: _Name = None,
        township: _Name = None,
        kind: _Kind = None,
        status: _Name = None,
        as_of: _Day = None,
        encoding: Annotated[str, Query(pattern="^(?i:utf-8|gbk)$")] = "UTF-8",
    ):
        """A parcel layer written by GDAL; shp is a zip with .prj and .cpg. A GeoPackage
        carries the parcels' photos in its parcel_photos table, a KMZ as images/ shown in
        each placemark's description."""
        epsg = exports.parse_crs(crs)
        district = readable_district(session, who, district)
        frame = exports.parcel_frame(session, district, township, kind, status, as_of)
        kept = exports.layer_photos(session, frame) if fmt in exports.PHOTO_FORMATS else ()
        with scratch.folder("export") as folder:
            path = Path(folder) / f"parcels{exports.SUFFIXES[fmt]}"
            exports.write_parcels(frame, fmt, epsg, path, encoding=encoding, photos=kept)
            body = path.read_bytes()
        return _file(body, exports.MEDIA_TYPES[fmt], f"parcels-{epsg}{exports.SUFFIXES[fmt]}")

    return router
