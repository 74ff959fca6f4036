"""Readers: boundary-point files, encodings, KML/KMZ, CRS rules, and area round trips
through the import (expected areas from pyproj directly, never geo_service code)."""

import json
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
from corpus import (
    HEADER_CGCS2000,
    XINDIAN,
    gk_box,
    gk_origin,
    lonlat,
    parcel,
    write_boundary_file,
    write_kml,
    write_kmz,
    zip_folder,
)
from parcelfiles import CM120E, ZONE40, frame, independent_area_m2, rectangle, write
from pyproj import Geod, Transformer
from sqlalchemy import text

from geo_service.errors import UploadRefused
from geo_service.parcels.crs import parse_crs, to_storage
from geo_service.parcels.readers import (
    detect_dbf_encoding,
    open_features,
    read_ahead,
    read_features,
    vector,
)
from geo_service.parcels.uploads import ImportOptions, import_file

LAND_XINDIAN = ImportOptions(kind="land", township="新店镇")
NAMES = ["新店镇赤桥村一号地块", "岳峰镇上洋安置房（二期）"]


def _two_parcels():
    return [
        parcel("JA-001", NAMES[0], [gk_box(0, 0, 100, 80)], hectares=0.8),
        parcel("JA-002", NAMES[1], [gk_box(300, 0, 90, 70)], use="商服用地", hectares=0.63),
    ]


def _rules(result):
    return [(p.feature, p.rule, p.severity) for p in result.problems]


def _refused(path, **kwargs) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        read_features(path, **kwargs)
    assert path.name in str(caught.value)
    return caught.value


def _rule_of(error: UploadRefused) -> str:
    return error.report.problems[0].rule


# --- boundary-point files ---------------------------------------------------------------


def test_gbk_crlf_boundary_file_with_zone_prefix(tmp_path):
    path = write_boundary_file(tmp_path / "界址点.txt", _two_parcels(), encoding="GBK")
    assert b"\r\n" in path.read_bytes()
    read = read_features(path)
    assert read.encoding == "GB18030"
    assert read.source.label == "EPSG:4528"
    assert read.problems == []
    assert list(read.frame["code"]) == ["JA-001", "JA-002"]
    assert list(read.frame["name"]) == NAMES
    assert list(read.frame["use"]) == ["城镇住宅用地", "商服用地"]
    assert list(read.frame["declared_m2"]) == pytest.approx([8000.0, 6300.0])
    e0, n0 = gk_origin()
    minx, miny, *_ = read.frame.geometry.iloc[0].bounds
    # x is the easting (zone-prefixed), y the northing
    assert (minx, miny) == pytest.approx((40_000_000 + round(e0, 3), round(n0, 3)), abs=1e-3)


