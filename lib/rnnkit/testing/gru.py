"""Harnesses for the test cells of lesson 04_gru (GRU: derivation and implementation).

Every harness takes the learner's function or class as its first argument(s), builds its own
data from a seed, computes the reference with torch in float64 (``torch.nn.GRUCell``,
``torch.nn.GRU``, ``torch.nn.LSTMCell`` and their autograd) and compares with
:mod:`rnnkit.checks`, whose messages name the output, the shapes, the largest error and a hint.
They follow the rules of :mod:`rnnkit.testing`: the learner's objects are only called, their
results only converted with :func:`rnnkit.testing.to_numpy` / :mod:`rnnkit.checks`.

Conventions (those of the course): batch-first ``(N, T, D)``; weights in torch's layout
``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih``, ``b_hh (3H,)`` with the gate blocks in the order
r, z, n; the GRU equations in PyTorch's form::

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
    h' = (1 - z) * n + z * h

**The documented caches.** A backward is graded on its own: it is first called with the cache
of the learner's forward; when that forward does not match torch (or its cache does not work
with the backward), it is called with the cache that the forward's docstring documents, built
here from reference values:

* ``gru_step_forward``: ``(x, h_prev, W_ih, W_hh, r, z, n, hn)`` with ``hn = h_prev @ W_hn.T +
  b_hn`` of shape ``(N, H)`` (the hidden part of the candidate's pre-activation, before ``r``);
  ``x (N, D)``, ``h_prev``, ``r``, ``z``, ``n`` ``(N, H)``, the weights as given.
* ``gru_forward``: the list of the ``T`` step caches, step ``t`` at index ``t``.

**The modules** (``GRUCell``, ``LSTMCell``, ``GRU``) are loaded by the parameter names their
docstrings fix: a cell holds ``ih = nn.Linear(D, G*H)`` and ``hh = nn.Linear(H, G*H)`` (rows in
torch's gate order), so its ``state_dict`` keys are ``ih.weight``, ``ih.bias``, ``hh.weight``,
``hh.bias``; the multi-layer ``GRU`` holds its cells in ``cells`` (an ``nn.ModuleList``) and has a
method ``load_torch_state_dict(state_dict)`` that reads the keys of ``torch.nn.GRU``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.checks import check_close, check_returns, check_scalar, check_shape
from rnnkit.testing import mistakes
from rnnkit.testing.mistakes import check_named, identify
from rnnkit.testing.ops import (element, is_remote, kept, kept_call, learner_autograd, method,
                                to_numpy)
from rnnkit.torch_bridge import cell_from_numpy, layer_from_numpy, random_weights

__all__ = [
    "random_sizes", "step_data", "seq_data", "reference_step", "reference_forward",
    "reference_step_cache", "reference_cache", "reference_step_grads", "reference_grads",
    "step_forward", "forward", "step_backward", "backward", "gru_cell", "lstm_cell",
    "cell_from_torch", "cell_to_torch", "gru_module", "cell_state_dict", "gru_cell_state_dict",
]

STEP_GRADS = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
SEQ_GRADS = ("dx", "dh0", "dW_ih", "dW_hh", "db_ih", "db_hh")

# Tolerances: a float64 computation, and one that went through float32 somewhere.
TOL64 = dict(rtol=1e-5, atol=1e-6)
TOL32 = dict(rtol=1e-4, atol=1e-4)
GRAD_TOL64 = dict(rtol=1e-5, atol=1e-7)
GRAD_TOL32 = dict(rtol=1e-3, atol=1e-4)


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------

def random_sizes(n: int, seed: int, seq: bool = False, layers: bool = False,
                 max_size: int = 7) -> list[dict]:
    """``n`` random test cases: dicts with keys ``N, D, H, seed`` (and ``T`` when ``seq``,
    ``num_layers`` when ``layers``), sizes between 1 and ``max_size``, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(n):
        case = dict(N=int(rng.integers(1, max_size + 1)), D=int(rng.integers(1, max_size + 1)),
                    H=int(rng.integers(1, max_size + 1)), seed=int(rng.integers(0, 2**31 - 1)))
        if seq:
            case["T"] = int(rng.integers(1, 9))
        if layers:
            case["num_layers"] = int(rng.integers(1, 4))
        cases.append(case)
    return cases


def step_data(N: int, D: int, H: int, seed: int, scale: float = 1.0, dtype="float64"):
    """Inputs of one step: ``x (N, D)``, ``h_prev (N, H)`` in (-1, 1), weights (dict of
    ``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih``, ``b_hh (3H,)``, torch's init times ``scale``),
    and an upstream gradient ``dh_next (N, H)``; all of ``dtype``."""
    rng = np.random.default_rng(seed)
    W = {k: (scale * v).astype(dtype) for k, v in random_weights("gru", D, H, seed=rng).items()}
    x = rng.standard_normal((N, D)).astype(dtype)           # (N, D)
    h = rng.uniform(-1, 1, (N, H)).astype(dtype)            # (N, H)
    dh = rng.standard_normal((N, H)).astype(dtype)          # (N, H)
    return x, h, W, dh


def seq_data(N: int, T: int, D: int, H: int, seed: int, scale: float = 1.0, dtype="float64"):
    """Inputs of a sequence: ``x (N, T, D)``, ``h0 (N, H)``, weights as :func:`step_data`, and
    an upstream gradient ``dh (N, T, H)`` on every hidden state."""
    rng = np.random.default_rng(seed)
    W = {k: (scale * v).astype(dtype) for k, v in random_weights("gru", D, H, seed=rng).items()}
    x = rng.standard_normal((N, T, D)).astype(dtype)        # (N, T, D)
    h0 = rng.uniform(-1, 1, (N, H)).astype(dtype)           # (N, H)
    dh = rng.standard_normal((N, T, H)).astype(dtype)       # (N, T, H)
    return x, h0, W, dh


