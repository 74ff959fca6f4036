"""Build APPROXIMATE township (乡镇/街道) boundaries for four Fuzhou districts.

No open source of township boundaries exists, so each district outline
(geo_service/data/reference/districts.geojson) is partitioned by a Voronoi diagram of
estimated township seats. The cells tile the district exactly, but the lines
are invented: replace them by importing real boundaries when available.

Run after scripts/derive_district_outlines.py.
"""

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import shapely.affinity
from pyproj import Geod

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "geo_service" / "data" / "reference"
SOURCE = (
    "approximate: Voronoi of township seats clipped to district outline; "
    "replace by importing real boundaries"
)
GRID = 1e-7  # degrees (~1 cm): one precision grid for all overlays so edges match

# (name, kind, seat lon, seat lat) in WGS84, order as in the Fuzhou yearbook list.
# Seats are estimates from general knowledge of the area, good to a km or two.
TOWNSHIPS = {
    "350111": [
        ("茶园街道", "街道", 119.330, 26.080),
        ("王庄街道", "街道", 119.325, 26.090),
        ("象园街道", "街道", 119.336, 26.094),
        ("新店镇", "镇", 119.295, 26.145),
        ("岳峰镇", "镇", 119.338, 26.108),
        ("鼓山镇", "镇", 119.390, 26.100),
        ("宦溪镇", "镇", 119.370, 26.190),
        ("寿山乡", "乡", 119.225, 26.250),
        ("日溪乡", "乡", 119.310, 26.310),
    ],
    "350104": [
        ("仓前街道", "街道", 119.307, 26.048),
        ("下渡街道", "街道", 119.322, 26.045),
        ("临江街道", "街道", 119.312, 26.052),
        ("三叉街街道", "街道", 119.305, 26.035),
        ("对湖街道", "街道", 119.293, 26.042),
        ("上渡街道", "街道", 119.283, 26.048),
        ("金山街道", "街道", 119.265, 26.045),
        ("东升街道", "街道", 119.325, 26.033),
        ("建新镇", "镇", 119.250, 26.060),
        ("盖山镇", "镇", 119.300, 26.010),
        ("仓山镇", "镇", 119.340, 26.030),
        ("城门镇", "镇", 119.360, 26.000),
        ("螺洲镇", "镇", 119.375, 25.975),
    ],
    "350112": [
        ("吴航街道", "街道", 119.525, 25.965),
        ("航城街道", "街道", 119.510, 25.950),
        ("营前街道", "街道", 119.500, 26.025),
        ("漳港街道", "街道", 119.620, 26.000),
        ("文武砂街道", "街道", 119.620, 25.900),
        ("梅花镇", "镇", 119.620, 26.040),
        ("金峰镇", "镇", 119.555, 25.860),
        ("潭头镇", "镇", 119.600, 25.955),
        ("玉田镇", "镇", 119.430, 25.870),
        ("江田镇", "镇", 119.600, 25.800),
        ("古槐镇", "镇", 119.500, 25.910),
        ("鹤上镇", "镇", 119.478, 25.950),
        ("首占镇", "镇", 119.520, 26.000),
        ("湖南镇", "镇", 119.530, 26.050),
        ("文岭镇", "镇", 119.610, 25.830),
        ("松下镇", "镇", 119.590, 25.740),
        ("罗联乡", "乡", 119.420, 25.920),
        ("猴屿乡", "乡", 119.440, 25.958),
    ],
    "350181": [
        ("玉屏街道", "街道", 119.380, 25.722),
        ("龙山街道", "街道", 119.390, 25.705),
        ("龙江街道", "街道", 119.410, 25.730),
        ("音西街道", "街道", 119.360, 25.730),
        ("宏路街道", "街道", 119.330, 25.760),
        ("石竹街道", "街道", 119.340, 25.700),
        ("阳下街道", "街道", 119.310, 25.780),
        ("东张镇", "镇", 119.220, 25.780),
        ("海口镇", "镇", 119.470, 25.680),
        ("龙田镇", "镇", 119.470, 25.600),
        ("高山镇", "镇", 119.550, 25.510),
        ("渔溪镇", "镇", 119.200, 25.650),
        ("城头镇", "镇", 119.460, 25.720),
        ("江镜镇", "镇", 119.400, 25.600),
        ("三山镇", "镇", 119.480, 25.560),
        ("江阴镇", "镇", 119.280, 25.480),
        ("港头镇", "镇", 119.450, 25.760),
        ("沙埔镇", "镇", 119.510, 25.530),
        ("东瀚镇", "镇", 119.530, 25.450),
        ("上迳镇", "镇", 119.180, 25.570),
        ("新厝镇", "镇", 119.250, 25.540),
        ("镜洋镇", "镇", 119.290, 25.700),
        ("一都镇", "镇", 119.150, 25.780),
        ("南岭镇", "镇", 119.270, 25.830),
    ],
}