def test_utf8_bom_lf_boundary_file(tmp_path):
    path = write_boundary_file(
        tmp_path / "utf8.txt", _two_parcels(), encoding="utf-8", bom=True, newline="\n"
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf[")
    read = read_features(path)
    assert read.encoding == "UTF-8"
    assert list(read.frame["name"]) == NAMES


def test_encoding_override_and_undecodable_text(tmp_path):
    path = write_boundary_file(tmp_path / "gbk.txt", _two_parcels(), encoding="GBK")
    read = read_features(path, encoding="gbk")
    assert read.encoding == "GBK" and list(read.frame["name"]) == NAMES
    error = _refused(path, encoding="UTF-8")
    assert "UTF-8" in str(error)


def test_easting_first_plain_eastings_use_the_header_zone(tmp_path):
    normal = read_features(write_boundary_file(tmp_path / "a.txt", _two_parcels()))
    swapped = read_features(
        write_boundary_file(tmp_path / "b.txt", _two_parcels(), easting_first=True, prefixed=False)
    )
    assert swapped.source.label == "EPSG:4549"  # CGCS2000 GK CM 120E = 3 * 带号 40
    moved = shapely.affinity.translate(swapped.frame.geometry.iloc[0], 40_000_000, 0)
    assert shapely.equals_exact(moved, normal.frame.geometry.iloc[0], tolerance=1e-6)


def test_plain_eastings_without_zone_are_refused_unless_crs_given(tmp_path):
    header = dict(HEADER_CGCS2000, 带号=None)
    path = write_boundary_file(
        tmp_path / "nozone.txt", _two_parcels(), header=header, prefixed=False
    )
    error = _refused(path)
    assert _rule_of(error) == "crs_missing" and "--crs EPSG:4549" in str(error)
    assert read_features(path, crs="EPSG:4549").source.label == "EPSG:4549"


def test_point_counts_without_closing_points_and_extra_fields(tmp_path):
    plain = read_features(write_boundary_file(tmp_path / "a.txt", _two_parcels()))
    variant = read_features(
        write_boundary_file(
            tmp_path / "b.txt", _two_parcels(), count_closing=False, extra_fields=("备注", "2017")
        )
    )
    assert variant.problems == []
    assert list(variant.frame["name"]) == NAMES
    assert list(variant.frame["use"]) == ["城镇住宅用地", "商服用地"]
    assert shapely.equals(variant.frame.geometry.values, plain.frame.geometry.values).all()


def test_unclosed_rings_are_closed_with_a_warning(tmp_path):
    path = write_boundary_file(tmp_path / "open.txt", _two_parcels(), closing=False)
    read = read_features(path)
    assert _rules(read) == [(1, "unclosed_ring", "warning"), (2, "unclosed_ring", "warning")]
    assert read.problems[0].code == "JA-001"
    geom = read.frame.geometry.iloc[0]
    assert geom.is_valid and geom.area == pytest.approx(100 * 80, rel=1e-9)


def test_too_few_points_is_an_error_and_the_parcel_has_no_geometry(tmp_path):
    e, n = gk_origin()
    sliver = [(e, n), (e + 50, n), (e, n)]
    parcels = [parcel("BAD", "两点", [sliver], hectares=0), *_two_parcels()]
    read = read_features(write_boundary_file(tmp_path / "few.txt", parcels))
    assert [(p.feature, p.code, p.rule, p.severity) for p in read.problems] == [
        (1, "BAD", "too_few_points", "error")
    ]
    assert read.frame.geometry.iloc[0] is None
    assert read.frame.geometry.iloc[1] is not None


def test_rings_become_holes_or_parts_by_containment(tmp_path):
    outer, hole, other = gk_box(0, 0, 200, 150), gk_box(50, 40, 60, 50), gk_box(400, 0, 80, 80)
    read = read_features(
        write_boundary_file(
            tmp_path / "rings.txt", [parcel("H-1", "带洞两块", [outer, hole, other])]
        )
    )
    geom = read.frame.geometry.iloc[0]
    assert geom.geom_type == "MultiPolygon" and len(geom.geoms) == 2
    assert [len(p.interiors) for p in geom.geoms] == [1, 0]
    assert geom.area == pytest.approx(200 * 150 - 60 * 50 + 80 * 80, rel=1e-9)


@pytest.mark.parametrize(
    ("system", "prefixed", "epsg"),
    [
        ("1980西安坐标系", True, 2364),
        ("西安80坐标系", False, 2385),
        ("1954北京坐标系", True, 2416),
        ("北京54", False, 2437),
        ("2000国家大地坐标系", False, 4549),
    ],
)
def test_header_datum_and_zone_give_the_crs(tmp_path, system, prefixed, epsg):
    header = dict(HEADER_CGCS2000, 坐标系=system)
    path = write_boundary_file(tmp_path / "d.txt", _two_parcels(), header=header, prefixed=prefixed)
    read = read_features(path)
    assert read.source.label == f"EPSG:{epsg}"
    expected = [] if epsg == 4549 else [(None, "datum_approximate", "warning")]
    assert _rules(read) == expected
    if expected:
        assert "100 m" in read.problems[0].message and "0.01%" in read.problems[0].message


def test_header_without_datum_assumes_cgcs2000_with_a_warning(tmp_path):
    header = dict(HEADER_CGCS2000, 坐标系=None)
    read = read_features(write_boundary_file(tmp_path / "n.txt", _two_parcels(), header=header))
    assert read.source.label == "EPSG:4528"
    assert _rules(read) == [(None, "crs_inferred", "warning")]
    assert "EPSG:2364" in read.problems[0].message


def test_six_degree_zones_and_unknown_datums_are_refused(tmp_path):
    six = write_boundary_file(
        tmp_path / "six.txt", _two_parcels(), header=dict(HEADER_CGCS2000, 几度分带="6")
    )
    assert _rule_of(_refused(six)) == "crs_not_accepted"
    local = write_boundary_file(
        tmp_path / "local.txt",
        _two_parcels(),
        header=dict(HEADER_CGCS2000, 坐标系="福州地方坐标系"),
    )
    assert _rule_of(_refused(local)) == "crs_not_accepted"


def test_boundary_file_is_detected_by_content_and_other_text_is_refused(tmp_path):
    path = write_boundary_file(tmp_path / "export.dat", _two_parcels())
    assert list(read_features(path).frame["code"]) == ["JA-001", "JA-002"]
    notes = tmp_path / "readme.txt"
    notes.write_text("地块说明：见附件\r\n", encoding="gbk")
    assert "boundary-point" in str(_refused(notes))


# --- encodings of attribute tables ------------------------------------------------------


def _shapefile_zip(tmp_path, name, encoding, crs=CM120E, folder="成果/矢量"):
    parcels = [rectangle(XINDIAN, 0, 0, 100, 80), rectangle(XINDIAN, 300, 0, 90, 70)]
    data = frame(parcels, code=["S-1", "S-2"], name=NAMES).to_crs(crs)
    out = tmp_path / name
    out.mkdir()
    data.to_file(out / f"{name}.shp", driver="ESRI Shapefile", encoding=encoding)
    for cpg in out.glob("*.cpg"):
        cpg.unlink()
    return zip_folder(tmp_path / f"{name}.zip", out, prefix=folder + "/"), parcels


@pytest.mark.parametrize(("encoding", "detected"), [("GBK", "GB18030"), ("UTF-8", "UTF-8")])
def test_shapefile_without_cpg_in_a_subfolder_keeps_chinese_names(tmp_path, encoding, detected):
    path, _ = _shapefile_zip(tmp_path, f"dk_{encoding[:3]}", encoding)
    with zipfile.ZipFile(path) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".cpg")]
        assert all(n.startswith("成果/矢量/") for n in archive.namelist())
    read = read_features(path)
    assert read.encoding == detected
    assert list(read.frame["name"]) == NAMES
    assert read.source.label == "EPSG:4549"
    assert (
        read_features(path, encoding="GBK" if encoding == "GBK" else "UTF-8").frame["name"].tolist()
        == NAMES
    )


