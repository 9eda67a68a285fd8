"""The sweeps of the comparison lab (lesson 05): plain RNN, LSTM and GRU side by side.

Run the whole sweep and write the results file the lesson draws its plots from::

    python -m rnnkit.experiments --out solutions/05_lstm_vs_gru/results.json   # make experiments

It runs in two parts (:func:`run_all`). First the **timing block** (:func:`timing_block`):
experiments B (speed per step, equal sizes and equal parameters, float32 and float64) and C
(time against the length T), every setting measured once per round, in a shuffled order, for
several rounds, alone on the machine; the results give the median of the rounds and the fastest
block. Then the **training runs**, each on one thread, ``--workers`` of them side by side
(default 2, one per core; results do not depend on it, only the seconds a run took): every
architecture on the adding problem, delayed recall, a^n b^n and a character language model
(:mod:`rnnkit.lm_experiment`) at every learning rate of a small grid and every seed; each
architecture's best rate is picked on a validation set (:func:`best_rates`), and the adding
problem's longer length and the small-data runs reuse it. :data:`FULL` holds the settings.

The file records the SHA-256 of the code that decides the results (:func:`code_version`, over
:data:`CODE_FILES`), the git commit and the machine (:func:`machine`); the course's tests fail
when the committed file was made by other code. ``--quick`` runs a tiny version of everything
(seconds) to try the code; ``--only-timing`` redoes the timing block alone in an existing file
(best on an idle machine). Each part is also a function the notebook can call for a small live
version: :func:`parameter_table`, :func:`timing_block`, :func:`adding_run`, :func:`recall_run`,
:func:`anbn_run`, :func:`data_size_run`, :func:`rnnkit.lm_experiment.lm_run`.

Everything uses ``torch.nn.RNN``, ``LSTM`` and ``GRU`` (with ``batch_first=True``) and the
generated tasks of :mod:`rnnkit.tasks` and :mod:`rnnkit.long_tasks`. Parameters are counted by
``sum(p.numel() for p in module.parameters())``; the hidden sizes of the matched budgets are
fixed in :data:`MATCHED` and checked against those counts. The LSTM's forget gate and the GRU's
update gate start at the same bias, :data:`KEEP_BIAS`. Times come from
``torch.utils.benchmark`` (blocks of repeats after a warm-up). NumPy implementations are not
timed here: they are the exercises of lessons 01, 03 and 04, which this package never contains.

Settings are small on purpose (hidden sizes of 32 to 70 units, at most 1,500 steps, 3 seeds),
so that the whole sweep fits a laptop CPU; the results say what such small models do on these
tasks, no more.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
import warnings
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .long_tasks import IGNORE, anbn, delayed_recall, recall_baseline
from .tasks import ADDING_BASELINE_MSE, adding_problem
from .training import progress

KINDS = ("rnn", "lstm", "gru")
_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

MATCHED = {
    2: {"lstm": 32, "gru": 37, "rnn": 65},      # adding problem and a^n b^n (2 input channels)
    10: {"lstm": 32, "gru": 37, "rnn": 69},     # delayed recall with K = 8 symbols
}
"""Hidden sizes whose recurrent layers have about the same number of parameters (within 4%),
by input size: for D = 2, LSTM 4,608, GRU 4,551, RNN 4,485; for D = 10, 5,632, 5,439, 5,589."""

SPEED_SHAPES = [
    {"N": 32, "T": 50, "D": 64, "H": {"lstm": 128, "gru": 128, "rnn": 128}, "budget": "equal sizes"},
    {"N": 32, "T": 50, "D": 64, "H": {"lstm": 128, "gru": 151, "rnn": 283}, "budget": "equal parameters"},
    {"N": 64, "T": 100, "D": 2, "H": {"lstm": 64, "gru": 64, "rnn": 64}, "budget": "equal sizes"},
    {"N": 64, "T": 100, "D": 2, "H": {"lstm": 64, "gru": 74, "rnn": 129}, "budget": "equal parameters"},
]
"""The shapes timed by :func:`speed_table`: batch N, length T, input D, hidden sizes per kind."""


def count(module: nn.Module) -> int:
    """The number of trainable numbers in a module: ``sum(p.numel())`` over its parameters."""
    return int(sum(p.numel() for p in module.parameters()))


def make_layer(kind: str, input_size: int, hidden_size: int, **kwargs) -> nn.Module:
    """``torch.nn.RNN`` / ``LSTM`` / ``GRU`` with ``batch_first=True`` (other arguments passed on)."""
    if kind not in _LAYERS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return _LAYERS[kind](input_size, hidden_size, batch_first=True, **kwargs)


class SeqNet(nn.Module):
    """A recurrent layer and a linear read-out, of the last step or of every step.

    Args:
        kind: "rnn", "lstm" or "gru".  input_size: D.  hidden_size: H.  out_size: O.
        per_step: read out every step (``(N, T, O)``) instead of the last (``(N, O)``).
        forget_bias: for an LSTM, the forget-gate bias at initialisation (``b_if`` = value,
            ``b_hf`` = 0); ``None`` keeps torch's initialisation.
        update_bias: for a GRU, the update-gate bias at initialisation (``b_iz`` = value,
            ``b_hz`` = 0; gate order r, z, n); ``None`` keeps torch's initialisation.

    Shapes: input ``(N, T, D)``; output ``(N, O)`` or ``(N, T, O)``, an output of size 1
    squeezed: ``(N,)`` or ``(N, T)``.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, out_size: int = 1,
                 per_step: bool = False, forget_bias: float | None = None,
                 update_bias: float | None = None):
        super().__init__()
        self.rnn = make_layer(kind, input_size, hidden_size)
        self.head = nn.Linear(hidden_size, out_size)
        self.per_step = per_step
        gate = {"lstm": forget_bias, "gru": update_bias}.get(kind)
        if gate is not None:               # the second block is f (LSTM: i, f, g, o) or z (GRU: r, z, n)
            H = hidden_size
            with torch.no_grad():
                self.rnn.bias_ih_l0[H:2 * H].fill_(gate)
                self.rnn.bias_hh_l0[H:2 * H].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)                                  # (N, T, H)
        y = self.head(out if self.per_step else out[:, -1])   # (N, T, O) or (N, O)
        return y.squeeze(-1) if y.shape[-1] == 1 else y


