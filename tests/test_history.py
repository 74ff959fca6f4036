"""History over several days, as-of tallies with planned/delivered columns, cross-township
credit and support links, and the migration of a populated 0001 database."""

import itertools
from datetime import date, datetime, timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from conftest import IN_2017, redate, rewriting_history, scratch_database
from parcelfiles import CM120E, GUSHAN, XINDIAN, frame, independent_area_m2, rectangle, write
from sqlalchemy import inspect, select, text

from geo_service import database
from geo_service.campaign.tallies import CAMPAIGN_TZ, support_links, tally
from geo_service.models import AdminUnit, Parcel
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import dispute, history, set_status, verify

# Two land parcels in 新店镇, far enough apart not to touch: unions are sums here.
SMALL = rectangle(XINDIAN, 0, 0, 200, 100)
LARGE = rectangle(XINDIAN, 0, 0, 260, 100)  # the resurveyed boundary of the same parcel
OTHER = rectangle(XINDIAN, 800, 300, 150, 120, angle_deg=25)


def _import(session, tmp_path, polygons, codes, name, township="新店镇", status=None,
            kind="land", actor="测绘队", **columns):  # fmt: skip
    path = write(frame(polygons, code=codes, **columns), tmp_path / name, CM120E, "GPKG")
    options = ImportOptions(kind=kind, township=township, status=status, actor=actor)
    return import_file(session, path, options)


def _noon(day: int) -> datetime:
    return datetime(2017, 3, day, 12, tzinfo=CAMPAIGN_TZ)


def _backdate(session, parcel_id: int, days: list[int]) -> None:
    """Version n was written at noon on days[n-1] (March 2017), valid until the next one."""
    for version, (day, following) in enumerate(itertools.zip_longest(days, days[1:]), start=1):
        with rewriting_history(session):
            session.execute(
                text("""
                    UPDATE parcel_versions SET valid_from = :f, valid_to = :t,
                      verified_at = CASE WHEN verified_at IS NULL THEN NULL ELSE :f END
                    WHERE parcel_id = :p AND version = :v"""),
                {
                    "f": _noon(day),
                    "t": _noon(following) if following else None,
                    "p": parcel_id,
                    "v": version,
                },
            )
    session.flush()
    session.expire_all()


def _parcel(session, code: str, township: str = "新店镇") -> Parcel:
    return session.scalar(
        select(Parcel)
        .join(AdminUnit, AdminUnit.id == Parcel.township_id)
        .where(Parcel.code == code, AdminUnit.name == township)
    )


@pytest.fixture
def campaign(session, tmp_path):
    """Parcel P over eight days of March 2017, and parcel Q verified on day 3.

    P: 1 planned (upload), 2 in_progress, 3 delivered, 4 resurveyed larger (upload, still
    delivered), 5 verified, 6 disputed, 7 back to delivered, 8 verified again.
    """
    _import(session, tmp_path, [SMALL], ["P"], "p1.gpkg")
    p = _parcel(session, "P")
    set_status(session, p, "in_progress", actor="新店镇征迁组")
    set_status(session, p, "delivered", actor="新店镇征迁组", note="交地确认书已签")
    _import(session, tmp_path, [LARGE], ["P"], "p4.gpkg", status="delivered", actor="复测队")
    verify(session, p, "林志伟", "土地核验组", note="现场核验")
    dispute(session, p, "与批文面积不符", actor="区攻坚办")
    set_status(session, p, "delivered", actor="区攻坚办", note="复核后退回")
    verify(session, p, "陈建国", "土地核验组", note="复核通过")
    _backdate(session, p.id, [1, 2, 3, 4, 5, 6, 7, 8])

    _import(session, tmp_path, [OTHER], ["Q"], "q.gpkg", status="verified")
    _backdate(session, _parcel(session, "Q").id, [3])
    return _parcel(session, "P")


