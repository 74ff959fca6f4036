"""Refusals said in the caller's language (docs/translations.md): relocation, targets, the
register, the readers and rosters give a rule and figures, and the catalogs say them in
Chinese or English; the command line speaks Chinese unless asked (--lang, the shell's
locale); keeping overlaps between verified parcels takes a reason on every path."""

import re
import zipfile
from datetime import date

import pytest
from conftest import auth, count_rows, shared_app
from fastapi.testclient import TestClient
from parcelfiles import XINDIAN, frame, rectangle, write
from sqlalchemy import select
from typer.testing import CliRunner

from geo_service.campaign import register, targets
from geo_service.campaign.projects import import_projects
from geo_service.catalogs import translations
from geo_service.cli import app
from geo_service.errors import GeoServiceError, UploadRefused
from geo_service.models import AuditEntry, Flat, Household
from geo_service.parcels.readers import read_features
from geo_service.relocation import households as rel
from geo_service.relocation import tallies as relocation_tallies
from geo_service.relocation.rosters import import_households
from geo_service.web.problems import REFUSALS, refusal_detail, roster_detail

ZH, EN = translations("zh_CN").gettext, translations("en").gettext
runner = CliRunner()


def _latin_words(text: str, figures: dict) -> set[str]:
    """English words in a text, but for the figures it names (codes, files, users)."""
    named = " ".join(str(v) for v in figures.values())
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in named}


def _said(exc: GeoServiceError) -> tuple[str, str]:
    assert exc.rule in REFUSALS, exc.rule
    return refusal_detail(exc, ZH), refusal_detail(exc, EN)


def _refused(call) -> GeoServiceError:
    with pytest.raises(GeoServiceError) as caught:
        call()
    return caught.value


def _chinese(exc: GeoServiceError) -> str:
    """The refusal in Chinese, with no English word but its figures; in English on
    request, with the same figures."""
    zh, en = _said(exc)
    # What may be given (`choices`: machine names, land, handover…) is shown as it is.
    figures = exc.params or {}
    assert re.search(r"[\u4e00-\u9fff]", zh) and not _latin_words(zh, figures), zh
    assert len(_latin_words(en, figures)) >= 2, en
    for value in figures.values():
        assert str(value) in zh and str(value) in en, (value, zh, en)
    return zh


def test_relocation_refusals_are_said_in_chinese_and_english(session):
    cash = Household(id=999, ref="XD-9", compensation="cash", flats_due=0)
    done = Household(ref="XD-8", compensation="flats", flats_due=1, signoff="verified",
                     signed_off_by="relocation_xd", signed_off_on=date(2017, 5, 2))  # fmt: skip
    loose = Flat(building="3", unit="101", allocated_on=None, household_id=None)
    early = Flat(building="3", unit="102", allocated_on=date(2017, 6, 1), household_id=1)
    day = date(2017, 5, 1)
    said = {
        "signoff_cash": _refused(lambda: rel.sign_off(session, cash, day, "relocation_xd")),
        "signoff_already": _refused(lambda: rel.sign_off(session, done, day, "relocation_xd")),
        "allocation_cash": _refused(lambda: rel.allocate(session, loose, cash, day, "t")),
        "flat_handover_unallocated": _refused(lambda: rel.hand_over(session, loose, day, "t")),
        "flat_title_before_handover": _refused(lambda: rel.certify(session, loose, day, "t")),
        "flat_handover_before_allocation": _refused(
            lambda: rel.hand_over(session, early, day, "t")
        ),
        "compensation": _refused(lambda: rel.check_compensation("拆一还一")),
        "id_number_check": _refused(lambda: rel.normalise_id_number("110105194912310021")),
        "grouping": _refused(lambda: relocation_tallies.tally(session, by="street")),
        "as_of_year": _refused(
            lambda: relocation_tallies.clearance(session, year=2017, as_of=date(2018, 1, 5))
        ),
        "overdue_kind": _refused(lambda: relocation_tallies.overdue(session, kind="keys")),
    }
    for rule, exc in said.items():
        assert exc.rule == rule
        _chinese(exc)
    assert "货币补偿" in _said(said["signoff_cash"])[0]
    assert "relocation_xd" in _said(said["signoff_already"])[0]


