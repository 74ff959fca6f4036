"""Parallel clients against a running server (its own process, as the service's role):
concurrent uploads never both store overlapping verified parcels, concurrent changes of
one parcel never lose an update, and the tallies equal a recomputation afterwards."""

import json
import threading
from collections import Counter
from datetime import datetime

import httpx
import liveserver
import pytest
import shapely
from conftest import auth, count_rows
from parcelfiles import XINDIAN, frame, independent_area_m2, rectangle, write
from sqlalchemy import text

from geo_service import database
from geo_service.campaign.tallies import CAMPAIGN_TZ

CLIENTS = 8
SQUARE = rectangle(XINDIAN, 0, 0, 150, 150)


@pytest.fixture(scope="module")
def running_server(app_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    with liveserver.running(app_url, log) as running:
        yield running


@pytest.fixture
def server(db, running_server):
    """The running server over a database emptied for this test; every client below signs
    in as the land verifier of Jin'an's townships."""
    running_server.headers = auth("land_all")
    return running_server


def _client(server, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.headers, **kwargs)


def _at_once(server, calls) -> list[httpx.Response]:
    """Run every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        with _client(server, timeout=120) as client:
            barrier.wait()
            results[i] = call(client)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(r is not None for r in results), "a client did not finish"
    return results


def _upload_call(path, **fields):
    data = {"kind": "land", "township": "新店镇", "status": "verified", **fields}

    def call(client):
        with path.open("rb") as handle:
            return client.post("/api/uploads", files={"file": (path.name, handle)}, data=data)

    return call


def _files(tmp_path) -> list:
    """The same square, each file with its own parcel code."""
    return [
        write(frame([SQUARE], code=[f"SQ-{i}"]), tmp_path / f"sq{i}.geojson", 4326, "GeoJSON")
        for i in range(CLIENTS)
    ]


def _township_verified_m2(server) -> float:
    with _client(server) as client:
        # What was verified just now counts in this year's tally (China Standard Time).
        this_year = datetime.now(CAMPAIGN_TZ).year
        params = {"by": "township", "kind": "land", "year": this_year}
        rows = client.get("/api/tallies", params=params).json()
    return sum(r["verified_m2"] for r in rows if r["township"] == "新店镇")


def test_simultaneous_uploads_of_one_square_store_it_once(server, tmp_path):
    responses = _at_once(server, [_upload_call(f) for f in _files(tmp_path)])
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 422: CLIENTS - 1}, [r.text[:300] for r in responses]
    for refused in (r for r in responses if r.status_code == 422):
        rules = {p["rule"] for p in refused.json()["report"]["problems"]}
        assert "overlap_verified" in rules
    assert count_rows("parcels") == 1 and count_rows("uploads") == 1
    assert count_rows("parcel_versions") == 1 and count_rows("upload_files") == 1
    assert _township_verified_m2(server) == pytest.approx(independent_area_m2(SQUARE), rel=1e-3)


def test_simultaneous_uploads_accepting_overlaps_are_all_flagged_but_one(server, tmp_path):
    calls = [
        _upload_call(f, accept_overlaps="true", store_reason="共用道路") for f in _files(tmp_path)
    ]
    responses = _at_once(server, calls)
    assert Counter(r.status_code for r in responses) == {201: CLIENTS}
    with database.get_engine().connect() as conn:
        flags = conn.execute(text("SELECT code, flags FROM parcels ORDER BY id")).all()
    flagged = [code for code, found in flags if found]
    # Uploads were serialised: each saw every square stored before it.
    assert len(flags) == CLIENTS and len(flagged) == CLIENTS - 1
    overlaps = [len(found) for _, found in flags]
    assert sorted(overlaps) == list(range(CLIENTS))
    # Counted once: the union, not eight times the square.
    assert _township_verified_m2(server) == pytest.approx(independent_area_m2(SQUARE), rel=1e-3)


def _one_delivered_parcel(server, tmp_path) -> int:
    path = write(frame([SQUARE], code=["ONE"]), tmp_path / "one.geojson", 4326, "GeoJSON")
    with _client(server, timeout=60) as client:
        stored = _upload_call(path, status="delivered")(client)
        assert stored.status_code == 201, stored.text
        parcel = client.get("/api/parcels").json()["features"][0]
    return parcel["id"]


def _history(server, parcel_id) -> list[dict]:
    with _client(server) as client:
        return client.get(f"/api/parcels/{parcel_id}/history").json()


def _assert_consistent(history: list[dict]) -> None:
    """Versions 1..n, each valid until the next begins, the last one open."""
    assert [h["version"] for h in history] == list(range(1, len(history) + 1))
    for older, newer in zip(history, history[1:], strict=False):
        assert older["valid_to"] == newer["valid_from"]
    assert history[-1]["valid_to"] is None


def test_simultaneous_verifications_of_one_parcel_one_wins_the_rest_409(server, tmp_path):
    parcel_id = _one_delivered_parcel(server, tmp_path)
    url = f"/api/parcels/{parcel_id}/verify"
    calls = [
        (lambda c, i=i: c.post(url, json={"note": f"核验{i}", "version": 1}))
        for i in range(CLIENTS)
    ]
    responses = _at_once(server, calls)
    assert Counter(r.status_code for r in responses) == {200: 1, 409: CLIENTS - 1}
    winner = next(r.json() for r in responses if r.status_code == 200)
    history = _history(server, parcel_id)
    _assert_consistent(history)
    assert [h["status"] for h in history] == ["delivered", "verified"]
    assert history[-1]["note"] == winner["note"]
    assert _township_verified_m2(server) == pytest.approx(independent_area_m2(SQUARE), rel=1e-3)


def test_simultaneous_status_changes_lose_no_update(server, tmp_path):
    """Without a version, the first change wins and every other one is refused: 409 when it
    waited behind the winner, 400 when it came after and the move is no longer legal."""
    parcel_id = _one_delivered_parcel(server, tmp_path)
    with _client(server) as client:
        client.post(f"/api/parcels/{parcel_id}/verify", json={}).raise_for_status()
    url = f"/api/parcels/{parcel_id}/dispute"
    calls = [(lambda c, i=i: c.post(url, json={"reason": f"争议{i}"})) for i in range(CLIENTS)]
    responses = _at_once(server, calls)
    statuses = Counter(r.status_code for r in responses)
    assert statuses[200] == 1 and set(statuses) <= {200, 409, 400}, statuses
    assert statuses[409] >= 1, "no request waited behind the winner"
    winner = next(r.json() for r in responses if r.status_code == 200)
    history = _history(server, parcel_id)
    _assert_consistent(history)
    assert [h["status"] for h in history] == ["delivered", "verified", "disputed"]
    assert history[-1]["note"] == winner["note"] == winner["dispute_reason"]
    with _client(server) as client:
        parcel = client.get(f"/api/parcels/{parcel_id}").json()["properties"]
    assert parcel["dispute_reason"] == winner["dispute_reason"] and parcel["version"] == 3
    # Disputed counts for nothing: the tally agrees with the parcels as stored.
    assert _township_verified_m2(server) == 0.0


def test_tallies_equal_a_recomputation_after_concurrent_work(server, tmp_path):
    """Mixed concurrent uploads of disjoint and overlapping squares: the township's verified
    area equals the geodesic area of the union of what the register holds as verified."""
    shapes = [rectangle(XINDIAN, 120 * (i % 4), 90 * (i // 4), 150, 100) for i in range(CLIENTS)]
    paths = [
        write(frame([s], code=[f"MIX-{i}"]), tmp_path / f"mix{i}.geojson", 4326, "GeoJSON")
        for i, s in enumerate(shapes)
    ]
    kept = {"accept_overlaps": "true", "store_reason": "共用道路"}
    responses = _at_once(server, [_upload_call(p, **kept) for p in paths])
    assert Counter(r.status_code for r in responses) == {201: CLIENTS}
    with _client(server) as client:
        features = client.get("/api/parcels", params={"status": "verified"}).json()
    stored = [shapely.geometry.shape(f["geometry"]) for f in features["features"]]
    assert len(stored) == CLIENTS
    union = shapely.union_all([shapely.set_precision(s, 1e-9) for s in stored])
    assert _township_verified_m2(server) == pytest.approx(independent_area_m2(union), rel=1e-3)
    assert json.loads(json.dumps(features))  # the register reads back whole
