"""Make the SYNTHETIC city-wide part of the demo: parcels, targets, projects, problem files
and milestone records for Cangshan (仓山区) and Fuqing (福清市), and the city's target.

Everything is invented, like the Jin'an set (scripts/make_demo_parcels.py, whose parcel
drawing this reuses). Parcels are drawn in EPSG:4549 inside the approximate township
outlines (data/reference/townships.geojson) and written as GeoJSON (RFC 7946) to
data/campaign/. Deterministic: numpy.random.default_rng(2017) via make_demo_parcels.

Run after scripts/make_township_boundaries.py (and make_demo_parcels.py for Jin'an).
"""

import csv
import importlib.util
from pathlib import Path

import geopandas as gpd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "geo_service" / "data"
OUT = DATA / "campaign"
_spec = importlib.util.spec_from_file_location("parcels", ROOT / "scripts/make_demo_parcels.py")
parcels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parcels)
MU = parcels.MU

# district: {township: (pinyin, abbreviation, villages, land mu, demolition m², verified
#            share land, verified share demolition)}
TOWNSHIPS = {
    "仓山区": {
        "城门镇": ("chengmen", "CM", "城门 林浦 濂江", 400, 120_000, 0.60, 0.50),
        "盖山镇": ("gaishan", "GS", "盖山 阳岐 义序", 300, 150_000, 0.45, 0.55),
        "建新镇": ("jianxin", "JX", "建新 金山 洪塘", 250, 100_000, 0.55, 0.45),
        "螺洲镇": ("luozhou", "LZ", "螺洲 吴厝 店前", 350, 60_000, 0.40, 0.40),
    },
    "福清市": {
        "龙田镇": ("longtian", "LT", "龙田 东营 上薛", 600, 80_000, 0.50, 0.40),
        "江阴镇": ("jiangyin", "JY", "江阴 田头 下垄", 800, 60_000, 0.55, 0.45),
        "音西街道": ("yinxi", "YX", "音西 洋埔 霞楼", 200, 120_000, 0.60, 0.55),
        "宏路街道": ("honglu", "HL", "宏路 石门 龙塘", 250, 100_000, 0.45, 0.50),
    },
}
PREFIX = {"仓山区": "CS", "福清市": "FQ"}
# The city's own 2017 plan for the demo (not a sum of the districts': set by the city).
CITY_TARGETS = {"land": 13_000, "demolition": 4_000_000}
CITY_QUARTERS = [0.15, 0.25, 0.30, 0.30]
# Cangshan plans by quarter; Fuqing gives annual targets only.
CANGSHAN_QUARTERS = [0.20, 0.30, 0.25, 0.25]

