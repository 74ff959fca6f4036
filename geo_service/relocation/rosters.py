"""Household rosters (被征迁户花名册) and flat lists (房源清单) from CSV or XLSX.

The headers are those a demolition headquarters (征迁指挥部) keeps, in Chinese or
English. A whole file is checked before anything is stored: every problem is reported
(file, row, household or flat, rule, message) and one problem refuses all of it. Stored
rows go through the same use cases as single changes (relocation.save, allocate, ...),
so each change is versioned.
"""

import csv
import io
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import ARRAY, Integer, String, any_, bindparam, select
from sqlalchemy.orm import Session

from geo_service import texts
from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.errors import GeoServiceError, InvalidInput, NotFound, UploadRefused
from geo_service.models import (
    Flat,
    Household,
    Parcel,
    ResettlementProject,
    ResettlementProjectTownship,
)
from geo_service.relocation import households as rel
from geo_service.units import find_township

HOUSEHOLD_HEADERS: dict[str, tuple[str, ...]] = {
    "ref": ("ref", "household", "户号", "户编号", "征迁户编号"),
    "head_name": ("head_name", "name", "户主姓名", "户主", "姓名"),
    "id_number": ("id_number", "身份证号", "身份证号码", "户主身份证号"),
    "parcel": ("parcel", "parcel_code", "地块编号", "拆迁地块", "地块"),
    "township": ("township", "乡镇", "乡镇(街道)", "乡镇（街道）", "所属乡镇"),
    "demolished_m2": ("demolished_m2", "拆除面积", "被拆除面积", "拆迁面积"),
    "compensation": ("compensation", "补偿方式", "安置方式"),
    "project": ("project", "安置项目", "安置房项目", "安置项目编号"),
    "flats_due": ("flats_due", "应安置套数", "安置套数"),
    "area_due_m2": ("area_due_m2", "应安置面积", "安置面积"),
    "transition_start": ("transition_start", "过渡开始日期", "过渡起始日期", "过渡安置开始"),
    "monthly_allowance": ("monthly_allowance", "月过渡费", "过渡费(元/月)", "过渡费"),
    "promised_handover": ("promised_handover", "承诺交房日期", "承诺回迁日期", "交房期限"),
    "title_deadline": ("title_deadline", "办证期限", "承诺办证日期"),
}
FLAT_HEADERS: dict[str, tuple[str, ...]] = {
    "project": ("project", "安置项目", "安置房项目", "项目编号", "安置项目编号"),
    "building": ("building", "楼栋", "楼号", "幢号"),
    "unit": ("unit", "房号", "室号", "单元房号"),
    "size_class": ("size_class", "户型", "面积段"),
    "floor_area_m2": ("floor_area_m2", "建筑面积", "面积"),
    "household": ("household", "户号", "分配户号", "征迁户编号"),
    "allocated_on": ("allocated_on", "分配日期", "选房日期"),
    "handed_over_on": ("handed_over_on", "交房日期", "交钥匙日期"),
    "certified_on": ("certified_on", "办证日期", "发证日期"),
}
REQUIRED = {
    "households": ("ref", "parcel", "compensation"),
    "flats": ("project", "building", "unit", "floor_area_m2"),
}


@dataclass
class RosterProblem:
    row: int | None  # the row in the file (header row = where the headers are)
    ref: str | None  # the household, or the flat as building-unit
    rule: str
    message: str  # English, for the command line and the API
    # The figures, by name: the pages say the rule in the reader's language from them
    # (geo_service/web/problems.py ROSTER_DETAILS); None where it has no wording yet.
    params: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RosterReport:
    filename: str
    kind: str  # households or flats
    accepted: bool = False
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    problems: list[RosterProblem] = field(default_factory=list)

    def add(self, row, ref, rule, message, params=None) -> None:
        self.problems.append(RosterProblem(row, ref, rule, message, params))

    def summary(self) -> str:
        lines = [f"{self.filename}: {len(self.problems)} problem(s), nothing imported"]
        lines += [
            f"  row {p.row}" + (f" ({p.ref})" if p.ref else "") + f": {p.message} [{p.rule}]"
            for p in self.problems
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "problems"}
        data["problems"] = [{"file": self.filename, **p.as_dict()} for p in self.problems]
        return data

    def problems_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["file", "row", "ref", "rule", "message"], lineterminator="\n",
            extrasaction="ignore",
        )  # fmt: skip
        writer.writeheader()
        writer.writerows({"file": self.filename, **p.as_dict()} for p in self.problems)
        return buffer.getvalue()