def test_history_lists_every_version_exactly(session, campaign):
    versions = history(session, campaign)
    small, large = independent_area_m2(SMALL), independent_area_m2(LARGE)
    expected = [
        # version, change, before, after, who, note, geometry changed
        (1, "created", None, "planned", "测绘队", None, None),
        (2, "status", "planned", "in_progress", "新店镇征迁组", None, False),
        (3, "status", "in_progress", "delivered", "新店镇征迁组", "交地确认书已签", False),
        (4, "changed", "delivered", "delivered", "复测队", None, True),
        (5, "verified", "delivered", "verified", "林志伟", "现场核验", False),
        (6, "disputed", "verified", "disputed", "区攻坚办", "与批文面积不符", False),
        (7, "status", "disputed", "delivered", "区攻坚办", "复核后退回", False),
        (8, "verified", "delivered", "verified", "陈建国", "复核通过", False),
    ]
    got = [
        (v["version"], v["change"], v["status_before"], v["status"], v["changed_by"],
         v["note"], v["geometry_changed"])
        for v in versions
    ]  # fmt: skip
    assert got == expected
    for v, day in zip(versions, range(1, 9), strict=True):
        assert datetime.fromisoformat(v["valid_from"]) == _noon(day)
        to = v["valid_to"] and datetime.fromisoformat(v["valid_to"])
        assert to == (_noon(day + 1) if day < 8 else None)
    areas = [v["area_m2"] for v in versions]
    assert areas[:3] == [pytest.approx(small, rel=1e-3)] * 3
    assert areas[3:] == [pytest.approx(large, rel=1e-3)] * 5
    assert versions[3]["area_before_m2"] == pytest.approx(small, rel=1e-3)
    assert versions[3]["area_change_m2"] == pytest.approx(large - small, rel=1e-2)
    assert versions[0]["area_before_m2"] is None
    assert [v["upload_filename"] for v in versions] == ["p1.gpkg", None, None, "p4.gpkg"] + [
        None
    ] * 4
    assert versions[0]["upload_id"] is not None and versions[3]["upload_id"] is not None
    # The verifier is recorded with the versions its verification stands in, and the area
    # frozen is the resurveyed one it looked at.
    verifiers = [(v["verified_by"], v["verified_group"]) for v in versions]
    assert verifiers == [(None, None)] * 4 + [("林志伟", "土地核验组")] * 2 + [(None, None)] + [
        ("陈建国", "土地核验组")
    ]
    assert versions[4]["verified_area_m2"] == pytest.approx(large, rel=1e-3)
    assert datetime.fromisoformat(versions[4]["verified_at"]) == _noon(5)


@pytest.mark.parametrize(
    ("day", "status", "planned", "delivered", "verified"),
    [
        # (end of March day, P's status, which areas count for each column)
        (0, None, (), (), ()),
        (1, "planned", ("small",), (), ()),
        (2, "in_progress", ("small",), (), ()),
        (3, "delivered", ("small", "other"), ("small", "other"), ("other",)),
        (4, "delivered", ("large", "other"), ("large", "other"), ("other",)),
        (5, "verified", ("large", "other"), ("large", "other"), ("large", "other")),
        (6, "disputed", ("large", "other"), ("other",), ("other",)),
        (7, "delivered", ("large", "other"), ("large", "other"), ("other",)),
        (8, "verified", ("large", "other"), ("large", "other"), ("large", "other")),
        (9, "verified", ("large", "other"), ("large", "other"), ("large", "other")),
    ],
)
def test_as_of_each_day_planned_delivered_and_verified(
    session, campaign, day, status, planned, delivered, verified
):
    area = {
        "small": independent_area_m2(SMALL),
        "large": independent_area_m2(LARGE),
        "other": independent_area_m2(OTHER),
    }
    as_of = date(2017, 3, 1) + timedelta(days=day - 1)
    rows = tally(session, by="township", kind="land", as_of=as_of)
    if status is None:
        assert rows == []
        return
    (row,) = rows
    assert row.township == "新店镇"
    assert row.planned_parcels == len(planned)
    assert row.delivered_parcels == len(delivered)
    assert row.verified_parcels == len(verified)
    assert row.planned_m2 == pytest.approx(sum(area[k] for k in planned), rel=1e-3)
    assert row.delivered_m2 == pytest.approx(sum(area[k] for k in delivered), rel=1e-3)
    assert row.verified_m2 == pytest.approx(sum(area[k] for k in verified), rel=1e-3)
    assert row.delivered_mu == pytest.approx(row.delivered_m2 * 15 / 10000)
    assert row.planned_mu == pytest.approx(row.planned_m2 * 15 / 10000)
    data = row.as_dict("township")
    # Presented to the ten-thousandth of a mu; the row keeps the exact figure.
    assert data["planned_mu"] == round(row.planned_mu, 4)
    assert data["delivered_mu"] == round(row.delivered_mu, 4)
    # The district row is the same union: all of it lies in one township.
    (district,) = tally(session, by="district", kind="land", as_of=as_of)
    assert district.delivered_m2 == pytest.approx(row.delivered_m2, rel=1e-9)


