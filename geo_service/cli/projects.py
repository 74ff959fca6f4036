"""`geo-service projects`: responsibility lists."""

from pathlib import Path

import typer

from .. import actions
from ..database import session_scope
from ..errors import GeoServiceError
from .common import acting, app, as_option, fail_acting

projects_app = typer.Typer(help="Projects and their responsibility lists.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")


@projects_app.command("import")
def projects_import(
    path: Path = typer.Argument(..., help="a .csv (UTF-8) or .xlsx responsibility list"),
    sheet: str | None = typer.Option(None, help="the workbook's sheet (default: the first)"),
    as_user: str | None = as_option(),
) -> None:
    """Create or update projects (matched by code) from a CSV or XLSX responsibility list,
    all or nothing.

    Headers in English or Chinese: code/项目编号, name/项目名称, category/类别,
    district/所属区县, problem/存在问题, target/目标, deadline/完成时限,
    milestones/时间节点 ("2017-03-31 完成征迁; 2017-06-30 交地"), department/责任单位,
    first_responsible/第一责任人, direct_responsible/直接责任人.

    Examples:

      geo-service projects import data/parcels/demo_projects.csv

      geo-service projects import 责任清单.xlsx --sheet 晋安区
    """
    try:
        with session_scope() as session:
            counts = actions.import_project_list(session, acting(session, as_user), path, sheet)
    except GeoServiceError as exc:
        fail_acting(exc, as_user)
    typer.echo(f"projects: {counts['created']} created, {counts['updated']} updated")
