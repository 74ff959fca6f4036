"""Exports on a real PostGIS: tally workbooks, CSV and wall pages checked against
independently computed areas; parcel layers read back with pyogrio and re-imported."""

import csv
import io
import re
import subprocess
import zipfile
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import auth, count_rows, rewriting_history, shared_app
from fastapi.testclient import TestClient
from parcelfiles import GUSHAN, XINDIAN, frame, independent_area_m2, rectangle, write
from sqlalchemy import text
from typer.testing import CliRunner

from geo_service import exports
from geo_service.campaign import rankings
from geo_service.campaign.targets import set_target
from geo_service.cli import app
from geo_service.errors import InvalidInput
from geo_service.models import Project
from geo_service.parcels.uploads import ImportOptions, import_file

MU = 10000 / 15
AS_OF = date(2017, 6, 30)
XINDIAN_VERIFIED = [
    rectangle(XINDIAN, 0, 0, 180, 95, angle_deg=17),
    rectangle(XINDIAN, 400, 0, 60, 420, angle_deg=-8),
]
XINDIAN_OTHER = [rectangle(XINDIAN, -900, 600, 300, 200, 33), rectangle(XINDIAN, 900, -600, 80, 90)]
GUSHAN_VERIFIED = [rectangle(GUSHAN, 0, 0, 120, 80)]
NAMES = ["秀峰村一号地块", '=HYPERLINK("http://x","点我")', "岭头村", None]
EVIL_PROJECT = "=cmd|' /C calc'!A0"


def _import(session, tmp_path, polygons, filename, township, given=None, **columns):
    path = write(frame(polygons, **columns), tmp_path / filename, 4549, "GPKG")
    options = ImportOptions(kind="land", township=township, status=given, project="P-1")
    return import_file(session, path, options)


@pytest.fixture
def campaign(session, tmp_path):
    """新店镇: 2 verified, 1 delivered, 1 planned land parcels (Chinese names, one written
    like a formula; support from 鼓山镇); 鼓山镇: 1 verified. All recorded on 15 March 2017;
    targets 新店镇 100 mu, 鼓山镇 50 mu (晋安区: the seed's 9,000 mu)."""
    session.add(Project(code="P-1", name=EVIL_PROJECT))
    session.flush()
    _import(
        session, tmp_path, XINDIAN_VERIFIED + XINDIAN_OTHER, "xd.gpkg", "新店镇",
        code=["XD-1", "XD-2", "XD-3", "XD-4"], name=NAMES,
        status=["verified", "verified", "delivered", "planned"],
        declared_m2=[17100.0, None, 60000.5, None], support=["鼓山镇", None, None, "鼓山镇"],
    )  # fmt: skip
    _import(session, tmp_path, GUSHAN_VERIFIED, "gs.gpkg", "鼓山镇", "verified", code=["GS-1"])
    with rewriting_history(session):
        session.execute(
            text(
                "UPDATE parcel_versions SET valid_from = '2017-03-15 10:00+08', "
                "verified_at = CASE WHEN status = 'verified' "
                "THEN TIMESTAMPTZ '2017-03-15 10:00+08' END; "
                "UPDATE parcels SET verified_at = '2017-03-15 10:00+08' "
                "WHERE status = 'verified'"
            )
        )
    for township, mu in (("新店镇", 100), ("鼓山镇", 50)):
        set_target(session, district="晋安区", township=township, kind="land", year=2017,
                   amount=mu, unit="mu", actor="test")  # fmt: skip
    session.commit()
    return session


def _expected():
    xindian = sum(independent_area_m2(p) for p in XINDIAN_VERIFIED)
    gushan = sum(independent_area_m2(p) for p in GUSHAN_VERIFIED)
    return {"新店镇": xindian, "鼓山镇": gushan, "晋安区": xindian + gushan}


def _rows(sheet) -> list[dict]:
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def _workbook(session, lang="zh", **kw):
    export = exports.tally_export(session, **{"by": "township", "as_of": AS_OF, **kw})
    return openpyxl.load_workbook(io.BytesIO(exports.tallies_xlsx(export, lang)))


