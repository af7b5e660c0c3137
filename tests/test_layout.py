"""The package's house rules: no import circles, the command runs as a module too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tfso_events

PACKAGE = Path(tfso_events.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """tfso_events modules ``path`` imports, at module level, inside a function (a
    deferred import is still a dependency) or under ``if TYPE_CHECKING:`` (a reader
    needs what the annotations name to understand a module: a dependency too)."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text())]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return {name for name in found if name.split(".")[0] == "tfso_events"}


#: The ground floor: the error tree, the environments, the secret wrapper and the
#: version. They import nothing of the package above them, not even for annotations.
GROUND_FLOOR = {
    "tfso_events.errors",
    "tfso_events.environments",
    "tfso_events._secret",
    "tfso_events._version",
}


def test_the_ground_floor_knows_nothing_above_it() -> None:
    """errors.py, environments.py, _secret.py and _version.py import only each other,
    TYPE_CHECKING imports included (errors.py named results.BatchResult, the last
    circle: errors -> results -> models._base -> errors)."""
    for name in sorted(GROUND_FLOOR):
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        assert _imports(path) <= GROUND_FLOOR, name


def test_no_module_imports_one_that_imports_it_back() -> None:
    """The import graph of the package, TYPE_CHECKING imports included, has no cycle
    (auth <-> environments was one, over ``Secret``; errors -> results -> models._base ->
    errors the last, in annotations), so every module can be read, and imported, from
    the ground floor up."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        # An edge to the module named (a parent package's __init__ runs too, but it is
        # already importing when one of its submodules imports a sibling).
        graph[name] = {d for d in _imports(path) if d in modules and d != name}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_python_dash_m_runs_the_command() -> None:
    """``python -m tfso_events`` is the ``tfso-events`` command (for when the console
    script is not on PATH)."""
    out = subprocess.run(
        [sys.executable, "-m", "tfso_events", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"tfso-events {tfso_events.__version__}"


def test_each_command_lives_in_the_module_of_its_group() -> None:
    """Every command is declared in a ``tfso_events/cli/_<group>.py`` module that
    ``cli/__init__.py`` imports (one line per group), never in ``__init__`` itself, so a
    reader finds a command by its file name and a new group is one module plus one line."""
    from tfso_events.cli import COMMANDS

    cli = PACKAGE / "cli"
    tree = ast.parse((cli / "__init__.py").read_text())
    groups = {
        f"tfso_events.cli.{alias.name}"
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "tfso_events.cli"
        for alias in node.names
    }
    homes = {cmd.name: cmd.run.__module__ for cmd in COMMANDS.values()}
    assert set(homes.values()) == groups
    assert not any(isinstance(node, ast.FunctionDef) for node in tree.body)
    assert homes["list"] == "tfso_events.cli._catalog"
    assert homes["hub"] == homes["tail"] == "tfso_events.cli._hub"
