"""No score is decided by code that runs in the learner's kernel (issue 16, items 1 and 11).

Graded through the real ``course.py grade`` path, each hostile notebook below replaces an
operation that rnnkit used to run inside the kernel (``rnnkit.testing.ops.OPS``), the way it
would have fooled the grader when the kernel ran them: the kernel now runs generic operations
only (call, getattr, store, fetch), so the replacement changes nothing. A backward that
consumes its cache with ``pop()`` fails the hidden test that calls it twice on one cache, as it
does when the learner runs the test cell in the notebook.
"""

import json

import pytest

from conftest import REPO, join_class, lesson_ids, load_nb

pytestmark = pytest.mark.skipif(not {"01_rnn", "04_gru"} <= set(lesson_ids()),
                                reason="lessons 01 and 04 are needed")

# An answer cell that writes the state it is given back into h0 (right outputs otherwise), and
# replaces the kernel operation that reported which arguments a call changed.
FORWARD_WRITES_H0 = '''
_solution_rnn_forward = rnn_forward


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    h, cache = _solution_rnn_forward(x, h0.copy(), W_ih, W_hh, b_ih, b_hh)
    h0[:] = h[:, -1]                       # in place: the caller's h0 is overwritten
    return h, cache


import copy as _copy
from rnnkit.testing import ops as _ops


def _fake_call_checked(fn, args):
    return fn(*_copy.deepcopy(args)), [], False


_ops.__dict__.setdefault("OPS", {})["call_checked"] = _fake_call_checked
'''

# sample_next not written, and the kernel operation that drew from it replaced by draws from
# the right distribution.
SAMPLE_NOT_WRITTEN = '''
def sample_next(logits, temperature, rng):
    raise NotImplementedError()


import numpy as _np
from rnnkit.testing import ops as _ops


def _fake_draws(fn, logits, temperature, n, seed):
    rng = _np.random.default_rng(seed)
    z = _np.asarray(logits, dtype=_np.float64) / temperature
    p = _np.exp(z - z.max())
    return rng.choice(len(p), size=int(n), p=p / p.sum())


_ops.__dict__.setdefault("OPS", {})["sample_draws"] = _fake_draws
'''

# A backward that empties the cache it is given (right gradients on the first call).
BACKWARD_POPS = '''
_solution_rnn_backward = rnn_backward


def rnn_backward(dh, cache):
    steps = [cache.pop() for _ in range(len(cache))][::-1]
    return _solution_rnn_backward(dh, steps)
'''

# lesson 04: a GRUCell computed in NumPy (right values, no autograd graph), in the frame of
# the mutation catalogue's GRUCell variants ...
NUMPY_FORWARD = '''
        w = lambda t: t.detach().numpy()
        H = self.hidden_size
        gi = w(x) @ w(self.ih.weight).T + w(self.ih.bias)
        gh = w(h) @ w(self.hh.weight).T + w(self.hh.bias)
        s = lambda a: 1.0 / (1.0 + np.exp(-a))
        r, z = s(gi[:, :H] + gh[:, :H]), s(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return torch.from_numpy((1 - z) * n + z * w(h))
'''


def _numpy_gru_cell() -> str:
    import mutants
    catalogue = mutants.load("04_gru")
    return catalogue._CELL.format(body=catalogue._ZERO.strip("\n") + "\n"
                                  + NUMPY_FORWARD.strip("\n"))


