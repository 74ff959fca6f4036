"""The pages' words for the upload rules and for refusals, as gettext msgids (translated
where shown: geo_service/locale). The rules themselves live in validation.py, uploads.py and
readers/; a problem's figures come as its params, and the rule code stays a secondary
detail. A problem whose rule has no wording here (or a report kept before problems carried
params) shows the domain's own message, marked as such."""

import re

from geo_service.errors import (
    Conflict,
    Forbidden,
    GeoServiceError,
    InvalidInput,
    NotFound,
    TooLarge,
    Unauthorized,
    UploadRefused,
)
from geo_service.web.i18n import HTML_LANG, N_, choose, gettext_for

# msgids, translated on the page (the zh_CN catalog: 计划, 实施中, 已交地…).
STATUS_LABELS = {
    "planned": N_("planned"),
    "in_progress": N_("in progress"),
    "delivered": N_("delivered"),
    "demolished": N_("demolished"),
    "verified": N_("verified"),
    "disputed": N_("disputed"),
    "withdrawn": N_("withdrawn"),
}

# The verification groups by their names as stored (models.VERIFICATION_GROUPS).
GROUP_LABELS = {
    "土地核验组": N_("land verification group"),
    "拆迁核验组": N_("demolition verification group"),
    "回迁核验组": N_("relocation verification group"),
}

RULE_LABELS = {
    "bad_coordinate": N_("a boundary point's coordinates cannot be read"),
    "bad_field_day": N_("the field day (核验日期) cannot be read"),
    "changed_after_verification": N_(
        "the boundary of a verified parcel changed: it must be verified again"
    ),
    "code_missing": N_("no parcel code label inside the outline"),
    "code_not_printable": N_("the parcel code holds a character that does not show"),
    "code_not_text": N_("a parcel code must be text or a number"),
    "code_outside_outlines": N_("a parcel code label lies inside no outline"),
    "code_too_long": N_("the parcel code is too long"),
    "columns_swapped": N_(
        "the X and Y columns were swapped (X is northing) and were corrected by their values"
    ),
    "coordinates_out_of_range": N_("coordinates out of any sensible range (wrong CRS?)"),
    "coordinates_unrecognised": N_("cannot tell whether the coordinates are lon/lat or projected"),
    "crs_inferred": N_("the file names no CRS; it was inferred from the coordinates"),
    "crs_missing": N_("the file has no CRS"),
    "crs_zone_from_township": N_(
        "the file names no CRS and its eastings no zone: the zone was taken from the township"
    ),
    "crs_not_accepted": N_("this CRS is not accepted"),
    "crs_unknown": N_("the CRS the file declares is not recognised"),
    "datum_approximate": N_("the datum is converted without official parameters"),
    "declared_area_mismatch": N_("the declared area differs too much from the boundary's"),
    "duplicate_code": N_("duplicate parcel code"),
    "dwg_closed_assumed": N_("every polyline of the DWG drawing was read as closed"),
    "dwg_not_read": N_("this DWG drawing cannot be read"),
    "encoding": N_("the text encoding cannot be read"),
    "heights_dropped": N_("the heights of the coordinates were dropped"),
    "duplicate_geometry": N_("the same boundary as another feature of the file"),
    "elsewhere_township": N_("most of the parcel lies in another township (it counts there)"),
    "empty_geometry": N_("the feature has no geometry"),
    "field_day_before_state": N_("the field day is earlier than the parcel's current state"),
    "field_day_future": N_("the field day is in the future"),
    "field_day_window": N_("the field day is further back than the back-dating window"),
    "invalid_geometry": N_("self-intersecting or invalid boundary"),
    "malformed_file": N_("the file is damaged"),
    "name_not_printable": N_("the parcel name holds a character that does not show"),
    "name_too_long": N_("the parcel name is too long"),
    "no_features": N_("the file holds no features"),
    "no_parcels": N_("no parcels found in the file"),
    "not_polygon": N_("not a polygon (a parcel boundary must be one)"),
    "outside_crs_area": N_("coordinates outside the area of use of the CRS"),
    "outside_district": N_("the parcel is not in its district"),
    "outside_fuzhou": N_("the parcel is not in Fuzhou"),
    "outside_township": N_("the parcel is not in the chosen township"),
    "overlap": N_("overlaps a parcel"),
    "overlap_verified": N_("overlaps a verified parcel"),
    "repaired_geometry": N_("the boundary was repaired automatically (please check it)"),
    "ring_crosses_itself": N_("the boundary crosses itself (point order or coordinates wrong)"),
    "several_codes": N_("several parcel code labels inside one outline"),
    "signoff": N_(
        "the uploader may not set this status (sign-off is the verification group's, "
        "under four eyes)"
    ),
    "skipped_features": N_("some features were skipped"),
    "status_move": N_("an upload cannot move a parcel back or out of a dispute"),
    "too_few_points": N_("too few boundary points to make a parcel"),
    "unclosed_outline": N_("the outline is not closed (not closed automatically)"),
    "unclosed_ring": N_("the boundary is not closed"),
    "unknown_project": N_("no such project"),
    "unknown_status": N_("unknown status"),
    "unknown_township": N_("no such supporting township"),
    "withdrawn": N_("a parcel with this code was withdrawn; the code cannot be used again"),
    "zone_mismatch": N_("the coordinates do not match the chosen projection zone"),
}

