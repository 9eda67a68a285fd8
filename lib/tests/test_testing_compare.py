"""The harnesses of lesson 05 pass correct implementations and reject wrong ones."""

import statistics
import time

import numpy as np
import pytest
import torch

from rnnkit.testing import compare as tests

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def num_parameters(kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                   proj_size=0):
    G, H, P = GATES[kind], hidden_size, proj_size
    dirs = 2 if bidirectional else 1
    out = P or H
    total = 0
    for layer in range(num_layers):
        d_in = input_size if layer == 0 else dirs * out
        per_dir = G * H * (d_in + out) + (2 * G * H if bias else 0) + (P * H if P else 0)
        total += dirs * per_dir
    return total


def hidden_size_for_budget(kind, budget, input_size, num_layers=1, bias=True, bidirectional=False):
    H = 0
    while num_parameters(kind, input_size, H + 1, num_layers, bias, bidirectional) <= budget:
        H += 1
    return H


def time_forward_backward(module, x, repeats=10, warmup=2):
    def once():
        module.zero_grad(set_to_none=True)
        start = time.perf_counter()
        out = module(x)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
        return time.perf_counter() - start

    warm = [once() for _ in range(warmup)]
    times = [once() for _ in range(repeats)]
    return {"times": times, "warmup_times": warm, "median": float(np.median(times)),
            "iqr": float(np.percentile(times, 75) - np.percentile(times, 25)),
            "min": min(times), "threads": torch.get_num_threads()}


def test_torch_count_is_numel_of_the_real_module():
    m = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    assert tests.torch_count("lstm", 3, 5, 2, True, True, 2) == sum(p.numel() for p in m.parameters())


def test_correct_answers_pass():
    tests.check_num_parameters(num_parameters, tests.SINGLE_LAYER)
    tests.check_num_parameters(num_parameters, tests.STACKED)
    tests.check_num_parameters(num_parameters, tests.random_configs(40, seed=1))
    tests.check_num_parameters(num_parameters, tests.random_configs(10, seed=2, stacked=False))
    tests.check_hidden_size_for_budget(hidden_size_for_budget, tests.BUDGETS)
    tests.check_hidden_size_for_budget(hidden_size_for_budget, tests.budget_cases(9, seed=3))
    tests.check_time_forward_backward(time_forward_backward, tests.TIMINGS)
    tests.check_time_forward_backward(time_forward_backward, tests.timing_cases(10, seed=4))
    tests.check_time_forward_backward(time_forward_backward, tests.WORK + [tests.work_case(9)])


def test_random_cases_are_seeded_and_varied():
    assert tests.random_configs(5, 7) == tests.random_configs(5, 7)
    assert tests.random_configs(5, 7) != tests.random_configs(5, 8)
    cfgs = tests.random_configs(60, 0)
    assert {c["kind"] for c in cfgs} == {"rnn", "lstm", "gru"}
    assert any(c.get("proj_size") for c in cfgs) and any(c.get("bidirectional") for c in cfgs)
    assert any(not c["bias"] for c in cfgs) and any(c.get("num_layers", 1) > 1 for c in cfgs)
    cases = tests.budget_cases(6, 0)
    exact = [c for c in cases if c["budget"] == tests.torch_count(
        c["kind"], c["input_size"], hidden_size_for_budget(**c), c["num_layers"], c["bias"],
        c["bidirectional"])]
    assert exact, "some budgets must equal a count exactly"


@pytest.mark.parametrize("wrong", [
    lambda kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False, proj_size=0:
        num_parameters(kind, input_size, hidden_size, num_layers, bias, bidirectional, proj_size)
        - (GATES[kind] * hidden_size * num_layers * (2 if bidirectional else 1) if bias else 0),
    lambda kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False, proj_size=0:
        num_parameters(kind, input_size, hidden_size, 1, bias, bidirectional, proj_size) * num_layers,
    lambda kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False, proj_size=0:
        num_parameters(kind, input_size, hidden_size, num_layers, bias, False, proj_size),
    lambda kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False, proj_size=0:
        num_parameters(kind, input_size, hidden_size, num_layers, bias, bidirectional, 0),
], ids=["one bias", "layers all read the input", "no second direction", "projection ignored"])
def test_wrong_counts_fail(wrong):
    with pytest.raises(AssertionError, match="torch module has"):
        tests.check_num_parameters(wrong, tests.SINGLE_LAYER + tests.STACKED)