def test_dbf_detection_forgives_a_character_cut_at_the_field_end():
    header = bytearray(32)
    header[4:12] = (
        (1).to_bytes(4, "little") + (65).to_bytes(2, "little") + (8).to_bytes(2, "little")
    )
    field = bytearray(32)
    field[0:4] = b"NAME"
    field[11] = ord("C")
    field[16] = 7
    value = "新店镇".encode()[:7]  # 9 bytes cut to 7: the last character is incomplete
    dbf = bytes(header) + bytes(field) + b"\r" + b" " + value + b"\x1a"
    assert detect_dbf_encoding(dbf) == "UTF-8"
    gbk = bytes(header) + bytes(field) + b"\r" + b" " + "新店镇".encode("gbk")[:6] + b" \x1a"
    assert detect_dbf_encoding(gbk) == "GB18030"


# --- KML / KMZ from a phone --------------------------------------------------------------


def _phone_parcels():
    first = lonlat([gk_box(0, 0, 120, 90)])
    second = lonlat([gk_box(300, 50, 60, 60), gk_box(310, 60, 20, 20)])  # with a hole
    return [("赤桥村拆迁一区", first, 12.5), ("赤桥村拆迁二区", second, 30.0)]


def test_phone_kml_names_become_codes_z_is_dropped_waypoints_skipped(tmp_path):
    path = write_kml(
        tmp_path / "手机.kml", _phone_parcels(), points=[("起点", 119.30, 26.15, 11.0)]
    )
    read = read_features(path)
    assert read.source.label == "EPSG:4326"
    assert list(read.frame["name"]) == ["赤桥村拆迁一区", "赤桥村拆迁二区"]
    assert list(read.frame["code"]) == list(read.frame["name"])
    assert not shapely.has_z(read.frame.geometry.values).any()
    assert _rules(read) == [(None, "skipped_features", "warning")]
    assert "起点" in read.problems[0].message


