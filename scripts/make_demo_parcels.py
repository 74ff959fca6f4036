"""Make a SYNTHETIC, deterministic demo set of parcels for Jin'an (晋安区).

Every parcel, project, name and person is invented. The files imitate what
townships hand in: GeoPackages in CGCS2000 / GK CM 120E (EPSG:4549), zipped
GBK shapefiles in GK zone 40 (EPSG:4528) and one RFC 7946 GeoJSON per kind.
Parcels are generated in metres in EPSG:4549 inside the approximate township
boundaries (geo_service/data/reference/townships.geojson).

Run after scripts/make_township_boundaries.py.
"""

import csv
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import Geod

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "geo_service" / "data" / "parcels"
MU = 10000 / 15  # m² per mu
rng = np.random.default_rng(2017)
geod = Geod(ellps="GRS80")

# name: (pinyin, code abbreviation, villages, land target mu, demolition target m²,
#        verified share land, verified share demolition, land format, demolition format)
# Targets add up to the district's 9,000 mu and 3,000,000 m².
# Urban 街道 demolish more and verify faster; the mountain 乡 lag behind.
TOWNSHIPS = {
    "茶园街道": ("chayuan", "CY", "茶园山 前屿 六一北", 150, 450_000, 0.70, 0.60, "gpkg", "gpkg"),
    "王庄街道": ("wangzhuang", "WZ", "王庄 福新 五里亭", 150, 420_000, 0.70, 0.60, "gpkg", "zip"),
    "象园街道": ("xiangyuan", "XY", "象园 远洋 华林", 100, 330_000, 0.70, 0.60, "gpkg", "geojson"),
    "新店镇": ("xindian", "XD", "赤桥 秀峰 坂中 桂湖", 2200, 600_000, 0.55, 0.45, "gpkg", "gpkg"),
    "岳峰镇": ("yuefeng", "YF", "竹屿 岳峰 上洋 连潘", 1300, 500_000, 0.55, 0.45, "gpkg", "gpkg"),
    "鼓山镇": ("gushan", "GS", "埔垱 洋里 后屿 鼓山", 1800, 450_000, 0.55, 0.45, "gpkg", "zip"),
    "宦溪镇": ("huanxi", "HX", "宦溪 降虎 汤院 板桥", 1700, 150_000, 0.50, 0.40, "zip", "gpkg"),
    "寿山乡": ("shoushan", "SS", "寿山 九峰 岭头", 900, 50_000, 0.30, 0.30, "zip", "gpkg"),
    "日溪乡": ("rixi", "RX", "日溪 党洋 汶洋", 700, 50_000, 0.30, 0.30, "geojson", "gpkg"),
}
URBAN = {"茶园街道", "王庄街道", "象园街道"}
DELIVERED_SHARE = 0.20  # of each file's area: handed over but not yet verified

