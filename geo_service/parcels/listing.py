"""The parcel list's SQL: pages of parcels as GeoJSON feature text, one parcel, the count of
matches.

Each parcel's own part of its feature is kept as text (`parcel_features`, written by
triggers on `parcels` with every parcel's row, migration 0028a); a page splices in what
other tables hold (the names of the township, district, project and supporting townships)
and the four timestamps, written in the session's time zone as Python's
datetime.isoformat() writes them. The bytes are those json_build_object wrote before,
sent on without being parsed.
"""

import time
from dataclasses import dataclass

from geo_service import database
from geo_service.models import STATUSES


def _iso(column: str) -> str:
    """A timestamp as a JSON string the way datetime.isoformat() writes it: microseconds
    only when there are any ('.000000' can only be the fraction), offset as +HH:MM."""
    return (
        f"""coalesce('"' || replace(to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'), """
        """'.000000', '') || '"', 'null')"""
    )


def _json(expr: str) -> str:
    return f"coalesce(to_json({expr})::text, 'null')"


_SUPPORTERS = (
    "(SELECT array_agg(s.name ORDER BY s.name) FROM parcel_support ps "
    "JOIN admin_units s ON s.id = ps.township_id WHERE ps.parcel_id = p.id)"
)


def _feature(supporters: str) -> str:
    return " || ".join(
        (
            "f.parts[1]", _json("t.name"), """', "district" : '""", _json("d.name"),
            """', "project" : '""", _json("pr.code"),
            "f.parts[2]", _iso("p.created_at"),
            "f.parts[3]", _iso("p.updated_at"),
            "f.parts[4]", _iso("p.verified_at"),
            "f.parts[5]", _iso("p.withdrawn_at"),
            "f.parts[6]", _json(supporters), "'}}'",
        )
    )  # fmt: skip


FEATURE = _feature(_SUPPORTERS)
_NAMES = """
    JOIN admin_units t ON t.id = p.township_id
    JOIN admin_units d ON d.id = t.parent_id
    LEFT JOIN projects pr ON pr.id = p.project_id
"""
_FROM = (
    "FROM parcels p JOIN parcel_features f ON f.district_id = p.district_id"
    " AND f.parcel_id = p.id" + _NAMES
)
_TOWNSHIP = "JOIN admin_units t ON t.id = p.township_id"
_PAGE_FEATURE = _feature("sp.names")
# The parcels' change token, read in the same statement (and snapshot) as what it stands for.
CHANGE = "(SELECT coalesce(max(id), 0) FROM parcel_versions)"


def _page_sql(township: bool, where: str, limit: int, offset: int, count: str = "") -> str:
    """A page is chosen first, on the parcels' own columns (and the township's name when
    asked for by it); then its names are joined, and its supporting townships read in
    one go: a look-up per parcel cost more than the rest of the feature.

    The limit and offset are written into the statement, not sent as parameters: with a
    parameter for the limit PostgreSQL's generic plan expects a tenth of the table and
    never wins, so every execution of the prepared statement was planned afresh (1-2 ms,
    as much as running it); with the numbers in, the generic plan is the custom one and
    is kept after psycopg's fifth execution.

    Each feature comes as its UTF-8 bytes (read in binary): the page is sent as they
    are, never decoded to a str and encoded again. `count`: a further column, the count
    of matches read with the page (as a statement of its own it cost a first page about
    0.2-0.3 ms more CPU than a keyset page)."""
    return (
        "WITH page AS MATERIALIZED ("
        " SELECT p.id, p.district_id, p.township_id, p.project_id, p.created_at,"
        " p.updated_at, p.verified_at, p.withdrawn_at"
        f" FROM parcels p {_TOWNSHIP if township else ''} {where}"
        f" ORDER BY p.id LIMIT {int(limit)} OFFSET {int(offset)}),"
        " supporters AS (SELECT ps.parcel_id, array_agg(s.name ORDER BY s.name) AS names"
        " FROM parcel_support ps JOIN admin_units s ON s.id = ps.township_id"
        " WHERE ps.parcel_id IN (SELECT id FROM page) GROUP BY ps.parcel_id)"
        f" SELECT p.id, convert_to({_PAGE_FEATURE}, 'UTF8'), {CHANGE}{count} FROM page p"
        " JOIN parcel_features f ON f.district_id = p.district_id AND f.parcel_id = p.id"
        f" {_NAMES}"
        " LEFT JOIN supporters sp ON sp.parcel_id = p.id ORDER BY p.id"
    )


