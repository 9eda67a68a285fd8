"""Known mistakes of the NumPy exercises, so that a failing test can name the learner's.

When a value check of a harness fails, the harness computes, here and from the same inputs, the
output that each known mistake of the exercise would give, and compares it with what the
learner's function returned. When one agrees (every output, within tolerance), the failure
message names it in one sentence and says what to look at, in place of the generic hint. The
score is never touched: a mistake is looked for only once the check has already failed, and
only the message changes.

A mistake is computed from the case's inputs with torch as the oracle: a reference function
(``torch.nn.RNNCell``, ``LSTMCell``, ``GRUCell``, their layers, autograd) called on transformed
inputs (gate blocks of the weights permuted, a bias zeroed, an upstream gradient changed), an
output of autograd transformed (averaged, zeroed, transposed), or autograd through the forward
equations in torch with one path changed (cut with ``detach``, a local derivative replaced).
Nothing here writes an exercise's backward pass: the messages and the code say what is wrong,
never the formula that is right.

The lists, one per exercise: :data:`RNN_STEP_FORWARD`, :data:`RNN_STEP_BACKWARD`,
:data:`RNN_BACKWARD`, :data:`SOFTMAX_CROSS_ENTROPY` (lesson 01), :data:`LSTM_STEP_FORWARD`,
:data:`LSTM_STEP_BACKWARD`, :data:`LSTM_BACKWARD` (03), :data:`GRU_STEP_FORWARD`,
:data:`GRU_STEP_BACKWARD`, :data:`GRU_BACKWARD` (04); :data:`BY_EXERCISE` maps the exercise's
name to its list. A case is a dict of the harness's inputs: ``x``, ``h`` (the state entering:
``h_prev`` of a step, ``h0`` of a sequence), ``c`` (the LSTM's cell state), ``w`` (``W_ih``,
``W_hh``, ``b_ih``, ``b_hh`` in torch's layout), ``dh`` and ``dc`` (upstream gradients); for
the softmax, ``logits`` and ``targets``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.checks import check_close, check_scalar
from rnnkit.testing.ops import to_numpy
from rnnkit.torch_bridge import cell_from_numpy, layer_from_numpy

__all__ = ["Mistake", "identify", "check_named", "BY_EXERCISE"]


@dataclass(frozen=True)
class Mistake:
    """One known mistake: its short ``name``, a one-sentence ``message`` that says what to look
    at (no formula), and ``outputs(case) -> {output name: value}``, what an implementation with
    this mistake returns on the case (outputs it leaves right may be omitted)."""

    name: str
    message: str
    outputs: Callable[[dict], dict]

    def text(self) -> str:
        """The sentence a failure message shows in place of the generic hint."""
        return f"your result matches a known mistake, {self.name}: {self.message}"


# ---------------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------------
def _array(value):
    arr = np.asarray(to_numpy(value), dtype=np.float64)
    return arr


def _close(a, b, rtol, atol) -> bool:
    a, b = _array(a), _array(b)
    if a.shape != b.shape or not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        return False
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def identify(mistakes, case: dict, got: dict, expected: dict, rtol: float = 1e-5,
             atol: float = 1e-6):
    """The first mistake of ``mistakes`` whose outputs on ``case`` agree with ``got``, or None.

    ``got`` and ``expected`` map each output's name to the learner's value and the reference.
    A mistake matches when every output agrees with it (an output the mistake does not change
    is compared with the reference), and only if it differs from the reference on this case
    (else it cannot be told apart). Tolerances are the check's, at least float32's. A mistake
    whose computation fails is skipped: looking for a mistake never raises."""
    rtol, atol = max(rtol, 1e-4), max(atol, 1e-5)
    for mistake in mistakes:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wrong = {**expected, **mistake.outputs(case)}
            if all(_close(wrong[k], expected[k], rtol, atol) for k in expected):
                continue
            if all(k in got and _close(got[k], wrong[k], rtol, atol) for k in expected):
                return mistake
        except Exception:                             # noqa: BLE001 - never fail the harness
            continue
    return None


def check_named(name, got, expected, *, rtol=1e-5, atol=1e-6, hint="", spot=None,
                scalar=False) -> None:
    """:func:`rnnkit.checks.check_close` (or ``check_scalar``), whose failure names a known
    mistake in place of ``hint`` when ``spot()`` finds one.

    ``spot`` is called only after the check failed (never for a right answer); it returns a
    :class:`Mistake` or None, typically ``lambda: identify(LIST, case, got_all, expected_all)``.
    The check raises exactly when it would without ``spot``: only the message differs."""
    check = check_scalar if scalar else check_close
    try:
        check(name, got, expected, rtol=rtol, atol=atol, hint=hint)
    except AssertionError:
        try:
            found = spot() if spot is not None else None
        except Exception:                             # noqa: BLE001 - keep the first message
            found = None
        if found is None:
            raise
        check(name, got, expected, rtol=rtol, atol=atol, hint=found.text())
        raise


# ---------------------------------------------------------------------------------------------
# torch helpers (float64)
# ---------------------------------------------------------------------------------------------
def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _leaf(a) -> torch.Tensor:
    return _t(a).clone().requires_grad_(True)


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


WEIGHTS = ("W_ih", "W_hh", "b_ih", "b_hh")
_WEIGHT_GRADS = ("dW_ih", "dW_hh", "db_ih", "db_hh")


def _with(w: dict, **changes) -> dict:
    return {**{k: np.asarray(w[k], dtype=np.float64) for k in WEIGHTS}, **changes}


def _blocks(w: dict, G: int, order) -> dict:
    """The weights with their gate blocks (row blocks of H) taken in ``order``."""
    H = np.shape(w["W_hh"])[1]
    rows = np.concatenate([np.arange(k * H, (k + 1) * H) for k in order])
    return {k: np.asarray(w[k], dtype=np.float64)[rows] for k in WEIGHTS}


def _cell(kind, w, **extra):
    return cell_from_numpy(kind, *(w[k] for k in WEIGHTS), **extra)


def _cell_out(kind, case, w=None):
    """What torch's cell computes on the case's inputs (with weights ``w``)."""
    cell = _cell(kind, w or case["w"])
    with torch.no_grad():
        if kind == "lstm":
            h1, c1 = cell(_t(case["x"]), (_t(case["h"]), _t(case["c"])))
            return {"h_next": h1.numpy(), "c_next": c1.numpy()}
        return {"h_next": cell(_t(case["x"]), _t(case["h"])).numpy()}


def step_grads(kind, x, h, c, w, dh, dc=None) -> dict:
    """Gradients of ``sum(h' * dh) (+ sum(c' * dc))`` by autograd through torch's cell."""
    cell = _cell(kind, w)
    leaves = [_leaf(x), _leaf(h)] + ([_leaf(c)] if kind == "lstm" else [])
    if kind == "lstm":
        h1, c1 = cell(leaves[0], (leaves[1], leaves[2]))
        loss = (h1 * _t(dh)).sum() + (c1 * _t(dc)).sum()
    else:
        loss = (cell(leaves[0], leaves[1]) * _t(dh)).sum()
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    grads = torch.autograd.grad(loss, leaves + params)
    return dict(zip(_step_names(kind), (_np(g) for g in grads)))


