"""Projects and their responsibility lists (责任清单).

A list is a CSV (UTF-8, with or without BOM) or an Excel workbook (.xlsx), with English or
Chinese headers: 项目编号, 项目名称, 类别, 所属区县, 所属乡镇, 业主单位, 存在问题, 目标,
完成时限, 时间节点, 责任单位, 第一责任人, 直接责任人. A whole file is checked first; any
problem (named by file, row and column) refuses all of it.

The category is one of the campaign's four (CATEGORIES); the names lists use for them
(征迁交地攻坚, "两逾"问题, 重点项目 …) are read as the category they mean.
"""

import calendar
import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_service import texts
from geo_service.campaign.categories import CATEGORIES
from geo_service.errors import GeoServiceError, InvalidInput, NotFound
from geo_service.models import Project
from geo_service.units import find_district, find_township

# CATEGORIES: the four kinds of campaign project (四大类), as the city counts them.
# Other names lists give them, after dropping quotes and a trailing 攻坚/类/项目/问题.
_CATEGORY_ALIASES = {
    "前期推进": "项目前期推进",
    "项目前期": "项目前期推进",
    "重大项目": "重大项目建设",
    "重点项目": "重大项目建设",
    "重点项目建设": "重大项目建设",
    "民生工程": "重大项目建设",
    "征迁": "征迁交地",
    "征地拆迁": "征迁交地",
}

PROJECT_FIELDS = ("name", "category", "department", "first_responsible", "direct_responsible")

# Field → accepted headers (compared without spaces, case-insensitively).
HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "项目编号", "项目代码", "编号"),
    "name": ("name", "项目名称", "名称"),
    "category": ("category", "类别", "项目类别", "类型"),
    "district": ("district", "所属区县", "区县", "所属区", "区", "县(市)区", "县（市）区"),
    "townships": ("townships", "所属乡镇", "乡镇", "涉及乡镇", "乡镇(街道)", "乡镇（街道）"),
    "owner_unit": ("owner_unit", "业主单位", "建设单位"),
    "problem": ("problem", "存在问题", "需解决问题", "需解决的问题", "问题"),
    "target": ("target", "目标", "工作目标", "目标任务"),
    "deadline": ("deadline", "完成时限", "时限"),
    "milestones": ("milestones", "时间节点", "节点", "进度安排"),
    "department": ("department", "责任单位", "责任部门"),
    "first_responsible": ("first_responsible", "第一责任人"),
    "direct_responsible": ("direct_responsible", "直接责任人"),
}
_BY_HEADER = {h.lower(): f for f, names in HEADERS.items() for h in names}
MAX_ERRORS_SHOWN = 50


def find_project(session: Session, code: str) -> Project:
    project = session.scalar(select(Project).where(Project.code == code))
    if project is None:
        raise NotFound(
            f"no project with code {code!r}; import the project list first",
            rule="project_code", params={"code": code},
        )  # fmt: skip
    return project


@dataclass
class _Sheet:
    """Rows of a table as text cells, with where each came from for error messages."""

    name: str
    header_row: int
    headers: list[str]
    fields: list[str | None]  # the field each column gives, None for columns not used
    rows: list[tuple[int, list]]  # (row number in the file, cells)
    letters: bool = False  # name columns by spreadsheet letter too
    # Each problem: where (row, column), the English message, and its rule and figures.
    errors: list[dict] = field(default_factory=list)

    def column(self, name: str) -> int | None:
        return self.fields.index(name) if name in self.fields else None

    def where(self, row: int, column: int | None) -> str:
        if column is None:
            return f"{self.name} row {row}"
        label = self.headers[column]
        if self.letters:
            label += f" ({_letter(column)})"
        return f"{self.name} row {row}, column {label}"

    def refuse(self, row: int, column: int | None, exc: GeoServiceError) -> None:
        """A row's problem, kept with its rule and figures for the caller's language."""
        label = None if column is None else self.headers[column]
        if label is not None and self.letters:
            label += f" ({_letter(column)})"
        message = f"{self.where(row, column)}: {exc}"
        self.errors.append({"row": row, "column": label, "rule": exc.rule,
                            "params": exc.params, "message": message})  # fmt: skip


