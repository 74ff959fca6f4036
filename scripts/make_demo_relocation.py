"""Make the SYNTHETIC relocation (回迁) demo set for Jin'an (晋安区) and Cangshan (仓山区),
deterministically.

Every household, name, flat and project is invented. Households are placed on the demo
demolition parcels that are demolished or verified: in Jin'an (data/parcels) the six
townships three resettlement projects serve, in Cangshan (data/campaign) the two townships
its one project serves. Each district draws from its own seeded generator, so adding
Cangshan left Jin'an's files as they were. Writes into data/relocation/:

- projects.csv: the resettlement projects (安置房项目), their plan and responsibility list;
- sites/*.geojson: each project's site outline, inside the township it stands in;
- households.csv: the household roster (被征迁户花名册), Chinese headers, no ID numbers;
- flats.csv: the flat list (房源清单) with the allocations made in January–February 2017.

Hand-overs (交房) and titles (办证) are not in the files: `geo-service demo` replays them
through the workflow on dates derived from each household's reference.

Run after scripts/make_demo_parcels.py and scripts/make_demo_campaign.py.
"""

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "geo_service" / "data"
PARCELS = DATA / "parcels"
CAMPAIGN = DATA / "campaign"
OUT = DATA / "relocation"
SEEDS = {"晋安区": 2017, "仓山区": 2018}

# (JA-AZ-02 was due in 2016 and finished a year late: its households are 2017's 两逾 legacy)
# code, name, site township, townships served, planned completion, actual completion,
# responsibility list (demo_projects.csv), flat sizes (m²) and their shares
PROJECTS = [
    (
        "JA-AZ-01",
        "新店赤桥安置房",
        "新店镇",
        ["新店镇", "岳峰镇"],
        "2017-04-30",
        "2017-05-20",
        "JA2017-008",
        {"60": 0.2, "90": 0.5, "120": 0.3},
    ),
    (
        "JA-AZ-02",
        "鼓山埔垱安置房",
        "鼓山镇",
        ["鼓山镇", "王庄街道"],
        "2016-10-31",
        "2017-09-15",
        "JA2017-018",
        {"60": 0.3, "90": 0.5, "120": 0.2},
    ),
    (
        "JA-AZ-03",
        "茶园安置房二期",
        "茶园街道",
        ["茶园街道", "象园街道"],
        "2017-10-31",
        "",
        "JA2017-020",
        {"90": 0.6, "120": 0.4},
    ),
]
# Cangshan's one project: 建新's resettlement flats, due at the end of 2016 and finished in
# August 2017, so its households are that year's 两逾 cases (CS2017-004 is the problem file).
CANGSHAN_PROJECTS = [
    (
        "CS-AZ-01",
        "建新金港安置房",
        "建新镇",
        ["建新镇", "城门镇"],
        "2016-12-31",
        "2017-08-20",
        "CS2017-004",
        {"60": 0.2, "90": 0.5, "120": 0.3},
    ),
]
DISTRICTS = {"晋安区": PROJECTS, "仓山区": CANGSHAN_PROJECTS}
FILES = {
    "新店镇": PARCELS / "jinan_xindian_demolition.gpkg",
    "岳峰镇": PARCELS / "jinan_yuefeng_demolition.gpkg",
    "鼓山镇": PARCELS / "jinan_gushan_demolition.zip",
    "王庄街道": PARCELS / "jinan_wangzhuang_demolition.zip",
    "茶园街道": PARCELS / "jinan_chayuan_demolition.gpkg",
    "象园街道": PARCELS / "jinan_xiangyuan_demolition.geojson",
    "建新镇": CAMPAIGN / "cs_jianxin_demolition.geojson",
    "城门镇": CAMPAIGN / "cs_chengmen_demolition.geojson",
}
SURNAMES = list("陈林黄张李王吴刘蔡杨郑许谢郭洪邱曾廖赖徐周叶苏庄吕江何")
GIVEN = list("建国志伟美华丽琴文斌晓东秀英玉兰海峰春生长青明辉永平振华")
SPARE = 0.1  # flats planned beyond those allocated


def main() -> None:
    (OUT / "sites").mkdir(parents=True, exist_ok=True)
    households, flats, plans = [], [], {}
    for district, projects in DISTRICTS.items():
        rng = np.random.default_rng(SEEDS[district])
        mine = []
        for code, _, _, served, planned, *_ in projects:
            for township in served:
                mine += _households(rng, township, code, planned)
        found, planned_flats = _flats(rng, projects, mine)
        households += mine
        flats += found
        plans.update(planned_flats)
    _write_projects(plans)
    _write_csv(OUT / "households.csv", households)
    _write_csv(OUT / "flats.csv", flats)
    count = sum(len(p) for p in DISTRICTS.values())
    print(f"{len(households)} households, {len(flats)} flats, {count} projects")


