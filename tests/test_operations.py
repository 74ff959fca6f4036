"""Operations: request ids and structured logs, security headers and the CSP of the map
pages, CORS off by default, formula-safe CSV, and the limits that keep one file from
making the service heavy for everyone."""

import base64
import csv
import hashlib
import io
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from conftest import auth, count_rows, shared_app
from fastapi.testclient import TestClient
from parcelfiles import XINDIAN, frame, independent_area_m2, rectangle, write
from pyproj import Transformer

from geo_service.api.app import create_app
from geo_service.parcels.reports import spreadsheet_safe
from geo_service.settings import get_settings


@pytest.fixture
def setting(monkeypatch):
    """Change a setting for one test."""

    def change(name: str, value: str):
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield change
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False, headers=auth("admin_t")) as c:
        yield c


def _upload(client, path, **fields):
    data = {"kind": "land", "township": "新店镇", **fields}
    files = {"file": (path.name, path.read_bytes())}
    return client.post("/api/uploads", files=files, data=data, headers=auth("land_all"))


def _circle(vertices: int, radius_m: float = 150.0):
    """A circle of `vertices` points around 新店镇, made in GK metres."""
    to_gk = Transformer.from_crs(4490, 4549, always_xy=True)
    back = Transformer.from_crs(4549, 4490, always_xy=True)
    x0, y0 = to_gk.transform(*XINDIAN)
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    lon, lat = back.transform(x0 + radius_m * np.cos(angles), y0 + radius_m * np.sin(angles))
    return shapely.Polygon(np.column_stack([lon, lat]))


# --- request ids and logs ------------------------------------------------------------------


def _log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_response_carries_a_request_id_and_keeps_the_callers(client):
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz").headers["x-request-id"])
    given = client.get("/healthz", headers={"X-Request-ID": "ops-42"})
    assert given.headers["x-request-id"] == "ops-42"
    odd = client.get("/healthz", headers={"X-Request-ID": "a b\tc" * 30})
    assert odd.headers["x-request-id"] != "a b\tc" * 30


def test_json_logs_one_line_per_refusal_and_verification(db, setting, capsys, tmp_path):
    setting("LOG_FORMAT", "json")
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        capsys.readouterr()
        headers = {"X-Request-ID": "req-1", **auth("leader_city")}
        refused = client.get("/api/tallies?year=1", headers=headers)
        assert refused.status_code == 422
        square = write(frame([rectangle(XINDIAN, 0, 0, 50, 50)], code=["L-1"]),
                       tmp_path / "l.geojson", 4326, "GeoJSON")  # fmt: skip
        assert _upload(client, square, status="delivered").status_code == 201
        verified = client.post(
            "/api/parcels/1/verify",
            json={"note": "现场核验"},
            headers={"X-Request-ID": "req-2", **auth("land_all")},
        )
        assert verified.status_code == 200
    lines = _log_lines(capsys.readouterr().err)
    refusal = [x for x in lines if x.get("request_id") == "req-1"]
    assert len(refusal) == 1
    assert refusal[0]["status"] == 422 and refusal[0]["path"] == "/api/tallies"
    assert (
        refusal[0]["message"] == "refused: query parameter year: must be a year from 1990 to 2100"
    )
    verification = [x for x in lines if x.get("request_id") == "req-2"]
    assert len(verification) == 1 and verification[0]["event"] == "verification"
    assert "L-1" in verification[0]["message"] and "land_all" in verification[0]["message"]


def test_a_bug_is_a_500_with_a_request_id_and_no_trace_in_the_response(db, setting, capsys):
    setting("LOG_FORMAT", "json")
    app = create_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("SELECT secret FROM somewhere")

    with TestClient(app, raise_server_exceptions=False) as client:
        capsys.readouterr()
        response = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (request id req-boom)"}
    assert response.headers["x-request-id"] == "req-boom"
    assert "frame-ancestors" in response.headers["content-security-policy"]
    assert "SELECT" not in response.text and "Traceback" not in response.text
    logged = [x for x in _log_lines(capsys.readouterr().err) if x.get("level") == "error"]
    assert logged and logged[0]["request_id"] == "req-boom"
    assert "RuntimeError" in logged[0]["exception"]


def test_plain_logs_by_default(db, capsys):
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        capsys.readouterr()
        client.get("/api/parcels/0", headers={"X-Request-ID": "plain-1", **auth("planner")})
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "plain-1" in x)
    assert "refused: path parameter parcel_id" in line and not line.startswith("{")


