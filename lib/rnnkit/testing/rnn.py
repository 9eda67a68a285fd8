"""Harnesses of lesson 01 (the plain RNN), and the fallback that scores a backward on its own.

Each harness takes the learner's exercise functions as arguments, builds one case from a seed,
computes torch's answer here (float64), calls the learner's functions and compares with
:mod:`rnnkit.checks`. A failing case raises ``AssertionError`` with a message that says which
output is off, by how much, and where to look.

Backward harnesses never differentiate through the learner's forward. They

1. call the learner's forward on the case and compare its outputs with torch;
2. if they match, call the learner's backward on the learner's cache, and compare with torch
   autograd in float64 (with float32 tolerances when the forward computed in float32: a correct
   float32 forward never costs points on a correct backward); if the backward fails on that
   cache, it is tried once more on the documented cache (below) before the test fails;
3. if the forward is wrong or raises, build the cache the forward's docstring documents from
   reference values computed here, and call the learner's backward on that. The message says
   which case happened.

Documented caches (the layout the solutions' forwards produce):

* ``rnn_step_forward``: the tuple ``(x, h_prev, W_ih, W_hh, h_next)``;
* ``rnn_forward``: the list of the ``T`` step caches, ``cache[t] = (x[:, t], h_{t-1}, W_ih,
  W_hh, h_t)`` with ``h_{-1} = h0``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.checks import check_close, check_returns, check_shape, reference
from rnnkit.testing import mistakes
from rnnkit.testing.mistakes import check_named, identify
from rnnkit.testing.ops import element, is_remote, kept, kept_call, repeated_call, to_numpy
from rnnkit.torch_bridge import cell_from_numpy, layer_from_numpy, random_weights

__all__ = ["random_sizes", "step_forward", "forward", "step_backward", "backward",
           "softmax_cross_entropy", "sample_next", "draws", "backward_with_fallback",
           "forward_precise", "call_checked"]

F32_RTOL, F32_ATOL = 1e-4, 1e-5
"""Tolerances for float32 inputs, or for a backward fed by a forward that computed in float32."""


# ---------------------------------------------------------------------------------------------
# shared helpers (also used by the harnesses of lessons 02 and 03)
# ---------------------------------------------------------------------------------------------
def random_sizes(n: int, seed: int, names: str = "NDH", high: int = 12, low: int = 1) -> list:
    """``n`` cases of distinct sizes drawn from ``[low, high)``: ``[{"N": 4, "D": 2, ...}, ...]``.

    ``names`` lists the sizes, one letter each (``"NDH"``, ``"NTDH"``).
    """
    rng = np.random.default_rng(seed)
    return [dict(zip(names, (int(s) for s in rng.choice(np.arange(low, high), size=len(names),
                                                          replace=False))))
            for _ in range(n)]


def _dtype(dtype) -> np.dtype:
    return np.dtype(dtype)


def _tol(dtype, rtol, atol):
    """The case's tolerances: float32 inputs get at least float32 tolerances."""
    if _dtype(dtype) == np.float32:
        return max(rtol, F32_RTOL), max(atol, F32_ATOL)
    return rtol, atol


def forward_precise(got, expected) -> bool:
    """True when a forward's output agrees with the float64 reference to float64 precision
    (False: it computed in float32, or lower)."""
    got = np.asarray(to_numpy(got), dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return bool(np.all(np.abs(got - expected) <= 1e-10 + 1e-9 * np.abs(expected)))


def _call(name, fn, *args):
    """Call a learner's function; an exception other than NotImplementedError (a blank
    exercise) becomes an AssertionError that names the function."""
    try:
        return fn(*args)
    except (AssertionError, NotImplementedError):
        raise
    except Exception as err:                          # noqa: BLE001 - reported to the learner
        raise AssertionError(f"{name} raised {type(err).__name__}: {err}") from err


def _call_again(name, fn, *args):
    """:func:`_call` for a second call on the same cache: an error says so."""
    try:
        return _call(name, fn, *args)
    except AssertionError as err:
        raise AssertionError(f"{err}\n  (on the second call on the same cache: do not modify "
                             f"the cache in place)") from None


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _arrays(value):
    """The NumPy arrays in a value (nested tuples, lists, dicts)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays(v)]
    return []


def _leaves(value):
    """The arrays and numbers in a value (nested tuples, lists, dicts), as arrays; a handle to
    an object of the learner's kernel is no leaf."""
    if isinstance(value, (np.ndarray, np.generic, int, float)) and not isinstance(value, bool):
        return [np.asarray(value)]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _leaves(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _leaves(v)]
    return []


def _same(a, b) -> bool:
    """Whether two values hold the same arrays and numbers (NaN equal to NaN)."""
    xs, ys = _leaves(a), _leaves(b)
    if len(xs) != len(ys):
        return False
    for x, y in zip(xs, ys):
        if x.shape != y.shape:
            return False
        try:
            if not np.array_equal(x, y, equal_nan=True):
                return False
        except TypeError:
            if not np.array_equal(x, y):
                return False
    return True


def _array_paths(value, path=()):
    """The index paths of the arrays in a value: ``[(), ...]`` for an array, ``[(0,), (1,)]``
    for a list of two arrays."""
    if isinstance(value, np.ndarray):
        return [path]
    if isinstance(value, (tuple, list)):
        return [p for i, v in enumerate(value) for p in _array_paths(v, path + (i,))]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _array_paths(v, path + (k,))]
    return []