def test_kmz_is_read_like_its_kml(tmp_path):
    read = read_features(write_kmz(tmp_path / "phone.kmz", _phone_parcels()))
    assert list(read.frame["name"]) == ["赤桥村拆迁一区", "赤桥村拆迁二区"]
    assert len(read.frame.geometry.iloc[1].interiors) == 1


# --- CRS rules --------------------------------------------------------------------------


def _gpkg(tmp_path, name, crs, geoms=None):
    geoms = geoms or [rectangle(XINDIAN, 0, 0, 100, 100)]
    data = frame(geoms, code=[f"C-{i}" for i in range(len(geoms))])
    if crs is not None:
        data = data.to_crs(crs)
    path = tmp_path / name
    data.to_file(path, driver="GPKG")
    return path, data


def test_file_without_crs_zone_prefix_infers_cgcs2000_with_a_warning(tmp_path):
    _, zoned = _gpkg(tmp_path, "z.gpkg", ZONE40)
    path = tmp_path / "nocrs.gpkg"
    gpd.GeoDataFrame({"code": ["N-1"]}, geometry=list(zoned.geometry), crs=None).to_file(path)
    read = read_features(path)
    assert read.source.label == "EPSG:4528"
    assert _rules(read) == [(None, "crs_inferred", "warning")]
    assert "--crs EPSG:2364" in read.problems[0].message


def test_file_without_crs_and_plain_eastings_is_refused(tmp_path):
    _, plain = _gpkg(tmp_path, "p.gpkg", CM120E)
    path = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame({"code": ["N-1"]}, geometry=list(plain.geometry), crs=None).to_file(path)
    error = _refused(path)
    assert _rule_of(error) == "crs_missing" and "--crs EPSG:4549" in str(error)
    assert error.report.as_dict()["problems"][0]["rule"] == "crs_missing"


@pytest.mark.parametrize("epsg", [3857, 32650, 4547])
def test_crs_outside_the_accepted_set_is_refused(tmp_path, epsg):
    path, _ = _gpkg(tmp_path, f"e{epsg}.gpkg", epsg)
    error = _refused(path)
    assert _rule_of(error) == "crs_not_accepted"
    assert "EPSG:4549" in str(error) and "EPSG:2364" in str(error)


def test_crs_override_must_be_accepted_too_and_gcj02_is_kept(tmp_path):
    path, _ = _gpkg(tmp_path, "ll.gpkg", 4490)
    assert _rule_of(_refused(path, crs="EPSG:3857")) == "crs_not_accepted"
    assert read_features(path, crs="gcj02").source.label == "GCJ-02"


def test_esri_style_prj_is_recognised(tmp_path):
    path, _ = _shapefile_zip(tmp_path, "esri", "UTF-8", crs=ZONE40, folder="x")
    esri = (
        'PROJCS["CGCS2000_3_Degree_GK_Zone_40",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",'
        'DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],'
        'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],'
        'PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",40500000.0],'
        'PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",120.0],'
        'PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
    )
    xian = esri.replace("GCS_China_Geodetic_Coordinate_System_2000", "GCS_Xian_1980")
    xian = xian.replace("D_China_2000", "D_Xian_1980").replace(
        'SPHEROID["CGCS2000",6378137.0,298.257222101]', 'SPHEROID["Xian_1980",6378140.0,298.257]'
    )
    for prj, label in ((esri, "EPSG:4528"), (xian, "EPSG:2364")):
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        members = {n: (prj.encode() if n.endswith(".prj") else d) for n, d in members.items()}
        with zipfile.ZipFile(path, "w") as archive:
            for n, d in members.items():
                archive.writestr(n, d)
        assert read_features(path).source.label == label


