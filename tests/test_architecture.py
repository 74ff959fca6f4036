"""The package's imports go one way: no circle anywhere, and the domain never reaches up
into an adapter. Imports inside functions count: hiding an import in a function dodges
Python's circular-import error, not the circle."""

import ast
from pathlib import Path

import geo_service

PACKAGE = Path(geo_service.__file__).parent
ADAPTERS = ("api", "cli", "web", "maps")


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__), every module but the migrations
    (Alembic loads them by path; they never import the package)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        is_init = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_init else parts)] = (path, is_init)
    return found


def _targets(node: ast.AST, package: str, modules) -> list[str]:
    """The modules an import statement loads, relative names resolved: `from x import y`
    depends on x.y when y is a module, else on x (the nearest module of the name)."""
    if isinstance(node, ast.Import):
        wanted = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            parent = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parent + ([base] if base else []))
        wanted = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names
        ]
    else:
        return []
    found = []
    for name in wanted:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            found.append(name)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """Module -> {module of the package it imports: line of the first such import}, for
    imports anywhere in the module (top level, functions, classes)."""
    modules = _modules(root)
    graph = {}
    for name, (path, is_init) in modules.items():
        package = name if is_init else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(node, package, modules):
                if target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each as a path
    that returns to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1:
                found.append(_cycle_through(sorted(group), graph))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_through(group: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest circle from the group's first module back to itself, for the message."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node]):
            if nxt == start:
                return paths[node] + [start]
            if nxt in members and nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return group


def _described(circle: list[str], graph) -> str:
    steps = [f"{a} (line {graph[a][b]})" for a, b in zip(circle, circle[1:], strict=False)]
    return " -> ".join(steps + [circle[-1]])


def _is_adapter(name: str) -> bool:
    return name.split(".")[1:2] != [] and name.split(".")[1] in ADAPTERS


def test_no_import_circle():
    graph = import_graph()
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(_described(c, graph) for c in found)


def test_domain_never_imports_an_adapter():
    graph = import_graph()
    upwards = [
        f"{name} imports {target} (line {line})"
        for name, edges in sorted(graph.items())
        if name != "geo_service" and not _is_adapter(name)
        for target, line in sorted(edges.items())
        if _is_adapter(target)
    ]
    assert not upwards, "\n".join(upwards)


def test_the_walk_finds_a_circle_hidden_in_a_function(tmp_path):
    """The checker itself, on a small package: `a` imports `b` relatively at the top,
    `b` imports `a` inside a function; `c` only leans on `a` and is in no circle."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("from ..sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from pkg.sub.a import x\n")
    (package / "c.py").write_text("from .sub import a\n")
    graph = import_graph(package)
    assert graph["pkg.sub.b"] == {"pkg.sub.a": 2}
    assert graph["pkg.c"] == {"pkg.sub.a": 1}
    assert circles(graph) == [["pkg.sub.a", "pkg.sub.b", "pkg.sub.a"]]
    assert (
        _described(circles(graph)[0], graph)
        == "pkg.sub.a (line 1) -> pkg.sub.b (line 2) -> pkg.sub.a"
    )


# The bottom of the house: what every part may use, and which uses no part.
BOTTOM = {
    "settings", "database", "models", "logs", "errors", "problems", "units", "areas",
    "interop", "backup", "app_role", "periods", "texts", "scratch",
    # the gettext catalogs: the pages and the files written for people (exports) say
    # their words from the same ones
    "catalogs",
}  # fmt: skip
# Beside the adapters' door: what crosses the parts of the campaign.
CROSSING = {"actions", "exports", "demo", "reference"}
PARTS = ("parcels", "campaign", "relocation", "accounts")


def _first_level(name: str) -> str:
    return name.split(".")[1] if "." in name else ""


def test_the_bottom_imports_nothing_above_it():
    graph = import_graph()
    upwards = [
        f"{name} imports {target} (line {line})"
        for name, edges in sorted(graph.items())
        if _first_level(name) in BOTTOM
        for target, line in sorted(edges.items())
        if _first_level(target) not in BOTTOM | {""}
    ]
    assert not upwards, "\n".join(upwards)


def test_every_module_has_a_place_and_every_part_says_what_it_holds():
    """A new module goes into the part it belongs to (or, deliberately, into BOTTOM or
    CROSSING here): the package does not drift back to a flat list."""
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert flat <= BOTTOM | CROSSING, f"modules without a place: {sorted(flat - BOTTOM - CROSSING)}"
    for part in PARTS:
        init = PACKAGE / part / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), part


def test_the_migrations_have_one_head_and_ids_that_fit_alembic_version():
    """Helpers write migrations side by side and a merge revision joins them: a second head
    stops `db upgrade`, and an id over 32 characters fails only when it is applied
    (alembic_version.version_num is varchar(32))."""
    from alembic.script import ScriptDirectory

    from geo_service.database import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("postgresql://unused@localhost/x"))
    assert len(scripts.get_heads()) == 1
    too_long = [r.revision for r in scripts.walk_revisions() if len(r.revision) > 32]
    assert too_long == []
