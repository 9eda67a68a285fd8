"""Harnesses for the test cells of lesson 05 (the LSTM / GRU comparison lab).

Each ``check_*`` function takes the learner's function as its first argument, calls it on the
cases it is given, and raises ``AssertionError`` with a message that says which case, what was
expected and where to look. The references are computed here, in the grader's process, with
torch (rules 1-6 of :mod:`rnnkit.testing`):

* parameter counts: ``sum(p.numel())`` over the parameters of the real ``torch.nn`` module,
  built on torch's ``meta`` device (no memory, no initialisation, about a millisecond);
* budgets: the same counts, so :func:`check_hidden_size_for_budget` never relies on the
  learner's ``num_parameters``;
* timing: the learner's harness is called with built-in ``torch.nn`` modules and tensors only,
  and its answer is checked for structure and consistency. Whether the work was done is decided
  from what the grader observes itself: the wall time of the call, measured around it here,
  must hold the durations the harness reports, and must be at least a fraction
  (:data:`WORK_FRACTION`) of ``repeats`` times the fastest forward+backward pass of the same
  module on the same input that the grader times in its own process. The margin is wide (a
  loaded machine only makes the learner's call longer), so no correct harness fails; a harness
  that returns made-up durations without running the passes finishes in a few milliseconds and
  fails on :data:`WORK` (a case large enough that its passes outlast the channel's overhead).
  What cannot be seen from outside: a harness that waits (``time.sleep``) as long as the passes
  would take instead of running them.

Typical test cell::

    from rnnkit.testing import compare as tests
    tests.check_num_parameters(num_parameters, tests.SINGLE_LAYER)
    # then, between nbgrader's hidden-tests markers:
    tests.check_num_parameters(num_parameters, tests.random_configs(..., hidden_seed(...)))
"""

from __future__ import annotations

import copy
import math
import os
import time

import numpy as np
import torch
from torch import nn

from rnnkit.checks import reference
from rnnkit.testing.ops import to_numpy

__all__ = ["SINGLE_LAYER", "STACKED", "BUDGETS", "TIMINGS", "WORK", "WORK_FRACTION",
           "torch_count", "random_configs", "budget_cases", "timing_cases", "work_case",
           "reference_pass_time", "check_num_parameters",
           "check_hidden_size_for_budget", "check_time_forward_backward"]

_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def torch_count(kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                bias: bool = True, bidirectional: bool = False, proj_size: int = 0) -> int:
    """The reference: parameters of ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` built with these
    arguments, as ``sum(p.numel() for p in module.parameters())``.

    ``proj_size`` is passed only when it is not 0 (torch accepts it only for the LSTM).
    """
    extra = {"proj_size": proj_size} if proj_size else {}
    module = _LAYERS[kind](input_size, hidden_size, num_layers=num_layers, bias=bias,
                           bidirectional=bidirectional, device="meta", **extra)
    return int(sum(p.numel() for p in module.parameters()))


def _describe(cfg: dict) -> str:
    parts = [f"{k}={v!r}" for k, v in cfg.items() if k != "kind"]
    return f"{cfg['kind']!r}, " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------
SINGLE_LAYER = [
    dict(kind="rnn", input_size=3, hidden_size=5),
    dict(kind="lstm", input_size=3, hidden_size=5),
    dict(kind="gru", input_size=3, hidden_size=5),
    dict(kind="lstm", input_size=10, hidden_size=20, bias=False),
    dict(kind="gru", input_size=64, hidden_size=128),
]
"""Visible cases of the first test: one layer, one direction, with and without biases."""

STACKED = [
    dict(kind="gru", input_size=3, hidden_size=5, num_layers=2),
    dict(kind="rnn", input_size=4, hidden_size=6, bidirectional=True),
    dict(kind="lstm", input_size=3, hidden_size=5, num_layers=3, bidirectional=True),
    dict(kind="lstm", input_size=10, hidden_size=8, proj_size=3),
    dict(kind="lstm", input_size=10, hidden_size=8, num_layers=2, bidirectional=True, proj_size=3),
]
"""Visible cases of the second test: stacked layers, two directions, LSTM projections."""