def test_xian_and_beijing_areas_are_unaffected_by_the_missing_datum_shift():
    """The number behind the datum_approximate warning: a parcel given in Xian 1980 or
    Beijing 1954 GK, converted the way to_storage does (ballpark, no shift) and measured on
    GRS80, against its area on its own ellipsoid."""
    native = {
        2364: (4610, Geod(a=6378140.0, rf=298.257)),
        2416: (4214, Geod(a=6378245.0, rf=298.3)),
    }
    worst = {}
    for epsg, (geographic, ellipsoid) in native.items():
        for size in (100, 1000, 5000):
            e, n = gk_origin()
            poly = shapely.box(40_000_000 + e, n, 40_000_000 + e + size, n + 0.8 * size)
            ours = to_storage(np.array([poly]), parse_crs(f"EPSG:{epsg}"))[0]
            ours_m2 = abs(Geod(ellps="GRS80").geometry_area_perimeter(ours)[0])
            to_native = Transformer.from_crs(epsg, geographic, always_xy=True)
            own = shapely.transform(
                poly, lambda xy, t=to_native: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
            )
            true_m2 = abs(ellipsoid.geometry_area_perimeter(own)[0])
            worst[epsg] = max(worst.get(epsg, 0), abs(ours_m2 - true_m2) / true_m2)
    # Measured: Xian 1980 9.4e-7 (0.0001%), Beijing 1954 3.45e-5 (0.0035%).
    assert worst[2364] < 2e-6 and worst[2416] < 5e-5
    assert max(worst.values()) < 1e-4


# --- round trips through the import -----------------------------------------------------


def test_import_boundary_file_with_hole_and_two_part_parcel(session, tmp_path):
    outer, hole, other = gk_box(0, 0, 200, 150), gk_box(50, 40, 60, 50), gk_box(400, 0, 80, 80)
    single = gk_box(0, 400, 120, 100)
    parcels = [
        parcel("H-1", "带洞两块地", [outer, hole, other]),
        parcel("H-2", "新店一块地", [single]),
    ]
    path = write_boundary_file(tmp_path / "界址点坐标.txt", parcels, encoding="GBK")
    report = import_file(session, path, LAND_XINDIAN)
    expected = shapely.MultiPolygon([lonlat([outer, hole]), lonlat([other])])
    total = independent_area_m2(expected) + independent_area_m2(lonlat([single]))
    assert report.area_m2 == pytest.approx(total, rel=1e-3)
    assert report.source_crs == "EPSG:4528" and report.encoding == "GB18030"
    assert report.parcels == 2 and not [p for p in report.problems if p.severity == "error"]
    names = session.execute(text("SELECT name FROM parcels ORDER BY code")).scalars().all()
    assert names == ["带洞两块地", "新店一块地"]


def test_import_phone_kml(session, tmp_path):
    placemarks = _phone_parcels()
    path = write_kml(tmp_path / "phone.kml", placemarks)
    report = import_file(session, path, LAND_XINDIAN)
    expected = sum(independent_area_m2(geom) for _, geom, _ in placemarks)
    assert report.area_m2 == pytest.approx(expected, rel=1e-3)
    codes = session.execute(text("SELECT code FROM parcels ORDER BY code")).scalars().all()
    assert sorted(codes) == sorted(name for name, _, _ in placemarks)


def test_import_geopackage_in_zone_40(session, tmp_path):
    geoms = [rectangle(XINDIAN, 0, 0, 150, 120), rectangle(XINDIAN, 400, 100, 80, 60, 30)]
    path, _ = _gpkg(tmp_path, "zone40.gpkg", ZONE40, geoms)
    report = import_file(session, path, LAND_XINDIAN)
    assert report.source_crs == "EPSG:4528"
    assert report.area_m2 == pytest.approx(sum(map(independent_area_m2, geoms)), rel=1e-3)


