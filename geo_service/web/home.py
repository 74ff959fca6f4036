"""The landing page for people, and the JSON index for programs (now at /api)."""

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from geo_service.api.auth import PageUser
from geo_service.models import KINDS
from geo_service.web.login import render
from geo_service.web.templates import STATIC_DIR

# Each role's own pages; who may do what is decided by the permission layer, not here.
# Groups are (heading, links); a link is (href, label).
_WORK_VERIFIER = [
    ("/queue", "待核验 Verification queue"),
    ("/parcels", "地块 Parcels"),
    ("/uploads", "上传 Upload"),
]
_WORK_OFFICER = [("/parcels", "地块 Parcels"), ("/uploads", "上传 Upload")]
_WORK_READER = [("/parcels", "地块 Parcels")]
_MAPS = [
    ("/maps/progress", "进度图 Progress map"),
    ("/maps/support", "支援图 Support map"),
    ("/maps/relocation", "回迁图 Relocation map"),
]
_BOARDS = [
    ("/board", "看板 Board"),
    ("/board?level=district", "全市看板 City board"),
    ("/public", "公开进度 Public page"),
]
_PRINT = [("/api/exports/tallies.html", "制表挂图 Printable tallies (A4)")]
_DATA = [
    ("/api/projects", "项目台账 Project register (JSON)"),
    ("/docs", "API 文档 Docs"),
]


def links_for(who) -> list[tuple[str, list]]:
    work = {
        "verifier": _WORK_VERIFIER,
        "officer": _WORK_OFFICER,
    }.get(who.role, _WORK_READER)
    boards = [b for b in _BOARDS if who.district_ids is None or "level=district" not in b[0]]
    groups = [("工作台 Workbench", work), ("地图 Maps", _MAPS), ("看板 Boards", boards)]
    if who.role in ("leader", "planner", "admin"):
        groups.append(("报表 Reports", _PRINT))
    groups.append(("数据 Data", _DATA))
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
            "rankings": "/api/rankings?period=2017Q2",
            "docs": "/docs",
            "tallies": "/api/tallies?by=township",
            "relocation": "/api/relocation/tallies?by=township",
            "parcels": "/api/parcels",
            "kinds": list(KINDS),
        }

    return router
