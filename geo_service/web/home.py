"""The landing page for people, and the JSON index for programs (now at /api)."""

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from geo_service.api.auth import PageUser
from geo_service.models import KINDS
from geo_service.web.i18n import N_
from geo_service.web.login import render
from geo_service.web.templates import STATIC_DIR

# Each role's own pages; who may do what is decided by the permission layer, not here.
# Groups are (heading, links); a link is (href, label), translated on the page.
_WORK_VERIFIER = [
    ("/queue", N_("Verification queue")),
    ("/field/", N_("Field app (on site, also offline)")),
    ("/parcels", N_("Parcels")),
    ("/uploads", N_("Upload")),
]
_WORK_OFFICER = [
    ("/parcels", N_("Parcels")),
    ("/uploads", N_("Upload")),
    ("/field/", N_("Field app (on site, also offline)")),
]
_WORK_READER = [("/parcels", N_("Parcels"))]
_MAPS = [
    ("/maps/progress", N_("Progress map")),
    ("/maps/support", N_("Support map")),
    ("/maps/relocation", N_("Relocation map")),
]
_BOARDS = [
    ("/board", N_("Board")),
    ("/board?level=district", N_("City board")),
    ("/public", N_("Public page")),
]
_PRINT = [
    ("/exports", N_("Downloads (tallies, parcel layers)")),
    ("/api/exports/tallies.html", N_("Printable tallies (A4)")),
]
# The leaders' questions, each answered by a page (web/register_pages, web/leader_pages).
_LEADERS = [
    ("/projects", N_("Project register")),
    ("/projects?overdue=true", N_("Overdue projects")),
    ("/rankings", N_("Rankings")),
    ("/problems", N_("Problem files")),
    ("/relocation/overdue", N_("Relocation: the two overdue lists")),
    ("/assessment", N_("Assessment of responsible persons")),
]
# A township officer follows their projects and households, not the rankings of others.
_OFFICER_LEADS = [
    ("/projects", N_("Project register")),
    ("/problems", N_("Problem files")),
    ("/relocation/overdue", N_("Relocation: the two overdue lists")),
]
_DATA = [("/docs", N_("API documentation"))]


def links_for(who) -> list[tuple[str, list]]:
    work = {
        "verifier": _WORK_VERIFIER,
        "officer": _WORK_OFFICER,
    }.get(who.role, _WORK_READER)
    boards = [b for b in _BOARDS if who.district_ids is None or "level=district" not in b[0]]
    groups = [(N_("Workbench"), work), (N_("Maps"), _MAPS), (N_("Boards"), boards)]
    if who.role in ("leader", "planner", "admin"):
        groups.append((N_("Projects and rankings"), _LEADERS))
    elif who.role == "officer":
        groups.append((N_("Projects and rankings"), _OFFICER_LEADS))
    if who.role in ("leader", "planner", "admin"):
        groups.append((N_("Reports"), _PRINT))
    groups.append((N_("Data"), _DATA))
    return groups


def home_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def landing(request: Request, who: PageUser):
        return render(request, "home.html", user=who, groups=links_for(who))

    @router.get("/favicon.ico")
    def favicon():
        # Browsers ask for this fixed URL by themselves: it cannot carry a hash, so a day.
        return FileResponse(
            STATIC_DIR / "favicon.ico",
            media_type="image/x-icon",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @router.get("/api")
    def index():
        return {
            "service": "geo_service",
            "home": "/",
            "progress_map": "/maps/progress",
            "support_map": "/maps/support",
            "relocation_map": "/maps/relocation",
            "board": "/board",
            "public": "/public",
            "workbench": {"parcels": "/parcels", "queue": "/queue", "uploads": "/uploads"},
            "projects": "/api/projects",
            "project_pages": "/projects",
            "rankings_page": "/rankings",
            "rankings": "/api/rankings?period=2017Q2",
            "docs": "/docs",
            "tallies": "/api/tallies?by=township",
            "relocation": "/api/relocation/tallies?by=township",
            "parcels": "/api/parcels",
            "kinds": list(KINDS),
        }

    return router