def _call_checked_here(fn, args):
    """Call ``fn(*args)`` here (the learner running the test cell); report which arguments it
    modified in place and whether its result holds an argument's array (or a view of one)."""
    import copy
    before = copy.deepcopy(args)
    result = fn(*args)
    changed = [i for i, (a, b) in enumerate(zip(args, before)) if not _same(a, b)]
    ins = _arrays(list(args))
    shared = any(np.shares_memory(o, i) for o in _arrays(result) for i in ins)
    return result, changed, bool(shared)


_FILL = 1048576.25
"""Written into the kernel's copies of the arguments to see whether the result holds them
(exact in float32 and float64, and no value a test's data holds)."""


def _call_checked_remote(name, fn, args, shared):
    """The same from the grader: the arguments are stored in the kernel (its own copies, by
    handle), the learner's function is called on the handles, the arguments are fetched back
    and compared here with what was sent. The function is then called a second time on the
    same handles: its result must be the same (a function that writes into its arguments
    would see other inputs), so a fetch that hid a change does not help. With ``shared``, each
    argument array is then overwritten in the kernel (``ndarray.fill``) and the kept result
    fetched again: a result that holds an argument's array shows the written value."""
    from rnnkit.testing import remote
    handles = remote.store(fn, *args)
    result, obj = _call(name, lambda *a: remote.call_kept(fn, *a), *handles)
    after = remote.fetch(*handles)
    changed = [i for i, (a, b) in enumerate(zip(args, after)) if not _same(a, b)]
    if not changed and not _same(result, _call(name, fn, *handles)):
        raise AssertionError(f"{name} returned another result when called a second time with "
                             f"the same arrays: it must not change its arguments in place. Keep "
                             f"the inputs as they are: copy an array before writing into it.")
    is_shared = False
    if shared and not changed:
        fills = []
        for h, a in zip(handles, args):
            for path in _array_paths(a):
                target = h
                for key in path:
                    target = remote.call_method(target, "__getitem__", key, keep=True)
                fills.append(_FILL + len(fills))
                remote.call_method(target, "fill", fills[-1])
        if fills:
            (now,) = remote.fetch(obj)
            is_shared = any(np.isin(arr, fills).any() for arr in _leaves(now)
                            if arr.dtype.kind == "f")
    return result, changed, is_shared


def call_checked(name, fn, *args, names=(), report=False, shared=False):
    """Call the learner's ``fn(*args)`` and check that it leaves its arguments unchanged.

    When grading, the arguments are the kernel's own copies, held by handle; they are fetched
    back after the call and compared in the grader, and the function is called a second time
    on them (see :func:`_call_checked_remote`).

    Args:
        name: the function's name, for the messages. names: its arguments' names.
        report: return ``(result, changed argument names, result shares an input array)``
            instead of raising when an argument was changed.
        shared: find out whether the result holds an argument's array (else reported False).
    """
    if is_remote(fn):
        result, changed, is_shared = _call_checked_remote(name, fn, list(args), shared)
    else:
        result, changed, is_shared = _call(name, _call_checked_here, fn, list(args))
        is_shared = is_shared and shared
    changed = [names[i] if i < len(names) else f"argument {i + 1}" for i in changed]
    if report:
        return result, changed, is_shared
    if changed:
        raise AssertionError(f"{name} changed its argument {changed[0]} in place. Keep the "
                             f"inputs as they are: copy an array before writing into it.")
    return result


