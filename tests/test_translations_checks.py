"""pydantic's own checks of a request (a number, a choice, a limit, a day, a missing field,
unreadable JSON) said in the reader's language: on a page, Chinese first, English on request;
through the API, `said` in the caller's language beside the English `detail` programs read,
which stays exactly pydantic's."""

import re
from datetime import date
from enum import StrEnum
from html import unescape
from typing import Annotated, Literal

import pytest
from conftest import auth, shared_app, signed_in_page
from fastapi import Body, FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from pydantic import AfterValidator

from geo_service.api import handlers

PAGE = {"Accept": "text/html"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


class Kind(StrEnum):
    land = "land"
    demolition = "demolition"


def _odd(value: int | None) -> int | None:
    if value is not None and value % 2 == 0:
        raise ValueError("must be odd")
    return value


def _probe_app() -> FastAPI:
    """One route of every kind of parameter, as a page (/parcels…) and as the API, with the
    service's own handler for pydantic's refusals."""
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, handlers.invalid_request)

    def probe(
        n: int,
        need: str,
        x: float | None = None,
        flag: bool | None = None,
        choice: Literal["land", "demolition"] | None = None,
        kind: Kind | None = None,
        level: Annotated[str, Query(pattern="^(township|district)$")] = "township",
        page: Annotated[int, Query(ge=0, le=10)] = 0,
        q: Annotated[str, Query(max_length=4)] = "",
        day: date | None = None,
        odd: Annotated[int | None, AfterValidator(_odd)] = None,
    ):
        return {"n": n}

    def body(day: Annotated[date, Body(embed=True)]):
        return {"day": str(day)}

    for prefix in ("/parcels-probe", "/api/probe"):
        app.get(prefix + "/{n}")(probe)
        app.post(prefix + "/body")(body)
    return app


# Each check: the address (after /parcels-probe or /api/probe), pydantic's English detail,
# the Chinese and the English the reader sees.
CASES = {
    "int_parsing": ("/abc?need=1", "path parameter n: Input should be a valid integer",
                    "n：'abc' 不是整数", "n: 'abc' is not a whole number"),
    "float_parsing": ("/1?need=1&x=wide", "query parameter x: Input should be a valid number",
                      "x：'wide' 不是数字", "x: 'wide' is not a number"),
    "bool_parsing": ("/1?need=1&flag=maybe", "query parameter flag: Input should be a valid "
                     "boolean", "flag：'maybe' 既不是“是”也不是“否”（请写 true 或 false）",
                     "flag: 'maybe' is neither true nor false"),
    "literal_error": ("/1?need=1&choice=roads", "query parameter choice: Input should be "
                      "'land' or 'demolition'", "choice：只能是 'land', 'demolition' 之一，不能是 "
                      "'roads'", "choice: must be one of 'land', 'demolition', not 'roads'"),
    "enum": ("/1?need=1&kind=roads", "query parameter kind: Input should be 'land' or "
             "'demolition'", "kind：只能是 'land', 'demolition' 之一，不能是 'roads'",
             "kind: must be one of 'land', 'demolition', not 'roads'"),
    "string_pattern_mismatch": ("/1?need=1&level=city", "query parameter level: String should "
                                "match pattern '^(township|district)$'", "level：只能是 "
                                "'township', 'district' 之一，不能是 'city'",
                                "level: must be one of 'township', 'district', not 'city'"),
    "greater_than_equal": ("/1?need=1&page=-1", "query parameter page: Input should be greater "
                           "than or equal to 0", "page：不能小于 0（现在是 -1）",
                           "page: must be at least 0, not -1"),
    "less_than_equal": ("/1?need=1&page=11", "query parameter page: Input should be less than "
                        "or equal to 10", "page：不能大于 10（现在是 11）",
                        "page: must be at most 10, not 11"),
    "missing": ("/1", "query parameter need: Field required", "need：必须填写，但没有给出",
                "need: needed, but not given"),
    "string_too_long": ("/1?need=1&q=abcdef", "query parameter q: String should have at most 4 "
                        "characters", "q：最多 4 个字符，这里有 6 个",
                        "q: at most 4 characters, this one has 6"),
    "date_from_datetime_parsing": ("/1?need=1&day=2017-13-01", "query parameter day: Input "
                                   "should be a valid date or datetime, month value is outside "
                                   "expected range of 1-12", "day：'2017-13-01' 不是日期（请写作 "
                                   "2017-06-30）", "day: '2017-13-01' is not a day (write "
                                   "2017-06-30)"),
    "date_from_datetime_inexact": ("/1?need=1&day=2017-06-30T10:00", "query parameter day: "
                                   "Datetimes provided to dates should have zero time - e.g. be "
                                   "exact dates", "day：'2017-06-30T10:00' 带有时刻，请只写日期",
                                   "day: '2017-06-30T10:00' has a time of day"),
}  # fmt: skip