# A problem's detail, with its figures (Problem.params) by name; a rule said in several
# ways is keyed "rule:variant" (params["variant"]).
_CRS_FIELD = N_("choose the CRS in the form's CRS field")
DETAILS = {
    "bad_coordinate": N_("unreadable point lines (line %(lines)s)"),
    "bad_coordinate:rows": N_("unreadable point rows (row %(lines)s)"),
    "code_missing": N_(
        "the outline on layer %(layer)s (entity %(entity)s of the drawing) holds no code "
        "text (宗地号); it was named after the file"
    ),
    "code_not_text": N_("the parcel code (%(key)s) must be plain text or a number, not %(value)s"),
    "code_outside_outlines": N_(
        "the code text %(text)s on layer %(layer)s at (%(x)s, %(y)s) lies inside no parcel outline"
    ),
    "columns_swapped": N_(
        "the X column holds eastings and Y northings (X is the northing in Gauss-Kruger "
        "surveys): they were read the other way round"
    ),
    "coordinates_out_of_range": N_(
        "the coordinates are not longitude/latitude (projected numbers in a lon/lat file?): "
        "choose the file's CRS in the CRS field, for example EPSG:4549"
    ),
    "coordinates_unrecognised:mixed_prefixes": N_(
        "some eastings carry a zone prefix and some do not"
    ),
    "coordinates_unrecognised:northing": N_(
        "cannot tell the northing (X, about 2.8 to 3.0 million metres in Fuzhou) from the "
        "easting (Y) in the point lines: are these Gauss-Kruger coordinates in metres?"
    ),
    "coordinates_unrecognised:zones": N_("the eastings lie in several zones (%(zones)s)"),
    "crs_inferred": N_(
        "the file names no CRS: CGCS2000 3-degree Gauss-Kruger zone %(zone)s (EPSG:%(code)s) "
        "was assumed from its coordinates; if the survey is on another datum, choose "
        "EPSG:%(xian)s (Xian 1980) or EPSG:%(beijing)s (Beijing 1954) in the CRS field"
    ),
    "crs_missing": N_(
        "the file names no CRS: %(advice)s (for example EPSG:4549 for CGCS2000 Gauss-Kruger "
        "CM 120E, EPSG:4490 for CGCS2000 lon/lat, gcj02 for web-map coordinates)"
    ),
    "crs_missing:no_coordinates": N_("the file names no CRS and holds no coordinates"),
    "crs_missing:no_zone": N_(
        "the eastings carry no zone prefix and the header gives no 带号, so the zone is "
        "unknown: %(advice)s (for example EPSG:4549 for CGCS2000 Gauss-Kruger CM 120E)"
    ),
    "crs_missing:plain_eastings": N_(
        "the file names no CRS and its eastings carry no zone prefix, so the zone cannot be "
        "told from the numbers: %(advice)s (for example EPSG:4549 for CGCS2000 Gauss-Kruger "
        "CM 120E, EPSG:4548 for CM 117E)"
    ),
    "crs_not_accepted:crs": N_(
        "the CRS %(crs)s is not accepted for Fuzhou data: reproject the file or %(advice)s"
    ),
    "crs_not_accepted:datum": N_(
        "坐标系=%(system)s is not a datum this service knows (2000国家大地坐标系, "
        "1980西安坐标系, 1954北京坐标系): %(advice)s"
    ),
    "crs_not_accepted:zone": N_(
        "3-degree zone %(zone)s is not a zone of China's Gauss-Kruger grid (25 to 45): %(advice)s"
    ),
    "crs_not_accepted:zone_width": N_(
        "几度分带=%(width)s: only 3-degree Gauss-Kruger zones are accepted: %(advice)s"
    ),
    "crs_unknown": N_(
        "the file declares the CRS %(declared)s, which is not a known CRS: correct it in "
        "the file or %(advice)s"
    ),
    "crs_zone_from_township": N_(
        "the file names no CRS and its eastings carry no zone prefix: the zone was taken "
        "from the declared township %(township)s (CM %(zone)sE, EPSG:%(code)s), in which the "
        "parcels lie in %(district)s; if the survey is in another zone or datum, %(advice)s"
    ),
    "datum_approximate": N_(
        "%(name)s (EPSG:%(code)s) is converted to CGCS2000 without official transformation "
        "parameters: positions may be off by up to about 100 m, areas by less than 0.01%%; "
        "convert the file with official parameters if positions matter"
    ),
    "dwg_closed_assumed": N_(
        "GDAL's CAD driver does not tell closed polylines from open ones: %(count)s "
        "polylines whose ends do not meet were read as closed; check the outlines, or upload "
        "a DXF export, in which open outlines are found"
    ),
    "dwg_not_read": N_(
        "a DWG drawing of AutoCAD %(release)s (%(version)s) cannot be read here: only "
        "AutoCAD 2000 (AC1015) drawings are read; in 南方CASS or AutoCAD save the drawing as "
        "DXF (另存为 DXF) and upload the .dxf"
    ),
    "dwg_not_read:no_header": N_(
        "the file is not a valid DWG drawing (no DWG header): in 南方CASS or AutoCAD save the "
        "drawing as DXF (另存为 DXF) and upload the .dxf"
    ),
    "elsewhere_township": N_(
        "%(share)s of the parcel lies outside %(township)s: it lies in %(where)s, so it would "
        "be credited to the wrong township (declare %(where)s, or a verifier gives an "
        "override reason)"
    ),
    "elsewhere_township:override": N_(
        "%(share)s of the parcel lies outside %(township)s: it lies in %(where)s; stored by "
        "override: %(reason)s"
    ),
    "encoding:invalid": N_("the text is not valid %(encoding)s"),
    "encoding:unknown": N_(
        "the text is neither UTF-8 nor GBK/GB18030: save it as UTF-8 and upload it again"
    ),
    "heights_dropped": N_(
        "the file's CRS %(crs)s carries heights: it was read as its horizontal part "
        "%(horizontal)s (EPSG:%(code)s); heights were dropped and areas are measured on the "
        "ellipsoid"
    ),
    "malformed_file:point_before_header": N_(
        "line %(line)s: a point before any parcel header line "
        "(<点数>,<面积>,<地块编号>,<地块名称>,面,...,@)"
    ),
    "name_not_printable": N_(
        "the parcel name (%(key)s) holds a NUL character (U+0000), which would cut it short: "
        "correct it in the file"
    ),
    "no_parcels:no_header": N_(
        "no header row with the coordinate columns (%(expected)s) in the first %(rows)s rows: "
        "name the columns in the form's Columns field (e.g. code=宗地代码,point=点号,x=北坐标,"
        "y=东坐标)"
    ),
    "no_parcels:no_outlines": N_(
        "no closed polylines on the parcel layers (%(wanted)s); the drawing's layers "
        "(entities): %(layers)s: name the parcel layer in the form's Layer field"
    ),
    "no_parcels:no_points": N_("no boundary points with coordinates"),
    "no_parcels:no_section": N_("no parcel coordinates in the [%(section)s] section"),
    "no_parcels:no_sheet": N_("no sheet %(sheet)s in the workbook (sheets: %(sheets)s)"),
    "no_parcels:several_sheets": N_(
        "several sheets hold point tables (%(sheets)s): name one in the form's Layer field"
    ),
    "not_polygon:marked": N_("the parcel is marked %(kind)s, not 面 (a polygon)"),
    "several_codes": N_(
        "the outline on layer %(layer)s (entity %(entity)s of the drawing) holds %(count)s "
        "code texts (%(codes)s); keep one"
    ),
    "skipped_features:open_lines": N_(
        "%(count)s open lines on the parcel layers are not outlines and were skipped (%(layers)s)"
    ),
    "skipped_features:placemarks": N_(
        "%(count)s placemarks that are not polygons were skipped: %(names)s"
    ),
    "status_move": N_(
        "%(code)s is %(current)s; a file cannot move it back to %(status)s: change the status "
        "on the parcel's page, with a reason"
    ),
    "status_move:disputed": N_(
        "%(code)s is disputed: settle it on the parcel's page (with a reason), not by upload"
    ),
    "too_few_points": N_(
        "ring %(ring)s has %(count)s distinct points; a boundary needs at least 3"
    ),
    "too_few_points:none": N_("the parcel has no points"),
    "unclosed_outline": N_(
        "the outline on layer %(layer)s (entity %(entity)s of the drawing) does not close: "
        "its ends are %(gap)s m apart; close the polyline in CASS (it was not closed here)"
    ),
    "unclosed_ring": N_("ring %(ring)s does not end on its first point; it was closed"),
    "unknown_project": N_("no project with code %(code)s: import the project list first"),
    "unknown_status": N_("unknown status %(value)s; a file may say %(allowed)s"),
    "unknown_township": N_("no township named %(name)s in this district to credit as a helper"),
    "withdrawn": N_("%(code)s was withdrawn; a withdrawn parcel's code is not used again"),
    "zone_mismatch": N_(
        "带号=%(header)s in the header, but the eastings carry zone prefix %(zone)s: zone "
        "%(zone)s was used"
    ),
    "declared_area_mismatch": N_(
        "declared %(declared)s m² but the boundary measures %(measured)s m² (%(difference)s)"
    ),
    "duplicate_code": N_("parcel code %(code)s is used again (first at feature %(first)s)"),
    "duplicate_geometry": N_("the same boundary as feature %(feature)s (%(code)s)"),
    "code_too_long": N_("a parcel code has at most %(limit)s characters, this one %(length)s"),
    "empty_geometry": N_("the feature has no geometry"),
    "bad_field_day": N_("field day %(value)s: write a day as YYYY-MM-DD (or YYYY-MM-DDTHH:MM)"),
    "field_day_before_state": N_(
        "the field day %(day)s is earlier than the parcel's current state (since %(since)s): "
        "history runs forwards"
    ),
    "field_day_future": N_(
        "the field day %(day)s is in the future: a change is dated on the day it happened, at "
        "the latest today (%(today)s)"
    ),
    "field_day_window": N_(
        "the field day %(day)s is %(days)s days ago, more than the back-dating window of "
        "%(window)s days: an admin records it (import in migration mode)"
    ),
    "invalid_geometry": N_(
        "invalid boundary (%(reason)s); repairing it would change the area by %(change)s: "
        "fix the boundary and upload again"
    ),
    "no_features": N_("the file holds no features"),
    "not_polygon": N_("this feature is a %(type)s, not a parcel boundary (polygon)"),
    "outside_crs_area": N_(
        "coordinates fall outside the area of use of %(crs)s (lon %(west)s to %(east)s, "
        "lat %(south)s to %(north)s): is the CRS right? Name it in the CRS field"
    ),
    "outside_district": N_(
        "%(share)s of the parcel lies outside %(district)s, the district of %(township)s: "
        "is the township (or the CRS) right?"
    ),
    "outside_fuzhou": N_("the parcel lies outside Fuzhou: is the CRS or the zone right?"),
    "outside_township": N_("%(share)s of the parcel lies outside %(township)s"),
    "overlap": N_("overlaps parcel %(other)s by %(area)s m²"),
    "repaired_geometry": N_(
        "invalid boundary (%(reason)s) repaired; the area changed by %(change)s"
    ),
    "ring_crosses_itself": N_(
        "ring %(ring)s crosses itself where these sides meet: %(crossings)s; check the order "
        "and coordinates of these boundary points"
    ),
}
# Two verified parcels overlapping: refused, or accepted on the form (then a warning).
_OVERLAP_VERIFIED = {
    "error": N_(
        "overlaps verified parcel %(other)s by %(area)s m²; both are verified: fix it, or "
        "a verifier keeps the overlaps with the button beside the report, giving a reason"
    ),
    "warning": N_(
        "overlaps verified parcel %(other)s by %(area)s m² (accepted: counted once in the tallies)"
    ),
}