# ... and the same with the kernel's autograd operation replaced by torch.nn.GRUCell's autograd
# on the cell's weights (what made it score 2/2 when autograd ran in the kernel).
FAKE_AUTOGRAD = '''

import numpy as _np
import torch as _torch
from rnnkit.testing import ops as _ops


def _fake_autograd(fn, inputs, upstream, dtype="float64"):
    sd = fn.state_dict()
    ref = _torch.nn.GRUCell(fn.input_size, fn.hidden_size).double()
    with _torch.no_grad():
        ref.weight_ih.copy_(sd["ih.weight"])
        ref.bias_ih.copy_(sd["ih.bias"])
        ref.weight_hh.copy_(sd["hh.weight"])
        ref.bias_hh.copy_(sd["hh.bias"])
    xs = [_torch.tensor(_np.asarray(a), dtype=_torch.float64, requires_grad=True) for a in inputs]
    out = ref(*xs)
    (out * _torch.as_tensor(_np.asarray(upstream[0]), dtype=_torch.float64)).sum().backward()
    params = {"ih.weight": ref.weight_ih, "ih.bias": ref.bias_ih, "hh.weight": ref.weight_hh,
              "hh.bias": ref.bias_hh}
    return ([out.detach().numpy()], [x.grad.numpy() for x in xs],
            {k: p.grad.numpy() for k, p in params.items()})


_ops.__dict__.setdefault("OPS", {})["autograd"] = _fake_autograd
'''


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _notebook(root, lesson, tmp, name, append=None, replace=None):
    """The solution of ``lesson`` with code appended to answer cells (``{grade_id: code}``) or
    answer cells replaced."""
    nb = load_nb(root / "solutions" / lesson / f"{lesson}.ipynb")
    todo = dict(append or {}) | dict(replace or {})
    for cell in nb["cells"]:
        gid = _gid(cell)
        if gid in (append or {}):
            cell["source"] = "".join(cell["source"]) + "\n" + append[gid]
        elif gid in (replace or {}):
            cell["source"] = replace[gid]
        todo.pop(gid, None)
    assert not todo, f"{lesson} has no answer cells {sorted(todo)}"
    path = tmp / f"{name}-{lesson}.ipynb"
    path.write_text(json.dumps(nb))
    return path


STUDENTS = {
    # three exercises, three holes: each test cell sees one of them
    ("hostile", "01_rnn"): dict(append={"rnn_forward": FORWARD_WRITES_H0,
                                        "rnn_backward": BACKWARD_POPS},
                                replace={"sample_next": SAMPLE_NOT_WRITTEN}),
    ("numpy_cell", "04_gru"): dict(replace={"GRUCell": _numpy_gru_cell()}),
    ("numpy_cell_fake_autograd", "04_gru"): dict(
        replace={"GRUCell": _numpy_gru_cell() + FAKE_AUTOGRAD}),
}


def _builder(student, lesson, edits):
    return lambda work: _notebook(REPO, lesson, work, student, **edits)


if {"01_rnn", "04_gru"} <= set(lesson_ids()):
    for (_student, _lesson), _edits in STUDENTS.items():
        join_class(_student, _lesson, _builder(_student, _lesson, _edits))


@pytest.fixture(scope="module")
def graded(graded_course):
    """The gradebook rows and the grade log of the session's one graded class
    (conftest.join_class)."""
    return graded_course[1], graded_course[2]


def _scores(rows, student, lesson):
    """``{test cell: (score, max)}`` of one graded notebook's autograded cells."""
    assert (student, lesson) in rows, f"{student}/{lesson} is not in the gradebook"
    return {g: (v[2] or 0, v[1]) for g, v in rows[(student, lesson)].items() if v[3] == "code"}


def _lost(graded, test):
    rows, log = graded
    score = _scores(rows, "hostile", "01_rnn")[test]
    assert score[0] == 0, f"{test} scored {score}: the kernel's answer was believed\n{log}"


LOST_01 = ["test_rnn_forward", "test_rnn_backward", "test_sample_next"]


def test_the_hostile_notebook_keeps_its_other_points(graded):
    rows, log = graded
    kept = {t: s for t, s in _scores(rows, "hostile", "01_rnn").items()
            if t not in LOST_01 and s[0] != s[1]}
    assert not kept, f"points lost on tests no hole touches: {kept}\n{log}"


def test_a_replaced_call_check_does_not_hide_an_argument_written_in_place(graded):
    _lost(graded, "test_rnn_forward")


def test_a_replaced_draw_operation_does_not_score_an_unwritten_sampler(graded):
    _lost(graded, "test_sample_next")


def test_a_backward_that_consumes_its_cache_fails_twice_on_one_cache(graded):
    _lost(graded, "test_rnn_backward")


def test_a_replaced_autograd_operation_changes_nothing(graded):
    # The grader judges a module by the values it returns (outputs, state_dict, finite
    # differences): a GRUCell computed in NumPy returns right values, and whether autograd
    # runs through it cannot be seen from outside (lesson 04 says so next to the exercise; the
    # test cell checks it in the learner's own kernel). What the kernel computes besides the
    # learner's calls is never believed, so replacing its autograd changes no score.
    rows, log = graded
    plain = _scores(rows, "numpy_cell", "04_gru")
    faked = _scores(rows, "numpy_cell_fake_autograd", "04_gru")
    assert faked["test_GRUCell"] == plain["test_GRUCell"], log
    assert faked == plain, log
