"""Today's tallies come from totals the database keeps on every write (migration 0009),
and past days' and helpers' from the history with the parcels that ever overlapped kept
in advance (migration 0018): after random sequences of uploads, re-uploads,
verifications, disputes, returns and withdrawals, spread over days, both must equal the
full recomputation from the history, figure for figure."""

import contextlib
import random
from datetime import date, datetime, timedelta

import pytest
from conftest import redate
from parcelfiles import GUSHAN, XINDIAN, frame, rectangle, write
from sqlalchemy import select, text

from geo_service.campaign.campaigns import create_campaign
from geo_service.campaign.tallies import CAMPAIGN_TZ, CREDITS, GROUPINGS, tally
from geo_service.errors import GeoServiceError, UploadRefused
from geo_service.models import Parcel
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import allowed_targets, dispute, set_status, verify, withdraw

YEAR = datetime.now(CAMPAIGN_TZ).year
PLACES = {"新店镇": XINDIAN, "鼓山镇": GUSHAN}
GROUP = {"land": "土地核验组", "demolition": "拆迁核验组"}


def _figures(session, maintained: bool, **kw) -> list[tuple]:
    rows = tally(session, maintained=maintained, **kw)
    return [
        (
            r.district, r.township, r.project, r.kind, r.verified_parcels, r.planned_parcels,
            r.delivered_parcels, r.verified_m2, r.planned_m2, r.delivered_m2, r.target_m2,
        )
        for r in rows
    ]  # fmt: skip


def _assert_same(session, **kw) -> None:
    """Counts and targets equal; areas equal but for float rounding (the totals add exact
    decimals, the full computation float8 in whatever order the rows come; unions taken
    overlap group by group node the outlines in another order than one union of all, a
    difference of the order of 10⁻⁴ m², where figures are shown to 0.01 m²)."""
    maintained, full = _figures(session, True, **kw), _figures(session, False, **kw)
    assert len(maintained) == len(full), (kw, maintained, full)
    for a, b in zip(maintained, full, strict=True):
        assert a[:7] == b[:7] and a[10] == b[10], (kw, a, b)
        assert a[7:10] == pytest.approx(b[7:10], rel=1e-9, abs=1e-3), (kw, a, b)


def assert_maintained_equals_full(session, campaigns=()) -> None:
    session.flush()
    for by in GROUPINGS:
        for kind in (None, "land"):
            for year in (YEAR, 2017):
                _assert_same(session, by=by, kind=kind, year=year)
        # One district's rows (the maps): its city row unions that district's parcels only.
        _assert_same(session, by=by, year=YEAR, district="晋安区")
        # Campaigns of any first and last day: the totals are kept by the day.
        for name in campaigns:
            _assert_same(session, by=by, campaign=name)


def _campaign(session, name: str, first: date, last: date) -> str:
    create_campaign(session, name=name, first_day=first, last_day=last, actor="tests")
    return name


_TOTALS = (
    "SELECT township_id, kind, project_id, status, verified_day::text, parcels, area_m2 "
    "FROM tally_totals WHERE parcels <> 0 ORDER BY 1,2,3,4,5"
)


def assert_history_equals_full(session, days) -> None:
    """Past days (each as at its end) under every credit, from the stored flags."""
    session.flush()
    for day in days:
        for by in GROUPINGS:
            for credit in CREDITS:
                _assert_same(session, by=by, as_of=day, credit=credit)


def _upload(session, rng: random.Random, tmp_path, step: int, now=None) -> None:
    township = rng.choice(list(PLACES))
    kind = rng.choice(["land", "land", "land", "demolition"])
    count = rng.randint(1, 4)
    # A small lattice with 50–90 m squares on a 60 m pitch: neighbours often overlap, and
    # codes from a small pool make many uploads re-surveys of stored parcels.
    polygons = [
        rectangle(
            PLACES[township],
            rng.randrange(5) * 60,
            rng.randrange(4) * 60,
            rng.choice([50, 70, 90]),
            rng.choice([50, 70, 90]),
        )  # fmt: skip
        for _ in range(count)
    ]
    codes = rng.sample([f"R{i}" for i in range(12)], count)
    # Cross-township support, changing from one re-upload to the next.
    helpers = [h for h in (*PLACES, "岳峰镇") if h != township]
    support = [rng.choice(["", "", helpers[0], "、".join(helpers)]) for _ in range(count)]
    path = write(frame(polygons, code=codes, support=support), tmp_path / f"u{step}.geojson")
    options = ImportOptions(
        kind=kind,
        township=township,
        status=rng.choice([None, "planned", "delivered", "verified"]),
        accept_overlaps=rng.random() < 0.7,
        accept_valid=rng.random() < 0.5,
        actor="测绘队",
        verifier_group=None,
        recorded_at=now,
    )
    # A refused file writes nothing: the totals must not move either.
    with contextlib.suppress(UploadRefused):
        import_file(session, path, options)