# --- reading ----------------------------------------------------------------------------


def read_table(path: Path, headers: dict, required: tuple, name: str | None = None):
    """(file name, [(row number, {field: cell})]) from a CSV (UTF-8 or GB18030) or the
    first sheet of an XLSX; the header row may sit under a title of up to 10 rows."""
    path = Path(path)
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        lines = _xlsx_lines(path, name)
    elif suffix in (".csv", ".txt"):
        lines = _csv_lines(path, name)
    else:
        raise UploadRefused(
            f"{name}: a roster is a .csv or .xlsx file", rule="roster_type", params={"file": name}
        )
    by_header = {_clean(h).lower(): f for f, names in headers.items() for h in names}
    for index, (_, cells) in enumerate(lines[:10]):
        fields = [by_header.get(_clean(c).lower()) if c is not None else None for c in cells]
        if all(f in fields for f in required):
            rows = []
            for n, row in lines[index + 1 :]:
                values = {f: row[i] for i, f in enumerate(fields) if f and i < len(row)}
                if any(_present(v) for v in values.values()):
                    rows.append((n, values))
            return name, rows
    wanted = ", ".join(f"{headers[f][2]} ({f})" for f in required)
    raise UploadRefused(
        f"{name}: no header row with {wanted} in the first 10 rows",
        rule="roster_no_header", params={"file": name, "wanted": wanted},
    )  # fmt: skip


def _csv_lines(path: Path, name: str) -> list:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UploadRefused(
            f"{name}: neither UTF-8 nor GBK text", rule="roster_encoding", params={"file": name}
        )
    reader = csv.reader(io.StringIO(decoded, newline=""))
    return [(reader.line_num, cells) for cells in reader]


def _xlsx_lines(path: Path, name: str) -> list:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook means the same
        raise UploadRefused(
            f"{name}: cannot read the workbook: {exc}",
            rule="roster_workbook",
            params={"file": name, "reason": str(exc)},
        ) from None
    try:
        return [
            (i, list(cells))
            for i, cells in enumerate(book.worksheets[0].iter_rows(values_only=True), 1)
        ]
    finally:
        book.close()


def _clean(header) -> str:
    return re.sub(r"\s+", "", str(header)).strip("*＊:：")


def _present(value) -> bool:
    return value is not None and str(value).strip() != ""


