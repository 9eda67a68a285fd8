"""A failing test names the learner's mistake when it is a known one (issue 19, item 3), the same
under `make grade` and in the learner's kernel, and never changes a score.

The submissions are the wrong variants of the mutation catalogues (tests/mutants/): NumPy code a
learner could write, not the outputs rnnkit computes for a mistake (lib/tests/test_mistakes.py
checks those for every listed mistake). :data:`EXPECTED` says, for each wrong variant of an
exercise with a known-mistake list, which mistake its failure must name; :data:`UNNAMED` lists
the other wrong variants of those exercises and why no mistake is named (a wrong shape or an
exception has its own message already).

* **Under grading**: the catalogues' graded variants are graded by the session's course copy
  (``graded_course`` in conftest.py: one `course.py grade --jobs 2` of every mutant notebook,
  the run tests/test_mutants.py checks the scores of), so this costs no grading of its own. In
  the autograded notebook, the exercise's test cell shows the named mistake in its output and
  scores 0, as that variant scored before mistakes were named (test_mutants: it loses points).
* **In the learner's kernel**: every variant of :data:`EXPECTED` (graded and reserve) is put into
  the solution's answer cell and the test cell's visible part is run directly in this Python
  process, no grader: it fails naming the same mistake.
"""

from __future__ import annotations

import contextlib
import io

import pytest

import mutants
from conftest import REPO, load_nb

EXPECTED = {
    "01_rnn": {
        "rnn_step_forward": {
            "W_hh not transposed": "W_hh not transposed",
            "missing b_hh": "b_hh forgotten",
            "missing b_ih": "b_ih forgotten",
            "b_ih added twice, b_hh never": "one bias added twice, the other never",
            "sigmoid instead of tanh": "sigmoid instead of tanh",
            "ReLU instead of tanh": "ReLU instead of tanh",
            "no nonlinearity": "no nonlinearity",
            "tanh of the input term only": "tanh of the input term only",
        },
        "rnn_step_backward": {
            "dW_hh from h_next instead of h_prev": "dW_hh computed from h_next instead of h_prev",
            "tanh' from h_prev": "tanh derivative taken from h_prev",
            "dh_prev with W_hh.T": "W_hh transposed in dh_prev",
            "db_hh left at zero": "db_hh left at zero",
            "no tanh derivative": "tanh derivative left out",
            "tanh' as 1 - tanh(h_next)**2":
                "tanh derivative taken at h_next as if it were the pre-activation",
            "dW_hh transposed": "dW_hh transposed",
            "dW averaged over the batch": "weight gradients averaged over the batch",
            "db averaged over the batch": "bias gradients averaged over the batch",
        },
        "rnn_backward": {
            "weight gradients of the last step only": "weight gradients of the last step only",
            "no gradient carried back from step t+1": "the carried gradient not added",
            "loop in forward order": "loop in forward order",
            "weight gradients overwritten (first step only)":
                "weight gradients overwritten at each step (step 0 only)",
            "weight gradients averaged over T": "weight gradients averaged over T",
            "only the carried gradient after the last step":
                "the loss's own gradient dropped before the last step",
            "dh0 left at zero": "dh0 left at zero",
            "dh0 is the gradient on h_1": "dh0 is the upstream gradient of step 0",
            "db_hh not accumulated": "db_hh not accumulated",
        },
        "softmax_cross_entropy": {
            "dlogits not divided by N*T": "dlogits N*T times too large",
            "dlogits divided by N only": "dlogits divided by N only",
            "dlogits divided by T only": "dlogits divided by T only",
            "loss summed, not averaged": "loss summed, not averaged",
            "loss without the minus sign": "loss without the minus sign",
            "dlogits with the wrong sign": "dlogits with the wrong sign",
        },
    },
    "03_lstm": {
        "lstm_step_forward": {
            "gates in the order i, f, o, g": "gates in the order i, f, o, g (CS231n's order)",
            "gates in the order f, i, g, o": "gates in the order f, i, g, o",
            "sigmoid instead of tanh on g": "sigmoid instead of tanh on g",
            "tanh(c) missing: h = o * c": "tanh of the cell state missing in h_next",
            "W_hh not transposed (blockwise h_prev @ W_hh[k])": "W_hh not transposed",
            "missing b_hh": "b_hh forgotten",
            "tanh on every gate": "tanh on every gate",
            "gates interleaved: A.reshape(N, H, 4)":
                "gates cut from interleaved columns (A.reshape(N, H, 4))",
            "h from the old cell: o * tanh(c_prev)": "h_next from the old cell state",
            "h = tanh(c) without the output gate": "output gate missing in h_next",
            "input gate unused: c = f * c_prev + g": "input gate unused in the cell update",
            "missing b_ih": "b_ih forgotten",
        },
        "lstm_step_backward": {
            "dc not propagated through f: dc_prev = dc": "the cell gradient not sent back through f",
            "path through h_next missing: dc = dc_next":
                "the path through h_next missing from the cell gradient",
            "dA blocks in the order i, f, o, g": "gate gradients stacked in the order i, f, o, g",
            "sigmoid derivative on g": "sigmoid derivative used for g",
            "db_hh left at zero": "db_hh left at zero",
            "dc_prev = dc_next * f (the path through h_next dropped)":
                "dc_prev without the path through h_next",
            "dc_next ignored": "dc_next ignored",
            "tanh' missing on the h path: dc = dc_next + dh_next * o":
                "tanh derivative missing on the path from h_next to c_next",
            "do uses tanh(c_prev)": "the output gate's gradient taken from tanh(c_prev)",
            "tanh derivative on the sigmoid gates": "tanh derivative used for the sigmoid gates",
            "dW_hh from h_next instead of h_prev": "dW_hh computed from h_next instead of h_prev",
            "weight gradients averaged over the batch": "weight gradients averaged over the batch",
        },
        "lstm_backward": {
            "dh_prev not carried back": "the carried gradient not added",
            "dc_prev not carried back (cell path cut)":
                "the carried cell-state gradient not passed on",
            "upstream gradient off by one: dh[:, t-1]": "upstream gradient off by one step",
            "weight gradients not accumulated (overwritten: step 0 only)":
                "weight gradients overwritten at each step (step 0 only)",
            "loops forward in time, t = 0..T-1": "loop in forward order",
            "weight gradients of the last step only": "weight gradients of the last step only",
            "dx stored in reverse time order": "dx stored in reverse time order",
            "dc0 returned as zeros": "dc0 left at zero",
            "dh0 adds dh[:, 0] once more": "the upstream gradient of step 0 added to dh0 once more",
            "only the last step's upstream gradient used":
                "the loss's own gradient dropped before the last step",
        },
    },
    "04_gru": {
        "gru_step_forward": {
            "update convention swapped (Colah): h = z * n + (1 - z) * h_prev":
                "z and 1 - z swapped",
            "reset gate before W_hn (Cho et al. 2014)":
                "reset gate applied before W_hn (Cho et al. 2014)",
            "b_hn outside the reset gate": "b_hn outside the reset gate",
            "gate order z, r, n": "gates in the order z, r, n",
            "reset gate unused (LSTM habit: G_i + G_h cut afterwards)": "reset gate unused",
            "tanh on the gates": "tanh on the gates",
            "missing b_ih": "b_ih forgotten",
        },
        "gru_step_backward": {
            "db_hh copied from db_ih (as in the LSTM)": "db_hh copied from db_ih",
            "dh_prev misses the direct term dh_next * z": "the direct path to h_prev missing",
            "r missing on the hidden n block": "r missing on the hidden n block",
            "dz with the wrong sign: dh_next * (n - h_prev)":
                "the update gate's gradient with the wrong sign",
            "tanh' written as 1 - n": "tanh derivative written without the square",
        },
        "gru_backward": {
            "dh not carried between steps": "the carried gradient not added",
            "weight gradients of the last step processed, not summed":
                "weight gradients overwritten at each step (step 0 only)",
            "loops forward in time": "loop in forward order",
            "dh0 returned as dh[:, 0]": "dh0 is the upstream gradient of step 0",
        },
    },
}