def _workflow(session, rng: random.Random, now=None) -> None:
    parcels = session.scalars(select(Parcel).where(Parcel.status != "withdrawn")).all()
    if not parcels:
        return
    parcel = rng.choice(parcels)
    roll = rng.random()
    try:
        if roll < 0.05:
            withdraw(session, parcel, "重复登记", actor="管理员", now=now)
        elif parcel.status in ("delivered", "demolished") and roll < 0.6:
            verify(session, parcel, "林志伟", GROUP[parcel.kind], now=now)
        elif parcel.status == "verified" and roll < 0.6:
            dispute(session, parcel, "界址有争议", actor="村委", now=now)
        else:
            targets = [t for t in allowed_targets(parcel.status, parcel.kind) if t != "verified"]
            if targets:
                # Forward moves and returns (a return needs its reason: the note).
                set_status(session, parcel, rng.choice(targets), actor="办公室", note="退回重做",
                           now=now)  # fmt: skip
    except GeoServiceError:
        pass


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_maintained_tallies_equal_the_full_recomputation(session, tmp_path, seed):
    rng = random.Random(seed)
    today = datetime.now(CAMPAIGN_TZ).date()
    # A hundred days holding today, and one that ended yesterday (nothing verified in it);
    # the year's own campaign beside them is what `year=` names.
    _campaign(session, f"攻坚{YEAR}", date(YEAR, 1, 1), date(YEAR, 12, 31))
    campaigns = (
        _campaign(session, "百日攻坚", today - timedelta(days=60), today + timedelta(days=39)),
        _campaign(session, "上一期", today - timedelta(days=120), today - timedelta(days=1)),
    )
    for step in range(40):
        if rng.random() < 0.4:
            _upload(session, rng, tmp_path, step)
        else:
            _workflow(session, rng)
        if step % 4 == 3:
            assert_maintained_equals_full(session)
    assert_maintained_equals_full(session, campaigns)
    stored = session.execute(text("SELECT count(*) FROM parcels WHERE overlapping")).scalar()
    assert stored > 0, "the sequence made no overlaps: it would not test the unions"
    # The totals kept step by step are the totals counted afresh.
    kept = session.execute(text(_TOTALS)).all()
    session.execute(text("SELECT tally_rebuild()"))
    again = session.execute(text(_TOTALS)).all()
    assert kept == again
    # So are the overlap groups and their unions.
    groups = "SELECT * FROM overlap_areas ORDER BY level, unit_id, project_id, group_id, 7"
    kept = session.execute(text(groups)).all()
    assert kept, "the sequence made no overlap groups"
    session.execute(text("SELECT overlap_groups_rebuild()"))
    again = session.execute(text(groups)).all()
    assert [r[:8] for r in kept] == [r[:8] for r in again]
    assert [r[8:] for r in kept] == [pytest.approx(r[8:], rel=1e-12) for r in again]


def test_back_dated_history_is_counted_afresh(session, tmp_path):
    path = write(frame([rectangle(XINDIAN, 0, 0, 80, 60)], code=["B1"]), tmp_path / "b.geojson")
    import_file(session, path, ImportOptions(kind="land", township="新店镇", status="verified"))
    redate(datetime(2017, 5, 2, 10, tzinfo=CAMPAIGN_TZ), session)
    _assert_same(session, by="township", year=2017)
    assert _figures(session, True, by="township", year=2017)[0][4] == 1


def test_a_past_day_and_other_credits_are_counted_from_the_history(session, tmp_path):
    path = write(frame([rectangle(XINDIAN, 0, 0, 80, 60)], code=["P1"]), tmp_path / "p.geojson")
    import_file(session, path, ImportOptions(kind="land", township="新店镇", status="verified"))
    session.execute(text("UPDATE tally_totals SET parcels = parcels + 5"))  # spoilt on purpose
    today = _figures(session, True, by="township", year=YEAR)
    assert today[0][4] == 6  # read from the (spoilt) totals: proof they are used
    day = datetime.now(CAMPAIGN_TZ).date()
    past = tally(session, by="township", year=YEAR, as_of=day)
    helpers = tally(session, by="township", year=YEAR, credit="all")
    assert past[0].verified_parcels == 1 and helpers[0].verified_parcels == 1