KEEP_BIAS = 1.0
"""The initial bias of the gate that keeps the state, for both gated networks: the LSTM's forget
gate (``b_if``) and the GRU's update gate (``b_iz``; in torch's GRU, ``z`` keeps and ``1 - z``
writes). Both start keeping ``sigmoid(1) = 0.73`` of their state per step (Gers et al. 2000 and
Jozefowicz et al. 2015 for the LSTM; the GRU's counterpart is the same bias on ``z``)."""


def build(kind: str, input_size: int, out_size: int = 1, per_step: bool = False,
          hidden_size: int | None = None, keep_bias: float | None = KEEP_BIAS) -> SeqNet:
    """A :class:`SeqNet` at the matched budget of :data:`MATCHED`; the LSTM's forget gate and
    the GRU's update gate start at ``keep_bias`` (``None``: torch's initialisation for both)."""
    H = hidden_size or MATCHED[input_size][kind]
    return SeqNet(kind, input_size, H, out_size, per_step,
                  forget_bias=keep_bias if kind == "lstm" else None,
                  update_bias=keep_bias if kind == "gru" else None)


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------
PARAM_CONFIGS = [
    dict(input_size=2, hidden_size=32),
    dict(input_size=64, hidden_size=128),
    dict(input_size=64, hidden_size=128, bias=False),
    dict(input_size=300, hidden_size=512),
    dict(input_size=64, hidden_size=128, num_layers=2),
    dict(input_size=64, hidden_size=128, num_layers=2, bidirectional=True),
    dict(input_size=64, hidden_size=128, proj_size=64),
]


def parameter_table(configs=PARAM_CONFIGS) -> list[dict]:
    """Parameter counts of ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` built with each configuration.

    Returns one row per configuration: the configuration, the counts (``None`` where torch
    refuses it: ``proj_size`` exists only for the LSTM) and the ratio GRU / LSTM.
    """
    rows = []
    for cfg in configs:
        cfg = dict(cfg)
        row = {"config": cfg}
        for kind in KINDS:
            try:
                row[kind] = count(_LAYERS[kind](**cfg))
            except ValueError:
                row[kind] = None
        row["gru/lstm"] = row["gru"] / row["lstm"] if row["gru"] else None
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def onednn(enabled: bool):
    """Switch oneDNN (MKL-DNN, which holds torch's fused float32 CPU LSTM) on or off inside a
    ``with`` block, silencing the warning torch prints about TF32 on Intel GPUs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.backends.mkldnn.flags(enabled=enabled):
            yield


def time_module(module: nn.Module, x: torch.Tensor, min_run_time: float = 0.4,
                use_onednn: bool = True) -> dict:
    """Median, interquartile range and fastest block, in milliseconds, of one forward+backward.

    On a shared machine the fastest block (``min_ms``) is the best estimate of the undisturbed
    cost; the median and its spread say how much other programs disturbed the measurement.

    Uses ``torch.utils.benchmark.Timer.blocked_autorange`` (it warms up, then times blocks of
    calls for at least ``min_run_time`` seconds). ``use_onednn=False`` switches off oneDNN (MKL-DNN),
    which holds torch's fused CPU LSTM kernel.
    """
    from torch.utils import benchmark

    def step():
        module.zero_grad(set_to_none=True)
        out = module(x)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()

    with onednn(use_onednn):
        step()                                                # warm-up
        timer = benchmark.Timer(stmt="step()", globals={"step": step},
                                num_threads=torch.get_num_threads())
        m = timer.blocked_autorange(min_run_time=min_run_time)
    return {"median_ms": 1e3 * m.median, "iqr_ms": 1e3 * m.iqr, "min_ms": 1e3 * min(m.times),
            "runs": len(m.times)}


def _timed_settings(shapes, dtypes, lengths, N: int, D: int, H: int):
    """The settings of experiments B (``shapes`` x ``dtypes`` x kinds) and C (``lengths``),
    keyed so that a setting two rows name (the LSTM of an equal-size and an equal-parameter row;
    the shape of B that C also times) is one setting, measured once per round.

    Returns ``(b_rows, c_rows)``: lists of ``(key, row)``; a key is
    ``(what, dtype, onednn, N, T, D, H)`` with ``what`` a kind or ``"input projection"``.
    """
    b_rows, c_rows = [], []
    for shape in shapes:
        for dtype in dtypes:
            for kind in KINDS:
                fused = (True, False) if dtype == "float32" and kind in ("lstm", "gru") else (True,)
                for use in fused:
                    Hk = shape["H"][kind]
                    key = (kind, dtype, use, shape["N"], shape["T"], shape["D"], Hk)
                    b_rows.append((key, {"kind": kind, "dtype": dtype, "onednn": use,
                                         "N": shape["N"], "T": shape["T"], "D": shape["D"],
                                         "H": Hk, "budget": shape["budget"]}))
    for T in lengths:
        for what in ("lstm", "gru", "input projection"):
            key = (what, "float32", True, N, T, D, H)
            c_rows.append((key, {"what": what, "T": T, "N": N, "D": D, "H": H}))
    return b_rows, c_rows


def _timed_module(key, seed: int = 0):
    """The module and input of a setting key: ``nn.RNN``/``LSTM``/``GRU`` ``(D -> H)`` or the
    input projection ``nn.Linear(D, 4H)``, with an input ``(N, T, D)`` of the key's dtype."""
    what, dtype, _, N, T, D, H = key
    torch.manual_seed(seed)
    tdtype = getattr(torch, dtype)
    module = nn.Linear(D, 4 * H) if what == "input projection" else make_layer(what, D, H)
    return module.to(tdtype), torch.randn(N, T, D, dtype=tdtype)


