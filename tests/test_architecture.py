"""The layout's rules, checked on the source itself (issue 11).

- No import circles among the app's and the library's modules, function-local imports
  included (a local import only hides a circle, it does not remove it).
- Outside ``peft_edu/methods/`` and ``peft_edu/registry.py`` no code compares a method key
  as a string (``method == "lora"``, ``method in ("lora", "dora")``) and no code keeps a
  per-method table (a dict literal keyed by method keys): behaviour comes from the method's
  module (``peft_edu.methods.protocol``) or its ``MethodSpec``.
- ``peft_edu`` never imports streamlit; ``app_pages/`` holds only page scripts.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from peft_edu.registry import METHODS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("peft_edu", "ui", "app_pages")
OWNERS = ("peft_edu/methods/", "peft_edu/registry.py")  # where per-method facts belong


def sources() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the app and the library."""
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = sources()


def imported(path: Path, module: str) -> set[str]:
    """Project modules that ``path`` imports anywhere (top level or inside functions)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            out.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names)
    return {name for name in out if name in MODULES and name != module}


def import_graph() -> dict[str, set[str]]:
    return {name: imported(path, name) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_graph_sees_function_local_imports():
    graph = import_graph()
    assert "peft_edu.methods.layers" in graph["peft_edu.methods"]  # imported inside Method.model_params


# ---------------------------------------------------------------- method keys in code
def _key(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in METHODS:
        return node.value
    return None


def method_key_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every comparison with a method key and every per-method dict literal."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            elements = [e for side in sides if isinstance(side, (ast.Tuple, ast.List, ast.Set))
                        for e in side.elts]
            keys = [k for k in map(_key, sides + elements) if k]
            if keys:
                found.append((node.lineno, f"compares with {keys}"))
        elif isinstance(node, ast.Dict):
            keys = [k for k in map(_key, node.keys) if k]
            if len(keys) >= 2:
                found.append((node.lineno, f"per-method table {keys}"))
    return found


def test_the_scanner_sees_string_dispatch():
    tree = ast.parse('if cfg.method == "lora_plus": pass\nx = m in ("dora", "vera")\nT = {"lora": 1, "ia3": 2}')
    assert [line for line, _ in method_key_uses(tree)] == [1, 2, 3]
    assert method_key_uses(ast.parse('x = spec.key == other\nd = {"r": 1, "alpha": 2}')) == []


def _outside_owners() -> list[Path]:
    files = [p for name, p in MODULES.items()]
    return [p for p in files if not str(p.relative_to(ROOT)).startswith(OWNERS)]


@pytest.mark.parametrize("path", _outside_owners(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_method_key_dispatch_outside_the_methods(path):
    assert method_key_uses(ast.parse(path.read_text())) == []


# ---------------------------------------------------------------- layers of the app
def test_library_never_imports_streamlit():
    for name, path in MODULES.items():
        if name.startswith("peft_edu"):
            tree = ast.parse(path.read_text())
            names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert not any(n.split(".")[0] == "streamlit" for n in names), name


def test_app_pages_holds_only_page_scripts_and_nothing_imports_them():
    graph = import_graph()
    pages = {name for name in MODULES if name.startswith("app_pages")}
    assert not (ROOT / "app_pages" / "__init__.py").exists()
    assert not (ROOT / "pages").exists()  # Streamlit's legacy multipage folder: never beside app.py
    assert not any(graph[name] & pages for name in MODULES)


def test_every_chart_goes_through_ui_charts():
    """Pages draw plotly figures with ``ui.charts.chart`` only: it keeps a shared figure's dict
    (cheap page runs) and plotly's own template (text contrast, tests/test_contrast.py)."""
    offenders = [str(p.relative_to(ROOT)) for folder in ("ui", "app_pages") for p in (ROOT / folder).rglob("*.py")
                 if "st.plotly_chart(" in p.read_text() and p != ROOT / "ui" / "charts.py"]
    assert offenders == []