def test_overlapping_parcels_count_once_in_planned_and_delivered(session, tmp_path):
    a = rectangle(XINDIAN, 0, 0, 200, 200)
    b = rectangle(XINDIAN, 100, 50, 200, 200)  # overlaps a by 100 m x 150 m
    _import(session, tmp_path, [a], ["A"], "a.gpkg", status="delivered")
    _import(session, tmp_path, [b], ["B"], "b.gpkg", status="planned")
    (row,) = tally(session, by="township", kind="land")
    union = independent_area_m2(a) + independent_area_m2(b) - 15_000
    assert row.planned_m2 == pytest.approx(union, rel=1e-3)
    assert row.delivered_m2 == pytest.approx(independent_area_m2(a), rel=1e-3)
    assert (row.planned_parcels, row.delivered_parcels, row.verified_parcels) == (2, 1, 0)


# --- cross-township support -----------------------------------------------------------------

H1 = rectangle(XINDIAN, 0, 0, 150, 100)
H2 = rectangle(XINDIAN, 500, 0, 120, 90)
H4 = rectangle(XINDIAN, 0, 500, 100, 100)
H3 = rectangle(GUSHAN, 0, 0, 140, 110)


@pytest.fixture
def supported(session, tmp_path):
    """新店镇 hosts H1 (helped by 鼓山镇), H2 (鼓山镇 and 岳峰镇), H4 (鼓山镇, only planned);
    鼓山镇 hosts H3 on its own. H1-H3 are verified."""
    _import(session, tmp_path, [H1, H2], ["H1", "H2"], "x.gpkg", status="verified",
            support=["鼓山镇", "鼓山镇、岳峰镇"])  # fmt: skip
    _import(session, tmp_path, [H4], ["H4"], "x4.gpkg", status="planned", support=["鼓山镇"])
    _import(session, tmp_path, [H3], ["H3"], "g.gpkg", township="鼓山镇", status="verified")
    redate(IN_2017, session)  # tallied for the 2017 campaign


def _a(*parcels) -> float:
    return sum(independent_area_m2(p) for p in parcels)


def _by_township(session, credit, **kw) -> dict:
    return {r.township: r for r in tally(session, by="township", kind="land", credit=credit, **kw)}


def test_host_credit_is_the_default(session, supported):
    rows = _by_township(session, "host")
    assert set(rows) == {"新店镇", "鼓山镇"}
    assert rows["新店镇"].verified_m2 == pytest.approx(_a(H1, H2), rel=1e-3)
    assert rows["新店镇"].planned_m2 == pytest.approx(_a(H1, H2, H4), rel=1e-3)
    assert rows["鼓山镇"].verified_m2 == pytest.approx(_a(H3), rel=1e-3)
    default = {r.township: r.verified_m2 for r in tally(session, by="township", kind="land")}
    assert default == {t: r.verified_m2 for t, r in rows.items()}


def test_helpers_credit_counts_the_parcels_each_township_helped_on(session, supported):
    rows = _by_township(session, "helpers")
    assert set(rows) == {"鼓山镇", "岳峰镇"}
    assert (rows["鼓山镇"].verified_parcels, rows["鼓山镇"].planned_parcels) == (2, 3)
    assert rows["鼓山镇"].verified_m2 == pytest.approx(_a(H1, H2), rel=1e-3)
    assert rows["鼓山镇"].planned_m2 == pytest.approx(_a(H1, H2, H4), rel=1e-3)
    assert rows["岳峰镇"].verified_parcels == 1
    assert rows["岳峰镇"].verified_m2 == pytest.approx(_a(H2), rel=1e-3)
    assert {r.credit for r in rows.values()} == {"helpers"}
    (district,) = tally(session, by="district", kind="land", credit="helpers")
    assert (district.verified_parcels, district.planned_parcels) == (2, 3)
    assert district.verified_m2 == pytest.approx(_a(H1, H2), rel=1e-3)