def timing_block(shapes=SPEED_SHAPES, lengths=(25, 50, 100, 200), dtypes=("float32", "float64"),
                 rounds: int = 5, min_run_time: float = 0.25, N: int = 32, D: int = 64,
                 H: int = 128, seed: int = 0, show_progress: bool = True) -> dict:
    """Experiments B and C measured in one interleaved block.

    B: forward+backward time of ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` for each shape of
    ``shapes`` and each dtype (in float32 the LSTM and the GRU also with oneDNN switched off).
    C: forward+backward time against the length T (float32) of ``nn.LSTM``, ``nn.GRU`` of
    sizes ``(D, H)`` on batches of ``N``, and of the LSTM's input projection ``nn.Linear(D, 4H)``
    applied to all T steps at once (the work that does not wait for the previous step).

    Every distinct setting is measured once per round with :func:`time_module`, in a shuffled
    order (seeded), ``rounds`` times: a disturbance from another program hits one round of a
    setting, not every setting of one experiment. Per setting:
    ``median_ms``: the median of the rounds' medians; ``min_ms``: the fastest block of all
    rounds (the best estimate of the undisturbed cost); ``iqr_ms``: the interquartile range of
    the rounds' medians (how much the rounds disagree); ``round_median_ms``: each round's median.

    Returns ``{"speed": rows of B, "speed_vs_T": rows of C, "rounds": rounds,
    "min_run_time": min_run_time, "settings_measured": number of distinct settings}``;
    a row of B has kind, dtype, onednn, N, T, D, H, budget, params and the times; a row of C has
    what, T, N, D, H, the times, and ``ms_per_step`` (median / T) and ``min_ms_per_step``.
    """
    b_rows, c_rows = _timed_settings(shapes, dtypes, lengths, N, D, H)
    keys = list(dict.fromkeys(k for k, _ in b_rows + c_rows))
    built = {k: _timed_module(k, seed) for k in keys}
    medians = {k: [] for k in keys}
    mins = {k: [] for k in keys}
    order_rng = np.random.default_rng(seed)
    jobs = [(r, k) for r in range(rounds) for k in
            (keys[i] for i in order_rng.permutation(len(keys)))]
    bar = progress(jobs, desc=f"timing, {rounds} rounds") if show_progress else jobs
    for _, key in bar:
        module, x = built[key]
        t = time_module(module, x, min_run_time=min_run_time, use_onednn=key[2])
        medians[key].append(t["median_ms"])
        mins[key].append(t["min_ms"])

    def times(key):
        m = np.asarray(medians[key])
        q25, q75 = np.percentile(m, [25, 75])
        return {"median_ms": float(np.median(m)), "iqr_ms": float(q75 - q25),
                "min_ms": float(min(mins[key])), "round_median_ms": [float(v) for v in m],
                "rounds": len(m)}

    speed = [{**row, "params": count(built[key][0]), **times(key)} for key, row in b_rows]
    vs_T = []
    for key, row in c_rows:
        t = times(key)
        vs_T.append({**row, **t, "ms_per_step": t["median_ms"] / row["T"],
                     "min_ms_per_step": t["min_ms"] / row["T"]})
    return {"speed": speed, "speed_vs_T": vs_T, "rounds": rounds, "min_run_time": min_run_time,
            "settings_measured": len(keys)}