def random_configs(n: int, seed: int, stacked: bool = True) -> list[dict]:
    """``n`` random configurations that torch accepts.

    With ``stacked=False`` they all have one layer and one direction and no projection (bias
    on or off); otherwise layers (1-4), directions and LSTM projections are drawn too.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        kind = str(rng.choice(["rnn", "lstm", "gru"]))
        cfg = dict(kind=kind, input_size=int(rng.integers(1, 120)),
                   hidden_size=int(rng.integers(2, 160)), bias=bool(rng.random() < 0.75))
        if stacked:
            cfg["num_layers"] = int(rng.integers(1, 5))
            cfg["bidirectional"] = bool(rng.random() < 0.5)
            if kind == "lstm" and rng.random() < 0.6:
                cfg["proj_size"] = int(rng.integers(1, cfg["hidden_size"]))
        out.append(cfg)
    return out


BUDGETS = [
    dict(kind="gru", budget=4608, input_size=2),
    dict(kind="lstm", budget=4608, input_size=2),
    dict(kind="rnn", budget=4608, input_size=2),
]
"""Visible cases of the budget test: the budget of an LSTM with D = 2, H = 32 (4,608)."""


def budget_cases(n: int, seed: int) -> list[dict]:
    """``n`` random budget problems. About a third have a budget exactly equal to the count of
    some hidden size (a ``<`` instead of ``<=`` misses it), the others fall between two counts;
    layers, directions and biases vary."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = str(rng.choice(["rnn", "lstm", "gru"]))
        cfg = dict(kind=kind, input_size=int(rng.integers(1, 100)),
                   num_layers=int(rng.integers(1, 4)), bias=bool(rng.random() < 0.75),
                   bidirectional=bool(rng.random() < 0.4))
        H = int(rng.integers(1, 300))
        low = torch_count(hidden_size=H, **cfg)
        high = torch_count(hidden_size=H + 1, **cfg)
        budget = low if i % 3 == 0 else int(rng.integers(low, high))
        out.append(dict(budget=budget, **cfg))
    return out


