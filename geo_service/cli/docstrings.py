"""pybabel's extractor for the command line (babel.cfg): the marked texts as the python
extractor finds them, and each command's docstring, which Typer shows as its help.

The docstring's msgid is the text as Typer keeps it (inspect.getdoc: indentation removed),
so cli/common.py finds it in the catalogs under the same words."""

import ast

from babel.messages.extract import extract_python


def extract(fileobj, keywords, comment_tags, options):
    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    text = source.decode(options.get("encoding", "utf-8")) if isinstance(source, bytes) else source
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and _is_command(node):
            doc = ast.get_docstring(node)
            if doc:
                yield node.lineno, None, doc, []


def _is_command(node: ast.FunctionDef) -> bool:
    """Decorated as a command or a group's callback (`@x.command(...)`, `@x.callback()`)."""
    for decorator in node.decorator_list:
        call = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(call, ast.Attribute) and call.attr in ("command", "callback"):
            return True
    return False
