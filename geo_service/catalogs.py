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
def translations(locale: str) -> Translations:
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: they are guesses
    compiled.seek(0)
    return Translations(compiled, domain="messages")