def backward_with_fallback(bw_name, fw_name, run_forward, run_backward, documented_cache,
                           layout: str):
    """Grade a backward on the learner's cache, or on the documented one if the forward is wrong.

    Args:
        bw_name, fw_name: the learner's names of the two functions.
        run_forward: ``() -> (cache, precise)``; calls the learner's forward and checks its
            outputs against torch, raising (AssertionError or any exception) if they are wrong.
            ``precise`` is False when the outputs are right to float32 precision only.
        run_backward: ``(cache, loose) -> None``; calls the learner's backward on ``cache`` and
            checks its gradients (with float32 tolerances if ``loose``), raising if wrong.
        documented_cache: ``() -> cache`` in the layout the forward's docstring documents,
            built from reference values.
        layout: that layout in words, for the messages.

    Returns:
        ``"own cache"`` or ``"documented cache"``: what the backward passed with.
    """
    try:
        cache, precise = run_forward()
    except NotImplementedError as err:
        forward_error = err
    except Exception as err:                          # noqa: BLE001 - any failure of the forward
        forward_error = err
    else:
        forward_error = None

    if forward_error is None:
        try:
            run_backward(cache, not precise)
            return "own cache"
        except NotImplementedError:
            raise
        except Exception as err:                      # noqa: BLE001
            first = err
        try:
            run_backward(documented_cache(), False)
        except Exception:                             # noqa: BLE001 - report the first failure
            if isinstance(first, AssertionError):
                raise AssertionError(f"{first}\n  (tried with the cache of your {fw_name}, and "
                                     f"again with the documented cache {layout})") from None
            raise first
        print(f"note: {bw_name} failed on the cache of your {fw_name} ({_short(first)}), but "
              f"passed on the documented cache {layout}: its points are kept.")
        return "documented cache"

    reason = ("is not implemented yet" if isinstance(forward_error, NotImplementedError)
              else f"is wrong ({_short(forward_error)})")
    try:
        run_backward(documented_cache(), False)
    except AssertionError as err:
        raise AssertionError(f"your {fw_name} {reason}, so {bw_name} was given the documented "
                             f"cache {layout}, built from reference values; with it:\n{err}"
                             ) from None
    print(f"note: your {fw_name} {reason}, so {bw_name} was given the documented cache "
          f"{layout}, built from reference values: it passed.")
    return "documented cache"


# ---------------------------------------------------------------------------------------------
# data and references
# ---------------------------------------------------------------------------------------------
def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _step_data(N, D, H, seed, dtype, x_scale=1.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, D)) * x_scale).astype(dtype)
    h_prev = rng.uniform(-1, 1, (N, H)).astype(dtype)
    w = random_weights("rnn", D, H, seed=seed + 1, dtype=dtype)
    return rng, x, h_prev, w


def _ref_step(x, h_prev, w):
    cell = cell_from_numpy("rnn", w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])
    with torch.no_grad():
        return cell(_t(x), _t(h_prev)).numpy()


def _ref_seq(x, h0, w):
    layer = layer_from_numpy("rnn", w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])
    with torch.no_grad():
        out, _ = layer(_t(x), _t(h0)[None])
    return out.numpy()


STEP_GRADS = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
SEQ_GRADS = ("dx", "dh0", "dW_ih", "dW_hh", "db_ih", "db_hh")


