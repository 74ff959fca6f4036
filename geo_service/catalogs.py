"""The gettext catalogs (geo_service/locale): Chinese first, English on request.

At the bottom of the house so that what writes files a person reads (the tally
workbooks, CSV and wall page in exports.py) takes its words from the same catalogs as the
pages; which language a request speaks is the web's business (geo_service/web/i18n.py).

The .po files are read once and compiled in memory, so a fresh clone or a wheel needs no
compile step. The msgids are English (the gettext convention): the zh_CN catalog
translates every one; in the en catalog an empty msgstr means the msgid itself.
"""

from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh_CN", "en")
DEFAULT = "zh_CN"


def N_(text: str) -> str:
    """Marks a text for extraction where it is defined; it is translated where shown."""
    return text


@cache
def known_locale(value: str | None) -> str | None:
    """The catalog a language tag or locale names: zh_CN for zh, zh-CN, zh_CN.UTF-8,
    zh-Hans…; en for en, en-US, en_US.UTF-8…; None for anything else."""
    value = (value or "").strip().replace("-", "_").lower()
    if value.startswith("zh"):
        return "zh_CN"
    if value.startswith("en"):
        return "en"
    return None


@cache
def translations(locale: str) -> Translations:
    # Once a process: reading and compiling a catalog takes 0.1-0.3 s.
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: they are guesses
    compiled.seek(0)
    return Translations(compiled, domain="messages")