# code, name, category, district, townships, owner unit, responsible unit, first / direct
# responsible, problem, target, milestones
PROJECTS = [
    (
        "CS2017-001",
        "城门片区旧屋区改造",
        "征迁交地",
        "仓山区",
        "城门镇",
        "区城投集团",
        "区征迁办",
        "何建平",
        "苏文海",
        "征迁户未签约 42 户",
        "完成征迁并交地 300 亩",
        "2017-03-31 完成入户调查; 2017-06-30 签约过半; 2017-09-30 交地",
    ),
    (
        "CS2017-002",
        "盖山工业区提升改造",
        "重大项目建设",
        "仓山区",
        "盖山镇,建新镇",
        "区工业园区管委会",
        "区重点办",
        "何建平",
        "邓丽君",
        "厂房搬迁补偿未定",
        "拆除旧厂房 150000 平方米",
        "2017-04-30 补偿方案; 2017-08-31 拆除完毕",
    ),
    (
        "CS2017-003",
        "螺洲古镇保护利用",
        "项目前期推进",
        "仓山区",
        "螺洲镇",
        "区文旅集团",
        "区文旅局",
        "卢国栋",
        "曾小梅",
        "规划未批",
        "完成规划审批与立项",
        "2017-05-31 规划报批; 2017-07-31 立项",
    ),
    (
        "CS2017-004",
        "建新安置房逾期交房化解",
        "两逾",
        "仓山区",
        "建新镇",
        "区住建局",
        "区住建局",
        "卢国栋",
        "田志刚",
        "逾期未交房 86 户",
        "年内全部交房",
        "2017-06-30 主体验收; 2017-10-31 交房",
    ),
    (
        "FQ2017-001",
        "江阴港区疏港公路征迁",
        "征迁交地",
        "福清市",
        "江阴镇,龙田镇",
        "市交通投资公司",
        "市征迁办",
        "魏东升",
        "庄晓燕",
        "坟墓迁移未完成",
        "交地 800 亩",
        "2017-03-31 完成丈量; 2017-06-30 交地一半; 2017-11-30 全部交地",
    ),
    (
        "FQ2017-002",
        "龙田镇区道路改造",
        "重大项目建设",
        "福清市",
        "龙田镇",
        "市城投集团",
        "市住建局",
        "魏东升",
        "翁建华",
        "管线迁改滞后",
        "道路全线贯通",
        "2017-05-31 管线迁改; 2017-10-31 贯通",
    ),
    (
        "FQ2017-003",
        "音西宏路城区综合体",
        "项目前期推进",
        "福清市",
        "音西街道,宏路街道",
        "市国投公司",
        "市发改局",
        "欧阳明",
        "钟秀兰",
        "用地指标未落实",
        "完成土地出让",
        "2017-04-30 用地报批; 2017-09-30 出让",
    ),
    (
        "FQ2017-004",
        "宏路小区逾期办证化解",
        "两逾",
        "福清市",
        "宏路街道",
        "市自然资源局",
        "市自然资源局",
        "欧阳明",
        "宋春梅",
        "逾期未办证 120 户",
        "年内全部办证",
        "2017-06-30 补缴税费; 2017-12-31 办证",
    ),
]
# Milestones recorded done (project, date, done on): some on time, some late.
DONE = [
    ("CS2017-001", "2017-03-31", "2017-03-28"),
    ("CS2017-001", "2017-06-30", "2017-07-12"),
    ("CS2017-002", "2017-04-30", "2017-04-30"),
    ("CS2017-003", "2017-05-31", "2017-06-20"),
    ("CS2017-004", "2017-06-30", "2017-06-29"),
    ("FQ2017-001", "2017-03-31", "2017-03-30"),
    ("FQ2017-002", "2017-05-31", "2017-05-20"),
    ("FQ2017-003", "2017-04-30", "2017-05-15"),
    ("FQ2017-004", "2017-06-30", "2017-06-30"),
    ("JA2017-001", "2017-03-31", "2017-03-25"),
    ("JA2017-001", "2017-06-30", "2017-06-28"),
    ("JA2017-004", "2017-03-31", "2017-04-10"),
    ("JA2017-005", "2017-05-31", "2017-05-31"),
    ("JA2017-006", "2017-03-31", "2017-03-31"),
    ("JA2017-009", "2017-04-30", "2017-05-06"),
    ("JA2017-011", "2017-03-31", "2017-03-20"),
    ("JA2017-017", "2017-03-31", "2017-04-15"),
    ("JA2017-024", "2017-06-30", "2017-06-30"),
]
# Problem files: project, problem, responsible unit, person, deadline, filed on, solved on.
PROBLEMS = [
    (
        "CS2017-001",
        "12 户征迁户对评估价有异议",
        "城门镇",
        "苏文海",
        "2017-05-31",
        "2017-03-10",
        "2017-05-20",
    ),
    (
        "CS2017-001",
        "林浦村集体土地补偿款未到位",
        "区财政局",
        "何建平",
        "2017-06-30",
        "2017-04-02",
        "",
    ),
    (
        "CS2017-002",
        "两家企业拒绝搬迁",
        "盖山镇",
        "邓丽君",
        "2017-07-31",
        "2017-05-05",
        "2017-08-15",
    ),
    ("CS2017-004", "开发商资金链断裂", "区住建局", "田志刚", "2017-09-30", "2017-03-01", ""),
    ("FQ2017-001", "祖坟迁移协商未果", "江阴镇", "庄晓燕", "2017-04-30", "2017-02-20", ""),
    (
        "FQ2017-002",
        "燃气管线迁改方案未批",
        "市住建局",
        "翁建华",
        "2017-06-30",
        "2017-04-11",
        "2017-06-25",
    ),
    ("FQ2017-004", "契税补缴名单未核定", "市税务局", "宋春梅", "2017-12-31", "2017-05-08", ""),
    ("JA2017-006", "外环路沿线 3 户未签约", "新店镇", "许国强", "2017-05-31", "2017-03-20", ""),
    ("JA2017-024", "开发商未完成竣工验收", "区住建局", "沈国平", "2017-08-31", "2017-03-02", ""),
    (
        "JA2017-025",
        "土地出让金欠缴",
        "区自然资源分局",
        "孟凡荣",
        "2017-09-30",
        "2017-03-15",
        "2017-09-12",
    ),
]