def _weights(W):
    return W["W_ih"], W["W_hh"], W["b_ih"], W["b_hh"]


# ---------------------------------------------------------------------------------------------
# references (torch, float64)
# ---------------------------------------------------------------------------------------------

def reference_step(x, h_prev, W) -> np.ndarray:
    """``h_next (N, H)`` of ``torch.nn.GRUCell`` holding the weights ``W``, in float64."""
    cell = cell_from_numpy("gru", *_weights(W), dtype=torch.float64)
    with torch.no_grad():
        return cell(_t(x), _t(h_prev)).numpy()


def reference_forward(x, h0, W) -> np.ndarray:
    """Every hidden state ``(N, T, H)`` (torch's ``output``) of a one-layer ``torch.nn.GRU``."""
    layer = layer_from_numpy("gru", *_weights(W), dtype=torch.float64)
    with torch.no_grad():
        out, _ = layer(_t(x), _t(h0)[None])
    return out.numpy()


def reference_step_cache(x, h_prev, W) -> tuple:
    """The cache documented by ``gru_step_forward``, from torch float64 values:
    ``(x, h_prev, W_ih, W_hh, r, z, n, hn)``, gates and ``hn`` of shape ``(N, H)``."""
    W_ih, W_hh, b_ih, b_hh = (_t(w) for w in _weights(W))
    X, Hp = _t(x), _t(h_prev)
    H = Hp.shape[1]
    gi = F.linear(X, W_ih, b_ih)                                   # (N, 3H)
    gh = F.linear(Hp, W_hh, b_hh)                                  # (N, 3H)
    r, z = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H]).split(H, dim=1)   # (N, H) each
    h_n = gh[:, 2 * H:]                                            # (N, H)
    n = torch.tanh(torch.addcmul(gi[:, 2 * H:], r, h_n))           # (N, H)
    as64 = lambda a: np.asarray(a, dtype=np.float64).copy()
    return (as64(x), as64(h_prev), as64(W["W_ih"]), as64(W["W_hh"]),
            r.numpy(), z.numpy(), n.numpy(), h_n.numpy())


def reference_cache(x, h0, W) -> list:
    """The cache documented by ``gru_forward``: the list of the T step caches."""
    cell = cell_from_numpy("gru", *_weights(W), dtype=torch.float64)
    h = _t(h0)
    caches = []
    for t in range(np.shape(x)[1]):
        caches.append(reference_step_cache(np.asarray(x)[:, t], h.numpy(), W))
        with torch.no_grad():
            h = cell(_t(np.asarray(x)[:, t]), h)
    return caches


def reference_step_grads(x, h_prev, W, dh_next) -> list:
    """``[dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh]`` of ``L = sum(h_next * dh_next)`` by torch
    autograd through ``torch.nn.GRUCell`` in float64."""
    cell = cell_from_numpy("gru", *_weights(W), dtype=torch.float64)
    X, Hp = (_t(a).requires_grad_(True) for a in (x, h_prev))
    (cell(X, Hp) * _t(dh_next)).sum().backward()
    return [g.grad.numpy().copy() for g in (X, Hp, cell.weight_ih, cell.weight_hh,
                                            cell.bias_ih, cell.bias_hh)]


def reference_grads(x, h0, W, dh) -> list:
    """``[dx, dh0, dW_ih, dW_hh, db_ih, db_hh]`` of ``L = sum(h * dh)`` over every hidden state
    ``h (N, T, H)``, by torch autograd through a one-layer ``torch.nn.GRU`` in float64."""
    layer = layer_from_numpy("gru", *_weights(W), dtype=torch.float64)
    X, H0 = (_t(a).requires_grad_(True) for a in (x, h0))
    out, _ = layer(X, H0[None])
    (out * _t(dh)).sum().backward()
    return [g.grad.numpy().copy() for g in (X, H0, layer.weight_ih_l0, layer.weight_hh_l0,
                                            layer.bias_ih_l0, layer.bias_hh_l0)]


# ---------------------------------------------------------------------------------------------
# NumPy exercises
# ---------------------------------------------------------------------------------------------

_HINT_STEP = ("Cut x @ W_ih.T + b_ih and h_prev @ W_hh.T + b_hh, each (N, 3H), into column "
              "blocks r = [:, :H], z = [:, H:2H], n = [:, 2H:]. r and z add both parts and go "
              "through the sigmoid; the candidate is n = tanh(x-part of n + r * (h_prev @ "
              "W_hn.T + b_hn)): r multiplies the hidden part INCLUDING b_hn. Then h_next = "
              "(1 - z) * n + z * h_prev (z keeps the old state, 1 - z writes the candidate).")


def _call_step_forward(gru_step_forward, x, h, W):
    out = gru_step_forward(x.copy(), h.copy(), *(w.copy() for w in _weights(W)))
    return check_returns("gru_step_forward", out, 2, ("h_next", "cache"))


def step_forward(gru_step_forward, N: int, D: int, H: int, seed: int, scale: float = 1.0,
                 dtype="float64") -> None:
    """Check ``gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh) -> (h_next, cache)`` against
    ``torch.nn.GRUCell`` with the same weights.

    Shapes: ``x (N, D)``, ``h_prev (N, H)``, ``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih``,
    ``b_hh (3H,)`` -> ``h_next (N, H)``; the cache is not inspected. ``dtype="float32"``
    passes float32 inputs and loosens the tolerance.
    """
    x, h, W, _ = step_data(N, D, H, seed, scale, dtype)
    h_next, _ = _call_step_forward(gru_step_forward, x, h, W)
    where = f" (N={N}, D={D}, H={H}, {_dtype_name(dtype)} inputs)"
    tol = TOL32 if _dtype_name(dtype) == "float32" else TOL64
    expected = reference_step(x, h, W)
    case = {"x": x, "h": h, "w": W}
    check_named("h_next from gru_step_forward" + where, h_next, expected, hint=_HINT_STEP,
                spot=lambda: identify(mistakes.GRU_STEP_FORWARD, case, {"h_next": h_next},
                                      {"h_next": expected}, **tol), **tol)


