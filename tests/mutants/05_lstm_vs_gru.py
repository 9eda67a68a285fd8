"""Mutation catalogue of lesson 05_lstm_vs_gru: wrong and correct versions of every graded exercise.

Each variant's source replaces the whole answer cell. Variants may use ``np``, ``torch`` and
``time``, which the first cell of the notebook imports; correct variants import what else they use.

``hidden_size_for_budget``'s tests run the learner's ``num_parameters`` through it (the solution
calls it), so its variants never share a notebook with a variant of ``num_parameters``; its wrong
variants are wrong in the search, not in the count.

Building the torch module inside ``num_parameters`` and summing ``numel()`` is forbidden by the
exercise's text but gives the right numbers, and the tests cannot tell it from a formula: it is
listed as a correct variant (it keeps every point) so that nobody mistakes it for a gap in the
tests. Timing variants that time only the forward pass, or that never reset the gradients, are not
listed: the tests compare durations only with wide margins (the machine may be busy) and cannot see
them reliably (the exercise's text asks for both). A harness that never runs the module and makes
its durations up is listed: the wall time of its call, measured by the grader, gives it away.

GRADED (at the end) picks the variants make test grades; the others stay in RESERVE.
"""

from mutants import Variant

# answer cell: (its test cells, the other answer cells its tests run)
EXERCISES = {
    "num_parameters": (["test_num_parameters", "test_num_parameters_stacked"], []),
    "hidden_size_for_budget": (["test_hidden_size_for_budget"], ["num_parameters"]),
    "time_forward_backward": (["test_time_forward_backward"], []),
}

VARIANTS = []


def _add(exercise, name, correct, source):
    VARIANTS.append(Variant(exercise, name, correct, source.strip("\n") + "\n"))


# ---------------------------------------------------------------------------------------------
# num_parameters: a template in the solution's shape
# ---------------------------------------------------------------------------------------------
_NP = '''
def num_parameters(kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                   proj_size=0):
    gates = {{"rnn": 1, "lstm": 4, "gru": 3}}[kind]
    directions = 2 if bidirectional else 1
    state = proj_size if proj_size else hidden_size
    total = 0
    for layer in range(num_layers):
        layer_input = {layer_input}
        per_direction = gates * hidden_size * (layer_input + {recurrent})
        if bias:
            per_direction += {bias}
        if proj_size:
            per_direction += {proj}
        total += {total}
    return total
'''


def _np(name, layer_input="input_size if layer == 0 else directions * state", recurrent="state",
        bias="2 * gates * hidden_size", proj="proj_size * hidden_size",
        total="directions * per_direction"):
    _add("num_parameters", name, False, _NP.format(layer_input=layer_input, recurrent=recurrent,
                                                   bias=bias, proj=proj, total=total))


_np("one bias vector per gate block (b_ih only)", bias="gates * hidden_size")
_np("upper layers read H, not 2H, when bidirectional",
    layer_input="input_size if layer == 0 else state")
_np("projection: W_hh counted as (4H, H)", recurrent="hidden_size")
_np("every layer reads input_size", layer_input="input_size")
_np("second direction not counted", total="per_direction")
_np("projection: W_hr missing", proj="0")
_np("upper layers read H even with a projection",
    layer_input="input_size if layer == 0 else directions * hidden_size")

_add("num_parameters", "closed form: first layer plus (L - 1) upper layers", True, '''
def num_parameters(kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                   proj_size=0):
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    H, P, L = hidden_size, proj_size, num_layers
    R = P or H
    k = 2 if bidirectional else 1
    per = lambda d: G * H * (d + R) + 2 * G * H * int(bias) + P * H
    return k * (per(input_size) + (L - 1) * per(k * R))
''')
_add("num_parameters", "builds the torch module and sums numel() (forbidden, but right)", True, '''
def num_parameters(kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                   proj_size=0):
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    extra = {"proj_size": proj_size} if proj_size else {}
    module = layer(input_size, hidden_size, num_layers=num_layers, bias=bias,
                   bidirectional=bidirectional, **extra)
    return sum(p.numel() for p in module.parameters())
''')
_add("num_parameters", "named shapes listed like torch's named_parameters", True, '''
def num_parameters(kind, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                   proj_size=0):
    G = dict(rnn=1, lstm=4, gru=3)[kind]
    R = proj_size if proj_size > 0 else hidden_size
    shapes = []
    for layer in range(num_layers):
        d = input_size if layer == 0 else R * (1 + int(bidirectional))
        for _ in range(1 + int(bidirectional)):
            shapes += [(G * hidden_size, d), (G * hidden_size, R)]
            if bias:
                shapes += [(G * hidden_size,), (G * hidden_size,)]
            if proj_size > 0:
                shapes.append((proj_size, hidden_size))
    return int(sum(np.prod(s) for s in shapes))
''')