def test_all_credit_gives_host_and_helpers_the_full_area(session, supported):
    rows = _by_township(session, "all")
    assert set(rows) == {"新店镇", "鼓山镇", "岳峰镇"}
    assert rows["新店镇"].verified_m2 == pytest.approx(_a(H1, H2), rel=1e-3)
    assert rows["鼓山镇"].verified_parcels == 3
    assert rows["鼓山镇"].verified_m2 == pytest.approx(_a(H1, H2, H3), rel=1e-3)
    assert rows["鼓山镇"].planned_m2 == pytest.approx(_a(H1, H2, H3, H4), rel=1e-3)
    assert rows["岳峰镇"].verified_m2 == pytest.approx(_a(H2), rel=1e-3)
    # A district counts each parcel once, however many of its townships are credited.
    (district,) = tally(session, by="district", kind="land", credit="all")
    assert (district.verified_parcels, district.planned_parcels) == (3, 4)
    assert district.verified_m2 == pytest.approx(_a(H1, H2, H3), rel=1e-3)


def test_unknown_credit_is_refused(session):
    from geo_service.errors import InvalidInput

    with pytest.raises(InvalidInput, match="credit must be one of host, helpers, all"):
        tally(session, credit="everyone")


def test_support_links_pair_hosts_and_helpers(session, supported):
    links = {(x.host, x.helper): x for x in support_links(session, kind="land")}
    assert set(links) == {("新店镇", "鼓山镇"), ("新店镇", "岳峰镇")}
    gushan = links[("新店镇", "鼓山镇")]
    assert (gushan.district, gushan.kind, gushan.parcels, gushan.verified_parcels) == (
        "晋安区", "land", 3, 2,
    )  # fmt: skip
    assert gushan.verified_m2 == pytest.approx(_a(H1, H2), rel=1e-3)
    assert gushan.verified_mu == pytest.approx(_a(H1, H2) * 15 / 10000, rel=1e-3)
    yuefeng = links[("新店镇", "岳峰镇")]
    assert (yuefeng.parcels, yuefeng.verified_parcels) == (1, 1)
    assert yuefeng.verified_m2 == pytest.approx(_a(H2), rel=1e-3)
    assert support_links(session, kind="demolition") == []


def test_support_as_of_uses_the_support_recorded_at_that_version(session, tmp_path):
    _import(session, tmp_path, [H1], ["H1"], "v1.gpkg", status="verified", support=["鼓山镇"])
    # The same boundary re-uploaded: 岳峰镇, not 鼓山镇, helped.
    _import(session, tmp_path, [H1], ["H1"], "v2.gpkg", status="verified", support=["岳峰镇"])
    _backdate(session, _parcel(session, "H1").id, [1, 2])
    area = independent_area_m2(H1)

    def helpers(day):
        return {
            t: r.verified_m2
            for t, r in _by_township(session, "helpers", as_of=date(2017, 3, day)).items()
        }

    assert helpers(1) == {"鼓山镇": pytest.approx(area, rel=1e-3)}
    assert helpers(2) == {"岳峰镇": pytest.approx(area, rel=1e-3)}
    assert [(x.helper, x.parcels) for x in support_links(session, as_of=date(2017, 3, 1))] == [
        ("鼓山镇", 1)
    ]
    assert [x.helper for x in support_links(session)] == ["岳峰镇"]
    assert [v["supporters"] for v in history(session, _parcel(session, "H1"))] == [
        ["鼓山镇"],
        ["岳峰镇"],
    ]


# --- the migration from 0001 ---------------------------------------------------------------


@pytest.fixture
def scratch_url(db_url):
    with scratch_database(db_url, "migration") as url:
        yield url