_HINT_SHAPE = ("h holds one state per step: shape (N, T, H), batch-first, with h[:, t] the "
               "state AFTER reading x[:, t]; h0 is not included.")
_HINT_SEQ = ("h[:, t] is the hidden state after reading x[:, t]: step t reads x[:, t] and the "
             "h_next of step t-1 (h0 for t = 0). If test_gru_step_forward passes, look at the "
             "loop: the index of x, the state passed on, and where it is stored.")


def forward(gru_forward, N: int, T: int, D: int, H: int, seed: int, scale: float = 1.0,
            dtype="float64") -> None:
    """Check ``gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh) -> (h, cache)`` against a one-layer
    ``torch.nn.GRU(batch_first=True)``: ``x (N, T, D)``, ``h0 (N, H)`` -> ``h (N, T, H)``
    (torch's ``output``; ``h[:, -1]`` is its ``h_n``)."""
    x, h0, W, _ = seq_data(N, T, D, H, seed, scale, dtype)
    out = gru_forward(x.copy(), h0.copy(), *(w.copy() for w in _weights(W)))
    h, _ = check_returns("gru_forward", out, 2, ("h", "cache"))
    where = f" (N={N}, T={T}, D={D}, H={H}, {_dtype_name(dtype)} inputs)"
    h = check_shape("h from gru_forward" + where, h, (N, T, H), hint=_HINT_SHAPE)
    ref = reference_forward(x, h0, W)
    tol = TOL32 if _dtype_name(dtype) == "float32" else TOL64
    check_close("h[:, -1] from gru_forward, against torch's h_n" + where, h[:, -1], ref[:, -1],
                hint=_HINT_SEQ, **tol)
    check_close("h from gru_forward, against torch's output" + where, h, ref, hint=_HINT_SEQ,
                **tol)


_STEP_HINTS = {
    "db_ih": ("start from the gradient on h_next and follow each path back: to the candidate "
              "n, to the update gate z, and through n's tanh to the reset gate r (Hints 1 to 6 "
              "above the exercise); db_ih holds the three pre-activation gradients side by "
              "side in the order r, z, n, summed over the batch."),
    "db_hh": ("b_hh does NOT get the same gradient as b_ih in a GRU: its n block sits inside "
              "the reset gate's product (Hint 7 above the exercise)."),
    "dx": "dx has the shape of x, (N, D): match the shapes of the product (Hint 8 above the "
          "exercise).",
    "dh_prev": ("h_prev reaches h_next by a direct path as well as through the matrix products, "
                "and the hidden side of the n block is scaled by r (Hints 4 and 7 above the "
                "exercise)."),
    "dW_ih": "dW_ih has the shape of W_ih, (3H, D), summed over the batch (Hint 8 above the "
             "exercise).",
    "dW_hh": "dW_hh has the shape of W_hh, (3H, H); its n block comes from the hidden side "
             "(Hints 7 and 8 above the exercise).",
}
_STEP_ORDER = ("db_ih", "db_hh", "dx", "dh_prev", "dW_ih", "dW_hh")

_LOOP = ("Go through the steps in reverse order; look at the gradient each step receives "
         "(Hints 1 and 2 above gru_backward). ")
_SEQ_HINTS = {
    "dx": _LOOP + "dx[:, t] is the dx of step t; an off-by-one in t or a gradient that is not "
                  "carried from step to step shows up here first.",
    "dh0": _LOOP + "dh0 is what step t = 0 sends back to the initial state.",
    "dW_ih": "The weights are shared by all steps: how do the step gradients combine (Hint 3 "
             "above gru_backward)?",
    "dW_hh": "The weights are shared by all steps (Hint 3 above gru_backward); each step uses "
             "its own h_prev.",
    "db_ih": "The biases are shared by all steps (Hint 3 above gru_backward).",
    "db_hh": "The biases are shared by all steps (Hint 3 above gru_backward); in a GRU db_hh "
             "is not a copy of db_ih.",
}
_SEQ_ORDER = ("dx", "dh0", "dW_ih", "dW_hh", "db_ih", "db_hh")


def _forward_quality(got, ref) -> tuple[str, float]:
    """'float64' (matches torch to rounding), 'float32' (within float32 precision) or 'wrong'."""
    try:
        arr = np.asarray(to_numpy(got), dtype=np.float64)
    except (TypeError, ValueError):
        return "wrong", float("inf")
    if arr.shape != ref.shape or not np.all(np.isfinite(arr)):
        return "wrong", float("inf")
    err = float(np.max(np.abs(arr - ref))) if arr.size else 0.0
    if err <= 1e-9:
        return "float64", err
    if err <= 1e-4:
        return "float32", err
    return "wrong", err


def _compare_grads(fname, got, expected, names, order, hints, where, tol, known=(), case=None):
    got = check_returns(fname, got, len(names), names)

    def spot():
        return identify(known, case, dict(zip(names, got)), dict(zip(names, expected)), **tol)

    for name in order:
        k = names.index(name)
        check_named(f"{name} from {fname}{where}", got[k], expected[k], hint=hints[name],
                    spot=spot, **tol)