def _households(rng, township: str, project: str, planned: str) -> list[dict]:
    path = FILES[township]
    frame = pyogrio.read_dataframe(f"zip://{path}" if path.suffix == ".zip" else path)
    done = frame[frame["status"].isin(["delivered", "verified"])]
    rows = []
    for parcel in done["code"]:
        for _ in range(int(rng.integers(1, 4))):
            abbr = parcel.split("-")[1]
            ref = f"{abbr}-H{len(rows) + 1:04d}"
            rows.append(_household(rng, ref, parcel, township, project, planned))
    return rows


def _household(rng, ref, parcel, township, project, planned) -> dict:
    compensation = rng.choice(["产权调换", "混合", "货币补偿"], p=[0.75, 0.15, 0.10])
    demolished = float(rng.integers(60, 300))
    due = {"产权调换": int(rng.choice([1, 2, 3], p=[0.5, 0.4, 0.1])), "混合": 1}.get(
        compensation, 0
    )
    year, month, day = map(int, planned.split("-"))
    promised = f"{year}-{month + 1:02d}-{min(day, 28):02d}" if month < 12 else planned
    relocating = compensation != "货币补偿"
    return {
        "户号": ref,
        "户主姓名": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN, int(rng.integers(1, 3)))),
        "地块编号": parcel,
        "乡镇": township,
        "拆除面积": demolished,
        "补偿方式": compensation,
        "安置项目": project if relocating else "",
        "应安置套数": due,
        "应安置面积": round(demolished * 0.9) if relocating else "",
        "过渡开始日期": f"2016-{int(rng.integers(3, 12)):02d}-{int(rng.integers(1, 28)):02d}"
        if relocating
        else "",
        "月过渡费": int(rng.integers(8, 21)) * 100 if relocating else "",
        "承诺交房日期": promised if relocating else "",
        # The first project's headquarters promised titles within five months of the keys.
        "办证期限": _plus_days(promised, 150) if relocating and project == "JA-AZ-01" else "",
    }


def _plus_days(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def _flats(rng, projects: list, households: list[dict]) -> tuple[list[dict], dict]:
    rows, plans = [], {}
    for code, _, _, _, _, _, _, sizes in projects:
        mine = [h for h in households if h["安置项目"] == code]
        wanted = sum(h["应安置套数"] for h in mine)
        total = int(wanted * (1 + SPARE)) + 1
        classes = list(sizes)
        drawn = rng.choice(classes, total, p=list(sizes.values()))
        flats = [_flat(rng, code, i, size) for i, size in enumerate(drawn)]
        queue = iter(flats)
        for h in mine:
            for _ in range(h["应安置套数"]):
                flat = next(queue)
                flat["户号"] = h["户号"]
                flat["分配日期"] = (
                    f"2017-{int(rng.integers(1, 3)):02d}-{int(rng.integers(5, 28)):02d}"
                )
        rows += flats
        plans[code] = {
            "flats_by_size": {c: int((drawn == c).sum()) for c in classes},
            "floor_area_m2": round(sum(f["建筑面积"] for f in flats), 1),
        }
    return rows, plans


def _flat(rng, code: str, index: int, size: str) -> dict:
    building, rest = divmod(index, 48)
    floor, door = divmod(rest, 4)
    return {
        "安置项目": code,
        "楼栋": f"{building + 1}号楼",
        "房号": f"{floor + 2}{door + 1:02d}",
        "户型": size,
        "建筑面积": round(float(size) + float(rng.uniform(-4, 6)), 2),
        "户号": "",
        "分配日期": "",
    }


def _write_projects(plans: dict) -> None:
    towns = json.loads((DATA / "reference" / "townships.geojson").read_text("utf-8"))
    shapes = {
        f["properties"]["name"]: shapely.geometry.shape(f["geometry"]) for f in towns["features"]
    }
    to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
    back = Transformer.from_crs(4549, 4490, always_xy=True)
    rows = []
    projects = [(d, p) for d, found in DISTRICTS.items() for p in found]
    for district, (code, name, site_town, served, planned, actual, responsibility, _) in projects:
        x, y = to_gk.transform(*shapes[site_town].representative_point().coords[0])
        # Beside the township's label point, so both stay readable on the map.
        x, y = x + 1200, y - 900
        box = shapely.affinity.rotate(shapely.box(x - 160, y - 110, x + 160, y + 110), 14)
        site = shapely.transform(box, lambda xy: np.column_stack(back.transform(*xy.T)))
        feature = {
            "type": "Feature",
            "properties": {"code": code, "name": name},
            "geometry": shapely.geometry.mapping(site),
        }
        collection = {"type": "FeatureCollection", "features": [feature]}
        (OUT / "sites" / f"{code}.geojson").write_text(json.dumps(collection), "utf-8")
        flats = ",".join(f"{k}:{v}" for k, v in plans[code]["flats_by_size"].items())
        rows.append(
            {
                "code": code,
                "name": name,
                "district": district,
                "townships": ",".join(served),
                "site": f"sites/{code}.geojson",
                "flats": flats,
                "floor_area_m2": plans[code]["floor_area_m2"],
                "planned_completion": planned,
                "actual_completion": actual,
                "responsibility": responsibility,
            }
        )
    _write_csv(OUT / "projects.csv", rows)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
