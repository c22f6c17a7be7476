"""The direction of the code is a rule (issue 15): no import cycles anywhere in the project, and
the write path hands work to workers only after its transaction commits.

import-linter (run by the test command, contracts in pyproject.toml) checks the layers; this
module checks what its contracts cannot say.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("checklist", "quality", "core", "config", "levelverify", "interfaces", "imaging")
WRITE_PATH = ("checklist/services", "checklist/reminders")


def _first_party_graph() -> grimp.ImportGraph:
    present = [name for name in PACKAGES if (ROOT / name / "__init__.py").is_file()]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return grimp.build_graph(*present, cache_dir=None)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected group of modules (Tarjan), migrations left out."""
    modules = sorted(m for m in graph.modules if ".migrations" not in m)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if ".migrations" in imported:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    cycles = import_cycles(_first_party_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(group) for group in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]


def _write_path_modules() -> dict[Path, ast.Module]:
    return {
        path: ast.parse(path.read_text(), filename=str(path))
        for folder in WRITE_PATH
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def _calls(node: ast.AST, name: str) -> bool:
    return any(
        isinstance(inner, ast.Call)
        and (
            (isinstance(inner.func, ast.Name) and inner.func.id == name)
            or (isinstance(inner.func, ast.Attribute) and inner.func.attr == name)
        )
        for inner in ast.walk(node)
    )


def _on_commit_arguments(tree: ast.Module) -> set[int]:
    """ids of every node inside the arguments of a ``transaction.on_commit(...)`` call."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            named = (isinstance(func, ast.Attribute) and func.attr == "on_commit") or (
                isinstance(func, ast.Name) and func.id == "on_commit"
            )
            if named:
                for argument in node.args:
                    inside.update(id(inner) for inner in ast.walk(argument))
    return inside


def queueing_functions(modules: dict[Path, ast.Module]) -> dict[str, Path]:
    """The write path's functions that queue a Celery task (through core.queue.task_named)."""
    return {
        node.name: path
        for path, tree in modules.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and _calls(node, "task_named")
    }


def test_the_write_path_queues_tasks_only_once_its_transaction_commits() -> None:
    modules = _write_path_modules()
    queueing = queueing_functions(modules)
    assert queueing, "the write path queues its tasks through core.queue.task_named"
    offences = []
    for path, tree in modules.items():
        committed = _on_commit_arguments(tree)
        defined_here = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name in queueing
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            named = (isinstance(node, ast.Name) and node.id in queueing) or (
                isinstance(node, ast.Attribute) and node.attr in queueing
            )
            if named and id(node) not in committed and id(node) not in defined_here:
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offences == [], "a task is queued outside transaction.on_commit: " + ", ".join(offences)


def test_the_write_path_reaches_celery_only_through_core_queue() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in _write_path_modules().items()
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in {"send_task", "current_app"})
        or (isinstance(node, ast.alias) and node.name in {"current_app", "shared_task"})
        or (isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("celery", "checklist.tasks")))
    ]
    assert offences == []


def test_the_queueing_guard_catches_a_task_queued_inside_the_transaction() -> None:
    tree = ast.parse(
        "def kick():\n    task_named('t').delay()\n\n"
        "def good():\n    transaction.on_commit(lambda: kick())\n\n"
        "def bad():\n    kick()\n"
    )
    assert set(queueing_functions({Path("x.py"): tree})) == {"kick"}
    committed = _on_commit_arguments(tree)
    references = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "kick"]
    assert [n.lineno for n in references if id(n) not in committed] == [8]


def _readme_layout() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def test_the_readme_layout_is_the_tree_as_it_is() -> None:
    """Every folder the layout names exists, and every package of the project (and every room of
    the checklist app) is named in it."""
    layout = _readme_layout()
    named = {line.split()[0].rstrip("/") for line in layout.splitlines() if line.strip() and not line.startswith(" ")}
    named |= {part for token in named for part in token.split() if "/" not in part}
    missing = sorted(name for name in named if "." not in name and not (ROOT / name).exists())
    assert missing == [], f"the README names folders that do not exist: {missing}"
    packages = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in {"tests", "bench"})
    assert [name for name in packages if f"{name}/" not in layout] == []
    rooms = sorted(p.parent.name for p in (ROOT / "checklist").glob("*/__init__.py") if p.parent.name != "migrations")
    assert [room for room in rooms if f"  {room}/" not in layout and room != "management"] == []