_DATA_AT_0001 = """
INSERT INTO admin_units (id, code, name, level, parent_id, code_official, boundary_approximate)
VALUES (1, '350100', '福州市', 'city', NULL, true, false),
       (2, '350111', '晋安区', 'district', 1, true, false),
       (3, 'T1', '新店镇', 'township', 2, false, true),
       (4, 'T2', '鼓山镇', 'township', 2, false, true);
INSERT INTO projects (id, code, name) VALUES (1, 'JA-1', '测试项目');
INSERT INTO uploads (id, filename, kind, township_id, source_crs, actor, parcel_count, area_m2)
VALUES (1, 'old.gpkg', 'land', 3, 'EPSG:4549', 'old', 1, 100.0);
INSERT INTO parcels (id, code, kind, status, township_id, project_id, geom, area_m2, upload_id,
                     version, created_by, updated_by)
VALUES (1, 'OLD-1', 'land', 'delivered', 3, 1,
        ST_Multi(ST_MakeEnvelope(119.30, 26.15, 119.301, 26.151, 4490)), 100.0, 1, 2,
        'old', 'old');
INSERT INTO parcel_support (parcel_id, township_id) VALUES (1, 4);
INSERT INTO parcel_versions (parcel_id, version, change, code, kind, status, township_id,
                             project_id, geom, area_m2, upload_id, changed_by, valid_from, valid_to)
SELECT 1, v, CASE v WHEN 1 THEN 'created' ELSE 'changed' END, 'OLD-1', 'land',
       CASE v WHEN 1 THEN 'planned' ELSE 'delivered' END, 3, 1, geom, 100.0, 1, 'old',
       timestamptz '2017-03-01 12:00+08' + (v - 1) * interval '1 day',
       CASE v WHEN 1 THEN timestamptz '2017-03-02 12:00+08' END
FROM parcels, generate_series(1, 2) AS v;
"""


def test_a_populated_0001_database_upgrades_and_keeps_working(scratch_url):
    database.ensure_database(scratch_url)
    engine = database.get_engine(scratch_url)
    database.ensure_postgis(engine)
    config = database.alembic_config(scratch_url)
    command.upgrade(config, "0001")
    with engine.begin() as conn:
        conn.execute(text(_DATA_AT_0001))

    database.migrate(scratch_url)
    database.migrate(scratch_url)  # again: nothing to do
    columns = {c["name"] for c in inspect(engine).get_columns("parcel_versions")}
    assert {"note", "verified_by", "verified_area_m2", "flags", "support_ids"} <= columns
    with engine.connect() as conn:
        # Upgraded to the newest revision, whichever later migrations follow 0002.
        head = ScriptDirectory.from_config(config).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        rows = conn.execute(
            text("SELECT version, support_ids, flags FROM parcel_versions ORDER BY version")
        ).all()
        assert [tuple(r) for r in rows] == [(1, [4], []), (2, [4], [])]
        parcel = conn.execute(
            text("SELECT flags, verified_by, dispute_reason, version FROM parcels")
        ).one()
        assert tuple(parcel) == ([], None, None, 2)
        project = conn.execute(text("SELECT milestones, deadline, name FROM projects")).one()
        assert tuple(project) == ([], None, "测试项目")

    # The old data goes on through the new workflow.
    with database.session_scope(scratch_url) as session:
        done = verify(session, 1, "林志伟", "土地核验组", note="迁移后核验")
        assert (done.version, done.verified_area_m2) == (3, 100.0)
        versions = history(session, 1)
        assert [v["status"] for v in versions] == ["planned", "delivered", "verified"]
        assert versions[2]["supporters"] == ["鼓山镇"]
        assert versions[2]["valid_from"] == done.changed_at.isoformat()
        assert versions[1]["valid_to"] == done.changed_at.isoformat()

    # Down to 0001 and up again keeps the rows.
    command.downgrade(config, "0001")
    assert "support_ids" not in {c["name"] for c in inspect(engine).get_columns("parcel_versions")}
    database.migrate(scratch_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel_versions")).scalar() == 3
        assert (
            conn.execute(text("SELECT support_ids FROM parcel_versions")).scalars().all()
            == [[4]] * 3
        )


def test_existing_targets_get_their_first_version_on_upgrade(scratch_url):
    database.ensure_database(scratch_url)
    engine = database.get_engine(scratch_url)
    database.ensure_postgis(engine)
    command.upgrade(database.alembic_config(scratch_url), "0002")
    with engine.begin() as conn:
        conn.execute(text(_DATA_AT_0001.split("INSERT INTO parcels")[0]))
        conn.execute(
            text(
                "INSERT INTO targets (admin_unit_id, kind, year, amount_m2, unit, updated_by, "
                "updated_at) VALUES (2, 'land', 2017, 6000000, 'mu', '区攻坚办', "
                "'2017-01-10 09:00+08')"
            )
        )
    database.migrate(scratch_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT version, amount_m2, changed_by, valid_from, valid_to FROM target_versions")
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, 6_000_000, "区攻坚办", datetime(2017, 1, 10, 9, tzinfo=CAMPAIGN_TZ), None)
    ]
