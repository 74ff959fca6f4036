"""The Jinja2 environment every page renders with (autoescaped: uploaded names are text)."""

from pathlib import Path

from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static/web"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["static"] = STATIC_PREFIX