def test_target_and_register_refusals_are_said_in_both_languages(session, tmp_path):
    for call in (
        lambda: targets.set_target(session, district="晋安区", township=None, kind="roads",
                                   year=2017, amount=1, unit="mu", actor="t"),
        lambda: targets.set_target(session, district="晋安区", township=None, kind="land",
                                   year=2017, amount=1, unit="ha", actor="t"),
        lambda: targets.set_target(session, district="晋安区", township=None, kind="land",
                                   year=2017, amount=1, unit="mu", quarter=5, actor="t"),
        lambda: targets.target_campaign(session, None, None),
    ):  # fmt: skip
        _chinese(_refused(call))
    listed = tmp_path / "list.csv"
    listed.write_text(
        "项目编号,项目名称,类别,所属区县,所属乡镇,时间节点\n"
        "P-01,项目一,征迁交地,晋安区,新店镇,2017-03-31 完成调查; 2017-06-30 签约过半\n",
        encoding="utf-8",
    )
    import_projects(session, listed)
    session.flush()
    missing = _refused(
        lambda: register.record_milestone(session, "P-01", date(2017, 4, 1), None, "t")
    )
    assert missing.rule == "milestone"
    zh, en = _said(missing)
    assert "P-01" in zh and "2017-03-31 完成调查" in zh and "没有这个节点" in zh
    assert en.startswith("project P-01 has no such milestone on 2017-04-01")
    wrong = _refused(lambda: register.projects(session, category="民生"))
    assert "民生" in _chinese(wrong)


def test_files_refused_before_reading_are_said_in_both_languages(tmp_path):
    odd = tmp_path / "boundary.xyz"
    odd.write_bytes(b"\x00\x01 not a parcel file")
    unknown = _refused(lambda: read_features(odd))
    assert (unknown.rule, unknown.params["suffix"]) == ("unsupported_file", ".xyz")
    zh, en = _said(unknown)
    assert zh.startswith("boundary.xyz：不支持 .xyz 类型的文件") and "界址点坐标文件" in zh
    assert en.startswith("boundary.xyz: files of type .xyz are not read here")
    # Bytes that are neither UTF-8 nor GB18030, in a boundary-point text file.
    garbled = tmp_path / "界址点.txt"
    garbled.write_bytes(b"[\xe5\x9c\xb0\xe5\x9d\x97\xe5\x9d\x90\xe6\xa0\x87]\n\xff\xfe\x80\x81")
    encoding = _refused(lambda: read_features(garbled))
    assert encoding.rule == "text_encoding_unknown"
    zh, en = _said(encoding)
    assert "UTF-8" in zh and "另存为 UTF-8" in zh and "--encoding" not in zh
    assert "save it as UTF-8" in en
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        for member in ("a.geojson", "b.geojson"):
            archive.writestr(member, '{"type": "FeatureCollection", "features": []}')
    members = _refused(lambda: read_features(two))
    zh, en = _said(members)
    assert members.rule == "archive_members" and "a.geojson, b.geojson" in zh
    assert "压缩包中应恰好有一个" in zh and "图层/工作表" in zh
    assert en.startswith("two.zip: the archive must hold exactly one Shapefile")
    named = _refused(lambda: read_features(two, encoding="klingon"))
    assert _said(named) == (
        "未知的文本编码 klingon（请试 UTF-8 或 GBK）",
        "unknown text encoding klingon (try UTF-8 or GBK)",
    )
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    assert _said(_refused(lambda: read_features(empty)))[0] == "empty.geojson：文件为空"