def test_a_past_day_counts_the_verifications_of_its_year_only(session, tmp_path):
    def upload(code: str, x: int) -> None:
        polygon = [rectangle(XINDIAN, x, 0, 80, 60)]
        path = write(frame(polygon, code=[code]), tmp_path / f"{code}.geojson")
        import_file(session, path, ImportOptions(kind="land", township="新店镇", status="verified"))

    upload("LAST", 0)
    redate(datetime(YEAR - 1, 12, 30, 10, tzinfo=CAMPAIGN_TZ), session)
    upload("THIS", 200)
    today = datetime.now(CAMPAIGN_TZ).date()
    for year, day in ((YEAR, today), (YEAR - 1, date(YEAR - 1, 12, 31))):
        _assert_same(session, by="township", year=year, as_of=day)
    this_year = _figures(session, True, by="township", year=YEAR, as_of=today)[0]
    last_year = _figures(session, True, by="township", year=YEAR - 1, as_of=date(YEAR - 1, 12, 31))
    assert this_year[4:6] == (1, 2)  # verified this year: one of the two on record
    assert last_year[0][4:6] == (1, 1)


@pytest.mark.parametrize("seed", [5, 6])
def test_past_days_and_helper_credit_equal_the_full_recomputation(session, tmp_path, seed):
    """One write a day from mid-December of last year: each past day (before, between and
    after the writes, across the new year) and each credit equals the full computation."""
    rng = random.Random(seed)
    start = datetime(YEAR - 1, 12, 20, 10, tzinfo=CAMPAIGN_TZ)
    days = []
    for step in range(36):
        now = start + timedelta(days=step)
        if rng.random() < 0.45:
            _upload(session, rng, tmp_path, step, now=now)
        else:
            _workflow(session, rng, now=now)
        if step % 12 == 11:
            days = [start.date() - timedelta(days=1), now.date(), (now - timedelta(days=5)).date()]
            assert_history_equals_full(session, days)
    assert_history_equals_full(session, [start.date() + timedelta(days=d) for d in (3, 11, 12)])
    # Today's figures of a campaign whose days cut through the writes (across the new year).
    first, last = start.date() + timedelta(days=7), start.date() + timedelta(days=25)
    cut = _campaign(session, "跨年攻坚", first, last)
    for by in GROUPINGS:
        _assert_same(session, by=by, campaign=cut)
    assert any(r.verified_parcels for r in tally(session, by="city", campaign=cut)), (
        "nothing verified within the campaign's days: its boundaries untested"
    )
    kept = session.execute(text("SELECT parcel_id FROM overlapped_parcels ORDER BY 1")).all()
    assert kept, "the sequence made no overlaps: it would not test the unions"
    helped = session.execute(text("SELECT count(*) FROM parcel_versions WHERE support_ids <> '{}'"))
    assert helped.scalar() > 0, "the sequence recorded no support: helper credit untested"
    # Every parcel the full join of the history finds overlapping was kept write by write.
    session.execute(text("SELECT overlapped_rebuild()"))
    again = session.execute(text("SELECT parcel_id FROM overlapped_parcels ORDER BY 1")).all()
    assert set(again) <= set(kept), "a parcel that overlapped was not kept"


def test_parcels_never_current_together_are_not_unioned(session, tmp_path):
    """B overlaps A's first outline only; A is re-surveyed away before B exists. They were
    never current together, so neither is kept as overlapping, and every day's figures
    equal the full computation."""
    first = datetime(YEAR, 3, 1, 10, tzinfo=CAMPAIGN_TZ)
    for day, code, polygon in (
        (first, "A", rectangle(XINDIAN, 0, 0, 80, 60)),
        (first + timedelta(days=2), "A", rectangle(XINDIAN, 200, 0, 80, 60)),
        (first + timedelta(days=4), "B", rectangle(XINDIAN, 40, 0, 80, 60)),
    ):
        path = write(frame([polygon], code=[code]), tmp_path / f"{code}{day.day}.geojson")
        options = ImportOptions(kind="land", township="新店镇", status="verified",
                                accept_overlaps=True, recorded_at=day)  # fmt: skip
        import_file(session, path, options)
    assert session.execute(text("SELECT count(*) FROM overlapped_parcels")).scalar() == 0
    assert_history_equals_full(session, [first.date() + timedelta(days=d) for d in range(6)])
    rows = tally(session, by="township", as_of=(first + timedelta(days=5)).date())
    assert rows[0].verified_parcels == 2
    assert rows[0].verified_m2 == pytest.approx(2 * 80 * 60, rel=1e-3)