def _grade_backward(fname, fwd_name, call_learner_forward, ref_out, documented_cache,
                    call_backward, expected, names, order, hints, where, backward_fn,
                    known=(), case=None):
    """Try the learner's backward on the learner's cache, then on the documented cache.

    The learner's cache stays where the learner's forward put it (a handle to it when grading),
    and the documented cache is stored there too, so the backward gets the cache object itself,
    as in the learner's notebook."""
    try:
        out, obj = call_learner_forward()
        fwd = check_returns(fwd_name, out, 2)
        quality, err = _forward_quality(fwd[0], ref_out)
    except Exception as exc:                      # the forward raised (or is not written yet)
        fwd, quality, err = None, "raised", str(exc)
    first = None
    if quality in ("float64", "float32"):
        tol = GRAD_TOL64 if quality == "float64" else GRAD_TOL32
        try:
            _compare_grads(fname, call_backward(element(obj, 1)), expected, names, order, hints,
                           where + f" (called with the cache of your {fwd_name})", tol,
                           known, case)
            return f"on the cache of your {fwd_name}"
        except NotImplementedError:
            raise
        except Exception as exc:
            first = exc
        case = (f"Your {fwd_name} matches torch, but {fname} failed on its cache:\n  "
                f"{type(first).__name__}: {first}\nIt was then called with the cache documented "
                f"in the docstring of {fwd_name} (built from reference values), and failed too:")
    elif quality == "raised":
        case = (f"Your {fwd_name} raised an error ({err}), so {fname} was called with the cache "
                f"documented in the docstring of {fwd_name}, built from reference values:")
    else:
        case = (f"Your {fwd_name} does not match torch (largest error {err:.3g}), so {fname} "
                f"was called with the cache documented in the docstring of {fwd_name}, built "
                f"from reference values:")
    try:
        _compare_grads(fname, call_backward(kept(backward_fn, documented_cache)), expected,
                       names, order, hints,
                       where + f" (called with the documented cache of {fwd_name})", GRAD_TOL64,
                       known, case)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(f"{case}\n  {type(exc).__name__}: {exc}") from None
    return f"on the documented cache of {fwd_name}"


def step_backward(gru_step_backward, gru_step_forward, N: int, D: int, H: int, seed: int,
                  scale: float = 1.0, zero_dh_rows: bool = False) -> str:
    """Check ``gru_step_backward(dh_next, cache) -> (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh)``
    against torch autograd through ``torch.nn.GRUCell`` (float64).

    Shapes: ``dh_next (N, H)`` -> ``dx (N, D)``, ``dh_prev (N, H)``, ``dW_ih (3H, D)``,
    ``dW_hh (3H, H)``, ``db_ih``, ``db_hh (3H,)``. The cache is the one the learner's
    ``gru_step_forward`` returns when that forward matches torch (float64 or float32 precision;
    the tolerance follows), else the documented one (see the module's docstring).
    ``zero_dh_rows`` zeroes the upstream gradient of every other sample.

    Returns:
        which cache the backward passed with (a sentence).
    """
    x, h, W, dh = step_data(N, D, H, seed, scale)
    if zero_dh_rows:
        dh[::2] = 0.0
    where = f" (N={N}, D={D}, H={H})"
    return _grade_backward(
        "gru_step_backward", "gru_step_forward",
        lambda: kept_call(gru_step_forward, x.copy(), h.copy(), *(w.copy() for w in _weights(W))),
        reference_step(x, h, W), reference_step_cache(x, h, W),
        lambda cache: gru_step_backward(dh.copy(), cache),
        reference_step_grads(x, h, W, dh), STEP_GRADS, _STEP_ORDER, _STEP_HINTS, where,
        gru_step_backward, mistakes.GRU_STEP_BACKWARD, {"x": x, "h": h, "w": W, "dh": dh})


def backward(gru_backward, gru_forward, N: int, T: int, D: int, H: int, seed: int,
             scale: float = 1.0, only=None) -> str:
    """Check ``gru_backward(dh, cache) -> (dx, dh0, dW_ih, dW_hh, db_ih, db_hh)`` against torch
    autograd through a one-layer ``torch.nn.GRU`` (float64).

    Shapes: ``dh (N, T, H)`` (upstream gradient on every hidden state) -> ``dx (N, T, D)``,
    ``dh0 (N, H)``, ``dW_ih (3H, D)``, ``dW_hh (3H, H)``, ``db_ih``, ``db_hh (3H,)``. The
    cache: as :func:`step_backward`, from ``gru_forward``. ``only=t`` keeps the upstream
    gradient of step ``t`` alone (a loss on one step).

    Returns:
        which cache the backward passed with (a sentence).
    """
    x, h0, W, dh = seq_data(N, T, D, H, seed, scale)
    if only is not None:
        keep = np.zeros_like(dh)
        keep[:, only] = dh[:, only]
        dh = keep
    where = f" (N={N}, T={T}, D={D}, H={H}" + (f", loss on step {only} only)" if only is not None
                                                  else ")")
    return _grade_backward(
        "gru_backward", "gru_forward",
        lambda: kept_call(gru_forward, x.copy(), h0.copy(), *(w.copy() for w in _weights(W))),
        reference_forward(x, h0, W), reference_cache(x, h0, W),
        lambda cache: gru_backward(dh.copy(), cache),
        reference_grads(x, h0, W, dh), SEQ_GRADS, _SEQ_ORDER, _SEQ_HINTS, where, gru_backward,
        mistakes.GRU_BACKWARD, {"x": x, "h": h0, "w": W, "dh": dh})


# ---------------------------------------------------------------------------------------------
# torch modules
# ---------------------------------------------------------------------------------------------

def cell_state_dict(torch_cell: nn.Module) -> dict:
    """The ``state_dict`` a course cell (``ih``, ``hh`` Linear layers) holding the weights of a
    ``torch.nn.GRUCell`` / ``LSTMCell`` has: ``{"ih.weight", "ih.bias", "hh.weight",
    "hh.bias"}`` (tensors, cloned)."""
    return {"ih.weight": torch_cell.weight_ih.detach().clone(),
            "ih.bias": torch_cell.bias_ih.detach().clone(),
            "hh.weight": torch_cell.weight_hh.detach().clone(),
            "hh.bias": torch_cell.bias_hh.detach().clone()}


def gru_cell_state_dict(torch_cell: nn.Module) -> dict:
    """Alias of :func:`cell_state_dict` (kept for readability in GRU tests)."""
    return cell_state_dict(torch_cell)


