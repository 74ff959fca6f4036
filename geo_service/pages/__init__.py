"""HTML pages built from Jinja2 templates: the wall board (看板) and the public page."""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/pages/static"
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _number(value, places: int = 0) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def _change(change) -> str:
    if change is None:
        return "新"
    return f"↑{change}" if change > 0 else f"↓{-change}" if change < 0 else "—"


_env.filters.update(percent=_percent, number=_number, change=_change)


def render(template: str, **context) -> str:
    return _env.get_template(template).render(static=STATIC_PREFIX, **context)