def _step_names(kind):
    return ("dx", "dh_prev") + (("dc_prev",) if kind == "lstm" else ()) + _WEIGHT_GRADS


def _seq_names(kind):
    return ("dx", "dh0") + (("dc0",) if kind == "lstm" else ()) + _WEIGHT_GRADS


def _step_ref(kind, case):
    return step_grads(kind, case["x"], case["h"], case.get("c"), case["w"], case["dh"],
                      case.get("dc"))


def seq_grads(kind, case, dh=None) -> dict:
    """Gradients of ``sum(h * dh)`` over every state, by autograd through torch's layer."""
    w = case["w"]
    layer = layer_from_numpy(kind, *(w[k] for k in WEIGHTS))
    X, H0 = _leaf(case["x"]), _leaf(np.asarray(case["h"])[None])
    leaves = [X, H0]
    if kind == "lstm":
        C0 = _leaf(np.asarray(case["c"])[None])
        leaves.append(C0)
        out, _ = layer(X, (H0, C0))
    else:
        out, _ = layer(X, H0)
    loss = (out * _t(case["dh"] if dh is None else dh)).sum()
    params = [layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0]
    grads = [_np(g) for g in torch.autograd.grad(loss, leaves + params)]
    for k in range(1, len(leaves)):
        grads[k] = grads[k][0]
    return dict(zip(_seq_names(kind), grads))


def _unrolled(kind, case):
    """The state (and cell state) entering each step, and the gradients each step's outputs
    receive from the loss and from every later step, by autograd through torch's cell run
    step by step (each state handed to the next step through a node of its own, whose
    gradient is what the later steps send back)."""
    cell = _cell(kind, case["w"])
    x, dh = _t(case["x"]), _t(case["dh"])
    h = _t(case["h"])
    c = _t(case["c"]) if kind == "lstm" else None
    entering, outs, loss = [], [], 0.0
    for t in range(x.shape[1]):
        entering.append((_np(h), None if c is None else _np(c)))
        if kind == "lstm":
            h, c = cell(x[:, t], (h, c))
            c = c.clone()                         # the cell state as the next step reads it
            outs += [h, c]
        else:
            h = cell(x[:, t], h)
            outs.append(h)
        loss = loss + (h * dh[:, t]).sum()
    got = torch.autograd.grad(loss, outs, allow_unused=True)
    got = [np.zeros(tuple(o.shape)) if g is None else _np(g) for o, g in zip(outs, got)]
    per = 2 if kind == "lstm" else 1
    upstream = [tuple(got[per * t:per * (t + 1)]) for t in range(x.shape[1])]
    return entering, upstream


def _steps_of(kind, case):
    """The step gradients of every step t, each with its total upstream gradient."""
    entering, upstream = _unrolled(kind, case)
    x = np.asarray(case["x"])
    return [step_grads(kind, x[:, t], h, c, case["w"], *up)
            for t, ((h, c), up) in enumerate(zip(entering, upstream))]


def _weights_of_steps(kind, case, pick) -> dict:
    steps = _steps_of(kind, case)
    return {k: sum(steps[t][k] for t in pick(len(steps))) for k in _WEIGHT_GRADS}


def _loop(kind, case, order, incoming, carry_c=True) -> dict:
    """A wrong sequence backward: the steps visited in ``order`` (a function of T), each given
    ``incoming(t, carried)`` as its hidden-state gradient, with torch's step gradients."""
    x, dh = np.asarray(case["x"], np.float64), np.asarray(case["dh"], np.float64)
    entering, _ = _unrolled(kind, case)
    N, T, D = x.shape
    out = {"dx": np.zeros((N, T, D)), **{k: 0.0 for k in _WEIGHT_GRADS}}
    carried_h = np.zeros_like(dh[:, 0])
    carried_c = np.zeros_like(dh[:, 0])
    for t in order(T):
        h, c = entering[t]
        given_c = carried_c if carry_c else np.zeros_like(carried_c)
        step = step_grads(kind, x[:, t], h, c, case["w"], incoming(t, carried_h), given_c)
        out["dx"][:, t] = step["dx"]
        carried_h = step["dh_prev"]
        carried_c = step.get("dc_prev")
        for k in _WEIGHT_GRADS:
            out[k] = out[k] + step[k]
    out["dh0"] = carried_h
    if kind == "lstm":
        out["dc0"] = carried_c
    return out