def _autograd(module, inputs, upstream, name):
    """:func:`learner_autograd` with a message when autograd cannot run through the module
    (only where the module is a local object: see :func:`_module_checks`)."""
    try:
        return learner_autograd(module, inputs, upstream)
    except RuntimeError as exc:
        raise AssertionError(
            f"autograd could not run through your {name} ({exc}).\n  Hint: compute everything "
            f"with torch operations on the input tensors and the parameters (no NumPy, no "
            f".detach(), .numpy() or .item(), no torch.tensor(...) around intermediate "
            f"results).") from None


def _flat(out) -> list:
    """The arrays of a module's output: a tensor, or a (nested) tuple of tensors."""
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat(o)]
    return [np.asarray(to_numpy(out), dtype=np.float64)]


def _loss(outs, upstream) -> float:
    return float(sum(np.sum(o * u) for o, u in zip(outs, upstream)))


def _module_checks(name, run, inputs, in_names, upstream, ref_outs, ref_grads_in, where,
                   seed, load=None, params=None, ref_grads_p=None):
    """The gradients of a learner's module, judged from its forward values only.

    When grading, the module lives in the learner's kernel: whatever autograd computes there is
    the kernel's claim. What the grader can check is the function the module computes: here
    its derivative along a random direction of each input (and one of all the parameters
    together, loaded with ``load``), by central finite differences of ``L = sum_k (outputs[k] * upstream[k]).sum()``
    in float64, against ``<torch's gradient, direction>`` from the reference module. Whether
    the module's forward keeps autograd's graph cannot be seen from outside (a forward written
    in NumPy has the same values); the lesson says so, and the test checks autograd in the
    learner's own kernel (:func:`_autograd`).

    Args:
        run: ``inputs -> output`` of the learner's module (a tensor or a tuple of tensors).
        inputs: float64 arrays; in_names: their names for the messages.
        upstream: one array per output array; ref_outs: torch's outputs at ``inputs``.
        ref_grads_in: torch's gradients of L on the inputs.
        load, params, ref_grads_p: ``load(state_dict)`` and the parameters ``{name: array}``
            the module holds now, with torch's gradients of L on them (optional).
    """
    rng = np.random.default_rng(seed + 7)
    err = max((float(np.max(np.abs(o - r))) if o.size else 0.0
               for o, r in zip(_flat(run(inputs)), ref_outs)), default=0.0)
    precise = err <= 1e-9 * (1.0 + max(float(np.max(np.abs(r))) if r.size else 0.0
                                       for r in ref_outs))
    eps, rel = (1e-5, 1e-6) if precise else (1e-3, 1e-3)
    size = 1.0 + _loss([np.abs(r) for r in ref_outs], [np.abs(u) for u in upstream])
    hint = ("your module's outputs agree with torch's at the test's point but change "
            "differently around it: is something computed from other values than the inputs "
            "and the parameters the module holds now (a copy of the weights made earlier, a "
            "cached result)?")

    def direction(shape):
        v = rng.standard_normal(shape)
        return v / max(float(np.linalg.norm(v)), 1e-300)

    def derivative(label, expected, loss_at):
        got = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
        check_scalar(f"the derivative of the outputs of your {name} along a random direction "
                     f"of {label} (finite differences of its forward values){where}", got,
                     expected, rtol=10 * rel, atol=rel * size, hint=hint)

    for k, label in enumerate(in_names):
        v = direction(inputs[k].shape)

        def loss_at(step, k=k, v=v):
            moved = list(inputs)
            moved[k] = inputs[k] + step * v
            return _loss(_flat(run(moved)), upstream)
        derivative(label, float(np.sum(ref_grads_in[k] * v)), loss_at)
    if load is not None:                  # one direction in the space of all parameters
        vs = {k: direction(v.shape) / np.sqrt(len(params)) for k, v in params.items()}

        def loss_at(step):
            load({k: v + step * vs[k] for k, v in params.items()})
            return _loss(_flat(run(inputs)), upstream)
        derivative("its parameters " + ", ".join(params),
                   float(sum(np.sum(ref_grads_p[k] * v) for k, v in vs.items())), loss_at)
        load(params)


def _check_state_dict(cell, sd: dict, cls_name: str, where: str) -> None:
    """The module's ``state_dict``, fetched as values, holds what was loaded, under its names."""
    got = to_numpy(dict(method(cell, "state_dict")))
    if set(got) != set(sd):
        raise AssertionError(f"the state_dict of your {cls_name} has the keys {sorted(got)}, "
                             f"expected {sorted(sd)}.\n  Hint: {cls_name}.__init__ creates "
                             f"self.ih and self.hh (nn.Linear) and no other parameters.")
    for key, value in sd.items():
        check_close(f"{key} of your {cls_name} after load_state_dict{where}", got[key],
                    to_numpy(value), rtol=0.0, atol=1e-12,
                    hint="load_state_dict must keep the weights it is given (float64 after "
                         ".double()).")


def _perturbed(sd: dict, seed: int, scale: float) -> dict:
    """Other weights near ``sd``: each entry moved by 0.3 * scale * a standard normal."""
    rng = np.random.default_rng(seed + 11)
    return {k: (to_numpy(v) + 0.3 * scale * rng.standard_normal(tuple(v.shape)))
            for k, v in sd.items()}


def _ref_with(kind: str, sd: dict) -> nn.Module:
    """A torch cell of ``kind`` holding the course-named weights ``sd`` (float64)."""
    w = {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in sd.items()}
    return cell_from_numpy(kind, w["ih.weight"], w["hh.weight"], w["ih.bias"], w["hh.bias"],
                           dtype=torch.float64)


