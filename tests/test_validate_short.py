"""Validate shows one short message per failing cell (issue 19, item 4).

`nbgrader validate`, run from ``autograder/`` with the course's configuration (what the
Validate button of JupyterLab runs: the dialog shows the same text), prints for each failing
test cell the cell's source and "The error was:" followed by the error's traceback lines. Those
lines must be the failure's message alone (and, where the learner's code raised, the line that
raised it): no frames of rnnkit's harness, no "Traceback (most recent call last)".

Two notebooks of lesson 01, validated at the same time:

* ``blank``: the released lesson as a learner gets it (every test cell fails on
  ``NotImplementedError``);
* ``one_wrong``: every answer written (the solutions' code) but ``softmax_cross_entropy``,
  which takes the maximum over the wrong axis, so NumPy raises inside the learner's function.

Under grading, test cells run in the grader process (``autograder/test_runner.py``), whose
error output is already ``ename: evalue`` alone; a unit test checks that a name the notebook
never defined is reported as such (item 5), not as "rnn_forward raised NameError".
"""

import json
import os
import re
import runpy
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, lesson_ids, load_nb

LESSON = "01_rnn"
pytestmark = pytest.mark.skipif(LESSON not in lesson_ids(), reason="lesson 01 is missing")
SEPARATOR = "=" * 90
MAX_ERROR_LINES = 8          # headline (wrapped), the learner's location and its line

WRONG_SOFTMAX = '''def softmax_cross_entropy(logits, targets):
    N, T, V = logits.shape
    z = logits - logits.max(axis=1)                     # the wrong axis
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    loss = float(-np.take_along_axis(log_p, np.asarray(targets)[..., None], axis=-1).mean())
    return loss, np.exp(log_p) / (N * T)
'''


def _grade_id(cell) -> str:
    return cell["metadata"].get("nbgrader", {}).get("grade_id", "")


def _one_wrong(dest) -> None:
    """The released lesson with every answer cell holding the solution, softmax's a wrong one."""
    answers = {_grade_id(c): c["source"] for c in load_nb(REPO / "solutions" / LESSON /
                                                           f"{LESSON}.ipynb")["cells"]}
    path = dest / f"{LESSON}.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            cell["source"] = (WRONG_SOFTMAX if meta["grade_id"] == "softmax_cross_entropy"
                              else answers[meta["grade_id"]])
    path.write_text(json.dumps(nb))


def _validate(folders) -> dict:
    """``nbgrader validate`` of each folder's notebook, all at once: ``{folder: output}``."""
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(REPO / "autograder"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("RNNCOURSE_FULL_TRACEBACKS", None)
    procs = {folder: subprocess.Popen(
        [sys.executable, "-m", "nbgrader", "validate", str(folder / f"{LESSON}.ipynb")],
        cwd=REPO / "autograder", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True) for folder in folders}
    return {folder: proc.communicate(timeout=900)[0] for folder, proc in procs.items()}


def _failures(output: str) -> list[tuple[str, list[str]]]:
    """``[(cell source, error lines)]`` for each failing cell Validate reports."""
    found = []
    for block in output.split(SEPARATOR)[1:]:
        if "The following cell failed:" not in block:
            continue
        source, _, error = block.partition("The error was:")
        found.append((source, [line for line in error.strip("\n").splitlines()
                               if line.strip()]))
    return found


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate")
    blank, wrong = root / "blank", root / "one_wrong"
    for folder in (blank, wrong):
        shutil.copytree(REPO / "lessons" / LESSON, folder)
    _one_wrong(wrong)
    outputs = _validate([blank, wrong])
    return outputs[blank], outputs[wrong]


def _check_short(source: str, error: list[str]) -> None:
    text = "\n".join(error)
    assert len(error) <= MAX_ERROR_LINES, f"a long error for the cell\n{source}\n{text}"
    assert "Traceback" not in text and "rnnkit" not in text, text
    assert not re.search(r"^\s*File ", text, re.M), text


def test_blank_lesson_one_short_message_per_test_cell(validated):
    blank, _ = validated
    failures = _failures(blank)
    tests = [(src, err) for src, err in failures if "from rnnkit.testing" in src]
    assert len(tests) == 6, blank                         # the six exercises of lesson 01
    for source, error in tests:
        _check_short(source, error)
        name = re.search(r"tests\.\w+\((\w+)", source).group(1)
        assert error[0].strip().startswith(f"NotImplementedError: {name} is not written yet"), \
            "\n".join(error)
        assert error[-1].strip() == "raise NotImplementedError()", "\n".join(error)
    assert "The error was:" in blank and len(blank.splitlines()) < 150, blank


def test_one_wrong_exercise_shows_its_message_and_the_learners_line(validated):
    _, wrong = validated
    failures = [(src, err) for src, err in _failures(wrong) if "from rnnkit.testing" in src]
    assert len(failures) == 1, wrong
    source, error = failures[0]
    assert "softmax_cross_entropy" in source
    _check_short(source, error)
    text = " ".join(line.strip() for line in error)
    assert "ValueError" in error[0] and "softmax_cross_entropy" in text, text
    assert "Your code raised it at Cell In[" in text and "in softmax_cross_entropy" in text
    assert error[-1].strip().startswith("z = logits - logits.max(axis=1)"), text


# --- under grading: the grader process -----------------------------------------------------------
class _NotebookWithout:
    """A channel to a kernel whose notebook never defined ``name``: what the kernel answers
    (rnnkit.testing.kernel_side) to any request for it, as rnnkit.testing.remote raises it."""

    def __init__(self, name):
        self.name = name

    def request(self, req):
        raise NameError(f"name '{self.name}' is not defined in your notebook: run the cell that "
                        f"defines it (or check its spelling)")


def test_the_grader_reports_a_name_the_notebook_never_defined():
    run_cell = runpy.run_path(str(REPO / "autograder" / "test_runner.py"))["run_cell"]
    for cell, name in (("from rnnkit.testing import rnn as tests\n"
                        "tests.forward(rnn_forward, N=2, T=5, D=3, H=4, seed=0)\n", "rnn_forward"),
                       ("from rnnkit.testing import lstm as tests\n"
                        "tests.step_forward(lstm_step_forward, N=3, D=4, H=5, seed=0)\n",
                        "lstm_step_forward")):
        result = run_cell(_NotebookWithout(name), cell)
        assert result["status"] == "error" and result["ename"] == "NameError", result
        assert result["evalue"].startswith(f"{name} is not defined in your notebook: when the "
                                           f"notebook ran, no cell defined it."), result
        assert "raised" not in result["evalue"], result
