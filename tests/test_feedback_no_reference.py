"""Feedback is fair and gives nothing hidden away (issue 16, items 10 and 12).

Two wrong submissions of lesson 01 go through the real `course.py grade` and `course.py
feedback`, in the session's one graded class (conftest.join_class):

* ``visible_only``: ``rnn_step_forward`` and ``softmax_cross_entropy`` right on the sizes of
  the visible cases only, so the visible cases pass and the hidden ones fail. Their feedback
  must say which output is off, where and by about how much, but hold no reference value of
  the hidden case: the test reproduces the failing hidden case in this process (the hidden
  block of the solution's test cell, with the grader's seed salt for this student) in the
  learner's mode, where the message does show the expected value, and looks for it in the page.
* ``keepdims``: a ``rnn_step_backward`` whose bias gradients keep the summed axis
  (``keepdims=True``, shape ``(1, H)``), as real code does: the message must say that the
  shape has an extra axis of size 1 and name keepdims, not repeat the hint about the values.

Also unit tests of how the grader process (``autograder/test_runner.py``) cuts a test cell at
nbgrader's hidden-test markers.
"""

import html as html_lib
import importlib.util
import json
import os
import re
import sys

import numpy as np
import pytest

from conftest import REPO, join_class, lesson_ids, load_nb

LESSON = "01_rnn"
pytestmark = pytest.mark.skipif(LESSON not in lesson_ids(), reason="lesson 01 is missing")
SOLUTION = REPO / "solutions" / LESSON / f"{LESSON}.ipynb"

