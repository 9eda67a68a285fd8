"""Harnesses of lesson 03 (the LSTM): forward against ``torch.nn.LSTMCell`` / ``nn.LSTM``,
backward against torch autograd in float64.

The backward harnesses score the backward on its own (see :mod:`rnnkit.testing.rnn`): they call
the learner's forward and compare its outputs with torch; if they match, the learner's backward
gets the learner's cache (float32 tolerances when the forward computed in float32); if the
forward is wrong or raises, the backward gets the cache the forward's docstring documents,
built from reference values computed here:

* ``lstm_step_forward``: the tuple ``(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c)``,
  with the gates ``i, f, g, o`` after their nonlinearities and ``tanh_c = tanh(c_next)``;
* ``lstm_forward``: the pair ``(list of the T step caches, D)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.checks import check_close, check_returns, check_shape
from rnnkit.testing import mistakes
from rnnkit.testing.mistakes import check_named, identify
from rnnkit.testing.ops import element, kept, kept_call
from rnnkit.testing.rnn import (F32_RTOL, F32_ATOL, _call, _dtype, _tol, backward_with_fallback,
                                forward_precise)
from rnnkit.torch_bridge import cell_from_numpy, layer_from_numpy, random_weights

__all__ = ["step_forward", "forward", "step_backward", "backward"]

NAMES_STEP = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
NAMES_SEQ = ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh")
STEP_LAYOUT = "(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c)"
SEQ_LAYOUT = "([cache of lstm_step_forward for each step t], D)"


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _weights(rng, D, H, scale, dtype):
    return {k: (scale * v).astype(dtype) for k, v in random_weights("lstm", D, H, seed=rng).items()}


def _args(x, h, c, W):
    return (x.copy(), h.copy(), c.copy(), W["W_ih"].copy(), W["W_hh"].copy(), W["b_ih"].copy(),
            W["b_hh"].copy())


def _ref_step(x, h, c, W):
    """h_next, c_next from torch.nn.LSTMCell in float64."""
    cell = cell_from_numpy("lstm", W["W_ih"], W["W_hh"], W["b_ih"], W["b_hh"])
    with torch.no_grad():
        h1, c1 = cell(_t(x), (_t(h), _t(c)))
    return h1.numpy(), c1.numpy()


def _ref_seq(x, h0, c0, W):
    """(output, h_n, c_n) of torch.nn.LSTM and every c_t from torch.nn.LSTMCell, float64."""
    weights = (W["W_ih"], W["W_hh"], W["b_ih"], W["b_hh"])
    layer = layer_from_numpy("lstm", *weights)
    cell = cell_from_numpy("lstm", *weights)
    X, h, c = _t(x), _t(h0), _t(c0)
    with torch.no_grad():
        out, (h_n, c_n) = layer(X, (h[None], c[None]))
        cs = []
        for t in range(X.shape[1]):
            h, c = cell(X[:, t], (h, c))
            cs.append(c)
    return out.numpy(), h_n[0].numpy(), c_n[0].numpy(), torch.stack(cs, 1).numpy()


def _documented_step_cache(x, h, c, W):
    """The documented cache of lstm_step_forward from reference values (torch), case dtype."""
    dt = np.asarray(x).dtype
    with torch.no_grad():
        A = F.linear(_t(x), _t(W["W_ih"]), _t(W["b_ih"])) + F.linear(_t(h), _t(W["W_hh"]),
                                                                    _t(W["b_hh"]))
        a_i, a_f, a_g, a_o = A.chunk(4, dim=1)       # torch's gate order i, f, g, o
        gates = [torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)]
    _, c_next = _ref_step(x, h, c, W)
    gates = [g.numpy().astype(dt) for g in gates]
    return (x.copy(), h.copy(), c.copy(), W["W_ih"].copy(), W["W_hh"].copy(), *gates,
            np.tanh(c_next).astype(dt))


def _documented_seq_cache(x, h0, c0, W):
    out, _, _, cs = _ref_seq(x, h0, c0, W)
    dt = np.asarray(x).dtype
    hs, cs = out.astype(dt), cs.astype(dt)
    caches = []
    for t in range(x.shape[1]):
        h_prev = h0 if t == 0 else hs[:, t - 1]
        c_prev = c0 if t == 0 else cs[:, t - 1]
        caches.append(_documented_step_cache(x[:, t].copy(), np.array(h_prev), np.array(c_prev), W))
    return (caches, x.shape[2])


# ---------------------------------------------------------------------------------------------
# Exercise 1: lstm_step_forward
# ---------------------------------------------------------------------------------------------
_HINT_STEP_C = ("c_next = f * c_prev + i * g. Cut A = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, "
                "shape (N, 4H), into column blocks in the order i = A[:, :H], f = A[:, H:2H], "
                "g = A[:, 2H:3H], o = A[:, 3H:]; g goes through tanh, i, f and o through the "
                "sigmoid; both biases count, and the weights are used transposed (x @ W_ih.T).")
_HINT_STEP_H = ("c_next is right, so look at h_next = o * tanh(c_next): o is the LAST block "
                "A[:, 3H:] and h takes tanh of the NEW cell state.")


def _step_data(N, D, H, seed, scale, dtype):
    rng = np.random.default_rng(seed)
    W = _weights(rng, D, H, scale, dtype)
    x = rng.standard_normal((N, D)).astype(dtype)
    h = rng.uniform(-1, 1, (N, H)).astype(dtype)
    c = rng.standard_normal((N, H)).astype(dtype)
    dh = rng.standard_normal((N, H)).astype(dtype)
    dc = rng.standard_normal((N, H)).astype(dtype)
    return x, h, c, W, dh, dc


def step_forward(lstm_step_forward, N, D, H, seed, scale=1.0, dtype="float64", rtol=1e-6,
                 atol=1e-7):
    """``lstm_step_forward`` against ``torch.nn.LSTMCell`` holding the same weights.

    Args:
        lstm_step_forward: the learner's function.
        N, D, H: sizes. seed: the case's seed. scale: multiplies the weights (saturated gates).
        dtype: of inputs and weights; float32 is checked with float32 tolerances.
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    x, h, c, W, _, _ = _step_data(N, D, H, seed, scale, dt)
    out = _call("lstm_step_forward", lstm_step_forward, *_args(x, h, c, W))
    h_next, c_next, _ = check_returns("lstm_step_forward", out, 3, ("h_next", "c_next", "cache"))
    h_ref, c_ref = _ref_step(x, h, c, W)
    where = f" (N={N}, D={D}, H={H}, {dt.name} inputs)"
    case = {"x": x, "h": h, "c": c, "w": W}

    def spot():
        return identify(mistakes.LSTM_STEP_FORWARD, case, {"h_next": h_next, "c_next": c_next},
                        {"h_next": h_ref, "c_next": c_ref}, rtol, atol)

    check_named("c_next" + where, c_next, c_ref, rtol=rtol, atol=atol, hint=_HINT_STEP_C,
                spot=spot)
    check_named("h_next" + where, h_next, h_ref, rtol=rtol, atol=atol, hint=_HINT_STEP_H,
                spot=spot)