def _timing_case(module: nn.Module, shape: tuple, repeats: int, warmup: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return dict(module=module, x=torch.randn(*shape, generator=g), repeats=repeats,
                warmup=warmup)


def timing_cases(n: int, seed: int) -> list[dict]:
    """``n`` small timing problems with built-in modules whose calls return a tensor (Linear,
    GRUCell) or a tuple (LSTM, GRU, RNN), repeats from 1 to 7 and warm-ups from 0 to 3."""
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng():                   # seeds the module weights, locally
        torch.manual_seed(int(rng.integers(1 << 30)))
        return [_random_timing_case(i, rng) for i in range(n)]


def _random_timing_case(i: int, rng: np.random.Generator) -> dict:
    which = ["lstm", "gru", "rnn", "linear", "grucell"][i % 5]
    D, H, N, T = (int(v) for v in rng.integers(2, 9, size=4))
    N = max(N, 3)                      # so that unpacking a tensor of N rows as (out, h) fails
    if which == "linear":
        module, shape = nn.Linear(D, H), (N, T, D)
    elif which == "grucell":
        module, shape = nn.GRUCell(D, H), (N, D)
    else:
        module, shape = _LAYERS[which](D, H, batch_first=True), (N, T, D)
    return _timing_case(module, shape, repeats=int(rng.integers(1, 8)),
                        warmup=int(rng.integers(0, 4)), seed=int(rng.integers(1 << 30)))


def _timings():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return [_timing_case(nn.LSTM(3, 4, batch_first=True), (3, 5, 3), repeats=5, warmup=2, seed=0),
                _timing_case(nn.Linear(3, 4), (3, 5, 3), repeats=3, warmup=1, seed=1)]


TIMINGS = _timings()
"""Visible cases of the timing test: an LSTM (returns a tuple) and a Linear (returns a tensor)."""


def work_case(seed: int) -> dict:
    """A timing problem whose passes take long enough (a GRU over about 120 steps, roughly
    10 ms a pass on one thread) that ``repeats`` of them outlast the channel's overhead many
    times: a harness that does not run them is seen by the wall time of its call."""
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng():
        torch.manual_seed(int(rng.integers(1 << 30)))
        D, H = int(rng.integers(3, 6)), int(rng.integers(14, 19))
        T = int(rng.integers(110, 131))
        module = nn.GRU(D, H, batch_first=True)
    return _timing_case(module, (8, T, D), repeats=5, warmup=1, seed=int(rng.integers(1 << 30)))


WORK = [work_case(0)]
"""Visible case of the timing test that the wall time of the call can check (see the module's
docstring)."""


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
_HINT_COUNT = ("Per layer and direction: G gate blocks (RNN 1, LSTM 4, GRU 3), each with "
               "W_ih (H, input), W_hh (H, H) and, with bias=True, TWO bias vectors b_ih and "
               "b_hh of H each. ")
_HINT_STACKED = ("A layer above the first reads the output of the layer below: H numbers per "
                 "direction (proj_size if the LSTM projects), times 2 if bidirectional. Each "
                 "direction has its own weights. With proj_size P, the LSTM's W_hh is (4H, P) "
                 "and each direction adds W_hr (P, H).")


def _as_int(name: str, value) -> int:
    arr = np.asarray(to_numpy(value))
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):  # a NumPy scalar may come back
        raise AssertionError(f"{name}: expected one number, got {value!r}")  # as a 1-element array
    arr = arr.reshape(())
    number = float(arr)
    if not math.isfinite(number) or number != round(number):
        raise AssertionError(f"{name}: expected a whole number, got {number!r}")
    return int(round(number))


def check_num_parameters(num_parameters, configs) -> None:
    """Check ``num_parameters(kind, input_size, hidden_size, ...)`` against the torch count of
    every configuration (keyword arguments as in ``torch.nn.LSTM``)."""
    for cfg in configs:
        cfg = dict(cfg)
        expected = torch_count(**cfg)
        call = f"num_parameters({_describe(cfg)})"
        args = {k: v for k, v in cfg.items() if k != "kind"}
        got = _as_int(call, num_parameters(cfg["kind"], **args))
        if got != expected:
            stacked = cfg.get("num_layers", 1) > 1 or cfg.get("bidirectional") or cfg.get("proj_size")
            hint = _HINT_COUNT + (_HINT_STACKED if stacked else "")
            raise AssertionError(
                f"{call} returned {got}, but the torch module has {reference(expected)} "
                f"parameters (off by {reference(got - expected, '+d')}).\n  Hint: {hint}")


def check_hidden_size_for_budget(hidden_size_for_budget, cases) -> None:
    """Check ``hidden_size_for_budget(kind, budget, input_size, ...)``: the answer H must fit
    the budget (torch's count) and H + 1 must not."""
    for case in cases:
        case = dict(case)
        kind, budget = case.pop("kind"), case.pop("budget")
        args = dict(case)
        where = f"hidden_size_for_budget({kind!r}, {budget}, " + \
            ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"
        H = _as_int(where, hidden_size_for_budget(kind, budget, **args))
        if H < 1:
            raise AssertionError(f"{where} returned {H}; a hidden size is at least 1 (every "
                                 f"budget in these tests allows H = 1).")
        fits = torch_count(kind, hidden_size=H, **args)
        if fits > budget:
            raise AssertionError(
                f"{where} returned H={H}, but that layer has {fits} parameters, more than the "
                f"budget ({fits - budget} too many).\n  Hint: return the LARGEST H whose count "
                f"is <= budget; check your loop's last step (off by one?) and your "
                f"num_parameters.")
        more = torch_count(kind, hidden_size=H + 1, **args)
        if more <= budget:
            raise AssertionError(
                f"{where} returned H={H}, but H={H + 1} also fits ({more} <= {budget}; H={H} "
                f"has {fits}).\n  Hint: the answer is the largest H with count <= budget: a "
                f"count EQUAL to the budget fits; look for a '<' that should be '<=', or a "
                f"search that stops one step early.")


