"""Chinese first, English on request (issue 22 item 1): every text the pages show comes
from the gettext catalogs, and no msgid can land without its translation."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import shared_app, signed_in_page
from fastapi.testclient import TestClient

from geo_service.web import i18n

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = {"Origin": "http://testserver"}


def _extracted() -> set[str]:
    """Every msgid in the pages' code and templates, as pybabel finds them (babel.cfg)."""
    method_map = [
        ("geo_service/web/**.py", "python"),
        ("geo_service/maps/**.py", "python"),
        ("geo_service/cli/**.py", "geo_service.cli.docstrings:extract"),
        ("geo_service/exports.py", "python"),
        ("geo_service/web/templates/**.html", "jinja2"),
    ]
    options = {"geo_service/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT,
        method_map,
        options,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _catalog(locale: str):
    with open(i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=locale)


def test_every_msgid_is_translated_in_both_catalogs():
    wanted = _extracted()
    assert len(wanted) > 200
    zh, en = _catalog("zh_CN"), _catalog("en")
    for msgid in sorted(wanted):
        entry = zh.get(msgid)
        assert entry is not None and not entry.fuzzy, f"zh_CN lacks {msgid!r}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"zh_CN has no translation of {msgid!r}"
        # English msgids: an empty msgstr in en is the msgid itself, but it must be listed.
        assert en.get(msgid) is not None, f"en lacks {msgid!r}"


class _Visible(HTMLParser):
    """The text a person reads, without <code>, <script>, <style> and attribute values."""

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("code", "script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("code", "script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def _visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.parts)


# Three English words in a row; codes like JA-XD-L-0007, URLs and file names are not words.
_SENTENCE = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,;:]+[A-Za-z][a-z]+){2,}\b")
# Names of formats and the service itself stay as they are in either language.
_NAMES = re.compile(r"GeoPackage|GeoJSON|Shapefile|KML|geo_service|CSV|API|EPSG:\d+")


def _english_sentences(html: str) -> list[str]:
    return _SENTENCE.findall(_NAMES.sub(" ", _visible(html)))


def _home_links(client) -> list[str]:
    home = client.get("/", headers={"Accept-Language": "zh-CN"}).text
    hrefs = re.findall(r'<a href="(/[^"]*)"', home)
    # the pages of geo_service.web; the maps (geo_service.maps) and the API are not pages here
    return [h for h in dict.fromkeys(hrefs)
            if not h.startswith(("/maps", "/api", "/docs")) and "lang=" not in h]  # fmt: skip


@pytest.mark.parametrize("username", ["land_all", "officer_xd", "leader_jinan", "planner"])
def test_pages_speak_chinese_by_default_and_english_on_request(db, username):
    client = signed_in_page(username)
    pages = ["/", *_home_links(client)]
    assert "/parcels" in pages and "/board" in pages and "/public" in pages
    for path in pages:
        for headers in ({}, {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}):
            client.cookies.delete(i18n.COOKIE)
            page = client.get(path, headers=headers)
            assert page.status_code == 200, (path, page.text[:300])
            assert _english_sentences(page.text) == [], (path, _english_sentences(page.text))
            assert 'lang="zh-CN"' in page.text
        client.cookies.delete(i18n.COOKIE)
        english = client.get(path, headers={"Accept-Language": "en-US,en;q=0.9"})
        assert english.status_code == 200 and '<html lang="en">' in english.text, path
        client.cookies.delete(i18n.COOKIE)
        asked = client.get(path, params={"lang": "en"}, headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en">' in asked.text, path
    # the page's own labels in English: the header, the workbench's words
    client.cookies.delete(i18n.COOKIE)
    home = client.get("/", params={"lang": "en"}).text
    assert "Sign out" in home and "Parcels" in home and "退出" not in home
    parcels = client.get("/parcels").text  # the choice is kept in the lang cookie
    assert "Code or name" in parcels and "编号或名称" not in parcels
    chinese = client.get("/parcels", params={"lang": "zh_CN"}).text
    assert "编号或名称" in chinese and "Code or name" not in chinese


def test_sign_in_page_and_refusals_in_the_readers_language(db):
    with TestClient(shared_app()) as client:
        page = client.get("/login")
        assert "用户名" in page.text and _english_sentences(page.text) == []
        assert "User name" in client.get("/login", headers={"Accept-Language": "en"}).text
        form = {"username": "land_all", "password": "wrong", "next": "/"}
        wrong = client.post("/login", data=form, headers=ORIGIN)
        assert wrong.status_code == 401 and "登录失败" in wrong.text
        assert _english_sentences(wrong.text) == []
        english = client.post("/login", data=form, headers={**ORIGIN, "Accept-Language": "en"})
        assert "Sign-in failed: wrong user name or password" in english.text


def test_accept_language_weights_and_unknown_languages():
    class Asked:
        def __init__(self, header="", query=None, cookie=None):
            self.headers = {"accept-language": header}
            self.query_params = {"lang": query} if query else {}
            self.cookies = {i18n.COOKIE: cookie} if cookie else {}

    assert i18n.choose(Asked()) == "zh_CN"
    assert i18n.choose(Asked("fr-FR,de;q=0.8")) == "zh_CN"
    assert i18n.choose(Asked("fr,en;q=0.5,zh;q=0.4")) == "en"
    assert i18n.choose(Asked("en;q=0.3,zh-TW;q=0.9")) == "zh_CN"
    assert i18n.choose(Asked("en", cookie="zh_CN")) == "zh_CN"
    assert i18n.choose(Asked("zh-CN", query="en", cookie="zh_CN")) == "en"
    assert i18n.choose(Asked("en;q=x")) == "zh_CN"