_INVALID_WORDS = N_("Something in the form is wrong")
_ERROR_WORDS = [
    (UploadRefused, N_("The file was not accepted")),
    (TooLarge, N_("The file is too large")),
    (Forbidden, N_("Not allowed")),
    (Unauthorized, N_("Please sign in again")),
    (NotFound, N_("Not found")),
    (Conflict, N_("Someone changed this just now; nothing was saved. Reload and try again")),
    (InvalidInput, _INVALID_WORDS),
]


_OTHER = N_("other problem")


def rule_label(rule: str, _=str) -> str:
    return _(RULE_LABELS.get(rule, _OTHER))


# GEOS's reasons for an invalid boundary (shapely.is_valid_reason), said on the page; the
# point after them in brackets is kept as figures.
GEOMETRY_REASONS = {
    "Self-intersection": N_("the boundary crosses itself near %(point)s"),
    "Ring Self-intersection": N_("a ring touches itself near %(point)s"),
    "Too few points in geometry component": N_("too few points near %(point)s"),
    "Interior is disconnected": N_("the inside is cut in two near %(point)s"),
    "Hole lies outside shell": N_("a hole lies outside the outline near %(point)s"),
    "Nested holes": N_("a hole lies in another hole near %(point)s"),
    "Nested shells": N_("an outline lies in another outline near %(point)s"),
    "Duplicate Rings": N_("a ring is repeated near %(point)s"),
    "Invalid Coordinate": N_("an unreadable coordinate near %(point)s"),
    "Ring is not closed": N_("a ring is not closed near %(point)s"),
}
_REASON = re.compile(r"^([A-Za-z][-A-Za-z ]*?)\s*(?:\[([-+0-9.eE ]+)\])?$")
_NO_TOWNSHIP = N_("no township on record")


def geometry_reason(reason: str, _=str) -> str:
    """GEOS's reason in the page's language (its point rounded to 1e-6°, about 0.1 m); a
    reason we have no words for is shown as GEOS gives it."""
    found = _REASON.match(reason or "")
    wording = GEOMETRY_REASONS.get(found.group(1)) if found else None
    if wording is None:
        return reason
    point = " ".join(f"{float(v):.6f}" for v in (found.group(2) or "").split())
    return _(wording) % {"point": f"[{point}]" if point else "—"}


def _params_said(rule: str, params: dict, _) -> dict:
    """The figures that are words themselves (statuses, GEOS reasons, the CRS field's
    advice) in the page's language."""
    said = _named_words({**params, "advice": _(_CRS_FIELD)}, _)
    if rule in ("invalid_geometry", "repaired_geometry") and isinstance(said.get("reason"), str):
        said["reason"] = geometry_reason(said["reason"], _)
    if said.get("where") == "":
        said["where"] = _(_NO_TOWNSHIP)
    return said


def _wording(problem: dict, params: dict) -> str | None:
    rule = problem.get("rule")
    if rule == "overlap_verified":
        return _OVERLAP_VERIFIED.get(problem.get("severity"))
    variant = params.get("variant")
    if rule == "elsewhere_township" and "reason" in params:
        variant = "override"
    return DETAILS.get(f"{rule}:{variant}") if variant else DETAILS.get(rule)


