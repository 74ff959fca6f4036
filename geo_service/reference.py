"""Fuzhou's administrative units and the seed's 2017 targets, loaded idempotently."""

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_service.campaign.targets import set_target
from geo_service.errors import InvalidInput
from geo_service.models import STORAGE_SRID, AdminUnit
from geo_service.settings import get_settings

# Who sets the seed's targets, as their history names it.
ACTOR = "reference data"

CITY_CODE = "350100"


def load_reference(session: Session, directory: Path | None = None) -> dict[str, int]:
    """Insert what is missing; never overwrite a unit or target that already exists,
    so boundaries imported later and targets set by users survive every upgrade."""
    directory = Path(directory or get_settings().reference_dir)
    added = {"units": 0, "targets": 0}
    districts = gpd.read_file(directory / "districts.geojson")
    townships = gpd.read_file(directory / "townships.geojson")
    by_code = {u.code: u for u in session.scalars(select(AdminUnit))}
    city = _ensure_unit(session, by_code, added, districts[districts.level == "city"].iloc[0])
    for _, row in districts[districts.level == "district"].iterrows():
        _ensure_unit(session, by_code, added, row, parent=city)
    for _, row in townships.iterrows():
        _ensure_unit(session, by_code, added, row, parent=by_code[row.district_code])
    session.flush()
    added["targets"] = _load_targets(session, directory / "targets_2017.csv")
    return added


def _ensure_unit(session, by_code, added, row, parent=None) -> AdminUnit:
    if row.code in by_code:
        return by_code[row.code]
    geom = row.geometry
    if geom.geom_type == "Polygon":
        geom = MultiPolygon([geom])
    unit = AdminUnit(
        code=row.code,
        name=row["name"],
        level="township" if parent is not None and parent.level == "district" else row.level,
        kind=row.get("kind"),
        parent=parent,
        code_official=bool(row.get("code_official", True)),
        boundary_approximate=bool(row.get("approximate", False)),
        source=row.get("source"),
        geom=from_shape(geom, srid=STORAGE_SRID),
    )
    session.add(unit)
    by_code[row.code] = unit
    added["units"] += 1
    return unit


def _load_targets(
    session: Session, path: Path, only_missing: bool = True, campaign: str | None = None
) -> int:
    if not path.exists():
        return 0
    count = 0
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            count += set_target(
                session,
                district=row["district"],
                township=row.get("township") or None,
                kind=row["kind"],
                # A campaign named overrides the file's year (the live demo's campaign).
                year=None if campaign else int(row["year"]),
                campaign=campaign,
                quarter=int(row["quarter"]) if row.get("quarter") else None,
                amount=float(row["amount"]),
                unit=row["unit"],
                actor=ACTOR,
                source=row.get("source"),
                only_if_missing=only_missing,
            )
    return count


def load_targets_csv(session: Session, path: Path, campaign: str | None = None) -> int:
    """Targets from a CSV (district,township,kind,year,quarter,amount,unit): set or replace;
    for the campaign each year names, or for `campaign`."""
    return _load_targets(session, Path(path), only_missing=False, campaign=campaign)


# Township name columns as land-survey and 国土调查 data name them (XZQMC: 行政区名称).
NAME_COLUMNS = ("name", "xzqmc", "名称", "乡镇名称", "行政区名称")


def _name_column(read, given: str | None) -> str:
    """The column with the township names: the one given, else the first known name."""
    columns = [c for c in read.frame.columns if c != "geometry"]
    if given is not None:
        if given not in columns:
            raise InvalidInput(
                f"{read.filename}: no column {given!r} with township names; "
                f"columns: {_columns(read.frame)}"
            )
        return given
    for wanted in NAME_COLUMNS:
        found = [c for c in columns if str(c).lower() == wanted]
        if found:
            return found[0]
    raise InvalidInput(
        f"{read.filename}: no column with township names (looked for "
        f"{', '.join(NAME_COLUMNS)}); name it with --name-field; columns: {_columns(read.frame)}"
    )


def _columns(frame) -> str:
    return ", ".join(str(c) for c in frame.columns if c != "geometry") or "(none)"


def import_township_boundaries(
    session: Session,
    path: Path,
    district: str,
    name_field: str | None = None,
    code_field: str | None = None,
    crs: str | None = None,
    source: str | None = None,
) -> dict[str, int]:
    """Replace approximate township outlines with real ones, matched by name.

    A township the file names but the database lacks is added; one the file lacks keeps
    its outline (and its 'approximate' mark), so a partial file is safe to load.
    """
    from geo_service.parcels.crs import to_storage
    from geo_service.parcels.readers import read_features
    from geo_service.units import find_district

    owner = find_district(session, district)
    read = read_features(path, crs=crs)
    name_field = _name_column(read, name_field)
    if code_field is not None and code_field not in read.frame.columns:
        raise InvalidInput(
            f"{read.filename}: no column {code_field!r} with township codes; "
            f"columns: {_columns(read.frame)}"
        )
    geoms = to_storage(shapely.force_2d(np.asarray(read.frame.geometry.values)), read.source)
    existing = {
        u.name: u for u in session.scalars(select(AdminUnit).where(AdminUnit.parent_id == owner.id))
    }
    counts = {"replaced": 0, "added": 0}
    for i, name in enumerate(read.frame[name_field]):
        geom = shapely.make_valid(geoms[i])
        geom = (
            geom
            if geom.geom_type == "MultiPolygon"
            else MultiPolygon([p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"])
        )
        unit = existing.get(str(name))
        counts["replaced" if unit else "added"] += 1
        if unit is None:
            code = str(read.frame[code_field].iloc[i]) if code_field else f"{owner.code}-{name}"
            unit = AdminUnit(
                code=code,
                name=str(name),
                level="township",
                parent=owner,
                code_official=bool(code_field),
            )
            session.add(unit)
        elif code_field:
            unit.code, unit.code_official = str(read.frame[code_field].iloc[i]), True
        unit.geom = from_shape(geom, srid=STORAGE_SRID)
        unit.boundary_approximate = False
        unit.source = source or f"imported from {read.filename}"
    session.flush()
    return counts
