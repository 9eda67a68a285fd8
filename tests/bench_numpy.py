"""The solutions' NumPy RNN, LSTM and GRU forward+backward against torch.nn on the CPU.

    python tests/bench_numpy.py [--json FILE]

The NumPy code is taken from the solution notebooks' answer cells (never copied here), run in
float64 beside ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` in float64 holding the same weights, at
three sizes, each the median of several repeats measured side by side in one run (torch with
this process's thread count, printed). Goals at (N=32, T=50, D=64, H=128): NumPy LSTM within
1.5x of torch, NumPy GRU within 1.0x.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
SIZES = [(8, 20, 16, 32), (32, 50, 64, 128), (64, 100, 32, 64)]
GOALS = {"lstm": 1.5, "gru": 1.0}
LESSON = {"rnn": "01_rnn", "lstm": "03_lstm", "gru": "04_gru"}


def solution_namespace(lesson: str) -> dict:
    """The functions and imports of a solution notebook: the top-level ``def``, ``class`` and
    ``import`` statements of every code cell but the tests (answer cells and helpers such as
    ``sigmoid``), without running its experiments."""
    import ast
    nb = json.loads((REPO / "solutions" / lesson / f"{lesson}.ipynb").read_text())
    ns: dict = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        src = "".join(cell["source"])
        src = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!")))
        tree = ast.parse(src)
        tree.body = [n for n in tree.body if isinstance(
            n, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))]
        exec(compile(tree, f"<{lesson}>", "exec"), ns)
    return ns


def median_time(fn, repeats: int) -> float:
    fn()                                                  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cases(kind: str, ns: dict, N, T, D, H, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    x = rng.standard_normal((N, T, D))
    W_ih = rng.standard_normal((G * H, D)) * 0.1
    W_hh = rng.standard_normal((G * H, H)) * 0.1
    b_ih, b_hh = rng.standard_normal(G * H) * 0.1, rng.standard_normal(G * H) * 0.1
    h0 = np.zeros((N, H))
    dh = rng.standard_normal((N, T, H))

    def numpy_fb():
        if kind == "lstm":
            out = ns["lstm_forward"](x, h0, h0.copy(), W_ih, W_hh, b_ih, b_hh)
        else:
            out = ns[f"{kind}_forward"](x, h0, W_ih, W_hh, b_ih, b_hh)
        ns[f"{kind}_backward"](dh, out[-1])

    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        D, H, batch_first=True).double()
    with torch.no_grad():
        for name, value in (("weight_ih_l0", W_ih), ("weight_hh_l0", W_hh),
                            ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
            getattr(module, name).copy_(torch.from_numpy(value))
    xt = torch.from_numpy(x).requires_grad_(True)
    dht = torch.from_numpy(dh)

    def torch_fb():
        module.zero_grad()
        xt.grad = None
        out, _ = module(xt)
        out.backward(dht)

    t_np = median_time(numpy_fb, repeats)
    t_torch = median_time(torch_fb, repeats)
    return {"kind": kind, "N": N, "T": T, "D": D, "H": H, "numpy_ms": 1e3 * t_np,
            "torch_ms": 1e3 * t_torch, "ratio": t_np / t_torch}


def main(argv) -> int:
    out_json = argv[argv.index("--json") + 1] if "--json" in argv else None
    repeats = 7
    rows = []
    for kind, lesson in LESSON.items():
        ns = solution_namespace(lesson)
        for N, T, D, H in SIZES:
            rows.append(cases(kind, ns, N, T, D, H, repeats))
    print(f"\nNumPy (solutions) against torch.nn, float64, forward+backward, median of {repeats} "
          f"(torch threads: {torch.get_num_threads()})\n")
    print("| layer | N, T, D, H | NumPy ms | torch ms | NumPy / torch | goal |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        main_size = (r["N"], r["T"], r["D"], r["H"]) == (32, 50, 64, 128)
        goal = GOALS.get(r["kind"]) if main_size else None
        verdict = "" if goal is None else (f"<= {goal:g}x: " + ("met" if r["ratio"] <= goal
                                                               else "NOT met"))
        print(f"| {r['kind'].upper()} | {r['N']}, {r['T']}, {r['D']}, {r['H']} | "
              f"{r['numpy_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f}x | {verdict} |")
    if out_json:
        Path(out_json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
