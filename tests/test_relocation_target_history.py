"""Relocation targets keep their history (migration 0032r): a tally for a past day uses
the target in force at its end, today's the current one; the history (library, command
line, API) lists every value with who set it and when; a database holding relocation
targets at 0031 upgrades to one version each."""

from datetime import date, datetime

import pytest
from alembic import command
from conftest import auth, shared_app
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from geo_service import database, exports
from geo_service.campaign.tallies import CAMPAIGN_TZ
from geo_service.cli import app
from geo_service.errors import InvalidInput
from geo_service.maps.relocation import relocation_data
from geo_service.relocation.tallies import set_target, tally, target_history

MARCH = datetime(2017, 3, 1, 10, tzinfo=CAMPAIGN_TZ)
JUNE = datetime(2017, 6, 15, 9, tzinfo=CAMPAIGN_TZ)
XINDIAN = {"district": "晋安区", "township": "新店镇", "year": 2017}


def _set(session, households, flats, m2, actor, now):
    return set_target(session, **XINDIAN, households=households, flats=flats, m2=m2,
                      actor=actor, now=now)  # fmt: skip


@pytest.fixture
def changed(session):
    """新店镇's 2017 target: 4 households, 5 flats, 500 m² from 1 March; 6, 8, 700 m² from
    15 June at 09:00 (China Standard Time)."""
    _set(session, 4, 5, 500.0, "区回迁办", MARCH)
    _set(session, 6, 8, 700.0, "林志伟", JUNE)
    session.commit()
    return session


def _target(session, as_of=None):
    rows = {r.township: r for r in tally(session, by="township", year=2017, as_of=as_of)}
    row = rows["新店镇"]
    return row.target_households, row.target_flats, row.target_m2


def test_a_past_day_is_measured_against_the_target_in_force_then(changed):
    session = changed
    assert _target(session, date(2017, 4, 30)) == (4, 5, 500.0)
    assert _target(session, date(2017, 6, 14)) == (4, 5, 500.0)
    # The change at 09:00 on 15 June is in force at the end of that day.
    assert _target(session, date(2017, 6, 15)) == (6, 8, 700.0)
    # Before it was first set, a target counts at its first value (as land targets do).
    assert _target(session, date(2017, 1, 15)) == (4, 5, 500.0)
    assert _target(session) == (6, 8, 700.0)  # today's view: the current value
    workbook = exports.tally_export(session, by="township", as_of=date(2017, 5, 1))
    sheet = {r["township"]: r for r in workbook.relocation}
    assert (sheet["新店镇"]["target_households"], sheet["新店镇"]["target_m2"]) == (4, 500.0)


def test_the_history_lists_every_value_with_who_and_when(changed):
    session = changed
    first, second = target_history(session, "晋安区", "新店镇", year=2017)
    assert (first["version"], first["households"], first["flats"], first["m2"]) == (1, 4, 5, 500)
    assert (first["changed_by"], first["valid_from"], first["valid_to"]) == (
        "区回迁办",
        MARCH,
        JUNE,
    )
    assert first["before"] is None
    assert (second["version"], second["households"], second["changed_by"]) == (2, 6, "林志伟")
    assert (second["valid_from"], second["valid_to"]) == (JUNE, None)
    assert second["before"] == {"households": 4, "flats": 5, "m2": 500.0}
    # The same value again is no change; a change dated before the current value is refused.
    _set(session, 6, 8, 700.0, "林志伟", datetime(2017, 7, 1, tzinfo=CAMPAIGN_TZ))
    assert len(target_history(session, "晋安区", "新店镇", year=2017)) == 2
    with pytest.raises(InvalidInput) as refused:
        _set(session, 7, 8, 700.0, "林志伟", datetime(2017, 5, 1, tzinfo=CAMPAIGN_TZ))
    assert refused.value.rule == "target_earlier"


def test_the_command_line_sets_and_shows_a_relocation_targets_history(session):
    runner = CliRunner()
    target = ["targets", "set", "--district", "晋安区", "--township", "新店镇",
              "--kind", "relocation", "--year", "2017"]  # fmt: skip
    for households in ("4", "6"):
        done = runner.invoke(app, [*target, "--households", households, "--as", "admin_t"])
        assert done.exit_code == 0, done.output
    ask = ["targets", "history", "--district", "晋安区", "--township", "新店镇",
           "--kind", "relocation", "--year", "2017"]  # fmt: skip
    shown = runner.invoke(app, ["--lang", "en", *ask])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("v1 ") and "4 households, — flats, — m²  by admin_t" in lines[0]
    assert lines[1].startswith("v2 ") and "6 households" in lines[1]
    chinese = runner.invoke(app, ["--lang", "zh_CN", *ask])
    assert chinese.exit_code == 0 and "6 户" in chinese.output, chinese.output
    missing = runner.invoke(app, [*ask[:-1], "2018"])
    assert missing.exit_code == 2 and "2018" in missing.output