# Up to this many matches numberMatched is counted; past it, the planner's estimate is given
# (flagged): counting a city's parcels on every page cost more than the page itself.
COUNT_CAP = 10_000


# Each filter's condition on the list's parcels (p, their township t) and on the tallies'
# kept totals (tt, their township t; None: not kept there), and the list's condition when
# the filter is not given. One table, so the list and its count cannot drift apart.
_TOWNSHIP_NAMED = "(t.name = :township OR t.code = :township)"
_CONDITIONS = (
    ("districts", "p.district_id = ANY(:districts)", "t.parent_id = ANY(:districts)", None),
    ("code", "p.code = :code", None, None),
    ("township", _TOWNSHIP_NAMED, _TOWNSHIP_NAMED, None),
    ("kind", "p.kind = :kind", "tt.kind = :kind", None),
    # Withdrawn parcels are listed only when asked for by status.
    ("status", "p.status = :status", "tt.status = :status", "p.status <> 'withdrawn'"),
    ("bbox", "p.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4490)", None, None),
)


@dataclass(frozen=True)
class Filters:
    township: str | None = None
    kind: str | None = None
    status: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    code: str | None = None
    districts: tuple[int, ...] | None = None  # None: every district

    def where(self) -> tuple[str, dict]:
        """WHERE clause and its parameters."""
        clauses, params = self.conditions(kept=False)
        return "WHERE " + " AND ".join(clauses), params

    def conditions(self, kept: bool) -> tuple[list[str], dict]:
        """The conditions on the list's parcels, or on the kept totals (`kept`), and their
        parameters, from _CONDITIONS."""
        clauses, params = [], {}
        for name, listed, totals, otherwise in _CONDITIONS:
            value = getattr(self, name)
            # An empty tuple of districts is given (no district at all); an empty text not.
            if value is None or (name != "districts" and not value):
                if otherwise and not kept:
                    clauses.append(otherwise)
                continue
            if kept and totals is None:
                raise ValueError(f"the kept totals are not by {name}")
            clauses.append(totals if kept else listed)
            if name == "bbox":
                params.update(zip("wsen", value, strict=True))
            else:
                params[name] = list(value) if name == "districts" else value
        return clauses, params


def check_status(status: str | None) -> str | None:
    """The status filter's refusal, if any."""
    if status is not None and status not in STATUSES:
        return f"status must be one of {', '.join(STATUSES)}"
    return None


@dataclass(frozen=True)
class Page:
    rows: list[tuple[int, bytes]]  # (id, feature text in UTF-8), by id
    more: bool  # a next page exists
    change: int | None  # the change token read with the page (None: no row)
    counted: int | None = None  # the kept totals' count read with it, when asked and kept


def page(
    filters: Filters, limit: int, offset: int = 0, after: int | None = None, count: bool = False
) -> Page:
    """Up to `limit` features by id, past `offset` rows or past the id `after` (keyset:
    found through the primary key instead of counting past every earlier row); with
    `count`, the matches counted from the kept totals too when they keep these filters."""
    where, params = filters.where()
    if after is not None:
        where += " AND p.id > :after"
        params["after"] = after
    counted = f", ({_kept_count_sql(filters)})" if count and _counted_kept(filters) else ""
    sql = _page_sql(bool(filters.township), where, limit + 1, offset, counted)
    rows = database.read_rows(sql, params, binary=True)
    return Page(
        [(r[0], r[1]) for r in rows[:limit]],
        len(rows) > limit,
        rows[0][2] if rows else None,
        int(rows[0][3]) if rows and counted else None,
    )


