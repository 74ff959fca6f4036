"""Click's own words (用法：, 选项：, 错误：…) in the command's language, and help wrapped by
display width (docs/translations.md).

Why not gettext: Typer 0.29 runs on its own copy of Click (typer._click), whose words are
plain English literals ("Usage: ", f"No such option: {name}"), not gettext calls; the few
that Typer itself marks (_("Options")) go through the standard library's global gettext,
which reads only .mo files from disk in the process's locale. So there is no translation to
install. Instead the words are said where Click lets an application take over, without
replacing any of its functions:
- `Command.context_class` (a documented Click hook) gives every command a context whose
  `formatter_class` is ours: the usage prefix, the headings, Click's own option helps and
  the [default: …; required] notes said in our words, and lines wrapped by display width;
- `[OPTIONS]` and `COMMAND [ARGS]...` are the commands' own attributes, set in our words;
- a usage error is said again, from its kind and fields, where the app meets it
  (`_Commands.make_context` / `invoke` in cli/common.py), and Typer shows it as before.
In English the words are Click's; a help without CJK characters is wrapped by Click itself,
one with them (a Chinese help, or an English one naming 新店镇) by display width.
"""

import re
import unicodedata
from contextlib import contextmanager

import typer
from typer._click import exceptions as click_errors
from typer._click.formatting import HelpFormatter, wrap_text
from typer._click.utils import echo

from geo_service.catalogs import N_
from geo_service.cli import language

_USAGE = N_("Usage:")
_HEADINGS = {
    "Options": N_("Options:"),
    "Commands": N_("Commands:"),
    "Arguments": N_("Arguments:"),
}
# The helps of the options Click and Typer add to every command (--help) or to the app.
_OWN_HELPS = (
    N_("Show this message and exit."),
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)
_ABORTED = N_("Aborted!")
_OPTIONS_METAVAR = N_("[OPTIONS]")
_COMMAND_METAVAR = N_("COMMAND [ARGS]...")
_REQUIRED = N_("required")
_DEFAULT = N_("default: %(value)s")
_ENV_VAR = N_("env var: %(names)s")
_ENV_VAR_HINT = N_("(env var: %(name)s)")
# The value an option or argument takes, as Typer names it after its Python type; a list of
# choices (<land|demolition>) is machine names and stays.
_TYPES = {
    "<str>": N_("<text>"),
    "<path>": N_("<path>"),
    "<int>": N_("<whole number>"),
    "<float>": N_("<number>"),
    "<list[str]>": N_("<text>..."),
}


def _(text: str) -> str:
    return language._(text)


def take_over(command) -> None:
    """Every command of the tree makes its help with our formatter (see the module's
    docstring); in Chinese its usage line names options and commands in Chinese."""
    command.context_class = _Context
    if not language.english():
        if command.options_metavar == "[OPTIONS]":
            command.options_metavar = _(_OPTIONS_METAVAR)
        if getattr(command, "subcommand_metavar", None) == "COMMAND [ARGS]...":
            command.subcommand_metavar = _(_COMMAND_METAVAR)
    for sub in getattr(command, "commands", {}).values():
        take_over(sub)


# --- display width -----------------------------------------------------------------------------


