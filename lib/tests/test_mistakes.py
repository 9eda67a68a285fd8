"""Known mistakes (rnnkit.testing.mistakes): each listed mistake, computed, is named by the
harness of its exercise (as the learner runs a test cell, and in a hidden case); a right
answer passes and is never flagged; looking for a mistake never changes whether a check fails;
no hint or mistake message states a gradient formula."""

import re

import numpy as np
import pytest
import torch

from rnnkit import checks
from rnnkit.testing import gradients, gru, lstm, mistakes as M, rnn
from rnnkit.torch_bridge import layer_from_numpy


def _w(W_ih, W_hh, b_ih, b_hh):
    return {"W_ih": W_ih, "W_hh": W_hh, "b_ih": b_ih, "b_hh": b_hh}


def _with_mistake(reference: dict, mistake, case) -> dict:
    return {**reference, **(mistake.outputs(case) if mistake is not None else {})}


# --- learners whose answers are torch's, or a known mistake computed by rnnkit ---------------
# Each forward returns its inputs as its cache, so that the backward can compute the mistake
# on the case the harness built.
def step_forward(kind, mistake=None):
    def fn(x, h, *rest):
        c, weights = (rest[0], rest[1:]) if kind == "lstm" else (None, rest)
        case = {"x": x, "h": h, "c": c, "w": _w(*weights)}
        out = _with_mistake(M._cell_out(kind, case), mistake, case)
        return ((out["h_next"], out["c_next"], case) if kind == "lstm"
                else (out["h_next"], case))
    return fn


def seq_forward(kind):
    def fn(x, h0, *rest):
        c0, weights = (rest[0], rest[1:]) if kind == "lstm" else (None, rest)
        case = {"x": x, "h": h0, "c": c0, "w": _w(*weights)}
        if kind == "lstm":
            out, _, _, cs = lstm._ref_seq(x, h0, c0, case["w"])
            return out, cs, case
        layer = layer_from_numpy(kind, *weights)
        with torch.no_grad():
            out, _ = layer(torch.as_tensor(np.asarray(x, np.float64)),
                           torch.as_tensor(np.asarray(h0, np.float64))[None])
        return out.numpy(), case
    return fn


def step_backward(kind, mistake=None):
    def fn(dh, *rest):
        cache = rest[-1]
        case = {**cache, "dh": dh, "dc": rest[0] if kind == "lstm" else None}
        out = _with_mistake(M._step_ref(kind, case), mistake, case)
        return tuple(out[k] for k in M._step_names(kind))
    return fn


def seq_backward(kind, mistake=None):
    def fn(dh, cache):
        case = {**cache, "dh": dh}
        out = _with_mistake(M.seq_grads(kind, case), mistake, case)
        return tuple(out[k] for k in M._seq_names(kind))
    return fn


def softmax(mistake=None):
    def fn(logits, targets):
        case = {"logits": logits, "targets": targets}
        loss, grad, _, _ = M._ce_ref(case)
        out = _with_mistake({"loss": loss, "dlogits": grad}, mistake, case)
        return out["loss"], out["dlogits"]
    return fn


SQUARE = {"W_ih not transposed", "W_ih transposed in dx"}     # computable only when D == H


def run(exercise, mistake=None, square=False):
    """The visible test of ``exercise`` on a learner with ``mistake`` (None: right)."""
    D = 5 if square else 4
    if exercise == "softmax_cross_entropy":
        rnn.softmax_cross_entropy(softmax(mistake), N=2, T=3, V=5, seed=0, scale=2.0,
                                  uniform_first=True)
        return
    kind, what = exercise.split("_", 1)
    harness = {"rnn": rnn, "lstm": lstm, "gru": gru}[kind]
    if what == "step_forward":
        extra = {"by_term": True} if kind == "rnn" else {}
        harness.step_forward(step_forward(kind, mistake), N=3, D=D, H=5, seed=0, **extra)
    elif what == "step_backward":
        harness.step_backward(step_backward(kind, mistake), step_forward(kind), N=3, D=D, H=5,
                              seed=3)
    else:
        harness.backward(seq_backward(kind, mistake), seq_forward(kind), N=2, T=4, D=D, H=5,
                         seed=4)


CASES = [(ex, m) for ex, known in M.BY_EXERCISE.items() for m in known]


@pytest.mark.parametrize("exercise, mistake", CASES,
                         ids=[f"{ex}: {m.name}" for ex, m in CASES])
def test_each_mistake_is_named(exercise, mistake, capsys):
    with pytest.raises(AssertionError) as err:
        run(exercise, mistake, square=mistake.name in SQUARE)
    message = str(err.value)
    assert mistake.name in message, message
    assert "known mistake" in message
    with checks.hidden_cases():                       # a hidden case names it too
        with pytest.raises(AssertionError) as err:
            run(exercise, mistake, square=mistake.name in SQUARE)
    assert mistake.name in str(err.value)
    assert checks.HIDDEN not in mistake.text()


@pytest.mark.parametrize("exercise", list(M.BY_EXERCISE))
def test_the_right_answer_passes_and_is_never_flagged(exercise, capsys):
    run(exercise)                                     # torch's answer passes the harness
    run(exercise, square=True)
    rng = np.random.default_rng(1)
    for seed in range(3):
        case = _case(exercise, rng, seed)
        ref = _reference(exercise, case)
        assert M.identify(M.BY_EXERCISE[exercise], case, ref, ref) is None