def _linear_back(x, h, w, da, W_ih=None, W_hh=None, h_for_W=None) -> dict:
    """The gradients that ``da``, a gradient on the pre-activation, gives to the inputs and the
    parameters of ``x W_ih^T + b_ih + h W_hh^T + b_hh``, by autograd (with ``W_ih``, ``W_hh``
    or the input of the W_hh product swapped for a mistake)."""
    X, Hp = _leaf(x), _leaf(h)
    Wi = _leaf(w["W_ih"] if W_ih is None else W_ih)
    Wh = _leaf(w["W_hh"] if W_hh is None else W_hh)
    bi, bh = _leaf(w["b_ih"]), _leaf(w["b_hh"])
    Hw = Hp if h_for_W is None else _t(h_for_W)
    pre = F.linear(X, Wi, bi) + F.linear(Hp, Wh.detach(), bh) \
        + F.linear(Hw.detach(), Wh) - F.linear(Hw.detach(), Wh.detach())
    grads = torch.autograd.grad((pre * _t(da)).sum(), [X, Hp, Wi, Wh, bi, bh])
    return dict(zip(("dx", "dh_prev") + _WEIGHT_GRADS, (_np(g) for g in grads)))


def _valued(a, value):
    """``value`` in the forward pass, the gradient of ``a`` in the backward pass."""
    return a + (value - a).detach()


def _sloped(a, value, slope):
    """``value`` in the forward pass, with ``slope`` as its local derivative w.r.t. ``a``."""
    return value.detach() + slope.detach() * (a - a.detach())


def _sigmoid_slope_of_value(v):
    """The sigmoid's derivative written with its output, applied to ``v`` (a mistake when ``v``
    is not a sigmoid's output)."""
    return v * (1 - v)


def _tanh_slope_of_value(v):
    """tanh's derivative written with its output, applied to ``v`` (a mistake when ``v`` is
    not a tanh's output)."""
    return 1 - v * v


def _only(d: dict, *names) -> dict:
    return {k: d[k] for k in names}


def _n(case) -> int:
    return np.shape(case["x"])[0]


def _averaged(kind, names, what, where) -> Mistake:
    """The mistake of averaging gradients over the batch instead of summing them."""
    return Mistake(f"{what} averaged over the batch",
                   f"the loss is a sum over the batch, so the {what} are summed over it, not "
                   f"averaged ({where}).",
                   lambda case: {k: v / _n(case) for k, v in _step_ref(kind, case).items()
                                 if k in names})


# ---------------------------------------------------------------------------------------------
# lesson 01: the plain RNN
# ---------------------------------------------------------------------------------------------
def _rnn_pre(case, w=None):
    w = w or case["w"]
    return (F.linear(_t(case["x"]), _t(w["W_ih"]), _t(w["b_ih"]))
            + F.linear(_t(case["h"]), _t(w["W_hh"]), _t(w["b_hh"])))


def _rnn_h(case, fn, w=None):
    with torch.no_grad():
        return {"h_next": fn(_rnn_pre(case, w)).numpy()}


def _rnn_w(**changes):
    return lambda case: _cell_out("rnn", case, _with(case["w"], **{
        k: f(case["w"]) for k, f in changes.items()}))


_REC = "see the recurrent term in the docstring's equation"
RNN_STEP_FORWARD = [
    Mistake("W_hh not transposed",
            "W_hh is stored (H, H) with one row per unit of h_next, as in torch, so the "
            f"recurrent term needs its transpose; {_REC}.",
            _rnn_w(W_hh=lambda w: np.asarray(w["W_hh"]).T)),
    Mistake("W_ih not transposed",
            "W_ih is stored (H, D), one row per hidden unit, so the input term needs its "
            "transpose; see the input term in the docstring's equation.",
            _rnn_w(W_ih=lambda w: np.asarray(w["W_ih"]).T)),
    Mistake("b_hh forgotten",
            "both bias vectors, b_ih and b_hh, are added to the pre-activation.",
            _rnn_w(b_hh=lambda w: 0 * np.asarray(w["b_hh"]))),
    Mistake("b_ih forgotten",
            "both bias vectors, b_ih and b_hh, are added to the pre-activation.",
            _rnn_w(b_ih=lambda w: 0 * np.asarray(w["b_ih"]))),
    Mistake("one bias added twice, the other never",
            "add b_ih once and b_hh once.",
            _rnn_w(b_ih=lambda w: 2 * np.asarray(w["b_ih"]),
                   b_hh=lambda w: 0 * np.asarray(w["b_hh"]))),
    Mistake("one bias added twice, the other never",
            "add b_ih once and b_hh once.",
            _rnn_w(b_hh=lambda w: 2 * np.asarray(w["b_hh"]),
                   b_ih=lambda w: 0 * np.asarray(w["b_ih"]))),
    Mistake("tanh of the input term only",
            "tanh is applied once, to the sum of all four terms, recurrent term and both "
            "biases included.",
            lambda case: {"h_next": (torch.tanh(F.linear(_t(case["x"]), _t(case["w"]["W_ih"]),
                                                         _t(case["w"]["b_ih"])))
                                     + F.linear(_t(case["h"]), _t(case["w"]["W_hh"]),
                                                _t(case["w"]["b_hh"]))).numpy()}),
    Mistake("sigmoid instead of tanh",
            "the plain RNN's nonlinearity is tanh (np.tanh), whose outputs lie in (-1, 1).",
            lambda case: _rnn_h(case, torch.sigmoid)),
    Mistake("ReLU instead of tanh",
            "the plain RNN's nonlinearity is tanh (np.tanh), as in torch.nn.RNNCell's default.",
            lambda case: _rnn_h(case, torch.relu)),
    Mistake("no nonlinearity",
            "h_next is the tanh of the pre-activation, not the pre-activation itself.",
            lambda case: _rnn_h(case, lambda a: a)),
]