VISIBLE_ONLY = {
    "rnn_step_forward": '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    h_next = np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
    if x.shape != (3, 4) or h_prev.shape != (3, 5):       # right on the visible case only
        h_next = np.zeros_like(h_next)
    return h_next, (x, h_prev, W_ih, W_hh, h_next)
''',
    "softmax_cross_entropy": '''
def softmax_cross_entropy(logits, targets):
    N, T, V = logits.shape
    z = logits - logits.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    targets = np.asarray(targets)
    loss = -np.take_along_axis(log_p, targets[..., None], axis=-1).mean()
    dlogits = np.exp(log_p)
    np.put_along_axis(dlogits, targets[..., None],
                      np.take_along_axis(dlogits, targets[..., None], axis=-1) - 1.0, axis=-1)
    if (N, T, V) != (2, 3, 5):                             # right on the visible case only
        loss = loss + 0.25
    return float(loss), dlogits / (N * T)
''',
}

KEEPDIMS = {
    "rnn_step_backward": '''
def rnn_step_backward(dh_next, cache):
    x, h_prev, W_ih, W_hh, h_next = cache
    da = dh_next * (1.0 - h_next ** 2)
    db_ih = np.sum(da, axis=0, keepdims=True)             # (1, H) instead of (H,)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, db_ih, db_ih.copy()
''',
}


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _with_answers(nb: dict, answers: dict) -> dict:
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if _gid(cell) in answers:
            cell["source"] = answers[_gid(cell)]
    assert {_gid(c) for c in nb["cells"]} >= set(answers)
    return nb


def _seed_salt(student: str) -> str:
    """The salt the grader gives this student's hidden cases (course.py's own function)."""
    spec = importlib.util.spec_from_file_location("course_for_salt",
                                                  REPO / "autograder" / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    return course._seed_salt(student, LESSON)


def _reference_message(student: str, answers: dict, test_id: str) -> str:
    """The failure message of the test cell ``test_id`` (visible then hidden cases, as in the
    solution) for these answers, run here in the learner's mode with the grader's salt: what
    the feedback would show if hidden cases were treated like visible ones."""
    cell = next(c for c in load_nb(SOLUTION)["cells"] if _gid(c) == test_id)
    ns = {"np": np}
    for source in answers.values():
        exec(source, ns)
    saved = os.environ.get("RNNCOURSE_SEED_SALT")
    os.environ["RNNCOURSE_SEED_SALT"] = _seed_salt(student)
    try:
        with pytest.raises(AssertionError) as err:
            exec("".join(cell["source"]), ns)
    finally:
        if saved is None:
            del os.environ["RNNCOURSE_SEED_SALT"]
        else:
            os.environ["RNNCOURSE_SEED_SALT"] = saved
    return str(err.value)


def _error_of(nb: dict, test_id: str) -> str:
    cell = next(c for c in nb["cells"] if _gid(c) == test_id)
    return "\n".join(str(o.get("evalue", "")) for o in cell.get("outputs", [])
                     if o.get("output_type") == "error")


def _builder(student, answers):
    def write(work):
        path = work / f"{student}-{LESSON}.ipynb"
        path.write_text(json.dumps(_with_answers(load_nb(SOLUTION), answers)))
        return path
    return write


if LESSON in lesson_ids():
    for _student, _answers in (("visible_only", VISIBLE_ONLY), ("keepdims", KEEPDIMS)):
        join_class(_student, LESSON, _builder(_student, _answers))


@pytest.fixture(scope="module")
def graded(graded_course, class_feedback):
    root, rows, log = graded_course[:3]

    def page(student):
        return html_lib.unescape((root / "autograder" / "feedback" / student / LESSON /
                                  f"{LESSON}.html").read_text())

    def autograded(student):
        return load_nb(root / "autograder" / "autograded" / student / LESSON / f"{LESSON}.ipynb")

    return {"root": root, "rows": rows, "log": log, "page": page, "autograded": autograded}


@pytest.mark.parametrize("test_id, output", [("test_rnn_step_forward", "h_next"),
                                             ("test_softmax_cross_entropy", "loss")])
def test_a_failed_hidden_case_shows_where_and_how_far_but_no_reference_value(graded, test_id,
                                                                              output):
    student = "visible_only"
    score, top = graded["rows"][(student, LESSON)][test_id][2], \
        graded["rows"][(student, LESSON)][test_id][1]
    assert score == 0, f"{student} kept {score}/{top} on {test_id}\n{graded['log']}"

    # What a hidden case's message holds when it is built like a visible one's.
    leaky = _reference_message(student, VISIBLE_ONLY, test_id)
    found = re.findall(r"expected (-?\d[\d.e+-]*)\.", leaky)
    assert found, f"no expected value in the learner-mode message: {leaky}"
    expected = float(found[0])
    forms = {f"{abs(expected):.6g}", f"{abs(expected):.4g}"}

    shown = _error_of(graded["autograded"](student), test_id)
    page = graded["page"](student)
    leaked = [f for f in forms if f in page or f in shown]
    assert not leaked, (f"the feedback of a hidden case shows its reference value {expected} "
                        f"({leaked}):\n{shown}")
    assert output in shown and "hidden test" in shown and "about" in shown, \
        f"the feedback does not say which hidden output is off and by how much:\n{shown}"
    assert shown.splitlines()[0] in page, "the hidden case's message is not in the feedback"


def test_a_failed_visible_case_still_shows_the_expected_value(graded):
    # rnn_forward calls the rnn_step_forward that is wrong on N=2: the visible case fails.
    shown = _error_of(graded["autograded"]("visible_only"), "test_rnn_forward")
    assert re.search(r"expected -?\d", shown), shown
    assert "hidden test" not in shown, shown


def test_a_keepdims_bias_gradient_gets_a_shape_hint_not_the_value_hint(graded):
    student = "keepdims"
    rows = graded["rows"][(student, LESSON)]
    assert rows["test_rnn_step_backward"][2] == 0, graded["log"]
    shown = _error_of(graded["autograded"](student), "test_rnn_step_backward")
    assert "wrong shape (1, 5), expected (5,)" in shown, shown
    assert "keepdims=True" in shown and ".reshape((5,))" in shown, shown
    assert "summed over the batch" not in shown, f"a shape failure got the value hint:\n{shown}"
    assert "keepdims=True? Drop keepdims" in graded["page"](student)


# --- the grader process cuts a test cell at the hidden markers ---------------------------------
@pytest.fixture(scope="module")
def test_runner():
    sys.path.insert(0, str(REPO / "autograder"))
    try:
        spec = importlib.util.spec_from_file_location("test_runner_under_test",
                                                      REPO / "autograder" / "test_runner.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "autograder"))
    return module


CELL = """from rnnkit.checks import check_close
import numpy as np
check_close("visible", np.zeros(2), np.array([0.0, {visible}]))
### BEGIN HIDDEN TESTS
check_close("hidden", np.zeros(2), np.array([0.0, {hidden}]))
### END HIDDEN TESTS
"""


def test_the_grader_runs_only_the_hidden_block_in_hidden_mode(test_runner):
    from rnnkit.checks import in_hidden_cases
    hidden = test_runner.run_cell(None, CELL.format(visible="0.0", hidden="-0.872972"))
    assert hidden["status"] == "error" and hidden["evalue"].startswith("hidden: "), hidden
    assert "hidden test" in hidden["evalue"] and "0.872972" not in hidden["evalue"], hidden
    visible = test_runner.run_cell(None, CELL.format(visible="-0.872972", hidden="0.0"))
    assert visible["evalue"].startswith("visible: "), visible
    assert "expected -0.872972" in visible["evalue"], visible
    assert not in_hidden_cases()


def test_a_hidden_block_the_grader_cannot_cut_runs_all_hidden(test_runner):
    nested = ("import numpy as np\nfrom rnnkit.checks import check_close\nfor v in [1.5]:\n"
              "    check_close('a', np.zeros(1), np.array([v]))\n"
              "    ### BEGIN HIDDEN TESTS\n    pass\n    ### END HIDDEN TESTS\n")
    assert [h for _, h in test_runner.split_hidden(nested)] == [True]
    result = test_runner.run_cell(None, nested)
    assert "1.5" not in result["evalue"] and "hidden test" in result["evalue"], result
    assert [h for _, h in test_runner.split_hidden("x = 1\n")] == [False]
    parts = test_runner.split_hidden("a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n"
                                     "### END HIDDEN TESTS\nc = 3\n")
    assert [h for _, h in parts] == [False, True, False]