# code suffix, name, category, lead department, first / direct responsible, townships
# The campaign's four categories; livelihood works (民生工程) are counted as construction.
CATEGORIES = ["重大项目建设", "征迁交地", "重大项目建设", "两逾", "项目前期推进"]
# Milestones by category (as responsibility lists give them).
MILESTONES = {
    "征迁交地": "2017-03-31 完成入户调查; 2017-06-30 签约过半; 2017-10-31 交地",
    "重大项目建设": "2017-04-30 施工许可; 2017-09-30 主体完工",
    "项目前期推进": "2017-05-31 规划报批; 2017-08-31 立项",
    "两逾": "2017-06-30 问题清单核定; 2017-12-31 清零",
}
PROJECTS = [
    ("001", "象园片区旧屋区改造", 1, "区征迁办", "陈建国", "林志伟", "象园街道"),
    ("002", "王庄新村棚户区改造", 1, "区征迁办", "陈建国", "黄晓东", "王庄街道"),
    ("003", "茶园山片区旧屋区改造", 1, "区住建局", "陈建国", "郑丽华", "茶园街道"),
    (
        "004",
        "福马路沿线综合整治征迁",
        1,
        "区征迁办",
        "刘德福",
        "王海峰",
        "茶园街道,王庄街道,鼓山镇",
    ),
    ("005", "新店古城遗址公园", 4, "区重点办", "刘德福", "吴振华", "新店镇"),
    ("006", "新店外环路征迁", 1, "区交通局", "张明辉", "许国强", "新店镇,岳峰镇"),
    ("007", "岳峰新城商务区配套", 0, "区重点办", "张明辉", "蔡文斌", "岳峰镇"),
    ("008", "东二环沿线安置房", 2, "区住建局", "陈建国", "李秀英", "岳峰镇"),
    ("009", "鼓山新区路网工程", 0, "区交通局", "张明辉", "魏长青", "鼓山镇"),
    ("010", "鼓岭旅游度假区配套", 4, "区文旅局", "郭永平", "潘建新", "鼓山镇,宦溪镇"),
    ("011", "宦溪生态农业示范园", 1, "区农业农村局", "郭永平", "游春生", "宦溪镇"),
    ("012", "汤院工业集中区", 0, "区工信局", "郭永平", "邱志明", "宦溪镇"),
    ("013", "寿山石文化产业园", 4, "区文旅局", "刘德福", "杨木清", "寿山乡"),
    ("014", "九峰村通村公路改造", 2, "区交通局", "张明辉", "江水生", "寿山乡"),
    ("015", "日溪通乡公路拓宽", 1, "区交通局", "张明辉", "卓国华", "日溪乡,寿山乡"),
    ("016", "党洋水库移民安置", 2, "区农业农村局", "郭永平", "谢美玲", "日溪乡"),
    ("017", "北向第二通道沿线征迁", 1, "区征迁办", "刘德福", "程家栋", "新店镇,寿山乡,日溪乡"),
    ("018", "晋安湖片区征迁", 1, "区征迁办", "陈建国", "罗志坚", "鼓山镇,岳峰镇"),
    ("019", "三环快速路连接线", 0, "区交通局", "张明辉", "方建华", "岳峰镇"),
    ("020", "茶园安置房二期", 2, "区住建局", "陈建国", "高玉兰", "茶园街道"),
    ("021", "王庄中心小学扩建", 2, "区教育局", "郭永平", "叶青", "王庄街道"),
    ("022", "象园城市综合体", 0, "区重点办", "刘德福", "严立新", "象园街道"),
    ("023", "新店保障性住房", 2, "区住建局", "陈建国", "施惠芳", "新店镇"),
    ("024", "远洋小区逾期交房化解", 3, "区住建局", "陈建国", "沈国平", "象园街道"),
    ("025", "秀峰小区逾期办证化解", 3, "区自然资源分局", "刘德福", "孟凡荣", "新店镇"),
]


def quad(area: float, centre: tuple[float, float]) -> shapely.Polygon:
    """A rotated, slightly irregular rectangle (sometimes with a cut corner)."""
    ratio = rng.uniform(1.0, 2.5)
    w, h = np.sqrt(area * ratio), np.sqrt(area / ratio)
    pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    pts += rng.normal(0, 0.05, pts.shape) * [w, h]  # survey-like irregularity
    if rng.random() < 0.3:  # cut one corner: a pentagon
        i = rng.integers(4)
        cut = [pts[i] + 0.3 * (pts[(i + d) % 4] - pts[i]) for d in (-1, 1)]
        pts = np.vstack([pts[:i], cut, pts[i + 1 :]])
    poly = shapely.Polygon(pts)
    # Rescale so the area is the drawn one, then rotate and move into place.
    poly = shapely.affinity.scale(poly, *(2 * [np.sqrt(area / poly.area)]), origin=(0, 0))
    poly = shapely.affinity.rotate(poly, rng.uniform(0, 180), origin=(0, 0))
    return shapely.affinity.translate(poly, *centre)


def place(area: float, town, taken: list) -> shapely.Polygon:
    """Draw until the parcel lies inside the township and clears the others by 5 m."""
    x0, y0, x1, y1 = town.bounds
    for _ in range(20_000):
        poly = quad(area, (rng.uniform(x0, x1), rng.uniform(y0, y1)))
        if town.contains(poly) and not any(poly.distance(t) < 5 for t in taken):
            return poly
    raise RuntimeError("no room for parcel")


def draw_file(town_name: str, kind: str, town, taken: list, target_m2: float) -> list[dict]:
    """Parcels for one township and kind, until their area reaches the target."""
    lo, hi = (2 * MU, 80 * MU) if kind == "land" else (300, 20_000)
    if town_name in URBAN:  # small urban plots, big dense blocks
        lo, hi = (2 * MU, 20 * MU) if kind == "land" else (2000, 20_000)
    rows, total = [], 0.0
    while total < target_m2:
        # sqrt skews sizes towards the large end: a few hundred parcels in all
        area = min(lo + (hi - lo) * np.sqrt(rng.random()), max(target_m2 - total, lo))
        poly = place(area, town, taken)
        taken.append(poly)
        rows.append({"geometry": poly})
        total += poly.area
    return rows