def test_workbook_has_chinese_headers_with_units_exact_values_and_district_totals(campaign):
    book = _workbook(campaign)
    assert book.sheetnames == ["交地", "拆迁", "排名与倒排工期", "综合考评排名", "说明"]
    sheet = book["交地"]
    headers = [c.value for c in sheet[1]]
    assert headers[:6] == ["区县", "乡镇(街道)", "类型", "已核验地块(个)", "已核验面积(平方米)",
                           "已核验面积(亩)"]  # fmt: skip
    assert {"目标(亩)", "完成率", "剩余(平方米)", "在册面积(亩)"} <= set(headers)
    assert sheet.freeze_panes == "A2"
    rows = {(r["区县"], r["乡镇(街道)"]): r for r in _rows(sheet)}
    expected = _expected()
    xd = rows[("晋安区", "新店镇")]
    assert xd["类型"] == "交地"
    assert xd["已核验地块(个)"] == 2
    assert xd["已核验面积(平方米)"] == pytest.approx(expected["新店镇"], rel=1e-4)
    assert xd["已核验面积(亩)"] == pytest.approx(expected["新店镇"] / MU, rel=1e-4)
    assert xd["目标(亩)"] == pytest.approx(100)
    assert xd["完成率"] == pytest.approx(expected["新店镇"] / MU / 100, rel=1e-4)
    assert xd["在册地块(个)"] == 4
    # Exact values (not rounded) in the cells; rounding is the display format.
    assert xd["已核验面积(平方米)"] != round(xd["已核验面积(平方米)"], 2)
    total = rows[("晋安区", "合计")]
    assert total["已核验面积(平方米)"] == pytest.approx(expected["晋安区"], rel=1e-4)
    assert total["目标(亩)"] == pytest.approx(9000)
    assert list(rows)[-1] == ("晋安区", "合计")  # after its townships
    formats = {c.column_letter: c.number_format for c in sheet[2]}
    column = {h: openpyxl.utils.get_column_letter(i + 1) for i, h in enumerate(headers)}
    assert formats[column["已核验面积(平方米)"]] == "#,##0.00"
    assert formats[column["已核验面积(亩)"]] == "#,##0.00"
    assert formats[column["完成率"]] == "0.00%"
    assert formats[column["已核验地块(个)"]] == "#,##0"
    about = dict(book["说明"].iter_rows(values_only=True))
    assert about["分组"] == "按乡镇（街道）"  # the export form's words, not the API's `township`


def test_ranking_sheet_orders_by_progress_with_the_pace_per_remaining_month(campaign):
    ranking = _rows(_workbook(campaign)["排名与倒排工期"])
    land = [r for r in ranking if r["类型"] == "交地"]
    expected = _expected()
    progress = {t: expected[t] / MU / target for t, target in (("新店镇", 100), ("鼓山镇", 50))}
    leader, second = sorted(progress, key=progress.get, reverse=True)
    assert [r["乡镇(街道)"] for r in land[:2]] == [leader, second]
    assert [r["名次"] for r in land[:2]] == [1, 2]
    months_left = (date(2017, 12, 31) - AS_OF).days / 30.44
    for row in land[:2]:
        target_mu = 100 if row["乡镇(街道)"] == "新店镇" else 50
        remaining_mu = target_mu - expected[row["乡镇(街道)"]] / MU
        assert row["剩余月数(月)"] == pytest.approx(months_left)
        assert row["每月需完成(亩/月)"] == pytest.approx(remaining_mu / months_left, rel=1e-4)
    # Townships without a target come after the ranked ones, then the district's line.
    assert land[-1]["乡镇(街道)"] == "合计"
    assert land[-1]["每月需完成(亩/月)"] == pytest.approx(
        (9000 - expected["晋安区"] / MU) / months_left, rel=1e-6
    )