def speed_table(shapes=SPEED_SHAPES, dtypes=("float32", "float64"), min_run_time: float = 0.4,
                seed: int = 0, rounds: int = 1, show_progress: bool = True) -> list[dict]:
    """Experiment B alone (the rows of :func:`timing_block` with no lengths)."""
    return timing_block(shapes, (), dtypes, rounds=rounds, min_run_time=min_run_time, seed=seed,
                        show_progress=show_progress)["speed"]


def speed_vs_length(lengths=(25, 50, 100, 200), N: int = 32, D: int = 64, H: int = 128,
                    min_run_time: float = 0.3, rounds: int = 1,
                    show_progress: bool = True) -> list[dict]:
    """Experiment C alone (the rows of :func:`timing_block` with no shapes)."""
    return timing_block((), lengths, rounds=rounds, min_run_time=min_run_time, N=N, D=D, H=H,
                        show_progress=show_progress)["speed_vs_T"]


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def train(model: nn.Module, batch_fn: Callable, loss_fn: Callable, evaluate: Callable,
          steps: int, lr: float = 1e-2, clip: float = 1.0, eval_every: int = 50,
          seed: int = 0, desc: str = "training", show_progress: bool = True) -> dict:
    """Adam with clipping by global norm; ``evaluate()`` (a dict of floats) every ``eval_every``
    steps and at the end.

    Returns ``{"eval_step": [...], <metric>: [...] for each metric, "train_loss": [...]
    (mean over each eval interval), "seconds": wall time, "ms_per_step": ...}``.
    """
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict = {"eval_step": [], "train_loss": []}
    running = []
    start = time.perf_counter()
    steps_iter = range(1, steps + 1)
    bar = progress(steps_iter, desc=desc, leave=False) if show_progress else steps_iter
    for step in bar:
        model.train()
        x, y = batch_fn(step)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        running.append(loss.item())
        if step % eval_every == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                metrics = evaluate()
            hist["eval_step"].append(step)
            hist["train_loss"].append(float(np.mean(running)))
            running = []
            for k, v in metrics.items():
                hist.setdefault(k, []).append(float(v))
    hist["seconds"] = time.perf_counter() - start
    hist["ms_per_step"] = 1e3 * hist["seconds"] / steps
    return hist


def _mse(pred, y):
    return torch.mean((pred - y) ** 2)


def adding_run(kind: str, T: int, steps: int, seed: int = 0, batch_size: int = 64,
               n_test: int = 500, n_train: int | None = None, lr: float = 1e-2,
               eval_every: int = 50, n_val: int | None = None, show_progress: bool = True) -> dict:
    """Train a matched-budget net on the adding problem of length T; MSE over training.

    ``n_train=None`` draws a fresh batch every step (unlimited data); an int fixes a training
    set of that many sequences, sampled in batches (small data), and also records the MSE on it.
    Records ``"test_mse"`` on a test set of ``n_test`` sequences and ``"val_mse"`` on a separate
    validation set of ``n_val`` (default ``n_test``): a learning-rate sweep picks its rate on the
    validation set and reports the test set.
    """
    torch.manual_seed(seed)
    model = build(kind, 2)
    x_test, y_test = (torch.from_numpy(a) for a in adding_problem(n_test, T, seed=10_000 + seed))
    x_val, y_val = (torch.from_numpy(a)
                    for a in adding_problem(n_val or n_test, T, seed=30_000 + seed))
    rng = np.random.default_rng(seed)
    if n_train is not None:
        x_tr, y_tr = (torch.from_numpy(a) for a in adding_problem(n_train, T, seed=20_000 + seed))

    def batch_fn(step):
        if n_train is None:
            x, y = adding_problem(batch_size, T, seed=rng)
            return torch.from_numpy(x), torch.from_numpy(y)
        idx = torch.from_numpy(rng.integers(0, n_train, size=min(batch_size, n_train)))
        return x_tr[idx], y_tr[idx]

    def evaluate():
        out = {"test_mse": _mse(model(x_test), y_test).item(),
               "val_mse": _mse(model(x_val), y_val).item()}
        if n_train is not None:
            out["train_mse"] = _mse(model(x_tr), y_tr).item()
        return out

    return train(model, batch_fn, _mse, evaluate, steps, lr=lr, eval_every=eval_every,
                 seed=seed, desc=f"adding {kind} T={T} seed {seed}", show_progress=show_progress)