# ---------------------------------------------------------------------------------------------
# hidden_size_for_budget (the count is the learner's num_parameters: the solution's here)
# ---------------------------------------------------------------------------------------------
_add("hidden_size_for_budget", "strict '<': a budget equal to a count is refused", False, '''
def hidden_size_for_budget(kind, budget, input_size, num_layers=1, bias=True, bidirectional=False):
    H = 0
    while num_parameters(kind, input_size, H + 1, num_layers, bias, bidirectional) < budget:
        H += 1
    return H
''')
_add("hidden_size_for_budget", "returns the first H over the budget", False, '''
def hidden_size_for_budget(kind, budget, input_size, num_layers=1, bias=True, bidirectional=False):
    H = 1
    while num_parameters(kind, input_size, H, num_layers, bias, bidirectional) <= budget:
        H += 1
    return H
''')
_add("hidden_size_for_budget", "layers and directions not passed on to the count", False, '''
def hidden_size_for_budget(kind, budget, input_size, num_layers=1, bias=True, bidirectional=False):
    H = 0
    while num_parameters(kind, input_size, H + 1) <= budget:
        H += 1
    return H
''')
_add("hidden_size_for_budget", "bisection that returns the upper end", False, '''
def hidden_size_for_budget(kind, budget, input_size, num_layers=1, bias=True, bidirectional=False):
    low, high = 1, 2
    count = lambda H: num_parameters(kind, input_size, H, num_layers, bias, bidirectional)
    while count(high) <= budget:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if count(mid) <= budget:
            low = mid
        else:
            high = mid
    return high
''')
_add("hidden_size_for_budget", "linear scan upwards", True, '''
def hidden_size_for_budget(kind, budget, input_size, num_layers=1, bias=True, bidirectional=False):
    H = 0
    while num_parameters(kind, input_size, H + 1, num_layers=num_layers, bias=bias,
                         bidirectional=bidirectional) <= budget:
        H += 1
    return H
''')
_add("hidden_size_for_budget", "bisection on [0, budget + 1), returns a numpy int", True, '''
def hidden_size_for_budget(kind, budget, input_size, num_layers=1, bias=True, bidirectional=False):
    lo, hi = np.int64(0), np.int64(budget + 1)       # count(lo) fits (or lo = 0), count(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if num_parameters(kind, input_size, int(mid), num_layers, bias, bidirectional) <= budget:
            lo = mid
        else:
            hi = mid
    return lo
''')

# ---------------------------------------------------------------------------------------------
# time_forward_backward
# ---------------------------------------------------------------------------------------------
_TFB = '''
def time_forward_backward(module, x, repeats=10, warmup=2):
    import time as _time
    params = list(module.parameters())

    def one_pass():
        for p in params:
            p.grad = None
        start = _time.perf_counter()
        out = module(x)
        {unpack}
        out.sum().backward()
        return _time.perf_counter() - start

{body}
'''
_BODY = '''
    warmup_times = [one_pass() for _ in range(warmup)]
    times = [one_pass() for _ in range(repeats)]
    q25, q75 = np.percentile(times, [25, 75])
    return {"times": times, "warmup_times": warmup_times, "median": {median},
            "iqr": float(q75 - q25), "min": float(min(times)), "threads": torch.get_num_threads()}
'''


def _tfb(name, body=None, median="float(np.median(times))",
         unpack="out = out[0] if isinstance(out, tuple) else out"):
    body = (body or _BODY.replace("{median}", median)).strip("\n")
    _add("time_forward_backward", name, False, _TFB.format(unpack=unpack, body=body))


