"""Harnesses of lesson 02 (why plain RNNs forget): Jacobian products, gradient norms through
time, clipping by global norm, and truncated BPTT, each against torch.

``tbptt_gradients`` is scored on its own: the learner's version calls their ``tbptt_windows``,
so when that one is wrong the harness also accepts the truncated gradient over the windows the
learner's ``tbptt_windows`` returns (computed here with torch, the state carried from window to
window and detached at each window's start), and says so.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.checks import check_close, check_returns, check_scalar, check_shape
from rnnkit.testing.ops import to_numpy
from rnnkit.testing.rnn import _call, call_checked
from rnnkit.torch_bridge import cell_from_numpy, random_weights

__all__ = ["jacobian_product", "hidden_grad_norms", "clip_by_global_norm", "clip_named",
           "clip_random", "tbptt_windows", "tbptt_gradients", "CLIP_CASES"]


def _cell(w):
    return cell_from_numpy("rnn", w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])


def _states(x, h0, w):
    """States h_0..h_L, (L+1, H), of one sequence x (L, D), by torch.nn.RNNCell (float64)."""
    cell = _cell(w)
    hs = [torch.from_numpy(np.asarray(h0, np.float64))]
    with torch.no_grad():
        for k in range(len(x)):
            hs.append(cell(torch.from_numpy(x[k])[None], hs[-1][None])[0])
    return torch.stack(hs).numpy()


def _sequence(L, D, H, seed, W_hh_scale, h0_scale=0.5, h0="normal"):
    rng = np.random.default_rng(seed)
    w = random_weights("rnn", D, H, seed=seed + 1)
    w["W_hh"] = W_hh_scale * w["W_hh"]
    x = rng.standard_normal((L, D))
    h_0 = (h0_scale * rng.standard_normal(H) if h0 == "normal"
           else rng.uniform(-h0_scale, h0_scale, H))
    return rng, w, x, h_0


# ---------------------------------------------------------------------------------------------
# Exercise 1: jacobian_product
# ---------------------------------------------------------------------------------------------
_HINT_J = ("see section 2 of the lesson: each factor J_k uses W_hh itself (not W_hh.T) and the "
           "tanh derivative of step k taken at h[k], the state step k produces (not h[k-1]); "
           "each new factor goes on the LEFT of the running product, for k = t+1, ..., T.")


def _jacobian(x, h, w, t, T):
    """dh_T/dh_t by torch.autograd.functional.jacobian (the reference)."""
    cell = _cell(w)

    def run(h_t):
        for k in range(t + 1, T + 1):
            h_t = cell(torch.from_numpy(x[k - 1])[None], h_t[None])[0]
        return h_t
    return torch.autograd.functional.jacobian(run, torch.from_numpy(h[t])).numpy()


def jacobian_product(jacobian_product, L, D, H, seed, W_hh_scale=1.0, spans=None, h0="normal",
                     twice=False):
    """``jacobian_product(h, W_hh, t, T)`` against ``torch.autograd.functional.jacobian``.

    Args:
        jacobian_product: the learner's function.
        L, D, H: the sequence's length, input and hidden sizes. seed: the case's seed.
        W_hh_scale: multiplies the recurrent weights.
        spans: the ``(t, T)`` pairs to check; None draws one ``0 <= t < T <= L`` from the seed
            and checks it and ``(T, T)`` (the identity).
        h0: ``"normal"`` (0.5 * standard normal) or ``"uniform"`` (on [-0.9, 0.9]).
        twice: also check that a second call on the same arguments gives the same answer (the
            function must not modify h or W_hh in place).
    """
    rng, w, x, h_0 = _sequence(L, D, H, seed, W_hh_scale, *((0.5, "normal") if h0 == "normal"
                                                            else (0.9, "uniform")))
    h = _states(x, h_0, w)
    if spans is None:
        t = int(rng.integers(0, L - 1)) if L > 1 else 0
        T = int(rng.integers(t + 1, L + 1))
        spans = [(t, T), (T, T)]
    for t, T in spans:
        what = f"jacobian_product(h, W_hh, t={t}, T={T}) with L={L}, H={H}"
        J = call_checked("jacobian_product", jacobian_product, h.copy(), w["W_hh"].copy(), t, T,
                         names=("h", "W_hh", "t", "T"))
        J = check_shape(what, J, (H, H), hint="dh_T/dh_t is an (H, H) matrix, whatever t and T are.")
        if t == T:
            check_close(what, J, np.eye(H), rtol=1e-6, atol=1e-9,
                        hint="with t == T there is no step in between: dh_T/dh_T is the identity "
                             "matrix.")
        else:
            check_close(what, J, _jacobian(x, h, w, t, T), rtol=1e-4, atol=1e-7,
                        hint=(f"one step: dh_{T}/dh_{t} is the single factor J_{T} of "
                              f"section 2. " if T == t + 1 else "") + _HINT_J)
    if twice:
        first = to_numpy(_call("jacobian_product", jacobian_product, h, w["W_hh"], 0, L))
        again = _call("jacobian_product", jacobian_product, h, w["W_hh"], 0, L)
        check_close("jacobian_product(h, W_hh, 0, L) called twice", again, first, rtol=1e-12,
                    atol=1e-14, hint="the function must not modify h or W_hh in place.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: hidden_grad_norms
# ---------------------------------------------------------------------------------------------
_HINT_N = ("norms[k-1] is ||dL/dh_k||: the LAST entry is ||dh_T|| and the first is ||dL/dh_1|| "
           "(do not reverse); step back one state at a time with the one-step recursion of "
           "section 2, using h[k] (not h[k-1]) and W_hh (not W_hh.T).")


def _autograd_norms(x, h0, w, dh_T):
    """States (T+1, H) and ||dL/dh_t|| for t = 1..T with L = sum(h_T * dh_T), by autograd."""
    cell = _cell(w)
    h_k = torch.from_numpy(h0)
    states = []
    for k in range(len(x)):
        h_k = cell(torch.from_numpy(x[k])[None], h_k[None])[0]
        h_k.retain_grad()
        states.append(h_k)
    (h_k * torch.from_numpy(dh_T)).sum().backward()
    h = torch.stack([torch.from_numpy(h0)] + states).detach().numpy()
    return h, np.array([float(s.grad.norm()) for s in states])


def hidden_grad_norms(hidden_grad_norms, T, D, H, seed, W_hh_scale=1.0, h0="normal",
                      visible=False):
    """``hidden_grad_norms(h, W_hh, dh_T)`` against the norms of torch autograd's dL/dh_t.

    Args:
        hidden_grad_norms: the learner's function.
        T, D, H: sizes. seed: the case's seed. W_hh_scale: multiplies the recurrent weights.
        h0: ``"normal"`` (0.3 * standard normal) or ``"uniform"`` (on [-0.5, 0.5]).
        visible: check the shape and the last entry first, with their own hints.
    """
    rng, w, x, h_0 = _sequence(T, D, H, seed, W_hh_scale,
                               *((0.3, "normal") if h0 == "normal" else (0.5, "uniform")))
    dh_T = rng.standard_normal(H)
    h, expected = _autograd_norms(x, h_0, w, dh_T)
    norms = call_checked("hidden_grad_norms", hidden_grad_norms, h.copy(), w["W_hh"].copy(),
                         dh_T.copy(), names=("h", "W_hh", "dh_T"))
    what = f"hidden_grad_norms with T={T}, H={H}, W_hh scaled by {W_hh_scale:g}"
    norms = check_shape(what, norms, (T,),
                        hint="one norm per step t = 1..T: h has T+1 rows (h_0..h_T) but h_0 gets "
                             "no entry.")
    if visible:
        check_scalar(f"{what}: the last entry", norms[-1], np.linalg.norm(dh_T), rtol=1e-6,
                     atol=1e-9, hint="the last entry is ||dL/dh_T|| = ||dh_T||, distance 0.")
    check_close(what, norms, expected, rtol=1e-4, atol=1e-9 * max(float(expected.max()), 1.0)
                if not visible else 1e-9, hint=_HINT_N)


# ---------------------------------------------------------------------------------------------
# Exercise 3: clip_by_global_norm
# ---------------------------------------------------------------------------------------------
def _torch_clip(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ on parameters whose .grad are copies of grads."""
    params = []
    for g in grads:
        p = torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True)
        p.grad = torch.from_numpy(np.array(g, dtype=np.float64))
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad.numpy() for p in params], float(total)