def problem_detail(problem: dict, _=str) -> tuple[str, bool]:
    """The detail in the page's language, and whether it is ours (False: the domain's own
    message, for a rule without wording here or a problem kept without its figures)."""
    params = problem.get("params")
    wording = None if params is None else _wording(problem, params)
    if wording is None:
        return problem.get("message") or "", False
    try:
        return _(wording) % _params_said(problem.get("rule"), params, _), True
    except (KeyError, TypeError, ValueError):  # a figure missing from an older report
        return problem.get("message") or "", False


# Who may ask for a parcel's status (permissions.signoff_refusal): said alike when a page's
# move is refused and when a file's feature asks for it (the upload rule "signoff").
SIGNOFF = {
    "township": N_(
        "%(user)s may not set the status of parcels in %(township)s: it is not one of their "
        "townships"
    ),
    "officer": N_(
        "%(user)s (township officer) may move parcels up to delivered or demolished, not to "
        "%(status)s; signing off and settling a dispute is %(owner)s's work"
    ),
    "group": N_(
        "%(user)s (%(group)s) may not set %(kind)s parcels %(status)s: that is %(owner)s's work"
    ),
    "not_done": N_(
        "a parcel that is %(current)s is not signed off: it is verified once delivered or "
        "demolished"
    ),
    "four_eyes": N_(
        "%(district)s requires four eyes: %(user)s uploaded or delivered this parcel and may "
        "not also verify it"
    ),
}
DETAILS.update({f"signoff:{way}": words for way, words in SIGNOFF.items()})

# A relocation rule said alike when a single change is refused (REFUSALS) and when a
# roster or flat list breaks it (ROSTER_DETAILS): relocation/households.py.
_RELOCATION = {
    "allocation_cash": N_("household %(ref)s chose cash compensation (货币补偿): no flats are due"),
    "allocation_over": N_("household %(ref)s is due %(due)s flat(s); this would give it %(count)s"),
    "handover_unallocated": N_("a flat handed over (交房) must be allocated to a household"),
    "title_before_handover": N_("a title (办证) needs the flat handed over (交房) first"),
    "handover_before_allocation": N_(
        "handed over %(handed_over)s before it was allocated (%(allocated)s)"
    ),
    "certified_before_handover": N_(
        "certified %(certified)s before it was handed over (%(handed_over)s)"
    ),
    "compensation": N_("compensation %(value)s is none of 产权调换, 货币补偿, 混合"),
    "id_number_form": N_("an ID number has 17 digits and a check digit or X"),
    "id_number_check": N_("the ID number's check digit does not match (mistyped?)"),
    "id_secret_missing": N_(
        "ID numbers are given but RELOCATION_ID_SECRET is not set: an administrator sets it, "
        "or leave the ID column empty"
    ),
}
# A file refused as a whole before it is read (parcels/readers, relocation/rosters.py).
_FILE_REFUSALS = {
    # A period, quarter, year or day miswritten in an address (periods.Miswritten).
    "period_form": N_("%(field)s: write a month as 2017-05 or a quarter as 2017Q2, not %(value)s"),
    "quarter_form": N_("%(field)s: write a quarter as 2 or 2017Q2, not %(value)s"),
    "quarter_number": N_("%(field)s: a quarter's number is 1 to 4, not %(value)s"),
    "period_years": N_("%(field)s: must be in the years %(first)s to %(last)s, not %(value)s"),
    "year_window": N_("%(field)s: must be a year from %(first)s to %(last)s, not %(value)s"),
    "year_form": N_("%(field)s: write a year as 2017, not %(value)s"),
    "day_window": N_("%(field)s: must be a day in the years %(first)s to %(last)s, not %(value)s"),
    "day_form": N_("%(field)s: write a day as 2017-06-30, not %(value)s"),
    "day_calendar": N_("%(field)s: %(value)s is no day of the calendar"),
    "field_day_form": N_(
        "%(field)s: write a day as 2017-06-30 (or with its time, 2017-06-30T15:30), not %(value)s"
    ),
    "moment_calendar": N_("%(field)s: %(value)s is no moment of the calendar"),
    "file_empty": N_("%(file)s: the file is empty"),
    "file_missing": N_("%(file)s: the file was not found"),
    "file_unreadable": N_("%(file)s: the file cannot be read (%(reason)s)"),
    "not_boundary_points": N_(
        "%(file)s: not a boundary-point coordinate file (界址点坐标文件): it has no "
        "[属性描述] or [地块坐标] section; send a zipped Shapefile, a GeoPackage, GeoJSON, "
        "KML/KMZ, a 南方CASS drawing (.dxf), a boundary-point table (.xlsx or .csv) or a CASS "
        "coordinate file (.dat)"
    ),
    "roster_encoding": N_(
        "%(file)s: the text is neither UTF-8 nor GBK: save it as UTF-8 and upload it again"
    ),
    "roster_no_header": N_("%(file)s: no header row with %(wanted)s in the first 10 rows"),
    "roster_type": N_("%(file)s: a roster or flat list is a .csv or .xlsx file"),
    "roster_workbook": N_("%(file)s: the workbook cannot be read (%(reason)s)"),
    "text_encoding_invalid": N_("%(file)s: the text is not valid %(encoding)s"),
    "text_encoding_unknown": N_(
        "%(file)s: the text is neither UTF-8 nor GBK/GB18030: save it as UTF-8 and upload it again"
    ),
    "archive_kmz": N_("%(file)s: the KMZ must hold exactly one KML document (found: %(found)s)"),
    "archive_members": N_(
        "%(file)s: the archive must hold exactly one Shapefile, GeoPackage, GeoJSON, KML or "
        "boundary-point file (found: %(found)s); name one in the form's Layer field"
    ),
    "columns_option": N_(
        "Columns: %(value)s is not <field>=<header> with a field among %(choices)s (e.g. "
        "code=宗地代码,x=北坐标)"
    ),
    "encoding_name": N_("unknown text encoding %(value)s (try UTF-8 or GBK)"),
    "json_depth": N_("%(file)s: JSON nested more than %(limit)s levels deep"),
    "text_too_large": N_("%(file)s: larger than %(limit)s MB, the limit for a text file"),
    "unsupported_file": N_(
        "%(file)s: files of type %(suffix)s are not read here; send a zipped Shapefile, a "
        "GeoPackage, GeoJSON, KML/KMZ, a boundary-point coordinate file (界址点坐标文件, .txt), "
        "a 南方CASS drawing (.dxf), a boundary-point table (界址点成果表, .xlsx or .csv), a CSV "
        "with a WKT geometry column or a CASS coordinate file (.dat)"
    ),
}