# The people who do the work there (all invented); every demo user's password is the demo's.
USERS = [
    ("邱海燕", "leader", "", "仓山区", ""),
    ("方立新", "verifier", "土地核验组", "", "城门镇;盖山镇;建新镇;螺洲镇"),
    ("江红梅", "verifier", "拆迁核验组", "", "城门镇;盖山镇;建新镇;螺洲镇"),
    ("陶静", "verifier", "回迁核验组", "", "城门镇;建新镇"),
    ("严俊", "officer", "", "", "城门镇"),
    ("姚莉", "officer", "", "", "盖山镇"),
    ("汪洋", "officer", "", "", "建新镇"),
    ("蒋涛", "officer", "", "", "螺洲镇"),
    ("薛志强", "leader", "", "福清市", ""),
    ("傅晓光", "verifier", "土地核验组", "", "龙田镇;江阴镇;音西街道;宏路街道"),
    ("丁雪", "verifier", "拆迁核验组", "", "龙田镇;江阴镇;音西街道;宏路街道"),
    ("韩冰", "officer", "", "", "龙田镇"),
    ("孔令辉", "officer", "", "", "江阴镇"),
    ("范文", "officer", "", "", "音西街道"),
    ("石磊", "officer", "", "", "宏路街道"),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    towns = gpd.read_file(DATA / "reference/townships.geojson").to_crs("EPSG:4549")
    manifest, targets = [], []
    for district, townships in TOWNSHIPS.items():
        projects_of = {
            t: [p for p in PROJECTS if p[3] == district and t in p[4].split(",") and p[2] != "两逾"]
            for t in townships
        }
        for name, (pinyin, abbr, villages, land_mu, demo_m2, v_land, v_demo) in townships.items():
            town = towns[(towns.district == district) & (towns.name == name)].geometry.iloc[0]
            town = town.buffer(-20)
            taken: list = []
            for kind, target, verified in (
                ("land", land_mu * MU, v_land),
                ("demolition", demo_m2, v_demo),
            ):
                rows = _draw(kind, town, taken, target)
                parcels.set_status(rows, verified)
                _records(rows, district, name, kind, abbr, villages.split(), projects_of[name])
                stem = f"{PREFIX[district].lower()}_{pinyin}_{kind}"
                gdf = gpd.GeoDataFrame(rows, crs="EPSG:4549").to_crs("EPSG:4326")
                path = OUT / f"{stem}.geojson"
                path.unlink(missing_ok=True)
                gdf.to_file(
                    path,
                    driver="GeoJSON",
                    engine="pyogrio",
                    layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": 9},
                )
                manifest.append((path.name, f"{district}/{name}", kind, "false"))
                print(f"{district} {name} {kind}: {len(rows)} parcels")
            targets.append((district, name, "land", 2017, "", land_mu, "mu"))
            targets.append((district, name, "demolition", 2017, "", demo_m2, "m2"))
        land = sum(t[3] for t in townships.values())
        demolition = sum(t[4] for t in townships.values())
        targets.append((district, "", "land", 2017, "", land, "mu"))
        targets.append((district, "", "demolition", 2017, "", demolition, "m2"))
        if district == "仓山区":
            for q, share in enumerate(CANGSHAN_QUARTERS, start=1):
                targets.append((district, "", "land", 2017, q, round(land * share), "mu"))
                targets.append(
                    (district, "", "demolition", 2017, q, round(demolition * share), "m2")
                )
    for kind, amount in CITY_TARGETS.items():
        unit = "mu" if kind == "land" else "m2"
        targets.append(("福州市", "", kind, 2017, "", amount, unit))
        for q, share in enumerate(CITY_QUARTERS, start=1):
            targets.append(("福州市", "", kind, 2017, q, round(amount * share), unit))
    _write("manifest.csv", ("file", "township", "kind", "accept_overlaps"), manifest)
    _write(
        "targets.csv",
        ("district", "township", "kind", "year", "quarter", "amount", "unit"),
        targets,
    )
    _write(
        "projects.csv",
        (
            "code",
            "name",
            "category",
            "district",
            "townships",
            "owner_unit",
            "department",
            "first_responsible",
            "direct_responsible",
            "problem",
            "target",
            "milestones",
        ),
        PROJECTS,
    )
    _write(
        "demo_users.csv",
        ("username", "display_name", "role", "group", "district", "townships"),
        [(u[0], u[0], *u[1:]) for u in USERS],
    )
    _write("milestones_done.csv", ("project", "date", "done_on"), DONE)
    _write(
        "problems.csv",
        ("project", "problem", "responsible_unit", "person", "deadline", "filed_on", "solved_on"),
        PROBLEMS,
    )


def _draw(kind: str, town, taken: list, target_m2: float) -> list[dict]:
    """Fewer, larger parcels than Jin'an's: the city-wide part is a lighter demo."""
    lo, hi = (15 * MU, 60 * MU) if kind == "land" else (5_000, 20_000)
    rows, total = [], 0.0
    while total < target_m2:
        area = min(lo + (hi - lo) * parcels.rng.random(), max(target_m2 - total, lo))
        poly = parcels.place(area, town, taken)
        taken.append(poly)
        rows.append({"geometry": poly})
        total += poly.area
    return rows


def _records(rows, district, township, kind, abbr, villages, projects) -> None:
    rng = parcels.rng
    for n, row in enumerate(rows, start=1):
        project = projects[rng.integers(len(projects))] if projects else None
        village = villages[rng.integers(len(villages))]
        label = f"{n}号地块" if kind == "land" else f"拆迁{n}号"
        row.update(
            code=f"{PREFIX[district]}-{abbr}-{'L' if kind == 'land' else 'D'}-{n:04d}",
            name=f"{village}{label}",
            project=project[0] if project else None,
            declared_m2=round(parcels.geodesic_m2(row["geometry"]), 2),
        )


def _write(name: str, header, rows) -> None:
    with (OUT / name).open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


if __name__ == "__main__":
    main()