def test_a_campaigns_own_relocation_target_has_its_own_history(session):
    """The campaign's own target and the year's are two histories; a tally of the
    campaign for a past day uses its own target's value then."""
    from geo_service.campaign import campaigns

    campaigns.create_campaign(
        session, name="冬春攻坚", first_day=date(2016, 11, 1), last_day=date(2017, 4, 30),
        actor="t",
    )  # fmt: skip
    own = {"district": "晋安区", "township": "新店镇", "campaign": "冬春攻坚"}
    set_target(session, **own, households=3, flats=None, m2=None, actor="区攻坚办",
               now=datetime(2016, 11, 2, tzinfo=CAMPAIGN_TZ))  # fmt: skip
    set_target(session, **own, households=5, flats=None, m2=None, actor="区攻坚办",
               now=datetime(2017, 1, 20, tzinfo=CAMPAIGN_TZ))  # fmt: skip
    set_target(session, **XINDIAN, households=9, flats=None, m2=None, actor="区回迁办",
               now=datetime(2017, 1, 2, tzinfo=CAMPAIGN_TZ))  # fmt: skip
    session.commit()

    def measured(as_of):
        rows = tally(session, by="township", campaign="冬春攻坚", as_of=as_of)
        return next(r for r in rows if r.township == "新店镇").target_households

    assert (measured(date(2016, 12, 31)), measured(date(2017, 1, 20))) == (3, 5)
    history = target_history(session, "晋安区", "新店镇", campaign="冬春攻坚")
    assert [(v["households"], v["changed_by"]) for v in history] == [
        (3, "区攻坚办"),
        (5, "区攻坚办"),
    ]
    ask = ["targets", "history", "--district", "晋安区", "--township", "新店镇",
           "--kind", "relocation"]  # fmt: skip
    shown = CliRunner().invoke(app, ["--lang", "en", *ask, "--campaign", "冬春攻坚"])
    assert shown.exit_code == 0 and shown.output.count("\n") == 2, shown.output
    assert "5 households" in shown.output and "9 households" not in shown.output
    wrong = CliRunner().invoke(
        app, ["--lang", "zh_CN", *ask, "--campaign", "冬春攻坚", "--year", "2017"]
    )
    assert wrong.exit_code == 2 and "target_campaign_year" in wrong.output, wrong.output


def test_the_command_line_still_shows_a_land_targets_history(session):
    runner = CliRunner()
    target = ["targets", "set", "--district", "晋安区", "--kind", "land", "--year", "2017"]
    for mu in ("100", "120"):
        assert runner.invoke(app, [*target, "--mu", mu, "--as", "admin_t"]).exit_code == 0
    shown = runner.invoke(
        app, ["targets", "history", "--district", "晋安区", "--kind", "land", "--year", "2017"]
    )
    assert shown.exit_code == 0, shown.output
    assert "v1" in shown.output and "120.0000 mu" in shown.output


def test_the_api_shows_a_relocation_targets_history_and_past_days(changed):
    query = {"district": "晋安区", "township": "新店镇", "year": 2017}
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        answer = client.get(
            "/api/relocation/targets/history", params=query, headers=auth("leader_city")
        )
        assert answer.status_code == 200, answer.text
        versions = answer.json()
        assert [(v["version"], v["households"], v["changed_by"]) for v in versions] == [
            (1, 4, "区回迁办"),
            (2, 6, "林志伟"),
        ]
        assert datetime.fromisoformat(versions[0]["valid_to"]) == JUNE
        assert versions[1]["before"]["households"] == 4 and versions[1]["valid_to"] is None
        none = client.get(
            "/api/relocation/targets/history", params={**query, "year": 2018},
            headers=auth("leader_city"),
        )  # fmt: skip
        assert none.status_code == 404, none.text
        unnamed = client.get(
            "/api/relocation/targets/history", params={"district": "晋安区"},
            headers=auth("leader_city"),
        )  # fmt: skip
        assert unnamed.status_code == 400 and "the campaign (or its year)" in unnamed.text
        for as_of, expected in (("2017-05-01", 4), (None, 6)):
            day = {"as_of": as_of} if as_of else {}
            tallied = client.get(
                "/api/relocation/tallies", params={"year": 2017, **day},
                headers=auth("leader_city"),
            )  # fmt: skip
            row = next(r for r in tallied.json() if r["township"] == "新店镇")
            assert row["target_households"] == expected, (as_of, row)


