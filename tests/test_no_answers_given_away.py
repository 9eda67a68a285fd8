"""No released lesson, and nothing in ``rnnkit``, gives away the answer of an exercise.

A learner can read every released notebook and import anything in ``rnnkit``; so neither may hold
the solution of any exercise of any lesson (COURSE.md, "Grading"). Two checks:

1. **Copied code.** The source of every solution span (the code between ``### BEGIN SOLUTION``
   and ``### END SOLUTION`` of a solution notebook) is normalised: comments, docstrings, blank
   lines and layout are dropped, strings become one placeholder, and each logical line is
   rewritten as a sequence of tokens. Two forms are compared: with the names as written, and
   with every name that is not a keyword, builtin, module alias or attribute renamed in the order
   it first appears (so a copy with renamed variables is still caught). A span of at least
   ``MIN_LINES`` normalised lines leaks when a window of ``MIN_LINES`` consecutive lines of it
   appears, in the same normalised form, in another lesson's released notebook
   (``lessons/*/*.ipynb``, every code cell) or in a file of ``lib/rnnkit``. (The lesson's own
   released notebook is checked by ``test_repository.py``.) Trivial spans (``return h``, a one-line
   comprehension) are shorter than a window and are never flagged.
2. **Defined again.** A released lesson must not define a function or class with the name of an
   exercise of another lesson (lesson 02 re-defining ``rnn_forward`` with its body, lesson 01
   defining ``clip_by_global_norm``): a later lesson that needs an earlier exercise uses
   ``torch.nn`` / autograd, under another name.

The detector is tested on planted copies (verbatim, and with renamed variables and other comments)
so that it cannot silently stop detecting anything.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import keyword
import re
import textwrap
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MIN_LINES = 3                      # a window of this many consecutive normalised lines
SPAN_RE = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION", re.S | re.M)
# names kept as written when variables are renamed: modules and their usual aliases
KEEP = set(keyword.kwlist) | set(dir(builtins)) | {
    "np", "numpy", "torch", "nn", "F", "math", "self", "cls", "functional"}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _without_magics(src: str) -> str:
    return "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines())


def logical_lines(src: str) -> list[list[tuple[str, str, bool]]]:
    """Token lists of the logical lines of ``src``, without comments, docstrings and layout.

    Each token is ``(kind, text, after_dot)``; a line made of one string (a docstring, or a
    string used as a comment) is dropped. Source that does not tokenise is cut at the error.
    """
    src = textwrap.dedent(_without_magics(src)).strip("\n") + "\n"
    lines, cur, prev = [], [], None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT,
                            tokenize.ENCODING, tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NEWLINE:
                if cur and not (len(cur) == 1 and cur[0][0] == "STR"):
                    lines.append(cur)
                cur, prev = [], None
                continue
            if tok.type == tokenize.STRING or tok.type in _FSTRING_TYPES:
                if cur and cur[-1][0] == "STR":          # implicit concatenation, f-string parts
                    continue
                cur.append(("STR", "STR", False))
            elif tok.type == tokenize.NAME:
                cur.append(("NAME", tok.string, prev == "."))
            elif tok.type == tokenize.NUMBER:
                cur.append(("NUM", tok.string, False))
            else:
                cur.append(("OP", tok.string, False))
            prev = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    if cur and not (len(cur) == 1 and cur[0][0] == "STR"):
        lines.append(cur)
    return lines


_FSTRING_TYPES = {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                  if hasattr(tokenize, n)}


def _exact(window) -> tuple[str, ...]:
    return tuple(" ".join(t for _, t, _ in line) for line in window)


def _renamed(window) -> tuple[str, ...]:
    names: dict[str, str] = {}
    out = []
    for line in window:
        words = []
        for kind, text, after_dot in line:
            if kind == "NAME" and not after_dot and text not in KEEP:
                text = names.setdefault(text, f"v{len(names)}")
            words.append(text)
        out.append(" ".join(words))
    return tuple(out)


def windows(lines, n: int = MIN_LINES) -> set[tuple[str, ...]]:
    """Both normalised forms of every window of ``n`` consecutive logical lines."""
    found = set()
    for k in range(len(lines) - n + 1):
        w = lines[k:k + n]
        found.add(("exact",) + _exact(w))
        found.add(("renamed",) + _renamed(w))
    return found


def solution_spans() -> list[tuple[str, str, str]]:
    """``(lesson, grade_id, source)`` of every solution span of every solution notebook."""
    spans = []
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        for cell in _cells(path):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] != "code" or not meta.get("solution"):
                continue
            for body in SPAN_RE.findall(_source(cell)):
                spans.append((path.parent.name, meta.get("grade_id", "?"), body))
    return spans


def released_sources(but: str | None = None) -> dict[str, str]:
    """Every place a learner can read: released notebooks (code cells), but lesson ``but``'s,
    and rnnkit's files."""
    found = {}
    for path in sorted((REPO / "lessons").glob("*/*.ipynb")):
        if path.parent.name == but:
            continue
        for k, cell in enumerate(_cells(path)):
            if cell["cell_type"] == "code":
                meta = cell.get("metadata", {}).get("nbgrader", {})
                found[f"{path.relative_to(REPO)} cell {k} ({meta.get('grade_id', 'no id')})"] = \
                    _source(cell)
    for path in sorted((REPO / "lib" / "rnnkit").rglob("*.py")):
        found[str(path.relative_to(REPO))] = path.read_text()
    return found