def import_projects(session: Session, path: Path, sheet: str | None = None) -> dict[str, int]:
    """Create or update projects (matched by code) from a CSV or XLSX list; all or nothing."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = _read_xlsx(path, sheet)
    elif suffix in (".csv", ".txt"):
        table = _read_csv(path)
    else:
        raise InvalidInput(
            f"{path.name}: a project list is a .csv or .xlsx file",
            rule="project_list_type", params={"file": path.name},
        )  # fmt: skip
    return _store(session, table)


# --- reading ----------------------------------------------------------------------------


def _read_csv(path: Path) -> _Sheet:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            lines = []
            for cells in reader:
                lines.append((reader.line_num, cells))
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{path.name}: not UTF-8 text; save the list as CSV UTF-8 or as .xlsx",
            rule="project_list_encoding",
            params={"file": path.name},
        ) from None
    return _table(path.name, lines, letters=False)


def _read_xlsx(path: Path, sheet: str | None) -> _Sheet:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook means the same
        raise InvalidInput(
            f"{path.name}: cannot read the workbook: {exc}",
            rule="roster_workbook",
            params={"file": path.name, "reason": str(exc)},
        ) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InvalidInput(
                f"{path.name}: no sheet {sheet!r}; sheets are {', '.join(book.sheetnames)}",
                rule="project_list_sheet",
                params={"file": path.name, "sheet": sheet, "sheets": ", ".join(book.sheetnames)},
            )
        ws = book[sheet] if sheet else book.worksheets[0]
        name = f"{path.name} [{ws.title}]" if len(book.sheetnames) > 1 else path.name
        lines = [(i, list(cells)) for i, cells in enumerate(ws.iter_rows(values_only=True), 1)]
    finally:
        book.close()
    return _table(name, lines, letters=True)


def _table(name: str, lines: list[tuple[int, list]], letters: bool) -> _Sheet:
    """Find the header row (titles may sit above it) and map its headers to fields."""
    for index, (number, cells) in enumerate(lines[:10]):
        fields = [_field(c) for c in cells]
        if "code" in fields or "name" in fields:
            headers = ["" if c is None else _clean(str(c)) for c in cells]
            rows = [(n, c) for n, c in lines[index + 1 :] if any(_present(v) for v in c)]
            sheet = _Sheet(name, number, headers, fields, rows, letters)
            _check_headers(sheet)
            return sheet
    raise InvalidInput(
        f"{name}: no header row with 项目编号 (code) and 项目名称 (name) in the first 10 rows",
        rule="roster_no_header",
        params={"file": name, "wanted": "项目编号, 项目名称"},
    )


def _check_headers(sheet: _Sheet) -> None:
    fields = sheet.fields
    missing = [f"{HEADERS[f][1]} ({f})" for f in ("code", "name") if f not in fields]
    if missing:
        raise InvalidInput(
            f"{sheet.name} row {sheet.header_row}: no column {' or '.join(missing)}; "
            f"headers found: {', '.join(h for h in sheet.headers if h)}"
        )
    seen: dict[str, int] = {}
    for i, f in enumerate(fields):
        if f is None:
            continue
        if f in seen:
            raise InvalidInput(
                f"{sheet.name} row {sheet.header_row}: columns {sheet.headers[seen[f]]} and "
                f"{sheet.headers[i]} both give {f}"
            )
        seen[f] = i


def _clean(header: str) -> str:
    return re.sub(r"\s+", "", header).strip("*＊:：")


def _field(cell) -> str | None:
    if cell is None:
        return None
    return _BY_HEADER.get(_clean(str(cell)).lower())


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _present(value) -> bool:
    return value is not None and str(value).strip() != ""


# --- checking and storing ---------------------------------------------------------------


def _store(session: Session, sheet: _Sheet) -> dict[str, int]:
    parsed = []
    first_row: dict[str, int] = {}
    districts: dict[str, object] = {}
    for number, cells in sheet.rows:
        values = _values(sheet, number, cells, districts, session)
        code = values.get("code")
        if code and code in first_row:
            again = InvalidInput(
                f"project {code} is listed again (first at row {first_row[code]})",
                rule="project_listed_again", params={"code": code, "first": first_row[code]},
            )  # fmt: skip
            sheet.refuse(number, sheet.column("code"), again)
        elif code:
            first_row[code] = number
        parsed.append(values)
    if sheet.errors:
        shown = sheet.errors[:MAX_ERRORS_SHOWN]
        more = len(sheet.errors) - len(shown)
        raise InvalidInput(
            f"{sheet.name}: {len(sheet.errors)} problem(s), nothing imported:\n  "
            + "\n  ".join(p["message"] for p in shown)
            + (f"\n  … and {more} more" if more else ""),
            rule="project_list_problems",
            params={"file": sheet.name, "count": len(sheet.errors), "problems": shown,
                    "more": more},
        )  # fmt: skip
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for values in parsed:
        project = session.scalar(select(Project).where(Project.code == values["code"]))
        if project is None:
            project = Project(code=values["code"])
            session.add(project)
            counts["created"] += 1
        elif all(_same(k, getattr(project, k), v) for k, v in values.items()):
            counts["unchanged"] += 1
            continue
        else:
            counts["updated"] += 1
        for name, value in values.items():
            if name != "code":
                setattr(project, name, value)
    session.flush()
    return counts


def _same(field: str, stored, given) -> bool:
    # A project's townships come back from the database in their own order.
    if field == "townships":
        return {u.id for u in stored} == {u.id for u in given}
    return stored == given


# Cells kept as text under the text rule (texts.py): refused, never cut.
_TEXT_KINDS = {"code": texts.CODE, "name": texts.NAME, "department": texts.NAME,
               "first_responsible": texts.NAME, "direct_responsible": texts.NAME}  # fmt: skip


def _values(sheet: _Sheet, number: int, cells: list, districts: dict, session) -> dict:
    """One row's fields; problems go to sheet.errors. Empty cells leave a field unchanged."""
    values: dict = {}
    from_deadline: list[dict] = []
    for i, name in enumerate(sheet.fields):
        if name is None:
            continue
        cell = cells[i] if i < len(cells) else None
        if not _present(cell):
            continue
        try:
            if name == "district":
                values["district"] = _district(session, districts, _text(cell))
            elif name == "deadline":
                values["deadline"], from_deadline = _deadline(cell)
            elif name == "milestones":
                values["milestones"] = _milestones(cell)
            elif name == "category":
                values["category"] = category(_text(cell))
            elif name == "townships":
                values["townships"] = _names(cell)
            elif name in _TEXT_KINDS:
                values[name] = texts.check(_text(cell), _TEXT_KINDS[name], name)
            else:
                values[name] = _text(cell)
        except InvalidInput as exc:
            sheet.refuse(number, i, exc)
    for name in ("code", "name"):
        if not values.get(name):
            header = f"{HEADERS[name][1]} ({name})"
            required = InvalidInput(
                f"{name} is required", rule="project_field_required", params={"field": header}
            )
            sheet.refuse(number, sheet.column(name), required)
    if "townships" in values:
        try:
            values["townships"] = _townships(session, values["townships"], values.get("district"))
        except (NotFound, InvalidInput) as exc:
            sheet.refuse(number, sheet.column("townships"), exc)
    if from_deadline and "milestones" not in values:
        values["milestones"] = from_deadline
    if "milestones" in values and "deadline" not in values:
        values["deadline"] = max(m["date"] for m in values["milestones"])
    if "milestones" in values:
        values["milestones"] = [
            {"date": m["date"].isoformat(), "text": m["text"]} for m in values["milestones"]
        ]
    return values


