"""Writers of real upload files for the reader tests: boundary-point coordinate files
(界址点坐标文件) in their variants, phone-app KML/KMZ, and hostile zips.

Shapes are given in Gauss-Kruger metres (CGCS2000 CM 120E, EPSG:4549: plain eastings near
500 000, northings near 2.89 million); `lonlat` turns them into CGCS2000 lon/lat with
pyproj directly, so expected areas never go through geo_service code.
"""

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon

XINDIAN = (119.300, 26.150)  # inside 新店镇
ZONE = 40
_TO_GK = Transformer.from_crs(4490, 4549, always_xy=True)
_FROM_GK = Transformer.from_crs(4549, 4490, always_xy=True)

HEADER_CGCS2000 = {
    "格式版本号": "1.01版本",
    "数据产生单位": "福州市晋安区土地核验组",
    "数据产生日期": "2017-3-15",
    "坐标系": "2000国家大地坐标系",
    "几度分带": "3",
    "投影类型": "高斯克吕格",
    "计量单位": "米",
    "带号": "40",
    "精度": "0.001",
    "转换参数": ",,,,,,",
}


def gk_origin(center_lonlat=XINDIAN) -> tuple[float, float]:
    """(easting, northing) in CM 120E of a lon/lat point."""
    return _TO_GK.transform(*center_lonlat)


def gk_box(dx, dy, width, height, center_lonlat=XINDIAN) -> list[tuple[float, float]]:
    """A closed anticlockwise rectangle ring in CM 120E metres, offset from a point."""
    e0, n0 = gk_origin(center_lonlat)
    e, n = round(e0 + dx, 3), round(n0 + dy, 3)
    return [(e, n), (e + width, n), (e + width, n + height), (e, n + height), (e, n)]


def lonlat(rings_or_polygon):
    """A shapely (Multi)Polygon in CGCS2000 lon/lat from GK CM 120E metres, via pyproj."""
    geom = rings_or_polygon
    if not hasattr(geom, "geom_type"):
        geom = Polygon(geom[0], geom[1:])
    return shapely.transform(
        geom, lambda xy: np.column_stack(_FROM_GK.transform(xy[:, 0], xy[:, 1]))
    )


def parcel(code, name, rings, use="城镇住宅用地", hectares=None, land_class="071", sheet=""):
    """One parcel of a boundary-point file; rings are closed lists of GK (easting, northing)."""
    return {
        "code": code,
        "name": name,
        "use": use,
        "hectares": hectares,
        "land_class": land_class,
        "sheet": sheet,
        "rings": rings,
    }


def boundary_text(
    parcels,
    *,
    header=None,
    easting_first=False,
    prefixed=True,
    zone=ZONE,
    closing=True,
    count_closing=True,
    extra_fields=(),
    newline="\r\n",
    decimals=3,
) -> str:
    """The text of a boundary-point file.

    prefixed: eastings carry the zone number (40xxxxxx.xxx) or not; closing: rings repeat
    their first point; count_closing: the header's point count includes closing points;
    extra_fields: strings some writers add before '@'; header: the [属性描述] keys (None:
    HEADER_CGCS2000; keys with value None are left out).
    """
    header = dict(HEADER_CGCS2000 if header is None else header)
    lines = ["[属性描述]"]
    lines += [f"{k}={v}" for k, v in header.items() if v is not None]
    lines.append("[地块坐标]")
    for p in parcels:
        rings = [list(r) if closing else list(r)[:-1] for r in p["rings"]]
        count = sum(len(r) for r in rings) - (0 if count_closing or not closing else len(rings))
        hectares = p["hectares"]
        if hectares is None:
            hectares = lonlat_area_m2(lonlat(p["rings"])) / 10_000
        fields = [
            str(count),
            f"{hectares:.4f}",
            p["code"],
            p["name"],
            "面",
            p["sheet"],
            p["use"],
            p["land_class"],
            *extra_fields,
            "@",
        ]
        lines.append(",".join(fields))
        point = 0
        for ring_no, ring in enumerate(rings, start=1):
            first_name = None
            for i, (e, n) in enumerate(ring):
                if closing and i == len(ring) - 1:
                    name = first_name
                else:
                    point += 1
                    name = f"J{point}"
                    first_name = first_name or name
                easting = e + zone * 1_000_000 if prefixed else e
                x, y = (easting, n) if easting_first else (n, easting)
                lines.append(f"{name},{ring_no},{x:.{decimals}f},{y:.{decimals}f}")
    return newline.join(lines) + newline


def write_boundary_file(path, parcels, *, encoding="GBK", bom=False, **options) -> Path:
    path = Path(path)
    data = boundary_text(parcels, **options).encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    # newline="" so CRLF/LF is exactly what the caller asked for
    path.write_bytes(data)
    return path


