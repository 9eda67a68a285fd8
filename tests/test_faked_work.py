"""Work the kernel claims but never did, graded through the real `course.py grade` path.

Each student of the session's one graded class (conftest.join_class) skips the work an exercise asks for and makes its answer
look right: a timing harness that never runs the module and makes its durations up (lesson 05),
a "trained" classifier that is a hand-written rule and a "forecaster" that answers each window
with the truth it reads in the next window of the batch (lesson 06), and a NumPy exercise answered
with torch (lesson 01, which only the report can flag). In the same run the solutions keep full
marks and are not flagged."""

import json
import sys
from pathlib import Path

import pytest

import mutants
from conftest import REPO, join_class, lesson_ids, load_nb, run_course

TIMING, PRACTICE, NUMPY = "05_lstm_vs_gru", "06_rnns_in_practice", "01_rnn"
pytestmark = pytest.mark.skipif(not {TIMING, PRACTICE, NUMPY} <= set(lesson_ids()),
                                reason="lessons 01, 05 and 06 are needed")

TORCH_STEP = '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    cell = torch.nn.RNNCell(W_ih.shape[1], W_ih.shape[0]).double()
    with torch.no_grad():
        for p, w in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                        (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(torch.as_tensor(np.asarray(w, dtype=np.float64)))
        h_next = cell(torch.as_tensor(np.asarray(x, dtype=np.float64)),
                      torch.as_tensor(np.asarray(h_prev, dtype=np.float64))).numpy()
    h_next = h_next.astype(np.result_type(x, h_prev, W_ih, W_hh, b_ih, b_hh))
    return h_next, (x, h_prev, W_ih, W_hh, h_next)
'''
"""A correct rnn_step_forward that lets torch.nn.RNNCell do the work (it scores full marks)."""


def _variant(lesson, exercise, name):
    catalogue = mutants.load(lesson)
    for v in catalogue.VARIANTS + getattr(catalogue, "RESERVE", []):
        if (v.exercise, v.name) == (exercise, name):
            return v
    raise LookupError(f"{lesson}: no variant {exercise!r} / {name!r} in the mutation catalogue")


def _with_answers(lesson, answers, dest: Path) -> Path:
    nb = load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers.pop(gid)
    assert not answers, f"no answer cells {sorted(answers)} in {lesson}"
    dest.write_text(json.dumps(nb))
    return dest


def _faker(work):
    fake = _variant(TIMING, "time_forward_backward", "made-up durations, the module never called")
    return _with_answers(TIMING, {fake.exercise: fake.source}, work / "faker.ipynb")


def _cheater(work):
    rule = _variant(PRACTICE, "train_classifier",
                    "untrained SequenceClassifier whose forward is the sum rule")
    peek = _variant(PRACTICE, "train_forecaster", "next-window answer inside an untrained Forecaster")
    return _with_answers(PRACTICE, {rule.exercise: rule.source, peek.exercise: peek.source},
                         work / "cheater.ipynb")


def _torchy(work):
    return _with_answers(NUMPY, {"rnn_step_forward": TORCH_STEP.lstrip()}, work / "torchy.ipynb")


if {TIMING, PRACTICE, NUMPY} <= set(lesson_ids()):
    join_class("faker", TIMING, _faker)
    join_class("cheater", PRACTICE, _cheater)
    join_class("torchy", NUMPY, _torchy)


@pytest.fixture(scope="module")
def graded(graded_course):
    """The class's gradebook rows (the solutions are graded there as ``solution``) and the
    report of `course.py report`."""
    root, rows = graded_course[:2]
    return rows, run_course(root, "report").stdout


def _score(rows, student, lesson, cell):
    score, max_score = rows[(student, lesson)][cell][:2]
    return score, max_score


def _report_line(report, student, lesson):
    section = report.split(f"== {lesson}\n", 1)[1].split("\n== ", 1)[0]
    return next(line for line in section.splitlines() if line.split()[:1] == [student])


def test_the_solutions_keep_full_marks_and_are_not_flagged(graded):
    rows, report = graded
    for lesson, cells in ((TIMING, ["test_time_forward_backward"]),
                          (PRACTICE, ["test_train_classifier", "test_train_forecaster"])):
        for cell in cells:
            score, max_score = _score(rows, "solution", lesson, cell)
            assert score == max_score > 0, f"the solution of {lesson} lost points on {cell}"
        assert "torch in a NumPy exercise" not in _report_line(report, "solution", lesson), report


def test_timing_that_never_runs_the_module_loses_its_points(graded):
    rows, _ = graded
    assert _score(rows, "faker", TIMING, "test_time_forward_backward")[0] == 0


def test_models_that_were_never_trained_lose_their_points(graded):
    rows, _ = graded
    assert _score(rows, "cheater", PRACTICE, "test_train_classifier")[0] == 0
    assert _score(rows, "cheater", PRACTICE, "test_train_forecaster")[0] == 0


def test_report_flags_torch_in_a_numpy_exercise(graded):
    rows, report = graded
    score, max_score = _score(rows, "torchy", NUMPY, "test_rnn_step_forward")
    assert score == max_score > 0, "the torch answer is right: the tests cannot see it, the flag must"
    line = _report_line(report, "torchy", NUMPY)
    assert "torch in a NumPy exercise: rnn_step_forward" in line, report
    assert "rnn_forward" not in line.split("[", 1)[1], "only the exercise that uses torch is flagged"


def test_numpy_exercises_come_from_the_solutions_and_no_solution_is_flagged():
    sys.path.insert(0, str(REPO / "autograder"))
    import answer_policy
    names = answer_policy.numpy_exercises(REPO / "solutions" / NUMPY / f"{NUMPY}.ipynb", NUMPY)
    assert "rnn_step_forward" in names and "rnn_backward" in names
    # lesson 05: its parameter counts are to be derived (no torch); its timing harness is torch
    timing = answer_policy.numpy_exercises(REPO / "solutions" / TIMING / f"{TIMING}.ipynb", TIMING)
    assert "time_forward_backward" not in timing and "num_parameters" in timing
    for lesson in answer_policy.LESSONS:
        solution = REPO / "solutions" / lesson / f"{lesson}.ipynb"
        assert answer_policy.numpy_exercises(solution, lesson), lesson
        assert answer_policy.flags(solution, solution, lesson) == [], lesson
        released = REPO / "lessons" / lesson / f"{lesson}.ipynb"
        assert answer_policy.flags(released, solution, lesson) == [], lesson