def _torch_cell(kind: str, D: int, H: int, seed: int, scale: float = 1.0,
                dtype=torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    cell = (nn.GRUCell if kind == "gru" else nn.LSTMCell)(D, H)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(scale)
    return cell.to(dtype)


def _load_cell(learner_cell, sd: dict, cls_name: str) -> None:
    """``learner_cell.load_state_dict(sd)`` with a message that says what the names must be."""
    try:
        method(learner_cell, "load_state_dict", sd)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"{cls_name}.load_state_dict could not load the weights of a torch cell under the "
            f"names ih.weight, ih.bias, hh.weight, hh.bias ({type(exc).__name__}: {exc}).\n"
            f"  Hint: {cls_name}.__init__ must create exactly two layers, self.ih = "
            f"nn.Linear(input_size, G * hidden_size) and self.hh = nn.Linear(hidden_size, "
            f"G * hidden_size), with G = 3 for a GRU and 4 for an LSTM, and no other "
            f"parameters.") from None


_HINT_CELL = ("Compute gi = self.ih(x) and gh = self.hh(h), each (N, 3H), cut them with "
              ".chunk(3, dim=1) into r, z, n blocks; r = sigmoid(i_r + h_r), z = sigmoid(i_z + "
              "h_z), n = tanh(i_n + r * h_n), h' = (1 - z) * n + z * h. Use torch functions "
              "(torch.sigmoid, torch.tanh), not NumPy, so that autograd works.")


_PARAMS = (("ih.weight", "weight_ih"), ("hh.weight", "weight_hh"), ("ih.bias", "bias_ih"),
           ("hh.bias", "bias_hh"))
"""The course cell's parameter names, with the torch cell's attribute holding the same one."""


def _loader(cell, cls_name):
    return lambda params: _load_cell(cell, {k: _t(v) for k, v in params.items()}, cls_name)


def gru_cell(GRUCell, N: int, D: int, H: int, seed: int, scale: float = 1.0,
             h_none: bool = False) -> None:
    """Check a learner's ``GRUCell(input_size, hidden_size)`` (an ``nn.Module`` of two Linear
    layers ``ih``, ``hh``) against ``torch.nn.GRUCell`` holding the same weights.

    Builds ``GRUCell(D, H)``, calls ``.double()`` and ``load_state_dict`` with the torch cell's
    weights, then compares ``cell(x, h) (N, H)`` for ``x (N, D)``, ``h (N, H)`` (or ``h=None``:
    zeros, when ``h_none``); its ``state_dict`` (fetched as values); the derivative of
    ``sum(h' * dh)`` along random directions of ``x``, ``h`` and of each parameter, by finite
    differences of the cell's outputs, against torch's gradients (:func:`_module_checks`); and
    the output at other weights loaded through ``load_state_dict``. Where the cell is a local
    object (the learner running the test), the gradients autograd computes through it are
    compared with torch's too; the grader cannot check that (see :func:`_module_checks`).
    """
    ref = _torch_cell("gru", D, H, seed, scale)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D))                          # (N, D)
    h = rng.uniform(-1, 1, (N, H))                           # (N, H)
    dh = rng.standard_normal((N, H))                         # (N, H)
    cell = GRUCell(D, H)
    method(cell, "double")
    sd = cell_state_dict(ref)
    _load_cell(cell, sd, "GRUCell")
    where = f" (N={N}, D={D}, H={H}" + (", h=None)" if h_none else ")")
    with torch.no_grad():
        expected = ref(_t(x), None if h_none else _t(h)).numpy()
    got = cell(_t(x), None if h_none else _t(h))
    check_close("the output of your GRUCell" + where, got, expected, hint=(
        "with h=None the cell starts from zeros of shape (N, H). " if h_none else "")
        + _HINT_CELL, **TOL64)
    if h_none:
        return
    _check_state_dict(cell, sd, "GRUCell", where)
    X, Hp = (_t(a).requires_grad_(True) for a in (x, h))
    (ref(X, Hp) * _t(dh)).sum().backward()
    ref_grads_p = {name: getattr(ref, attr).grad.numpy() for name, attr in _PARAMS}
    if not is_remote(cell):
        _local_autograd(cell, "GRUCell", [x, h], ("dx", "dh"), [dh], [X.grad.numpy(),
                        Hp.grad.numpy()], ref_grads_p, where)
    params = {k: v.numpy() for k, v in sd.items()}
    _module_checks("GRUCell", lambda ins: cell(_t(ins[0]), _t(ins[1])), [x, h], ("x", "h"),
                   [dh], [expected], [X.grad.numpy(), Hp.grad.numpy()], where, seed,
                   load=_loader(cell, "GRUCell"), params=params, ref_grads_p=ref_grads_p)
    other = _perturbed(params, seed, scale)
    _loader(cell, "GRUCell")(other)
    with torch.no_grad():
        expected = _ref_with("gru", other)(_t(x), _t(h)).numpy()
    check_close("the output of your GRUCell after load_state_dict with other weights" + where,
                cell(_t(x), _t(h)), expected, hint=_HINT_CELL, **TOL64)


def _local_autograd(cell, cls_name, inputs, in_names, upstream, ref_grads_in, ref_grads_p,
                    where):
    """Autograd through a learner's module in the learner's own process, against torch's."""
    _, grads_in, grads_p = _autograd(cell, inputs, upstream, cls_name)
    hint = (f"autograd through your {cls_name} gives other gradients than through torch's, "
            f"though the outputs agree: is something computed outside torch (NumPy, .item(), "
            f".detach(), .data) or in place?")
    for label, got, want in zip(in_names, grads_in, ref_grads_in):
        check_close(f"autograd: {label} through your {cls_name}" + where, got, want, hint=hint,
                    **GRAD_TOL64)
    for name, want in (ref_grads_p or {}).items():
        if name not in grads_p or grads_p[name] is None:
            raise AssertionError(f"autograd: your {cls_name} has no gradient on the parameter "
                                 f"{name}.\n  Hint: use self.ih and self.hh in forward.")
        check_close(f"autograd: gradient on {name} of your {cls_name}" + where, grads_p[name],
                    want, hint=hint, **GRAD_TOL64)