_KEYS = ("times", "warmup_times", "median", "iqr", "min", "threads")
_METHODS = ("linear", "lower", "higher", "midpoint", "nearest", "weibull", "hazen",
            "median_unbiased", "normal_unbiased", "inverted_cdf", "averaged_inverted_cdf",
            "closest_observation", "interpolated_inverted_cdf")


def _durations(where: str, key: str, value, n: int) -> np.ndarray:
    try:
        arr = np.asarray(to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{where}: result[{key!r}] should be a list of durations in "
                             f"seconds, got {value!r}.") from None
    if arr.ndim != 1 or arr.shape[0] != n:
        raise AssertionError(f"{where}: result[{key!r}] should hold {n} durations (one per "
                             f"{'timed repeat' if key == 'times' else 'warm-up call'}), got "
                             f"{arr.shape[0] if arr.ndim == 1 else 'shape ' + str(arr.shape)}."
                             + ("\n  Hint: warm-up calls are NOT timed repeats: time them "
                                "apart and report them under 'warmup_times'." if key == "times"
                                else "\n  Hint: run `warmup` untimed-for-the-statistics calls "
                                "first and report their durations under 'warmup_times'."))
    if n and not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise AssertionError(f"{where}: result[{key!r}] = {arr.tolist()}: every duration must be "
                             f"a positive number of seconds.")
    return arr


def check_time_forward_backward(time_forward_backward, cases) -> None:
    """Check the dict returned by ``time_forward_backward(module, x, repeats, warmup)``.

    It must hold ``times`` (``repeats`` positive durations in seconds), ``warmup_times``
    (``warmup`` of them), ``median`` (the median of ``times``), ``iqr`` (their interquartile
    range, by any of numpy's percentile methods), ``min`` (their minimum) and ``threads`` (a
    positive int); two timed repeats are never exactly equal (each is timed on its own).
    The work must have been done: the reported durations fit inside the wall time of the call
    (measured here, around it), and that wall time is at least :data:`WORK_FRACTION` x
    ``repeats`` x the fastest pass this process times on a copy of the module (with the
    reported number of threads). A loaded machine only lengthens the call, so no correct
    harness fails; no duration is compared with a fixed number.
    """
    for case in cases:
        module, x, repeats, warmup = case["module"], case["x"], case["repeats"], case["warmup"]
        where = (f"time_forward_backward({type(module).__name__}, x of shape {tuple(x.shape)}, "
                 f"repeats={repeats}, warmup={warmup})")
        before = reference_pass_time(module, x)
        start = time.perf_counter()
        result = time_forward_backward(module, x, repeats=repeats, warmup=warmup)
        wall = time.perf_counter() - start
        if not isinstance(result, dict):
            raise AssertionError(f"{where} returned a {type(result).__name__}; it should return "
                                 f"a dict with the keys {list(_KEYS)}.")
        missing = [k for k in _KEYS if k not in result]
        if missing:
            raise AssertionError(f"{where}: the result has no {missing}; expected the keys "
                                 f"{list(_KEYS)}.")
        times = _durations(where, "times", result["times"], repeats)
        warmup_times = _durations(where, "warmup_times", result["warmup_times"], warmup)
        for key, expected, what in (("median", np.median(times), "np.median(times)"),
                                    ("min", times.min(), "min(times)")):
            got = float(_as_number(where, key, result[key]))
            if not math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12):
                raise AssertionError(
                    f"{where}: result[{key!r}] = {got:.6g} s, but {what} = {expected:.6g} s."
                    + ("\n  Hint: the median of the timed repeats, not their mean, and not "
                       "the time of one run." if key == "median" else ""))
        iqr = float(_as_number(where, "iqr", result["iqr"]))
        q = [np.percentile(times, 75, method=m) - np.percentile(times, 25, method=m)
             for m in _METHODS]
        if not (min(q) - 1e-12 - 1e-6 * abs(min(q)) <= iqr <= max(q) + 1e-12 + 1e-6 * max(q)):
            raise AssertionError(
                f"{where}: result['iqr'] = {iqr:.6g} s is not the interquartile range of the "
                f"timed repeats (between {min(q):.6g} and {max(q):.6g} s, depending on how the "
                f"quartiles are interpolated).\n  Hint: np.percentile(times, 75) - "
                f"np.percentile(times, 25).")
        if repeats >= 3 and np.unique(times).size == 1:
            raise AssertionError(
                f"{where}: all {repeats} timed repeats are exactly {times[0]:.6g} s. Time each "
                f"repeat on its own (a total divided by the count is one measurement, not "
                f"{repeats}).")
        threads = _as_number(where, "threads", result["threads"])
        if float(threads) != round(float(threads)) or float(threads) < 1:
            raise AssertionError(f"{where}: result['threads'] = {threads!r}; report "
                                 f"torch.get_num_threads(), a positive int.")
        _check_work(where, module, x, repeats, times, warmup_times, wall, before,
                    min(int(threads), os.cpu_count() or 1))