def recall_run(kind: str, T: int, steps: int, seed: int = 0, K: int = 8, batch_size: int = 64,
               n_test: int = 500, lr: float = 1e-2, eval_every: int = 50,
               n_val: int | None = None, show_progress: bool = True) -> dict:
    """Train a matched-budget net on :func:`rnnkit.long_tasks.delayed_recall` (delay T - 1).

    Records ``"test_ce"``, ``"test_acc"`` on ``n_test`` sequences and ``"val_ce"``,
    ``"val_acc"`` on a separate validation set of ``n_val`` (default ``n_test``).
    """
    torch.manual_seed(seed)
    model = build(kind, K + 2, out_size=K)
    x_test, y_test = (torch.from_numpy(a) for a in delayed_recall(n_test, T, K, seed=10_000 + seed))
    x_val, y_val = (torch.from_numpy(a)
                    for a in delayed_recall(n_val or n_test, T, K, seed=30_000 + seed))
    rng = np.random.default_rng(seed)

    def batch_fn(step):
        x, y = delayed_recall(batch_size, T, K, seed=rng)
        return torch.from_numpy(x), torch.from_numpy(y)

    def evaluate():
        out = {}
        for name, x, y in (("test", x_test, y_test), ("val", x_val, y_val)):
            logits = model(x)
            out[f"{name}_ce"] = F.cross_entropy(logits, y).item()
            out[f"{name}_acc"] = (logits.argmax(-1) == y).float().mean().item()
        return out

    return train(model, batch_fn, F.cross_entropy, evaluate, steps, lr=lr, eval_every=eval_every,
                 seed=seed, desc=f"recall {kind} T={T} seed {seed}", show_progress=show_progress)


def anbn_correct(model: nn.Module, ns) -> np.ndarray:
    """For each n in ``ns``: 1.0 if every scored prediction on a^n b^n is right, else 0.0."""
    x, y = anbn(ns)
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(-1).numpy()     # (N, L)
    scored = y != IGNORE
    return np.all((pred == y) | ~scored, axis=1).astype(np.float64)


def anbn_run(kind: str, steps: int, seed: int = 0, n_train_max: int = 20,
             n_test_max: int = 60, batch_size: int = 32, lr: float = 1e-2,
             eval_every: int = 100, show_progress: bool = True) -> dict:
    """Train a matched-budget net to predict a^n b^n for n <= ``n_train_max``, then test every
    n up to ``n_test_max``.

    Adds to the history: ``"correct_by_n"`` (1/0 per n = 1..n_test_max, the whole string right)
    and ``"generalises_to"``: the largest n such that every string up to it is right.
    """
    torch.manual_seed(seed)
    model = build(kind, 2, out_size=2, per_step=True)
    rng = np.random.default_rng(seed)
    train_ns = np.arange(1, n_train_max + 1)

    def batch_fn(step):
        x, y = anbn(rng.integers(1, n_train_max + 1, size=batch_size))
        return torch.from_numpy(x), torch.from_numpy(y)

    def loss_fn(logits, y):
        return F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), ignore_index=IGNORE)

    def evaluate():
        return {"train_range_correct": float(anbn_correct(model, train_ns).mean())}

    hist = train(model, batch_fn, loss_fn, evaluate, steps, lr=lr, eval_every=eval_every,
                 seed=seed, desc=f"a^n b^n {kind} seed {seed}", show_progress=show_progress)
    model.eval()
    correct = anbn_correct(model, np.arange(1, n_test_max + 1))
    wrong = np.flatnonzero(correct < 1)
    hist["correct_by_n"] = correct.tolist()
    hist["generalises_to"] = int(wrong[0]) if wrong.size else n_test_max
    return hist


def data_size_run(kind: str, n_train: int, steps: int, seed: int = 0, T: int = 30,
                  **kwargs) -> dict:
    """:func:`adding_run` on a fixed training set of ``n_train`` sequences."""
    return adding_run(kind, T, steps, seed=seed, n_train=n_train, **kwargs)


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------
FULL = dict(
    seeds=(0, 1, 2), lrs=(1e-3, 3e-3, 1e-2, 3e-2),
    recall_T=(20, 40), recall_steps=1500, recall_lrs=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    adding_T=(50, 100), adding_sweep_T=(50,), adding_steps=1000,
    data_sizes=(100, 2000), data_steps=1000, data_T=30,
    anbn_steps=1500, anbn_lrs=(1e-3, 3e-3, 1e-2, 3e-2),
    lm_steps=600, lm_lrs=(3e-3, 1e-2, 3e-2), lm_kinds=("lstm", "gru"),
    timing_rounds=7, min_run_time=0.25, lengths=(25, 50, 100, 200), workers=2)
"""The settings of ``make experiments`` (about 20 minutes on 2 cores, 2 workers). Learning rates:
every architecture is trained at each rate of ``recall_lrs`` (delayed recall), ``lrs`` (the adding
problem at ``adding_sweep_T``), ``anbn_lrs`` (a^n b^n) and ``lm_lrs`` (the character language
model, peak rates of a cosine decay), with every seed; its best rate (lowest median final
validation loss over the seeds, :data:`SELECT_BY`) is reported as its result. A best rate at
the edge of its grid means a better one may lie beyond it (the lesson's tables show where). The
adding problem at the other lengths of ``adding_T`` and the small-data runs use
each architecture's best adding rate."""