_HINT_LSTM = ("Compute A = self.ih(x) + self.hh(h), (N, 4H), cut it with .chunk(4, dim=1) into "
              "i, f, g, o (torch's order); i, f, o through torch.sigmoid, g through torch.tanh; "
              "c' = f * c + i * g, h' = o * torch.tanh(c'); return (h', c').")


def lstm_cell(LSTMCell, N: int, D: int, H: int, seed: int, scale: float = 1.0,
              state_none: bool = False) -> None:
    """Check a learner's ``LSTMCell(input_size, hidden_size)`` (layers ``ih``, ``hh``) against
    ``torch.nn.LSTMCell``: ``cell(x, (h, c)) -> (h', c')``, all ``(N, H)``, ``x (N, D)``;
    with ``state_none`` the state is ``None`` (zeros). Then, as :func:`gru_cell`, its
    ``state_dict``, the derivative of ``sum(h' * dh) + sum(c' * dc)`` along random directions of
    ``x``, ``h``, ``c`` and the parameters by finite differences, and the outputs at other
    weights."""
    ref = _torch_cell("lstm", D, H, seed, scale)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D))                          # (N, D)
    h = rng.uniform(-1, 1, (N, H))                           # (N, H)
    c = rng.standard_normal((N, H))                          # (N, H)
    cell = LSTMCell(D, H)
    method(cell, "double")
    sd = cell_state_dict(ref)
    _load_cell(cell, sd, "LSTMCell")
    state = None if state_none else (_t(h), _t(c))
    with torch.no_grad():
        h_ref, c_ref = ref(_t(x), state)
    out = check_returns("your LSTMCell", cell(_t(x), state), 2, ("h", "c"))
    where = f" (N={N}, D={D}, H={H}" + (", state=None)" if state_none else ")")
    pre = "with state=None the cell starts from zeros (N, H) for h and c. " if state_none else ""
    check_close("c' from your LSTMCell" + where, out[1], c_ref.numpy(), hint=pre + _HINT_LSTM,
                **TOL64)
    check_close("h' from your LSTMCell" + where, out[0], h_ref.numpy(), hint=pre + _HINT_LSTM,
                **TOL64)
    if state_none:
        return
    _check_state_dict(cell, sd, "LSTMCell", where)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    X, Hp, Cp = (_t(a).requires_grad_(True) for a in (x, h, c))
    h1, c1 = ref(X, (Hp, Cp))
    ((h1 * _t(dh)).sum() + (c1 * _t(dc)).sum()).backward()
    ref_grads_p = {name: getattr(ref, attr).grad.numpy() for name, attr in _PARAMS}
    params = {k: v.numpy() for k, v in sd.items()}
    _module_checks("LSTMCell", lambda ins: cell(_t(ins[0]), (_t(ins[1]), _t(ins[2]))),
                   [x, h, c], ("x", "h", "c"), [dh, dc], [h_ref.numpy(), c_ref.numpy()],
                   [X.grad.numpy(), Hp.grad.numpy(), Cp.grad.numpy()], where, seed,
                   load=_loader(cell, "LSTMCell"), params=params, ref_grads_p=ref_grads_p)
    other = _perturbed(params, seed, scale)
    _loader(cell, "LSTMCell")(other)
    with torch.no_grad():
        h_ref, c_ref = _ref_with("lstm", other)(_t(x), (_t(h), _t(c)))
    out = check_returns("your LSTMCell", cell(_t(x), (_t(h), _t(c))), 2, ("h", "c"))
    for k, (label, want) in enumerate((("c'", c_ref), ("h'", h_ref))):
        check_close(f"{label} from your LSTMCell after load_state_dict with other weights"
                    + where, out[1 - k], want.numpy(), hint=_HINT_LSTM, **TOL64)


def cell_from_torch(cell_from_torch_fn, kind: str, D: int, H: int, seed: int) -> None:
    """Check ``cell_from_torch(torch_cell)``: given a ``torch.nn.GRUCell`` (``kind="gru"``) or
    ``torch.nn.LSTMCell`` (``"lstm"``) of sizes ``D, H``, it returns the learner's cell of the same
    kind whose ``state_dict`` holds the same weights (``ih.weight (G*H, D)``, ``ih.bias (G*H,)``,
    ``hh.weight (G*H, H)``, ``hh.bias (G*H,)``)."""
    ref = _torch_cell(kind, D, H, seed, dtype=torch.float32)
    mine = cell_from_torch_fn(ref)
    if mine is None:
        raise AssertionError("cell_from_torch returned None.\n  Hint: build your cell, copy the "
                             "weights into it, and RETURN it.")
    sd = to_numpy(dict(mine.state_dict()))
    G = 3 if kind == "gru" else 4
    name = "GRUCell" if kind == "gru" else "LSTMCell"
    expected = {k: v.numpy() for k, v in cell_state_dict(ref).items()}
    if set(sd) != set(expected):
        raise AssertionError(f"cell_from_torch(torch.nn.{name}) returned a module whose "
                             f"parameters are {sorted(sd)}, expected {sorted(expected)}.\n  "
                             f"Hint: for a torch.nn.{name}, return one of YOUR {name} (G = {G}).")
    hint = ("copy weight_ih into ih.weight, bias_ih into ih.bias, weight_hh into hh.weight and "
            "bias_hh into hh.bias, without transposing (nn.Linear stores (out, in), as torch's "
            "cells do), inside torch.no_grad() with .copy_().")
    for key in ("ih.weight", "hh.weight", "ih.bias", "hh.bias"):
        check_close(f"{key} of the cell that cell_from_torch(torch.nn.{name}({D}, {H})) returned",
                    sd[key], expected[key], rtol=1e-6, atol=1e-7, hint=hint)