def set_status(rows: list[dict], verified: float) -> None:
    """Shuffle, then mark parcels verified/delivered/planned by cumulative area share,
    so the demo shows the intended partial progress whatever the draw."""
    order = rng.permutation(len(rows))
    total = sum(r["geometry"].area for r in rows)
    done = 0.0
    for i in order:
        share = done / total
        rows[i]["status"] = (
            "verified"
            if share < verified
            else "delivered"
            if share < verified + DELIVERED_SHARE
            else "planned"
        )
        done += rows[i]["geometry"].area


def write(rows: list[dict], stem: str, fmt: str) -> Path:
    gdf = gpd.GeoDataFrame(rows, crs="EPSG:4549")
    if fmt == "gpkg":
        path = OUT / f"{stem}.gpkg"
        gdf.to_file(path, driver="GPKG", layer=stem, engine="pyogrio")
    elif fmt == "geojson":
        path = OUT / f"{stem}.geojson"
        gdf.to_crs("EPSG:4326").to_file(
            path,
            driver="GeoJSON",
            engine="pyogrio",
            layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": 9},
        )
    else:  # zipped GBK shapefile in zone 40; DBF names stop at 10 characters
        path = OUT / f"{stem}.zip"
        tmp = OUT / "_shp"
        tmp.mkdir(exist_ok=True)
        gdf = gdf.rename(columns={"declared_m2": "declared_m"}).to_crs("EPSG:4528")
        pyogrio.write_dataframe(gdf, tmp / f"{stem}.shp", encoding="GBK")
        (tmp / f"{stem}.cpg").write_text("GBK")  # be explicit whatever GDAL wrote
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for ext in ("shp", "shx", "dbf", "prj", "cpg"):
                z.write(tmp / f"{stem}.{ext}", f"{stem}.{ext}")
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return path


def to_records(rows, town_name, kind, abbr, villages, start, projects_of):
    """Fill in code, name, project, support and declared area."""
    urban = town_name in URBAN
    for n, row in enumerate(rows, start=start):
        project = projects_of[town_name][rng.integers(len(projects_of[town_name]))]
        towns = project[6].split(",")
        village = villages[rng.integers(len(villages))] + ("片区" if urban else "村")
        label = f"{n}号地块" if kind == "land" else f"拆迁{n}号"
        row.update(
            {
                "code": f"JA-{abbr}-{'L' if kind == 'land' else 'D'}-{n:04d}",
                "name": f"{village}{label}",
                "project": f"JA2017-{project[0]}",
                # cross-township project: the other townships that help here
                "support": ",".join(t for t in towns if t != town_name),
                # geodesic area (GRS80) of the stored shape; GK planar is ~0.013% larger
                "declared_m2": round(geodesic_m2(row["geometry"]), 2),
            }
        )
    return rows


def geodesic_m2(poly_4549) -> float:
    ll = gpd.GeoSeries([poly_4549], crs="EPSG:4549").to_crs("EPSG:4326").iloc[0]
    return abs(geod.geometry_area_perimeter(ll)[0])


