"""The one rule for text a person writes and the service keeps: notes and reasons, names
(users, display names, projects, households, parcels), codes.

- a note or reason: at most NOTE_MAX_CHARS characters; tab and line breaks allowed;
- a name: at most NAME_MAX_CHARS characters, on one line;
- a code: printable (a code is typed, searched and printed on lists: nothing that does
  not show); its length is the column's, checked where it is stored.

None of them may hold NUL (PostgreSQL cannot store it; GDAL and C libraries cut a string
there, so what is kept would not be what was sent), control characters, or the bidi
overrides and isolates U+202A–U+202E, U+2066–U+2069 (they turn text around on screen:
"1-A" that reads "A-1"). Names and codes may not hold the zero-width U+200B–U+200D,
U+2060, U+FEFF either: two codes or names that look the same would be two.

Nothing is stripped or cut: a text that breaks the rule is refused, naming the field.
`problem` says why (or None); `check` raises TextRefused naming the field; `validator`
gives pydantic a check that raises ValueError (pydantic names the field).
"""

import unicodedata

from geo_service.errors import RuleBroken, TextRefused
from geo_service.settings import get_settings

NOTE = "note"
NAME = "name"
CODE = "code"

_BIDI = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
_ZERO_WIDTH = frozenset(map(chr, [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]))
_NOTE_LAYOUT = frozenset("\t\n\r")


def limit(kind: str) -> int | None:
    settings = get_settings()
    return {NOTE: settings.note_max_chars, NAME: settings.name_max_chars}.get(kind)


def problem(value: str, kind: str) -> str | None:
    """Why `value` may not be kept as a `kind` (NOTE, NAME or CODE); None when it may."""
    found = _broken(value, kind)
    return found and found[0]


def _broken(value: str, kind: str) -> tuple[str, str, dict] | None:
    """Why, as the English message, the rule and its figures (errors.TextRefused)."""
    most = limit(kind)
    if most is not None and len(value) > most:
        figures = {"limit": most, "length": len(value)}
        return f"at most {most} characters, this one has {len(value)}", "text_too_long", figures
    for char in value:
        if _refused(char, kind):
            shown = f"U+{ord(char):04X}"
            why = f"holds the invisible or control character {shown}; type it again"
            return why, "text_invisible", {"char": shown}
    return None


def _refused(char: str, kind: str) -> bool:
    if char in _BIDI:
        return True
    if kind == NOTE and char in _NOTE_LAYOUT:
        return False
    if kind != NOTE and char in _ZERO_WIDTH:
        return True
    return unicodedata.category(char) == "Cc"


def check(value: str | None, kind: str, field: str) -> str | None:
    """`value` as given, or TextRefused naming `field`."""
    if value is not None and (found := _broken(value, kind)):
        why, rule, figures = found
        raise TextRefused(f"{field}: {why}", rule=rule, params={"field": field, **figures})
    return value


def validator(kind: str):
    """For pydantic's AfterValidator: a ValueError that pydantic turns into a 422 naming
    the field."""

    def checked(value: str | None) -> str | None:
        if value is not None and (found := _broken(value, kind)):
            raise RuleBroken(*found)
        return value

    return checked