QUICK = dict(
    seeds=(0,), lrs=(1e-3, 1e-2), recall_T=(6,), recall_steps=20, recall_lrs=(1e-3, 1e-2),
    adding_T=(6, 8), adding_sweep_T=(6,), adding_steps=20, data_sizes=(20,), data_steps=20,
    data_T=6, anbn_steps=20, anbn_lrs=(1e-2,), lm_steps=4, lm_lrs=(3e-3,),
    lm_kinds=("lstm", "gru"), lm_max_chars=20_000, timing_rounds=2, min_run_time=0.02,
    lengths=(10, 20), timing_shapes="tiny", workers=1)
"""A tiny version of :data:`FULL` to try the code (seconds)."""

TINY_SHAPES = [
    {"N": 4, "T": 6, "D": 3, "H": {"lstm": 8, "gru": 9, "rnn": 16}, "budget": "equal parameters"},
    {"N": 4, "T": 6, "D": 3, "H": {"lstm": 8, "gru": 8, "rnn": 8}, "budget": "equal sizes"},
]

SELECT_BY = {"adding": "val_mse", "recall": "val_ce", "anbn": "train_loss", "lm": "val_ce"}
"""The final value (lower is better) that picks each architecture's best learning rate: a
validation set, never the test set the results report (a^n b^n draws fresh training strings at
every step, so its training loss is an in-distribution estimate)."""

CODE_FILES = ("experiments.py", "lm_experiment.py", "tasks.py", "long_tasks.py",
              "data/tiny_shakespeare.txt")
"""The files of ``rnnkit`` whose content decides the results: their SHA-256 is recorded."""


def _strip(hist: dict) -> dict:
    return {k: v for k, v in hist.items() if k != "model"}


def run_job(job: dict) -> dict:
    """One training run of the sweep: ``job`` names the task ("adding", "recall", "anbn",
    "data" or "lm"), kind, arg (T, n_train or None), lr, seed and steps (and T for "data").
    Returns the job's fields and the run's history."""
    torch.set_num_threads(1)
    task, kind, arg = job["task"], job["kind"], job["arg"]
    common = dict(seed=job["seed"], lr=job["lr"], show_progress=False)
    if task == "adding":
        h = adding_run(kind, arg, job["steps"], **common)
    elif task == "recall":
        h = recall_run(kind, arg, job["steps"], **common)
    elif task == "anbn":
        h = anbn_run(kind, job["steps"], **common)
    elif task == "data":
        h = data_size_run(kind, arg, job["steps"], T=job["T"], **common)
    elif task == "lm":
        from .lm_experiment import lm_run
        h = lm_run(kind, job["steps"], max_chars=job.get("max_chars"), **common)
    else:
        raise ValueError(f"unknown task {task!r}")
    return {**job, **_strip(h)}


def _cost(job: dict) -> float:
    """A rough relative cost, to start the longest runs first (float32 GRU steps are slow)."""
    length = {"lm": 64, "anbn": 40, "data": job.get("T", 30)}.get(job["task"], job["arg"] or 30)
    return job["steps"] * length * {"rnn": 1.0, "lstm": 0.8, "gru": 3.5}[job["kind"]]


def _worker_init():
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")


def run_jobs(jobs: list[dict], workers: int = 1, then: Callable | None = None,
             desc: str = "training runs") -> list[dict]:
    """Run ``jobs`` with :func:`run_job`, each on one thread, in ``workers`` processes.

    ``then(done)``, if given, is called once every job of ``jobs`` whose ``"gate"`` is true has
    finished, with their results; the jobs it returns are run too. Returns every result, in the
    order the jobs were given (the added ones last).
    """
    jobs = [dict(j) for j in jobs]
    gated = [i for i, j in enumerate(jobs) if j.pop("gate", False)]
    if workers <= 1:
        results = []
        bar = progress(total=len(jobs), desc=desc, iterable=None)
        for j in jobs:
            results.append(run_job(j))
            bar.update()
        if then is not None:
            extra = then([results[i] for i in gated])
            bar.total += len(extra)
            for j in extra:
                results.append(run_job(j))
                bar.update()
        bar.close()
        return results

    import concurrent.futures as cf
    import multiprocessing
    from . import experiments as this          # a module the workers import by name
    order = sorted(range(len(jobs)), key=lambda i: (i not in gated, -_cost(jobs[i])))
    bar = progress(total=len(jobs), desc=f"{desc} ({workers} processes)", iterable=None)
    results: dict = {}
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_worker_init) as pool:
        futures = {pool.submit(this.run_job, jobs[i]): i for i in order}
        pending, extra_start = set(futures), len(jobs)
        while pending:
            finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for f in finished:
                results[futures[f]] = f.result()
                bar.update()
            if then is not None and all(i in results for i in gated):
                extra = then([results[i] for i in gated])
                bar.total += len(extra)
                for k in sorted(range(len(extra)), key=lambda k: -_cost(extra[k])):
                    f = pool.submit(this.run_job, extra[k])
                    futures[f] = extra_start + k
                    pending.add(f)
                then = None
    bar.close()
    return [results[i] for i in sorted(results)]