UNNAMED = {
    # a wrong shape, a wrong return or an exception: the message says so already
    ("01_rnn", "rnn_step_forward"): ["bias as a column (broadcasts to the wrong shape)",
                                     "W_ih not transposed", "returns h_next only, no cache",
                                     "returns (cache, h_next)"],
    ("01_rnn", "rnn_step_backward"): ["dx with W_ih.T", "db summed over hidden units (axis 1)",
                                      # right values: caught by the second call on the cache
                                      "squares h_next in place in the cache",
                                      # no rnnkit mistake for these two (yet)
                                      "tanh' as 1 - h_next (square forgotten)",
                                      "sigmoid derivative h(1-h)"],
    ("01_rnn", "rnn_backward"): ["cache off by one step", "dx never stored",
                                 "dx stored one step late"],
    ("01_rnn", "softmax_cross_entropy"): [
        "one-hot not subtracted from dlogits", "softmax over time (axis 1)",
        "max without keepdims (broadcasts wrongly)",
        # wrong on extreme logits only, a hidden case: the message names the logits' size
        "naive softmax (no max subtracted)", "stable softmax, then log of the probability",
        "log(p + 1e-12) instead of log-sum-exp", "global maximum subtracted",
        "one-hot as wide as the largest target"],
    ("03_lstm", "lstm_step_forward"): [
        "bias as a column (does not broadcast over the batch)", "returns (c_next, h_next, cache)",
        "returns (h_next, c_next) without a cache",
        "cell update with + instead of *: c = f * c_prev + i + g"],
    ("03_lstm", "lstm_step_backward"): ["db_hh kept its batch axis: (1, 4H)",
                                        "dW_hh transposed, (H, 4H)",
                                        "returns the weight gradients before dx, dh_prev, dc_prev"],
    ("03_lstm", "lstm_backward"): [
        "accumulators allocated as columns (4H, 1): db broadcasts to (4H, 4H)"],
    ("04_gru", "gru_step_forward"): ["returns (cache, h_next)"],
}