# ---------------------------------------------------------------------------------------------
# Exercise 2: lstm_forward
# ---------------------------------------------------------------------------------------------
_HINT_SHAPE = ("h and c hold one state per step: shape (N, T, H), with h[:, t] the state AFTER "
               "reading x[:, t]; h0 and c0 are not included.")
_HINT_H = ("h[:, t] must be the hidden state after reading x[:, t] (h[:, 0] comes from x[:, 0], "
           "h0 and c0). Each step must get BOTH the h_next and the c_next of the step before. "
           "If test_lstm_step_forward passes, look at the loop.")
_HINT_C = ("c[:, t] is the cell state after step t: store c_next, not c_prev, and pass it on to "
           "the next step.")


def _seq_data(N, T, D, H, seed, scale, dtype):
    rng = np.random.default_rng(seed)
    W = _weights(rng, D, H, scale, dtype)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = rng.uniform(-1, 1, (N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    dh = rng.standard_normal((N, T, H)).astype(dtype)
    return x, h0, c0, W, dh


def forward(lstm_forward, N, T, D, H, seed, scale=1.0, dtype="float64", rtol=1e-6, atol=1e-6):
    """``lstm_forward`` against ``torch.nn.LSTM`` (output, h_n, c_n) and ``nn.LSTMCell`` (every
    c_t) holding the same weights.

    Args:
        lstm_forward: the learner's function.
        N, T, D, H: sizes. seed: the case's seed. scale: multiplies the weights.
        dtype: of inputs and weights.
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    x, h0, c0, W, _ = _seq_data(N, T, D, H, seed, scale, dt)
    out = _call("lstm_forward", lstm_forward, *_args(x, h0, c0, W))
    h, c, _ = check_returns("lstm_forward", out, 3, ("h", "c", "cache"))
    where = f" (N={N}, T={T}, D={D}, H={H}, {dt.name} inputs)"
    h = check_shape("h" + where, h, (N, T, H), hint=_HINT_SHAPE)
    c = check_shape("c" + where, c, (N, T, H), hint=_HINT_SHAPE)
    out_ref, h_n, c_n, c_ref = _ref_seq(x, h0, c0, W)
    check_close("h[:, -1] against torch's h_n" + where, h[:, -1], h_n, rtol=rtol, atol=atol,
                hint=_HINT_H)
    check_close("c[:, -1] against torch's c_n" + where, c[:, -1], c_n, rtol=rtol, atol=atol,
                hint=_HINT_C)
    check_close("h against torch's output" + where, h, out_ref, rtol=rtol, atol=atol, hint=_HINT_H)
    check_close("c (every step)" + where, c, c_ref, rtol=rtol, atol=atol, hint=_HINT_C)


# ---------------------------------------------------------------------------------------------
# Exercise 3: lstm_step_backward
# ---------------------------------------------------------------------------------------------
STEP_HINTS = {
    "dc_prev": "c_prev reaches c_next through one product only, and the gradient on c_next has "
               "two sources (Hints 3 and 4 above the exercise).",
    "db_ih": "the gradient on the pre-activations: four blocks side by side in torch's gate "
             "order, each through its gate's own nonlinearity (Hints 5 and 6 above the "
             "exercise); it starts from the TOTAL gradient on c_next (Hint 3).",
    "db_hh": "b_hh enters the pre-activations exactly like b_ih (Hint 7 above the exercise).",
    "dx": "dx has the shape of x, (N, D): match the shapes of the product with the (N, 4H) "
          "pre-activation gradient. If db_ih passed, the product is the suspect (Hint 7).",
    "dh_prev": "dh_prev has the shape of h_prev, (N, H): match the shapes of the product "
               "(Hint 7 above the exercise).",
    "dW_ih": "dW_ih has the shape of W_ih, (4H, D), summed over the batch (Hint 7 above the "
             "exercise).",
    "dW_hh": "dW_hh has the shape of W_hh, (4H, H), and uses h_prev, the state that went INTO "
             "the step (Hint 7 above the exercise).",
}
_STEP_ORDER = ("dc_prev", "db_ih", "db_hh", "dx", "dh_prev", "dW_ih", "dW_hh")


def _ref_step_grads(x, h, c, W, dh, dc):
    cell = cell_from_numpy("lstm", W["W_ih"], W["W_hh"], W["b_ih"], W["b_hh"])
    X, Hp, Cp = (_t(a).requires_grad_() for a in (x, h, c))
    h1, c1 = cell(X, (Hp, Cp))
    ((h1 * _t(dh)).sum() + (c1 * _t(dc)).sum()).backward()
    return [t.grad.numpy() for t in (X, Hp, Cp, cell.weight_ih, cell.weight_hh, cell.bias_ih,
                                     cell.bias_hh)]


def step_backward(lstm_step_backward, lstm_step_forward, N, D, H, seed, scale=1.0,
                  dtype="float64", zero=None, rtol=1e-6, atol=1e-8):
    """``lstm_step_backward`` against torch autograd through ``nn.LSTMCell`` (float64), on the
    cache of the learner's ``lstm_step_forward`` or, if that is wrong, the documented one.

    Args:
        lstm_step_backward, lstm_step_forward: the learner's functions.
        N, D, H: sizes. seed: the case's seed. scale: multiplies the weights.
        dtype: of inputs, weights and upstream gradients.
        zero: ``"dh"`` (only the cell path: dh_next = 0) or ``"dc"`` (dc_next = 0).
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    x, h, c, W, dh, dc = _step_data(N, D, H, seed, scale, dt)
    if zero == "dh":
        dh = np.zeros_like(dh)
    elif zero == "dc":
        dc = np.zeros_like(dc)
    h_ref, c_ref = _ref_step(x, h, c, W)
    expected = _ref_step_grads(x, h, c, W, dh, dc)
    where = f" (N={N}, D={D}, H={H}, {dt.name} inputs" + (f", {zero}_next = 0)" if zero else ")")

    def run_forward():
        value, obj = _call("lstm_step_forward", kept_call, lstm_step_forward, *_args(x, h, c, W))
        out = check_returns("lstm_step_forward", value, 3, ("h_next", "c_next", "cache"))
        hint = "make test_lstm_step_forward pass first."
        check_close("h_next from lstm_step_forward", out[0], h_ref, F32_RTOL, F32_ATOL, hint=hint)
        check_close("c_next from lstm_step_forward", out[1], c_ref, F32_RTOL, F32_ATOL, hint=hint)
        return element(obj, 2), forward_precise(out[0], h_ref) and forward_precise(out[1], c_ref)

    def run_backward(cache, loose):
        r_tol, a_tol = _tol(np.float32, rtol, atol) if loose else (rtol, atol)
        got = check_returns("lstm_step_backward",
                            _call("lstm_step_backward", lstm_step_backward, dh.copy(), dc.copy(),
                                  cache), 7, NAMES_STEP)
        case = {"x": x, "h": h, "c": c, "w": W, "dh": dh, "dc": dc}

        def spot():
            return identify(mistakes.LSTM_STEP_BACKWARD, case, dict(zip(NAMES_STEP, got)),
                            dict(zip(NAMES_STEP, expected)), r_tol, a_tol)

        for name in _STEP_ORDER:
            k = NAMES_STEP.index(name)
            check_named(f"{name} from lstm_step_backward{where}", got[k], expected[k],
                        rtol=r_tol, atol=a_tol, hint=STEP_HINTS[name], spot=spot)

    backward_with_fallback("lstm_step_backward", "lstm_step_forward", run_forward, run_backward,
                           lambda: kept(lstm_step_backward, _documented_step_cache(x, h, c, W)),
                           STEP_LAYOUT)


# ---------------------------------------------------------------------------------------------
# Exercise 4: lstm_backward
# ---------------------------------------------------------------------------------------------
_LOOP = ("Go through the steps in reverse order; each step receives a hidden-state gradient "
         "and a cell-state gradient (Hints 1 to 3 above lstm_backward). ")
SEQ_HINTS = {
    "dx": _LOOP + "dx[:, t] is the dx of step t. An off-by-one in t or a gradient that is not "
                  "carried from step to step shows up here first.",
    "dh0": _LOOP + "dh0 is what step t = 0 sends back to the initial hidden state.",
    "dc0": _LOOP + "dc0 is what step t = 0 sends back to the initial cell state: the cell "
                   "gradient must be carried through every step.",
    "dW_ih": "The weights are shared by all steps: how do the step gradients combine (Hint 4 "
             "above lstm_backward)?",
    "dW_hh": "The weights are shared by all steps (Hint 4 above lstm_backward); each step uses "
             "its own h_prev.",
    "db_ih": "The biases are shared by all steps (Hint 4 above lstm_backward).",
    "db_hh": "The biases are shared by all steps (Hint 4 above lstm_backward).",
}


def _ref_seq_grads(x, h0, c0, W, dh):
    layer = layer_from_numpy("lstm", W["W_ih"], W["W_hh"], W["b_ih"], W["b_hh"])
    X, H0, C0 = (_t(a).requires_grad_() for a in (x, h0, c0))
    out, _ = layer(X, (H0[None], C0[None]))
    (out * _t(dh)).sum().backward()
    return [t.grad.numpy() for t in (X, H0, C0, layer.weight_ih_l0, layer.weight_hh_l0,
                                     layer.bias_ih_l0, layer.bias_hh_l0)]


def backward(lstm_backward, lstm_forward, N, T, D, H, seed, scale=1.0, dtype="float64",
             only=None, rtol=1e-6, atol=1e-8):
    """``lstm_backward`` against torch autograd through ``nn.LSTM`` (float64), on the cache of
    the learner's ``lstm_forward`` or, if that is wrong, the documented one.

    Args:
        lstm_backward, lstm_forward: the learner's functions.
        N, T, D, H: sizes. seed: the case's seed. scale: multiplies the weights.
        dtype: of inputs, weights and ``dh``.
        only: a step index: the upstream gradient is non-zero at that step only.
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    x, h0, c0, W, dh = _seq_data(N, T, D, H, seed, scale, dt)
    if only is not None:
        keep = np.zeros_like(dh)
        keep[:, only] = dh[:, only]
        dh = keep
    out_ref, _, _, c_ref = _ref_seq(x, h0, c0, W)
    expected = _ref_seq_grads(x, h0, c0, W, dh)
    where = (f" (N={N}, T={T}, D={D}, H={H}, {dt.name} inputs"
             + (f", loss on step {only} only)" if only is not None else ")"))

    def run_forward():
        value, obj = _call("lstm_forward", kept_call, lstm_forward, *_args(x, h0, c0, W))
        out = check_returns("lstm_forward", value, 3, ("h", "c", "cache"))
        hint = "make test_lstm_forward pass first."
        check_close("h from lstm_forward", out[0], out_ref, F32_RTOL, F32_ATOL, hint=hint)
        check_close("c from lstm_forward", out[1], c_ref, F32_RTOL, F32_ATOL, hint=hint)
        return (element(obj, 2),
                forward_precise(out[0], out_ref) and forward_precise(out[1], c_ref))

    def run_backward(cache, loose):
        # Float32 tolerances always: a step backward that computes in float32 (a correct
        # choice) adds float32 rounding at every step of the sum over time.
        r_tol, a_tol = _tol(np.float32, rtol, atol)
        got = check_returns("lstm_backward",
                            _call("lstm_backward", lstm_backward, dh.copy(), cache), 7, NAMES_SEQ)
        case = {"x": x, "h": h0, "c": c0, "w": W, "dh": dh}

        def spot():
            return identify(mistakes.LSTM_BACKWARD, case, dict(zip(NAMES_SEQ, got)),
                            dict(zip(NAMES_SEQ, expected)), r_tol, a_tol)

        for k, name in enumerate(NAMES_SEQ):
            check_named(f"{name} from lstm_backward{where}", got[k], expected[k], rtol=r_tol,
                        atol=a_tol, hint=SEQ_HINTS[name], spot=spot)

    backward_with_fallback("lstm_backward", "lstm_forward", run_forward, run_backward,
                           lambda: kept(lstm_backward, _documented_seq_cache(x, h0, c0, W)),
                           SEQ_LAYOUT)
