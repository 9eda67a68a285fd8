"""Derive, then implement: the backward exercises give no gradient formula away (COURSE.md).

A backward exercise (an answer cell whose function returns gradients) states its shapes, the
cache it reads and what it returns, not the formulas: a learner who could read the formulas in
the docstring, or in the markdown right above it, would transcribe them instead of deriving
them. The markdown above each one teaches the method on the simplest case and ends with
progressive hints, collapsed in ``<details>`` sections, which may give the formulas one at a time.

Checked in the solutions and in the released lessons:

1. the docstring of every backward exercise has no gradient formula: no assignment-like line
   ``d<name> = ...`` (``dx = dA @ W_ih``, ``di, df, dg = ...``, ``dW_ih += ...``), no
   ``\\delta``/``\\bar``/``\\partial``/``∂`` gradient followed by ``=``, no local derivative
   written out (``1 - h_next**2``, ``i*(1-i)``);
2. the markdown cells right above it hold at least two hints, ``<details><summary>Hint 1: ...``,
   ``Hint 2: ...`` in order, each closed and with blank lines around its body (else JupyterLab
   and the feedback HTML show its math and markdown as raw text);
3. outside those hints, that markdown has no gradient formula of the exercise's own arrays: the
   method is taught on generic names (``u``, ``v``, ``y``, ``U``, ``V``, ``Y``, ``b``, ``L``).

The detector is tried on the formulas the notebooks used to state, so that it cannot silently stop
detecting anything.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# every exercise that returns a gradient, by lesson
BACKWARD = {
    "01_rnn": ["rnn_step_backward", "rnn_backward", "softmax_cross_entropy"],
    "03_lstm": ["lstm_step_backward", "lstm_backward"],
    "04_gru": ["gru_step_backward", "gru_backward"],
}
# functions named *backward* that return no gradient (lesson 05 times a forward and backward pass)
NOT_GRADIENTS = {"time_forward_backward"}
CASES = [(kind, lesson, name) for kind in ("solutions", "lessons")
         for lesson, names in BACKWARD.items() for name in names]
MIN_HINTS = 2
# names the method sections use for their generic examples; a gradient of one of them may be
# written out above an exercise
GENERIC = {"u", "v", "y", "U", "V", "Y", "b", "L"}

# d<name> = / += (a gradient assigned in code form); not dtype=, and not the du of dy/du =
_ASSIGN = re.compile(r"(?<![\w./\\])d(?!type\b)[A-Za-z]\w*\s*(?:\[[^\]\n]*\])?\s*[-+*/]?=(?![=>])")
# a gradient symbol applied to a name: \delta x, \bar{c}, \overline{\mathrm{hn}}, \partial W, ∂z
_SYMBOL = re.compile(r"(\\delta|\\bar|\\overline|\\partial|∂|\\nabla)\s*\{?\s*"
                     r"(?:\\(?:mathrm|mathbf|text|operatorname)\s*\{\s*)?([A-Za-z]+)")
_EQUALS = re.compile(r"(?<![=<>!])=(?![=>])")
_RATIO = re.compile(r"\bdL\s*/\s*d\w+[^=\n]*?(?<![=<>!])=(?![=>])")
# a local derivative written out: 1 - h**2, 1 - \tanh^2, x * (1 - x), \sigma(1 - \sigma)
_LOCAL = [re.compile(r"1\s*-\s*\\?[A-Za-z_][\w{}()\\]*\s*(?:\*\*|\^)\s*\{?2"),
          re.compile(r"\b([A-Za-z_]\w*)\s*\*?\s*\(\s*1\.?0?\s*-\s*\1\s*\)"),
          re.compile(r"\\sigma[^\n]*\(\s*1\s*-\s*\\sigma")]


def _cells(kind: str, lesson: str) -> list[dict]:
    return json.loads((REPO / kind / lesson / f"{lesson}.ipynb").read_text())["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _answer_index(cells: list[dict], name: str) -> int:
    for k, cell in enumerate(cells):
        if cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get(
                "grade_id") == name:
            return k
    raise AssertionError(f"no answer cell with grade_id {name!r}")


def docstring(src: str, name: str) -> str:
    tree = ast.parse("\n".join("" if l.lstrip().startswith(("%", "!")) else l
                               for l in src.splitlines()))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            doc = ast.get_docstring(node, clean=False)
            assert doc, f"{name} has no docstring"
            return doc
    raise AssertionError(f"the answer cell does not define {name}")


def formulas(text: str, generic: set[str] = frozenset(), local: bool = True) -> list[str]:
    """The lines of ``text`` that state a gradient formula (see the module docstring).

    A gradient symbol counts when ``=`` follows it on its line and it is applied to a name not
    in ``generic``; ``local`` also flags local derivatives written out.
    """
    found = []
    for line in text.splitlines():
        hit = bool(_ASSIGN.search(line)) or bool(_RATIO.search(line))
        for m in _SYMBOL.finditer(line):
            if m.group(2) not in generic and _EQUALS.search(line, m.end()):
                hit = True
        if local and any(p.search(line) for p in _LOCAL):
            hit = True
        if hit:
            found.append(line.strip())
    return found


_DETAILS = re.compile(r"<details>\s*<summary>(.*?)</summary>(.*?)</details>", re.S)


def markdown_above(cells: list[dict], k: int) -> str:
    """The markdown cells right above cell ``k`` (up to the previous code cell), joined."""
    parts = []
    j = k - 1
    while j >= 0 and cells[j]["cell_type"] == "markdown":
        parts.insert(0, _source(cells[j]))
        j -= 1
    return "\n\n".join(parts)


def test_every_backward_exercise_is_listed():
    """A new exercise that returns gradients must be added to BACKWARD, or it is not checked."""
    missing = []
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] != "code" or not meta.get("solution"):
                continue
            for fn in re.findall(r"^def (\w*backward\w*)\(", _source(cell), re.M):
                if fn not in BACKWARD.get(path.parent.name, []) and fn not in NOT_GRADIENTS:
                    missing.append(f"{path.parent.name}/{fn}")
    assert not missing, f"backward exercises not listed in BACKWARD: {missing}"


@pytest.mark.parametrize("kind,lesson,name", CASES)
def test_backward_docstring_states_no_gradient_formula(kind, lesson, name):
    cells = _cells(kind, lesson)
    doc = docstring(_source(cells[_answer_index(cells, name)]), name)
    found = formulas(doc)
    assert not found, (f"{kind}/{lesson}: the docstring of {name} states gradient formulas; keep "
                       "shapes, the cache layout and what is returned, and move the formulas into "
                       "the hints above the exercise:\n  " + "\n  ".join(found))
    reads_cache = name != "softmax_cross_entropy"            # the loss takes logits, no cache
    assert "Returns:" in doc and ("cache" in doc or not reads_cache), \
        f"{kind}/{lesson}: the docstring of {name} must still say what it returns and the cache"


@pytest.mark.parametrize("kind,lesson,name", CASES)
def test_backward_exercise_has_progressive_hints(kind, lesson, name):
    cells = _cells(kind, lesson)
    md = markdown_above(cells, _answer_index(cells, name))
    hints = _DETAILS.findall(md)
    assert len(hints) >= MIN_HINTS, (
        f"{kind}/{lesson}: {name} needs at least {MIN_HINTS} collapsed hints "
        f"(<details><summary>Hint 1: ...</summary> ... </details>) in the markdown right above "
        f"it; found {len(hints)}")
    assert md.count("<details>") == md.count("</details>") == len(hints), \
        f"{kind}/{lesson}: an unclosed or nested <details> above {name}"
    for number, (summary, body) in enumerate(hints, start=1):
        assert re.match(rf"\s*Hint {number}\b", summary), \
            f"{kind}/{lesson}: hint {number} above {name} is titled {summary.strip()!r}"
        assert "$" not in summary, f"{kind}/{lesson}: math in a <summary> above {name} is not rendered"
        assert body.startswith("\n\n") and body.rstrip(" ").endswith("\n\n"), (
            f"{kind}/{lesson}: hint {number} above {name} needs a blank line after </summary> and "
            "before </details>, or its markdown and math are shown as raw text")


@pytest.mark.parametrize("kind,lesson,name", CASES)
def test_markdown_above_backward_gives_formulas_only_in_hints(kind, lesson, name):
    cells = _cells(kind, lesson)
    md = _DETAILS.sub("", markdown_above(cells, _answer_index(cells, name)))
    found = formulas(md, generic=GENERIC, local=False)
    assert not found, (f"{kind}/{lesson}: the markdown above {name} states gradient formulas "
                       "outside the collapsed hints (teach the method on generic names, and give "
                       "the exercise's formulas in the hints):\n  " + "\n  ".join(found))


STATED_BEFORE = [
    # docstrings of the backward exercises before they were rewritten
    r"With :math:`\delta a = \delta h_{next} \odot (1 - h_{next}^2)`:",
    r"\delta x = \delta a\, W_{ih}, \quad \delta h_{prev} = \delta a\, W_{hh}, \quad",
    r"\delta W_{ih} = \sum_t \delta a_t^T x_t, \quad \delta W_{hh} = \sum_t \delta a_t^T h_{t-1},",
    r"\frac{\partial L}{\partial z} = \frac{\mathrm{softmax}(z) - \mathrm{onehot}(y)}{NT}",
    "dc  = dc_next + dh_next * o * (1 - tanh(c_next)**2)     total gradient on c_next",
    "di, df, dg = dc * g, dc * c_prev, dc * i",
    "dA  = [di * i*(1-i), df * f*(1-f), dg * (1-g**2), do * o*(1-o)]   (N, 4H), order i, f, g, o",
    "dW_ih = dA.T @ x, dW_hh = dA.T @ h_prev, db_ih = db_hh = dA.sum(axis=0)",
    "dx[:, t], dh_carry, dc_carry, dW_ih_t, dW_hh_t, db_ih_t, db_hh_t =",
    "dn  = dh_next * (1 - z)             dz = dh_next * (h_prev - n)",
    "da_r = da_n * hn * r * (1 - r)",
    "dh_prev = dh_next * z + dG_h @ W_hh",
    "dW_ih += dW_ih_t",
    "dL/dz = (p - onehot(y)) / (N*T)",
    "∂L/∂z = p - onehot(y)",
    "the gradient through the tanh is dh_next * (1 - h_next**2)",
]
ALLOWED = [
    "dh_next: total gradient of the loss with respect to h_next, (N, H).",
    "cache: the cache returned by lstm_step_forward; in its documented layout, the tuple",
    "(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c), with the gates i, f, g, o",
    "dh: upstream gradients on every hidden state, shape (N, T, H): ``dh[:, t]`` is the",
    r"L = -\frac{1}{NT} \sum_{n,t} \log \mathrm{softmax}(z_{nt})_{y_{nt}}",
    "dx: (N, D), dh_prev: (N, H), dW_ih: (3H, D), dW_hh: (3H, H), db_ih: (3H,), db_hh: (3H,).",
    "Calls rnn_step_backward once per step, from the last step to the first.",
    "dtype='float64' is accepted as well.",
]


@pytest.mark.parametrize("line", STATED_BEFORE)
def test_detector_finds_the_formulas_docstrings_used_to_state(line):
    assert formulas(line) == [line.strip()]


@pytest.mark.parametrize("line", ALLOWED)
def test_detector_lets_shapes_caches_and_forward_equations_through(line):
    assert formulas(line) == []


def test_detector_on_markdown_lets_the_generic_method_through_and_nothing_else():
    method = [r"$\delta U = \delta Y\, V^\top$ : $(N, M)(M, K) = (N, K)$",
              r"$$\frac{\partial L}{\partial u} = \frac{\partial L}{\partial y}\, f'(u) .$$",
              r"The derivative is a function of the output: if $y = \tanh u$, then $dy/du = 1 - y^2$."]
    answers = [r"$$\delta a = \delta h_{next} \odot \left(1 - h_{next} \odot h_{next}\right)$$",
               r"\bar c_t = \bar c_t^{\,\text{next}} + \bar h_t \odot o_t \odot \big(1 - \tanh^2(c_t)\big).",
               r"\overline{\mathrm{hn}}_t = \bar a^n_t \odot r_t .",
               r"$$\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta a_t^\top h_{t-1}$$"]
    for line in method:
        assert formulas(line, generic=GENERIC, local=False) == [], line
    for line in answers:
        assert formulas(line, generic=GENERIC, local=False) == [line], line
    planted = ("intro\n\n<details><summary>Hint 1: start</summary>\n\n" + answers[0] +
               "\n\n</details>\n")
    assert formulas(_DETAILS.sub("", planted), generic=GENERIC, local=False) == []