def _page_error(response) -> str:
    assert response.status_code == 422 and "text/html" in response.headers["content-type"]
    return unescape(re.search(r'<p class="error"[^>]*>(.*?)</p>', response.text, re.S).group(1))


@pytest.mark.parametrize("check", sorted(CASES))
def test_pydantics_checks_are_said_on_a_page_and_through_the_api(check):
    address, detail, chinese, english = CASES[check]
    with TestClient(_probe_app(), raise_server_exceptions=False) as client:
        zh = _page_error(client.get("/parcels-probe" + address, headers=PAGE))
        assert chinese in zh and "Input should" not in zh, zh
        assert zh.startswith("填写有误或文件未被接受"), zh
        english_page = "/parcels-probe" + address + ("&" if "?" in address else "?") + "lang=en"
        en = _page_error(client.get(english_page, headers=PAGE))
        assert english in en and not _CHINESE.search(en), en
        client.cookies.clear()  # the page's ?lang=en is kept as the lang cookie
        plain = client.get("/api/probe" + address)
        assert plain.status_code == 422 and plain.json() == {"detail": plain.json()["detail"]}
        assert plain.json()["detail"].startswith(detail), plain.json()
        for headers, words in ((ZH, chinese), (EN, english)):
            said = client.get("/api/probe" + address, headers=headers).json()
            assert said["detail"] == plain.json()["detail"]  # programs read it as before
            assert words in said["said"], said


def test_unreadable_json_and_a_wrong_body_are_said_too():
    with TestClient(_probe_app(), raise_server_exceptions=False) as client:
        broken = {"Content-Type": "application/json"}
        plain = client.post("/api/probe/body", content=b'{"day": ', headers=broken).json()
        assert plain["detail"].startswith("field 8: JSON decode error"), plain
        zh = client.post("/api/probe/body", content=b'{"day": ', headers={**broken, **ZH}).json()
        assert zh["detail"] == plain["detail"]
        assert "请求正文不是有效的 JSON（约在第 8 个字符处）" in zh["said"], zh
        en = client.post("/api/probe/body", content=b'{"day": ', headers={**broken, **EN}).json()
        assert "the request's body is not valid JSON (near character 8)" in en["said"], en
        missing = client.post("/api/probe/body", json={}, headers=ZH).json()
        assert missing["detail"] == "field day: Field required", missing
        assert "day：必须填写，但没有给出" in missing["said"], missing
        day = client.post("/api/probe/body", json={"day": "soon"}, headers=EN).json()
        assert "day: 'soon' is not a day (write 2017-06-30)" in day["said"], day
        # A check the pages have no words for is shown as it says itself, not lost.
        odd = client.get("/api/probe/1?need=1&odd=2", headers=ZH).json()
        assert odd["detail"] == "query parameter odd: must be odd", odd
        assert odd["said"] == "填写有误：query parameter odd: must be odd", odd