# pydantic's own checks of a request, by its error type (api/handlers.invalid_request
# gives each as the rule "input.<type>" with its figures, the field named as the API's
# detail names it); a type not here is shown as pydantic says it.
_WHOLE = N_("%(field)s: %(value)s is not a whole number")
_NUMBER = N_("%(field)s: %(value)s is not a number")
_BOOL = N_("%(field)s: %(value)s is neither true nor false (write true or false)")
_ONE_OF = N_("%(field)s: must be one of %(expected)s, not %(value)s")
_DAY = N_("%(field)s: %(value)s is not a day (write 2017-06-30)")
_MOMENT = N_("%(field)s: %(value)s is not a moment (write 2017-06-30T15:30)")
_OBJECT = N_("%(field)s: must be a JSON object")
INPUT_CHECKS = {
    "int_parsing": _WHOLE,
    "int_type": _WHOLE,
    "int_from_float": _WHOLE,
    "float_parsing": _NUMBER,
    "float_type": _NUMBER,
    "bool_parsing": _BOOL,
    "bool_type": _BOOL,
    "literal_error": _ONE_OF,
    "enum": _ONE_OF,
    "string_pattern_mismatch": _ONE_OF,
    "string_pattern_mismatch:form": N_("%(field)s: %(value)s is not written as this field asks"),
    "greater_than_equal": N_("%(field)s: must be at least %(limit)s, not %(value)s"),
    "greater_than": N_("%(field)s: must be more than %(limit)s, not %(value)s"),
    "less_than_equal": N_("%(field)s: must be at most %(limit)s, not %(value)s"),
    "less_than": N_("%(field)s: must be less than %(limit)s, not %(value)s"),
    "missing": N_("%(field)s: needed, but not given"),
    "string_too_long": N_("%(field)s: at most %(limit)s characters, this one has %(length)s"),
    "string_too_short": N_("%(field)s: at least %(limit)s characters, this one has %(length)s"),
    "too_long": N_("%(field)s: at most %(limit)s items, this list has %(length)s"),
    "too_short": N_("%(field)s: at least %(limit)s items, this list has %(length)s"),
    "string_type": N_("%(field)s: must be text, not %(value)s"),
    "list_type": N_("%(field)s: must be a list, not %(value)s"),
    "dict_type": _OBJECT,
    "model_attributes_type": _OBJECT,
    "date_parsing": _DAY,
    "date_from_datetime_parsing": _DAY,
    "date_type": _DAY,
    "date_from_datetime_inexact": N_(
        "%(field)s: %(value)s has a time of day: write the day alone (2017-06-30)"
    ),
    "datetime_parsing": _MOMENT,
    "datetime_from_date_parsing": _MOMENT,
    "datetime_type": _MOMENT,
    "json_invalid": N_("the request's body is not valid JSON (near character %(position)s)"),
    "extra_forbidden": N_("%(field)s: this request takes no such field"),
}

