"""What surveyors deliver: 南方CASS drawings (DXF, built here with ezdxf) and boundary-point
tables (XLSX, CSV, CASS .dat), imported through the CLI and the API as users do."""

import csv
import json
import re

import ezdxf
import numpy as np
import openpyxl
import pytest
import shapely
from conftest import VERIFIER, auth, shared_app, signed_in_page, with_user
from fastapi.testclient import TestClient
from parcelfiles import XINDIAN, ZONE40, independent_area_m2
from pyproj import Transformer
from sqlalchemy import text
from test_web_uploads import ORIGIN, _report
from typer.testing import CliRunner

from geo_service import database
from geo_service.cli import app
from geo_service.parcels.readers import cass_dxf, read_features

runner = CliRunner()
TO_ZONE40 = Transformer.from_crs(4490, ZONE40, always_xy=True)
TO_LONLAT = Transformer.from_crs(ZONE40, 4490, always_xy=True)
E0, N0 = (round(v, 3) for v in TO_ZONE40.transform(*XINDIAN))
GAP_M = 0.35
# Storing only the valid outlines of a drawing takes a reason on record (upload_options).
VALID_ONLY = ("--accept-valid", "--store-reason", "开口的界线待改正")


def _offset(points):
    return [(E0 + x, N0 + y) for x, y in points]


# Each parcel: code, outline (x, y, bulge) in metres from (E0, N0), where its code sits.
RECTANGLE = ("JA-001", [(0, 0, 0), (120, 0, 0), (120, 90, 0), (0, 90, 0)], (60, 45))
# A tight arc (bulge 0.4, r ≈ 60 m) on the south side, a flat one (bulge 0.02, r ≈ 2.5 km)
# on the north side: the two ways the tessellation could stray from the true arc.
ARCS = ("JA-002", [(200, 0, 0.4), (300, 0, 0), (300, 200, -0.02), (200, 200, 0)], (250, 100))
GBK_CODE = ("新店-宗地3", [(0, 300, 0), (150, 300, 0), (100, 420, 0), (-20, 400, 0)], (60, 360))


def _true_outline(vertices, steps=20_000) -> shapely.Polygon:
    """The exact shape, its arcs sampled every few millimetres, in zone-40 metres."""
    points = []
    for (x1, y1, bulge), (x2, y2, _b) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        if not bulge:
            points.append((x1, y1))
            continue
        angle = 4 * np.arctan(bulge)  # the arc's sweep, counter-clockwise when positive
        chord = np.hypot(x2 - x1, y2 - y1)
        radius = chord / (2 * np.sin(angle / 2))
        mid = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
        normal = np.array([-(y2 - y1), x2 - x1]) / chord
        centre = mid + normal * radius * np.cos(angle / 2)
        start = np.arctan2(y1 - centre[1], x1 - centre[0])
        sweep = np.linspace(start, start + angle, steps, endpoint=False)
        points += list(zip(centre[0] + abs(radius) * np.cos(sweep),
                           centre[1] + abs(radius) * np.sin(sweep), strict=True))  # fmt: skip
    return shapely.Polygon(_offset(points))


def _geodesic_m2(zone40_polygon) -> float:
    return independent_area_m2(shapely.transform(
        zone40_polygon, lambda xy: np.column_stack(TO_LONLAT.transform(xy[:, 0], xy[:, 1]))
    ))  # fmt: skip


