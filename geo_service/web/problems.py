"""The pages' words for the upload rules and for refusals, as gettext msgids (translated
where shown: geo_service/locale). The rules themselves live in validation.py, uploads.py and
readers/; a problem's figures come as its params, and the rule code stays a secondary
detail. A problem whose rule has no wording here (or a report kept before problems carried
params) shows the domain's own message, marked as such."""

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
from geo_service.web.i18n import N_, gettext_for

RULE_LABELS = {
    "bad_coordinate": N_("a boundary point's coordinates cannot be read"),
    "changed_after_verification": N_(
        "the boundary of a verified parcel changed: it must be verified again"
    ),
    "code_missing": N_("no parcel code label inside the outline"),
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
    "declared_area_mismatch": N_("the declared area differs too much from the boundary's"),
    "duplicate_code": N_("duplicate parcel code"),
    "dwg_closed_assumed": N_("every polyline of the DWG drawing was read as closed"),
    "duplicate_geometry": N_("the same boundary as another feature of the file"),
    "elsewhere_township": N_("most of the parcel lies in another township (it counts there)"),
    "empty_geometry": N_("the feature has no geometry"),
    "invalid_geometry": N_("self-intersecting or invalid boundary"),
    "malformed_file": N_("the file is damaged"),
    "no_features": N_("the file holds no features"),
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

# A problem's detail, with its figures (Problem.params) by name.
DETAILS = {
    "declared_area_mismatch": N_(
        "declared %(declared)s m² but the boundary measures %(measured)s m² (%(difference)s)"
    ),
    "duplicate_code": N_("parcel code %(code)s is used again (first at feature %(first)s)"),
    "duplicate_geometry": N_("the same boundary as feature %(feature)s (%(code)s)"),
    "code_too_long": N_("a parcel code has at most %(limit)s characters, this one %(length)s"),
    "empty_geometry": N_("the feature has no geometry"),
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

_ERROR_WORDS = [
    (UploadRefused, N_("The file was not accepted")),
    (TooLarge, N_("The file is too large")),
    (Forbidden, N_("Not allowed")),
    (Unauthorized, N_("Please sign in again")),
    (NotFound, N_("Not found")),
    (Conflict, N_("Someone changed this just now; nothing was saved. Reload and try again")),
    (InvalidInput, N_("Something in the form is wrong")),
]


_OTHER = N_("other problem")


def rule_label(rule: str, _=str) -> str:
    return _(RULE_LABELS.get(rule, _OTHER))


def problem_detail(problem: dict, _=str) -> tuple[str, bool]:
    """The detail in the page's language, and whether it is ours (False: the domain's own
    message, for a rule without wording here or a problem kept without its figures)."""
    rule, params = problem.get("rule"), problem.get("params")
    wording = DETAILS.get(rule)
    if rule == "overlap_verified":
        wording = _OVERLAP_VERIFIED.get(problem.get("severity"))
    if wording is None or params is None:
        return problem.get("message") or "", False
    try:
        return _(wording) % params, True
    except (KeyError, TypeError, ValueError):  # a figure missing from an older report
        return problem.get("message") or "", False


def error_words(exc: GeoServiceError, request=None) -> str:
    """A refusal as the page says it: what kind of refusal, in the page's language, then
    the domain's detail."""
    _ = gettext_for(request) if request is not None else str
    for cls, words in _ERROR_WORDS:
        if isinstance(exc, cls):
            return _("%(refusal)s: %(detail)s") % {"refusal": _(words), "detail": _first_line(exc)}
    return _("Could not be done: %(detail)s") % {"detail": _first_line(exc)}


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