def clip_by_global_norm(clip_by_global_norm, grads, max_norm, label):
    """``clip_by_global_norm(grads, max_norm)`` against ``torch.nn.utils.clip_grad_norm_``.

    Also checks that the inputs are left unchanged and that the result holds new arrays.

    Args:
        clip_by_global_norm: the learner's function.
        grads: a list of arrays. max_norm: the threshold. label: the case, for the messages.
    """
    grads = [np.array(g) for g in grads]
    expected, expected_total = _torch_clip(grads, max_norm)
    result, changed, shared = call_checked("clip_by_global_norm", clip_by_global_norm,
                                           [g.copy() for g in grads], max_norm,
                                           names=("grads", "max_norm"), report=True, shared=True)
    clipped, total = check_returns("clip_by_global_norm", result, 2, ("clipped", "total_norm"))
    check_scalar(f"total_norm ({label})", total, expected_total, rtol=1e-6, atol=1e-9,
                 hint="the norm of ALL gradients together, before clipping: "
                      "sqrt(sum over arrays of sum(g**2)), not a per-array norm.")
    if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
        raise AssertionError(
            f"clipped ({label}): expected a list of {len(grads)} arrays, one per gradient, got "
            f"{type(clipped).__name__} of length "
            f"{len(clipped) if isinstance(clipped, (list, tuple)) else '?'}.")
    below = expected_total <= max_norm
    for p, (c, e) in enumerate(zip(clipped, expected)):
        check_close(f"clipped[{p}] ({label})", c, e, rtol=1e-5, atol=1e-9,
                    hint=("total_norm <= max_norm here: the gradients must come back unchanged "
                          "(scale 1), not rescaled up to max_norm." if below else
                          "every array is multiplied by the SAME factor max_norm / total_norm "
                          "(global norm), not clipped one by one to max_norm."))
    if changed:
        raise AssertionError(f"grads after the call ({label}): clip_by_global_norm modified its "
                             f"input {changed[0]}.\n  Hint: clip_by_global_norm must not modify "
                             f"its inputs: compute g * scale into a new array instead of "
                             f"g *= scale.")
    if shared:
        raise AssertionError(f"clipped ({label}) holds an input array itself (or a view of it); "
                             f"the docstring asks for new arrays even when nothing is clipped: "
                             f"return g * scale or g.copy().")