def _columns(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def width(text: str) -> int:
    """Columns a text takes on a terminal: CJK characters two, others one."""
    return sum(_columns(c) for c in text)


def _wide(text: str) -> bool:
    return any(_columns(c) == 2 for c in text)


# A line does not start with a closing mark nor end with an opening one (the common rules
# of Chinese typesetting), so a break never strands "，" or "（" alone.
_NO_START = frozenset("，。、；：？！）》」』】〉”’,.;:?!)]}…%")
_NO_END = frozenset("（《「『【〈“‘([{")


def _pieces(text: str) -> list[str]:
    """What a line may be broken between: a narrow word, a run of spaces, one wide
    character; marks stay with their neighbour."""
    raw = re.findall(r"\s+|[^\s]", text)
    pieces: list[str] = []
    for char in raw:
        last = pieces[-1] if pieces else ""
        narrow_word = not char.isspace() and _columns(char) == 1 and char not in _NO_END
        joins_word = last and not last.isspace() and _columns(last[-1]) == 1 and narrow_word
        keeps_mark = last and not last.isspace() and (char in _NO_START or last[-1] in _NO_END)
        if joins_word or keeps_mark:
            pieces[-1] = last + char
        else:
            pieces.append(char)
    return pieces


def _fill(text: str, columns: int, initial: str, subsequent: str) -> str:
    """One paragraph in lines of at most `columns` display columns."""
    lines: list[str] = []
    line, bare, gap = initial, True, ""
    for piece in _pieces(text):
        if piece.isspace():
            # Spaces inside a line are kept as written (Click's "help  [required]").
            gap = "" if bare else (" " if "\n" in piece else piece)
            continue
        space, gap = gap, ""
        if not bare and width(line + space + piece) > columns:
            lines.append(line.rstrip())
            line, bare, space = subsequent, True, ""
        line += space
        # A piece longer than a whole line is cut where the line ends.
        for char in piece if width(line + piece) > columns else [piece]:
            if not bare and width(line + char) > columns:
                lines.append(line)
                line = subsequent
            line, bare = line + char, False
    lines.append(line.rstrip())
    return "\n".join(lines)


def wrap(
    text: str,
    columns: int = 78,
    initial_indent: str = "",
    subsequent_indent: str = "",
    preserve_paragraphs: bool = False,
) -> str:
    """Click's wrap_text, by display width where the text has wide characters (Click
    breaks only at spaces, and counts a CJK character as one column); otherwise Click's own."""
    if not _wide(text):
        return wrap_text(text, columns, initial_indent, subsequent_indent, preserve_paragraphs)
    text = text.expandtabs()
    if not preserve_paragraphs:
        return _fill(text, columns, initial_indent, subsequent_indent)
    said = []
    for indent, raw, paragraph in _paragraphs(text):
        first, rest = initial_indent + " " * indent, subsequent_indent + " " * indent
        if raw:
            said.append("\n".join(first + line for line in paragraph.splitlines()))
        else:
            said.append(_fill(paragraph, columns, first, rest))
    return "\n\n".join(said)


def _paragraphs(text: str) -> list[tuple[int, bool, str]]:
    """Click's paragraphs (formatting.wrap_text): split at empty lines, each with the
    indentation of its first line; one opened by a line holding only \\b is kept as it is."""
    found: list[tuple[int, bool, str]] = []
    lines: list[str] = []
    indent = 0

    def flush() -> None:
        if not lines:
            return
        if lines[0].strip() == "\b":
            found.append((indent, True, "\n".join(lines[1:])))
        else:
            found.append((indent, False, _joined(lines)))
        lines.clear()

    for line in text.splitlines():
        if not line:
            flush()
            continue
        if not lines:
            indent = len(line) - len(line.lstrip())
            line = line.lstrip()
        lines.append(line)
    flush()
    return found


def _joined(lines: list[str]) -> str:
    # Chinese joins its lines without a space; other text with one, as Click does.
    joined = lines[0]
    for line in lines[1:]:
        tight = _wide(joined[-1:]) and _wide(line.lstrip()[:1])
        joined += line.lstrip() if tight else f" {line}"
    return joined


# --- the help's words ------------------------------------------------------------------------


def _notes(text: str) -> str:
    """A help and its bracketed notes ("…  [env var: X; default: Y; required]") in our words."""
    found = re.fullmatch(r"(.*?)(\s*)\[([^\[\]]*)\]", text, re.DOTALL)
    if not found:
        return _(text) if text in _OWN_HELPS else text
    help_text, space, notes = found.groups()
    if help_text in _OWN_HELPS:
        help_text = _(help_text)
    said = []
    for note in notes.split("; "):
        if note == "required":
            note = _(_REQUIRED)
        elif note.startswith("default: "):
            note = _(_DEFAULT) % {"value": note.removeprefix("default: ")}
        elif note.startswith("env var: "):
            note = _(_ENV_VAR) % {"names": note.removeprefix("env var: ")}
        said.append(note)
    return f"{help_text}{space}[{'; '.join(said)}]"


def _typed(term: str) -> str:
    """An option's or argument's name with the type of its value in our words."""

    def said(found: re.Match) -> str:
        return _(_TYPES[found[0]]) if found[0] in _TYPES else found[0]

    return re.sub(r"<[^<>\s]+>", said, term)


class _Formatter(HelpFormatter):
    """Click's HelpFormatter, saying Click's words in the command's language and wrapping
    by display width."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        if prefix is None and not language.english():
            said = _(_USAGE)
            # "Usage: " has its space; a full-width colon needs none.
            prefix = said if said.endswith("：") else f"{said} "
        prefix = "Usage: " if prefix is None else prefix
        usage = f"{prefix:>{self.current_indent}}{prog} "
        text_width = self.width - self.current_indent
        if text_width >= width(usage) + 20:
            said = wrap(
                args, text_width, initial_indent=usage, subsequent_indent=" " * width(usage)
            )
        else:
            indent = " " * (max(self.current_indent, width(prefix)) + 4)
            said = f"{usage}\n" + wrap(args, text_width, indent, indent)
        self.write(f"{said}\n")

    def write_heading(self, heading: str) -> None:
        said = f"{heading}:"
        if heading in _HEADINGS and not language.english():
            said = _(_HEADINGS[heading])
        self.write(f"{'':>{self.current_indent}}{said}\n")

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        self.write(wrap(text, self.width, indent, indent, preserve_paragraphs=True))
        self.write("\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        # Click's write_dl, with the rows in our words, measured and wrapped by display width.
        rows = [(first, second) for first, second in rows]
        if not language.english():
            rows = [(_typed(first), _notes(second)) for first, second in rows]
        if not rows:
            return
        first_col = min(max(width(first) for first, _second in rows), col_max) + col_spacing
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if width(first) <= first_col - col_spacing:
                self.write(" " * (first_col - width(first)))
            else:
                self.write("\n")
                self.write(" " * (first_col + self.current_indent))
            text_width = max(self.width - first_col - 2, 10)
            lines = wrap(second, text_width, preserve_paragraphs=True).splitlines() or [""]
            self.write(f"{lines[0]}\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n")


class _Context(typer.Context):
    formatter_class = _Formatter


# --- usage errors ------------------------------------------------------------------------------

_ERROR = N_("Error: %(message)s")
_TRY = N_("Try '%(command)s' for help.")
_NO_OPTION = N_("No such option: %(option)s")
_POSSIBLE = N_("(Possible options: %(options)s)")
_MISSING = {
    "argument": N_("Missing argument %(name)s."),
    "option": N_("Missing option %(name)s."),
    "parameter": N_("Missing parameter %(name)s."),
}
_CHOOSE = N_("Choose from:")
_INVALID = N_("Invalid value for %(name)s: %(reason)s")
_INVALID_PLAIN = N_("Invalid value: %(reason)s")
_NOT_ONE_OF = N_("%(value)s is not one of %(choices)s.")
_NOT_WHOLE = N_("%(value)s is not a whole number.")
_NOT_NUMBER = N_("%(value)s is not a number.")
_DID_YOU_MEAN = N_("Did you mean %(names)s?")
# Click's and Typer's usage errors said as a plain message: the English pattern, our words.
_MESSAGES = (
    (r"Got unexpected extra argument\(s\) \((?P<args>.*)\)", N_("Got unexpected extra argument(s) (%(args)s)")),  # noqa: E501
    (r"No such command (?P<name>'.*')\.", N_("No such command %(name)s.")),
    (r"Missing command\.", N_("Missing command.")),
    (r"Option (?P<option>'.*') requires an argument\.", N_("Option %(option)s requires an argument.")),  # noqa: E501
    (r"Option (?P<option>'.*') requires (?P<count>\d+) arguments\.", N_("Option %(option)s requires %(count)s arguments.")),  # noqa: E501
    (r"Option (?P<option>'.*') does not take a value\.", N_("Option %(option)s does not take a value.")),  # noqa: E501
    (r"(?P<value>'.*'): zh_CN or en", N_("%(value)s: zh_CN or en")),
)  # fmt: skip


class _Said(click_errors.ClickException):
    """A usage error said again in the command's language; Typer shows it as it would the
    original (the usage line, the hint, then the error), with the same exit code."""

    def __init__(self, exc: click_errors.ClickException):
        super().__init__(message_of(exc))
        self.exit_code = exc.exit_code
        self.ctx = getattr(exc, "ctx", None)

    def show(self, file=None) -> None:
        ctx, lines = self.ctx, []
        if ctx is not None:
            lines.append(ctx.get_usage())
            if ctx.command.get_help_option(ctx) is not None:
                command = f"{ctx.command_path} {ctx.help_option_names[0]}"
                lines.append(_(_TRY) % {"command": command} + "\n")
        lines.append(_(_ERROR) % {"message": self.message})
        echo("\n".join(lines), file=file, err=file is None, color=ctx.color if ctx else None)


@contextmanager
def in_our_words():
    """Around Click's parsing and invoking: a usage error, or an abort (Typer's "Aborted!"),
    leaves in the command's language."""
    try:
        yield
    except click_errors.ClickException as exc:
        translated = said(exc)
        if translated is exc:
            raise
        raise translated from exc
    except (typer.Abort, EOFError) as exc:
        if language.english():
            raise
        # Typer says "Aborted!" through the standard library's gettext, which we cannot
        # feed; so it is said here, with the same exit code, ending the prompt's line first
        # on an end of input as Typer does.
        if isinstance(exc, EOFError):
            echo(err=True)
        echo(_(_ABORTED), err=True)
        raise typer.Exit(1) from None