# --- security headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/healthz", "/api/tallies", "/api/tallies?year=1", "/nowhere", "/maps/progress"]
)
def test_security_headers_on_every_response(client, url):
    headers = client.get(url).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_the_map_pages_csp_names_exactly_their_inline_scripts(client):
    for url in ("/maps/progress", "/maps/support"):
        response = client.get(url)
        scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", response.text, re.S)
        assert scripts, "folium writes its set-up inline"
        expected = {
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in scripts
            if s.strip()
        }
        policy = response.headers["content-security-policy"]
        script_src = policy.split("script-src ")[1].split(";")[0].split()
        assert set(script_src) == {"'self'", *expected}
        assert not re.search(r"\son[a-z]+=", response.text), "no inline event handlers"


def test_cors_is_off_unless_configured(db, setting):
    with TestClient(shared_app(), headers=auth("planner")) as client:
        response = client.get("/api/tallies", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in response.headers
    setting("CORS_ORIGINS", "https://gis.intranet.example")
    with TestClient(create_app(), headers=auth("planner")) as client:
        allowed = client.get("/api/tallies", headers={"Origin": "https://gis.intranet.example"})
        other = client.get("/api/tallies", headers={"Origin": "https://elsewhere.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://gis.intranet.example"
    assert "access-control-allow-origin" not in other.headers


# --- formula-safe CSV ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("'=1", "''=1"),  # escaped already: escaped again, so an import gives it back
        ("'新店镇", "'新店镇"),
        ("新店镇", "新店镇"),
        (-2.5, -2.5),
        (None, None),
    ],
)
def test_spreadsheet_safe(value, safe):
    assert spreadsheet_safe(value) == safe


def test_the_problem_report_csv_escapes_formulas(client, tmp_path):
    code = '=HYPERLINK("http://evil.example","点击")'
    shapes = [rectangle(XINDIAN, 0, 0, 50, 50), rectangle(XINDIAN, 500, 0, 50, 50)]
    path = write(frame(shapes, code=[code, code]), tmp_path / "dup.geojson", 4326, "GeoJSON")
    response = _upload(client, path, report_format="csv")
    assert response.status_code == 422
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and all(r["code"] == "'" + code for r in rows if r["code"])
    cells = [cell for r in rows for cell in r.values() if cell]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)


# --- limits --------------------------------------------------------------------------------------


def test_a_parcel_over_the_vertex_limit_is_refused_naming_it(client, tmp_path):
    path = write(frame([_circle(25_000), rectangle(XINDIAN, 900, 0, 50, 50)], code=["BIG", "OK"]),
                 tmp_path / "big.geojson", 4326, "GeoJSON")  # fmt: skip
    response = _upload(client, path)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("big.geojson: feature 1 (BIG) has 25,001 vertices")
    assert "20,000 per parcel" in detail
    assert count_rows("uploads") == 0 and count_rows("parcels") == 0


def test_the_feature_limit_is_a_setting(client, setting, tmp_path):
    setting("MAX_FEATURES_PER_FILE", "2")
    shapes = [rectangle(XINDIAN, 200 * i, 0, 50, 50) for i in range(3)]
    path = write(frame(shapes, code=["A", "B", "C"]), tmp_path / "three.geojson", 4326, "GeoJSON")
    response = _upload(client, path)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "three.geojson: 3 features, more than the limit of 2 per file (MAX_FEATURES_PER_FILE); "
        "split the file, or an administrator loads it in bulk mode"
    )


def test_map_data_is_simplified_but_areas_are_not(client, tmp_path):
    circle = _circle(19_000)
    path = write(frame([circle], code=["ROUND"]), tmp_path / "round.geojson", 4326, "GeoJSON")
    assert _upload(client, path, status="verified").status_code == 201
    data = client.get("/maps/progress/data.json").json()
    drawn = data["parcels"]["features"][0]["geometry"]
    drawn_vertices = len(shapely.geometry.shape(drawn).exterior.coords)
    assert drawn_vertices < 500
    # Verified today: this year's tally counts it (a campaign year ends on 31 December).
    this_year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    params = {"by": "township", "kind": "land", "year": this_year}
    verified = client.get("/api/tallies", params=params).json()
    row = next(r for r in verified if r["township"] == "新店镇")
    assert row["verified_m2"] == pytest.approx(independent_area_m2(circle), rel=1e-4)
    tile = client.get("/tiles/14/13621/6958.pbf")
    assert tile.status_code == 200 and 0 < len(tile.content) < 20_000