def find_copies(spans, sources) -> list[str]:
    """Messages naming each solution span whose normalised code appears in one of ``sources``."""
    index: dict[tuple, list[str]] = {}
    for where, text in sources.items():
        for w in windows(logical_lines(text)):
            index.setdefault(w, []).append(where)
    leaks = []
    for lesson, grade_id, body in spans:
        lines = logical_lines(body)
        if len(lines) < MIN_LINES:
            continue
        for k in range(len(lines) - MIN_LINES + 1):
            w = lines[k:k + MIN_LINES]
            hits = index.get(("exact",) + _exact(w)) or index.get(("renamed",) + _renamed(w))
            if hits:
                shown = "\n        ".join(_exact(w))
                leaks.append(f"the answer of {lesson}/{grade_id} appears in {sorted(set(hits))[0]}"
                             f" (normalised lines {k + 1}-{k + MIN_LINES} of the span):\n"
                             f"        {shown}")
                break
    return leaks


def exercise_names() -> dict[str, str]:
    """``{name: lesson}`` of every function and class an answer cell defines."""
    names = {}
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        for cell in _cells(path):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "code" and meta.get("solution"):
                try:
                    tree = ast.parse(_without_magics(_source(cell)))
                except SyntaxError:
                    continue
                for node in tree.body:
                    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                        names.setdefault(node.name, path.parent.name)
    return names


def redefined_exercises(lesson_path: Path, names: dict[str, str]) -> list[str]:
    """Exercises of other lessons that a released notebook defines (with a body)."""
    lesson = lesson_path.parent.name
    found = []
    for k, cell in enumerate(_cells(lesson_path)):
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(_without_magics(_source(cell)))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and names.get(node.name, lesson) != lesson):
                found.append(f"lessons/{lesson}/{lesson_path.name} cell {k} defines {node.name}, an "
                             f"exercise of {names[node.name]}: use torch.nn / autograd under "
                             f"another name")
    return found


# ----------------------------------------------------------------------------- the checks

def test_no_released_lesson_and_nothing_in_rnnkit_holds_a_solution_span():
    spans = solution_spans()
    assert len(spans) >= 20, f"only {len(spans)} solution spans found: is the pattern right?"
    leaks = []
    for lesson in sorted({s[0] for s in spans}):
        leaks += find_copies([s for s in spans if s[0] == lesson], released_sources(but=lesson))
    assert not leaks, ("answers given away (a learner can read these places):\n  "
                       + "\n  ".join(leaks))


@pytest.mark.parametrize("path", sorted((REPO / "lessons").glob("*/*.ipynb")),
                         ids=lambda p: p.parent.name)
def test_no_released_lesson_defines_another_lessons_exercise(path):
    found = redefined_exercises(path, exercise_names())
    assert not found, "\n".join(found)


# ----------------------------------------------------------------------------- the detector

LSTM_SPAN = '''
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    dc = dc_next + dh_next * o * (1.0 - tanh_c ** 2)      # (N, H)
    do = dh_next * tanh_c                                 # (N, H)
    di = dc * g                                           # (N, H)
    df = dc * c_prev                                      # (N, H)
'''


def test_the_detector_finds_a_verbatim_copy_in_a_notebook_cell():
    planted = "import numpy as np\n\ndef helper(cache, dh_next, dc_next):\n" + LSTM_SPAN
    leaks = find_copies([("03_lstm", "lstm_step_backward", LSTM_SPAN)], {"planted": planted})
    assert leaks and "03_lstm/lstm_step_backward" in leaks[0]


def test_the_detector_finds_a_copy_with_other_names_comments_and_layout():
    planted = '''
def my_backward(grad_h, grad_c, stuff):
    """A docstring that was not in the original."""
    (inp, hp, cp, A, B, ig, fg, gg, og, tc) = stuff   # unpack
    # a comment line
    total = grad_c + grad_h*og*(1.0 - tc**2)
    d_out = grad_h * tc
    d_in = total * gg
    return d_in
'''
    assert find_copies([("03_lstm", "lstm_step_backward", LSTM_SPAN)], {"planted": planted})


def test_the_detector_finds_a_planted_copy_of_a_real_span_in_a_real_lesson():
    spans = [s for s in solution_spans() if len(logical_lines(s[2])) >= MIN_LINES]
    lesson, grade_id, body = spans[0]
    sources = released_sources()
    target = next(k for k in sources if k.startswith("lessons/") and lesson not in k)
    sources[target] += "\n\ndef planted(*args):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    leaks = find_copies([spans[0]], sources)
    assert leaks and target in leaks[0]


def test_the_detector_ignores_short_spans_and_unrelated_code():
    assert not find_copies([("01_rnn", "x", "    return h\n")], {"a": "def f(h):\n    return h\n"})
    unrelated = '''
x = np.zeros((3, 4))
y = x @ x.T
print(y.sum())
'''
    assert not find_copies([("03_lstm", "lstm_step_backward", LSTM_SPAN)], {"a": unrelated})


def test_the_detector_finds_a_redefined_exercise(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source":
                     "def rnn_forward(x, h0):\n    return torch.nn.RNN(3, 4)(x)\n"}]}
    fake = tmp_path / "02_vanishing_gradients" / "02_vanishing_gradients.ipynb"
    fake.parent.mkdir(parents=True)
    fake.write_text(json.dumps(nb))
    found = redefined_exercises(fake, {"rnn_forward": "01_rnn"})
    assert found and "rnn_forward" in found[0] and "01_rnn" in found[0]
    assert not redefined_exercises(fake, {"rnn_forward": "02_vanishing_gradients"})