def best_rates(runs: list[dict], task: str) -> dict:
    """Each architecture's best learning rate per setting: the rate whose final
    :data:`SELECT_BY` value has the lowest median over the seeds (NaN counts as infinite).

    Returns ``{str(arg): {kind: lr}}``.
    """
    key = SELECT_BY[task]
    finals: dict = {}
    for r in runs:
        v = r[key][-1]
        finals.setdefault((str(r["arg"]), r["kind"]), {}).setdefault(r["lr"], []).append(
            np.inf if not np.isfinite(v) else v)
    best: dict = {}
    for (arg, kind), by_lr in finals.items():
        best.setdefault(arg, {})[kind] = min(sorted(by_lr), key=lambda lr: np.median(by_lr[lr]))
    return best


def _sweep_jobs(task, kinds, args, lrs, seeds, steps, **extra) -> list[dict]:
    return [{"task": task, "kind": kind, "arg": arg, "lr": lr, "seed": seed, "steps": steps,
             **extra}
            for arg in args for kind in kinds for lr in lrs for seed in seeds]


def source_digest() -> dict:
    """The SHA-256 of each file of :data:`CODE_FILES` (``"files"``) and one SHA-256 of them all
    (``"sha256"``: of the lines ``"<file> <sha256>\\n"`` in that order)."""
    import hashlib
    from pathlib import Path
    here = Path(__file__).resolve().parent
    files = {name: hashlib.sha256((here / name).read_bytes()).hexdigest() for name in CODE_FILES}
    total = hashlib.sha256("".join(f"{n} {h}\n" for n, h in files.items()).encode()).hexdigest()
    return {"sha256": total, "files": files}