def _wrong_variants(lesson, exercise):
    catalogue = mutants.load(lesson)
    return [v for v in catalogue.VARIANTS + catalogue.RESERVE
            if v.exercise == exercise and not v.correct]


@pytest.mark.parametrize("lesson", sorted(EXPECTED))
def test_every_wrong_variant_is_either_named_or_said_why_not(lesson):
    """A catalogue's new wrong variant of an exercise with known mistakes gets a decision here,
    and every mistake named here is one of rnnkit's list for that exercise."""
    from rnnkit.testing import mistakes

    for exercise, expected in EXPECTED[lesson].items():
        names = {v.name for v in _wrong_variants(lesson, exercise)}
        unnamed = set(UNNAMED.get((lesson, exercise), []))
        assert set(expected) <= names, f"{exercise}: no such variants {set(expected) - names}"
        assert not set(expected) & unnamed
        assert names == set(expected) | unnamed, \
            f"{exercise}: decide for {sorted(names - set(expected) - unnamed)}"
        known = {m.name for m in mistakes.BY_EXERCISE[exercise]}
        assert set(expected.values()) <= known, set(expected.values()) - known
    assert {ex for ex in mistakes.BY_EXERCISE if any(ex in e for e in EXPECTED.values())} == \
        set(mistakes.BY_EXERCISE), "an exercise with known mistakes has no test here"


# --- under grading -------------------------------------------------------------------------------
def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
        parts.append(out.get("evalue", ""))
        parts += out.get("traceback", [])
        parts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.parametrize("lesson", sorted(EXPECTED))
def test_graded_submissions_name_the_mistake(graded_course, lesson):
    root, rows, log, plans = graded_course
    catalogue, notebooks = plans[lesson]
    checked, failures = 0, []
    for i, replacements in enumerate(notebooks):
        student = f"mutant{i:02d}"
        graded = root / "autograder" / "autograded" / student / lesson / f"{lesson}.ipynb"
        grades = rows.get((student, lesson))
        assert grades and graded.exists(), f"{student}/{lesson} was not graded:\n{log}"
        cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): c
                 for c in load_nb(graded)["cells"]}
        for exercise, variant in replacements.items():
            name = EXPECTED[lesson].get(exercise, {}).get(variant.name)
            if variant.correct or name is None:
                continue
            test = catalogue.EXERCISES[exercise][0][0]
            text = _output_text(cells[test])
            checked += 1
            if name not in text:
                failures.append(f"{student} {exercise} / {variant.name}: the output of {test} "
                                f"does not name '{name}':\n{text[-1500:]}")
            if grades[test][2] != 0:
                failures.append(f"{student} {exercise} / {variant.name}: {test} scored "
                                f"{grades[test][2]}, not 0")
    assert checked, f"{lesson}: no graded variant with a named mistake"
    assert not failures, "\n".join(failures)


# --- in the learner's kernel, no grader -----------------------------------------------------------
def _kernel_namespace(lesson: str, replacements: dict) -> dict:
    """The imports, helpers and answer cells of the solution notebook, run here, with the
    replacements' sources in place of their answer cells (what the learner's kernel holds)."""
    ns: dict = {}
    for cell in load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        src = "".join(cell["source"])
        if cell["cell_type"] != "code" or meta.get("grade"):
            continue
        if meta.get("solution"):
            src = replacements.get(meta.get("grade_id"), src)
        elif not (meta.get("grade_id") == "code_002" or src.startswith("def sigmoid")):
            continue                                 # experiments: not needed by the tests
        src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("%"))
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(src, f"{lesson}:{meta.get('grade_id')}", "exec"), ns)
    return ns


def _visible_test(lesson: str, test_id: str) -> str:
    for cell in load_nb(REPO / "solutions" / lesson / f"{lesson}.ipynb")["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == test_id:
            return "".join(cell["source"]).split("### BEGIN HIDDEN TESTS")[0]
    raise KeyError(test_id)


KERNEL_CASES = [(lesson, exercise, variant, name)
                for lesson, exercises in EXPECTED.items()
                for exercise, named in exercises.items()
                for variant, name in named.items()]


@pytest.mark.parametrize("lesson, exercise, variant, name", KERNEL_CASES,
                         ids=[f"{c[1]}: {c[2]}" for c in KERNEL_CASES])
def test_the_test_cell_names_the_mistake_in_the_learners_kernel(lesson, exercise, variant, name):
    catalogue = mutants.load(lesson)
    source = next(v.source for v in _wrong_variants(lesson, exercise) if v.name == variant)
    ns = _kernel_namespace(lesson, {exercise: source})
    test = _visible_test(lesson, catalogue.EXERCISES[exercise][0][0])
    with pytest.raises(AssertionError) as err, contextlib.redirect_stdout(io.StringIO()):
        exec(compile(test, "test cell", "exec"), ns)
    assert name in str(err.value), str(err.value)


def test_the_right_answers_pass_in_the_learners_kernel():
    for lesson, exercises in EXPECTED.items():
        ns = _kernel_namespace(lesson, {})
        catalogue = mutants.load(lesson)
        for exercise in exercises:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(_visible_test(lesson, catalogue.EXERCISES[exercise][0][0]), ns)