WORK_FRACTION = 0.3
"""The call must last at least this fraction of ``repeats`` x the grader's fastest pass."""


def _one_pass(module: nn.Module, x: torch.Tensor) -> float:
    """Seconds of one forward+backward pass (gradients dropped afterwards)."""
    t0 = time.perf_counter_ns()
    y = module(x)
    torch.autograd.backward((y[0] if isinstance(y, tuple) else y).sum())
    t1 = time.perf_counter_ns()
    module.zero_grad(set_to_none=True)
    return (t1 - t0) * 1e-9


def reference_pass_time(module: nn.Module, x: torch.Tensor, passes: int = 3,
                        threads: int | None = None) -> float:
    """The fastest of ``passes`` forward+backward passes (after one untimed pass) of a copy of
    ``module`` on ``x``, timed in this process with ``threads`` torch threads (the current
    number when None; restored afterwards)."""
    module = copy.deepcopy(module)
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        _one_pass(module, x)
        return min(_one_pass(module, x) for _ in range(passes))
    finally:
        torch.set_num_threads(old)


def _check_work(where, module, x, repeats, times, warmup_times, wall, before, threads):
    """The work check (see the module's docstring). ``wall``: the call's duration measured
    around it; ``before``: the grader's fastest pass measured just before the call."""
    reported = float(times.sum() + warmup_times.sum())
    if reported > wall * 1.05 + 2e-3:
        raise AssertionError(
            f"{where}: the durations it reports add up to {reported:.4g} s, but the whole call "
            f"took {wall:.4g} s (measured by the test around it).\n  Hint: report the "
            f"durations of the passes you run, in seconds, each from time.perf_counter() "
            f"just before the pass to just after it.")
    fastest = min(before, reference_pass_time(module, x, threads=threads))
    if wall >= WORK_FRACTION * repeats * fastest:
        return
    fastest = min(fastest, reference_pass_time(module, x, passes=10, threads=threads))
    if wall < WORK_FRACTION * repeats * fastest:
        raise AssertionError(
            f"{where}: the call took {wall * 1e3:.3g} ms in all, but one forward+backward "
            f"pass of this module on this input takes at least {fastest * 1e3:.3g} ms here "
            f"(timed by the test), so {repeats} timed passes cannot have run.\n  Hint: each "
            f"pass calls module(x) and .backward() on the sum of its output; time the passes "
            f"you run, do not make durations up.")


def _as_number(where: str, key: str, value):
    arr = np.asarray(to_numpy(value))
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise AssertionError(f"{where}: result[{key!r}] should be one number, got {value!r}.")
    return arr.reshape(()).item()