# Reference units and two relocation targets as a 0031 database holds them: the year's
# (recorded on 10 January) and a campaign's own.
_AT_0031 = """
INSERT INTO admin_units (id, code, name, level, parent_id, code_official, boundary_approximate)
VALUES (1, '350100', '福州市', 'city', NULL, true, false),
       (2, '350111', '晋安区', 'district', 1, true, false),
       (3, 'T1', '新店镇', 'township', 2, false, true);
INSERT INTO campaigns (id, name, first_day, last_day, created_by)
VALUES (1, '冬春攻坚', '2016-11-01', '2017-04-30', 't');
INSERT INTO relocation_targets (admin_unit_id, year, campaign_id, households, flats,
                                floor_area_m2, updated_by, updated_at)
VALUES (3, 2017, NULL, 4, 5, 500, '区回迁办', '2017-01-10 09:00+08'),
       (3, 2016, 1, 3, NULL, NULL, '区攻坚办', '2016-11-02 10:00+08');
"""


@pytest.fixture
def scratch_url(db_url):
    from conftest import scratch_database

    with scratch_database(db_url, "reloc_migration") as url:
        yield url


def test_relocation_targets_on_record_get_their_first_version_on_upgrade(scratch_url):
    database.ensure_database(scratch_url)
    engine = database.get_engine(scratch_url)
    database.ensure_postgis(engine)
    config = database.alembic_config(scratch_url)
    command.upgrade(config, "0031_unlocked_and_targets")
    with engine.begin() as conn:
        conn.execute(text(_AT_0031))
    database.migrate(scratch_url)
    versions = """SELECT target_id, version, households, flats, floor_area_m2, changed_by,
                         valid_from, valid_to
                  FROM relocation_target_versions ORDER BY target_id, version"""
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(versions))]
    assert rows == [
        (1, 1, 4, 5, 500.0, "区回迁办", datetime(2017, 1, 10, 9, tzinfo=CAMPAIGN_TZ), None),
        (2, 1, 3, None, None, "区攻坚办", datetime(2016, 11, 2, 10, tzinfo=CAMPAIGN_TZ), None),
    ]
    # A change after the upgrade appends the second version and closes the first.
    with database.session_scope(scratch_url) as session:
        _set(session, 6, 5, 500.0, "林志伟", JUNE)
        assert _target(session, date(2017, 3, 1)) == (4, 5, 500.0)
        assert _target(session) == (6, 5, 500.0)
    with engine.connect() as conn:
        closed = conn.execute(text(versions)).all()
    assert [(r.version, r.valid_to) for r in closed if r.target_id == 1] == [(1, JUNE), (2, None)]
    # Down to 0031 and up again: the targets stay, each with one version again.
    command.downgrade(config, "0031_unlocked_and_targets")
    database.migrate(scratch_url)
    with engine.connect() as conn:
        again = conn.execute(text(versions)).all()
    assert [(r.target_id, r.version, r.households) for r in again] == [(1, 1, 6), (2, 1, 3)]
    engine.dispose()


def test_the_relocation_map_measures_a_campaign_against_its_own_target(session):
    """A second campaign of 2017 with a target of its own: the map's district summary
    counts that target, not the year's (which the year's default campaign uses)."""
    from geo_service.campaign import campaigns

    campaigns.create_campaign(
        session, name="夏季攻坚", first_day=date(2017, 6, 1), last_day=date(2017, 9, 30),
        actor="t",
    )  # fmt: skip
    set_target(session, district="晋安区", township=None, year=2017, households=90,
               flats=None, m2=None, actor="区回迁办",
               now=datetime(2017, 1, 2, tzinfo=CAMPAIGN_TZ))  # fmt: skip
    set_target(session, district="晋安区", township=None, campaign="夏季攻坚", households=40,
               flats=None, m2=None, actor="区攻坚办",
               now=datetime(2017, 6, 1, tzinfo=CAMPAIGN_TZ))  # fmt: skip
    session.commit()
    day = date(2017, 7, 1)

    def district_target(**chosen):
        rows = tally(session, by="district", as_of=day, district="晋安区", **chosen)
        return rows[0].target_households

    assert (district_target(campaign="夏季攻坚"), district_target(year=2017)) == (40, 90)
    shown = relocation_data(session, "晋安区", campaign="夏季攻坚", as_of=day)
    assert shown["summary"]["campaign"] == "夏季攻坚"
    assert shown["summary"]["target_households"] == 40