def test_the_services_own_pages_and_api_say_pydantics_checks(db):
    page = signed_in_page("leader_city")
    for path, chinese, english in (
        ("/uploads/abc", "upload_id：'abc' 不是整数", "upload_id: 'abc' is not a whole number"),
        ("/parcels?page=-1", "page：不能小于 0（现在是 -1）", "page: must be at least 0, not -1"),
        ("/parcels?page=10001", "page：不能大于 10000", "page: must be at most 10000, not 10001"),
        ("/parcels?flagged=maybe", "flagged：'maybe' 既不是", "flagged: 'maybe' is neither"),
        ("/parcels?q=" + "x" * 65, "q：最多 64 个字符，这里有 65 个", "q: at most 64 characters"),
        ("/rankings?level=city", "level：只能是 'township', 'district' 之一",
         "level: must be one of 'township', 'district', not 'city'"),
    ):  # fmt: skip
        zh = _page_error(page.get(path, headers=PAGE))
        assert chinese in zh and "Input should" not in zh and "String should" not in zh, zh
        en = _page_error(page.get(path + ("&" if "?" in path else "?") + "lang=en", headers=PAGE))
        assert english in en and not _CHINESE.search(en), en
        page.cookies.delete("lang")  # back to the pages' first language
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        who = auth("land_all")
        plain = client.get("/api/field/bundle?parcels=all", headers=who).json()
        assert plain["detail"] == (
            "query parameter parcels: Input should be 'geojson' or 'compact'"
        ), plain
        said = client.get("/api/field/bundle?parcels=all", headers={**who, **ZH}).json()
        assert said["detail"] == plain["detail"]
        assert "parcels：只能是 'geojson', 'compact' 之一，不能是 'all'" in said["said"], said
        dispute = client.post("/api/parcels/1/dispute", json={"note": "x"}, headers={**who, **EN})
        assert dispute.json()["detail"] == "field reason: Field required"
        assert "reason: needed, but not given" in dispute.json()["said"], dispute.json()


def test_years_days_and_quarters_miswritten_are_said_in_the_readers_language(db):
    """The service's own checks of a year, a day or a quarter (periods.py) are said from their
    rule too; the API's detail stays as it was."""
    page = signed_in_page("leader_city")
    for path, chinese, english in (
        ("/public?year=1800", "year：年份须在 1990 至 2100 之间，不能是 1800",
         "year: must be a year from 1990 to 2100, not 1800"),
        ("/public?year=soon", "year：年份请写作 2017，不能是 'soon'",
         "year: write a year as 2017, not 'soon'"),
        ("/maps/progress?quarter=7", "quarter：季度序号只能是 1 到 4，不能是 7",
         "quarter: a quarter's number is 1 to 4, not 7"),
        ("/board?period=1800Q2", "period：须在 1990 至 2100 年之间，不能是 1800 年",
         "period: must be in the years 1990 to 2100, not 1800"),
    ):  # fmt: skip
        zh = _page_error(page.get(path, headers=PAGE))
        assert chinese in zh and "must be" not in zh, zh
        en = _page_error(page.get(path + "&lang=en", headers=PAGE))
        assert english in en and not _CHINESE.search(en), en
        page.cookies.delete("lang")
    who = auth("leader_city")
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        for value, detail, chinese in (
            ("0", "must be a day written YYYY-MM-DD", "as_of：日期请写作 2017-06-30，不能是 '0'"),
            ("2017-02-30", "2017-02-30 is no day of the calendar", "日历上没有 2017-02-30 这一天"),
            ("1800-01-01", "must be a day in the years 1990 to 2100",
             "as_of：日期须在 1990 至 2100 年之间，不能是 1800 年"),
        ):  # fmt: skip
            asked = {"as_of": value}
            plain = client.get("/api/tallies", params=asked, headers=who).json()
            assert plain == {"detail": f"query parameter as_of: {detail}"}, plain
            said = client.get("/api/tallies", params=asked, headers={**who, **ZH}).json()
            assert said["detail"] == plain["detail"] and chinese in said["said"], said
        # A comparison reaching before the years: the window said in words, not "1990 to 2100".
        asked = {"compare": "last_year", "period": "1990Q1"}
        said = client.get("/api/tallies", params=asked, headers={**who, **ZH}).json()
        assert "1989 is outside the years 1990 to 2100" in said["detail"], said
        assert "1989 不在 1990 至 2100 年之间" in said["said"], said