# Extra generator points owned by a big neighbour. They fence in Jin'an's three
# small urban 街道 (a few km² each) so their cells do not run out to the edge.
EXTRA_SEATS = {
    "岳峰镇": [(119.322, 26.103), (119.350, 26.088)],
    "鼓山镇": [(119.342, 26.070), (119.325, 26.062)],
}


def voronoi_cells(points: list[tuple[float, float]], outline) -> list:
    """One Voronoi cell per point, computed with longitude scaled by cos(lat)
    so that cells are fair in metres rather than in degrees."""
    k = math.cos(math.radians(outline.centroid.y))
    scaled = shapely.MultiPoint([(x * k, y) for x, y in points])
    frame = shapely.affinity.scale(outline.envelope.buffer(0.1), xfact=k, origin=(0, 0))
    cells = shapely.voronoi_polygons(scaled, extend_to=frame, ordered=True)
    return [shapely.affinity.scale(c, xfact=1 / k, origin=(0, 0)) for c in cells.geoms]


def as_multipolygon(geom):
    parts = [p for p in shapely.get_parts(shapely.make_valid(geom)) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(parts)


def partition(code: str, district_name: str, outline) -> list[dict]:
    seats = TOWNSHIPS[code]
    owners, points = [], []
    for name, _kind, lon, lat in seats:
        assert outline.contains(shapely.Point(lon, lat)), f"seat of {name} outside {code}"
        owners.append(name)
        points.append((lon, lat))
        for extra in EXTRA_SEATS.get(name, []) if code == "350111" else []:
            owners.append(name)
            points.append(extra)

    cells = voronoi_cells(points, outline)
    outline = shapely.set_precision(outline, GRID)
    rows = []
    for i, (name, kind, _lon, _lat) in enumerate(seats, start=1):
        mine = shapely.union_all([c for c, o in zip(cells, owners, strict=True) if o == name])
        piece = shapely.intersection(mine, outline, grid_size=GRID)
        rows.append(
            {
                "district_code": code,
                "district": district_name,
                "name": name,
                "kind": kind,
                "code": f"{code}-T{i:02d}",  # invented; official codes have 12 digits
                "code_official": False,
                "approximate": True,
                "source": SOURCE,
                "geometry": as_multipolygon(piece),
            }
        )
    return rows


def main() -> None:
    districts = gpd.read_file(REF / "districts.geojson").set_index("code")
    rows = []
    for code in TOWNSHIPS:
        rows += partition(code, districts.loc[code, "name"], districts.loc[code, "geometry"])
    towns = gpd.GeoDataFrame(rows, crs="EPSG:4326")

    # Check the tiling: township areas must add up to the district's.
    geod = Geod(ellps="GRS80")
    area_km2 = np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in towns.geometry])
    towns_area = dict(zip(towns["name"], area_km2, strict=True))
    for code, group in towns.groupby("district_code"):
        whole = abs(geod.geometry_area_perimeter(districts.loc[code, "geometry"])[0]) / 1e6
        parts = area_km2[group.index].sum()
        overlap = sum(
            shapely.intersection(a, b, grid_size=GRID).area
            for j, a in enumerate(group.geometry)
            for b in group.geometry.iloc[j + 1 :]
        )
        print(
            f"{code}: {len(group)} townships, {parts:.3f} of {whole:.3f} km2, "
            f"overlap {overlap:.2e} deg2"
        )
    print("晋安区 townships (approximate):")
    for name, _kind, _x, _y in TOWNSHIPS["350111"]:
        print(f"  {name:6s} {towns_area[name]:7.1f} km2")

    out = REF / "townships.geojson"
    towns.to_file(
        out,
        driver="GeoJSON",
        engine="pyogrio",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": 7},
    )
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
