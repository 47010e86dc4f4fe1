"""The layout shows the architecture: imports point one way (orchestrator -> analysis -> trainer),
the trainer imports no Ray, MLflow or Optuna, and no package has an import loop. Read from the
source with ``ast``, every import counted (also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("trainer", "analysis", "orchestrator")
LAYER = {"trainer": 0, "analysis": 1, "orchestrator": 2}         # a package imports only lower layers
SERVICES = ("ray", "mlflow", "optuna")                            # what the trainer never imports


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module ``name`` imports: absolute names, and relative ones resolved (``from . import
    x`` imports the submodule x where there is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known}
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports"
              and isinstance(node.args[1], ast.Dict)):        # a package's names imported on first use
            found |= {f"{package}{key.value}" for key in node.args[1].keys}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, set(known)) for name, path in known.items()}


def top(name: str) -> str:
    return name.split(".")[0]


def test_imports_point_down_the_layers():
    upward = sorted(f"{name} imports {target}" for name, targets in graph().items() for target in targets
                    if top(target) in LAYER and LAYER[top(target)] > LAYER[top(name)])
    assert upward == []


def test_the_trainer_imports_no_ray_mlflow_or_optuna():
    found = sorted(f"{name} imports {target}" for name, targets in graph().items() if top(name) == "trainer"
                   for target in targets if top(target) in SERVICES)
    assert found == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import loops among the project's modules (one per strongly connected component)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return loops


def package_edges() -> dict[str, set[str]]:
    """Module -> modules, without the edges from a package's __init__ to its own submodules (it
    re-exports them; a submodule importing its package's public names is no loop)."""
    edges = graph()
    return {name: {t for t in targets if not (modules()[name].name == "__init__.py" and t.startswith(name + "."))}
            for name, targets in edges.items()}


def test_no_import_loops():
    assert cycles(package_edges()) == []


def test_the_loop_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_seen(package):
    assert any(name.startswith(package + ".") for name in modules())


def test_orchestrator_functions_read_in_one_screen():
    """The orchestrator is small functions with one job each (run_sweep reads as a sweep's steps)."""
    lengths = sorted(((node.end_lineno - node.lineno + 1, f"{name}.{node.name}")
                      for name, path in modules().items() if top(name) == "orchestrator"
                      for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), reverse=True)
    print(f"longest orchestrator function: {lengths[0][1]}, {lengths[0][0]} lines")
    assert lengths[0][0] <= 50, lengths[:3]