def category(name: str) -> str:
    """One of the four categories, from the name a list gives it."""
    bare = re.sub(r"[\"“”'‘’「」]", "", name).strip()
    if bare in CATEGORIES:
        return bare
    for suffix in ("攻坚", "类", "问题", "项目"):
        bare = bare.removesuffix(suffix)
        if bare in CATEGORIES:
            return bare
        if bare in _CATEGORY_ALIASES:
            return _CATEGORY_ALIASES[bare]
    raise InvalidInput(
        f"category {name!r} is not one of {', '.join(CATEGORIES)}",
        rule="project_category", params={"choices": ", ".join(CATEGORIES), "value": name},
    )  # fmt: skip


def _names(cell) -> list[str]:
    return [n for n in re.split(r"[,，、;；\s]+", _text(cell)) if n]


def _townships(session, names: list[str], district) -> list:
    return [find_township(session, name, district=district) for name in names]


def _text(cell) -> str:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # Excel stores a typed 101 as 101.0
    if isinstance(cell, datetime):
        cell = cell.date()
    return str(cell).strip()


def _district(session, cache: dict, name: str):
    if name not in cache:
        try:
            cache[name] = find_district(session, name)
        except (NotFound, InvalidInput) as exc:
            cache[name] = exc
    found = cache[name]
    if isinstance(found, GeoServiceError):
        raise InvalidInput(str(found), rule=found.rule, params=found.params)
    return found


_DATE = re.compile(
    r"(?P<y>\d{4})\s*(?:[-/.]|年)\s*(?P<m>\d{1,2})\s*"
    r"(?:(?:[-/.]|月)\s*(?P<d>\d{1,2})\s*日?|月\s*(?P<end>底|末))"
)
_SEPARATORS = re.compile(r"[;；\n]+")


def _date(match: re.Match) -> date:
    year, month = int(match["y"]), int(match["m"])
    day = calendar.monthrange(year, month)[1] if match["end"] else int(match["d"])
    return date(year, month, day)


def _milestones(cell) -> list[dict]:
    """'2017-03-31 完成征迁; 2017-06-30 交地' → [{date, text}, …], in date order.

    Dates may be written 2017-03-31, 2017/3/31, 2017.3.31, 2017年3月31日 or 2017年3月底.
    """
    if isinstance(cell, datetime | date):
        return [{"date": _as_date(cell), "text": ""}]
    found = []
    for item in filter(None, (p.strip() for p in _SEPARATORS.split(str(cell)))):
        match = _DATE.search(item)
        if match is None:
            raise InvalidInput(
                f"no date in milestone {item!r} (write e.g. 2017-03-31 完成征迁)",
                rule="milestone_no_date", params={"value": item},
            )  # fmt: skip
        try:
            day = _date(match)
        except ValueError:
            raise InvalidInput(
                f"{match.group(0)!r} is not a date",
                rule="milestone_date",
                params={"value": match.group(0)},
            ) from None
        words = (item[: match.start()] + " " + item[match.end() :]).strip(" ：:,，、-—")
        found.append({"date": day, "text": words.strip()})
    if not found:
        raise InvalidInput("no milestone given", rule="milestone_missing", params={})
    return sorted(found, key=lambda m: m["date"])


def _deadline(cell) -> tuple[date, list[dict]]:
    """A deadline cell is a date, or milestones whose last date is the deadline."""
    if isinstance(cell, datetime | date):
        return _as_date(cell), []
    milestones = _milestones(cell)
    with_text = [m for m in milestones if m["text"]]
    return milestones[-1]["date"], with_text


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value