# A refusal's detail by its rule (GeoServiceError.rule), with its figures (.params).
REFUSALS = {
    "city": N_("%(user)s may not see all of %(city)s: choose their district"),
    "dispute_reason": N_("parcel %(code)s: a dispute needs a reason (the note)"),
    "field_day_future": N_(
        "parcel %(code)s: the field day %(day)s is in the future: a change is dated on the day "
        "it happened, at the latest today (%(today)s)"
    ),
    "field_day_window": N_(
        "parcel %(code)s: the field day %(day)s is %(days)s days ago, more than the "
        "back-dating window of %(window)s days: an admin records it (import in migration mode)"
    ),
    "four_eyes": SIGNOFF["four_eyes"],
    "district": N_("%(user)s may not see %(district)s"),
    "kind": N_(
        "%(user)s (%(group)s) may not do this to %(kind)s parcels: that is %(owner)s's work"
    ),
    "name_district": N_("choose a district: one of %(names)s"),
    "parcel_code": N_("no parcel with code %(code)s"),
    "parcel_code_several": N_(
        "parcel code %(code)s is used by %(count)s parcels: %(places)s; choose the township "
        "(and kind) or give the parcel's number"
    ),
    "parcel_id": N_("no parcel #%(id)s"),
    "photo_empty": N_("%(file)s: the file is empty"),
    "photo_id": N_("no photo #%(id)s"),
    "photo_no_original": N_("photo #%(id)s: the original was not kept"),
    "photo_not_image": N_("%(file)s: not a photo (JPEG, PNG, WebP or HEIC), or a damaged one"),
    "photo_position": N_(
        "the photo's position needs lon and lat, on the globe, and an accuracy of 0 m or more"
    ),
    "photo_taken_at": N_("the photo's time %(value)s cannot be read (YYYY-MM-DDTHH:MM:SS)"),
    "photo_taken_future": N_("the photo's time %(time)s is in the future: check the clock"),
    "photo_too_large": N_("%(file)s: larger than the photo limit (%(limit)s bytes)"),
    "photo_too_many_pixels": N_(
        "%(file)s: more pixels than the limit of %(limit)s (a decompression bomb, or an image "
        "too large to show)"
    ),
    "photo_version": N_("parcel %(code)s has no version %(version)s (its latest is %(latest)s)"),
    "pending_gone": N_("this checked file is no longer waiting: check it again"),
    "project_code": N_("no project with code %(code)s: import the project list first"),
    "reason_needed": N_(
        "parcel %(code)s: from %(current)s to %(status)s needs a reason (the note)"
    ),
    "role": N_("%(user)s may not do this: it is not for their role"),
    "signoff_group": SIGNOFF["group"],
    "signoff_not_done": SIGNOFF["not_done"],
    "signoff_officer": SIGNOFF["officer"],
    "signoff_township": SIGNOFF["township"],
    "stale": N_("parcel %(code)s changed since you looked"),
    # an upload's options (parcels/uploads.py upload_options, the upload page)
    "overlaps_reason": N_(
        "keeping overlaps between verified parcels takes a reason, kept on record with the "
        "upload (store_reason)"
    ),
    "reason_too_long": N_("a reason has at most %(limit)s characters"),
    "upload_status": N_("the status must be one of %(allowed)s, not %(value)s"),
    "valid_reason": N_(
        "storing only the valid features of a file takes a reason, kept on record with the "
        "upload (store_reason)"
    ),
    "township": N_("%(user)s may not do this in %(township)s: it is not one of their townships"),
    "transition": N_(
        "parcel %(code)s cannot go from %(current)s to %(status)s; from %(current)s it may "
        "go to: %(allowed)s"
    ),
    "unit": N_("no township or district named %(name)s"),
    "withdrawal_reason": N_("parcel %(code)s: a withdrawal needs a reason (the note)"),
    # the project register and targets (campaign/register.py, campaign/targets.py)
    "milestone_future": N_("a milestone cannot be recorded done on %(day)s, a future day"),
    "problem_already": N_("problem #%(id)s is already %(state)s"),
    "problem_id": N_("no problem #%(id)s"),
    "problem_solved_future": N_("a problem cannot be solved on %(day)s, a future day"),
    "problem_text": N_("a problem needs its description"),
    "target": N_("no %(kind)s target for %(unit)s in %(campaign)s"),
    "target_negative": N_("a target cannot be negative"),
    "target_kind": N_("the kind must be one of %(choices)s, not %(value)s"),
    "target_unit": N_("the unit must be mu or m2, not %(value)s"),
    "target_quarter": N_("the quarter must be 1 to 4, not %(value)s"),
    "period_last_year": N_(
        "a period is set only beside the same days a year earlier (compare=last_year)"
    ),
    "campaign_quarter": N_(
        "campaign %(campaign)s has no quarter %(asked)s; its quarters: %(held)s"
    ),
    "target_campaign_year": N_("campaign %(campaign)s starts in %(year)s, not %(asked)s"),
    "target_campaign_missing": N_("give the campaign (or its year) the target is for"),
    "target_earlier": N_(
        "the %(year)s %(kind)s target: a change at %(at)s is earlier than its current value "
        "(%(current)s)"
    ),
    "milestone": N_(
        "project %(code)s has no such milestone on %(day)s; its milestones: %(listed)s"
    ),
    "milestone_none": N_("project %(code)s has no milestones"),
    "milestone_several": N_(
        "project %(code)s has several milestones on %(day)s: name it by its text"
    ),
    "problem_status": N_("a problem is open or solved, not %(value)s"),
    "project_category": N_("the category must be one of %(choices)s, not %(value)s"),
    "period_no_campaign": N_("%(value)s is in no campaign: the campaigns' years are %(years)s"),
    "as_of_outside_campaign": N_(
        "%(day)s is outside campaign %(campaign)s (%(first)s to %(last)s)"
    ),
    # campaigns, users, the workflow, tallies, exports and features (campaign/, accounts/,
    # parcels/, exports.py): a choice among machine names keeps the option's own name
    "choice": N_("%(option)s must be one of %(choices)s, not %(value)s"),
    "campaign": N_("no campaign named %(name)s (campaigns: %(known)s)"),
    "campaign_closed": N_("campaign %(campaign)s is closed already"),
    "campaign_days": N_("campaign %(campaign)s: first day %(first)s is after last day %(last)s"),
    "campaign_exists": N_("campaign %(campaign)s exists already"),
    "campaign_name": N_("a campaign needs a name (e.g. 攻坚2017)"),
    "campaign_year_several": N_(
        "the year %(year)s names several campaigns (%(names)s): give a campaign"
    ),
    "year_outside": N_("%(value)s is outside the years %(first)s to %(last)s"),
    "compare_now": N_(
        "a comparison with another campaign is of both as they stand now; a day only with last_year"
    ),
    "compare_grouping": N_(
        "a comparison groups by district, township or project, not by %(value)s"
    ),
    "period_not_begun": N_("period %(period)s has not begun by %(day)s"),
    "password_short": N_("a password needs at least %(limit)s characters"),
    "user": N_("no user named %(name)s"),
    "user_disabled": N_("user %(name)s is disabled"),
    "user_exists": N_("user %(name)s already exists"),
    "user_group": N_("a verifier belongs to one group: %(choices)s"),
    "user_group_role": N_("only verifiers belong to a verification group"),
    "user_name": N_("a user name is 1 to 64 characters without spaces"),
    "user_no_townships": N_("a %(role)s is scoped by district, not by township"),
    "user_role": N_("the role must be one of %(choices)s, not %(value)s"),
    "user_townships": N_("a %(role)s needs the townships they work in"),
    "status_unknown": N_("unknown status %(value)s; statuses are %(allowed)s"),
    "verify_needed": N_(
        "parcel %(code)s: from %(current)s to %(status)s is a verification: it is signed off "
        "by a verifier of %(group)s"
    ),
    "verifier_name": N_("parcel %(code)s: a verification needs the verifier's name"),
    "verify_group": N_(
        "parcel %(code)s: %(kind)s parcels are verified by %(owner)s, not %(group)s"
    ),
    "withdrawn_already": N_("parcel %(code)s is already withdrawn"),
    "bbox_numbers": N_("bbox must be four numbers: minx,miny,maxx,maxy"),
    "bbox_corners": N_("bbox: the lower corner comes first"),
    "datetime_interval": N_("datetime: only an instant is supported, not an interval"),
    "datetime_form": N_("datetime must be RFC 3339, e.g. 2017-06-30T16:00:00Z: %(value)s"),
    "feature_id": N_("no township-progress feature %(id)s"),
    "crs_lonlat_only": N_("%(format)s is lon/lat (WGS84) by definition: choose no CRS"),
    "crs_export_area": N_(
        "the parcels (lon %(west)s to %(east)s) lie outside the area of %(crs)s (lon "
        "%(area_west)s to %(area_east)s): choose the zone that holds them, e.g. EPSG:4528 or "
        "EPSG:4549 for Fuzhou"
    ),
    "city_missing": N_("no city on record: an administrator runs geo-service db upgrade"),
    "unit_several": N_("%(name)s names several places: write it as district/%(name)s"),
    "text_too_long": N_("%(field)s: at most %(limit)s characters, this one has %(length)s"),
    "text_invisible": N_(
        "%(field)s: holds the invisible or control character %(char)s; type it again"
    ),
    "project_list_type": N_("%(file)s: a project list is a .csv or .xlsx file"),
    "project_list_encoding": N_("%(file)s: not UTF-8 text; save the list as CSV UTF-8 or as .xlsx"),
    "project_list_sheet": N_("%(file)s: no sheet %(sheet)s; sheets are %(sheets)s"),
    "milestone_no_date": N_("no date in milestone %(value)s (write e.g. 2017-03-31 完成征迁)"),
    "milestone_date": N_("%(value)s is not a date"),
    "milestone_missing": N_("no milestone given"),
    "project_field_required": N_("%(field)s is required"),
    "project_listed_again": N_("project %(code)s is listed again (first at row %(first)s)"),
    "project_list_problems": N_(
        "%(file)s: %(count)s problem(s), nothing imported:\n  %(problems)s"
    ),
    # the API's and the maps' own (api/, maps/)
    "token": N_("the sign-in is unknown, expired or revoked: sign in again"),
    "csrf": N_("this request did not come from a page of this service"),
    "sign_in_first": N_("sign in first"),
    "city_view": N_("%(name)s is the city: this view is for one district"),
    "collection": N_("no collection %(id)s; there are: %(choices)s"),
    "parameters_unknown": N_("unknown parameter(s) for %(id)s: %(names)s"),
    "ogc_feature": N_("no %(collection)s feature %(id)s"),
    "project_no_district": N_("%(user)s may not see project %(code)s (it has no district)"),
    "tile": N_("no tile %(tile)s"),
    "tap_nothing": N_("no parcel at %(lon)s, %(lat)s on this map"),
    # relocation households and flats (relocation/households.py)
    "flat": N_("no flat %(flat)s in %(project)s: import the flat list first"),
    "household": N_("no household %(ref)s: import the household roster first"),
    "household_dispute_reason": N_("household %(ref)s: a dispute needs a reason"),
    "household_not_signed_off": N_(
        "household %(ref)s is not signed off: only a sign-off can be disputed"
    ),
    "household_signoff_future": N_("household %(ref)s: a sign-off cannot be dated after today"),
    "resettlement_project": N_("no resettlement project %(code)s"),
    "flat_taken": N_("flat %(flat)s is already allocated to another household"),
    "project_townships": N_("a resettlement project serves at least one township"),
    "flats_planned_negative": N_("flats planned for size class %(size)s cannot be negative"),
    "floor_area_negative": N_("the total floor area cannot be negative"),
    "completion_implausible": N_("the actual completion date %(day)s is not plausible"),
    "grouping": N_("group by one of %(choices)s, not %(value)s"),
    "as_of_year": N_("the day %(day)s is not in %(year)s: a tally is for one year"),
    "relocation_target_empty": N_("give at least one of households, flats and m²"),
    "overdue_kind": N_("the kind must be one of %(choices)s, not %(value)s"),
    "relocation_change_earlier": N_(
        "%(label)s: a change at %(at)s is earlier than its current state (%(current)s)"
    ),
    "flat_handover_unallocated": N_(
        "flat %(flat)s: a flat handed over (交房) must be allocated to a household"
    ),
    "flat_title_before_handover": N_(
        "flat %(flat)s: a title (办证) needs the flat handed over (交房) first"
    ),
    "flat_handover_before_allocation": N_(
        "flat %(flat)s: handed over %(handed_over)s before it was allocated (%(allocated)s)"
    ),
    "flat_certified_before_handover": N_(
        "flat %(flat)s: certified %(certified)s before it was handed over (%(handed_over)s)"
    ),
    "signoff_cash": N_(
        "household %(ref)s chose cash compensation (货币补偿): it has no relocation to sign off"
    ),
    "signoff_already": N_("household %(ref)s is already signed off by %(user)s on %(day)s"),
    "signoff_flats_missing": N_(
        "household %(ref)s holds %(count)s of the %(due)s flat(s) it is due: allocate and hand "
        "over all of them first"
    ),
    "signoff_not_handed_over": N_(
        "household %(ref)s: not every flat is handed over (交房) by %(day)s: %(flats)s"
    ),
    **_RELOCATION,
    **_FILE_REFUSALS,
    # a file refused before its features are read (readers/vector.py, readers/archives.py)
    "dbf_missing": N_(
        "%(file)s: the .dbf attribute table of %(member)s is missing, so its parcels have no "
        "codes; send the .shp, .shx, .dbf and .prj together (zipped)"
    ),
    "kml_empty": N_("%(file)s: the KML holds no placemarks"),
    "no_geometry_column": N_("%(file)s: the %(format)s file holds no geometry column"),
    "no_layer": N_("%(file)s: the file holds no layer"),
    "several_layers": N_(
        "%(file)s: several layers (%(layers)s); name one in the form's Layer field"
    ),
    "shx_missing": N_(
        "%(file)s: the Shapefile's .shx index is missing; send the .shp, .shx, .dbf and .prj "
        "together (zipped)"
    ),
    "vector_unreadable": N_("%(file)s: not a readable %(format)s file (%(reason)s)"),
    "zip_bomb": N_(
        "%(file)s: %(entry)s would unpack from %(packed)s to %(unpacked)s; refused as a "
        "possible zip bomb"
    ),
    "zip_compression": N_(
        "%(file)s: %(entry)s uses an unsupported compression method; zip it again with "
        "ordinary (deflate) compression"
    ),
    "zip_damaged": N_("%(file)s: the archive is damaged (%(reason)s)"),
    "zip_encrypted": N_("%(file)s: %(entry)s is encrypted; send an archive without a password"),
    "zip_invalid": N_("%(file)s: not a valid zip archive (%(reason)s)"),
    "zip_symlink": N_("%(file)s: the archive holds a symbolic link (%(entry)s)"),
    "zip_too_large": N_("%(file)s: the archive would unpack to more than %(limit)s; refused"),
    "zip_too_many": N_(
        "%(file)s: the archive holds %(count)s entries, more than the %(limit)s allowed"
    ),
    "zip_unsafe_path": N_("%(file)s: unsafe path %(entry)s in the archive (absolute or '..')"),
    **{f"input.{check}": words for check, words in INPUT_CHECKS.items()},
}
_KIND_WORDS = {"land": N_("land delivery"), "demolition": N_("demolition")}
_PROBLEM_STATES = {"open": N_("open"), "solved": N_("solved")}