def code_version() -> dict:
    """:func:`source_digest`, and the git commit of the working tree if git answers, with
    ``"git_dirty"``: whether the files of :data:`CODE_FILES` differ from that commit."""
    import subprocess
    from pathlib import Path
    here = Path(__file__).resolve().parent
    commit, dirty = None, None
    try:
        git = ["git", "-C", str(here)]
        commit = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip() or None
        status = subprocess.run(git + ["status", "--porcelain", "--", *CODE_FILES],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        dirty = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {**source_digest(), "git_commit": commit, "git_dirty": dirty}


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs of /proc/cpuinfo; None where it cannot be read."""
    try:
        pairs, phys = set(), "0"
        for line in open("/proc/cpuinfo"):
            if line.startswith("physical id"):
                phys = line.split(":", 1)[1].strip()
            elif line.startswith("core id"):
                pairs.add((phys, line.split(":", 1)[1].strip()))
        return len(pairs) or None
    except OSError:
        return None


def machine(workers: int = 1) -> dict:
    """The machine and software: CPU name, physical cores, logical CPUs, torch threads per run,
    parallel runs (``workers``), versions, date."""
    import os
    return {"cpu": _cpu_name(), "physical_cores": _physical_cores(),
            "logical_cpus": os.cpu_count(), "threads_per_run": torch.get_num_threads(),
            "parallel_runs": workers, "platform": platform.platform(),
            "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}


def run_all(cfg: dict = FULL, workers: int | None = None) -> dict:
    """Every experiment of the lab with the settings ``cfg``; a dict ready for JSON.

    First the timings (:func:`timing_block`, alone on the machine), then every training run in
    ``workers`` processes of one thread each (default ``cfg["workers"]``): the sweeps, then the
    runs at each architecture's best adding rate.
    """
    from .lm_experiment import LM_HIDDEN
    workers = cfg.get("workers", 1) if workers is None else workers
    start = time.perf_counter()
    torch.set_num_threads(1)
    out = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
           "code": code_version(), "machine": machine(workers),
           "matched_hidden_sizes": {str(d): sizes for d, sizes in MATCHED.items()},
           "matched_params": {str(d): {k: count(make_layer(k, d, h)) for k, h in sizes.items()}
                              for d, sizes in MATCHED.items()},
           "lm_hidden_sizes": dict(LM_HIDDEN),
           "baselines": {"adding_mse": ADDING_BASELINE_MSE, "recall": recall_baseline(8)},
           "training": {"optimizer": "Adam", "clip": 1.0, "batch_size": 64, "dtype": "float32",
                        "lstm_forget_bias": KEEP_BIAS, "gru_update_bias": KEEP_BIAS,
                        "threads_per_run": 1, "parallel_runs": workers,
                        "lm": {"batch_size": 32, "T": 64, "schedule": "cosine to 0",
                               "held_out_chars": 10_000}}}
    out["settings"]["workers"] = workers
    out["parameters"] = parameter_table()
    shapes = TINY_SHAPES if cfg.get("timing_shapes") == "tiny" else SPEED_SHAPES
    part = time.perf_counter()
    timing = timing_block(shapes, cfg["lengths"], rounds=cfg["timing_rounds"],
                          min_run_time=cfg["min_run_time"])
    out["speed"], out["speed_vs_T"] = timing["speed"], timing["speed_vs_T"]
    out["timing"] = {k: timing[k] for k in ("rounds", "min_run_time", "settings_measured")}
    out["part_seconds"] = {"timing": time.perf_counter() - part}

    seeds = cfg["seeds"]
    sweep = _sweep_jobs("adding", KINDS, cfg["adding_sweep_T"], cfg["lrs"], seeds,
                        cfg["adding_steps"], gate=True)
    sweep += _sweep_jobs("recall", KINDS, cfg["recall_T"], cfg["recall_lrs"], seeds,
                         cfg["recall_steps"])
    sweep += _sweep_jobs("anbn", KINDS, [None], cfg["anbn_lrs"], seeds, cfg["anbn_steps"])
    sweep += _sweep_jobs("lm", cfg["lm_kinds"], [None], cfg["lm_lrs"], seeds, cfg["lm_steps"],
                         **({"max_chars": cfg["lm_max_chars"]} if cfg.get("lm_max_chars") else {}))
    longest = str(max(cfg["adding_sweep_T"]))

    def at_best_adding_rate(adding_runs):
        best = best_rates(adding_runs, "adding")[longest]
        jobs = []
        for kind in KINDS:
            for T in cfg["adding_T"]:
                if T not in cfg["adding_sweep_T"]:
                    jobs += _sweep_jobs("adding", [kind], [T], [best[kind]], seeds,
                                        cfg["adding_steps"])
            jobs += _sweep_jobs("data", [kind], cfg["data_sizes"], [best[kind]], seeds,
                                cfg["data_steps"], T=cfg["data_T"])
        return jobs

    part = time.perf_counter()
    done = run_jobs(sweep, workers, then=at_best_adding_rate)
    out["part_seconds"]["training"] = time.perf_counter() - part
    by_task: dict = {}
    for r in done:
        by_task.setdefault(r["task"], []).append(r)
    out["part_seconds"]["run_seconds_by_task"] = {t: sum(r["seconds"] for r in rs)
                                                  for t, rs in by_task.items()}
    sweep_tasks = {"adding": [r for r in by_task["adding"] if r["arg"] in cfg["adding_sweep_T"]],
                   "recall": by_task["recall"], "anbn": by_task["anbn"], "lm": by_task["lm"]}
    out["sweeps"] = sweep_tasks
    out["best_lr"] = {task: best_rates(rs, task) for task, rs in sweep_tasks.items()}

    def at_best(task, rs):
        best = out["best_lr"][task]
        return [r for r in rs if r["lr"] == best[str(r["arg"])][r["kind"]]]

    out["runs"] = {
        "adding": at_best("adding", sweep_tasks["adding"])
        + [r for r in by_task["adding"] if r["arg"] not in cfg["adding_sweep_T"]],
        "recall": at_best("recall", by_task["recall"]),
        "anbn": at_best("anbn", by_task["anbn"]),
        "data": by_task.get("data", []),
        "lm": at_best("lm", by_task["lm"]),
    }
    env = out["machine"]
    out["environment"] = {"torch": env["torch"], "numpy": env["numpy"], "threads": 1,
                          "machine": platform.machine(), "processor": env["cpu"],
                          "python": env["python"], "date": time.strftime("%Y-%m-%d")}
    out["seconds"] = time.perf_counter() - start
    return out


def _write(result: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write the results (JSON)")
    parser.add_argument("--quick", action="store_true", help="a tiny run to try the code")
    parser.add_argument("--workers", type=int, default=None,
                        help="training runs side by side, one thread each (default: 2, "
                             "or 1 with --quick)")
    parser.add_argument("--only-timing", action="store_true",
                        help="redo only the timings (speed, speed_vs_T) in an existing --out file")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.only_timing:
        start = time.perf_counter()
        torch.set_num_threads(1)
        with open(args.out) as f:
            result = json.load(f)
        shapes = TINY_SHAPES if cfg.get("timing_shapes") == "tiny" else SPEED_SHAPES
        timing = timing_block(shapes, cfg["lengths"], rounds=cfg["timing_rounds"],
                              min_run_time=cfg["min_run_time"])
        result["speed"], result["speed_vs_T"] = timing["speed"], timing["speed_vs_T"]
        result["timing"] = {k: timing[k] for k in ("rounds", "min_run_time", "settings_measured")}
        result["timing_only"] = {"code": code_version(), "machine": machine(1),
                                 "seconds": time.perf_counter() - start}
        _write(result, args.out)
        print(f"updated the timings in {args.out} in {result['timing_only']['seconds']:.0f} s")
        return 0
    result = run_all(cfg, workers=args.workers)
    _write(result, args.out)
    minutes, seconds = divmod(result["seconds"], 60)
    m = result["machine"]
    print(f"wrote {args.out}: the sweep took {int(minutes)} min {seconds:.0f} s on {m['cpu']} "
          f"({m['physical_cores']} cores, {m['logical_cpus']} logical CPUs), "
          f"{m['parallel_runs']} run(s) at a time, one thread each; "
          f"timing {result['part_seconds']['timing']:.0f} s, "
          f"training {result['part_seconds']['training']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