def test_import_gbk_shapefile_without_cpg_in_cm120e(session, tmp_path):
    path, parcels = _shapefile_zip(tmp_path, "gbk_cm120", "GBK")
    report = import_file(session, path, LAND_XINDIAN)
    assert report.encoding == "GB18030" and report.source_crs == "EPSG:4549"
    assert report.area_m2 == pytest.approx(sum(map(independent_area_m2, parcels)), rel=1e-3)
    names = session.execute(text("SELECT name FROM parcels ORDER BY code")).scalars().all()
    assert names == NAMES


def test_import_xian80_boundary_file_warns_and_keeps_the_area(session, tmp_path):
    header = dict(HEADER_CGCS2000, 坐标系="1980西安坐标系")
    path = write_boundary_file(tmp_path / "xian.txt", _two_parcels(), header=header)
    report = import_file(session, path, LAND_XINDIAN)
    assert report.source_crs == "EPSG:2364"
    assert ("datum_approximate", "warning") in [(p.rule, p.severity) for p in report.problems]
    expected = sum(independent_area_m2(lonlat(p["rings"])) for p in _two_parcels())
    assert report.area_m2 == pytest.approx(expected, rel=1e-3)


def _geojson(path, features, crs=None):
    data = {"type": "FeatureCollection", "features": features}
    if crs:
        data["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _feature(code, polygon, height=None):
    ring = [list(xy) + ([height] if height is not None else []) for xy in polygon.exterior.coords]
    return {"type": "Feature", "properties": {"code": code},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip


def test_geojson_with_heights_is_read_as_2d_with_a_note_and_the_ellipsoidal_area(session, tmp_path):
    square = rectangle(XINDIAN, 0, 0, 120, 90, 10)
    path = _geojson(tmp_path / "rover.geojson", [_feature("H-1", square, height=23.5)])
    read = read_features(path)
    assert read.frame.crs.to_epsg() == 4979  # GDAL: WGS 84 3D
    assert read.source.label == "EPSG:4326"
    assert [p.rule for p in read.problems] == ["heights_dropped"]
    report = import_file(session, path, LAND_XINDIAN)
    assert "heights_dropped" in [p.rule for p in report.problems]
    assert report.area_m2 == pytest.approx(independent_area_m2(square), rel=1e-6)


@pytest.mark.parametrize(
    ("crs", "horizontal"),
    [("EPSG:4480", "EPSG:4490"), ("EPSG:4549+5737", "EPSG:4549"), ("EPSG:4528+5737", "EPSG:4528")],
)
def test_3d_and_compound_crs_use_their_horizontal_part(tmp_path, crs, horizontal):
    square = rectangle(XINDIAN, 0, 0, 100, 100)
    planar = gpd.GeoSeries([square], crs=4490).to_crs(horizontal.split("+")[0])
    frame3d = gpd.GeoDataFrame(
        {"code": ["C-1"]}, geometry=shapely.force_3d(planar.to_numpy(), 12.0), crs=crs
    )
    path = tmp_path / "survey.gpkg"
    frame3d.to_file(path)
    read = read_features(path)
    assert read.source.label == horizontal
    assert [p.rule for p in read.problems] == ["heights_dropped"]
    assert not shapely.has_z(read.frame.geometry.to_numpy()).any()


def test_an_unknown_declared_crs_is_refused_and_named(tmp_path):
    square = rectangle(XINDIAN, 0, 0, 100, 100)
    path = _geojson(tmp_path / "odd.geojson", [_feature("U-1", square)],
                    crs="urn:ogc:def:crs:EPSG::99999")  # fmt: skip
    error = _refused(path)
    assert _rule_of(error) == "crs_unknown" and "EPSG::99999" in str(error)
    assert read_features(path, crs="EPSG:4326").source.label == "EPSG:4326"


def test_a_zipped_shapefile_without_its_dbf_is_refused(tmp_path):
    folder = tmp_path / "nodbf"
    folder.mkdir()
    write(frame([rectangle(XINDIAN, 0, 0, 100, 100)], code=["N-1"]), folder / "p.shp", CM120E)
    (folder / "p.dbf").unlink()
    archive = tmp_path / "shp_nodbf.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for member in folder.iterdir():
            z.write(member, member.name)
    error = _refused(archive)
    assert ".dbf" in str(error) and "missing" in str(error)


def test_codes_that_are_not_plain_text_are_refused(session, tmp_path):
    square = [rectangle(XINDIAN, 400 * i, 0, 100, 100) for i in range(4)]
    features = [
        _feature("A\u0000B", square[0]),
        _feature([1, 2, 3], square[1]),
        _feature({"a": 1}, square[2]),
        _feature(17, square[3]),
    ]
    path = _geojson(tmp_path / "codes.geojson", features)
    with pytest.raises(UploadRefused) as caught:
        import_file(session, path, LAND_XINDIAN)
    session.rollback()
    refused = [(p.feature, p.rule) for p in caught.value.report.problems if p.severity == "error"]
    assert refused == [(1, "code_not_text"), (2, "code_not_text"), (3, "code_not_text")]
    assert session.execute(text("SELECT count(*) FROM parcels")).scalar() == 0


def test_a_csv_with_a_wkt_column_is_a_parcel_layer(tmp_path):
    """Issue 23: a CSV whose header names a WKT geometry column (what `export parcels`
    writes, or a GIS's "geometry" column; here GBK, as Excel saves it) is read by GDAL as
    parcels, every field as text; a CSV without one stays a boundary-point table."""
    shape = shapely.box(500_000.0, 2_890_000.0, 500_180.0, 2_890_120.0)
    lines = ["地块编号,名称,geometry", f'0012,新店一号,"{shape.wkt}"']
    path = tmp_path / "parcels.csv"
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    read = read_features(path, crs="EPSG:4549")
    assert list(read.frame["code"]) == ["0012"] and list(read.frame["name"]) == ["新店一号"]
    assert read.frame.geometry.iloc[0].equals(shape)
    assert read.encoding in ("GBK", "GB18030")
    assert "geometry" not in set(read.frame.columns) - {read.frame.geometry.name}
    points = tmp_path / "points.csv"
    corners = [(2890000, 500000), (2890000, 500180), (2890120, 500180), (2890120, 500000)]
    rows = [f"A1,J{i + 1},{x},{y}" for i, (x, y) in enumerate([*corners, corners[0]])]
    points.write_text("\r\n".join(["宗地号,点号,X,Y", *rows]), encoding="utf-8")
    table = read_features(points, crs="EPSG:4549")
    assert list(table.frame["code"]) == ["A1"]
    assert table.frame.geometry.iloc[0].area == pytest.approx(shape.area)


def test_read_ahead_keeps_order_and_reads_one_batch_ahead_at_most():
    """Batches come in the file's order; while the caller holds one, the next alone is
    being read (memory: two batches, not the file)."""
    made = []

    def batches():
        for n in range(5):
            made.append(n)
            yield n

    seen = []
    for n in read_ahead(batches()):
        seen.append(n)
        assert len(made) <= n + 2
    assert seen == made == [0, 1, 2, 3, 4]


def test_read_ahead_raises_a_failure_where_the_batch_would_have_come():
    def batches():
        yield 0
        raise OSError("GDAL failed halfway")

    reading = read_ahead(batches())
    assert next(reading) == 0
    with pytest.raises(OSError, match="halfway"):
        next(reading)


def test_a_file_failing_halfway_is_still_refused_by_name(tmp_path, monkeypatch):
    shapes = [rectangle(XINDIAN, 30 * i, 0, 20, 20) for i in range(5)]
    path = write(frame(shapes, code=[f"H-{i}" for i in range(5)]), tmp_path / "half.gpkg",
                 4549, "GPKG")  # fmt: skip
    reads = vector.read_batches

    def failing(*args, **kwargs):
        batches = reads(*args, **kwargs)
        yield next(batches)
        raise RuntimeError("read error in feature 3")

    monkeypatch.setattr(vector, "read_batches", failing)
    stream = open_features(path, batch_size=2)
    with pytest.raises(UploadRefused, match="could not be read") as refused:
        list(stream.batches())
    assert refused.value.params["file"] == "half.gpkg"
