"""What remains of issue 22 item 1: problem details, refusals, export headers, history
and the map pages come from the catalogs, in the reader's language (docs/translations.md).
Through the TestClient, with the files the reader tests write."""

import csv
import io
import re

import openpyxl
from conftest import auth, shared_app, signed_in_page
from corpus import HEADER_CGCS2000, gk_origin, parcel, write_boundary_file
from fastapi.testclient import TestClient
from parcelfiles import XINDIAN, frame, rectangle, write
from shapely.geometry import Polygon
from test_translations import _english_sentences

from geo_service.maps import pages
from geo_service.maps.words import SCRIPT_WORDS

ORIGIN = {"Origin": "http://testserver"}
ZH = {**ORIGIN, "Accept-Language": "zh-CN,zh;q=0.9"}
EN = {**ORIGIN, "Accept-Language": "en-US,en;q=0.9"}


def _dry_run(client, path) -> str:
    """The address of the file's dry-run report (each visit says it in the visitor's
    language)."""
    files = {"file": (path.name, path.read_bytes())}
    data = {"kind": "land", "township": "新店镇"}
    checked = client.post("/uploads/check", data=data, files=files, headers=ORIGIN,
                          follow_redirects=False)  # fmt: skip
    assert checked.status_code == 303, checked.text[:500]
    return checked.headers["location"]


# An English word in a Chinese detail (GEOS's "Self-intersection", "ring"…); CGCS2000 and
# the EPSG codes are names.
_ENGLISH_WORD = re.compile(r"(?<![A-Za-z])(?!CGCS|EPSG)[A-Za-z]{4,}")


_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _problem_rows(page: str) -> list[str]:
    """Each problem's rule and detail as the page shows them, <code> included (the
    checker's own message would be there)."""
    cells = re.findall(r'<td class="rule">(.*?)</td>\s*<td class="detail">(.*?)</td>', page, re.S)
    return [re.sub(r"<code class=\"rule-code\">[^<]*</code>|<[^>]+>", " ", a + " " + b)
            for a, b in cells]  # fmt: skip


def _bowtie_geojson(tmp_path):
    from pyproj import Transformer

    e, n = gk_origin()
    back = Transformer.from_crs(4549, 4490, always_xy=True)
    ring = [back.transform(e + dx, n + dy) for dx, dy in [(0, 0), (100, 100), (100, 0), (0, 100)]]
    return write(frame([Polygon(ring)], code=["BT"]), tmp_path / "bowtie.geojson", 4326, "GeoJSON")


def _troubled_boundary_file(tmp_path):
    """A 界址点 file with several reader problems: no 坐标系 (inferred), a 带号 the eastings
    contradict, rings not closed, a ring of two points, an unreadable point line."""
    e, n = gk_origin()
    e, n = round(e, 3), round(n, 3)
    square = [(e, n), (e + 60, n), (e + 60, n + 60), (e, n + 60), (e, n)]
    other = [(e + 200, n), (e + 260, n), (e + 260, n + 60), (e + 200, n + 60), (e + 200, n)]
    thin = [(e + 400, n), (e + 460, n), (e + 400, n), (e + 460, n), (e + 400, n)]
    header = {**HEADER_CGCS2000, "坐标系": None, "带号": "39"}
    parcels = [parcel("TR-1", "一", [square], hectares=9.0), parcel("TR-2", "二", [other]),
               parcel("TR-3", "三", [thin], hectares=0.1)]  # fmt: skip
    path = write_boundary_file(tmp_path / "界址点.txt", parcels, header=header, closing=False)
    lines = path.read_bytes().decode("gbk").split("\r\n")
    at = next(i for i, line in enumerate(lines) if ",TR-2," in line) + 2
    lines[at] = lines[at].replace(",1,", ",1,abc", 1)  # TR-2's J2 unreadable
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    return path


