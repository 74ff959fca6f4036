"""The landing page for people, and the JSON index for programs (now at /api)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..api.auth import PageUser
from ..models import KINDS
from .login import render

# Each role's own pages; who may do what is decided by the permission layer, not here.
_WORKBENCH = [("/queue", "待核验 Verification queue"), ("/parcels", "地块 Parcels")]
_MAPS = [("/maps/progress", "进度图 Progress map"), ("/maps/support", "支援图 Support map")]
_COMMON = [
    ("/board", "看板 Board"),
    ("/public", "公开进度 Public page"),
    ("/docs", "API 文档 Docs"),
]
LINKS_BY_ROLE = {
    "verifier": _WORKBENCH + [("/uploads", "上传 Upload")] + _MAPS + _COMMON,
    "officer": [("/parcels", "地块 Parcels"), ("/uploads", "上传 Upload")] + _MAPS + _COMMON,
    "leader": [("/parcels", "地块 Parcels")] + _MAPS + _COMMON,
    "planner": [("/parcels", "地块 Parcels"), ("/api/tallies?by=township", "统计 Tallies")]
    + _MAPS
    + _COMMON,
    "admin": [("/parcels", "地块 Parcels")] + _MAPS + _COMMON,
}


def home_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def landing(request: Request, who: PageUser):
        return render(request, "home.html", user=who, links=LINKS_BY_ROLE.get(who.role, _COMMON))

    @router.get("/api")
    def index():
        return {
            "service": "geo_service",
            "progress_map": "/maps/progress",
            "support_map": "/maps/support",
            "docs": "/docs",
            "tallies": "/api/tallies?by=township",
            "parcels": "/api/parcels",
            "kinds": list(KINDS),
        }

    return router