def _named_words(said: dict, _) -> dict:
    """The figures that name a kind, a status or a verification group, said in the page's
    language (the rest are names and numbers, shown as they are)."""
    for key, words in (("kind", _KIND_WORDS), ("current", STATUS_LABELS),
                       ("status", STATUS_LABELS), ("owner", GROUP_LABELS),
                       ("group", GROUP_LABELS), ("state", _PROBLEM_STATES)):  # fmt: skip
        if isinstance(said.get(key), str) and said[key] in words:
            said[key] = _(words[said[key]])
    return said


_ROW = N_("row %(row)s: %(detail)s")
_ROW_COLUMN = N_("row %(row)s, column %(column)s: %(detail)s")
_MORE = N_("… and %(more)s more")


def _row_problems(problems: list, more, _) -> str:
    """A refused list's problems (a project list's rows), one a line: each by its rule where
    it has words, else the domain's message (which names the file, row and column)."""
    lines = []
    for problem in problems:
        wording, params = REFUSALS.get(problem.get("rule")), problem.get("params")
        line = problem.get("message", "")
        if wording is not None and params is not None:
            try:
                detail = _(wording) % _named_words(dict(params), _)
                where = _ROW_COLUMN if problem.get("column") else _ROW
                line = _(where) % {**problem, "detail": detail}
            except (KeyError, TypeError, ValueError):
                pass
        lines.append(line)
    if more:
        lines.append(_(_MORE) % {"more": more})
    return "\n  ".join(lines)


def refusal_detail(exc: GeoServiceError, _=str) -> str:
    """The refusal's detail in the page's language where its rule has wording, else the
    domain's own message."""
    wording = REFUSALS.get(getattr(exc, "rule", None))
    params = getattr(exc, "params", None)
    if wording is not None and params is not None:
        said = _named_words(dict(params), _)
        if isinstance(said.get("places"), list):
            said["places"] = "; ".join(
                f"{town} {_(_KIND_WORDS.get(kind, kind))} #{number}"
                for town, kind, number in said["places"]
            )
        if isinstance(said.get("problems"), list):
            said["problems"] = _row_problems(said["problems"], said.get("more"), _)
        if "allowed" in said:
            said["allowed"] = ", ".join(_(STATUS_LABELS.get(s, s)) for s in said["allowed"]) or "—"
        try:
            return _(wording) % said
        except (KeyError, TypeError, ValueError):
            pass
    return _first_line(exc)