def test_dry_run_reports_speak_chinese_and_english(db, tmp_path):
    client = signed_in_page("land_xd")
    said = {}
    for path in (_bowtie_geojson(tmp_path), _troubled_boundary_file(tmp_path)):
        report = _dry_run(client, path)
        chinese = client.get(report, headers=ZH).text
        rows = _problem_rows(chinese)
        assert len(rows) >= (1 if path.suffix == ".geojson" else 5), rows
        assert _english_sentences(chinese) == [], (path.name, _english_sentences(chinese))
        # the checker's own message (English) is shown in <code>: none is left
        assert 'class="source"' not in chinese, rows
        for row in rows:
            assert _english_sentences(row) == [] and not _ENGLISH_WORD.findall(row), row
        said[path.suffix] = (rows, _problem_rows(client.get(report, headers=EN).text))
    (crossing,), (english,) = said[".geojson"]
    assert re.search(r"边界在 \[119\.\d{6} 26\.\d{6}\] 附近自相交", crossing)
    assert "the boundary crosses itself near [119." in english and "自相交" not in english
    chinese, english = said[".txt"]
    assert any("第 1 圈只有 2 个不同的点" in row for row in chinese)
    assert any("ring 1 has 2 distinct points" in row for row in english)
    assert any("(line 19)" in row for row in english)
    # in English no Chinese is left but the file's own header keys (带号, 坐标系) and names
    for row in english:
        assert not _CHINESE.search(re.sub("带号|坐标系|西安|北京|宗地号", "", row)), row


def test_the_api_says_problems_in_the_language_asked(db, tmp_path):
    path = _bowtie_geojson(tmp_path)
    with TestClient(shared_app()) as client:
        client.headers.update(auth("land_xd"))
        form = {"kind": "land", "township": "新店镇", "dry_run": "true"}
        for lang, words in (("zh-CN", "自相交"), ("en", "crosses itself near")):
            files = {"file": (path.name, path.read_bytes())}
            answer = client.post("/api/uploads", data=form, files=files,
                                 headers={"Accept-Language": lang})  # fmt: skip
            (problem,) = answer.json()["report"]["problems"]
            assert problem["rule"] == "invalid_geometry" and words in problem["said"]["detail"]
        files = {"file": (path.name, path.read_bytes())}
        plain = client.post("/api/uploads", data=form, files=files).json()["report"]
        assert "said" not in plain["problems"][0]  # a program that asked for no language


def _good_file(tmp_path):
    shapes = [rectangle(XINDIAN, 400 * i, 0, 100, 80) for i in range(2)]
    return write(frame(shapes, code=["H1", "H2"]), tmp_path / "好.geojson", 4326, "GeoJSON")