def _rnn_da(case, local=None):
    """The gradient on the pre-activation, by autograd through tanh, or with ``local`` (the
    case -> array) as the local derivative in place of tanh's."""
    A = _rnn_pre(case).detach().requires_grad_(True)
    if local is None:
        return _np(torch.autograd.grad(torch.tanh(A), A, _t(case["dh"]))[0])
    return np.asarray(case["dh"], np.float64) * local(case)


def _rnn_back(case, local=None, **swap):
    return _linear_back(case["x"], case["h"], case["w"], _rnn_da(case, local), **swap)


def _h_next(case):
    return _cell_out("rnn", case)["h_next"]


def _tanh_slope_at(v):
    """The derivative of tanh at the point ``v`` (by autograd)."""
    V = _leaf(v)
    return _np(torch.autograd.grad(torch.tanh(V).sum(), V)[0])


_STEP_B = "Hint 2 above the exercise"
RNN_STEP_BACKWARD = [
    Mistake("tanh derivative left out",
            f"the gradient reaches the pre-activation through tanh, so its local derivative "
            f"multiplies it first ({_STEP_B}).",
            lambda case: _rnn_back(case, local=lambda c: 1.0)),
    Mistake("tanh derivative taken at h_next as if it were the pre-activation",
            f"the cache holds tanh's OUTPUT h_next; write tanh's derivative in terms of that "
            f"output instead of applying tanh to it again ({_STEP_B}).",
            lambda case: _rnn_back(case, local=lambda c: _tanh_slope_at(_h_next(c)))),
    Mistake("tanh derivative taken from h_prev",
            f"the tanh derivative belongs to THIS step's output, h_next, not to the state that "
            f"went into the step ({_STEP_B}).",
            lambda case: _rnn_back(case, local=lambda c: _tanh_slope_at(
                np.arctanh(np.asarray(c["h"], np.float64))))),
    Mistake("W_hh transposed in dh_prev",
            "check the shapes of the product for dh_prev: the forward pass used W_hh "
            "transposed, the backward pass does not (Hint 4 above the exercise).",
            lambda case: _only(_rnn_back(case, W_hh=np.asarray(case["w"]["W_hh"]).T),
                               "dh_prev")),
    Mistake("W_ih transposed in dx",
            "check the shapes of the product for dx: the forward pass used W_ih transposed, "
            "the backward pass does not (Hint 3 above the exercise).",
            lambda case: _only(_rnn_back(case, W_ih=np.asarray(case["w"]["W_ih"]).T), "dx")),
    Mistake("dW_hh transposed",
            "dW_hh has the layout of W_hh: row j belongs to unit j of h_next, column k to unit "
            "k of h_prev (Hint 6 above the exercise).",
            lambda case: {"dW_hh": step_grads("rnn", case["x"], case["h"], None, case["w"],
                                              case["dh"])["dW_hh"].T}),
    Mistake("dW_hh computed from h_next instead of h_prev",
            "W_hh multiplies the state that went INTO the step, h_prev, so that is the state "
            "its gradient uses (Hint 6 above the exercise).",
            lambda case: _only(_rnn_back(case, h_for_W=_h_next(case)), "dW_hh")),
    _averaged("rnn", ("dW_ih", "dW_hh"), "weight gradients", "Hint 5 above the exercise"),
    _averaged("rnn", ("db_ih", "db_hh"), "bias gradients", "Hint 7 above the exercise"),
    Mistake("db_hh left at zero",
            "b_hh enters the pre-activation just as b_ih does, so it gets a gradient too "
            "(Hint 7 above the exercise).",
            lambda case: {"db_hh": 0 * _step_ref("rnn", case)["db_hh"]}),
]


def _seq_last_only(kind):
    def outputs(case):
        dh = np.array(case["dh"], dtype=np.float64)
        dh[:, :-1] = 0
        return seq_grads(kind, case, dh)
    return outputs


def _seq_mistakes(kind, hints: str) -> list:
    """The mistakes of a backward through time, for a cell ``kind``."""
    found = [
        Mistake("the carried gradient not added",
                f"h_t is read by the loss AND by step t+1: the gradient step t's backward "
                f"receives must include what step t+1 sends back ({hints}).",
                lambda case: _loop(kind, case, lambda T: range(T - 1, -1, -1),
                                   lambda t, carried: np.asarray(case["dh"])[:, t])),
        Mistake("the loss's own gradient dropped before the last step",
                f"each step's hidden-state gradient has two parts: the loss's own dh[:, t] and "
                f"what comes back from step t+1 ({hints}).",
                _seq_last_only(kind)),
        Mistake("loop in forward order",
                f"gradients flow backwards in time: start at the last step, t = T-1, and go "
                f"down to t = 0, so each step receives what the step after it sent ({hints}).",
                lambda case: _loop(kind, case, range,
                                   lambda t, carried: np.asarray(case["dh"])[:, t] + carried)),
        Mistake("weight gradients of the last step only",
                f"the weights are shared by all T steps, so their gradients are the SUM over "
                f"the steps ({hints}).",
                lambda case: _weights_of_steps(kind, case, lambda T: [T - 1])),
        Mistake("weight gradients overwritten at each step (step 0 only)",
                f"add each step's weight gradients to running sums instead of assigning them: "
                f"the weights are shared by all T steps ({hints}).",
                lambda case: _weights_of_steps(kind, case, lambda T: [0])),
        Mistake("weight gradients averaged over T",
                f"the loss is a sum over the steps, so the weight gradients are summed over t, "
                f"not averaged ({hints}).",
                lambda case: {k: v / np.shape(case["x"])[1]
                              for k, v in _only(seq_grads(kind, case), *_WEIGHT_GRADS).items()}),
        Mistake("dh0 left at zero",
                f"dh0 is the gradient that step 0 sends back to the initial state ({hints}).",
                lambda case: {"dh0": np.zeros(np.shape(case["h"]))}),
        Mistake("dh0 is the upstream gradient of step 0",
                f"dh0 is the gradient on the state that went INTO step 0, returned by step 0's "
                f"backward, not the upstream gradient on h_1 ({hints}).",
                lambda case: {"dh0": np.asarray(case["dh"], np.float64)[:, 0]}),
        Mistake("upstream gradient off by one step",
                f"step t's backward takes the gradient on its own output h[:, t], dh[:, t] "
                f"({hints}).",
                lambda case: seq_grads(kind, case, np.roll(np.asarray(case["dh"]), 1, axis=1))),
        Mistake("dx stored in reverse time order",
                f"dx[:, t] is the dx of step t; a loop that runs t backwards must store at "
                f"index t ({hints}).",
                lambda case: {"dx": seq_grads(kind, case)["dx"][:, ::-1]}),
        Mistake("db_hh not accumulated",
                f"db_hh is summed over the steps like every other weight gradient ({hints}).",
                lambda case: {"db_hh": 0 * seq_grads(kind, case)["db_hh"]}),
    ]
    if kind == "lstm":
        found += [
            Mistake("the carried cell-state gradient not passed on",
                    f"c_t is read by step t+1 too: the dc_prev that step t+1 returns is the "
                    f"dc_next of step t ({hints}).",
                    lambda case: _loop(kind, case, lambda T: range(T - 1, -1, -1),
                                       lambda t, carried: np.asarray(case["dh"])[:, t] + carried,
                                       carry_c=False)),
            Mistake("dc0 left at zero",
                    f"dc0 is the cell-state gradient that step 0 sends back ({hints}).",
                    lambda case: {"dc0": np.zeros(np.shape(case["c"]))}),
            Mistake("the upstream gradient of step 0 added to dh0 once more",
                    f"dh[:, 0] is the gradient on h_1, the output of step 0, already given to "
                    f"step 0; dh0 is what step 0 sends back ({hints}).",
                    lambda case: {"dh0": seq_grads(kind, case)["dh0"]
                                  + np.asarray(case["dh"], np.float64)[:, 0]}),
        ]
    return found


