"""Many graders, one SQLite gradebook: `make grade JOBS=8` over a class of 40 (`make bench`).

    python tests/bench_gradebook.py [N] [--jobs J] [--json FILE]

Grades N submissions (default 40) of mixed lessons (lesson i mod 6) with J workers (default 8,
oversubscribed on purpose on a 2-core machine), in a fresh temporary copy of the course, with
``course.py grade --jobs J`` (what `make grade JOBS=J` runs). Three in four submissions are the
lesson's solution notebook (a correct submission, as tests/conftest.py and bench_grading.py build
them) and every fourth is the blank released lesson, so that the expected scores are known:
every autograded code cell scores its maximum on a solution and 0 on a blank lesson.

Prints and writes (``--json``): submissions, graded rows in the gradebook, rows whose scores
equal the expected ones, lines of the grading log that say "locked" (SQLite's "database is
locked") or mark a submission not graded ("!"), the wall time, and the load average before,
during (the highest 1-minute figure seen) and after. Exits 1 when a grade is lost or wrong or a
lock error appeared.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_grading import LoadSampler  # noqa: E402
from conftest import REPO, gradebook_rows, lesson_ids, make_course_copy, run_course, submit  # noqa: E402


def build_class(root: Path, n: int) -> dict:
    """Submit ``n`` notebooks of mixed lessons; return {(student, lesson): "solution"|"blank"}."""
    lessons = lesson_ids()
    kinds = {}
    for i in range(n):
        lesson = lessons[i % len(lessons)]
        kind = "blank" if i % 4 == 3 else "solution"
        notebook = (REPO / "solutions" if kind == "solution" else root / "lessons") / lesson
        submit(root, f"s{i:02d}", lesson, notebook / f"{lesson}.ipynb")
        kinds[(f"s{i:02d}", lesson)] = kind
    return kinds


def as_expected(cells: dict, kind: str) -> bool:
    """Every autograded code cell at its maximum (a solution) or at 0 (a blank lesson)."""
    code = [(auto, mx) for _, mx, auto, cell_type in cells.values() if cell_type == "code"]
    want = (lambda mx: mx) if kind == "solution" else (lambda mx: 0)
    return bool(code) and all(auto is not None and auto == want(mx) for auto, mx in code)


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--jobs", type=int, default=8, help="grading workers (default 8)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-gradebook-") as tmp:
        root = make_course_copy(Path(tmp) / "course")
        run_course(root, "release")
        kinds = build_class(root, args.n)
        with LoadSampler() as load:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, str(root / "autograder" / "course.py"), "grade",
                                   "--jobs", str(args.jobs)],
                                  env=dict(os.environ, RNNCOURSE_ROOT=str(root)),
                                  capture_output=True, text=True, timeout=7200)
            wall = time.perf_counter() - start
        rows = gradebook_rows(root)
    load_before, load_peak = load.samples[0], load.summary()["max"]

    log = proc.stdout + proc.stderr
    locked = [line for line in log.splitlines() if "locked" in line.lower()]
    not_graded = [line for line in proc.stdout.splitlines() if line.startswith("! ")]
    graded = [key for key in kinds if key in rows]
    right = [key for key in graded if as_expected(rows[key], kinds[key])]
    figures = {
        "submissions": len(kinds), "jobs": args.jobs, "cpus": os.cpu_count(),
        "graded_rows": len(graded), "scores_as_expected": len(right),
        "locked_lines": locked, "not_graded_lines": not_graded, "exit_code": proc.returncode,
        "wall_s": wall, "per_submission_s": wall / len(kinds),
        "load_before": load_before, "load_peak": load_peak, "load_after": os.getloadavg()[0],
    }
    ok = (proc.returncode == 0 and len(graded) == len(kinds) == len(right) and not locked
          and not not_graded)
    print(f"gradebook under load: {len(kinds)} submissions of {len(set(l for _, l in kinds))} "
          f"lessons, JOBS={args.jobs} on {os.cpu_count()} CPUs, SQLite")
    print(f"  graded rows in the gradebook: {len(graded)}/{len(kinds)}; scores as expected: "
          f"{len(right)}/{len(kinds)}")
    print(f"  'locked' lines: {len(locked)}; submissions marked '!': {len(not_graded)}; "
          f"course.py exit {proc.returncode}")
    print(f"  wall {wall:.0f} s ({wall / len(kinds):.1f} s per submission); load average "
          f"{load_before:.2f} before, {load_peak:.2f} at most during, "
          f"{figures['load_after']:.2f} after")
    for line in (locked + not_graded)[:10]:
        print(f"    {line}")
    if not ok and proc.returncode:
        print(log[-4000:])
    print("  verdict: " + ("no grade lost, no lock error" if ok else "FAILED"))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
