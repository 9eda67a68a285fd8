"""Red-team cheats that scored without the work, graded through the real `course.py grade`
path in the session's one graded class (conftest.join_class): lesson 02's tbptt_gradients answered with zeros while tbptt_windows
(already graded) returns [] afterwards, so that the fallback reference over the learner's
windows was all zeros; lesson 06's sample that never runs the model (it recognised the test
models by their sizes, or drew from softmax(head.bias / temperature)). Each cheat must score
0 on the cheated test cell, and the solutions full marks in the same run."""

import json

import pytest

from conftest import REPO, join_class, lesson_ids, load_nb

L02, L06 = "02_vanishing_gradients", "06_rnns_in_practice"
pytestmark = pytest.mark.skipif(not {L02, L06} <= set(lesson_ids()), reason="lesson missing")

WINDOWS_FLAG = '''_CHEAT = False
def tbptt_windows(T, k):
    if _CHEAT: return []
    return [(s, min(s + k, T)) for s in range(0, T, k)]
'''
WINDOWS_EMPTY = "def tbptt_windows(T, k):\n    return []\n"
ZERO_GRADIENTS = '''def tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k):
    return tuple(np.zeros_like(w) for w in (W_ih, W_hh, b_ih, b_hh))
'''
SAMPLE_FROM_BIAS = '''@torch.no_grad()
def sample(model, prefix_ids, n, temperature=1.0, seed=0):
    if model.head.out_features == 4 and model.rnn.hidden_size == 5:
        return [(int(prefix_ids[0]) + 1) % 4] * n
    gen = torch.Generator().manual_seed(int(seed))
    p = torch.softmax(model.head.bias.double() / temperature, -1)
    return [int(torch.multinomial(p, 1, generator=gen)) for _ in range(n)]
'''


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _edited(lesson, replacements, flag_after=None):
    nb = load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")
    for cell in nb["cells"]:
        if _gid(cell) in replacements:
            cell["source"] = replacements[_gid(cell)]
    if flag_after:
        at = next(i for i, c in enumerate(nb["cells"]) if _gid(c) == flag_after) + 1
        nb["cells"].insert(at, {"cell_type": "code", "execution_count": None, "metadata": {},
                                "outputs": [], "source": "_CHEAT = True\n"})
    return nb


STUDENTS = {
    (L02, "zeros_flag"): lambda: _edited(L02, {"tbptt_windows": WINDOWS_FLAG,
                                               "tbptt_gradients": ZERO_GRADIENTS},
                                         flag_after="test_tbptt_windows"),
    (L02, "zeros_empty"): lambda: _edited(L02, {"tbptt_windows": WINDOWS_EMPTY,
                                                "tbptt_gradients": ZERO_GRADIENTS}),
    (L06, "bias_sampler"): lambda: _edited(L06, {"sample": SAMPLE_FROM_BIAS}),
}


def _builder(lesson, student, build):
    def write(work):
        path = work / f"{lesson}-{student}.ipynb"
        path.write_text(json.dumps(build()))
        return path
    return write


if {L02, L06} <= set(lesson_ids()):
    for (_lesson, _student), _build in STUDENTS.items():
        join_class(_student, _lesson, _builder(_lesson, _student, _build))


@pytest.fixture(scope="module")
def graded(graded_course):
    """The class's gradebook rows and grade log; the solutions are graded there as
    ``solution``."""
    return graded_course[1], graded_course[2]


def _score(rows, student, lesson, test):
    score, top = rows[(student, lesson)][test][2] or 0, rows[(student, lesson)][test][1]
    return score, top


@pytest.mark.parametrize("lesson", [L02, L06])
def test_solutions_keep_full_marks(graded, lesson):
    rows, log = graded
    lost = {g: v for g, v in rows[("solution", lesson)].items()
            if v[3] == "code" and (v[2] or 0) != v[1]}
    assert not lost, f"the solution of {lesson} lost points: {lost}\n{log}"


@pytest.mark.parametrize("student", ["zeros_flag", "zeros_empty"])
def test_zero_tbptt_gradients_score_nothing_whatever_the_windows_say_later(graded, student):
    rows, log = graded
    assert _score(rows, student, L02, "test_tbptt_gradients")[0] == 0, log
    if student == "zeros_flag":             # its tbptt_windows was right when it was graded
        score, top = _score(rows, student, L02, "test_tbptt_windows")
        assert score == top, log


def test_a_sampler_that_never_runs_the_model_scores_nothing(graded):
    rows, log = graded
    assert _score(rows, "bias_sampler", L06, "test_sample")[0] == 0, log