RNN_BACKWARD = _seq_mistakes("rnn", "Hint 2 above Exercise 4")


def _ce_ref(case):
    logits, targets = np.asarray(case["logits"], np.float64), np.asarray(case["targets"])
    N, T, V = logits.shape
    z = _leaf(logits)
    loss = F.cross_entropy(z.reshape(N * T, V), torch.as_tensor(targets.astype(np.int64))
                           .reshape(N * T))
    return float(loss.detach()), _np(torch.autograd.grad(loss, z)[0]), N, T


def _ce_scaled(loss_factor=lambda N, T: 1.0, grad_factor=lambda N, T: 1.0):
    """torch's loss and gradient, each multiplied by a factor of N and T."""
    def outputs(case):
        loss, grad, N, T = _ce_ref(case)
        return {"loss": loss * loss_factor(N, T), "dlogits": grad * grad_factor(N, T)}
    return outputs


_CE_HINT = "the hints above Exercise 5"
SOFTMAX_CROSS_ENTROPY = [
    Mistake("dlogits N*T times too large",
            f"the loss is a MEAN over all N*T positions, so every position's gradient carries "
            f"that mean's factor ({_CE_HINT}, Hint 3).",
            _ce_scaled(grad_factor=lambda N, T: N * T)),
    Mistake("dlogits divided by N only",
            f"the mean runs over all N*T positions, time steps included, not over the batch "
            f"alone ({_CE_HINT}, Hint 3).",
            _ce_scaled(grad_factor=lambda N, T: T)),
    Mistake("dlogits divided by T only",
            f"the mean runs over all N*T positions, the batch included, not over time alone "
            f"({_CE_HINT}, Hint 3).",
            _ce_scaled(grad_factor=lambda N, T: N)),
    Mistake("dlogits with the wrong sign",
            f"dlogits is the gradient of the loss itself, the direction in which the loss "
            f"grows ({_CE_HINT}, Hint 2).",
            _ce_scaled(grad_factor=lambda N, T: -1.0)),
    Mistake("loss summed, not averaged",
            "the loss is the MEAN of -log p[target] over all N*T positions.",
            _ce_scaled(loss_factor=lambda N, T: N * T)),
    Mistake("loss without the minus sign",
            "the loss is the mean of MINUS log p[target]: a probability's log is negative, "
            "the loss is positive.",
            _ce_scaled(loss_factor=lambda N, T: -1.0)),
]


# ---------------------------------------------------------------------------------------------
# lesson 03: the LSTM
# ---------------------------------------------------------------------------------------------
def _lstm_gates(a: dict) -> dict:
    return {k: (torch.tanh if k == "g" else torch.sigmoid)(v) for k, v in a.items()}


def _lstm_c(gate, c_old):
    return gate["f"] * c_old + gate["i"] * gate["g"]


def _lstm_h(gate, c_new, c_old):
    return gate["o"] * torch.tanh(c_new)


def _lstm_graph(case, gates=_lstm_gates, h_of=_lstm_h, cell_of=None, w=None):
    """One LSTM step in torch from the case's inputs (leaves that require grad), the gates
    from ``gates``, the new cell state from ``cell_of`` and the new hidden state from ``h_of``
    (torch's forward equations unless a mistake changes one)."""
    w = w or case["w"]
    leaves = [_leaf(case["x"]), _leaf(case["h"]), _leaf(case["c"])] + [_leaf(w[k]) for k in WEIGHTS]
    X, Hp, Cp, Wi, Wh, bi, bh = leaves
    A = F.linear(X, Wi, bi) + F.linear(Hp, Wh, bh)
    gate = gates(dict(zip("ifgo", A.chunk(4, dim=1))))
    c_new = (cell_of or _lstm_c)(gate, Cp)
    return leaves, A, gate, c_new, h_of(gate, c_new, Cp)