def _case(exercise, rng, seed):
    if exercise == "softmax_cross_entropy":
        return {"logits": rng.standard_normal((2, 3, 5)) * 2, "targets": rng.integers(0, 5, (2, 3))}
    kind = exercise.split("_")[0]
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    N, D, H, T = 3, 4, 5, 4
    seq = not exercise.endswith(("step_forward", "step_backward"))
    w = {"W_ih": rng.uniform(-0.5, 0.5, (G * H, D)), "W_hh": rng.uniform(-0.5, 0.5, (G * H, H)),
         "b_ih": rng.uniform(-0.5, 0.5, G * H), "b_hh": rng.uniform(-0.5, 0.5, G * H)}
    return {"x": rng.standard_normal((N, T, D) if seq else (N, D)),
            "h": rng.uniform(-0.9, 0.9, (N, H)), "c": rng.standard_normal((N, H)), "w": w,
            "dh": rng.standard_normal((N, T, H) if seq else (N, H)),
            "dc": rng.standard_normal((N, H))}


def _reference(exercise, case):
    kind = exercise.split("_")[0]
    if exercise == "softmax_cross_entropy":
        loss, grad, _, _ = M._ce_ref(case)
        return {"loss": loss, "dlogits": grad}
    if exercise.endswith("step_forward"):
        return M._cell_out(kind, case)
    if exercise.endswith("step_backward"):
        return M._step_ref(kind, case)
    return M.seq_grads(kind, case)


def test_graphs_without_a_mistake_are_torch():
    """The torch graphs the mistakes change compute torch's cells when nothing is changed."""
    rng = np.random.default_rng(0)
    case = _case("lstm_step_backward", rng, 0)
    ref = M._step_ref("lstm", case)
    mine = M._lstm_back(case)
    for k in ref:
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(M._lstm_forward()(case)["c_next"],
                               M._cell_out("lstm", case)["c_next"], rtol=1e-12)
    case = _case("gru_step_backward", rng, 1)
    ref, mine = M._step_ref("gru", case), M._gru_back()(case)
    for k in ref:
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-10, atol=1e-12)
    case = _case("rnn_step_backward", rng, 2)
    ref, mine = M._step_ref("rnn", case), M._rnn_back(case)
    for k in ref:
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-10, atol=1e-12)
    for kind in ("rnn", "lstm", "gru"):                # the step gradients of every step, with
        case = _case(f"{kind}_backward", rng, 3)       # what they receive, add up to torch's
        total = M._weights_of_steps(kind, case, range)
        ref = M.seq_grads(kind, case)
        for k in total:
            np.testing.assert_allclose(total[k], ref[k], rtol=1e-9, atol=1e-11)


def test_looking_for_a_mistake_never_changes_the_verdict():
    calls = []

    def spot():
        calls.append(1)
        raise RuntimeError("a bug while looking for a mistake")

    M.check_named("x", np.ones(3), np.ones(3), spot=spot)         # passes: spot never called
    assert calls == []
    with pytest.raises(AssertionError, match="Hint: look here"):   # a failing spot: the
        M.check_named("x", np.zeros(3), np.ones(3), hint="look here", spot=spot)  # first message
    found = M.Mistake("a named one", "look there.", lambda case: {})
    with pytest.raises(AssertionError) as err:
        M.check_named("x", np.zeros(3), np.ones(3), hint="look here", spot=lambda: found)
    assert "a named one" in str(err.value) and "look here" not in str(err.value)


def test_a_wrong_answer_that_is_no_known_mistake_keeps_the_generic_hint(capsys):
    def noisy(dh, cache):
        return tuple(g + 0.1 for g in step_backward("rnn")(dh, cache))
    with pytest.raises(AssertionError) as err:
        rnn.step_backward(noisy, step_forward("rnn"), N=3, D=4, H=5, seed=0)
    assert "known mistake" not in str(err.value)
    assert "Hint" in str(err.value) and not FORMULA.search(str(err.value))


# --- no formula in a hint ----------------------------------------------------------------------
FORMULA = re.compile(r"\bd[A-Za-z]\w*(\[[^\]]*\])?\s*=(?!=)"      # dW_hh = ..., dx[:, t] = ...
                     r"|\(1 - \w+(\[\w+\])?\s*\*\*\s*2\)"          # (1 - h_next**2)
                     r"|diag\(|one_hot|\bJ_?k? = |\bg = \(")        # diag(1 - h**2), J_k = ...
BACKWARD_HINTS = [*rnn.STEP_HINTS.values(), *rnn.SEQ_HINTS.values(), *lstm.STEP_HINTS.values(),
                  *lstm.SEQ_HINTS.values(), *gru._STEP_HINTS.values(), *gru._SEQ_HINTS.values(),
                  gradients._HINT_J, gradients._HINT_N]


@pytest.mark.parametrize("hint", BACKWARD_HINTS + [m.text() for _, m in CASES])
def test_no_hint_states_a_gradient_formula(hint):
    assert not FORMULA.search(hint), hint
    assert " @ " not in hint, hint                    # no matrix product of a backward


def test_the_formula_detector_detects():
    for text in ("dW_ih = da.T @ x", "dx[:, t] = ...", "da = dh_next * (1 - h_next**2)",
                 "J_k = diag(1 - h_k**2) @ W_hh", "(softmax - one_hot) / (N*T)"):
        assert FORMULA.search(text), text


def test_softmax_message_gives_no_formula(capsys):
    def off(logits, targets):
        loss, grad = softmax()(logits, targets)
        return loss, grad + 0.01
    with pytest.raises(AssertionError) as err:
        rnn.softmax_cross_entropy(off, N=2, T=3, V=5, seed=0)
    assert not FORMULA.search(str(err.value)) and "N*T)" not in str(err.value)
