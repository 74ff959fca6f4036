"""Writes geo_service/data/examples/: the small files the README's command examples use.

Like the demo set they are invented: parcels placed in empty parts of 新店镇 and 鼓山镇
(at least 60 m from every demo parcel, 80 m inside the approximate township outline), a
responsibility list, and one township outline (寿山乡's approximate one) to try
`geo-service boundaries import` with. Deterministic: running it again writes the same
parcels, rows and outline (the files differ only in the timestamps their formats carry).

Run: .venv/bin/python scripts/make_examples.py
"""

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook
from shapely.geometry import Polygon

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "geo_service" / "data"
OUT = ROOT / "geo_service" / "data" / "examples"
DEMO = DATA / "parcels"
TOWNSHIPS = DATA / "reference" / "townships.geojson"
CM120E, ZONE40 = 4549, 4528


def township(name: str):
    frame = gpd.read_file(TOWNSHIPS).to_crs(CM120E)
    return frame[frame["name"] == name].geometry.iloc[0]


def demo_parcels(*files: str):
    frames = [gpd.read_file(DEMO / f).to_crs(CM120E) for f in files]
    return shapely.union_all(pd.concat(frames).geometry.to_numpy())


def free_spots(outline, taken, width, height, count):
    """Centres of `count` rectangles inside the outline, clear of the demo parcels."""
    room = outline.buffer(-80).difference(taken.buffer(60 + max(width, height)))
    west, south, east, north = room.bounds
    spots = []
    for y in np.arange(north, south, -37.0):
        for x in np.arange(west, east, 41.0):
            point = shapely.Point(x, y)
            clear = all(point.distance(s) > 2.5 * max(width, height) for s in spots)
            if room.contains(point) and clear:
                spots.append(point)
                if len(spots) == count:
                    return spots
    raise SystemExit("no room left for the example parcels")


def rectangle(centre, width, height, angle=0.0):
    box = shapely.box(-width / 2, -height / 2, width / 2, height / 2)
    return shapely.affinity.translate(
        shapely.affinity.rotate(box, angle, origin=(0, 0)), centre.x, centre.y
    )


def survey_zip(spots) -> None:
    """Two verified land parcels as a zipped GBK Shapefile in zone 40 (no .cpg)."""
    shapes = [rectangle(spots[0], 160, 110, 12), rectangle(spots[1], 90, 140, -20)]
    frame = gpd.GeoDataFrame(
        {
            "code": ["JA-XD-L-9001", "JA-XD-L-9002"],
            "name": ["赤桥村补测一号地块", "赤桥村补测二号地块"],
        },
        geometry=shapes,
        crs=CM120E,
    ).to_crs(ZONE40)
    folder = OUT / "survey"
    folder.mkdir(exist_ok=True)
    frame.to_file(folder / "survey.shp", encoding="GBK")
    with zipfile.ZipFile(OUT / "survey.zip", "w") as archive:
        for member in sorted(folder.iterdir()):
            if member.suffix != ".cpg":
                archive.write(member, f"成果/{member.name}")
            member.unlink()
    folder.rmdir()


def boundary_points(spot) -> None:
    """One parcel as a 界址点坐标文件: GBK, CRLF, X northing first, zone-prefixed eastings."""
    ring = list(rectangle(spot, 120, 80, 8).exterior.coords)
    header = [
        "[属性描述]", "格式版本号=1.01版本", "数据产生单位=福州市晋安区土地核验组",
        "数据产生日期=2017-3-15", "坐标系=2000国家大地坐标系", "几度分带=3",
        "投影类型=高斯克吕格", "计量单位=米", "带号=40", "精度=0.001", "转换参数=,,,,,,",
        "[地块坐标]",
    ]  # fmt: skip
    hectares = Polygon(ring).area / 10000
    lines = [*header, f"{len(ring)},{hectares:.4f},JA-XD-L-9101,赤桥村补测三号地块,面,,建设用地,,@"]
    for i, (x, y) in enumerate(ring):
        number = i + 1 if i < len(ring) - 1 else 1
        lines.append(f"J{number},1,{y:.3f},{x + 40_000_000:.3f}")
    (OUT / "界址点.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("GBK"))


def blocks_gpkg(spots) -> None:
    """Three demolition blocks in 鼓山镇; the third is a bow-tie, refused on its own."""
    a, b, c = spots
    bowtie = Polygon([(c.x, c.y), (c.x + 60, c.y + 60), (c.x + 60, c.y), (c.x, c.y + 60)])
    frame = gpd.GeoDataFrame(
        {
            "code": ["JA-GS-D-9001", "JA-GS-D-9002", "JA-GS-D-9003"],
            "name": ["鼓山片区补测1号", "鼓山片区补测2号", "鼓山片区补测3号"],
        },
        geometry=[rectangle(a, 70, 50, 5), rectangle(b, 55, 40, -15), bowtie],
        crs=CM120E,
    )
    frame.to_file(OUT / "blocks.gpkg", driver="GPKG")


def responsibility_list() -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "晋安区"
    sheet.append(["晋安区攻坚2017重点项目责任清单（示例）"])
    sheet.append(["序号", "项目编号", "项目名称", "类别", "所属区县", "存在问题", "目标",
                  "时间节点", "责任单位", "第一责任人", "直接责任人"])  # fmt: skip
    sheet.append([1, "JA2017-101", "赤桥村补测地块交地", "征迁交地攻坚", "晋安区", "补测地块未交",
                  "交地12亩", "2017年6月底 完成补测；2017-09-30 交地", "新店镇", "陈建国",
                  "林志伟"])  # fmt: skip
    sheet.append([2, "JA2017-102", "鼓山片区补测地块拆迁", "征迁交地攻坚", "晋安区",
                  "三栋未签约", "拆迁1万平方米", "2017-08-31 签约; 2017-11-30 拆除",
                  "鼓山镇", "陈建国", "黄晓东"])  # fmt: skip
    book.save(OUT / "责任清单.xlsx")


def township_outline() -> None:
    frame = gpd.read_file(TOWNSHIPS)
    frame = frame[frame["name"] == "寿山乡"][["name", "geometry"]].rename(columns={"name": "XZQMC"})
    frame.to_crs(CM120E).to_file(OUT / "townships.gpkg", driver="GPKG")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    xindian = free_spots(
        township("新店镇"),
        demo_parcels("jinan_xindian_land.gpkg", "jinan_xindian_land_resurvey.gpkg",
                     "jinan_xindian_demolition.gpkg"),
        160, 140, 3,
    )  # fmt: skip
    survey_zip(xindian[:2])
    boundary_points(xindian[2])
    gushan = free_spots(
        township("鼓山镇"),
        demo_parcels("jinan_gushan_land.gpkg", "jinan_gushan_demolition.zip"),
        70, 60, 3,
    )  # fmt: skip
    blocks_gpkg(gushan)
    responsibility_list()
    township_outline()
    print(f"wrote {', '.join(sorted(p.name for p in OUT.iterdir()))} to {OUT}")


if __name__ == "__main__":
    main()
