"""The course's rule for NumPy exercises, checked on the submitted source, outside the kernel.

Lessons 01, 03 and 04 ask for the RNN, LSTM and GRU in NumPy: torch is the reference the tests
compare with, and an answer that calls it (``torch.nn.LSTMCell``, ``torch.tanh``, or the
``rnnkit.torch_bridge`` helpers that build torch modules) scores full marks without the work.
The tests cannot see it (they compare values), so ``course.py report`` flags it for the
instructor: ``torch in a NumPy exercise: <exercise>``. It is a flag, not a score: a person
decides.

Which exercises are NumPy ones is read from the solution notebook: an answer cell of a lesson of
:data:`LESSONS` whose solution uses no torch (by the analysis below). The analysis reads the
code with :mod:`ast` (never runs it):

* an import of a module of :data:`TORCH_MODULES` anywhere in the exercise's code;
* a name bound to one by an import in any cell (``torch``, ``nn``, ``F``, ``layer_from_numpy``),
  or to a function or class defined in any cell whose body uses torch (a helper in a cell of its
  own), unless the exercise's code binds that name itself (a parameter, a local variable);
* ``__import__("torch")``, ``importlib.import_module("torch.nn")``, ``sys.modules["torch"]``.

The exercise's code is its answer cell (found by its nbgrader id) and every top-level
definition or assignment of the exercise's name in any other cell. Code that hides the module
name (``__import__("tor" + "ch")``) is not seen: the flag is a help for the instructor, not a
proof.
"""

from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path

LESSONS = ("01_rnn", "03_lstm", "04_gru", "05_lstm_vs_gru")
"""Lessons whose NumPy exercises must not use torch (their markdown says so; in 05 the
parameter counts, which are to be derived, not read off a module built with torch)."""

TORCH_MODULES = ("torch", "rnnkit.torch_bridge", "rnnkit.models")
"""Modules whose use counts as torch (rnnkit's bridge and models build torch modules)."""

_IMPORTERS = {"__import__", "import_module"}
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_torch_module(name: str | None) -> bool:
    return bool(name) and any(name == m or name.startswith(m + ".") for m in TORCH_MODULES)


def _parse(source: str) -> ast.Module | None:
    """The cell's code as Python (IPython magics turned into calls); None if it does not parse."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        source = TransformerManager().transform_cell(source)
    except Exception:                          # IPython missing or a cell it cannot transform
        pass
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _bound_locally(fn) -> set[str]:
    """Names a function or lambda binds itself: parameters and the names it assigns."""
    a = fn.args
    names = {arg.arg for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]
             if arg is not None}
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
    return names


def _string(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Finder(ast.NodeVisitor):
    """Does this code use torch? (see the module's docstring)"""

    def __init__(self, tainted: set[str]):
        self.tainted = tainted
        self.shadowed: list[set[str]] = []
        self.found = False

    def _scoped(self, node):
        self.shadowed.append(_bound_locally(node))
        self.generic_visit(node)
        self.shadowed.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _scoped

    def visit_Import(self, node):
        self.found |= any(_is_torch_module(alias.name) for alias in node.names)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self.found |= _is_torch_module(module) or any(
            _is_torch_module(f"{module}.{alias.name}") for alias in node.names)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.tainted and \
                not any(node.id in s for s in self.shadowed):
            self.found = True

    def visit_Call(self, node):
        fn = node.func
        name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
        if name in _IMPORTERS and node.args and _is_torch_module(_string(node.args[0])):
            self.found = True
        self.generic_visit(node)

    def visit_Subscript(self, node):                    # sys.modules["torch"]
        if _is_torch_module(_string(node.slice)):
            self.found = True
        self.generic_visit(node)


def _uses_torch(node, tainted: set[str]) -> bool:
    finder = _Finder(tainted)
    finder.visit(node)
    return finder.found


def _import_aliases(tree: ast.Module) -> set[str]:
    """Top-level names that imports bind to torch modules (or to objects taken from them)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_torch_module(alias.name):
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if _is_torch_module(module) or _is_torch_module(f"{module}.{alias.name}"):
                    names.add(alias.asname or alias.name)
    return names


def _code_cells(nb: dict) -> list[tuple[str | None, ast.Module]]:
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        tree = _parse("".join(source) if isinstance(source, list) else str(source))
        if tree is not None:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            cells.append((gid if isinstance(gid, str) else None, tree))
    return cells


def _binds(stmt, name: str) -> bool:
    if isinstance(stmt, _DEFS):
        return stmt.name == name
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return any(isinstance(n, ast.Name) and n.id == name
                   for t in targets for n in ast.walk(t))
    return False


def torch_exercises(nb: dict, exercises) -> list[str]:
    """The exercises (answer-cell ids, which are also the names they define) whose code uses
    torch in notebook ``nb``."""
    exercises = list(exercises)
    cells = _code_cells(nb)
    tainted = set().union(*(_import_aliases(tree) for _, tree in cells))
    defs = [stmt for _, tree in cells for stmt in tree.body
            if isinstance(stmt, _DEFS) and stmt.name not in exercises]
    grew = True
    while grew:                              # helpers that use torch, or use such helpers
        grew = False
        for stmt in defs:
            if stmt.name not in tainted and _uses_torch(stmt, tainted):
                tainted.add(stmt.name)
                grew = True
    found = []
    for name in exercises:
        nodes = [tree for gid, tree in cells if gid == name]
        nodes += [stmt for gid, tree in cells if gid != name for stmt in tree.body
                  if _binds(stmt, name)]
        if any(_uses_torch(node, tainted - {name}) for node in nodes):
            found.append(name)
    return found


@lru_cache(maxsize=16)
def _numpy_exercises_cached(solution: str, mtime: float) -> tuple[str, ...]:
    nb = json.loads(Path(solution).read_text())
    answers = [c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
               if c.get("cell_type") == "code"
               and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    with_torch = set(torch_exercises(nb, answers))
    return tuple(a for a in answers if a not in with_torch)


def numpy_exercises(solution: Path, lesson: str) -> list[str]:
    """The NumPy exercises of a lesson: none outside :data:`LESSONS`; otherwise the answer
    cells of its solution notebook whose solution uses no torch."""
    if lesson not in LESSONS or not Path(solution).is_file():
        return []
    return list(_numpy_exercises_cached(str(solution), Path(solution).stat().st_mtime))


def flags(submitted: Path, solution: Path, lesson: str) -> list[str]:
    """``["torch in a NumPy exercise: <exercise>", ...]`` for a submitted notebook; [] when
    there is nothing to flag or the notebook cannot be read (other flags say so)."""
    try:
        names = numpy_exercises(solution, lesson)
        if not names:
            return []
        nb = json.loads(Path(submitted).read_text())
        if not isinstance(nb, dict):
            return []
        return [f"torch in a NumPy exercise: {name}" for name in torch_exercises(nb, names)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return []