def _drawing(path, version="R2000", encoding="gbk", unclosed=True):
    """A CASS-style parcel drawing: outlines on JZX and 宗地, codes on ZDH, point labels on
    JZD, a map frame with its title on TK, roads on DLX."""
    doc = ezdxf.new(version)
    if version == "R2000":
        doc.encoding = encoding  # written as $DWGCODEPAGE ANSI_936, the text in GBK
    for name in ("JZX", "宗地", "ZDH", "JZD", "TK", "DLX"):
        doc.layers.add(name)
    msp = doc.modelspace()
    for code, vertices, label in (RECTANGLE, ARCS):
        msp.add_lwpolyline(
            [(x, y, 0, 0, b) for x, y, b in _offset_xyb(vertices)], format="xyseb",
            close=True, dxfattribs={"layer": "JZX"},
        )  # fmt: skip
        msp.add_text(code, dxfattribs={"layer": "ZDH", "insert": _offset([label])[0]})
    code, vertices, label = GBK_CODE
    msp.add_lwpolyline(_offset([(x, y) for x, y, _b in vertices]), close=True,
                       dxfattribs={"layer": "宗地"})  # fmt: skip
    msp.add_mtext(code, dxfattribs={"layer": "ZDH", "insert": _offset([label])[0]})
    for i, (x, y, _b) in enumerate(RECTANGLE[1], start=1):
        msp.add_text(f"J{i}", dxfattribs={"layer": "JZD", "insert": _offset([(x + 1, y + 1)])[0]})
    if unclosed:  # its last point stops GAP_M short of its first
        msp.add_lwpolyline(_offset([(400, 0), (500, 0), (500, 100), (400, GAP_M)]),
                           dxfattribs={"layer": "JZX"})  # fmt: skip
        msp.add_text("JA-004", dxfattribs={"layer": "ZDH", "insert": _offset([(450, 50)])[0]})
    frame = _offset([(-100, -100), (700, -100), (700, 600), (-100, 600)])
    msp.add_lwpolyline(frame, close=True, dxfattribs={"layer": "TK"})
    title = _offset([(200, 560)])[0]
    msp.add_text("福州市晋安区新店镇地籍图", dxfattribs={"layer": "TK", "insert": title})
    msp.add_text("JA-099", dxfattribs={"layer": "TK", "insert": _offset([(600, 500)])[0]})
    road = _offset([(-100, 250), (700, 250), (700, 270), (-100, 270)])
    msp.add_lwpolyline(road, close=True, dxfattribs={"layer": "DLX"})
    msp.add_text("福新路", dxfattribs={"layer": "DLX", "insert": _offset([(300, 260)])[0]})
    doc.saveas(path)
    return path


def _offset_xyb(vertices):
    return [(E0 + x, N0 + y, b) for x, y, b in vertices]


def _expected_m2():
    return {code: _geodesic_m2(_true_outline(v)) for code, v, _l in (RECTANGLE, ARCS, GBK_CODE)}


def _cli(*args):
    return runner.invoke(app, with_user([str(a) for a in args], "auto"))


def _stored_areas() -> dict[str, float]:
    with database.get_engine().connect() as conn:
        return dict(conn.execute(text("SELECT code, area_m2 FROM parcels")).all())


def _problem(report, rule):
    found = [p for p in report["problems"] if p["rule"] == rule]
    assert found, (rule, report["problems"])
    return found


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


def _upload(client, path, **fields):
    data = {"kind": "land", "township": "新店镇", **fields}
    return client.post("/api/uploads", files={"file": (path.name, path.read_bytes())},
                       data=data, headers=auth(VERIFIER["land"]))  # fmt: skip


# --- CASS drawings ------------------------------------------------------------------------


def test_the_gbk_drawing_is_r2000_with_code_page_936(tmp_path):
    """The drawing really is what the tests claim: GBK bytes under ANSI_936."""
    data = _drawing(tmp_path / "宗地图.dxf").read_bytes()
    assert b"ANSI_936" in data and b"AC1015" in data
    assert "新店-宗地3".encode("gbk") in data
    assert cass_dxf.text_encoding(tmp_path / "宗地图.dxf") == "GBK"