def said(exc: Exception) -> Exception:
    """The error to raise instead of `exc`: a usage error in Chinese, else `exc` itself."""
    if language.english() or not isinstance(exc, click_errors.ClickException):
        return exc
    if isinstance(exc, click_errors.NoArgsIsHelpError):
        return exc  # its message is the help, already said
    return _Said(exc)


def message_of(exc: click_errors.ClickException) -> str:
    """A Click error's message in the command's language (its own where we have no words)."""
    if isinstance(exc, click_errors.NoSuchOption) and exc.message.startswith("No such option: "):
        said = _(_NO_OPTION) % {"option": exc.message.removeprefix("No such option: ")}
        if exc.possibilities:
            said += " " + _(_POSSIBLE) % {"options": ", ".join(sorted(exc.possibilities))}
        return said
    if isinstance(exc, click_errors.MissingParameter):
        return _missing(exc)
    if isinstance(exc, click_errors.BadParameter):
        hint = _hint(exc)
        reason = _reason(exc)
        if hint is None:
            return _(_INVALID_PLAIN) % {"reason": reason}
        return _(_INVALID) % {"name": hint, "reason": reason}
    return _plain(exc.message)


def _hint(exc) -> str | None:
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(x) for x in hint)
    named = re.fullmatch(r"(.*) \(env var: (.*)\)", hint or "", re.DOTALL)
    if named:
        envvar = _(_ENV_VAR_HINT) % {"name": named[2]}
        hint = named[1] + ("" if envvar.startswith("（") else " ") + envvar
    return hint


