"""Finding administrative units by name or code, with errors a user can act on."""

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from geo_service.errors import InvalidInput, NotFound
from geo_service.models import AdminUnit


def find_district(session: Session, name: str) -> AdminUnit:
    return _find_one(session, name, "district")


def find_city(session: Session) -> AdminUnit:
    city = session.scalar(select(AdminUnit).where(AdminUnit.level == "city"))
    if city is None:
        raise NotFound(
            "no city on record; run geo-service db upgrade", rule="city_missing", params={}
        )
    return city


def find_district_or_city(session: Session, name: str) -> AdminUnit:
    """A district, or the city itself when `name` is the city's name or code (targets
    can be set for the whole city)."""
    city = find_city(session)
    if name in (city.name, city.code):
        return city
    return find_district(session, name)


def find_township(session: Session, name: str, district: AdminUnit | None = None) -> AdminUnit:
    """A township by name or code; 'district/township' or --district settle ambiguous names."""
    if "/" in name and district is None:
        district_name, name = name.split("/", 1)
        district = find_district(session, district_name)
    return _find_one(session, name, "township", parent=district)


def _find_one(session, name: str, level: str, parent: AdminUnit | None = None) -> AdminUnit:
    query = select(AdminUnit).where(
        AdminUnit.level == level, or_(AdminUnit.name == name, AdminUnit.code == name)
    )
    if parent is not None:
        query = query.where(AdminUnit.parent_id == parent.id)
    found = session.scalars(query).all()
    if not found:
        hint = _suggestions(session, name, level)
        raise NotFound(
            f"no {level} named {name!r}" + (f"; did you mean {hint}?" if hint else ""),
            rule="unit", params={"name": name},
        )  # fmt: skip
    if len(found) > 1:
        raise InvalidInput(
            f"{name!r} names several {level}s; write it as district/{name}",
            rule="unit_several", params={"name": name},
        )  # fmt: skip
    return found[0]


def _suggestions(session, name: str, level: str) -> str:
    # Users often type the name without its suffix (新店 for 新店镇).
    rows = session.scalars(
        select(AdminUnit.name).where(AdminUnit.level == level, AdminUnit.name.contains(name))
    ).all()
    return ", ".join(rows[:5])