_tfb("no warm-up", body='''
    times = [one_pass() for _ in range(repeats)]
    q25, q75 = np.percentile(times, [25, 75])
    return {"times": times, "warmup_times": [], "median": float(np.median(times)),
            "iqr": float(q75 - q25), "min": float(min(times)), "threads": torch.get_num_threads()}
''')
_tfb("warm-up passes counted among the timed repeats", body='''
    times = [one_pass() for _ in range(warmup + repeats)]
    q25, q75 = np.percentile(times, [25, 75])
    return {"times": times, "warmup_times": times[:warmup], "median": float(np.median(times)),
            "iqr": float(q75 - q25), "min": float(min(times)), "threads": torch.get_num_threads()}
''')
_tfb("mean reported as the median", median="float(np.mean(times))")
_tfb("one measurement: total time divided by repeats", body='''
    warmup_times = [one_pass() for _ in range(warmup)]
    start = _time.perf_counter()
    for _ in range(repeats):
        one_pass()
    mean = (_time.perf_counter() - start) / repeats
    times = [mean] * repeats
    return {"times": times, "warmup_times": warmup_times, "median": mean, "iqr": 0.0,
            "min": mean, "threads": torch.get_num_threads()}
''')
_tfb("assumes the module returns a tuple", unpack="out, _ = out")
_add("time_forward_backward", "made-up durations, the module never called", False, '''
def time_forward_backward(module, x, repeats=10, warmup=2):
    rng = np.random.default_rng(0)
    times = [float(t) for t in 0.01 * (1.0 + 0.1 * rng.random(repeats))]
    q25, q75 = np.percentile(times, [25, 75])
    return {"times": times, "warmup_times": [0.02] * warmup, "median": float(np.median(times)),
            "iqr": float(q75 - q25), "min": min(times), "threads": torch.get_num_threads()}
''')
_add("time_forward_backward", "perf_counter_ns and the statistics module", True, '''
def time_forward_backward(module, x, repeats=10, warmup=2):
    import statistics
    import time as _time

    def run():
        module.zero_grad(set_to_none=True)
        t0 = _time.perf_counter_ns()
        y = module(x)
        y = y if torch.is_tensor(y) else y[0]
        y.sum().backward()
        return (_time.perf_counter_ns() - t0) * 1e-9

    warm = []
    for _ in range(warmup):
        warm.append(run())
    times = []
    for _ in range(repeats):
        times.append(run())
    return dict(times=times, warmup_times=warm, median=statistics.median(times),
                iqr=float(np.subtract(*np.percentile(times, [75, 25]))), min=min(times),
                threads=torch.get_num_threads())
''')
_add("time_forward_backward", "numpy arrays of durations, quantiles by np.quantile", True, '''
def time_forward_backward(module, x, repeats=10, warmup=2):
    from time import perf_counter

    def one():
        for p in module.parameters():
            p.grad = None
        start = perf_counter()
        out = module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        out.sum().backward()
        return perf_counter() - start

    threads = torch.get_num_threads()
    warm = np.array([one() for _ in range(warmup)])
    times = np.array([one() for _ in range(repeats)])
    q = np.quantile(times, [0.25, 0.5, 0.75])
    return {"times": times, "warmup_times": warm, "median": q[1], "iqr": q[2] - q[0],
            "min": times.min(), "threads": threads}
''')


# The variants make test grades. num_parameters and hidden_size_for_budget variants each cost a
# graded notebook of their own (the budget tests run num_parameters); the timing variants ride
# along in those notebooks. The others stay in RESERVE, checked in-process against the solution
# notebook's test cells (hidden tests included) when this file was written.
GRADED = {
    "num_parameters": [
        "one bias vector per gate block (b_ih only)",
        "upper layers read H, not 2H, when bidirectional",
        "projection: W_hh counted as (4H, H)",
        "every layer reads input_size",
        "closed form: first layer plus (L - 1) upper layers",
        "builds the torch module and sums numel() (forbidden, but right)",
    ],
    "hidden_size_for_budget": [
        "strict '<': a budget equal to a count is refused",
        "returns the first H over the budget",
        "layers and directions not passed on to the count",
        "linear scan upwards",
        "bisection on [0, budget + 1), returns a numpy int",
    ],
    "time_forward_backward": [
        "no warm-up",
        "warm-up passes counted among the timed repeats",
        "mean reported as the median",
        "one measurement: total time divided by repeats",
        "assumes the module returns a tuple",
        "made-up durations, the module never called",
        "perf_counter_ns and the statistics module",
        "numpy arrays of durations, quantiles by np.quantile",
    ],
}