def _lstm_forward(**knobs):
    """The outputs of :func:`_lstm_graph` with a mistake's changes."""
    def outputs(case):
        _, _, _, c_new, h_new = _lstm_graph(case, **knobs)
        return {"h_next": _np(h_new), "c_next": _np(c_new)}
    return outputs


def _lstm_w(order=None, rows=None, **changes):
    def outputs(case):
        w = case["w"]
        if order is not None:
            w = _blocks(w, 4, order)
        if rows is not None:
            w = {k: np.asarray(v, np.float64)[rows(np.shape(w["W_hh"])[1])] for k, v in w.items()}
        w = _with(w, **{k: f(w) for k, f in changes.items()})
        return _cell_out("lstm", case, w)
    return outputs


def _interleaved(H):
    """Rows read by a learner who cuts the pre-activation as A.reshape(N, H, 4)."""
    return np.array([4 * j + k for k in range(4) for j in range(H)])


def _each_block_transposed(w):
    H = np.shape(w["W_hh"])[1]
    W = np.asarray(w["W_hh"], np.float64)
    return np.concatenate([W[k * H:(k + 1) * H].T for k in range(4)])


_LSTM_EQ = "see the forward equations in the docstring"
LSTM_STEP_FORWARD = [
    Mistake("gates in the order i, f, o, g (CS231n's order)",
            "torch stacks the gate blocks of W_ih, W_hh and the biases in the order i, f, g, o, "
            "so the third block of H columns is g and the last is o.",
            _lstm_w(order=(0, 1, 3, 2))),
    Mistake("gates in the order f, i, g, o",
            "torch stacks the gate blocks in the order i, f, g, o: the first block of H "
            "columns is the input gate.",
            _lstm_w(order=(1, 0, 2, 3))),
    Mistake("gates cut from interleaved columns (A.reshape(N, H, 4))",
            "each gate is one CONTIGUOUS block of H columns of the pre-activation, in the "
            "order i, f, g, o.",
            _lstm_w(rows=_interleaved)),
    Mistake("W_hh not transposed",
            f"W_hh is stored (4H, H) with one row per gate unit, like W_ih, so h_prev meets its "
            f"transpose; {_LSTM_EQ}.",
            _lstm_w(W_hh=_each_block_transposed)),
    Mistake("b_hh forgotten", "both bias vectors, b_ih and b_hh, are added to the "
            "pre-activations.", _lstm_w(b_hh=lambda w: 0 * w["b_hh"])),
    Mistake("b_ih forgotten", "both bias vectors, b_ih and b_hh, are added to the "
            "pre-activations.", _lstm_w(b_ih=lambda w: 0 * w["b_ih"])),
    Mistake("sigmoid instead of tanh on g",
            f"the candidate g goes through tanh (values in (-1, 1)); only i, f and o go "
            f"through the sigmoid; {_LSTM_EQ}.",
            _lstm_forward(gates=lambda a: {**_lstm_gates(a), "g": torch.sigmoid(a["g"])})),
    Mistake("tanh on every gate",
            f"the gates i, f and o go through the sigmoid (values in (0, 1)), only g through "
            f"tanh; {_LSTM_EQ}.",
            _lstm_forward(gates=lambda a: {k: torch.tanh(v) for k, v in a.items()})),
    Mistake("tanh of the cell state missing in h_next",
            f"h_next is the output gate times the tanh of the NEW cell state; {_LSTM_EQ}.",
            _lstm_forward(h_of=lambda gate, c_new, c_old: gate["o"] * c_new)),
    Mistake("h_next from the old cell state",
            f"h_next reads the NEW cell state c_next, computed just before it; {_LSTM_EQ}.",
            _lstm_forward(h_of=lambda gate, c_new, c_old: gate["o"] * torch.tanh(c_old))),
    Mistake("output gate missing in h_next",
            f"h_next is the tanh of the new cell state, scaled by the output gate o; "
            f"{_LSTM_EQ}.",
            _lstm_forward(h_of=lambda gate, c_new, c_old: torch.tanh(c_new))),
    Mistake("input gate unused in the cell update",
            f"the candidate g is written into the cell scaled by the input gate i; {_LSTM_EQ}.",
            _lstm_forward(cell_of=lambda gate, c_old: gate["f"] * c_old + gate["g"])),
]


def _lstm_back(case, dc_zero=False, retake=None, **knobs):
    """Gradients by autograd through :func:`_lstm_graph` (with a mistake's changes); ``retake``
    maps ``(grads, A's gradient, c_next's gradient, graph)`` to outputs to replace."""
    leaves, A, gate, c_new, h_new = _lstm_graph(case, **knobs)
    dc = 0 * _t(case["dc"]) if dc_zero else _t(case["dc"])
    loss = (h_new * _t(case["dh"])).sum() + (c_new * dc).sum()
    grads = torch.autograd.grad(loss, leaves + [A, c_new])
    out = dict(zip(_step_names("lstm"), (_np(g) for g in grads[:7])))
    if retake is not None:
        out.update(retake(out, _np(grads[7]), _np(grads[8]), (gate, c_new, h_new)))
    return out


def _lstm_dA_moved(order):
    """The pre-activation gradient (by autograd) with its gate blocks put in ``order``, then
    sent through the linear part (by autograd)."""
    def outputs(case):
        H = np.shape(case["h"])[1]

        def retake(out, dA, dc_total, graph):
            moved = np.concatenate([dA[:, k * H:(k + 1) * H] for k in order], axis=1)
            return _linear_back(case["x"], case["h"], case["w"], moved)
        return _lstm_back(case, retake=retake)
    return outputs


def _lstm_dW_hh_from(case):
    def retake(out, dA, dc_total, graph):
        return _only(_linear_back(case["x"], case["h"], case["w"], dA,
                                  h_for_W=_np(graph[2])), "dW_hh")
    return _lstm_back(case, retake=retake)