def test_composite_ranking_sheet_is_the_quarter_ranked_as_the_api_ranks_it(campaign):
    rows = _rows(_workbook(campaign)["综合考评排名"])
    townships = {r["单位"]: r for r in rows if r["层级"] == "乡镇(街道)"}
    assert {r["考评时段"] for r in rows} == {"2017年第2季度"} and len(townships) == 9
    ranked = rankings.rank(campaign, "township", "2017Q2", district="晋安区")
    for row in ranked["rows"]:
        sheet_row = townships[row["unit"]]
        assert sheet_row["名次"] == row["rank"] and sheet_row["所属"] == "晋安区"
        assert sheet_row["综合得分"] == row["score"]
    # 新店镇's land progress: verified by 30 June against its 100 mu × the share due then.
    land = next(r for r in ranked["rows"] if r["unit"] == "新店镇")["land"]
    due = 100 * MU * land["planned_share"]
    assert townships["新店镇"]["交地完成率"] == pytest.approx(_expected()["新店镇"] / due, rel=1e-4)
    assert townships["新店镇"]["回迁户完成率"] is None  # no relocation recorded
    districts = [r for r in rows if r["层级"] == "区县"]
    assert "晋安区" in {r["单位"] for r in districts}


def test_english_headers_and_formula_text_escaped(campaign):
    book = _workbook(campaign, lang="en", by="project")
    assert book.sheetnames[:2] == ["land", "demolition"]
    rows = _rows(book["land"])
    project = next(r for r in rows if r["Project code"] == "P-1")
    assert project["Project name"] == "'" + EVIL_PROJECT
    assert project["Kind"] == "land"
    assert "Verified area (m²)" in project and "Target (mu)" in project
    for row in book["land"].iter_rows():
        assert all(cell.data_type != "f" for cell in row)


def test_csv_has_a_bom_rounded_numbers_and_percent(campaign):
    export = exports.tally_export(campaign, by="township", as_of=AS_OF, kind="land")
    body = exports.tallies_csv(export)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    xd = next(r for r in rows if r["乡镇(街道)"] == "新店镇")
    expected = _expected()["新店镇"]
    assert (
        xd["已核验面积(平方米)"] == f"{expected:.2f}"
        or abs(float(xd["已核验面积(平方米)"]) - expected) < 0.01 + expected * 1e-4
    )
    assert len(xd["已核验面积(亩)"].split(".")[1]) == 2
    assert float(xd["完成率(%)"]) == pytest.approx(expected / MU, abs=0.01 + 1e-3)
    assert [r["乡镇(街道)"] for r in rows][-1] == "合计"


def test_month_and_quarter_series_follow_the_history(campaign):
    months = exports.tally_export(campaign, by="month", year=2017, kind="land")
    xindian = {r["period"]: r for r in months.rows if r["township"] == "新店镇"}
    assert list(xindian) == [f"2017-{m:02d}" for m in range(1, 13)]
    assert xindian["2017-02"]["verified_m2"] == 0  # before the 15 March verification
    assert xindian["2017-02"]["as_of"] == date(2017, 2, 28)
    assert xindian["2017-03"]["verified_m2"] == pytest.approx(_expected()["新店镇"], rel=1e-4)
    quarters = exports.tally_export(campaign, by="quarter", year=2017, kind="land")
    totals = [r for r in quarters.rows if r["total"]]
    assert [r["period"] for r in totals] == ["2017-Q1", "2017-Q2", "2017-Q3", "2017-Q4"]
    assert totals[0]["verified_m2"] == pytest.approx(_expected()["晋安区"], rel=1e-4)


def test_wall_page_one_printable_section_per_district(campaign):
    export = exports.tally_export(campaign, by="township", as_of=AS_OF)
    page = exports.tallies_html(export)
    assert page.count('<section class="district"') == 1
    assert "@page" in page and "page-break-after" in page
    assert "新店镇" in page and "每月需完成(亩/月)" in page and "合计" in page


