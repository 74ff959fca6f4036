"""What every router shares: the database sessions per request (the primary, or the read
replica for GET reads) and the checked types of path and query parameters, so a value out
of range is a 422 at the edge, never a 500 deep in PostgreSQL (an id beyond its integer
range, a year -92022, a day in year 9999)."""

import math
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import AfterValidator, BeforeValidator
from sqlalchemy.orm import Session

from geo_service import database, periods, texts
from geo_service.models import KINDS

GEOJSON = "application/geo+json"
# PostgreSQL's integer: ids are serial columns.
INT_MAX = 2**31 - 1


def get_session():
    with database.session_scope() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# an error response, never a 201 for something that was not stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_read_session(primary: SessionDep):
    with database.replica_session_scope() as replica:
        yield primary if replica is None else replica


# The GET reads of maps, tiles, tallies and parcels: a read-only session on the read replica
# when DATABASE_REPLICA_URL is set and it answers; else the request's primary session, as
# without a replica. Who is calling is resolved on the primary (auth.current_user, in a
# short transaction of its own before the route's), so a token issued a moment ago is
# never refused because the replica has not replayed it yet. Whatever a route shows with
# the data (the change token of an ETag or a polling page) must come from this same
# session, so it never runs ahead of the data.
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
KIND_PATTERN = f"^({'|'.join(KINDS)})$"
KindFilter = Annotated[str | None, Query(pattern=KIND_PATTERN, description="land or demolition")]


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """minLon,minLat,maxLon,maxLat: four finite numbers, a real box on the globe."""
    if not value:  # an empty bbox is no filter
        return None
    try:
        west, south, east, north = (float(v) for v in value.split(","))
    except ValueError:
        raise ValueError("bbox must be four numbers minLon,minLat,maxLon,maxLat") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ValueError("bbox must hold finite numbers")
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ValueError("bbox must be minLon,minLat,maxLon,maxLat within -180..180, -90..90")
    return west, south, east, north


IdPath = Annotated[int, Path(ge=1, le=INT_MAX, description="the parcel's id")]
# Years, days and periods are read by `periods`, the one parser the CLI uses too; taken as
# text so that its message, not pydantic's, says what is wrong.
YearQuery = Annotated[
    int | None,
    Query(description="campaign year (default: the configured one)"),
    BeforeValidator(periods.check_year),
]
# A campaign by name (攻坚2017); default: the one under way today, else the latest.
CampaignQuery = Annotated[
    str | None,
    Query(
        max_length=100,
        description="campaign name, e.g. 攻坚2017 (default: the one under way today, else "
        "the latest)",
    ),
]
DayQuery = Annotated[
    date | None,
    Query(description="as it stood at the end of this day, YYYY-MM-DD"),
    BeforeValidator(periods.check_day),
]
# A day in a request body: the same parser and window as DayQuery.
Day = Annotated[date, BeforeValidator(periods.check_day)]
# Given as text, handed on as a periods.Period.
PeriodQuery = Annotated[
    str | None,
    Query(description="a month (2017-05) or a quarter (2017Q2)"),
    AfterValidator(periods.check_period),
]
# Text kept from a request body or form: the rule of texts.py, a 422 naming the field.
NoteText = Annotated[str, AfterValidator(texts.validator(texts.NOTE))]
NameText = Annotated[str, AfterValidator(texts.validator(texts.NAME))]
CodeText = Annotated[str, AfterValidator(texts.validator(texts.CODE))]
BboxQuery = Annotated[
    str | None,
    Query(description="minLon,minLat,maxLon,maxLat"),
    AfterValidator(parse_bbox),
]
# A quarter number names the campaign's first quarter of that number; a calendar quarter
# written as a period (2017Q2) names that one (a campaign longer than a year reaches a later
# quarter so). Read by `periods.check_quarter`, handed on as an int or a periods.Period.
QuarterQuery = Annotated[
    str | None,
    Query(
        description="as at the end of the campaign's first quarter of that number, 1-4 (a "
        "campaign across the new year: 4 is its Q4 of the first year, 1 its Q1 of the next), "
        "or of a calendar quarter written as a period, 2017Q2 (the campaign holding it when "
        "none is named)",
    ),
    AfterValidator(periods.check_quarter),
]
# A tile address: zoom 0..24 and x, y inside the zoom's grid (checked again with the zoom).
ZoomPath = Annotated[int, Path(ge=0, le=24)]
TilePath = Annotated[int, Path(ge=0, le=2**24 - 1)]