_LSTM_B = "the hints above the exercise"
LSTM_STEP_BACKWARD = [
    Mistake("the cell gradient not sent back through f",
            f"c_prev reaches c_next scaled by the forget gate, so the gradient sent back to "
            f"c_prev passes through f (Hint 4, {_LSTM_B}).",
            lambda case: _lstm_back(case, retake=lambda out, dA, dc_total, g: {
                "dc_prev": dc_total})),
    Mistake("dc_prev without the path through h_next",
            f"the total gradient on c_next (from dc_next AND from h_next, Hint 3) is what "
            f"goes back to c_prev (Hint 4, {_LSTM_B}).",
            lambda case: _lstm_back(case, h_of=lambda gate, c_new, c_old: gate["o"] * torch.tanh(
                gate["f"] * c_old.detach() + gate["i"] * gate["g"]))),
    Mistake("the path through h_next missing from the cell gradient",
            f"c_next is read by h_next too, so its total gradient adds what comes through "
            f"h_next to dc_next (Hint 3, {_LSTM_B}).",
            lambda case: _lstm_back(case, h_of=lambda gate, c_new, c_old: gate["o"] * torch.tanh(
                c_new.detach()))),
    Mistake("dc_next ignored",
            f"the total gradient on c_next starts from the dc_next given as an argument "
            f"(Hint 3, {_LSTM_B}).",
            lambda case: _lstm_back(case, dc_zero=True)),
    Mistake("tanh derivative missing on the path from h_next to c_next",
            f"h_next reads c_next through tanh, so the gradient from h_next picks up tanh's "
            f"local derivative on the way (Hint 3, {_LSTM_B}).",
            lambda case: _lstm_back(case, h_of=lambda gate, c_new, c_old: gate["o"] * _valued(
                c_new, torch.tanh(c_new)))),
    Mistake("the output gate's gradient taken from tanh(c_prev)",
            f"o multiplies the tanh of the NEW cell state (Hint 2, {_LSTM_B}).",
            lambda case: _lstm_back(case, h_of=lambda gate, c_new, c_old: (
                gate["o"].detach() * torch.tanh(c_new)
                + (gate["o"] - gate["o"].detach()) * torch.tanh(c_old).detach()))),
    Mistake("gate gradients stacked in the order i, f, o, g",
            f"the four blocks of the pre-activation gradient go side by side in torch's gate "
            f"order i, f, g, o, the order of the rows of W_ih (Hint 6, {_LSTM_B}).",
            _lstm_dA_moved((0, 1, 3, 2))),
    Mistake("sigmoid derivative used for g",
            f"g is the tanh gate: its local derivative is tanh's, written with g (Hint 6, "
            f"{_LSTM_B}).",
            lambda case: _lstm_back(case, gates=lambda a: {**_lstm_gates(a), "g": _sloped(
                a["g"], torch.tanh(a["g"]), _sigmoid_slope_of_value(torch.tanh(a["g"])))})),
    Mistake("tanh derivative used for the sigmoid gates",
            f"i, f and o are sigmoid gates: their local derivative is the sigmoid's, written "
            f"with the gate's value (Hint 6, {_LSTM_B}).",
            lambda case: _lstm_back(case, gates=lambda a: {
                k: (torch.tanh(v) if k == "g" else
                    _sloped(v, torch.sigmoid(v), _tanh_slope_of_value(torch.sigmoid(v))))
                for k, v in a.items()})),
    Mistake("dW_hh computed from h_next instead of h_prev",
            f"W_hh multiplies the state that went INTO the step, h_prev (Hint 7, {_LSTM_B}).",
            _lstm_dW_hh_from),
    Mistake("db_hh left at zero",
            f"b_hh enters the pre-activations just as b_ih does, so it gets a gradient too "
            f"(Hint 7, {_LSTM_B}).",
            lambda case: {"db_hh": 0 * _step_ref("lstm", case)["db_hh"]}),
    _averaged("lstm", _WEIGHT_GRADS, "weight gradients", f"Hint 7, {_LSTM_B}"),
]

LSTM_BACKWARD = _seq_mistakes("lstm", "the hints above lstm_backward")


# ---------------------------------------------------------------------------------------------
# lesson 04: the GRU
# ---------------------------------------------------------------------------------------------
def _gru_n(pre_i, pre_h, r, case):
    return torch.tanh(pre_i["n"] + r * pre_h["n"])


def _gru_h(z, n, Hp):
    return (1 - z) * n + z * Hp


def _gru_graph(case, n_of=_gru_n, h_of=_gru_h, act=torch.sigmoid, z_of=None):
    """One GRU step in torch (PyTorch's form) from the case's inputs, as leaves that require
    grad, with ``n_of``, ``h_of``, the gates' ``act`` and ``z_of`` changed by a mistake."""
    w = case["w"]
    leaves = [_leaf(case["x"]), _leaf(case["h"])] + [_leaf(w[k]) for k in WEIGHTS]
    X, Hp, Wi, Wh, bi, bh = leaves
    pre_i = dict(zip("rzn", F.linear(X, Wi, bi).chunk(3, dim=1)))
    pre_h = dict(zip("rzn", F.linear(Hp, Wh, bh).chunk(3, dim=1)))
    r, z = (act(pre_i[k] + pre_h[k]) for k in "rz")
    if z_of is not None:
        z = z_of(z)
    n = n_of(pre_i, pre_h, r, case)
    return leaves, h_of(z, n, Hp)


def _gru_forward(**knobs):
    def outputs(case):
        return {"h_next": _np(_gru_graph(case, **knobs)[1])}
    return outputs


def _gru_back(**knobs):
    def outputs(case):
        leaves, h_new = _gru_graph(case, **knobs)
        grads = torch.autograd.grad((h_new * _t(case["dh"])).sum(), leaves)
        return dict(zip(_step_names("gru"), (_np(g) for g in grads)))
    return outputs


