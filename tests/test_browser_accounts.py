"""Signing in, signed out, and a hostile page on the intranet, in headless Chromium."""

from browser import sign_in
from conftest import TEST_PASSWORD, count_rows
from parcelfiles import XINDIAN, frame, rectangle, write
from sqlalchemy import text

from geo_service import database

pytest_plugins = ["browser"]


def _csrf_refusals() -> int:
    with database.get_engine().connect() as conn:
        query = "SELECT count(*) FROM audit_log WHERE action = 'csrf' AND outcome = 'refused'"
        return conn.execute(text(query)).scalar()


def test_signed_out_a_map_sends_you_to_sign_in_and_back(live_server, browser_page):
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server}/maps/progress?district=晋安区&kind=land")
    assert "/login" in page.url
    assert page.locator("form input[name=password]").count() == 1
    page.save_screenshot("sign-in-page")
    page.fill("input[name=username]", "leader_jinan")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "登录失败" in page.locator(".error").inner_text()
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("path.gs-township")
    assert "/maps/progress" in page.url
    assert page.locator("path.gs-township").count() == 9
    # The wrong password's 401 is the only thing that went wrong.
    assert all("401" in p and "/login" in p for p in page.problems()), page.problems()


def test_a_cross_origin_form_upload_stores_nothing(live_server, browser_page, tmp_path):
    page = browser_page
    sign_in(page, live_server, "officer_xd", TEST_PASSWORD)
    geojson = write(frame([rectangle(XINDIAN, 0, 0, 80, 60)], code=["EVIL"]),
                    tmp_path / "evil.geojson", 4326, "GeoJSON").read_text()  # fmt: skip
    # Another service on the same host (another port): the same site for the cookie, so
    # SameSite=Lax alone would let the browser send it.
    evil = "http://127.0.0.1:9/evil.html"
    # The classic attack: a page that submits a multipart form to the service, carrying a
    # file it made up (DataTransfer sets the file input from script).
    script = f"""
      const form = document.forms[0];
      const files = new DataTransfer();
      files.items.add(new File([{geojson!r}], "e.geojson", {{type: "application/geo+json"}}));
      form.elements.file.files = files.files;
      form.submit();
    """
    html = f"""<html><body>
      <form method="post" action="{live_server}/api/uploads" enctype="multipart/form-data">
        <input type="file" name="file"><input name="kind" value="land">
        <input name="township" value="新店镇"></form>
      <script>{script}</script></body></html>"""
    page.route(evil, lambda route: route.fulfill(body=html, content_type="text/html"))
    refusals, uploads = _csrf_refusals(), count_rows("uploads")
    page.goto(evil)
    page.wait_for_url(f"{live_server}/api/uploads")
    assert "CSRF" in page.locator("body").inner_text()
    assert count_rows("uploads") == uploads and count_rows("parcels") == 0
    assert _csrf_refusals() == refusals + 1, (page.requests, page.problems())
