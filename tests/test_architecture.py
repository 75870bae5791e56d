"""The package's import graph: no cycles, and every module imports only its own layer or lower ones;
and every module small enough to read in one sitting.

Layers, lowest first: errors, console, records (and the package root) <- data <- env <- policies / engines <- train / eval
<- report / experiments / bench / cli. Every import statement counts, including those inside functions (a lazy
import is still a dependency); importing ``a.b.c`` is an edge to ``a.b.c`` only, not to its parents.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "tinker_explorer"
LAYERS = {"errors": 0, "console": 0, "records": 0, "data": 1, "env": 2, "policies": 3, "engines": 3, "train": 4, "eval": 4,
          "report": 5, "experiments": 5, "integrations": 5, "bench": 5, "cli": 5}
# a module's layer is its folder's, except each subsystem's ``cli`` module: part of the command line
# upward imports still to remove (none now); an entry must still occur (see below), so the list only shrinks
KNOWN_UPWARD: set[tuple[str, str]] = set()
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 80
# functions still over the limit (an entry must still be too long, so the list only shrinks)
KNOWN_LONG: set[str] = set()


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules that ``path`` (module ``name``) imports, resolved to known module names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from a.b import c" imports a.b.c when c is a module, else a name of a.b
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    files = {module_name(p, src): p for p in (src / PKG).rglob("*.py")}
    known = set(files)
    return {name: imports_of(path, name, known) for name, path in files.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    if parts[-1] == "cli":
        return LAYERS["cli"]
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def upward_imports(graph: dict[str, set[str]], known: set[tuple[str, str]] = frozenset()) -> list[str]:
    return sorted(f"{m} (layer {layer(m)}) imports {n} (layer {layer(n)})"
                  for m, deps in graph.items() for n in deps if layer(n) > layer(m) and (m, n) not in known)


def test_every_top_level_part_has_a_layer():
    parts = {module_name(p).split(".")[1] for p in (SRC / PKG).rglob("*.py") if module_name(p) != PKG}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph(), KNOWN_UPWARD) == []


def test_known_upward_imports_still_exist():
    """An upward import that is gone must leave KNOWN_UPWARD too, so the list only shrinks."""
    graph = import_graph()
    assert [(m, n) for m, n in sorted(KNOWN_UPWARD) if n not in graph.get(m, ())] == []


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path):
    """The checks on a tiny package with one cycle (env.a <-> env.b) and one upward import (data -> eval)."""
    pkg = tmp_path / PKG
    for rel, text in {"__init__.py": "", "env/__init__.py": "", "env/a.py": "from . import b\n",
                      "env/b.py": "def f():\n    from tinker_explorer.env import a\n",
                      "data/__init__.py": "", "data/x.py": "from tinker_explorer.eval.metrics import bootstrap_ci\n",
                      "eval/__init__.py": "", "eval/metrics.py": "bootstrap_ci = None\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    graph = import_graph(tmp_path)
    assert find_cycle(graph) in (["tinker_explorer.env.a", "tinker_explorer.env.b", "tinker_explorer.env.a"],
                                 ["tinker_explorer.env.b", "tinker_explorer.env.a", "tinker_explorer.env.b"])
    assert upward_imports(graph) == ["tinker_explorer.data.x (layer 1) imports tinker_explorer.eval.metrics (layer 4)"]


@pytest.mark.parametrize("module,expected", [("tinker_explorer.errors", 0), ("tinker_explorer.data.schema", 1),
                                             ("tinker_explorer.train.compact", 4),
                                             ("tinker_explorer.data.cli", 5), ("tinker_explorer.cli", 5)])
def test_layer_of(module, expected):
    assert layer(module) == expected


def oversized(src: Path = SRC) -> tuple[list[str], dict[str, int]]:
    """(files over MAX_FILE_LINES lines, {module.function: lines} of functions over MAX_FUNCTION_LINES)."""
    files, functions = [], {}
    for path in sorted((src / PKG).rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            files.append(f"{module_name(path, src)} ({len(text.splitlines())} lines)")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    functions[f"{module_name(path, src)}.{node.name}"] = n
    return files, functions


def test_every_file_and_function_reads_in_one_sitting():
    files, functions = oversized()
    assert files == [], f"split these files (over {MAX_FILE_LINES} lines) by concern: {files}"
    too_long = {f: n for f, n in functions.items() if f not in KNOWN_LONG}
    assert too_long == {}, f"split these functions (over {MAX_FUNCTION_LINES} lines): {too_long}"
    assert KNOWN_LONG <= set(functions), f"no longer too long, remove from KNOWN_LONG: {KNOWN_LONG - set(functions)}"


def test_the_size_check_sees_a_long_file_and_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / PKG).mkdir()
    (tmp_path / PKG / "big.py").write_text(f"def f():\n{body}\n" + "\n" * MAX_FILE_LINES)
    (tmp_path / PKG / "small.py").write_text(f"def g():\n{body[:-len(body.splitlines()[-1]) - 1]}\n")
    files, functions = oversized(tmp_path)
    assert files == [f"{PKG}.big ({MAX_FUNCTION_LINES + 1 + MAX_FILE_LINES} lines)"]
    assert functions == {f"{PKG}.big.f": MAX_FUNCTION_LINES + 1}