def test_a_rosters_value_duplicate_and_date_problems_are_said_in_both_languages(session, tmp_path):
    roster = tmp_path / "名册.csv"
    roster.write_text(
        "户号,地块编号,乡镇,补偿方式,应安置套数,拆除面积,过渡开始日期,承诺交房日期\n"
        "XD-1,XD-D1,,产权调换,1.5,-3,2016年3月,2016-01-01\n"
        "XD-1,XD-D1,,拆一还一,1,10,2016-01-01,2016-06-30\n"
        "XD-3,XD-D1,火星镇,产权调换,1,10,,\n",
        encoding="utf-8",
    )
    with pytest.raises(UploadRefused) as caught:
        import_households(session, roster)
    problems = {
        (p.rule, (p.params or {}).get("variant")): p.as_dict() for p in caught.value.report.problems
    }
    for key in (("bad_value", "whole"), ("bad_value", "negative"), ("bad_value", "date"),
                ("bad_value", "compensation"), ("duplicate_household", "ref"),
                ("unknown_parcel", "unit")):  # fmt: skip
        problem = problems[key]
        zh, ours = roster_detail(problem, ZH)
        en, _ = roster_detail(problem, EN)
        assert ours and re.search(r"[\u4e00-\u9fff]", zh), (key, zh)
        assert not _latin_words(zh, problem["params"]), (key, zh)
        figures = {k: v for k, v in problem["params"].items() if k != "variant"}
        assert all(str(v) in zh and str(v) in en for v in figures.values()), (key, zh, en)
        assert len(_latin_words(en, figures)) >= 2, (key, en)
    assert "第 2 行" in roster_detail(problems[("duplicate_household", "ref")], ZH)[0]


def _upload(client, path, language: str, **fields):
    data = {"kind": "land", "township": "新店镇", "status": "verified", **fields}
    with path.open("rb") as handle:
        return client.post(
            "/api/uploads",
            files={"file": (path.name, handle)},
            data=data,
            headers={**auth("land_xd"), "Accept-Language": language},
        )


def test_keeping_overlaps_through_the_api_takes_a_reason_kept_in_the_audit(db, tmp_path):
    path = write(frame([rectangle(XINDIAN, 0, 0, 100, 80)], code=["OV-1"]),
                 tmp_path / "square.geojson", 4326, "GeoJSON")  # fmt: skip
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        for language, words in (("zh-CN", "须说明理由"), ("en", "takes a reason")):
            bare = _upload(client, path, language, accept_overlaps="true", store_reason="  ")
            assert bare.status_code == 422, bare.text
            assert words in bare.json()["said"] and "takes a reason" in bare.json()["detail"]
        assert count_rows("uploads") == 0
        kept = _upload(client, path, "zh-CN", accept_overlaps="true", store_reason="共用道路")
        assert kept.status_code == 201, kept.text
        assert kept.json()["store_reason"] == "共用道路"
    from geo_service import database

    with database.session_scope() as session:
        # The audit is append-only: earlier tests' uploads are there too; ours is the last.
        latest = select(AuditEntry).where(AuditEntry.action == "upload")
        entry = session.scalars(latest.order_by(AuditEntry.id.desc()).limit(1)).one()
        assert entry.details["upload_id"] == kept.json()["upload_id"]
        assert entry.details["store_reason"] == "共用道路"