def feature(parcel_id: int) -> tuple[int, str] | None:
    """One parcel's district and feature text."""
    rows = database.read_rows(
        f"SELECT p.district_id, {FEATURE} {_FROM} WHERE p.id = :id", {"id": parcel_id}
    )
    return (rows[0][0], rows[0][1]) if rows else None


def change_token() -> int:
    return database.read_rows(f"SELECT {CHANGE}")[0][0]


# numberMatched by the parcels' change token and the query: another page asked for before
# any parcel changes has the same count. Kept `seconds` at most, for what the change
# token does not follow (a township renamed).
_counts: dict[tuple, tuple[float, dict]] = {}
_COUNTS_MAX = 1_000


def forget_counts() -> None:
    _counts.clear()


def matched(
    filters: Filters, change: int | None, seconds: float, counted: int | None = None
) -> dict:
    """numberMatched: from the tallies' totals when the filters are theirs (district,
    township, kind, status); else exact up to COUNT_CAP, past it the planner's estimate
    (flagged).
    Remembered by the change token read with the page (None: not known, counted afresh).
    `counted`: the kept totals' count read with the page (Page.counted), if any."""
    query = (COUNT_CAP, filters)
    remembered = _counts.get((change, *query)) if change is not None else None
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    if counted is not None:
        counted_at, found = change, {"numberMatched": counted}
    else:
        counted_at, found = _count(filters)
    if not seconds:
        return found
    if len(_counts) >= _COUNTS_MAX:
        _counts.clear()
    # Filed under the token read with the count itself: a change between the page and
    # the count is never remembered under the older token.
    _counts[(counted_at, *query)] = (time.monotonic() + seconds, found)
    return found


def _counted_kept(filters: Filters) -> bool:
    """Whether the kept totals count these filters' matches."""
    return not filters.code and not filters.bbox and filters.status != "withdrawn"


def _count(filters: Filters) -> tuple[int, dict]:
    if _counted_kept(filters):
        return _count_kept(filters)
    where, params = filters.where()
    # Only the parcels' own columns, but for a township asked for by name: joining the
    # names a page shows cost more than the count itself.
    source = "FROM parcels p " + (_TOWNSHIP if filters.township else "")
    counted, change = database.read_rows(
        f"SELECT count(*), {CHANGE} FROM (SELECT 1 {source} {where} LIMIT :cap) m",
        {**params, "cap": COUNT_CAP + 1},
    )[0]
    if counted <= COUNT_CAP:
        return change, {"numberMatched": counted}
    plan = database.read_rows(f"EXPLAIN (FORMAT JSON) SELECT 1 {source} {where}", params)[0][0]
    estimate = max(int(plan[0]["Plan"]["Plan Rows"]), counted)
    return change, {"numberMatched": estimate, "numberMatchedIsEstimate": True}


def _count_kept(filters: Filters) -> tuple[int, dict]:
    """The count from the tallies' totals (migration 0009: kept by the triggers on parcels,
    per township, kind and status; withdrawn parcels left out, as the list leaves them),
    exact however many: they count the parcels that overlap no other, so those that do
    are counted apart, through their small partial index."""
    _, params = filters.conditions(kept=True)
    counted, change = database.read_rows(f"SELECT {_kept_count_sql(filters)}, {CHANGE}", params)[0]
    return change, {"numberMatched": int(counted)}


def _kept_count_sql(filters: Filters) -> str:
    """The kept totals' count as an expression, with the list's parameters (_CONDITIONS)."""
    kept, _ = filters.conditions(kept=True)
    where, _ = filters.where()
    return (
        "(SELECT coalesce(sum(tt.parcels), 0) FROM tally_totals tt"
        " JOIN admin_units t ON t.id = tt.township_id"
        f" {'WHERE ' + ' AND '.join(kept) if kept else ''})"
        f" + (SELECT count(*) FROM parcels p {_TOWNSHIP} {where} AND p.overlapping)"
    )