def _text(value) -> str | None:
    if not _present(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores a typed 101 as 101.0
    return str(value).strip()


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _name(value) -> str | None:
    return texts.check(_text(value), texts.NAME, "户主姓名 (head_name)")


def _day(value) -> date | None:
    if not _present(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.match(str(value).strip())
    if match is None:
        raise InvalidInput(f"{value!r} is not a date (write 2017-06-30)", **_said("date", value))
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date", **_said("date", value)) from None


def _said(rule: str, value, column: str | None = None) -> dict:
    """A cell's refusal's rule and figures, for the pages' words (ROSTER_DETAILS)."""
    params = {"value": str(value)} | ({"column": column} if column else {})
    return {"rule": rule, "params": params}


def _number(value, what: str, whole: bool = False):
    if not _present(value):
        return None
    try:
        number = float(str(value).replace(",", "").strip())
    except ValueError:
        raise InvalidInput(
            f"{what} {value!r} is not a number", **_said("number", value, what)
        ) from None
    if number < 0:
        raise InvalidInput(f"{what} cannot be negative", **_said("negative", value, what))
    if whole:
        if not number.is_integer():
            raise InvalidInput(f"{what} must be a whole number", **_said("whole", value, what))
        return int(number)
    return number


class _Row:
    """One row's values, collecting problems instead of stopping at the first."""

    def __init__(self, report: RosterReport, number: int, ref: str | None, cells: dict):
        self.report, self.number, self.ref, self.cells = report, number, ref, cells
        self.ok = True

    def problem(self, rule: str, message: str, params: dict | None = None) -> None:
        self.ok = False
        self.report.add(self.number, self.ref, rule, message, params)

    def get(self, name: str, parse=_text, rule: str = "bad_value"):
        try:
            return parse(self.cells.get(name))
        except InvalidInput as exc:
            # The cell's own rule is the problem's variant: "bad_value:date"…
            said = None if exc.rule is None else {**(exc.params or {}), "variant": exc.rule}
            self.problem(rule, str(exc), said)
            return None


# --- households -------------------------------------------------------------------------


def import_households(
    session: Session,
    path: Path,
    actor: str | None = None,
    dry_run: bool = False,
    filename: str | None = None,
    now: datetime | None = None,
    authorize=None,
) -> RosterReport:
    """Create or update households (matched by 户号) from a roster; all or nothing.

    `authorize(township_ids)`, when given, is asked once the file is found sound, with
    the townships its households live in; it returns who is recorded (or refuses)."""
    name, lines = read_table(path, HOUSEHOLD_HEADERS, REQUIRED["households"], filename)
    report = RosterReport(filename=name, kind="households", dry_run=dry_run, rows=len(lines))
    lookups = _Lookups(session, {_text(c.get("parcel")) for _, c in lines} - {None})
    parsed = [_household_values(lookups, report, n, cells) for n, cells in lines]
    _check_household_duplicates(session, report, parsed)
    if report.problems or not parsed:
        if not parsed:
            report.add(None, None, "empty", "the roster has no households",
                       {"variant": "households"})  # fmt: skip
        raise UploadRefused(report.summary(), report=report)
    if authorize is not None:
        actor = authorize({v["township_id"] for _, v in parsed})
    report.accepted = True
    if dry_run:
        return report
    now = now or datetime.now(UTC)
    refs = bindparam("refs", [v["ref"] for _, v in parsed], type_=ARRAY(String))
    # Locked, like parcels in an upload, so that concurrent changes do not interleave.
    stored = session.scalars(select(Household).where(Household.ref == any_(refs)).with_for_update())
    known = {h.ref: h for h in stored}
    items = [(known.get(v["ref"]) or Household(ref=v["ref"], version=1), v) for _, v in parsed]
    _count(report, rel.save_many(session, items, actor, now, note=f"roster {name}"))
    return report


def _count(report: RosterReport, outcomes: list[str]) -> None:
    for outcome in outcomes:
        setattr(report, outcome, getattr(report, outcome) + 1)


class _Lookups:
    """The demolition parcels a roster names (one query), townships and projects once each."""

    def __init__(self, session: Session, codes: set[str]):
        self.session = session
        self.parcels: dict[str, list[Parcel]] = {}
        query = select(Parcel).where(
            Parcel.kind == "demolition",
            Parcel.code == any_(bindparam("codes", list(codes), type_=ARRAY(String))),
        )
        for parcel in session.scalars(query):
            self.parcels.setdefault(parcel.code, []).append(parcel)
        self.townships: dict[str, object] = {}
        self.projects: dict[str, int | None] = {}

    def parcel(self, code: str, township: str | None) -> Parcel:
        found = self.parcels.get(code, [])
        if township:
            unit = self._township(township)
            found = [p for p in found if p.township_id == unit.id]
        if not found:
            raise NotFound(
                f"no demolition parcel {code!r}" + (f" in {township}" if township else "")
            )
        if len(found) > 1:
            raise InvalidInput(
                f"demolition parcel {code!r} is in several townships: give 乡镇",
                rule="several_townships", params={},
            )  # fmt: skip
        return found[0]

    def _township(self, name: str):
        if name not in self.townships:
            try:
                self.townships[name] = find_township(self.session, name)
            except GeoServiceError as exc:
                self.townships[name] = exc
        if isinstance(self.townships[name], GeoServiceError):
            raise self.townships[name]
        return self.townships[name]

    def project(self, code: str) -> int | None:
        if code not in self.projects:
            self.projects[code] = self.session.scalar(
                select(ResettlementProject.id).where(ResettlementProject.code == code)
            )
        return self.projects[code]


def _household_values(lookups: _Lookups, report, number: int, cells: dict):
    row = _Row(report, number, _text(cells.get("ref")), cells)
    values = {"ref": row.ref}
    if not row.ref:
        row.problem("missing_value", "户号 (ref) is empty", {"variant": "ref"})
    elif why := texts.problem(row.ref, texts.CODE):
        row.problem("code_not_printable", f"户号 (ref) {why}")
    values["head_name"] = row.get("head_name", _name, rule="name_not_printable")
    values["id_hash"] = row.get("id_number", _id_hash, rule="bad_id_number")
    values["compensation"] = row.get("compensation", lambda v: rel.check_compensation(v or ""))
    for key in ("demolished_m2", "area_due_m2", "monthly_allowance"):
        values[key] = row.get(key, lambda v, k=key: _number(v, k))
    values["flats_due"] = row.get("flats_due", lambda v: _number(v, "flats_due", whole=True))
    for key in ("transition_start", "promised_handover", "title_deadline"):
        values[key] = row.get(key, _day)
    _household_parcel(lookups, row, values)
    _household_project(lookups, row, values)
    _household_rules(row, values)
    # A column the file does not have leaves the stored value alone (a roster without IDs
    # does not erase the hashes an earlier one gave).
    for name, column in (("id_hash", "id_number"), *((k, k) for k in _OPTIONAL)):
        if column not in cells:
            values.pop(name, None)
    return row.number, values


_OPTIONAL = (
    "head_name",
    "demolished_m2",
    "area_due_m2",
    "monthly_allowance",
    "transition_start",
    "promised_handover",
    "title_deadline",
)


def _id_hash(value) -> str | None:
    return rel.hash_id_number(value) if _present(value) else None


def _household_parcel(lookups: _Lookups, row: _Row, values: dict) -> None:
    code = row.get("parcel")
    if not code:
        row.problem("missing_value", "地块编号 (parcel) is empty", {"variant": "parcel"})
        return
    try:
        parcel = lookups.parcel(code, row.get("township"))
    except GeoServiceError as exc:
        # The lookup's own rule (a township not found, a code in several) is the variant.
        said = {**(exc.params or {}), "variant": exc.rule} if exc.rule else {}
        row.problem("unknown_parcel", str(exc), {**said, "code": code})
        return
    values["parcel_id"], values["township_id"] = parcel.id, parcel.township_id


def _household_project(lookups: _Lookups, row: _Row, values: dict) -> None:
    code = row.get("project")
    values["project_id"] = None
    if code:
        found = lookups.project(code)
        if found is None:
            row.problem("unknown_project", f"no resettlement project {code!r}", {"code": code})
        values["project_id"] = found


def _household_rules(row: _Row, values: dict) -> None:
    compensation = values.get("compensation")
    due = values.get("flats_due")
    if compensation == "cash":
        if due:
            row.problem("over_allocated", "a cash household (货币补偿) is due no flats",
                        {"variant": "cash"})  # fmt: skip
        values["flats_due"] = 0
    elif compensation and not due:
        row.problem("missing_value", "产权调换/混合 households need 应安置套数 (flats_due) ≥ 1",
                    {"variant": "flats_due"})  # fmt: skip
    start, promised = values.get("transition_start"), values.get("promised_handover")
    deadline = values.get("title_deadline")
    if start and promised and promised < start:
        row.problem(
            "dates_out_of_order",
            f"promised hand-over {promised} is before the transition began ({start})",
            {"variant": "promised", "promised": str(promised), "start": str(start)},
        )
    if promised and deadline and deadline < promised:
        row.problem(
            "dates_out_of_order",
            f"certificate deadline {deadline} is before the promised hand-over ({promised})",
            {"variant": "deadline", "deadline": str(deadline), "promised": str(promised)},
        )


def _check_household_duplicates(session, report: RosterReport, parsed: list) -> None:
    first_ref: dict[str, int] = {}
    first_id: dict[str, int] = {}
    for number, values in parsed:
        ref, id_hash = values.get("ref"), values.get("id_hash")
        if ref and ref in first_ref:
            report.add(
                number,
                ref,
                "duplicate_household",
                f"household {ref} is listed again (first at row {first_ref[ref]})",
                {"variant": "ref", "ref": ref, "first": first_ref[ref]},
            )
        elif ref:
            first_ref[ref] = number
        if id_hash and id_hash in first_id:
            report.add(
                number,
                ref,
                "duplicate_household",
                f"the same ID number heads the household at row {first_id[id_hash]}",
                {"variant": "id_in_file", "first": first_id[id_hash]},
            )
        elif id_hash:
            first_id[id_hash] = number
    hashes = list(first_id)
    if hashes:
        stored = session.execute(
            select(Household.id_hash, Household.ref).where(Household.id_hash.in_(hashes))
        ).all()
        for id_hash, ref in stored:
            number = first_id[id_hash]
            values = dict(parsed)[number]
            if values["ref"] != ref:
                report.add(
                    number,
                    values["ref"],
                    "duplicate_household",
                    f"the same ID number already heads household {ref}",
                    {"variant": "id_stored", "ref": ref},
                )
    _check_fewer_flats_than_held(session, report, parsed)


def _check_fewer_flats_than_held(session, report, parsed) -> None:
    """A re-imported roster may not cut a household's flats below those it already holds."""
    refs = [v["ref"] for _, v in parsed if v.get("ref")]
    counts: dict[str, int] = {}
    for ref in session.scalars(
        select(Household.ref)
        .join(Flat, Flat.household_id == Household.id)
        .where(Household.ref.in_(refs))
    ):
        counts[ref] = counts.get(ref, 0) + 1
    for number, values in parsed:
        count = counts.get(values.get("ref"), 0)
        due = values.get("flats_due")
        if count and due is not None and due < count:
            report.add(
                number,
                values["ref"],
                "over_allocated",
                f"household already holds {count} flat(s); 应安置套数 {due} is fewer",
                {"variant": "held", "count": count, "due": due},
            )


# --- flats ------------------------------------------------------------------------------


def import_flats(
    session: Session,
    path: Path,
    actor: str | None = None,
    dry_run: bool = False,
    filename: str | None = None,
    now: datetime | None = None,
    authorize=None,
) -> RosterReport:
    """Create or update flats (matched by project, 楼栋 and 房号) and their allocation,
    hand-over and title dates from a flat list; all or nothing. `authorize` as for
    rosters, with the townships of the households given flats (for a flat no one holds,
    the townships its project serves)."""
    name, lines = read_table(path, FLAT_HEADERS, REQUIRED["flats"], filename)
    report = RosterReport(filename=name, kind="flats", dry_run=dry_run, rows=len(lines))
    context = _FlatContext(session)
    context.preload(lines)
    parsed = [_flat_values(context, report, n, cells) for n, cells in lines]
    _check_flat_duplicates(report, parsed)
    _check_over_allocation(session, context, report, parsed)
    if report.problems or not parsed:
        if not parsed:
            report.add(None, None, "empty", "the flat list has no flats", {"variant": "flats"})
        raise UploadRefused(report.summary(), report=report)
    if authorize is not None:
        actor = authorize(_flat_townships(session, parsed))
    report.accepted = True
    if dry_run:
        return report
    now = now or datetime.now(UTC)
    items = [
        (
            context.flats.get(key)
            or Flat(project_id=key[0], building=key[1], unit=key[2], version=1),
            values,
        )
        for _, key, values in parsed
    ]
    _count(report, rel.save_many(session, items, actor, now, note=f"flat list {name}"))
    return report


def _flat_townships(session: Session, parsed: list) -> set[int]:
    held = {v["household_id"] for _, _, v in parsed if v.get("household_id")}
    unheld = {key[0] for _, key, values in parsed if values.get("household_id") is None}
    found = set(
        session.scalars(select(Household.township_id).where(Household.id.in_(held)).distinct())
    )
    if unheld:
        rows = session.execute(
            select(ResettlementProjectTownship.township_id).where(
                ResettlementProjectTownship.project_id.in_(unheld)
            )
        )
        found |= {r[0] for r in rows}
    return found


class _FlatContext:
    """Projects, households and stored flats the file refers to, looked up once."""

    def __init__(self, session: Session):
        self.session = session
        self.projects: dict[str, int | None] = {}
        self.households: dict[str, Household | None] = {}
        self.flats: dict[tuple, Flat] = {}
        self.complete = False  # every stored flat of the file's projects is in self.flats

    def preload(self, lines: list) -> None:
        """Everything the file names, in three queries instead of three per row."""
        codes = {_text(c.get("project")) for _, c in lines} - {None}
        refs = {_text(c.get("household")) for _, c in lines} - {None}
        found = self.session.execute(
            select(ResettlementProject.code, ResettlementProject.id).where(
                ResettlementProject.code == any_(bindparam("c", list(codes), type_=ARRAY(String)))
            )
        ).all()
        self.projects = {code: None for code in codes} | dict(found)
        households = self.session.scalars(
            select(Household)
            .where(Household.ref == any_(bindparam("r", list(refs), type_=ARRAY(String))))
            .with_for_update()
        )
        self.households = {ref: None for ref in refs} | {h.ref: h for h in households}
        ids = [i for i in self.projects.values() if i is not None]
        flats = self.session.scalars(
            select(Flat)
            .where(Flat.project_id == any_(bindparam("p", ids, type_=ARRAY(Integer))))
            .with_for_update()
        )
        self.flats = {(f.project_id, f.building, f.unit): f for f in flats}
        self.complete = True

    def project(self, code: str) -> int | None:
        if code not in self.projects:
            self.projects[code] = self.session.scalar(
                select(ResettlementProject.id).where(ResettlementProject.code == code)
            )
        return self.projects[code]

    def household(self, ref: str) -> Household | None:
        if ref not in self.households:
            self.households[ref] = self.session.scalar(
                select(Household).where(Household.ref == ref).with_for_update()
            )
        return self.households[ref]

    def flat(self, key: tuple) -> Flat | None:
        if key not in self.flats and not self.complete:
            found = self.session.scalar(
                select(Flat)
                .where(Flat.project_id == key[0], Flat.building == key[1], Flat.unit == key[2])
                .with_for_update()
            )
            if found is not None:
                self.flats[key] = found
        return self.flats.get(key)


def _flat_values(context: _FlatContext, report, number: int, cells: dict):
    building, unit = _text(cells.get("building")), _text(cells.get("unit"))
    row = _Row(report, number, f"{building}-{unit}", cells)
    code = row.get("project")
    project_id = context.project(code) if code else None
    if code and project_id is None:
        row.problem("unknown_project", f"no resettlement project {code!r}", {"code": code})
    if not (code and building and unit):
        row.problem("missing_value", "安置项目, 楼栋 and 房号 are all needed", {"variant": "flat"})
    values = {}
    area = row.get("floor_area_m2", lambda v: _number(v, "建筑面积"))
    if not area:
        row.problem("bad_value", "建筑面积 (floor_area_m2) must be more than 0",
                    {"variant": "floor_area"})  # fmt: skip
    values["floor_area_m2"] = area
    key = (project_id, building, unit)
    stored = context.flat(key) if project_id else None
    # A column the list does not have leaves the stored value as it is.
    for name in ("size_class", "allocated_on", "handed_over_on", "certified_on"):
        parse = _text if name == "size_class" else _day
        values[name] = row.get(name, parse) if name in cells else getattr(stored, name, None)
    _flat_household(context, row, values, stored)
    problem = rel.date_order_problem(
        values["allocated_on"],
        values["handed_over_on"],
        values["certified_on"],
        values.get("household_id"),
    )
    if problem:
        variant, message, params = problem
        row.problem("dates_out_of_order", message, {**params, "variant": variant})
    return number, key, values


def _flat_household(context: _FlatContext, row: _Row, values: dict, stored: Flat | None):
    if "household" not in row.cells:
        values["household_id"] = stored.household_id if stored else None
        return
    ref = row.get("household")
    household = context.household(ref) if ref else None
    if ref and household is None:
        row.problem("unknown_household", f"no household {ref!r}; import the roster first",
                    {"ref": ref})  # fmt: skip
    values["household_id"] = household.id if household else None
    if stored is not None and stored.household_id and stored.household_id != values["household_id"]:
        row.problem("flat_given_twice",
                    f"flat {row.ref} is already allocated to another household",
                    {"flat": row.ref})  # fmt: skip
    if household is not None and values["allocated_on"] is None:
        # Kept from before when the list gives no allocation day; else the day it arrives.
        today = datetime.now(CAMPAIGN_TZ).date()
        values["allocated_on"] = (stored.allocated_on if stored else None) or today


def _check_flat_duplicates(report: RosterReport, parsed: list) -> None:
    first: dict[tuple, int] = {}
    for number, key, _ in parsed:
        if None in key:
            continue
        if key in first:
            report.add(
                number,
                f"{key[1]}-{key[2]}",
                "flat_given_twice",
                f"the flat is listed again (first at row {first[key]})",
                {"variant": "listed", "first": first[key]},
            )
        else:
            first[key] = number


def _check_over_allocation(session, context: _FlatContext, report, parsed) -> None:
    """After the file, no household may hold more flats than it is due."""
    in_file = {key for _, key, _ in parsed}
    holders: dict[int, list] = {}
    for number, key, values in parsed:
        if values.get("household_id"):
            holders.setdefault(values["household_id"], []).append((number, key))
    for household_id, rows in holders.items():
        others = session.scalars(select(Flat).where(Flat.household_id == household_id)).all()
        kept = [f for f in others if (f.project_id, f.building, f.unit) not in in_file]
        household = session.get(Household, household_id)
        problem = rel.allocation_problem(household, len(kept) + len(rows))
        if problem:
            number, key = rows[-1]
            variant, message, params = problem
            report.add(
                number, f"{key[1]}-{key[2]}", "over_allocated", message,
                {**params, "variant": variant},
            )  # fmt: skip
