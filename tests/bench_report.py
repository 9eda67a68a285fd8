"""Join the JSON of `make bench`'s scripts into one table: bench-results/bench.md and bench.json.

    python tests/bench_report.py FOLDER

Reads ``install.json`` (bench_install.py), ``lessons.json`` (bench_lessons.py),
``grading.json`` (bench_grading.py), ``numpy.json`` (bench_numpy.py) and ``gradebook.json``
(bench_gradebook.py: many workers on one SQLite gradebook) from FOLDER, and
``.start`` (the Unix time ``make bench`` began) for the total. The grading section gives the
per-lesson cost and the class-scale figures (JOBS=1 and JOBS=2 side by side, the speed-up, the
estimate for 300 students x 6 lessons, the load average during each run). Prints the Markdown table, writes
it to ``bench.md`` and everything to ``bench.json``. Exits 1 when a script left no results.
"""

import json
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grading import class_table  # noqa: E402


def load(folder: Path, name: str):
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main(argv) -> int:
    folder = Path(argv[0] if argv else "bench-results")
    folder.mkdir(parents=True, exist_ok=True)
    parts = {name: load(folder, name) for name in ("install", "lessons", "grading", "numpy",
                                                     "gradebook")}
    start = folder / ".start"
    total = time.time() - float(start.read_text()) if start.exists() else None
    lines = [f"# `make bench` on {platform.node() or 'this machine'}: {os.cpu_count()} CPUs, "
             f"torch {version('torch')}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             ""]
    ok = True

    inst = parts["install"]
    lines.append("## A fresh `make venv`")
    lines.append(f"{inst['make_venv_s']:.0f} s" if inst else "no result (bench_install.py failed)")
    ok &= inst is not None

    les = parts["lessons"]
    lines += ["", "## Lessons (budgets: learner mode 180 s each, 600 s the course; grading "
              "mode 30 s)", "", "| lesson | learner mode s | grading mode s (median of 2) | "
              "its kernel's CPU s, one thread |", "|---|---|---|---|"]
    if les:
        for r in les["lessons"]:
            lines.append(f"| {r['lesson']} | {r['learner_s']:.1f} | {r['grading_s']:.1f} | "
                         f"{r['grading_cpu_s']:.1f} |")
        lines.append(f"| the course | {les['course_learner_s']:.1f} | | |")
        lines.append("")
        lines += [f"- OVER BUDGET: {o}" for o in les["over_budget"]] or ["- every budget met"]
    else:
        lines.append("| no result (bench_lessons.py failed) | | | |")
        ok = False

    gr = parts["grading"]
    lines += ["", "## Grading (budget: 2 s per submission above the floor)", "",
              "| lesson | floor s | per submission s | overhead s | budget |", "|---|---|---|---|---|"]
    if gr:
        for r in gr["lessons"]:
            lines.append(f"| {r['lesson']} | {r['floor_s']:.1f} | {r['per_submission_s']:.1f} | "
                         f"{r['overhead_s']:.1f} | {'met' if r['budget_met'] else 'NOT met'} |")
        lines += ["", "## Grading a class, JOBS=1 and JOBS=2 side by side", ""]
        lines += class_table(gr["class"])
    else:
        lines.append("| no result (bench_grading.py failed) | | | | |")
        ok = False

    nu = parts["numpy"]
    lines += ["", "## The solutions' NumPy code against torch.nn (float64, forward+backward)", "",
              "| layer | N, T, D, H | NumPy ms | torch ms | NumPy / torch | goal |",
              "|---|---|---|---|---|---|"]
    goals = {"lstm": 1.5, "gru": 1.0}
    if nu:
        for r in nu:
            main_size = (r["N"], r["T"], r["D"], r["H"]) == (32, 50, 64, 128)
            goal = goals.get(r["kind"]) if main_size else None
            verdict = "" if goal is None else (f"<= {goal:g}x: "
                                               + ("met" if r["ratio"] <= goal else "NOT met"))
            lines.append(f"| {r['kind'].upper()} | {r['N']}, {r['T']}, {r['D']}, {r['H']} | "
                         f"{r['numpy_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f}x | "
                         f"{verdict} |")
    else:
        lines.append("| no result (bench_numpy.py failed) | | | | | |")
        ok = False

    gb = parts["gradebook"]
    lines += ["", "## Many workers, one SQLite gradebook", ""]
    if gb:
        lines.append(
            f"{gb['submissions']} submissions, JOBS={gb['jobs']} on {gb['cpus']} CPUs: "
            f"{gb['graded_rows']}/{gb['submissions']} graded rows, {gb['scores_as_expected']} "
            f"scores as expected, {len(gb['locked_lines'])} 'database is locked' lines, "
            f"{len(gb['not_graded_lines'])} submissions not graded; {gb['wall_s']:.0f} s "
            f"(load average {gb['load_before']:.1f} before, at most {gb['load_peak']:.1f}).")
    else:
        lines.append("no result (bench_gradebook.py failed)")
        ok = False

    if total is not None:
        avg = os.getloadavg()
        lines += ["", f"`make bench` took {total:.0f} s (budget about 1200 s); load average now "
                      f"{avg[0]:.1f} / {avg[1]:.1f} / {avg[2]:.1f} (1 / 5 / 15 minutes)."]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (folder / "bench.md").write_text(text)
    (folder / "bench.json").write_text(json.dumps({**parts, "make_bench_s": total}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
