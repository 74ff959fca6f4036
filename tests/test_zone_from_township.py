"""Files with no CRS and plain eastings (no zone prefix): the zone is taken from the
declared township (新店镇, 119.3°E: zone 40, CGCS2000 GK CM 120E = EPSG:4549) when the
parcels then lie within its district, else refused as before. DXF, point tables,
boundary-point files and Shapefiles without .prj alike."""

import json

import ezdxf
import pytest
from conftest import with_user
from corpus import HEADER_CGCS2000, gk_box, parcel, write_boundary_file
from parcelfiles import CM120E, frame, rectangle, write
from pyproj import Transformer
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.errors import UploadRefused
from geo_service.parcels.crs import Place, infer_from_coordinates
from geo_service.parcels.readers import read_features

runner = CliRunner()
TO_CM120E = Transformer.from_crs(4490, CM120E, always_xy=True)
# Inside 新店镇 (晋安区), and in 福清 (another district, still zone 40).
XINDIAN = (119.300, 26.150)
FUQING = (119.380, 25.720)
RULE = "crs_zone_from_township"


def _origin(lonlat):
    return tuple(round(v, 3) for v in TO_CM120E.transform(*lonlat))


def _box(lonlat, dx=0.0, size=80.0):
    e, n = _origin(lonlat)
    e += dx
    return [(e, n), (e + size, n), (e + size, n + size), (e, n + size)]


def _dxf(path, lonlat=XINDIAN):
    doc = ezdxf.new("R2000")
    for name in ("JZX", "ZDH"):
        doc.layers.add(name)
    msp = doc.modelspace()
    for i, code in enumerate(("ZT-001", "ZT-002")):
        ring = _box(lonlat, dx=200 * i)
        msp.add_lwpolyline(ring, close=True, dxfattribs={"layer": "JZX"})
        middle = (ring[0][0] + 40, ring[0][1] + 40)
        msp.add_text(code, dxfattribs={"layer": "ZDH", "insert": middle})
    doc.saveas(path)
    return path


def _csv(path, lonlat=XINDIAN):
    lines = ["宗地号,点号,X,Y"]
    for i, code in enumerate(("ZT-001", "ZT-002")):
        lines += [f"{code},J{k},{n},{e}" for k, (e, n) in enumerate(_box(lonlat, 200 * i), 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _boundary_file(path):
    header = dict(HEADER_CGCS2000, 带号=None)
    parcels = [parcel("ZT-001", "一号地块", [gk_box(0, 0, 100, 80)], hectares=0.8)]
    return write_boundary_file(path, parcels, header=header, prefixed=False)


def _shapefile_without_prj(tmp_path):
    shp = write(frame([rectangle(XINDIAN, 0, 0, 90, 60)], code=["ZT-001"]),
                tmp_path / "noprj.shp", crs=CM120E)  # fmt: skip
    shp.with_suffix(".prj").unlink()
    return shp


def _dry_run(path):
    args = ["import", str(path), "--kind", "land", "--township", "新店镇", "--dry-run", "--json"]
    result = runner.invoke(app, with_user(args))
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else None


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: _dxf(tmp / "宗地图.dxf"),
        lambda tmp: _csv(tmp / "界址点成果表.csv"),
        lambda tmp: _boundary_file(tmp / "界址点.txt"),
        _shapefile_without_prj,
    ],
    ids=["dxf", "point-table", "boundary-points", "shapefile-without-prj"],
)
def test_plain_eastings_take_the_zone_of_the_declared_township(db, tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(UploadRefused) as refused:  # without a township: as before
        read_features(path)
    assert "crs_missing" in str(refused.value)
    result, report = _dry_run(path)
    assert result.exit_code == 0, result.output
    assert report["source_crs"].startswith("EPSG:4549")
    (warning,) = [p for p in report["problems"] if p["rule"] == RULE]
    assert warning["severity"] == "warning"
    assert "新店镇" in warning["message"] and "EPSG:4549" in warning["message"]
    assert not [p for p in report["problems"] if p["severity"] == "error"], report["problems"]


@pytest.mark.parametrize("make", [_dxf, _csv], ids=["dxf", "point-table"])
def test_plain_eastings_outside_the_district_are_still_refused(db, tmp_path, make):
    path = make(tmp_path / f"福清{'.dxf' if make is _dxf else '.csv'}", FUQING)
    result, report = _dry_run(path)
    assert result.exit_code == 1
    said = result.output
    assert "crs_missing" in said and "晋安区" in said and "--crs" in said


def test_the_zone_is_the_townships_and_the_check_is_the_districts_extent():
    jinan = Place("新店镇", 119.30, "晋安区", (119.20, 26.00, 119.60, 26.40))
    inside = (*_origin((119.30, 26.15)), *_origin((119.31, 26.16)))
    source, (warning,) = infer_from_coordinates(inside, "a.dxf", jinan)
    assert source.label == "EPSG:4549" and warning.rule == RULE
    # the same numbers for a township at 117.9°E are zone 39 (CM 117E): 300 km off, refused
    west = Place("某镇", 117.90, "某县", (117.60, 25.90, 118.30, 26.40))
    with pytest.raises(UploadRefused, match="EPSG:4548"):
        infer_from_coordinates(inside, "a.dxf", west)
    # zone-prefixed eastings keep their own zone whatever the township
    prefixed = (inside[0] + 40e6, inside[1], inside[2] + 40e6, inside[3])
    assert infer_from_coordinates(prefixed, "a.dxf", west)[0].label == "EPSG:4528"