def test_a_parcels_history_flash_and_refusals_in_either_language(db, tmp_path):
    client = signed_in_page("land_xd")
    stored = client.post("/uploads/store", data={"token": _token(client, _good_file(tmp_path))},
                         headers=ORIGIN, follow_redirects=False)  # fmt: skip
    assert stored.status_code == 303, stored.text[:300]
    page = client.get("/parcels/H1", params={"township": "新店镇", "kind": "land"}, headers=ZH)
    parcel_id = re.search(r'action="/parcels/(\d+)/act"', page.text).group(1)
    moved = client.post(f"/parcels/{parcel_id}/act", data={"action": "status", "to": "in_progress"},
                        headers=ORIGIN, follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303, moved.text[:300]
    done = moved.headers["location"]
    chinese = client.get(done, headers=ZH).text
    history = _history(chinese)
    assert "新建" in history[0] and "计划 → 实施中" in history[1], history
    assert "已完成：" in chinese and _english_sentences(chinese) == []
    english = client.get(done, headers=EN).text
    history = _history(english)
    assert "created" in history[0] and "planned → in progress" in history[1]
    assert "Done: status changed" in english
    assert not any(_CHINESE.search(row) for row in history), history
    # refusals shown on pages: a move back without a reason; a planner may not upload; no
    # such parcel
    back = {"action": "status", "to": "planned"}
    for headers in (ZH, EN):
        refused = client.post(f"/parcels/{parcel_id}/act", data=back, headers=headers)
        assert refused.status_code == 400, refused.text[-600:]
        said = re.search(r'<p class="error"[^>]*>(.*?)</p>', refused.text, re.S).group(1)
        if headers is ZH:
            assert "地块 H1" in said and _english_sentences(refused.text) == [], said
        else:
            assert "parcel H1" in said and not _CHINESE.search(said.replace("新店镇", "")), said

    planner = signed_in_page("planner")
    for headers, words in (
        (ZH, "不能进行此操作"),
        (EN, "may not do this: it is not for their role"),
    ):
        files = {"file": ("a.geojson", b"{}")}
        refused = planner.post("/uploads/check", data={"kind": "land", "township": "新店镇"},
                               files=files, headers=headers)  # fmt: skip
        assert refused.status_code == 403 and words in refused.text, refused.text[-800:]
        if headers is ZH:
            assert _english_sentences(refused.text) == [], _english_sentences(refused.text)
    missing = client.get("/parcels/NOPE", params={"township": "新店镇"}, headers=ZH)
    assert missing.status_code == 404 and _english_sentences(missing.text) == []
    assert "Not found" in client.get("/parcels/NOPE", headers=EN).text


def _token(client, path) -> str:
    return _dry_run(client, path).rsplit("/", 1)[1]


def _history(page: str) -> list[str]:
    body = re.search(r'<table class="list history".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [re.sub(r"<[^>]+>", " ", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _csv_rows(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _csv_header(body: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_export_headers_and_sheet_names_in_the_readers_language(db, tmp_path):
    client = signed_in_page("planner")
    chinese = client.get("/api/exports/tallies.csv", params={"kind": "land"})
    assert chinese.status_code == 200, chinese.text[:300]
    header = _csv_header(chinese.content)
    assert header[:3] == ["区县", "乡镇(街道)", "类型"] and "完成率(%)" in header
    assert not any(_ENGLISH_WORD.search(h) for h in header), header
    english = _csv_header(client.get("/api/exports/tallies.csv?kind=land&lang=en").content)
    assert english[:3] == ["District or county", "Township or subdistrict", "Kind"]
    assert not any(_CHINESE.search(h) for h in english), english
    for lang, words in (("zh", _CHINESE), ("en", re.compile("[A-Za-z]{4,}"))):
        book = openpyxl.load_workbook(
            io.BytesIO(client.get("/api/exports/tallies.xlsx", params={"lang": lang}).content)
        )
        other = _ENGLISH_WORD if lang == "zh" else _CHINESE
        for sheet in book.worksheets:
            # the header row; on the last sheet (what was counted) the names of its lines
            cells = sheet["A"] if sheet is book.worksheets[-1] else sheet[1]
            heads = [c.value for c in cells if isinstance(c.value, str)] + [sheet.title]
            assert all(words.search(h) for h in heads), (lang, sheet.title, heads)
            assert not any(other.search(h) for h in heads), (lang, sheet.title, heads)
    # an upload's problem list, as a verifier downloads it from the report
    verifier = signed_in_page("land_xd")
    report = _dry_run(verifier, _bowtie_geojson(tmp_path))
    rows = _csv_rows(verifier.get(f"{report}/problems.csv", headers=ZH).content)
    assert rows and rows[0]["规则代码"] == "invalid_geometry" and "自相交" in rows[0]["说明"]
    english = _csv_rows(verifier.get(f"{report}/problems.csv", headers=EN).content)
    assert "crosses itself near" in english[0]["Detail"] and english[0]["Severity"] == "error"


def test_the_map_pages_words_come_from_the_catalogs(db):
    """What the server writes (title, heading, the credit table, the script's words) in
    either language; the script asks for every word it draws through t()."""
    script = (pages.STATIC_DIR / pages.OWN_JS).read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", script, flags=re.S)
    assert not _CHINESE.search(code)  # no label written into the script in one language
    asked = set(re.findall(r'\bt\("([^"]+)"', code)) | set(re.findall(r'\brow\("([^"]+)"', code))
    asked |= set(re.findall(r'\? "([^"]+)" :\s*"([^"]+)"', code)[0])  # t(a ? "x" : "y")
    assert asked <= set(SCRIPT_WORDS), asked - set(SCRIPT_WORDS)
    client = signed_in_page("leader_jinan")
    for path, zh_title, en_title in (
        (
            "/maps/progress?district=晋安区&kind=land",
            "晋安区 交地进度",
            "晋安区 land delivery progress",
        ),
        (
            "/maps/support?district=晋安区&kind=land",
            "晋安区 跨界支援",
            "晋安区 cross-township support",
        ),
        ("/maps/relocation?district=晋安区", "晋安区 回迁进度", "晋安区 relocation progress"),
    ):
        chinese = client.get(path, headers=ZH)
        assert chinese.status_code == 200, (path, chinese.text[:300])
        assert f"<h1>{zh_title}</h1>" in chinese.text and 'lang="zh-CN"' in chinese.text
        assert _english_sentences(chinese.text) == [], (path, _english_sentences(chinese.text))
        assert '"已核验"' in chinese.text  # the script's words, in Chinese
        english = client.get(path, headers=EN).text
        assert f"<h1>{en_title}</h1>" in english and '<html lang="en">' in english
        assert '"Verified": "Verified"' in english and "攻坚进度" not in english
        if "support" in path:
            assert "Township scores (verified, mu)" in english and "乡镇得分" not in english


def _error(page: str) -> str:
    return re.search(r'<p class="error"[^>]*>(.*?)</p>', page, re.S).group(1)


def test_sign_off_and_field_day_refusals_in_either_language(db, tmp_path):
    """Who may ask for a status (a page's move, a file's status column) and the field day's
    limits: said from the catalogs, in Chinese or in English."""
    verifier = signed_in_page("land_xd")
    stored = verifier.post("/uploads/store", data={"token": _token(verifier, _good_file(tmp_path))},
                           headers=ORIGIN, follow_redirects=False)  # fmt: skip
    assert stored.status_code == 303, stored.text[:300]
    page = verifier.get("/parcels/H1", params={"township": "新店镇", "kind": "land"})
    act = re.search(r'action="(/parcels/\d+/act)"', page.text).group(1)
    officer = signed_in_page("officer_xd")
    future = {"action": "status", "to": "in_progress", "field_day": "2099-01-01"}
    for client, form, status, zh, en in (
        (officer, {"action": "status", "to": "verified"}, 403, "乡镇专干",
         "may move parcels up to delivered or demolished, not to verified"),
        (verifier, future, 400, "核验日期 2099-01-01 在未来",
         "the field day 2099-01-01 is in the future"),
    ):  # fmt: skip
        chinese = client.post(act, data=form, headers=ZH)
        assert chinese.status_code == status, chinese.text[-600:]
        assert zh in _error(chinese.text) and _english_sentences(chinese.text) == [], _error(
            chinese.text
        )
        english = _error(client.post(act, data=form, headers=EN).text)
        assert en in english and not _CHINESE.search(english.replace("新店镇", "")), english
    # a file whose status column asks for a sign-off its uploader may not give
    shapes = [rectangle(XINDIAN, 400 * i, 0, 100, 80) for i in range(2)]
    path = write(frame(shapes, code=["S1", "S2"], status=["verified", "planned"]),
                 tmp_path / "签.geojson", 4326, "GeoJSON")  # fmt: skip
    report = _dry_run(officer, path)
    chinese = officer.get(report, headers=ZH).text
    (row,) = [r for r in _problem_rows(chinese) if "乡镇专干" in r]
    assert "已核验" in row and not _ENGLISH_WORD.findall(row.replace("officer_xd", "")), row
    assert 'class="source"' not in chinese and _english_sentences(chinese) == []
    english = _problem_rows(officer.get(report, headers=EN).text)
    assert any("not to verified" in r for r in english), english


def test_a_file_refused_before_its_features_are_read_in_either_language(db, tmp_path):
    """A refusal of the whole file (several layers, a zip that is none) names the form's
    field, in the reader's language."""
    shapes = [rectangle(XINDIAN, 0, 0, 100, 80)]
    layers = tmp_path / "两层.gpkg"
    for layer in ("甲", "乙"):
        write(frame(shapes, code=[layer]), layers, 4326, "GPKG", layer=layer)
    broken = tmp_path / "坏.zip"
    broken.write_bytes(b"PK not really a zip")
    client = signed_in_page("land_xd")
    for path, zh, en in (
        (layers, "有多个图层（甲, 乙）",
         "several layers (甲, 乙); name one in the form&#39;s Layer field"),
        (broken, "不是有效的 zip 压缩包", "not a valid zip archive"),
    ):  # fmt: skip
        said = {}
        for headers in (ZH, EN):
            files = {"file": (path.name, path.read_bytes())}
            refused = client.post("/uploads/check", data={"kind": "land", "township": "新店镇"},
                                  files=files, headers=headers)  # fmt: skip
            assert refused.status_code == 422, refused.text[-600:]
            said[headers is ZH] = _error(refused.text)
        assert zh in said[True] and "--layer" not in said[True], said
        assert en in said[False] and "不接受" not in said[False], said


def test_roster_problems_in_the_language_asked(db, tmp_path):
    """A relocation roster's problems carry their figures; a client that asks for a
    language gets each one said from the catalogs (what the roster page shows)."""
    from test_relocation import HOUSEHOLD_HEADER

    lines = [
        "XD-009,林某,,XD-D9,新店镇,180,产权调换,AZ-9,2,200,2016-03-15,1500,2017-06-30,2016-01-01",
        ",陈某,,,新店镇,95,货币补偿,,0,,,,,",
    ]
    path = tmp_path / "名册.csv"
    path.write_text("\n".join([HOUSEHOLD_HEADER, *lines]) + "\n", encoding="utf-8")
    said = {}
    with TestClient(shared_app()) as client:
        for lang in ("zh-CN", "en"):
            files = {"file": (path.name, path.read_bytes())}
            refused = client.post("/api/relocation/households", files=files,
                                  headers={**auth("admin_t"), "Accept-Language": lang})  # fmt: skip
            assert refused.status_code == 422, refused.text[:300]
            problems = refused.json()["report"]["problems"]
            assert all(p["said"]["translated"] for p in problems), problems
            said[lang] = {p["rule"] + ":" + p["said"]["detail"] for p in problems}
    for detail in ("没有安置项目 AZ-9", "办证期限 2016-01-01 早于承诺交房日期（2017-06-30）",
                   "户号为空", "地块编号为空", "没有编号为 XD-D9 的地块"):  # fmt: skip
        assert any(detail in s for s in said["zh-CN"]), (detail, said["zh-CN"])
    for row in said["zh-CN"]:
        assert _english_sentences(row.split(":", 1)[1]) == [], row
    assert any("no resettlement project AZ-9" in s for s in said["en"]), said["en"]
    # in English no Chinese is left but the file's own column headers
    headers = "|".join(HOUSEHOLD_HEADER.split(","))
    assert not any(_CHINESE.search(re.sub(headers, "", s)) for s in said["en"]), said["en"]


def test_register_target_and_household_refusals_have_words(db):
    """The refusals the register, target and relocation pages show carry their rule and
    figures, and the catalogs say them in either language."""
    import pytest

    from geo_service.campaign import register
    from geo_service.catalogs import translations
    from geo_service.database import session_scope
    from geo_service.errors import GeoServiceError
    from geo_service.relocation import households
    from geo_service.web.problems import refusal_detail

    refusals = []
    with session_scope() as session:
        for attempt in (
            lambda: households.find_household(session, "XX-9"),
            lambda: households.find_flat(session, "AZ-9", "1", "101"),
            lambda: register.problem_project(session, 987654),
        ):
            with pytest.raises(GeoServiceError) as refused:
                attempt()
            refusals.append(refused.value)
    zh, en = translations("zh_CN").gettext, translations("en").gettext
    said = [(refusal_detail(exc, zh), refusal_detail(exc, en)) for exc in refusals]
    assert said[0] == ("没有户号为 XX-9 的住户：请先导入住户名册",
                       "no household XX-9: import the household roster first")  # fmt: skip
    assert said[1] == ("没有安置项目 AZ-9", "no resettlement project AZ-9")
    assert said[2] == ("没有第 987654 号问题", "no problem #987654")
    for chinese, _english in said:
        assert _english_sentences(chinese) == [] and not _ENGLISH_WORD.findall(chinese), chinese