def cell_to_torch(cell_to_torch_fn, cell_class, kind: str, D: int, H: int, seed: int) -> None:
    """Check ``cell_to_torch(cell)``: given the learner's cell (``cell_class(D, H)`` with
    weights loaded by name), it returns a ``torch.nn.GRUCell`` / ``torch.nn.LSTMCell`` holding
    the same weights (``weight_ih (G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih``, ``bias_hh``)."""
    ref = _torch_cell(kind, D, H, seed, dtype=torch.float32)
    name = "GRUCell" if kind == "gru" else "LSTMCell"
    mine = cell_class(D, H)
    _load_cell(mine, cell_state_dict(ref), name)
    out = cell_to_torch_fn(mine)
    want = nn.GRUCell if kind == "gru" else nn.LSTMCell
    if type(out) is not want:
        raise AssertionError(f"cell_to_torch(your {name}) returned "
                             f"{'None' if out is None else type(out).__name__}, expected a "
                             f"torch.nn.{name}.\n  Hint: build nn.{name}(cell.input_size, "
                             f"cell.hidden_size), copy the weights in, and RETURN it.")
    if (out.input_size, out.hidden_size) != (D, H):
        raise AssertionError(f"cell_to_torch returned a torch.nn.{name}({out.input_size}, "
                             f"{out.hidden_size}), expected input_size={D}, hidden_size={H}.")
    hint = ("copy ih.weight into weight_ih, hh.weight into weight_hh, ih.bias into bias_ih and "
            "hh.bias into bias_hh, inside torch.no_grad() with .copy_().")
    for attr in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        check_close(f"{attr} of the torch.nn.{name} that cell_to_torch returned",
                    getattr(out, attr), getattr(ref, attr), rtol=1e-6, atol=1e-7, hint=hint)


_HINT_GRU = ("Layer 0 reads x[:, t]; layer k > 0 reads the hidden state that layer k-1 produced "
             "at the SAME step. Each layer starts from its own h0[k] (zeros when h0 is None). "
             "output is the top layer's states stacked on dim 1, (N, T, H); h_n stacks the last "
             "state of every layer on dim 0, (num_layers, N, H).")


def gru_module(GRU, N: int, T: int, D: int, H: int, num_layers: int, seed: int,
               h0_none: bool = False, grads: bool = True) -> None:
    """Check a learner's ``GRU(input_size, hidden_size, num_layers)`` (batch-first) against
    ``torch.nn.GRU(..., batch_first=True)`` after ``load_torch_state_dict(torch_gru.state_dict())``.

    ``gru(x, h0) -> (output (N, T, H), h_n (num_layers, N, H))`` for ``x (N, T, D)``,
    ``h0 (num_layers, N, H)`` or ``None``; with ``grads`` also the derivatives of
    ``sum(output * d_out) + sum(h_n * d_hn)`` along random directions of ``x`` and ``h0``, by
    finite differences of the module's outputs, against torch's gradients (and, where the
    module is a local object, the gradients autograd computes through it: see
    :func:`_module_checks`).
    """
    torch.manual_seed(seed)
    ref = nn.GRU(D, H, num_layers=num_layers, batch_first=True).double()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D))                       # (N, T, D)
    h0 = rng.uniform(-1, 1, (num_layers, N, H))              # (L, N, H)
    mine = GRU(D, H, num_layers)
    method(mine, "double")
    try:
        method(mine, "load_torch_state_dict", ref.state_dict())
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"GRU.load_torch_state_dict(torch.nn.GRU(...).state_dict()) failed "
            f"({type(exc).__name__}: {exc}).\n  Hint: for each layer k copy weight_ih_l{{k}}, "
            f"bias_ih_l{{k}} into self.cells[k].ih and weight_hh_l{{k}}, bias_hh_l{{k}} into "
            f"self.cells[k].hh.") from None
    where = f" (N={N}, T={T}, D={D}, H={H}, num_layers={num_layers}" + \
        (", h0=None)" if h0_none else ")")
    with torch.no_grad():
        out_ref, hn_ref = ref(_t(x), None if h0_none else _t(h0))
    out = check_returns("your GRU", mine(_t(x), None if h0_none else _t(h0)), 2,
                        ("output", "h_n"))
    output = check_shape("output of your GRU" + where, out[0], (N, T, H), hint=_HINT_GRU)
    h_n = check_shape("h_n of your GRU" + where, out[1], (num_layers, N, H), hint=_HINT_GRU)
    check_close("h_n of your GRU" + where, h_n, hn_ref.numpy(), hint=_HINT_GRU, **TOL64)
    check_close("output of your GRU" + where, output, out_ref.numpy(), hint=_HINT_GRU, **TOL64)
    if not grads or h0_none:
        return
    d_out = rng.standard_normal((N, T, H))
    d_hn = rng.standard_normal((num_layers, N, H))
    X, H0 = (_t(a).requires_grad_(True) for a in (x, h0))
    o, hn = ref(X, H0)
    ((o * _t(d_out)).sum() + (hn * _t(d_hn)).sum()).backward()
    if not is_remote(mine):
        _, grads_in, _ = _autograd(mine, [x, h0], [d_out, d_hn], "GRU")
        hint = ("the outputs agree but autograd does not: is something computed outside torch "
                "or in place (h[:, t] = ... on a tensor that requires grad)? Collect the states "
                "in a list and torch.stack them.")
        check_close("autograd: dx through your GRU" + where, grads_in[0], X.grad.numpy(),
                    hint=hint, **GRAD_TOL64)
        check_close("autograd: dh0 through your GRU" + where, grads_in[1], H0.grad.numpy(),
                    hint=hint, **GRAD_TOL64)
    _module_checks("GRU", lambda ins: mine(_t(ins[0]), _t(ins[1])), [x, h0], ("x", "h0"),
                   [d_out, d_hn], [out_ref.numpy(), hn_ref.numpy()],
                   [X.grad.numpy(), H0.grad.numpy()], where, seed)