def test_api_downloads_with_content_disposition(campaign):
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        client.headers.update(auth("planner"))
        response = client.get("/api/exports/tallies.xlsx?by=district&as_of=2017-06-30")
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        assert "tallies-district-2017.xlsx" in response.headers["content-disposition"]
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        assert _rows(book["交地"])[0]["区县"] == "晋安区"
        csv_response = client.get("/api/exports/tallies.csv?lang=en&kind=land")
        assert csv_response.content.startswith(b"\xef\xbb\xbf")
        assert client.get("/api/exports/tallies.csv?by=week").status_code == 422
        assert client.get("/api/exports/tallies.html?district=nowhere").status_code == 404
        layer = client.get("/api/exports/parcels.gpkg?crs=EPSG:4549&township=新店镇")
        assert layer.status_code == 200
        assert "parcels-4549.gpkg" in layer.headers["content-disposition"]
        assert client.get("/api/exports/parcels.gpkg?crs=EPSG:3857").status_code == 400
        assert client.get("/api/exports/parcels.kml?crs=EPSG:4549").status_code == 400


def test_api_exports_need_a_sign_in_and_keep_to_the_users_districts(campaign):
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        assert client.get("/api/exports/tallies.csv").status_code == 401
        assert client.get("/api/exports/parcels.geojson").status_code == 401
        leader = auth("leader_jinan")
        assert (
            client.get("/api/exports/tallies.csv?district=仓山区", headers=leader).status_code
            == 403
        )
        page = client.get("/api/exports/tallies.html", headers=leader)
        assert page.status_code == 200 and "晋安区" in page.text
        layer = client.get("/api/exports/parcels.geojson", headers=leader)
        assert len(layer.json()["features"]) == 5


def test_cli_writes_the_workbook_and_refuses_unknown_crs(campaign, tmp_path):
    out = tmp_path / "进度.xlsx"
    result = CliRunner().invoke(app, ["export", "tallies", "--format", "xlsx", "--output",
                                      str(out), "--as-of", "2017-06-30"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "交地" in openpyxl.load_workbook(out).sheetnames
    args = ["export", "parcels", "--format", "gpkg", "--crs", "EPSG:3857"]
    result = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "p.gpkg")])
    assert result.exit_code == 2
    assert "EPSG:4549" in result.output


# --- parcel layers ---------------------------------------------------------------------------


def _database_parcels(session) -> dict:
    rows = session.execute(
        text(
            "SELECT p.code, p.name, p.status, p.area_m2, p.declared_m2, t.name AS township, "
            "ST_AsBinary(p.geom) AS wkb FROM parcels p "
            "JOIN admin_units t ON t.id = p.township_id"
        )
    ).mappings()
    return {r["code"]: {**r, "geom": shapely.from_wkb(bytes(r["wkb"]))} for r in rows}


def _layer_path(tmp_path, fmt, epsg, encoding="UTF-8"):
    return tmp_path / f"parcels-{epsg}-{encoding}{exports.SUFFIXES[fmt]}"


def _export(session, tmp_path, fmt, epsg, encoding="UTF-8", **filters):
    layer = exports.parcel_frame(session, **filters)
    path = _layer_path(tmp_path, fmt, epsg, encoding)
    return exports.write_parcels(layer, fmt, epsg, path, encoding=encoding)


def _read(path, fmt):
    source = f"/vsizip/{path}/parcels.shp" if fmt == "shp" else str(path)
    return pyogrio.read_dataframe(source)


# The CRSs that hold Jin'an: lon/lat and GK zone 40 / CM 120E (the others are refused).
FUZHOU_CRS = (4490, 4326, 4528, 4549)
LAYERS = [(f, c) for f in ("gpkg", "shp") for c in FUZHOU_CRS] + [
    ("geojson", 4326),
    ("kml", 4326),
    ("csv", 4490),
    ("csv", 4549),
]