_G13 = [np.array([[3.0, 0.0], [0.0, 4.0]]), np.array([0.0, 12.0])]          # global norm 13
CLIP_CASES = {
    "norm 13, max_norm 6.5": (_G13, 6.5),
    "norm 13, max_norm 20: no clipping": (_G13, 20.0),
    "one small array among large ones": (
        [np.full((3, 2), 4.0), np.array([0.1, -0.2, 0.05]), np.full((2, 5), -3.0)], 1.0),
    "each array below max_norm, the whole above it": (
        [np.full((2, 2), 0.4), np.full((3,), -0.5), np.full((2, 1), 0.6)], 1.0),
}
"""Named cases of clip_by_global_norm: ``{label: (grads, max_norm)}``."""


def clip_named(clip_by_global_norm_fn, label, example=False):
    """One case of :data:`CLIP_CASES`. ``example``: first the worked example of the lesson
    (norms 5 and 12, global norm 13, max_norm 6.5: every array halved), with its own hints."""
    if example:
        result = check_returns("clip_by_global_norm",
                               _call("clip_by_global_norm", clip_by_global_norm_fn,
                                     [a.copy() for a in _G13], 6.5), 2, ("clipped", "total_norm"))
        clipped, total = result
        check_scalar("total_norm for norms 5 and 12", total, 13.0, rtol=1e-6, atol=1e-9,
                     hint="sqrt(5**2 + 12**2) = 13: all entries of all arrays together.")
        for p in range(2):
            check_close(f"clipped[{p}] with max_norm=6.5", clipped[p], 0.5 * _G13[p], rtol=1e-5,
                        atol=1e-9, hint="scale = 6.5 / 13 = 0.5 for every array"
                        + (" (global, not per array)." if p else "."))
    grads, max_norm = CLIP_CASES[label]
    clip_by_global_norm(clip_by_global_norm_fn, grads, max_norm, label)