def test_cli_dry_run_reports_the_open_outline_with_its_gap(db, tmp_path):
    path = _drawing(tmp_path / "宗地图.dxf")
    result = _cli("import", path, "--kind", "land", "--township", "新店镇", "--dry-run", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["features"] == 4 and report["encoding"] == "GBK"
    assert report["source_crs"].startswith("EPSG:4528")
    (open_outline,) = _problem(report, "unclosed_outline")
    assert open_outline["code"] == "JA-004" and open_outline["severity"] == "error"
    assert f"{GAP_M:.3f} m apart" in open_outline["message"]
    # the frame's stray code-like text is on TK, the road name on DLX: neither is a code
    assert not [p for p in report["problems"] if p["rule"] == "code_outside_outlines"]


def test_cli_stores_the_parcels_with_their_codes_and_exact_areas(db, tmp_path):
    path = _drawing(tmp_path / "宗地图.dxf")
    result = _cli("import", path, "--kind", "land", "--township", "新店镇", *VALID_ONLY)
    assert result.exit_code == 0, result.output
    stored = _stored_areas()
    expected = _expected_m2()
    assert set(stored) == set(expected)  # no frame, no road, not the open outline
    for code, m2 in expected.items():
        assert stored[code] == pytest.approx(m2, rel=1e-4), code


def test_api_dry_run_and_store_of_a_drawing(client, tmp_path):
    path = _drawing(tmp_path / "parcels.dxf")
    refused = _upload(client, path, dry_run="true")
    assert refused.status_code == 422, refused.text
    report = refused.json()["report"]
    assert "0.350 m apart" in _problem(report, "unclosed_outline")[0]["message"]
    checked = _upload(
        client, path, dry_run="true", accept_valid="true", store_reason="开口的界线待改正"
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["parcels"] == 3
    assert _stored_areas() == {}
    stored = _upload(client, path, accept_valid="true", store_reason="开口的界线待改正")
    assert stored.status_code == 201, stored.text
    expected = _expected_m2()
    assert stored.json()["area_m2"] == pytest.approx(sum(expected.values()), rel=1e-4)
    assert set(_stored_areas()) == set(expected)


def test_a_refused_drawings_report_gives_the_area_its_valid_parcels_would_store(client, tmp_path):
    """A drawing with one open outline and 3 good parcels said 面积 0.0 m² while offering
    to store the 3: the report gives their area, labelled as theirs (the file's stays 0)."""
    path = _drawing(tmp_path / "宗地图.dxf")
    refused = _upload(client, path, dry_run="true")
    assert refused.status_code == 422, refused.text
    report, expected = refused.json()["report"], sum(_expected_m2().values())
    assert report["valid"] == 3 and report["area_m2"] == 0
    assert report["valid_area_m2"] == pytest.approx(expected, rel=1e-4)
    assert report["valid_area_mu"] == pytest.approx(expected / 666.666_667, rel=1e-4)
    for lang, label in (
        ("zh_CN", "合格的 3 个地块的面积"),
        ("en", "Area of the 3 parcels that passed"),
    ):
        page = signed_in_page("land_xd")
        page.get(f"/uploads?lang={lang}")
        _token, shown = _report(page, path)
        said = re.search(r'<dt>([^<]*)</dt><dd id="valid-area">([^<]*)</dd>', shown.text)
        assert said and said.group(1) == label, shown.text
        shown_m2 = float(said.group(2).split(" m²")[0].replace(",", ""))
        assert shown_m2 == pytest.approx(expected, rel=1e-4)


def test_arcs_are_tessellated_within_a_centimetre(tmp_path):
    read = read_features(_drawing(tmp_path / "arcs.dxf", unclosed=False))
    frame = read.frame.set_index("code")
    true = _true_outline(ARCS[1])
    drawn = frame.loc["JA-002", "geometry"]
    assert shapely.hausdorff_distance(drawn.exterior, true.exterior, densify=0.01) <= 0.01
    assert shapely.get_num_coordinates(drawn) < 400  # and not needlessly fine


def test_utf8_drawing_from_autocad_2007_on(db, tmp_path):
    path = _drawing(tmp_path / "r2018.dxf", version="R2018", unclosed=False)
    read = read_features(path)
    assert read.encoding == "UTF-8"
    assert sorted(read.frame["code"]) == sorted(["JA-001", "JA-002", "新店-宗地3"])


def test_layer_option_names_the_parcel_layer(db, tmp_path):
    path = _drawing(tmp_path / "宗地图.dxf", unclosed=False)
    result = _cli("import", path, "--kind", "land", "--township", "新店镇", "--dry-run",
                  "--json", "--layer", "宗地")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["features"] == report["parcels"] == 1
    # the codes of the parcels on JZX now lie in no outline: said, not hidden
    outside = _problem(report, "code_outside_outlines")
    assert sorted(p["message"].split()[3] for p in outside) == ["JA-001", "JA-002"]
    assert {p["severity"] for p in outside} == {"warning"}
    refused = _cli("import", path, "--kind", "land", "--township", "新店镇", "--dry-run",
                   "--layer", "NOSUCH")  # fmt: skip
    assert refused.exit_code == 1
    assert "no closed polylines on the parcel layers (NOSUCH)" in " ".join(refused.output.split())


def _small_drawing(path, outlines, texts):
    """outlines: [(layer, points)], closed; texts: [(layer, text, point)]."""
    doc = ezdxf.new("R2018")
    msp = doc.modelspace()
    for layer, points in outlines:
        msp.add_lwpolyline(_offset(points), close=True, dxfattribs={"layer": layer})
    for layer, value, point in texts:
        msp.add_text(value, dxfattribs={"layer": layer, "insert": _offset([point])[0]})
    doc.saveas(path)
    return path


def test_two_outlines_for_one_code_and_a_code_in_no_outline(db, tmp_path):
    square = [(0, 0), (50, 0), (50, 50), (0, 50)]
    other = [(100, 0), (150, 0), (150, 50), (100, 50)]
    path = _small_drawing(
        tmp_path / "twice.dxf",
        [("JZX", square), ("JZX", other)],
        [("ZDH", "JB-1", (25, 25)), ("ZDH", "JB-1", (125, 25)), ("ZDH", "JB-2", (300, 300))],
    )
    result = _cli("import", path, "--kind", "land", "--township", "新店镇", "--dry-run", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    (twice,) = _problem(report, "duplicate_code")
    assert twice["feature"] == 2 and "JB-1" in twice["message"]
    (lost,) = _problem(report, "code_outside_outlines")
    assert "JB-2" in lost["message"] and "inside no parcel outline" in lost["message"]


def test_an_outline_with_two_codes_is_a_problem(tmp_path):
    path = _small_drawing(
        tmp_path / "two-codes.dxf",
        [("ZD", [(0, 0), (50, 0), (50, 50), (0, 50)])],
        [("ZDH", "JC-1", (10, 10)), ("ZDH", "JC-2", (40, 40))],
    )
    (problem,) = [p for p in read_features(path).problems if p.rule == "several_codes"]
    assert "JC-1, JC-2" in problem.message


def test_a_code_carried_in_xdata_wins_over_text(tmp_path):
    doc = ezdxf.new("R2018")
    doc.appids.add("ZDH")
    msp = doc.modelspace()
    outline = msp.add_lwpolyline(_offset([(0, 0), (40, 0), (40, 40), (0, 40)]), close=True,
                                 dxfattribs={"layer": "JZX"})  # fmt: skip
    outline.set_xdata("ZDH", [(1000, "JX-777")])
    msp.add_lwpolyline(_offset([(100, 0), (140, 0), (140, 40), (100, 40)]), close=True,
                       dxfattribs={"layer": "JZX"})  # fmt: skip
    msp.add_text("JX-778", dxfattribs={"layer": "ZDH", "insert": _offset([(120, 20)])[0]})
    doc.saveas(tmp_path / "xdata.dxf")
    read = read_features(tmp_path / "xdata.dxf")
    assert list(read.frame["code"]) == ["JX-777", "JX-778"]
    assert not [p for p in read.problems if p.severity == "error"]


def test_dwg_is_refused_asking_for_dxf(db, tmp_path):
    path = tmp_path / "宗地图.dwg"
    path.write_bytes(b"AC1032" + bytes(200))
    result = _cli("import", path, "--kind", "land", "--township", "新店镇", "--dry-run")
    assert result.exit_code == 1
    said = "".join(result.output.split())
    assert "另存为DXF" in said and "请在南方CASS或AutoCAD中将图形另存为DXF格式后再上传" in said


# --- boundary-point tables --------------------------------------------------------------

SQUARE = [(0, 0), (80, 0), (80, 60), (0, 60)]
L_SHAPE = [(200, 0), (300, 0), (300, 40), (240, 40), (240, 100), (200, 100)]
COURTYARD = [(220, 10), (230, 10), (230, 30), (220, 30)]  # a hole in L_SHAPE, ring 2


def _points(offsets, first=1):
    """[(J<n>, X northing, Y easting)] of offsets from (E0, N0)."""
    return [(f"J{first + i}", N0 + y, E0 + x) for i, (x, y) in enumerate(offsets)]


def _m2(*rings) -> float:
    outer, *holes = (_offset(r) for r in rings)
    return _geodesic_m2(shapely.Polygon(outer, holes))


def _table_xlsx(path):
    """A 界址点成果表 as survey companies print it: title rows, a header with units, the
    code only on a parcel's first row (merged cells), side lengths between the points."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["界址点成果表"])
    sheet.append(["测量单位：福州某测绘有限公司", None, "坐标系：2000国家大地坐标系"])
    sheet.append([])
    sheet.append(["宗地编号", "圈号", "界址点号", "X坐标(m)", "Y坐标(m)", "边长(m)"])
    rows = [("JD-001", "1", p) for p in _points(SQUARE)]
    rows.append(("JD-001", "1", ("J1", N0, E0)))  # the closing point repeated
    rows += [("JD-002", "1", p) for p in _points(L_SHAPE)]
    rows += [("JD-002", "2", p) for p in _points(COURTYARD, first=7)]
    previous = None
    for code, ring, (name, x, y) in rows:
        if previous is not None:
            sheet.append([None, None, None, None, None, 12.5])  # 边长 between two points
        sheet.append([code if code != previous else None, ring, name, x, y])
        previous = code
    book.save(path)
    return path


def test_xlsx_table_with_title_rows_merged_codes_and_a_hole(db, tmp_path):
    path = _table_xlsx(tmp_path / "界址点成果表.xlsx")
    result = _cli("import", path, "--kind", "land", "--township", "新店镇", *VALID_ONLY)
    assert result.exit_code == 0, result.output
    stored = _stored_areas()
    assert stored.keys() == {"JD-001", "JD-002"}
    assert stored["JD-001"] == pytest.approx(_m2(SQUARE), rel=1e-4)
    assert stored["JD-002"] == pytest.approx(_m2(L_SHAPE, COURTYARD), rel=1e-4)


def _csv(path, header, rows, encoding="gbk"):
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_table_in_gbk_and_a_ring_crossing_itself(db, tmp_path):
    bowtie = [(400, 0), (450, 0), (400, 50), (450, 50)]  # J2–J3 and J4–J1 cross
    rows = [("宗地A", *p) for p in _points(SQUARE)]  # closing point not repeated
    rows += [("宗地B", *p) for p in _points(bowtie)]
    path = _csv(tmp_path / "points.csv", ["宗地号", "点号", "X", "Y"], rows)
    result = _cli("import", path, "--kind", "land", "--township", "新店镇", "--dry-run", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["encoding"] == "GB18030" and report["features"] == 2
    (crossing,) = _problem(report, "ring_crosses_itself")
    assert crossing["code"] == "宗地B" and "J2–J3 crosses J4–J1" in crossing["message"]
    assert report["valid"] == 1


def test_columns_option_maps_unusual_headers(client, tmp_path):
    rows = [("JE-1", *p) for p in _points(SQUARE)]
    path = _csv(tmp_path / "odd.csv", ["ZDDM", "DH", "BX", "DY"], rows, encoding="utf-8")
    refused = _upload(client, path, dry_run="true")
    assert refused.status_code == 422
    assert "--columns" in refused.json()["detail"]
    mapped = _upload(client, path, dry_run="true", columns="code=ZDDM,point=DH,x=BX,y=DY")
    assert mapped.status_code == 200, mapped.text
    assert mapped.json()["area_m2"] == pytest.approx(_m2(SQUARE), rel=1e-4)


def _dat(path, lines):
    path.write_text("\r\n".join(lines) + "\r\n", encoding="gbk")
    return path


def test_cass_dat_file_one_parcel_named_after_the_file(db, tmp_path):
    # 点名,编码,Y(east),X(north),H
    lines = [f"{name},,{y:.3f},{x:.3f},12.300" for name, x, y in _points(L_SHAPE)]
    path = _dat(tmp_path / "JF-007.dat", lines)
    result = _cli("import", path, "--kind", "land", "--township", "新店镇")
    assert result.exit_code == 0, result.output
    assert _stored_areas() == {"JF-007": pytest.approx(_m2(L_SHAPE), rel=1e-4)}


def test_cass_dat_file_grouped_by_code(db, tmp_path):
    lines = [f"{n},JG-1,{y:.3f},{x:.3f},0" for n, x, y in _points(SQUARE)]
    lines += [f"{n},JG-2,{y:.3f},{x:.3f},0" for n, x, y in _points(L_SHAPE)]
    path = _dat(tmp_path / "两宗.dat", lines)
    result = _cli("import", path, "--kind", "land", "--township", "新店镇")
    assert result.exit_code == 0, result.output
    stored = _stored_areas()
    assert stored == {
        "JG-1": pytest.approx(_m2(SQUARE), rel=1e-4),
        "JG-2": pytest.approx(_m2(L_SHAPE), rel=1e-4),
    }


def test_xlsx_without_a_code_column_takes_the_code_from_the_title(db, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["宗地号：JH-3", None, "面积：4800平方米"])
    sheet.append(["点号", "X", "Y"])
    for row in _points(SQUARE):
        sheet.append(list(row))
    book.save(tmp_path / "one.xlsx")
    read = read_features(tmp_path / "one.xlsx")
    assert list(read.frame["code"]) == ["JH-3"]


@pytest.mark.parametrize("suffix", [".dxf", ".dwg", ".xlsx", ".csv", ".dat"])
def test_broken_files_are_a_4xx_never_a_500(client, tmp_path, suffix):
    whole = {
        ".dxf": lambda p: _drawing(p),
        ".dwg": lambda p: p.write_bytes(b"AC1015" + bytes(64)),
        ".xlsx": _table_xlsx,
        ".csv": lambda p: _csv(
            p, ["宗地号", "点号", "X", "Y"], [("A", *q) for q in _points(SQUARE)]
        ),
        ".dat": lambda p: _dat(p, [f"{n},,{y},{x},0" for n, x, y in _points(SQUARE)]),
    }[suffix]
    source = tmp_path / f"whole{suffix}"
    whole(source)
    data = source.read_bytes()
    for cut in (data[: len(data) // 2], data[:7], bytes(range(256)) * 8):
        broken = tmp_path / f"broken{suffix}"
        broken.write_bytes(cut)
        response = _upload(client, broken, dry_run="true")
        assert 400 <= response.status_code < 500, (cut[:20], response.text)


def test_upload_page_takes_the_layer_and_crs_for_a_drawing(db, tmp_path):
    client = signed_in_page("land_xd")
    path = _drawing(tmp_path / "宗地图.dxf", unclosed=False)
    token, report = _report(client, path, layer="宗地", crs="EPSG:4528")
    assert report.status_code == 200
    assert re.search(r'class="count-features">1<', report.text)
    assert "EPSG:4528" in report.text and "不在任何地块边界内" in report.text
    assert "宗地号注记不在任何宗地界线内" in report.text  # the rule in plain Chinese
    stored = client.post("/uploads/store", data={"token": token, "mode": "all"},
                         headers=ORIGIN, follow_redirects=False)  # fmt: skip
    assert stored.status_code == 303, stored.text
    assert set(_stored_areas()) == {"新店-宗地3"}


def test_a_table_with_x_as_the_easting_is_read_the_other_way_round(tmp_path):
    rows = [("JS-1", name, east, north) for name, north, east in _points(L_SHAPE)]
    read = read_features(_csv(tmp_path / "swapped.csv", ["宗地号", "点号", "X", "Y"], rows))
    assert [p.rule for p in read.problems if p.severity == "warning"] == [
        "crs_inferred",
        "columns_swapped",
    ]
    (shape,) = read.frame.geometry
    assert shapely.equals_exact(
        shape.normalize(), shapely.Polygon(_offset(L_SHAPE)).normalize(), 1e-6
    )