def _gru_w(order=None, **changes):
    def outputs(case):
        w = _blocks(case["w"], 3, order) if order is not None else case["w"]
        return _cell_out("gru", case, _with(w, **{k: f(w) for k, f in changes.items()}))
    return outputs


def _cho_n(pre_i, pre_h, r, case):
    H = np.shape(case["h"])[1]
    W_hn = _t(np.asarray(case["w"]["W_hh"])[2 * H:])
    b_hn = _t(np.asarray(case["w"]["b_hh"])[2 * H:])
    return torch.tanh(pre_i["n"] + F.linear(r * _t(case["h"]), W_hn, b_hn))


def _b_hn_outside(pre_i, pre_h, r, case):
    H = np.shape(case["h"])[1]
    b_hn = _t(np.asarray(case["w"]["b_hh"])[2 * H:])
    return torch.tanh(pre_i["n"] + r * (pre_h["n"] - b_hn) + b_hn)


_GRU_EQ = "see the equations in the docstring (PyTorch's form)"
GRU_STEP_FORWARD = [
    Mistake("z and 1 - z swapped",
            f"in PyTorch's form z KEEPS the old state and 1 - z writes the candidate n "
            f"(Colah's essay writes it the other way round); {_GRU_EQ}.",
            _gru_forward(h_of=lambda z, n, Hp: z * n + (1 - z) * Hp)),
    Mistake("reset gate applied before W_hn (Cho et al. 2014)",
            f"in PyTorch's form r multiplies the hidden part of the candidate AFTER the "
            f"product with W_hn, b_hn included; Cho et al. apply it to h_prev before; "
            f"{_GRU_EQ}.",
            _gru_forward(n_of=_cho_n)),
    Mistake("b_hn outside the reset gate",
            f"r multiplies the whole hidden part of the candidate, its bias b_hn included; "
            f"{_GRU_EQ}.",
            _gru_forward(n_of=_b_hn_outside)),
    Mistake("reset gate unused",
            f"the hidden part of the candidate is scaled by the reset gate r; {_GRU_EQ}.",
            _gru_forward(n_of=lambda pre_i, pre_h, r, case: torch.tanh(pre_i["n"] + pre_h["n"]))),
    Mistake("gates in the order z, r, n",
            "torch stacks the gate blocks of the weights and biases in the order r, z, n: the "
            "first block of H columns is the reset gate.",
            _gru_w(order=(1, 0, 2))),
    Mistake("tanh on the gates",
            f"r and z go through the sigmoid (values in (0, 1)); only the candidate n goes "
            f"through tanh; {_GRU_EQ}.",
            _gru_forward(act=torch.tanh)),
    Mistake("b_ih forgotten", "both bias vectors, b_ih and b_hh, are added.",
            _gru_w(b_ih=lambda w: 0 * np.asarray(w["b_ih"]))),
    Mistake("b_hh forgotten", "both bias vectors, b_ih and b_hh, are added (b_hn inside the "
            "reset gate).", _gru_w(b_hh=lambda w: 0 * np.asarray(w["b_hh"]))),
]

_GRU_B = "the hints above the exercise"
GRU_STEP_BACKWARD = [
    Mistake("db_hh copied from db_ih",
            f"unlike the LSTM's, the GRU's b_hh does not enter like b_ih: its n block sits "
            f"inside the reset gate's product (Hint 7, {_GRU_B}).",
            lambda case: {"db_hh": _step_ref("gru", case)["db_ih"]}),
    Mistake("the direct path to h_prev missing",
            f"h_prev reaches h_next directly too (the part z keeps), not only through the "
            f"matrix products (Hint 4, {_GRU_B}).",
            _gru_back(h_of=lambda z, n, Hp: (1 - z) * n + z * Hp.detach())),
    Mistake("r missing on the hidden n block",
            f"the hidden part of the candidate is scaled by r before it enters the tanh, so "
            f"its gradient is scaled by r on the way back (Hint 5, {_GRU_B}).",
            _gru_back(n_of=lambda pre_i, pre_h, r, case: torch.tanh(
                pre_i["n"] + r * pre_h["n"].detach() + pre_h["n"] - pre_h["n"].detach()))),
    Mistake("the update gate's gradient with the wrong sign",
            f"z multiplies h_prev and 1 - z multiplies n: check the sign of each part "
            f"(Hint 3, {_GRU_B}).",
            _gru_back(z_of=lambda z: _sloped(z, z, -torch.ones_like(z)))),
    Mistake("tanh derivative written without the square",
            f"the candidate's local derivative is tanh's, written with n (Hint 5, {_GRU_B}).",
            _gru_back(n_of=lambda pre_i, pre_h, r, case: _sloped(
                pre_i["n"] + r * pre_h["n"], torch.tanh(pre_i["n"] + r * pre_h["n"]),
                1 - torch.tanh(pre_i["n"] + r * pre_h["n"])))),
    _averaged("gru", _WEIGHT_GRADS, "weight gradients", f"Hint 8, {_GRU_B}"),
]

GRU_BACKWARD = _seq_mistakes("gru", "the hints above gru_backward")


BY_EXERCISE = {
    "rnn_step_forward": RNN_STEP_FORWARD,
    "rnn_step_backward": RNN_STEP_BACKWARD,
    "rnn_backward": RNN_BACKWARD,
    "softmax_cross_entropy": SOFTMAX_CROSS_ENTROPY,
    "lstm_step_forward": LSTM_STEP_FORWARD,
    "lstm_step_backward": LSTM_STEP_BACKWARD,
    "lstm_backward": LSTM_BACKWARD,
    "gru_step_forward": GRU_STEP_FORWARD,
    "gru_step_backward": GRU_STEP_BACKWARD,
    "gru_backward": GRU_BACKWARD,
}
"""Every exercise with a list of known mistakes, by the name of the learner's function."""