def test_wrong_budgets_fail():
    def strict(kind, budget, input_size, **kw):
        H = 0
        while num_parameters(kind, input_size, H + 1, **kw) < budget:
            H += 1
        return H

    def one_over(*args, **kw):
        return hidden_size_for_budget(*args, **kw) + 1

    cases = tests.budget_cases(12, seed=5)
    with pytest.raises(AssertionError, match="also fits"):
        tests.check_hidden_size_for_budget(strict, cases)
    with pytest.raises(AssertionError, match="more than the budget"):
        tests.check_hidden_size_for_budget(one_over, tests.BUDGETS)


def _variant(**changes):
    def fn(module, x, repeats=10, warmup=2):
        r = time_forward_backward(module, x, repeats, warmup)
        for key, f in changes.items():
            if f is None:
                r.pop(key)
            else:
                r[key] = f(r, module, x, repeats, warmup)
        return r
    return fn


@pytest.mark.parametrize("wrong,message", [
    (_variant(warmup_times=lambda r, *a: []), "warm-up"),
    (_variant(times=lambda r, *a: r["warmup_times"] + r["times"]), "timed repeat"),
    (_variant(median=lambda r, *a: float(np.mean(r["times"]))), "median"),
    (_variant(iqr=None), "no"),
    (_variant(iqr=lambda r, *a: float(np.std(r["times"])) * 10), "interquartile"),
    (_variant(times=lambda r, *a: [statistics.mean(r["times"])] * len(r["times"]),
              median=lambda r, *a: statistics.mean(r["times"]),
              min=lambda r, *a: statistics.mean(r["times"]), iqr=lambda r, *a: 0.0), "exactly"),
    (_variant(threads=lambda r, *a: 0), "threads"),
], ids=["no warm-up", "warm-up counted", "mean", "no spread", "wrong spread", "one run", "threads"])
def test_wrong_timing_harnesses_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        tests.check_time_forward_backward(wrong, tests.TIMINGS + tests.timing_cases(5, 0))


def test_timing_harness_that_assumes_a_tuple_fails():
    def tuple_only(module, x, repeats=10, warmup=2):
        out, _ = module(x)
        return time_forward_backward(module, x, repeats, warmup)

    with pytest.raises((AssertionError, ValueError)):
        tests.check_time_forward_backward(tuple_only, tests.TIMINGS)


def test_numbers_may_come_back_as_numpy_scalars_or_one_element_arrays():
    tests.check_hidden_size_for_budget(lambda *a, **k: np.array([hidden_size_for_budget(*a, **k)]),
                                       tests.BUDGETS)
    tests.check_num_parameters(lambda *a, **k: np.int64(num_parameters(*a, **k)), tests.SINGLE_LAYER)
    with pytest.raises(AssertionError, match="one number"):
        tests.check_num_parameters(lambda *a, **k: [1, 2], tests.SINGLE_LAYER)


def made_up_timing(module, x, repeats=10, warmup=2):
    """Never calls the module: durations drawn around a plausible value, consistent stats."""
    rng = np.random.default_rng(0)
    times = list(0.01 * (1 + 0.1 * rng.random(repeats)))
    return {"times": times, "warmup_times": [0.02] * warmup, "median": float(np.median(times)),
            "iqr": float(np.percentile(times, 75) - np.percentile(times, 25)),
            "min": min(times), "threads": 1}


def test_timing_that_never_runs_the_module_fails():
    with pytest.raises(AssertionError, match="took|add up"):
        tests.check_time_forward_backward(made_up_timing, tests.WORK)


def test_timing_that_reports_tiny_durations_without_running_fails():
    def tiny(module, x, repeats=10, warmup=2):
        r = made_up_timing(module, x, repeats, warmup)
        r["times"] = [t * 1e-4 for t in r["times"]]
        r["warmup_times"] = [t * 1e-4 for t in r["warmup_times"]]
        r["median"], r["min"] = float(np.median(r["times"])), min(r["times"])
        r["iqr"] = float(np.percentile(r["times"], 75) - np.percentile(r["times"], 25))
        return r

    with pytest.raises(AssertionError, match="cannot have run"):
        tests.check_time_forward_backward(tiny, tests.WORK)


def test_durations_longer_than_the_call_fail():
    def milliseconds(module, x, repeats=10, warmup=2):
        r = time_forward_backward(module, x, repeats, warmup)
        for key in ("times", "warmup_times"):
            r[key] = [1e3 * t for t in r[key]]
        r["median"], r["min"] = float(np.median(r["times"])), min(r["times"])
        r["iqr"] = float(np.percentile(r["times"], 75) - np.percentile(r["times"], 25))
        return r

    with pytest.raises(AssertionError, match="add up"):
        tests.check_time_forward_backward(milliseconds, tests.WORK)