@pytest.mark.parametrize(("fmt", "epsg"), LAYERS)
def test_every_parcel_layer_reads_back_with_the_databases_attributes_and_areas(
    campaign, tmp_path, fmt, epsg
):
    stored = _database_parcels(campaign)
    path = _export(campaign, tmp_path, fmt, epsg)
    layer = _read(path, fmt)
    if fmt == "csv":
        layer = layer.set_geometry(shapely.from_wkt(layer["WKT"]), crs=epsg)
    else:
        assert layer.crs.to_epsg() == epsg
    assert len(layer) == len(stored)
    code_field = "code"
    for _, row in layer.iterrows():
        db = stored[row[code_field]]
        assert row["status"] == db["status"]
        assert row["township"] == db["township"]
        if fmt != "kml":
            assert float(row["area_m2"]) == pytest.approx(db["area_m2"], rel=1e-12)
    lonlat = layer.to_crs(4490)
    for code, geom in zip(layer[code_field], lonlat.geometry, strict=True):
        db = stored[code]
        # 1e-7 degrees moves a vertex up to 5 mm: a 1 ha parcel's area by up to ~2e-4.
        rel = 3e-4 if fmt == "geojson" else 1e-5
        assert independent_area_m2(geom) == pytest.approx(db["area_m2"], rel=rel)
        # GeoJSON is rounded to 1e-7 degrees (RFC 7946 validators); the rest keep it all.
        assert shapely.hausdorff_distance(geom, db["geom"]) < (1e-7 if fmt == "geojson" else 1e-8)
    name_field = "Name" if fmt == "kml" else "name"  # KML: the placemark's <name>
    names = {c: n for c, n in zip(layer["code"], layer[name_field], strict=True)}
    assert names["XD-1"] == "秀峰村一号地块"
    if fmt == "csv":  # for spreadsheets: the formula-like name stays text
        assert names["XD-2"].startswith("'=HYPERLINK")


REIMPORT = [("gpkg", c) for c in FUZHOU_CRS] + [
    ("shp", 4528),
    ("shp", 4549),
    ("shp", 4490),
    ("geojson", 4326),
    ("kml", 4326),
]


@pytest.mark.parametrize(("fmt", "epsg"), REIMPORT)
def test_export_then_import_changes_nothing(campaign, tmp_path, fmt, epsg):
    before = _database_parcels(campaign)
    versions = count_rows("parcel_versions")
    path = _export(campaign, tmp_path, fmt, epsg, township="新店镇")
    report = import_file(campaign, path, ImportOptions(kind="land", township="新店镇"))
    assert report.accepted, [p.message for p in report.problems]
    assert (report.created, report.changed, report.unchanged) == (0, 0, 4)
    campaign.flush()
    assert count_rows("parcel_versions") == versions
    after = _database_parcels(campaign)
    for code, parcel in before.items():
        assert {k: v for k, v in after[code].items() if k != "wkb"} == {
            k: v for k, v in parcel.items() if k != "wkb"
        }


def test_a_zone_that_does_not_hold_the_parcels_is_refused(campaign, tmp_path):
    for epsg in (4527, 4529, 4548, 4550):
        with pytest.raises(InvalidInput, match="outside EPSG"):
            _export(campaign, tmp_path, "gpkg", epsg)


def test_gbk_shapefile_has_cpg_prj_and_short_field_names(campaign, tmp_path):
    path = _export(campaign, tmp_path, "shp", 4528, encoding="GBK", township="新店镇")
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        cpg = archive.read("parcels.cpg").decode("ascii").strip()
        prj = archive.read("parcels.prj").decode("ascii")
        dbf = archive.read("parcels.dbf")
    assert names == ["parcels.cpg", "parcels.dbf", "parcels.prj", "parcels.shp", "parcels.shx"]
    assert cpg in ("936", "CP936", "GBK")
    assert "CGCS2000" in prj and "40" in prj
    assert "秀峰村一号地块".encode("gbk") in dbf
    layer = _read(path, "shp")
    assert all(len(c) <= 10 for c in layer.columns)
    assert set(exports.SHP_FIELD_NAMES.values()) <= set(layer.columns)
    assert "秀峰村一号地块" in set(layer["name"])
    report = import_file(campaign, path, ImportOptions(kind="land", township="新店镇"))
    assert (report.changed, report.unchanged) == (0, 4)
    assert report.encoding.upper() in ("GBK", "CP936", "GB18030")


def test_kml_is_lonlat_with_names_and_status_styles(campaign, tmp_path):
    path = _export(campaign, tmp_path, "kml", 4326)
    text_ = path.read_text(encoding="utf-8")
    for status in ("verified", "delivered", "planned"):
        assert f'<Style id="status_{status}">' in text_
        assert f"<styleUrl>#status_{status}</styleUrl>" in text_
    assert "<name>秀峰村一号地块</name>" in text_
    layer = pyogrio.read_dataframe(path)
    minx, miny, maxx, maxy = layer.total_bounds
    assert 119 < minx < maxx < 120 and 25 < miny < maxy < 27