def _cli(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_the_command_speaks_chinese_unless_asked(db, tmp_path, monkeypatch):
    odd = tmp_path / "boundary.xyz"
    odd.write_bytes(b"\x00\x01 not a parcel file")
    command = ["import", odd, "--kind", "land", "--township", "新店镇", "--as", "land_xd"]
    chinese = _cli("--lang", "zh_CN", *command)
    assert chinese.exit_code == 1
    assert "未被接受：boundary.xyz：不支持 .xyz 类型的文件" in chinese.stderr
    english = _cli("--lang", "en", *command)
    assert english.exit_code == 1
    assert "refused: boundary.xyz: unsupported file type .xyz" in english.stderr
    # Without --lang: the shell's locale when it is zh or en, else Chinese.
    monkeypatch.delenv("GEO_SERVICE_LANG", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    for lang, words in (("C.UTF-8", "未被接受"), ("en_US.UTF-8", "refused: "),
                        ("zh_CN.UTF-8", "未被接受")):  # fmt: skip
        result = _cli(*command, env={"LANG": lang})
        assert words in result.stderr, (lang, result.stderr)
    unknown = _cli("--lang", "fr", "import", odd, "--kind", "land", "--township", "新店镇")
    # An unknown language is refused in the shell's (here the default, Chinese), as Click's
    # own words are (cli/clickwords.py).
    assert unknown.exit_code == 2 and "'fr'：只能是 zh_CN 或 en" in unknown.stderr


def test_the_commands_overlap_reason_and_summary_in_both_languages(db, tmp_path):
    path = write(frame([rectangle(XINDIAN, 0, 0, 100, 80)], code=["OV-2"]),
                 tmp_path / "square.geojson", 4326, "GeoJSON")  # fmt: skip
    base = ["import", path, "--kind", "land", "--township", "新店镇", "--as", "land_xd"]
    bare = _cli("--lang", "zh_CN", *base, "--accept-overlaps")
    assert bare.exit_code == 2 and "错误：保留已核验地块之间的重叠须说明理由" in bare.stderr
    bare = _cli("--lang", "en", *base, "--accept-overlaps")
    assert bare.exit_code == 2 and "takes a reason (store_reason)" in bare.stderr
    checked = _cli("--lang", "zh_CN", *base, "--dry-run")
    assert checked.exit_code == 0, checked.output
    assert "square.geojson：已检查（试运行，未入库）：1 个地块" in checked.stdout
    kept = _cli("--lang", "en", *base, "--accept-overlaps", "--store-reason", "共用道路")
    assert kept.exit_code == 0, kept.output
    assert "square.geojson: accepted: 1 parcel(s)" in kept.stdout
    assert "new 1, changed 0, unchanged 0" in kept.stdout


def test_the_commands_valid_only_store_takes_a_reason_kept_in_the_audit(db, tmp_path):
    shapes = [rectangle(XINDIAN, 0, 0, 100, 80), rectangle((116.0, 30.0), 0, 0, 100, 80)]
    path = write(frame(shapes, code=["OK-1", "FAR"]), tmp_path / "part.geojson", 4326, "GeoJSON")
    base = ["import", path, "--kind", "land", "--township", "新店镇", "--as", "land_xd"]
    bare = _cli("--lang", "zh_CN", *base, "--accept-valid")
    assert bare.exit_code == 2 and "只入库文件中合格的地块须说明理由" in bare.stderr
    assert "[valid_reason]" in bare.stderr
    bare = _cli("--lang", "en", *base, "--accept-valid", "--store-reason", " ")
    assert bare.exit_code == 2 and "valid features of a file takes a reason" in bare.stderr
    assert count_rows("uploads") == 0
    kept = _cli("--lang", "en", *base, "--accept-valid", "--store-reason", "FAR 待测绘队改正")
    assert kept.exit_code == 0, kept.output
    assert "1 feature(s) with errors were not stored" in kept.stdout
    from geo_service import database

    with database.session_scope() as session:
        latest = select(AuditEntry).where(AuditEntry.action == "upload")
        entry = session.scalars(latest.order_by(AuditEntry.id.desc()).limit(1)).one()
        assert entry.details["store_reason"] == "FAR 待测绘队改正"
        assert entry.details["parcels"] == 1


def test_a_single_relocation_change_is_said_in_the_commands_language(db):
    project = ["relocation", "project", "AZ-9", "--name", "新店安置房", "--district", "晋安区",
               "--townships", "新店镇", "--floor-area", "-5", "--as", "admin_t"]  # fmt: skip
    refused = _cli("--lang", "zh_CN", *project)
    assert refused.exit_code == 2
    assert "错误：总建筑面积不能为负数 [floor_area_negative]" in refused.stderr
    project[project.index("-5")] = "24000"
    assert _cli("--lang", "zh_CN", *project).stdout.strip() == "AZ-9: 新建"
    assert _cli("--lang", "en", *project).stdout.strip() == "AZ-9: unchanged"


def test_campaign_user_workflow_tally_and_text_refusals_are_said_in_both_languages(session):
    from geo_service import texts
    from geo_service.accounts import users
    from geo_service.campaign import campaigns, tallies
    from geo_service.parcels import workflow

    for call in (
        lambda: campaigns.create_campaign(session, name=" ", first_day=date(2017, 1, 1),
                                          last_day=date(2017, 2, 1), actor="t"),
        lambda: campaigns.create_campaign(session, name="秋季攻坚", first_day=date(2017, 3, 1),
                                          last_day=date(2017, 2, 1), actor="t"),
        lambda: campaigns.find_campaign(session, "没有的攻坚"),
        lambda: users.find_user(session, "nobody"),
        lambda: users.create_user(session, "a b", role="admin", password="x" * 20, by="t"),
        lambda: users.create_user(session, "新人", role="chief", password="x" * 20, by="t"),
        lambda: tallies.tally(session, by="street"),
        lambda: tallies.tally(session, by="township", credit="everyone"),
        lambda: workflow.find_parcel(session, "XD-001", kind="roads"),
        lambda: texts.check("a\u202eb", "name", "name"),
        lambda: texts.check("很长" * 200, "name", "name"),
    ):  # fmt: skip
        _chinese(_refused(call))
    no_townships = dict(role="verifier", group="土地核验组", password="x" * 20, by="t")
    several = _refused(lambda: users.create_user(session, "新人", **no_townships))
    zh, en = _said(several)
    assert several.rule == "user_townships" and "需要指定其工作的乡镇" in zh
    assert en == "a verifier needs the townships they work in"


def test_a_refusal_is_said_in_the_commands_and_the_apis_language(db):
    zh = _cli("--lang", "zh_CN", "campaigns", "close", "没有的攻坚")
    assert zh.exit_code == 2
    assert "没有名为 没有的攻坚 的攻坚" in zh.stderr and "[campaign]" in zh.stderr
    en = _cli("--lang", "en", "campaigns", "close", "没有的攻坚")
    assert "error: no campaign named '没有的攻坚'" in en.stderr
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        path = "/ogc/collections/parcels/items?bbox=1,2,3"
        chinese = client.get(path, headers={**auth("land_xd"), "Accept-Language": "zh-CN"})
        english = client.get(path, headers={**auth("land_xd"), "Accept-Language": "en"})
    assert chinese.status_code == english.status_code == 400
    assert "bbox 须为四个数" in chinese.json()["said"]
    assert "bbox must be four numbers" in english.json()["said"]


def test_a_project_lists_row_problems_are_said_in_both_languages(session, tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text(
        "项目编号,项目名称,类别,所属区县,时间节点\n"
        "P-01,,征迁交地,晋安区,2017-03-31 完成调查\n"
        "P-01,项目二,民生,晋安区,六月底交地\n",
        encoding="utf-8",
    )
    refused = _refused(lambda: import_projects(session, listed))
    assert refused.rule == "project_list_problems"
    zh, en = _said(refused)
    assert zh.startswith("list.csv：4 个问题，未导入任何内容"), zh
    assert "第 2 行，项目名称 列：缺少 项目名称 (name)" in zh
    assert "第 3 行，时间节点 列：时间节点 六月底交地 中没有日期" in zh
    assert "第 3 行，项目编号 列：项目 P-01 重复列出（首次在第 2 行）" in zh
    assert "民生" in zh and "类别须为" not in en
    assert en.startswith("list.csv: 4 problem(s), nothing imported:")
    assert "row 3, column 项目编号: project P-01 is listed again (first at row 2)" in en
    assert count_rows("projects") == 0