def _ref_step_grads(x, h_prev, w, dh_next):
    cell = cell_from_numpy("rnn", w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])
    xt, ht = _t(x).requires_grad_(), _t(h_prev).requires_grad_()
    out = cell(xt, ht)
    wrt = [xt, ht, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    grads = torch.autograd.grad(out, wrt, _t(dh_next))
    return dict(zip(STEP_GRADS, (g.numpy() for g in grads)))


def _ref_seq_grads(x, h0, w, dh):
    layer = layer_from_numpy("rnn", w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"])
    xt, h0t = _t(x).requires_grad_(), _t(h0)[None].requires_grad_()
    out, _ = layer(xt, h0t)
    wrt = [xt, h0t, layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0]
    grads = [g.numpy() for g in torch.autograd.grad(out, wrt, _t(dh))]
    grads[1] = grads[1][0]
    return dict(zip(SEQ_GRADS, grads))


def _documented_step_cache(x, h_prev, w):
    """(x, h_prev, W_ih, W_hh, h_next), h_next from torch, in the case's dtype."""
    h_next = _ref_step(x, h_prev, w).astype(np.asarray(x).dtype)
    return (x.copy(), h_prev.copy(), w["W_ih"].copy(), w["W_hh"].copy(), h_next)


def _documented_seq_cache(x, h0, w):
    """[(x[:, t], h_{t-1}, W_ih, W_hh, h_t) for t = 0..T-1], states from torch."""
    hs = _ref_seq(x, h0, w).astype(np.asarray(x).dtype)
    prev = [h0] + [hs[:, t] for t in range(hs.shape[1] - 1)]
    return [(x[:, t].copy(), np.array(prev[t]), w["W_ih"].copy(), w["W_hh"].copy(),
             hs[:, t].copy()) for t in range(x.shape[1])]


def _args(x, h, w):
    return (x.copy(), h.copy(), w["W_ih"].copy(), w["W_hh"].copy(), w["b_ih"].copy(),
            w["b_hh"].copy())


# ---------------------------------------------------------------------------------------------
# Exercise 1: rnn_step_forward
# ---------------------------------------------------------------------------------------------
_TERMS = [
    ("W_ih", "only W_ih non-zero",
     "The input term is x @ W_ih.T: W_ih is (H, D) in torch's layout, one row per hidden unit. "
     "h_next is np.tanh of the sum of all four terms."),
    ("W_hh", "only W_hh non-zero",
     "The recurrent term is h_prev @ W_hh.T: W_hh[j, k] is the weight from unit k of h_prev "
     "to unit j of h_next, so W_hh must be transposed, like W_ih. h_next is np.tanh of the "
     "sum of all four terms."),
    ("b", "only the biases non-zero", "Add both bias vectors, b_ih and b_hh, then apply np.tanh."),
]


def _check_step(fn, x, h_prev, w, what, hint, rtol, atol):
    N, H = h_prev.shape
    expected = _ref_step(x, h_prev, w)
    result = check_returns("rnn_step_forward", _call("rnn_step_forward", fn, *_args(x, h_prev, w)),
                           2, ("h_next", "cache"))
    got = check_shape(f"h_next ({what})", result[0], (N, H),
                      hint="h_next has one row per sequence and one column per hidden unit: (N, H).")
    case = {"x": x, "h": h_prev, "w": w}
    check_named(f"h_next ({what})", got, expected, rtol=rtol, atol=atol, hint=hint,
                spot=lambda: identify(mistakes.RNN_STEP_FORWARD, case, {"h_next": got},
                                      {"h_next": expected}, rtol, atol))


def step_forward(rnn_step_forward, N, D, H, seed, dtype="float64", x_scale=1.0, by_term=False,
                 rtol=1e-5, atol=1e-6):
    """``rnn_step_forward`` against ``torch.nn.RNNCell`` holding the same weights.

    Args:
        rnn_step_forward: the learner's function.
        N, D, H: batch, input and hidden sizes.
        seed: the case's seed (inputs and weights).
        dtype: of the inputs and weights; float32 is checked with float32 tolerances.
        x_scale: the inputs are standard normal times this.
        by_term: first check each term alone (only W_ih, only W_hh, only the biases non-zero),
            so that the message points at the term that is wrong.
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    _, x, h_prev, w = _step_data(N, D, H, seed, dt, x_scale)
    if by_term:
        zero = {k: np.zeros_like(v) for k, v in w.items()}
        for key, what, hint in _TERMS:
            only = {**zero, **({"b_ih": w["b_ih"], "b_hh": w["b_hh"]} if key == "b"
                               else {key: w[key]})}
            _check_step(rnn_step_forward, x, h_prev, only, what, hint, rtol, atol)
    what = "all weights" if by_term else f"N={N}, D={D}, H={H}, {dt.name} inputs"
    _check_step(rnn_step_forward, x, h_prev, w, what,
                "Sum the four terms x @ W_ih.T, b_ih, h_prev @ W_hh.T, b_hh, then apply np.tanh; "
                "check the transposes.", rtol, atol)


# ---------------------------------------------------------------------------------------------
# Exercise 2: rnn_forward
# ---------------------------------------------------------------------------------------------
def _seq_data(N, T, D, H, seed, dtype, h0="random", W_hh_scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h_0 = (rng.uniform(-1, 1, (N, H)) if h0 == "random" else np.zeros((N, H))).astype(dtype)
    w = random_weights("rnn", D, H, seed=seed + 1, dtype=dtype)
    w["W_hh"] = (w["W_hh"] * W_hh_scale).astype(dtype)
    return rng, x, h_0, w


def forward(rnn_forward, N, T, D, H, seed, dtype="float64", h0="random", W_hh_scale=1.0,
            rtol=1e-5, atol=1e-5):
    """``rnn_forward`` against ``torch.nn.RNN(batch_first=True)`` holding the same weights.

    Args:
        rnn_forward: the learner's function.
        N, T, D, H: sizes. seed: the case's seed.
        dtype: of the inputs and weights. h0: ``"random"`` or ``"zero"``.
        W_hh_scale: multiplies the recurrent weights (larger states over long sequences).
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    _, x, h_0, w = _seq_data(N, T, D, H, seed, dt, h0, W_hh_scale)
    what = f"N={N}, T={T}, D={D}, H={H}" + ("" if dt == np.float64 else f", {dt.name} inputs")
    expected = _ref_seq(x, h_0, w)
    result, changed, _ = call_checked("rnn_forward", rnn_forward, *_args(x, h_0, w),
                                      names=("x", "h0", *w), report=True)
    result = check_returns("rnn_forward", result, 2, ("h", "cache"))
    if changed:
        raise AssertionError(f"rnn_forward ({what}) changed its argument {changed[0]} in place. "
                             "Keep the inputs as they are: copy an array before writing into "
                             "it (h_t = h0 makes h_t the same array as h0).")
    h = check_shape(f"h ({what})", result[0], (N, T, H),
                    hint="h holds the T states after each step, h_1 .. h_T, shape (N, T, H); "
                         "h0 is not part of it.")
    if T > 1 and np.allclose(h[:, 0], h_0):
        raise AssertionError(f"h ({what}): h[:, 0] equals h0. h[:, t] must be the state AFTER "
                             "reading x[:, t]; h0 is not part of the output (off by one step?).")
    check_close(f"h[:, 0], the first step ({what})", h[:, 0], expected[:, 0], rtol=rtol,
                atol=atol, hint="The first step reads x[:, 0] and the initial state h0.")
    check_close(f"h ({what})", h, expected, rtol=rtol, atol=atol,
                hint="Step t must receive the state returned by step t-1 as h_prev (not h0 "
                     "again), use the same weights at every step, and store its output in "
                     "h[:, t]. If test_rnn_step_forward fails, fix rnn_step_forward first.")


# ---------------------------------------------------------------------------------------------
# Exercise 3: rnn_step_backward
# ---------------------------------------------------------------------------------------------
STEP_HINTS = {
    "db_ih": "start from the gradient on the pre-activation: which local derivative comes "
             "first, and from which cached value (Hints 1, 2 and 7 above the exercise)?",
    "db_hh": "b_ih and b_hh enter the pre-activation in the same way (Hint 7 above the "
             "exercise).",
    "dW_ih": "dW_ih has the shape of W_ih, (H, D): which product of an (N, H) and an (N, D) "
             "array gives it, summed over the batch (Hint 5 above the exercise)?",
    "dW_hh": "dW_hh has the shape of W_hh, (H, H), and uses the state that went INTO the step "
             "(Hint 6 above the exercise).",
    "dx": "dx has the shape of x, (N, D): match the shapes of the product (Hint 3 above the "
          "exercise).",
    "dh_prev": "dh_prev has the shape of h_prev, (N, H): match the shapes of the product "
               "(Hint 4 above the exercise).",
}
STEP_LAYOUT = "(x, h_prev, W_ih, W_hh, h_next)"


def step_backward(rnn_step_backward, rnn_step_forward, N, D, H, seed, dtype="float64",
                  repeat=1, rtol=1e-5, atol=1e-6):
    """``rnn_step_backward`` against torch autograd through ``nn.RNNCell`` (float64).

    The cache comes from the learner's ``rnn_step_forward`` when it is right, otherwise it is
    the documented ``(x, h_prev, W_ih, W_hh, h_next)`` built from torch's ``h_next`` (see the
    module's docstring).

    Args:
        rnn_step_backward, rnn_step_forward: the learner's functions.
        N, D, H: sizes. seed: the case's seed. dtype: of inputs, weights and upstream gradient.
        repeat: how many backward calls on the same cache (each with a new upstream gradient):
            a backward must not modify its cache.
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    rng, x, h_prev, w = _step_data(N, D, H, seed, dt)
    dhs = [rng.standard_normal((N, H)).astype(dt) for _ in range(repeat)]
    expected_h = _ref_step(x, h_prev, w)
    fw_rtol, fw_atol = _tol(np.float32, rtol, atol)

    def run_forward():
        value, obj = _call("rnn_step_forward", kept_call, rnn_step_forward, *_args(x, h_prev, w))
        result = check_returns("rnn_step_forward", value, 2, ("h_next", "cache"))
        check_close("h_next from rnn_step_forward", result[0], expected_h, rtol=fw_rtol,
                    atol=fw_atol, hint="make test_rnn_step_forward pass first.")
        return element(obj, 1), forward_precise(result[0], expected_h)

    def run_backward(cache, loose):
        r_tol, a_tol = _tol(np.float32, rtol, atol) if loose else (rtol, atol)
        for r, dh_next in enumerate(dhs):
            expected = _ref_step_grads(x, h_prev, w, dh_next)
            got = check_returns("rnn_step_backward",
                                (_call_again if r else _call)("rnn_step_backward",
                                                              rnn_step_backward, dh_next.copy(),
                                                              cache), 6, STEP_GRADS)
            got = dict(zip(STEP_GRADS, got))
            again = ", second call on the same cache: do not modify the cache in place" if r else ""
            case = {"x": x, "h": h_prev, "w": w, "dh": dh_next}
            spot = (lambda case=case, got=got, expected=expected:
                    identify(mistakes.RNN_STEP_BACKWARD, case, got, expected, r_tol, a_tol))
            for name in ("db_ih", "db_hh", "dW_ih", "dW_hh", "dx", "dh_prev"):
                check_named(f"{name} from rnn_step_backward (N={N}, D={D}, H={H}{again})",
                            got[name], expected[name], rtol=r_tol, atol=a_tol,
                            hint=STEP_HINTS[name], spot=spot)

    backward_with_fallback("rnn_step_backward", "rnn_step_forward", run_forward, run_backward,
                           lambda: kept(rnn_step_backward, _documented_step_cache(x, h_prev, w)),
                           STEP_LAYOUT)


# ---------------------------------------------------------------------------------------------
# Exercise 4: rnn_backward
# ---------------------------------------------------------------------------------------------
SEQ_HINTS = {
    "dx": "dx[:, t] comes from step t alone (x_t is used only there). If it is wrong at early "
          "steps only, look at the gradient each step receives (Hints 1 and 2 above Exercise 4).",
    "dh0": "dh0 is what the backward of the first step (t = 0) sends to the initial state, "
           "after the loop over the steps in reverse order (Hints 2 and 3 above Exercise 4).",
    "dW_ih": "W_ih is used at every step: how do the steps' gradients combine (Hint 4 above "
             "Exercise 4)?",
    "dW_hh": "W_hh is used at every step (Hint 4 above Exercise 4); each step uses the state "
             "that went into it (h0 for the first step).",
    "db_ih": "b_ih is used at every step (Hint 4 above Exercise 4).",
    "db_hh": "b_hh is used at every step (Hint 4 above Exercise 4).",
}
SEQ_LAYOUT = "[(x[:, t], h_prev, W_ih, W_hh, h_next) for each step t]"


def backward(rnn_backward, rnn_forward, N, T, D, H, seed, dtype="float64", upstream="all",
             repeat=1, rtol=1e-4, atol=1e-5):
    """``rnn_backward`` against torch autograd through ``nn.RNN`` (float64).

    The cache comes from the learner's ``rnn_forward`` when it is right, otherwise it is the
    documented list of step caches built from torch's states (see the module's docstring).

    Args:
        rnn_backward, rnn_forward: the learner's functions.
        N, T, D, H: sizes. seed: the case's seed. dtype: of inputs, weights and ``dh``.
        upstream: ``"all"`` (a gradient on every state) or ``"last"`` (on the last state only:
            every earlier gradient must come back through time).
        repeat: backward calls on the same cache.
    """
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    rng, x, h_0, w = _seq_data(N, T, D, H, seed, dt)
    dh = rng.standard_normal((N, T, H)).astype(dt)
    if upstream == "last":
        dh[:, :-1] = 0
    expected_h = _ref_seq(x, h_0, w)
    expected = _ref_seq_grads(x, h_0, w, dh)
    shapes = {"dx": (N, T, D), "dh0": (N, H), "dW_ih": (H, D), "dW_hh": (H, H), "db_ih": (H,),
              "db_hh": (H,)}
    what = f"N={N}, T={T}, D={D}, H={H}" + (", dh non-zero at the last step only"
                                             if upstream == "last" else "") + \
        ("" if dt == np.float64 else f", {dt.name} inputs")

    def run_forward():
        value, obj = _call("rnn_forward", kept_call, rnn_forward, *_args(x, h_0, w))
        result = check_returns("rnn_forward", value, 2, ("h", "cache"))
        check_close("h from rnn_forward", result[0], expected_h, rtol=F32_RTOL, atol=F32_ATOL,
                    hint="make test_rnn_forward pass first.")
        return element(obj, 1), forward_precise(result[0], expected_h)

    def run_backward(cache, loose):
        # Float32 tolerances always: a step backward that computes in float32 (a correct
        # choice) adds float32 rounding at every step of the sum over time.
        r_tol, a_tol = _tol(np.float32, rtol, atol)
        for r in range(repeat):
            got = check_returns("rnn_backward",
                                (_call_again if r else _call)("rnn_backward", rnn_backward,
                                                              dh.copy(), cache), 6, SEQ_GRADS)
            again = ", second call on the same cache: do not modify the cache in place" if r else ""
            mine = dict(zip(SEQ_GRADS, got))
            case = {"x": x, "h": h_0, "w": w, "dh": dh}
            spot = (lambda mine=mine: identify(mistakes.RNN_BACKWARD, case, mine, expected,
                                               r_tol, a_tol))
            for name, g in zip(SEQ_GRADS, got):
                check_shape(f"{name} from rnn_backward ({what})", g, shapes[name],
                            hint="Every gradient has the shape of the array it is the gradient of.")
                check_named(f"{name} from rnn_backward ({what}{again})", g, expected[name],
                            rtol=r_tol, atol=a_tol, hint=SEQ_HINTS[name], spot=spot)

    backward_with_fallback("rnn_backward", "rnn_forward", run_forward, run_backward,
                           lambda: kept(rnn_backward, _documented_seq_cache(x, h_0, w)),
                           SEQ_LAYOUT)


# ---------------------------------------------------------------------------------------------
# Exercise 5: softmax_cross_entropy
# ---------------------------------------------------------------------------------------------
def _ref_ce(logits, targets):
    N, T, V = logits.shape
    z = _t(logits).requires_grad_()
    loss = F.cross_entropy(z.reshape(N * T, V),
                           torch.as_tensor(np.asarray(targets, np.int64)).reshape(N * T))
    loss.backward()
    return loss.item(), z.grad.numpy()


def softmax_cross_entropy(softmax_cross_entropy, N, T, V, seed, scale=1.0, shift=0.0,
                          target_high=None, dtype="float64", uniform_first=False,
                          rtol=1e-5, atol=1e-7):
    """``softmax_cross_entropy`` against ``torch.nn.functional.cross_entropy`` and its gradient.

    Args:
        softmax_cross_entropy: the learner's function.
        N, T, V: sizes. seed: the case's seed.
        scale, shift: logits are ``standard_normal * scale + shift`` (1000 or -800 test the
            stability of the log-sum-exp).
        target_high: targets are drawn from ``[0, target_high)`` (default V): below V, the
            one-hot must still have V columns.
        dtype: of the logits (float32 logits come with int32 targets).
        uniform_first: first check that all-zero logits give ln V.
    """
    fn = softmax_cross_entropy
    dt = _dtype(dtype)
    rtol, atol = _tol(dt, rtol, atol)
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, target_high or V, size=(N, T))
    targets = targets.astype(np.int32 if dt == np.float32 else np.int64)
    if uniform_first:
        loss, _ = check_returns("softmax_cross_entropy",
                                _call("softmax_cross_entropy", fn, np.zeros((N, T, V)), targets.copy()),
                                2, ("loss", "dlogits"))
        zero = {"logits": np.zeros((N, T, V)), "targets": targets}
        check_named("loss with all logits 0", loss, np.log(V), scalar=True,
                    hint="uniform probabilities 1/V give ln V.",
                    spot=lambda: identify(mistakes.SOFTMAX_CROSS_ENTROPY, zero, {"loss": loss},
                                          {"loss": np.log(V)}, 1e-5, 1e-6))
    logits = (rng.standard_normal((N, T, V)) * scale + shift).astype(dt)
    what = f"N={N}, T={T}, V={V}" + (f", logits of size {scale:g}" if scale >= 100 else "") + \
        (f", logits near {shift:g}" if shift else "") + \
        (f", targets below {target_high} of V={V}" if target_high else "") + \
        ("" if dt == np.float64 else f", {dt.name} logits")
    loss_ref, grad_ref = _ref_ce(logits, targets)
    loss, dlogits = check_returns("softmax_cross_entropy",
                                  _call("softmax_cross_entropy", fn, logits.copy(), targets.copy()),
                                  2, ("loss", "dlogits"))
    case = {"logits": logits, "targets": targets}
    expected = {"loss": np.float64(loss_ref), "dlogits": grad_ref}

    def spot():
        return identify(mistakes.SOFTMAX_CROSS_ENTROPY, case, {"loss": loss, "dlogits": dlogits},
                        expected, 1e-4, 1e-8)

    check_named(f"loss ({what})", loss, loss_ref, rtol=rtol, atol=atol, scalar=True, spot=spot,
                hint="loss = mean over all N*T positions of -log softmax(logits)[target]; compute "
                     "log-softmax as z - max - log(sum(exp(z - max))).")
    dlogits = check_shape(f"dlogits ({what})", dlogits, (N, T, V),
                          hint="dlogits has the shape of logits.")
    check_named(f"dlogits ({what})", dlogits, grad_ref, rtol=1e-4, atol=1e-8, spot=spot,
                hint="see the hints above Exercise 5: the derivative of the log-sum-exp, one "
                     "position, then the mean over the positions.")


# ---------------------------------------------------------------------------------------------
# Exercise 6: sample_next
# ---------------------------------------------------------------------------------------------
def _draw_error(temperature, err):
    return AssertionError(f"sample_next(logits, {temperature}, rng) raised {type(err).__name__}: "
                          f"{err}\n  Hint: at small temperatures logits / temperature is huge; "
                          f"subtract its maximum before np.exp.")


def draws(sample_next, logits, temperature, n, seed):
    """``n`` draws of the learner's ``sample_next`` from one generator seeded with ``seed``.

    The generator and the logits live where the learner's function does: when grading they are
    stored in the kernel (a NumPy generator travels as its state) and ``sample_next`` is called
    ``n`` times on them through the channel; the draws are counted and checked here, each an
    integer index in range.
    """
    logits = np.asarray(logits)
    V = len(logits)
    rng = np.random.default_rng(seed)
    if is_remote(sample_next):
        from rnnkit.testing import remote
        logits, rng = remote.store(sample_next, logits, rng)
    try:
        got = repeated_call(sample_next, n, logits, temperature, rng)
    except (NotImplementedError, AssertionError):
        raise
    except Exception as err:                          # noqa: BLE001 - reported to the learner
        raise _draw_error(temperature, err) from err
    if not isinstance(got, list) or len(got) != n:
        raise AssertionError(f"sample_next was called {n} times and {len(got)} draws came back.")
    out = np.empty(n, dtype=np.int64)
    for i, s in enumerate(got):
        if isinstance(s, np.ndarray) and s.ndim == 0:
            s = s[()]                                 # (a 0-d array arrives as a scalar)
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise AssertionError(f"sample_next should return one integer index, got "
                                 f"{type(s).__name__} {s!r}. Hint: return int(...).")
        if not 0 <= s < V:
            raise AssertionError(f"sample_next returned {s}, outside [0, {V}).")
        out[i] = s
    return out


def _check_frequencies(fn, logits, temperature, n, seed, tol):
    probs = torch.softmax(_t(logits) / temperature, 0).numpy()
    counts = np.bincount(draws(fn, logits, temperature, n, seed), minlength=len(logits))
    what = f"frequencies of sample_next(logits, {temperature}, rng) over {n} draws"
    hint = ("Draw index i with probability softmax(logits / temperature)[i], using the given rng, "
            "e.g. rng.choice(V, p=p).")
    check_close(what, counts / n, probs, rtol=0.0, atol=tol, hint=hint)
    expected = n * probs
    keep = expected > 5
    chi2 = float(np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep]))
    dof = max(int(keep.sum()) - 1, 1)
    if chi2 > 6.0 * dof + 20.0:
        raise AssertionError(f"{what}: they differ from the softmax probabilities more than "
                             f"chance allows (chi-square {chi2:.1f} with {dof} degrees of "
                             f"freedom).\n  Hint: {hint}")


def sample_next(sample_next, logits, temperature, n, seed, tol=0.02, argmax=False,
                reproducible=False, dtype="float64"):
    """Draws of ``sample_next`` against ``softmax(logits / temperature)`` (torch).

    Args:
        sample_next: the learner's function.
        logits: the scores (a list or array). temperature: tau.
        n: number of draws. seed: seeds the generator handed to ``sample_next``.
        tol: largest allowed gap between a frequency and its probability.
        argmax: instead of frequencies, check that at least 99% of the draws are the argmax
            (for a tiny temperature).
        reproducible: also check that two generators with the same seed give the same draws.
        dtype: of the logits.
    """
    logits = np.asarray(logits, dtype=_dtype(dtype))
    got = None
    if argmax:
        got = draws(sample_next, logits, temperature, n, seed)
        top = int(np.argmax(logits))
        share = float(np.mean(got == top))
        if share < 0.99:
            raise AssertionError(
                f"At temperature {temperature:g}, sample_next should almost always return the "
                f"argmax ({reference(top)}), but returned it in {share:.0%} of {n} draws.\n  Hint: divide "
                f"the logits BY the temperature, and subtract the maximum before np.exp so "
                f"nothing overflows.")
    else:
        _check_frequencies(sample_next, logits, temperature, n, seed, tol)
    if reproducible:
        a = draws(sample_next, logits, temperature, 50, seed + 1)
        b = draws(sample_next, logits, temperature, 50, seed + 1)
        if not np.array_equal(a, b):
            raise AssertionError(
                "Two generators with the same seed gave different draws.\n  Hint: draw with the "
                "rng argument (rng.choice, rng.random, ...), not with np.random or another "
                "generator.")