def lonlat_area_m2(geom) -> float:
    """Geodesic area with pyproj's Geod on WGS84 (independent of geo_service's GRS80 route)."""
    from parcelfiles import independent_area_m2

    return independent_area_m2(geom)


def phone_kml(placemarks, *, document="奥维地图导出", folder="我的地块", points=()) -> str:
    """A KML as a phone app exports it: a Document, a Folder of Placemarks with a name, a
    description, a style and Polygons whose coordinates carry altitude; plus waypoints.

    placemarks: (name, lon/lat Polygon or MultiPolygon, altitude metres).
    points: (name, lon, lat, altitude) waypoints next to the polygons.
    """

    def ring(coords, altitude):
        coords = list(coords)
        heights = [altitude + 0.1 * i for i in range(len(coords) - 1)] + [altitude]
        text = " ".join(
            f"{x:.9f},{y:.9f},{z:.1f}" for (x, y), z in zip(coords, heights, strict=True)
        )
        return f"<LinearRing><coordinates>{text}</coordinates></LinearRing>"

    def polygon(poly, altitude):
        inner = "".join(
            f"<innerBoundaryIs>{ring(r.coords, altitude)}</innerBoundaryIs>" for r in poly.interiors
        )
        return (
            "<Polygon><extrude>0</extrude><altitudeMode>clampToGround</altitudeMode>"
            f"<outerBoundaryIs>{ring(poly.exterior.coords, altitude)}</outerBoundaryIs>{inner}"
            "</Polygon>"
        )

    body = []
    for name, geom, altitude in placemarks:
        if isinstance(geom, MultiPolygon):
            shape = "<MultiGeometry>" + "".join(polygon(p, altitude) for p in geom.geoms)
            shape += "</MultiGeometry>"
        else:
            shape = polygon(geom, altitude)
        body.append(
            f"<Placemark><name>{name}</name><description>手机测绘 {name}</description>"
            f"<styleUrl>#area</styleUrl>{shape}</Placemark>"
        )
    waypoints = [
        f"<Placemark><name>{name}</name><Point><coordinates>{lon},{lat},{alt}</coordinates>"
        "</Point></Placemark>"
        for name, lon, lat, alt in points
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2">\n'
        f"<Document><name>{document}</name>"
        '<Style id="area"><LineStyle><color>ff0000ff</color></LineStyle>'
        "<PolyStyle><color>4d00ff00</color></PolyStyle></Style>"
        f"<Folder><name>{folder}</name>{''.join(body)}</Folder>{''.join(waypoints)}"
        "</Document></kml>\n"
    )


def write_kml(path, placemarks, **options) -> Path:
    path = Path(path)
    path.write_text(phone_kml(placemarks, **options), encoding="utf-8")
    return path


def write_kmz(path, placemarks, **options) -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", phone_kml(placemarks, **options))
        archive.writestr("files/icon.png", b"\x89PNG\r\n\x1a\n")
    return path


def zip_folder(path, folder, prefix="") -> Path:
    """Zip every file of a folder, under `prefix` inside the archive."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(Path(folder).iterdir()):
            archive.write(member, prefix + member.name)
    return path


def streamed_bomb(path, size=256 << 20, name="layer.shp", chunk=4 << 20) -> Path:
    """A real zip bomb: `size` bytes of zeros deflated, written in chunks (small on disk,
    built without holding the data in memory)."""
    path = Path(path)
    zeros = bytes(chunk)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(name, "w", force_zip64=True) as out,
    ):
        for _ in range(size // chunk):
            out.write(zeros)
    return path


def crafted_bomb(path, declared=2 << 30, name="layer.shp") -> Path:
    """A tiny zip whose directory declares a member of `declared` bytes (default 2 GiB):
    1 MiB of zeros deflated, with the sizes in the local header and central directory
    patched. Only a reader that trusts the directory before extracting is safe from it."""
    path = Path(path)
    data = bytes(1 << 20)
    deflated = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = deflated.compress(data) + deflated.flush()
    crc = zlib.crc32(data)
    name_bytes = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH",
        0x04034B50,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(compressed),
        declared,
        len(name_bytes),
        0,
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(compressed),
        declared,
        len(name_bytes),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name_bytes + compressed
    directory = central + name_bytes
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    path.write_bytes(body + directory + end)
    return path


def hostile_zip(path, entry_name, data=b"x", symlink=False) -> Path:
    """A zip with one entry under an arbitrary name ('../x', '/etc/x'), or a symlink."""
    path = Path(path)
    info = zipfile.ZipInfo(entry_name)
    if symlink:
        info.create_system = 3  # Unix
        info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, data)
    return path


def many_members_zip(path, count) -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(count):
            archive.writestr(f"f{i}.txt", b"")
    return path
