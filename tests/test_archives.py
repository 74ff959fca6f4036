"""Archive safety and malformed input: every bad upload is an UploadRefused naming the file,
decided from the zip's central directory before anything is extracted."""

import time
import tracemalloc
import zipfile

import pytest
from corpus import (
    crafted_bomb,
    gk_box,
    hostile_zip,
    many_members_zip,
    parcel,
    streamed_bomb,
    write_boundary_file,
    write_kmz,
)
from parcelfiles import CM120E, XINDIAN, frame, rectangle, write

from geo_service.errors import UploadRefused
from geo_service.parcels.readers import archives, read_features


def _refused(path, **kwargs) -> str:
    with pytest.raises(UploadRefused) as caught:
        read_features(path, **kwargs)
    message = str(caught.value)
    assert path.name in message, message
    return message


def _shapefile_folder(tmp_path, name="dk"):
    folder = tmp_path / name
    folder.mkdir()
    data = frame([rectangle(XINDIAN, 0, 0, 100, 100)], code=["A-1"]).to_crs(CM120E)
    data.to_file(folder / f"{name}.shp", driver="ESRI Shapefile")
    return folder


@pytest.fixture
def no_extraction(monkeypatch):
    """Fail the test if anything is extracted or opened inside an archive."""

    real_open = zipfile.ZipFile.open

    def forbidden(*args, **kwargs):
        raise AssertionError("a member was opened before the archive was judged safe")

    def reading_forbidden(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            forbidden()
        return real_open(self, name, mode, *args, **kwargs)  # the tests' own writers

    monkeypatch.setattr(zipfile.ZipFile, "open", reading_forbidden)
    monkeypatch.setattr(zipfile.ZipFile, "extract", forbidden)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", forbidden)


def test_crafted_two_gib_member_is_refused_quickly_without_extracting(tmp_path, no_extraction):
    path = crafted_bomb(tmp_path / "bomb.zip", declared=2 << 30)
    assert path.stat().st_size < 10_000
    tracemalloc.start()
    started = time.perf_counter()
    message = _refused(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "zip bomb" in message
    assert elapsed < 0.2 and peak < 5 << 20


def test_streamed_bomb_of_zeros_is_refused_by_its_ratio(tmp_path, no_extraction):
    path = streamed_bomb(tmp_path / "zeros.zip", size=256 << 20)
    assert path.stat().st_size < 2 << 20
    started = time.perf_counter()
    message = _refused(path)
    assert time.perf_counter() - started < 0.2
    assert "ratio" in message


def test_total_size_and_member_count_limits(tmp_path, no_extraction):
    folder = _shapefile_folder(tmp_path)
    path = write(frame([rectangle(XINDIAN, 0, 0, 100, 100)]), tmp_path / "ok.zip", CM120E)
    assert path.exists() and folder.exists()
    with pytest.raises(UploadRefused, match="more than"):
        read_features(path, limits=archives.Limits(max_uncompressed=100))
    crowded = many_members_zip(tmp_path / "crowded.zip", archives.MAX_MEMBERS + 1)
    assert "entries" in _refused(crowded)


def test_default_limits_are_module_constants():
    assert archives.MAX_UNCOMPRESSED == 1 << 30
    assert archives.Limits().max_members == archives.MAX_MEMBERS == 1000
    assert archives.Limits().max_ratio == 200


@pytest.mark.parametrize(
    "entry", ["../../etc/cron.d/x.shp", "a/../../x.shp", "/etc/passwd.shp", "C:/x.shp"]
)
def test_path_traversal_and_absolute_paths_are_refused(tmp_path, entry, no_extraction):
    path = hostile_zip(tmp_path / "evil.zip", entry)
    assert "unsafe path" in _refused(path)


def test_symlinks_are_refused(tmp_path, no_extraction):
    path = hostile_zip(tmp_path / "link.zip", "layer.shp", data=b"/etc/passwd", symlink=True)
    assert "symbolic link" in _refused(path)
    kmz = hostile_zip(tmp_path / "link.kmz", "doc.kml", data=b"/etc/passwd", symlink=True)
    assert "symbolic link" in _refused(kmz)


def test_shapefile_in_a_subfolder_works_and_the_temp_folder_is_removed(tmp_path, monkeypatch):
    from corpus import zip_folder

    folder = _shapefile_folder(tmp_path)
    path = zip_folder(tmp_path / "nested.zip", folder, prefix="2017/交地/")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("__MACOSX/2017/._dk.shp", b"junk")
        archive.writestr("2017/说明.txt", "测量说明".encode("gbk"))
    made = []
    real = archives.tempfile.TemporaryDirectory

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(archives.tempfile, "TemporaryDirectory", spy)
    read = read_features(path)
    assert list(read.frame["code"]) == ["A-1"] and read.source.label == "EPSG:4549"
    assert made and not any(__import__("os").path.exists(d.name) for d in made)


def test_zip_with_no_layer_or_two_layers_is_refused(tmp_path):
    empty = tmp_path / "nolayer.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    assert "exactly one" in _refused(empty)
    two = tmp_path / "two.zip"
    first, second = _shapefile_folder(tmp_path, "a"), _shapefile_folder(tmp_path, "b")
    with zipfile.ZipFile(two, "w") as archive:
        for folder in (first, second):
            for member in folder.iterdir():
                archive.write(member, member.name)
    message = _refused(two)
    assert "a.shp" in message and "b.shp" in message and "--layer" in message
    assert list(read_features(two, layer="b").frame["code"]) == ["A-1"]


def test_boundary_file_and_kmz_inside_archives(tmp_path):
    txt = write_boundary_file(
        tmp_path / "jzd.txt", [parcel("Z-1", "压缩包里的地块", [gk_box(0, 0, 50, 50)])]
    )
    path = tmp_path / "jzd.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(txt, "资料/jzd.txt")
    read = read_features(path)
    assert list(read.frame["name"]) == ["压缩包里的地块"] and read.encoding == "GB18030"
    kmz = write_kmz(tmp_path / "p.kmz", [("一号", rectangle(XINDIAN, 0, 0, 50, 50), 5.0)])
    assert list(read_features(kmz).frame["code"]) == ["一号"]


def _truncated(source, path, keep):
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize(
    "name",
    [
        "random.gpkg",
        "random.shp",
        "random.geojson",
        "random.kml",
        "random.kmz",
        "random.zip",
        "random.txt",
        "random",
        "random.json",
        "random.dat",
    ],
)
def test_random_bytes_with_any_suffix_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 40)
    _refused(path)


@pytest.mark.parametrize("name", ["empty.gpkg", "empty.zip", "empty.txt", "empty.kml", "empty"])
def test_empty_files_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert "empty" in _refused(path)


def test_truncated_zip_geopackage_and_kmz_are_refused(tmp_path):
    gpkg = write(
        frame([rectangle(XINDIAN, 0, 0, 100, 100)]), tmp_path / "full.gpkg", CM120E, "GPKG"
    )
    for keep in (0.1, 0.5, 0.9):
        _refused(_truncated(gpkg, tmp_path / f"cut{keep}.gpkg", keep))
    shp = write(frame([rectangle(XINDIAN, 0, 0, 100, 100)]), tmp_path / "full.zip", CM120E)
    for keep in (0.3, 0.7, 0.95):
        _refused(_truncated(shp, tmp_path / f"cut{keep}.zip", keep))
    kmz = write_kmz(tmp_path / "full.kmz", [("一号", rectangle(XINDIAN, 0, 0, 50, 50), 5.0)])
    _refused(_truncated(kmz, tmp_path / "cut.kmz", 0.6))


def test_damaged_member_data_is_refused(tmp_path):
    path = write(frame([rectangle(XINDIAN, 0, 0, 100, 100)]), tmp_path / "crc.zip", CM120E)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("crc.shp")
    start = info.header_offset + 30 + len(info.filename) + 5
    data[start : start + 8] = b"\xff" * 8  # corrupt the deflate stream of the .shp
    path.write_bytes(bytes(data))
    _refused(path)


def test_boundary_text_that_is_malformed_is_refused_clearly(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(
        "[属性描述]\n坐标系=2000国家大地坐标系\n[地块坐标]\nJ1,1,abc,def\n", encoding="utf-8"
    )
    assert "before any parcel header" in _refused(path)
    no_parcels = tmp_path / "none.txt"
    no_parcels.write_text("[属性描述]\n带号=40\n[地块坐标]\n", encoding="utf-8")
    assert "no parcel coordinates" in _refused(no_parcels)