def clip_random(clip_by_global_norm_fn, n, seed, dtype="float64"):
    """``n`` random cases: 1 to 5 arrays of assorted shapes and scales, max_norm a ratio of the
    total norm (0.05, 0.3, 0.9, 1.2, 3.0 in turn); ``dtype="float32"`` gives one float32 case."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.float32:
        grads = [(rng.standard_normal((3, 4)) * 3).astype(np.float32),
                 rng.standard_normal(4).astype(np.float32)]
        clip_by_global_norm(clip_by_global_norm_fn, grads, 2.0, "float32 gradients")
        return
    shapes = [(4, 3), (4,), (2, 3, 2), (5, 2), (1,), (3, 7)]
    for trial in range(n):
        k = int(rng.integers(1, 6))
        grads = [rng.standard_normal(shapes[int(i)]) * rng.uniform(0.1, 5.0)
                 for i in rng.integers(0, len(shapes), size=k)]
        norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
        ratio = [0.05, 0.3, 0.9, 1.2, 3.0][trial % 5]
        clip_by_global_norm(clip_by_global_norm_fn, grads, ratio * norm,
                            f"random trial {trial}, max_norm = {ratio} * total_norm")


# ---------------------------------------------------------------------------------------------
# Exercise 4: tbptt_windows
# ---------------------------------------------------------------------------------------------
_HINT_W = ("windows are slices [start, end) with end excluded: (0, k), (k, 2k), ...; the next "
           "window starts where the previous ended; the last one ends at T and may be shorter; "
           "no empty window.")


def _as_pairs(result, label):
    try:
        pairs = [tuple(int(v) for v in pair) for pair in result]
        if any(len(p) != 2 for p in pairs):
            raise TypeError
    except (TypeError, ValueError):
        raise AssertionError(f"tbptt_windows{label}: expected a list of (start, end) pairs, "
                             f"got {result!r}") from None
    return pairs


def _expected_windows(T, k):
    """Windows from the detach schedule of the torch loop: a new window where t % k == 0."""
    starts = [t for t in range(T) if t % k == 0]
    return list(zip(starts, starts[1:] + [T]))


def tbptt_windows(tbptt_windows, T, k):
    """``tbptt_windows(T, k)`` against the windows of torch's ``h.detach()`` every k steps."""
    label = f"({T}, {k})"
    got = _as_pairs(_call("tbptt_windows", tbptt_windows, T, k), label)
    expected = _expected_windows(T, k)
    check_close(f"tbptt_windows{label}", np.array(got, np.float64).reshape(-1, 2),
                np.array(expected, np.float64).reshape(-1, 2), rtol=0, atol=0, hint=_HINT_W)


# ---------------------------------------------------------------------------------------------
# Exercise 5: tbptt_gradients
# ---------------------------------------------------------------------------------------------
_NAMES_T = ("dW_ih", "dW_hh", "db_ih", "db_hh")
_HINT_T = ("for each window (start, end): torch_rnn_forward(x[:, start:end], h_start, ...), "
           "torch_rnn_backward(dhs[:, start:end], cache), add the four weight gradients, drop dh0, and "
           "carry h_start = the window's last state (its value) into the next window.")


