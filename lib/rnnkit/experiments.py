"""The sweeps of the comparison lab (lesson 05): plain RNN, LSTM and GRU side by side.

Run the whole sweep (about 15 minutes on 2 CPU cores) and write the results file the lesson
draws its plots from::

    python -m rnnkit.experiments --out solutions/05_lstm_vs_gru/results.json

``--quick`` runs a tiny version of everything (a minute) to try the code; ``--only-timing``
redoes the timings alone in an existing results file (two minutes; best on an idle machine). Each part is also a
function the notebook calls for its small live version: :func:`parameter_table`,
:func:`speed_table`, :func:`speed_vs_length`, :func:`adding_run`, :func:`recall_run`,
:func:`anbn_run`, :func:`data_size_run`.

Everything uses ``torch.nn.RNN``, ``LSTM`` and ``GRU`` (with ``batch_first=True``) and the
generated tasks of :mod:`rnnkit.tasks` and :mod:`rnnkit.long_tasks`. Parameters are counted by
``sum(p.numel() for p in module.parameters())``; the hidden sizes of the matched budgets are
fixed in :data:`MATCHED` and checked against those counts. Times come from
``torch.utils.benchmark`` (median and interquartile range over blocks of repeats, after a
warm-up). NumPy implementations are not timed here: they are the exercises of lessons 01, 03
and 04, which this package never contains.

Settings are small on purpose (hidden sizes of 32 to 70 units, 1,000 to 2,000 steps, 3
seeds), so that the whole sweep fits a laptop CPU; the results say what such small models do
on these tasks, no more.
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

    An output of size 1 is squeezed: ``(N,)`` or ``(N, T)``.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, out_size: int = 1,
                 per_step: bool = False, forget_bias: float | None = None):
        super().__init__()
        self.rnn = make_layer(kind, input_size, hidden_size)
        self.head = nn.Linear(hidden_size, out_size)
        self.per_step = per_step
        if forget_bias is not None and kind == "lstm":
            H = hidden_size
            with torch.no_grad():
                self.rnn.bias_ih_l0[H:2 * H].fill_(forget_bias)
                self.rnn.bias_hh_l0[H:2 * H].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)                                  # (N, T, H)
        y = self.head(out if self.per_step else out[:, -1])   # (N, T, O) or (N, O)
        return y.squeeze(-1) if y.shape[-1] == 1 else y


def build(kind: str, input_size: int, out_size: int = 1, per_step: bool = False,
          hidden_size: int | None = None, forget_bias: float = 1.0) -> SeqNet:
    """A :class:`SeqNet` at the matched budget of :data:`MATCHED` (LSTMs get ``forget_bias``)."""
    H = hidden_size or MATCHED[input_size][kind]
    return SeqNet(kind, input_size, H, out_size, per_step,
                  forget_bias=forget_bias if kind == "lstm" else None)


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


def speed_table(shapes=SPEED_SHAPES, dtypes=("float32", "float64"), min_run_time: float = 0.4,
                seed: int = 0, show_progress: bool = True) -> list[dict]:
    """Forward+backward time of ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` for each shape and dtype.

    In float32 the LSTM is also timed with oneDNN switched off (``onednn: False``).
    Returns one row per measurement: kind, dtype, shape, hidden size, parameter count, time.
    """
    jobs = []
    for shape in shapes:
        for dtype in dtypes:
            for kind in KINDS:
                jobs.append((shape, dtype, kind, True))
                if dtype == "float32" and kind in ("lstm", "gru"):
                    jobs.append((shape, dtype, kind, False))
    rows = []
    bar = progress(jobs, desc="timing") if show_progress else jobs
    for shape, dtype, kind, use in bar:
        torch.manual_seed(seed)
        tdtype = getattr(torch, dtype)
        H = shape["H"][kind]
        module = make_layer(kind, shape["D"], H).to(tdtype)
        x = torch.randn(shape["N"], shape["T"], shape["D"], dtype=tdtype)
        t = time_module(module, x, min_run_time=min_run_time, use_onednn=use)
        rows.append({"kind": kind, "dtype": dtype, "onednn": use, "N": shape["N"],
                     "T": shape["T"], "D": shape["D"], "H": H, "budget": shape["budget"],
                     "params": count(module), **t})
    return rows


def speed_vs_length(lengths=(25, 50, 100, 200), N: int = 32, D: int = 64, H: int = 128,
                    min_run_time: float = 0.3, show_progress: bool = True) -> list[dict]:
    """Forward+backward time against the sequence length T (float32), for ``nn.LSTM``,
    ``nn.GRU``, and the LSTM's input projection ``nn.Linear(D, 4H)`` applied to all T steps at
    once (the part of the work that does not wait for the previous step)."""
    rows = []
    jobs = [(T, what) for T in lengths for what in ("lstm", "gru", "input projection")]
    bar = progress(jobs, desc="time against T") if show_progress else jobs
    for T, what in bar:
        torch.manual_seed(0)
        module = nn.Linear(D, 4 * H) if what == "input projection" else make_layer(what, D, H)
        x = torch.randn(N, T, D)
        t = time_module(module, x, min_run_time=min_run_time)
        rows.append({"what": what, "T": T, "N": N, "D": D, "H": H, **t,
                     "ms_per_step": t["median_ms"] / T})
    return rows


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
               eval_every: int = 50, show_progress: bool = True) -> dict:
    """Train a matched-budget net on the adding problem of length T; test MSE over training.

    ``n_train=None`` draws a fresh batch every step (unlimited data); an int fixes a training
    set of that many sequences, sampled in batches (small data), and also records the MSE on it.
    """
    torch.manual_seed(seed)
    model = build(kind, 2)
    x_test, y_test = (torch.from_numpy(a) for a in adding_problem(n_test, T, seed=10_000 + seed))
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
        out = {"test_mse": _mse(model(x_test), y_test).item()}
        if n_train is not None:
            out["train_mse"] = _mse(model(x_tr), y_tr).item()
        return out

    return train(model, batch_fn, _mse, evaluate, steps, lr=lr, eval_every=eval_every,
                 seed=seed, desc=f"adding {kind} T={T} seed {seed}", show_progress=show_progress)


def recall_run(kind: str, T: int, steps: int, seed: int = 0, K: int = 8, batch_size: int = 64,
               n_test: int = 500, lr: float = 1e-2, eval_every: int = 50,
               show_progress: bool = True) -> dict:
    """Train a matched-budget net on :func:`rnnkit.long_tasks.delayed_recall` (delay T - 1)."""
    torch.manual_seed(seed)
    model = build(kind, K + 2, out_size=K)
    x_test, y_test = (torch.from_numpy(a) for a in delayed_recall(n_test, T, K, seed=10_000 + seed))
    rng = np.random.default_rng(seed)

    def batch_fn(step):
        x, y = delayed_recall(batch_size, T, K, seed=rng)
        return torch.from_numpy(x), torch.from_numpy(y)

    def evaluate():
        logits = model(x_test)
        return {"test_ce": F.cross_entropy(logits, y_test).item(),
                "test_acc": (logits.argmax(-1) == y_test).float().mean().item()}

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
FULL = dict(seeds=(0, 1, 2), adding_T=(25, 50, 100), adding_steps=1200,
            recall_T=(20, 40), recall_steps=1500, anbn_steps=1500, data_sizes=(100, 2000),
            data_steps=1500, data_T=30, min_run_time=0.4, lengths=(25, 50, 100, 200))
QUICK = dict(seeds=(0,), adding_T=(10,), adding_steps=40, recall_T=(10,), recall_steps=40,
             anbn_steps=40, data_sizes=(50,), data_steps=40, data_T=10, min_run_time=0.05,
             lengths=(10, 20))


def _strip(hist: dict) -> dict:
    return {k: v for k, v in hist.items() if k != "model"}


def run_all(cfg: dict = FULL) -> dict:
    """Every experiment of the lab with the settings ``cfg``; a dict ready for JSON."""
    start = time.perf_counter()
    torch.set_num_threads(1)
    out = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
           "matched_hidden_sizes": {str(d): sizes for d, sizes in MATCHED.items()},
           "matched_params": {str(d): {k: count(make_layer(k, d, h)) for k, h in sizes.items()}
                              for d, sizes in MATCHED.items()},
           "baselines": {"adding_mse": ADDING_BASELINE_MSE, "recall": recall_baseline(8)},
           "training": {"optimizer": "Adam", "lr": 1e-2, "clip": 1.0, "batch_size": 64,
                        "lstm_forget_bias": 1.0, "dtype": "float32"}}
    out["parameters"] = parameter_table()
    out["speed"] = speed_table(min_run_time=cfg["min_run_time"])
    out["speed_vs_T"] = speed_vs_length(cfg["lengths"], min_run_time=cfg["min_run_time"])

    jobs = []
    for seed in cfg["seeds"]:
        for kind in KINDS:
            jobs += [("anbn", kind, None, seed)]
            jobs += [("adding", kind, T, seed) for T in cfg["adding_T"]]
            jobs += [("recall", kind, T, seed) for T in cfg["recall_T"]]
            jobs += [("data", kind, n, seed) for n in cfg["data_sizes"]]
    runs = {"adding": [], "recall": [], "anbn": [], "data": []}
    for task, kind, arg, seed in progress(jobs, desc="training runs"):
        if task == "adding":
            h = adding_run(kind, arg, cfg["adding_steps"], seed=seed)
        elif task == "recall":
            h = recall_run(kind, arg, cfg["recall_steps"], seed=seed)
        elif task == "anbn":
            h = anbn_run(kind, cfg["anbn_steps"], seed=seed)
        else:
            h = data_size_run(kind, arg, cfg["data_steps"], seed=seed, T=cfg["data_T"])
        runs[task].append({"kind": kind, "arg": arg, "seed": seed, **_strip(h)})
    out["runs"] = runs
    out["environment"] = {"torch": torch.__version__, "numpy": np.__version__,
                          "threads": torch.get_num_threads(), "machine": platform.machine(),
                          "processor": _cpu_name(), "python": platform.python_version(),
                          "date": time.strftime("%Y-%m-%d")}
    out["seconds"] = time.perf_counter() - start
    return out


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write the results (JSON)")
    parser.add_argument("--quick", action="store_true", help="a tiny run to try the code")
    parser.add_argument("--only-timing", action="store_true",
                        help="redo only the timings (speed, speed_vs_T) in an existing --out file")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.only_timing:
        start = time.perf_counter()
        torch.set_num_threads(1)
        with open(args.out) as f:
            result = json.load(f)
        result["speed"] = speed_table(min_run_time=cfg["min_run_time"])
        result["speed_vs_T"] = speed_vs_length(cfg["lengths"], min_run_time=cfg["min_run_time"])
        result["timing_seconds"] = time.perf_counter() - start
        result["environment"]["timing_date"] = time.strftime("%Y-%m-%d %H:%M")
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        print(f"updated the timings in {args.out} in {result['timing_seconds']:.0f} s")
        return 0
    result = run_all(cfg)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    minutes, seconds = divmod(result["seconds"], 60)
    print(f"wrote {args.out}: the sweep took {int(minutes)} min {seconds:.0f} s "
          f"on {result['environment']['threads']} thread(s) of {result['environment']['processor']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
