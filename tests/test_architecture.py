"""The package's rooms import only downward: no circle, no upward import, no import inside a function to dodge one.

The order is the one ``vlmkit/__init__.py`` and ``docs/architecture.md`` give; a module may import its own room and
the rooms before it. Within a room, modules import each other without a circle.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vlmkit"
ROOMS = ["errors", "core", "measure", "models", "runtime", "bench", "verdicts", "tiny", "planning", "book"]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        if name != "vlmkit":
            found[name] = path
    return found


def room_of(module: str) -> str:
    return module.split(".")[1]


def vlmkit_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import of vlmkit in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vlmkit" and not node.level:
            found.append((node.module, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names if a.name.split(".")[0] == "vlmkit"]
    return found


def test_every_module_sits_in_a_known_room():
    assert {room_of(m) for m in modules()} == set(ROOMS)


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_run_downward_and_at_module_level(module):
    own = ROOMS.index(room_of(module))
    for imported, at_top in vlmkit_imports(modules()[module]):
        if modules()[module].name != "__init__.py":  # a room's map may import its own modules as a whole
            assert imported.count(".") > 1 or imported == "vlmkit.errors", (
                f"{module} imports {imported}, a package: name the module it needs")
        assert at_top, f"{module} imports {imported} inside a function or block: imports belong at the top"
        target = ROOMS.index(room_of(imported))
        assert target <= own, f"{module} ({ROOMS[own]}) imports {imported} ({ROOMS[target]}), a room above it"


def test_no_circle_between_modules():
    mods = modules()
    graph = {m: {i for i, _ in vlmkit_imports(p) if i in mods and i != m}
             for m, p in mods.items() if p.name != "__init__.py"}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("room", [r for r in ROOMS if r != "errors"])
def test_each_room_maps_its_modules(room):
    init = PACKAGE / room / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    for module in sorted(p.stem for p in (PACKAGE / room).glob("*.py") if not p.name.startswith("__")):
        assert f"``{module}``" in doc, f"vlmkit/{room}/__init__.py's map does not name its module {module}"