def _torch_tbptt(x, h0, w, dhs, windows):
    """Weight gradients over the given windows: the state carried by value from window to
    window (detached at each window's start), the loss sum_t sum(h_t * dhs[:, t]) inside the
    windows."""
    cell = _cell(w)
    h = torch.from_numpy(h0)
    loss = torch.zeros((), dtype=torch.float64)
    T = x.shape[1]
    for start, end in windows:
        steps = range(max(start, 0), min(end, T))
        if len(steps) == 0:
            continue
        h = h.detach()
        for t in steps:
            h = cell(torch.from_numpy(x[:, t]), h)
            loss = loss + (h * torch.from_numpy(dhs[:, t])).sum()
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    if not loss.requires_grad:
        return [np.zeros(tuple(p.shape)) for p in params]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [np.zeros(tuple(p.shape)) if g is None else g.numpy() for p, g in zip(params, grads)]


def _is_tiling(windows, T, k):
    """Whether windows tile 0..T in order, each non-empty and at most k long: only such
    windows may stand in for the reference ones (``[]`` would make the reference all zeros)."""
    if not windows or windows[0][0] != 0 or windows[-1][1] != T:
        return False
    ends = [0] + [end for _, end in windows[:-1]]
    return all(start == prev and 0 < end - start <= k
               for (start, end), prev in zip(windows, ends))


def _compare(got, expected, label, k):
    for name, g, e in zip(_NAMES_T, got, expected):
        check_close(f"{name} from tbptt_gradients ({label}, k={k})", g, e, rtol=1e-4, atol=1e-6,
                    hint=_HINT_T)


def tbptt_gradients(tbptt_gradients, tbptt_windows, N, T, D, H, k, seed, W_hh_scale=1.0,
                    label=""):
    """``tbptt_gradients(x, h0, W_ih, W_hh, b_ih, b_hh, dhs, k)`` against torch: ``nn.RNNCell``
    step by step with ``h.detach()`` at the start of every window of k steps.

    If the result differs and the learner's ``tbptt_windows(T, k)`` is wrong but still tiles
    0..T into windows of 1..k steps (anything else is ignored), the result is
    compared again with the truncated gradient over the learner's windows (what a right
    ``tbptt_gradients`` computes when it calls that ``tbptt_windows``), and accepted if it
    matches.

    Args:
        tbptt_gradients, tbptt_windows: the learner's functions.
        N, T, D, H: sizes. k: the window length. seed: the case's seed.
        W_hh_scale: multiplies the recurrent weights. label: the case, for the messages.
    """
    rng = np.random.default_rng(seed)
    w = random_weights("rnn", D, H, seed=seed + 1)
    w["W_hh"] = W_hh_scale * w["W_hh"]
    x = rng.standard_normal((N, T, D))
    h0 = 0.5 * rng.standard_normal((N, H))
    dhs = rng.standard_normal((N, T, H))
    label = label or f"N={N}, T={T}, D={D}, H={H}"
    got = check_returns("tbptt_gradients",
                        _call("tbptt_gradients", tbptt_gradients, x.copy(), h0.copy(),
                              w["W_ih"].copy(), w["W_hh"].copy(), w["b_ih"].copy(),
                              w["b_hh"].copy(), dhs.copy(), k), 4, _NAMES_T)
    right = _expected_windows(T, k)
    try:
        _compare(got, _torch_tbptt(x, h0, w, dhs, right), label, k)
        return
    except AssertionError as err:
        first = err
    try:
        theirs = _as_pairs(_call("tbptt_windows", tbptt_windows, T, k), f"({T}, {k})")
    except (AssertionError, NotImplementedError):
        raise first from None
    if theirs == right or not _is_tiling(theirs, T, k):
        raise first
    try:
        _compare(got, _torch_tbptt(x, h0, w, dhs, theirs), label, k)
    except AssertionError:
        raise AssertionError(f"{first}\n  (your tbptt_windows({T}, {k}) is wrong, "
                             f"{theirs}; the result matches the truncated gradient over those "
                             f"windows neither)") from None
    print(f"note: your tbptt_windows({T}, {k}) is wrong, so tbptt_gradients was checked against "
          f"the truncated gradient over the windows it returns, {theirs}: it passed.")
