"""DWG drawings: AutoCAD 2000 (AC1015) through the system GDAL's CAD driver, every other
version refused in Chinese with a request for a DXF, naming the version.

No tool on Debian bookworm writes a DWG (libredwg-tools is not packaged there; ezdxf writes
DXF only), so the drawings here are hand-made headers, and the CAD driver's output is
built as ogr2ogr writes it (one GeoPackage table per drawing layer, fields cadgeom_type
and text; a closed polyline without arcs comes without its closing vertex: GDAL's
ogrcadlayer.cpp) to check the CASS rules applied to it."""

import geopandas as gpd
import pytest
import shapely
from conftest import with_user
from parcelfiles import XINDIAN, ZONE40
from pyproj import Transformer
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.errors import UploadRefused
from geo_service.parcels.readers import cass_dxf, read_features

runner = CliRunner()
E0, N0 = (
    round(v, 3) for v in Transformer.from_crs(4490, ZONE40, always_xy=True).transform(*XINDIAN)
)


def _refusal(path) -> str:
    with pytest.raises(UploadRefused) as refused:
        read_features(path)
    return "".join(str(refused.value).split())


@pytest.mark.parametrize(
    "version, release",
    [("AC1009", "R11/R12"), ("AC1014", "R14"), ("AC1018", "2004"), ("AC1021", "2007"),
     ("AC1024", "2010"), ("AC1027", "2013"), ("AC1032", "2018")],
)  # fmt: skip
def test_versions_the_cad_driver_cannot_read_are_refused_naming_them(tmp_path, version, release):
    path = tmp_path / "宗地图.dwg"
    path.write_bytes(version.encode() + bytes(250))
    said = _refusal(path)
    assert f"该DWG图形为AutoCAD{release}版本（{version}），本系统无法直接读取" in said
    assert "请在南方CASS或AutoCAD中将图形另存为DXF格式后再上传" in said
    assert "[dwg_not_read]" in said


def test_a_file_without_a_dwg_header_is_refused(db, tmp_path):
    path = tmp_path / "宗地图.dwg"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    result = runner.invoke(app, with_user(["import", str(path), "--kind", "land",
                                           "--township", "新店镇", "--dry-run"]))  # fmt: skip
    assert result.exit_code == 1
    assert "该文件不是有效的DWG图形文件" in "".join(result.output.split())


@pytest.mark.skipif(cass_dxf.cad_driver() is None, reason="needs gdal-bin with the CAD driver")
def test_a_damaged_autocad_2000_drawing_goes_to_the_cad_driver_and_is_refused(tmp_path):
    path = tmp_path / "宗地图.dwg"
    path.write_bytes(b"AC1015" + bytes(250))
    said = _refusal(path)
    assert "couldnotbereadbyGDAL'sCADdriver" in said and "AutoCAD2000版本（AC1015）" in said
    assert str(tmp_path) not in said  # the file's name, not the server's path


def test_without_the_cad_driver_an_autocad_2000_drawing_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(cass_dxf, "cad_driver", lambda: None)
    path = tmp_path / "宗地图.dwg"
    path.write_bytes(b"AC1015" + bytes(250))
    said = _refusal(path)
    assert "noGDALCADdriver" in said and "另存为DXF" in said


def _offset(points):
    return [(E0 + x, N0 + y) for x, y in points]


def _line(points):
    return shapely.LineString(_offset(points))


def _converted(path):
    """What ogr2ogr writes from a CASS drawing through the CAD driver."""
    rows = {
        "JZX": [
            ("CADLWPolyline", None, _line([(0, 0), (120, 0), (120, 90), (0, 90)])),
            ("CADLWPolyline", None, _line([(200, 0), (300, 0), (300, 80), (200, 80), (200, 0)])),
        ],
        "ZDH": [
            ("CADText", "JA-001", shapely.Point(_offset([(60, 45)]))),
            ("CADMText", "新店-宗地2", shapely.Point(_offset([(250, 40)]))),
        ],
        "TK": [
            ("CADLWPolyline", None, _line([(-100, -100), (700, -100), (700, 600), (-100, 600)])),
            ("CADText", "JA-099", shapely.Point(_offset([(600, 500)]))),
        ],
    }  # fmt: skip
    for layer, features in rows.items():
        kinds, texts, geoms = zip(*features, strict=True)
        frame = gpd.GeoDataFrame({"cadgeom_type": kinds, "text": texts}, geometry=list(geoms))
        frame.to_file(path, layer=layer, driver="GPKG")
    return path


def test_the_cad_drivers_output_goes_through_the_cass_rules(tmp_path):
    parsed = cass_dxf.read_converted(_converted(tmp_path / "drawing.gpkg"), "宗地图.dwg", None)
    frame = parsed.frame
    assert list(frame["code"]) == ["JA-001", "新店-宗地2"]  # not the frame on TK
    assert frame.geometry.iloc[0].area == pytest.approx(120 * 90)
    assert frame.geometry.iloc[1].area == pytest.approx(100 * 80)
    assert parsed.source.label == "EPSG:4528"
    (closed,) = [p for p in parsed.problems if p.rule == "dwg_closed_assumed"]
    assert closed.severity == "warning" and "1 polyline(s)" in closed.message
    assert not [p for p in parsed.problems if p.severity == "error"]