def _missing(exc) -> str:
    kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else None)
    hint = _hint(exc) or ""
    said = _(_MISSING.get(kind, _MISSING["parameter"])) % {"name": hint}
    extra = exc.param.get_missing_message(ctx=exc.ctx) if exc.param is not None else ""
    if extra and extra.startswith("Choose from:"):
        extra = _(_CHOOSE) + extra.removeprefix("Choose from:")
    return " ".join(part for part in (said, _plain(exc.message), extra) if part)


def _reason(exc) -> str:
    """Why a value was refused: pydantic's check (Typer coerces through it) by its error
    type, else a message we know the shape of, else the message itself."""
    cause = exc.__cause__
    errors = cause.errors() if hasattr(cause, "errors") else []
    if errors:
        kind, value = errors[0].get("type"), errors[0].get("input")
        if kind in ("int_parsing", "int_from_float"):
            return _(_NOT_WHOLE) % {"value": repr(value)}
        if kind == "float_parsing":
            return _(_NOT_NUMBER) % {"value": repr(value)}
    message = exc.message.removeprefix("Value error, ")
    choice = re.fullmatch(r"('.*') is not one of (.*)\.", message, re.DOTALL)
    if choice:
        return _(_NOT_ONE_OF) % {"value": choice[1], "choices": choice[2]}
    return _plain(message)


def _plain(message: str) -> str:
    head, _dot, mean = message.partition(". Did you mean ")
    if mean:
        head = _plain(f"{head}.")
        space = "" if head.endswith("。") else " "
        return head + space + _(_DID_YOU_MEAN) % {"names": mean.removesuffix("?")}
    for pattern, msgid in _MESSAGES:
        found = re.fullmatch(pattern, message, re.DOTALL)
        if found:
            return _(msgid) % found.groupdict()
    return message
