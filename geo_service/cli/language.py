"""The language the command speaks: Chinese first, English on request (docs/translations.md).

`--lang` (or GEO_SERVICE_LANG), else the locale of the shell (LC_ALL, LC_MESSAGES, LANG:
zh… or en…), else 简体中文. Its words come from the same gettext catalogs as the pages. In
English a refusal is the domain's own message, which names the command's options (--layer,
--encoding…); in Chinese it is the pages' wording of its rule, with the rule code after it,
or the domain's message where the rule has no wording yet.
"""

import inspect
import json
import os

from geo_service.catalogs import DEFAULT, N_, known_locale, translations

ENV = "GEO_SERVICE_LANG"
_chosen: dict[str, str | None] = {"locale": None}


def choose(asked: str | None) -> None:
    """The --lang option's value (None: not given), for the rest of the command."""
    _chosen["locale"] = known_locale(asked) if asked else None


def asked(args: list[str]) -> str | None:
    """The language a command line asks for before Click reads it: `--lang X` or
    `--lang=X` ahead of the command's name, else GEO_SERVICE_LANG."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if not arg.startswith("-"):
            break
    return os.environ.get(ENV) or None


def language() -> str:
    if _chosen["locale"]:
        return _chosen["locale"]
    # The shell's locale as gettext reads it: the first of these that is set decides.
    shell = next(
        (os.environ[v] for v in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(v)), ""
    )
    return known_locale(shell) or DEFAULT


def _(text: str) -> str:
    return translations(language()).gettext(text)


def english() -> bool:
    return language() == "en"


# What an import says it did (the import and relocation commands).
CHECKED = N_("checked (dry run, nothing stored)")
ACCEPTED = N_("accepted")
COUNTS = N_("new %(created)s, changed %(changed)s, unchanged %(unchanged)s")
# What a single change did (relocation project, allocate, handover, certify).
OUTCOMES = {"created": N_("created"), "changed": N_("changed"), "unchanged": N_("unchanged")}
_ERROR = N_("error: %(detail)s")
_REFUSED = N_("refused: %(detail)s")
_AS_HINT = N_("name the user you act as with --as USER")


def error_line(exc, hint: bool = False) -> str:
    """`error: …` for a refusal (or a plain reason), in the command's language."""
    if english():
        return f"error: {exc}" + ("; name the user you act as with --as USER" if hint else "")
    # A plain text (a database outage's reason, as /healthz gives it) is said as it is.
    detail = _said(exc) if isinstance(exc, BaseException) else str(exc)
    if hint:
        detail = f"{detail}; {_(_AS_HINT)}"
    return _(_ERROR) % {"detail": detail}


def refused_lines(exc) -> str:
    """`refused: …` for a refused file: the file's problems one a line, in the command's
    language."""
    report = getattr(exc, "report", None)
    if english() or report is None:
        return f"refused: {exc}" if english() else _(_REFUSED) % {"detail": _said(exc)}
    from geo_service.relocation.rosters import RosterReport

    problems = json.loads(json.dumps(report.as_dict(), default=str))["problems"]
    if isinstance(report, RosterReport):
        header = _("%(file)s: %(count)s problem(s), nothing imported")
        lines = [_roster_line(p) for p in problems]
    else:
        header = _("%(file)s: %(count)s error(s)")
        lines = [f"  {problem_line(p, severity=False)}" for p in problems]
        problems = [p for p in problems if p.get("severity") == "error"]
    first = header % {"file": report.filename, "count": len(problems)}
    return _(_REFUSED) % {"detail": "\n".join([first, *lines])}


def problem_line(problem: dict, severity: bool = True) -> str:
    """One problem of an upload report as the import command lists it (with its severity
    when the file was accepted; a refused file's are all errors)."""
    from geo_service.web.problems import problem_detail

    if english():
        detail, said = problem["message"], problem["severity"]
    else:
        detail = problem_detail(problem, _)[0]
        said = _(_SEVERITY.get(problem["severity"], _ERRORWORD))
    line = f"{_where(problem)}: {detail} [{problem['rule']}]"
    return f"{said}: {line}" if severity else line


_ERRORWORD = N_("error")
_SEVERITY = {"error": _ERRORWORD, "warning": N_("warning")}


def _roster_line(problem: dict) -> str:
    from geo_service.web.problems import roster_detail

    detail, _ours = roster_detail(problem, _)
    where = _("row %(row)s") % {"row": problem["row"]} if problem.get("row") else _("file")
    if problem.get("ref"):
        where = f"{where} ({problem['ref']})"
    return f"  {where}: {detail} [{problem['rule']}]"


def _where(problem: dict) -> str:
    if problem.get("feature") is None:
        return _("file")
    where = _("feature %(number)s") % {"number": problem["feature"]}
    return f"{where} ({problem['code']})" if problem.get("code") else where


def _said(exc) -> str:
    """The refusal in Chinese where its rule has words (the pages'), else the domain's own
    message; the rule code after it, as the pages show it."""
    from geo_service.web.problems import refusal_detail

    detail = refusal_detail(exc, _)
    rule = getattr(exc, "rule", None)
    return f"{detail} [{rule}]" if rule else detail


def say_help(command) -> None:
    """The help of a Click command and its subcommands, in place, in the command's language
    (the msgids are the help texts as Typer keeps them; cli/docstrings.py extracts the
    docstrings)."""
    if english():
        return
    if command.help:
        command.help = _help(command.help)
        command.short_help = command.short_help and _help(command.short_help)
        command.short_help = command.short_help or _summary(command.help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = _help(param.help)
    for sub in getattr(command, "commands", {}).values():
        say_help(sub)


def _help(text: str) -> str:
    return _(inspect.cleandoc(text))


def _summary(text: str) -> str:
    # Click shortens a help to its first sentence by spaces and full stops; Chinese has
    # neither, so the listing gets the first sentence up to its 。 (or, if long, up to its
    # first ； or ： outside brackets, so a bracket is never left open).
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = first.split("。")[0]
    if len(first) <= 40:
        return first
    depth = 0
    for i, char in enumerate(first):
        depth += {"（": 1, "）": -1}.get(char, 0)
        if depth == 0 and char in "；：":
            return first[:i]
    return first


def words(text: str, **figures) -> str:
    """A text the command prints (a table's title or heading, marked N_ where it is
    written) in the command's language, with its figures."""
    said = text if english() else _(text)
    return said % figures if figures else said