def test_filters_and_as_of(campaign, tmp_path):
    assert len(exports.parcel_frame(campaign, township="鼓山镇")) == 1
    assert len(exports.parcel_frame(campaign, status="verified")) == 3
    assert len(exports.parcel_frame(campaign, as_of=date(2017, 3, 1))) == 0
    assert len(exports.parcel_frame(campaign, as_of=date(2017, 3, 15))) == 5


def _ogr_fields(path, fmt) -> dict:
    """Each field's type as GDAL's ogrinfo names it (String, Date, DateTime, ...)."""
    source = f"/vsizip/{path}/parcels.shp" if fmt == "shp" else str(path)
    said = subprocess.run(["ogrinfo", "-so", "-ro", source, "parcels"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    return dict(re.findall(r"^(\w+): (\w+) \(", said, re.M))


def test_moments_are_date_time_fields_in_a_geopackage_and_days_in_a_shapefile(campaign, tmp_path):
    """verified_at, field_day, recorded_at … were text; the OGC API gives a date-time. A
    GeoPackage keeps them as DateTime in China time with its offset, a Shapefile (DBF: no
    time of day) as the Date in China."""
    with rewriting_history(campaign):  # late in the evening in China: the UTC day before
        campaign.execute(text(
            "UPDATE parcel_versions SET recorded_at = '2017-03-20 23:30+08' "
            "WHERE verified_at IS NOT NULL"
        ))  # fmt: skip
    campaign.commit()
    gpkg = _export(campaign, tmp_path, "gpkg", 4490, township="新店镇")
    fields = _ogr_fields(gpkg, "gpkg")
    assert {f: fields[f] for f in exports.MOMENT_FIELDS} == dict.fromkeys(
        exports.MOMENT_FIELDS, "DateTime"
    )
    assert fields["code"] == "String"
    layer = pyogrio.read_dataframe(gpkg).set_index("code")
    china = timezone(timedelta(hours=8))
    assert layer.loc["XD-1", "verified_at"] == datetime(2017, 3, 15, 10, tzinfo=china)
    assert layer.loc["XD-1", "verified_at"].utcoffset() == timedelta(hours=8)
    assert layer.loc["XD-1", "field_day"] == datetime(2017, 3, 15, 10, tzinfo=china)
    assert layer.loc["XD-1", "verification_recorded_at"] == datetime(2017, 3, 20, 23, 30,
                                                                     tzinfo=china)  # fmt: skip
    assert pd.isna(layer.loc["XD-3", "verified_at"])
    shp = _export(campaign, tmp_path, "shp", 4528, encoding="GBK", township="新店镇")
    fields = _ogr_fields(shp, "shp")
    short = [exports.SHP_FIELD_NAMES.get(f, f) for f in exports.MOMENT_FIELDS]
    assert {f: fields[f] for f in short} == dict.fromkeys(short, "Date")
    assert fields["name"] == "String" and fields["version"] in ("Integer", "Integer64")
    layer = _read(shp, "shp").set_index("code")
    assert layer.loc["XD-1", "verif_at"] == pd.Timestamp(2017, 3, 15)
    assert layer.loc["XD-1", "verif_rat"] == pd.Timestamp(2017, 3, 20)  # China's day
    assert pd.isna(layer.loc["XD-3", "verif_at"]) and layer.loc["XD-1", "name"] == "秀峰村一号地块"
    # A layer none of whose parcels is signed off: the fields keep their types, empty.
    for fmt, kind in (("gpkg", "DateTime"), ("shp", "Date")):
        path = _export(campaign, tmp_path, fmt, 4490, status="planned")
        field = exports.SHP_FIELD_NAMES["verified_at"] if fmt == "shp" else "verified_at"
        assert _ogr_fields(path, fmt)[field] == kind
        assert _read(path, fmt)[field].isna().all()