def write_tables() -> None:
    with open(OUT / "demo_projects.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "code",
                "name",
                "category",
                "district",
                "department",
                "first_responsible",
                "direct_responsible",
                "townships",
                "owner_unit",
                "milestones",
            ]
        )
        for code, name, cat, dept, first, direct, towns in PROJECTS:
            category = CATEGORIES[cat]
            owner = "区住建局" if category == "两逾" else "晋安区城建集团"
            w.writerow([f"JA2017-{code}", name, category, "晋安区", dept, first, direct,
                        towns.replace(",", "、"), owner, MILESTONES[category]])  # fmt: skip
    with open(OUT / "demo_targets.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["district", "township", "kind", "year", "quarter", "amount", "unit"])
        for town, t in TOWNSHIPS.items():
            w.writerow(["晋安区", town, "land", 2017, "", t[3], "mu"])
            w.writerow(["晋安区", town, "demolition", 2017, "", t[4], "m2"])
        # Own amount of each quarter; cumulative 15/40/70/100 % of the year.
        for q, share in enumerate([0.15, 0.25, 0.30, 0.30], start=1):
            w.writerow(["晋安区", "", "land", 2017, q, round(9000 * share), "mu"])
            w.writerow(["晋安区", "", "demolition", 2017, q, round(3_000_000 * share), "m2"])


def resurvey(rows: list[dict], town, taken: list) -> list[dict]:
    """Two re-surveyed copies of verified parcels (shifted, enlarged) plus two new
    parcels: the copies overlap the originals so union counting can be shown."""
    out = []
    for r in (r for r in rows if r["status"] == "verified"):
        g = shapely.affinity.translate(shapely.affinity.scale(r["geometry"], 1.08, 1.08), 12, -8)
        others = [t for t in taken if t is not r["geometry"]]
        if town.contains(g) and not any(g.distance(t) < 5 for t in others):
            out.append({"geometry": g, "status": "verified", "original": r})
        if len(out) == 2:
            break
    for poly in (place(rng.uniform(10, 30) * MU, town, taken) for _ in range(2)):
        taken.append(poly)
        out.append({"geometry": poly, "status": "verified"})
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    towns = gpd.read_file(ROOT / "geo_service/data/reference/townships.geojson")
    towns = towns[towns.district_code == "350111"].to_crs("EPSG:4549").set_index("name")
    projects_of = {
        t: [p for p in PROJECTS if t in p[6].split(",") and p[2] != 3] for t in TOWNSHIPS
    }

    summary, written = [], []
    for town_name, t in TOWNSHIPS.items():
        pinyin, abbr, villages, land_mu, demo_m2, v_land, v_demo, f_land, f_demo = t
        town = towns.loc[town_name, "geometry"].buffer(-20)  # stay clear of the edge
        taken: list = []  # land and demolition parcels of a township never overlap
        for kind, target, verified, fmt in (
            ("land", land_mu * MU, v_land, f_land),
            ("demolition", demo_m2, v_demo, f_demo),
        ):
            rows = draw_file(town_name, kind, town, taken, target)
            set_status(rows, verified)
            to_records(rows, town_name, kind, abbr, villages.split(), 1, projects_of)
            written.append((write(rows, f"jinan_{pinyin}_{kind}", fmt), town_name, kind))
            summary.append((town_name, kind, rows))
            if town_name == "新店镇" and kind == "land":
                extra = resurvey(rows, town, taken)
                to_records(
                    extra, town_name, kind, abbr, villages.split(), len(rows) + 1, projects_of
                )
                for r in extra[:2]:  # a re-survey keeps the parcel's name and project
                    orig = r.pop("original")
                    r.update(
                        name=orig["name"] + "(复测)",
                        project=orig["project"],
                        support=orig["support"],
                    )
                resurvey_path = write(extra, "jinan_xindian_land_resurvey", "gpkg")
                written.append((resurvey_path, town_name, kind))
                summary.append((town_name, "land (resurvey)", extra))
    write_tables()
    write_manifest(written)

    head = ("township", "kind", "parcels", "m2", "mu", "verified mu")
    print("{:8s} {:16s} {:>7s} {:>11s} {:>8s} {:>11s}".format(*head))
    totals = {}
    for town_name, kind, rows in summary:
        m2 = sum(r["declared_m2"] for r in rows)
        ver = sum(r["declared_m2"] for r in rows if r["status"] == "verified")
        k = kind.split()[0]
        n0, a0, v0 = totals.get(k, (0, 0, 0))
        totals[k] = (n0 + len(rows), a0 + m2, v0 + ver)
        print(
            f"{town_name:8s} {kind:16s} {len(rows):7d} {m2:11.0f} {m2 / MU:8.1f} {ver / MU:11.1f}"
        )
    for k, (n, m2, ver) in totals.items():
        print(
            f"晋安区 {k}: {n} parcels, {m2:.0f} m2 = {m2 / MU:.0f} mu, "
            f"verified {ver:.0f} m2 = {ver / MU:.0f} mu (sum over files, overlaps counted twice)"
        )
    print("files:", ", ".join(p.name for p, _, _ in written))


def write_manifest(written) -> None:
    """What `geo-service demo` imports: each file with its host township and kind."""
    with (OUT / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["file", "township", "kind", "accept_overlaps"])
        out.writerows(
            (p.name, town, kind, str("resurvey" in p.name).lower()) for p, town, kind in written
        )


if __name__ == "__main__":
    main()