# A relocation roster's or flat list's problems (relocation/rosters.py), keyed like DETAILS.
ROSTER_DETAILS = {
    "bad_value:floor_area": N_("建筑面积 (floor area) must be more than 0"),
    "bad_value:date": N_("%(value)s is not a date (write 2017-06-30)"),
    "bad_value:number": N_("%(column)s: %(value)s is not a number"),
    "bad_value:negative": N_("%(column)s cannot be negative, not %(value)s"),
    "bad_value:whole": N_("%(column)s must be a whole number, not %(value)s"),
    "bad_value:compensation": _RELOCATION["compensation"],
    "bad_id_number:id_number_form": _RELOCATION["id_number_form"],
    "bad_id_number:id_number_check": _RELOCATION["id_number_check"],
    "bad_id_number:id_secret_missing": _RELOCATION["id_secret_missing"],
    "duplicate_household:ref": N_("household %(ref)s is listed again (first at row %(first)s)"),
    "duplicate_household:id_in_file": N_("the same ID number heads the household at row %(first)s"),
    "duplicate_household:id_stored": N_("the same ID number already heads household %(ref)s"),
    "over_allocated:held": N_(
        "the household already holds %(count)s flat(s); 应安置套数 %(due)s is fewer"
    ),
    "over_allocated:allocation_cash": _RELOCATION["allocation_cash"],
    "over_allocated:allocation_over": _RELOCATION["allocation_over"],
    "flat_given_twice:listed": N_("the flat is listed again (first at row %(first)s)"),
    **{
        f"dates_out_of_order:{rule}": _RELOCATION[rule]
        for rule in (
            "handover_unallocated",
            "title_before_handover",
            "handover_before_allocation",
            "certified_before_handover",
        )
    },  # fmt: skip
    "dates_out_of_order:deadline": N_(
        "certificate deadline %(deadline)s is before the promised hand-over (%(promised)s)"
    ),
    "dates_out_of_order:promised": N_(
        "promised hand-over %(promised)s is before the transition began (%(start)s)"
    ),
    "empty:flats": N_("the flat list has no flats"),
    "empty:households": N_("the roster has no households"),
    "flat_given_twice": N_("flat %(flat)s is already allocated to another household"),
    "missing_value:flat": N_("安置项目, 楼栋 and 房号 are all needed"),
    "missing_value:flats_due": N_(
        "产权调换/混合 households need 应安置套数 (flats due) of at least 1"
    ),
    "missing_value:parcel": N_("地块编号 (parcel code) is empty"),
    "missing_value:ref": N_("户号 (household number) is empty"),
    "over_allocated:cash": N_("a cash household (货币补偿) is due no flats"),
    "unknown_household": N_("no household %(ref)s: import the roster first"),
    "unknown_parcel": N_("no parcel with code %(code)s"),
    "unknown_parcel:several_townships": N_(
        "demolition parcel %(code)s is in several townships: give 乡镇"
    ),
    "unknown_parcel:unit": N_("parcel %(code)s: no township or district named %(name)s"),
    "unknown_project": N_("no resettlement project %(code)s"),
}


def roster_detail(problem: dict, _=str) -> tuple[str, bool]:
    """A roster problem's detail in the page's language, and whether it is ours (False:
    the importer's own English message)."""
    params = problem.get("params")
    if params is None:
        return problem.get("message") or "", False
    variant = params.get("variant")
    rule = problem.get("rule")
    wording = ROSTER_DETAILS.get(f"{rule}:{variant}" if variant else rule)
    if wording is None:
        return problem.get("message") or "", False
    try:
        return _(wording) % params, True
    except (KeyError, TypeError, ValueError):
        return problem.get("message") or "", False


def roster_with_words(report: dict, request) -> dict:
    """A roster report for a client that asked for a language: each problem gets `said`
    (the language and its detail from the catalogs), like `with_words`."""
    if not request.headers.get("accept-language"):
        return report
    _, locale = gettext_for(request), choose(request)
    for problem in report.get("problems", []):
        detail, ours = roster_detail(problem, _)
        problem["said"] = {"lang": HTML_LANG[locale], "detail": detail, "translated": ours}
    return report


def with_words(report: dict, request) -> dict:
    """An upload report for an API client that asked for a language (Accept-Language):
    each problem gets `said` (the language, the rule's name and its detail from the
    catalogs) beside its rule code, figures and English message."""
    if not request.headers.get("accept-language"):
        return report
    _, locale = gettext_for(request), choose(request)
    for problem in report.get("problems", []):
        detail, ours = problem_detail(problem, _)
        problem["said"] = {"lang": HTML_LANG[locale], "rule": rule_label(problem["rule"], _),
                           "detail": detail, "translated": ours}  # fmt: skip
    return report


def error_words(exc: GeoServiceError, request=None) -> str:
    """A refusal as the page says it: what kind of refusal, in the page's language, then
    its detail (in the page's language where its rule has wording)."""
    _ = gettext_for(request) if request is not None else str
    detail = refusal_detail(exc, _)
    for cls, words in _ERROR_WORDS:
        if isinstance(exc, cls):
            return _("%(refusal)s: %(detail)s") % {"refusal": _(words), "detail": detail}
    return _("Could not be done: %(detail)s") % {"detail": detail}


def invalid_details(problems: list, _=str) -> str:
    """A request refused by its own checks (pydantic's 422): each problem in the page's
    language where it is a refusal with wording (a rule of ours, or pydantic's error type:
    INPUT_CHECKS), else as the check said it."""
    return "; ".join(
        refusal_detail(p, _) if isinstance(p, GeoServiceError) else str(p) for p in problems
    )


def invalid_words(problems: list, request=None) -> str:
    """The same as error_words says a refusal: its kind, then the problems."""
    _ = gettext_for(request) if request is not None else str
    detail = invalid_details(problems, _)
    return _("%(refusal)s: %(detail)s") % {"refusal": _(_INVALID_WORDS), "detail": detail}


def _first_line(exc: GeoServiceError) -> str:
    # A refused file's message is its whole report; the page lists the problems itself.
    return (str(exc).splitlines() or [""])[0]


_STATUS_WORDS = {
    400: N_("Something in the form is wrong"),
    401: N_("Please sign in again"),
    403: N_("Not allowed, or the request did not come from this service's pages"),
    404: N_("Not found"),
    405: N_("This cannot be done this way"),
    409: N_("Someone changed this just now; nothing was saved. Reload and try again"),
    413: N_("The file is too large"),
    422: N_("Something in the form is wrong, or the file was not accepted"),
}


_NOT_DONE = N_("Could not be done")


def status_words(status: int, request=None) -> str:
    _ = gettext_for(request) if request is not None else str
    return _(_STATUS_WORDS.get(status, _NOT_DONE))


def no_page_words(path: str, request=None) -> str:
    """An unknown address asked for by a browser."""
    _ = gettext_for(request) if request is not None else str
    return _("there is no page at %(path)s") % {"path": path}
