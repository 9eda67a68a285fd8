"""Time `course.py grade` on a class, at JOBS=1 and JOBS=2 side by side (`make bench`).

    python tests/bench_grading.py [N] [LESSON ...] [--floors LESSONS_JSON] [--json FILE]

A class of N students (default 4) who each submit every lesson (the solution notebooks, so every
test passes): 6 N submissions of mixed lessons, graded in folder order (student by student, so
the lessons alternate, as a real class's are). The same class is graded twice, each time in a
fresh temporary copy of the course: with JOBS=1, then with JOBS=2.

* **Per submission** (per lesson): the median of the "graded in X s" lines of a lesson's
  submissions with JOBS=1 (sandbox, grader process and gradebook included), leaving out the
  run's first submission (it waits for its worker's start and its kernel's cold start).
* **Floor**: the solution run alone in grading mode (a kernel started, the lesson's imports, its
  cells and tests run in the kernel), the median of two runs; read from ``bench_lessons.py``'s
  JSON (``--floors``, measured earlier in the same ``make bench``) or measured here.
* **Overhead** = per submission - floor; budget 2 s (COURSE.md). Since each worker starts the
  next submission's kernel while it grades the current one (grade_worker.py), and a forked
  kernel skips the imports, a submission's time can be below its floor, which counts them.
* **Class**: the wall time of each grading run, per submission (wall / 6 N); **speed-up** =
  JOBS=1's wall / JOBS=2's wall (at most 2 on 2 cores); **300 students x 6 lessons** estimated
  as 1800 x (wall / 6 N) at each JOBS (the class has the same mix of lessons; the fixed cost of
  a run, starting course.py and its workers, is counted in, so the estimate is on the high
  side), and from the **steady state**: the time from the moment each of the J workers has
  finished one submission to the last one done, per submission done in it (the run's start
  left out); goal: one hour on 2 cores.
* **CPU per submission**: the CPU time all processes of the machine used during the run
  (``/proc/stat``: on a quiet machine, the grading's), divided by the submissions; and, as root
  on a host with the cgroup v1 ``cpuacct`` hierarchy, the CPU time of ``course.py`` and every
  process it started alone (kernels included), which other work on the machine does not change.
* **Floor bound**: the class's least possible time on this machine, 1800 x (the mean over the
  lessons of a solution kernel's own CPU seconds in grading mode, ``bench_lessons.py``) / CPUs:
  every core busy with nothing but the notebooks' own imports, cells and tests: the bound when
  every kernel does its own imports (``RNNCOURSE_FORK_SERVER=off``). With kernels forked by a
  fork server (``zygote.py``: the default), the bound is the same less a
  kernel's imports (``sandbox.WARM_MODULES`` and ipykernel, timed in a process of their own,
  the median of 3; more than they cost inside a notebook, so that bound errs low). How many of
  the runs' kernels were forked is reported (``course.py grade``'s "kernels:" line).
* **Load**: the machine's 1-minute load average, sampled every 2 s during each run (mean and
  maximum): on a machine shared with other work the figures are slower by about that factor.
* The two runs' gradebooks must be equal (the exit status says so).
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lessons import children_cpu, run as run_notebook  # noqa: E402
from conftest import REPO, gradebook_rows, lesson_ids, make_course_copy, run_course, submit  # noqa: E402

LINE = re.compile(r"^\s+(\S+)/(\S+): graded in ([0-9.]+) s", re.M)
KERNELS = re.compile(r"^kernels: (\d+) forked by the slots' fork servers, (\d+) started", re.M)
BUDGET_S = 2.0
CLASS_SIZE = 300
HOUR_S = 3600.0


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while in a ``with`` block."""

    def __init__(self, every: float = 2.0):
        self.every, self.samples = every, []
        self._stop = threading.Event()

    def __enter__(self):
        self.samples.append(os.getloadavg()[0])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        return {"mean": statistics.mean(self.samples), "max": max(self.samples)}


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``: every state
    but idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def import_cpu_seconds() -> float:
    """CPU seconds of a kernel's imports (sandbox.WARM_MODULES, then ipykernel's), in a fresh
    process, one thread as graded; the median of 3."""
    sys.path.insert(0, str(REPO / "autograder"))
    import sandbox
    program = (f"import os; os.environ.setdefault('MPLBACKEND', "
               f"'module://matplotlib_inline.backend_inline')\n"
               f"for name in {sandbox.WARM_MODULES!r}: __import__(name)\n"
               f"from ipykernel import kernelapp")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    times = []
    for _ in range(3):
        before = children_cpu()
        subprocess.run([sys.executable, "-c", program], env=env, check=True, cwd=tempfile.gettempdir())
        times.append(children_cpu() - before)
    return statistics.median(times)


class GradingCpu:
    """CPU seconds of ``course.py grade`` and every process it starts, kernels included, and of
    nothing else: a cgroup v1 ``cpuacct`` group (as root, where the host has that hierarchy:
    the sandbox moves kernels only in the memory and pids hierarchies). ``None`` elsewhere."""

    def __init__(self):
        base = Path("/sys/fs/cgroup/cpuacct")
        self.folder = None
        if os.geteuid() == 0 and (base / "cpuacct.usage").exists():
            try:
                self.folder = base / f"bench-grading-{os.getpid()}"
                self.folder.mkdir()
            except OSError:
                self.folder = None

    def join(self) -> None:
        """In the child before it runs course.py (``preexec_fn``)."""
        if self.folder is not None:
            (self.folder / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float | None:
        if self.folder is None:
            return None
        return int((self.folder / "cpuacct.usage").read_text()) / 1e9

    def close(self) -> None:
        if self.folder is not None:
            for _ in range(50):
                try:
                    self.folder.rmdir()
                    return
                except OSError:
                    time.sleep(0.1)


def grade_class(root: Path, lessons: list[str], n: int, jobs: int) -> dict:
    """Release, submit n students x every lesson, grade; return the run's figures: wall seconds,
    CPU seconds, {(student, lesson): seconds}, the seconds from the start at which each
    submission was done, the load average during the grading."""
    for lesson in lessons:
        run_course(root, "release", "--lesson", lesson)
    solution = {l: REPO / "solutions" / l / f"{l}.ipynb" for l in lessons}
    for i in range(n):
        for lesson in lessons:
            submit(root, f"s{i:02d}", lesson, solution[lesson])
    done, out = [], []
    tree = GradingCpu()
    with LoadSampler() as load:
        cpu0, start = busy_cpu_seconds(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(root / "autograder" / "course.py"), "grade",
                                 "--jobs", str(jobs)], env=dict(os.environ, RNNCOURSE_ROOT=str(root)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=tree.join)
        for line in proc.stdout:                  # course.py prints each line as it is done
            out.append(line)
            if LINE.match(line):
                done.append(time.perf_counter() - start)
        proc.wait(timeout=3600)
        wall, cpu = time.perf_counter() - start, busy_cpu_seconds() - cpu0
    grading_cpu = tree.seconds()
    tree.close()
    text = "".join(out)
    took = {(s, l): float(t) for s, l, t in LINE.findall(text)}
    forked = KERNELS.search(text)
    if proc.returncode or len(took) != n * len(lessons):
        raise SystemExit(f"course.py grade exited {proc.returncode}; expected {n * len(lessons)} "
                         f"'graded in' lines, found {len(took)}:\n{text}")
    return {"wall": wall, "cpu": cpu, "grading_cpu": grading_cpu, "took": took, "done": done,
            "load": load.summary(),
            "forked": int(forked.group(1)) if forked else 0}


def main(argv):
    out_json = floors_json = None
    for flag in ("--json", "--floors"):
        if flag in argv:
            value = argv[argv.index(flag) + 1]
            argv = [a for a in argv if a not in (flag, value)]
            if flag == "--json":
                out_json = value
            else:
                floors_json = value
    n = int(argv[0]) if argv and argv[0].isdigit() else 4
    lessons = [a for a in argv if not a.isdigit()] or lesson_ids()

    floors, floor_cpu = {}, {}
    if floors_json and Path(floors_json).exists():
        for row in json.loads(Path(floors_json).read_text())["lessons"]:
            if "grading_cpu_s" in row:
                floors[row["lesson"]] = row["grading_s"]
                floor_cpu[row["lesson"]] = row["grading_cpu_s"]
    for lesson in lessons:
        if lesson not in floors:
            path = REPO / "solutions" / lesson / f"{lesson}.ipynb"
            two = [run_notebook(path, grading=True) for _ in range(2)]
            floors[lesson] = statistics.median(t for t, _, _ in two)
            floor_cpu[lesson] = statistics.median(c for _, _, c in two)

    runs, books = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for jobs in (1, 2):
            root = make_course_copy(Path(tmp) / f"jobs{jobs}")
            run = grade_class(root, lessons, n, jobs)
            books[jobs] = gradebook_rows(root)
            wall, took, done, load = run["wall"], run["took"], run["done"], run["load"]
            count = len(took)
            # From the moment each worker has finished one submission to the last one done: the
            # run's start (imports, cold kernels) left out. The last worker's tail alone, when the
            # other is idle, still counts in: on a small class it errs on the slow side.
            steady = (done[-1] - done[jobs - 1]) / (count - jobs) if count > jobs else wall / count
            runs[jobs] = {"jobs": jobs, "submissions": count, "wall_s": wall,
                          "per_submission_s": wall / count,
                          "estimate_300x6_s": CLASS_SIZE * len(lessons) * wall / count,
                          "first_done_s": done[0], "steady_per_submission_s": steady,
                          "steady_estimate_300x6_s": CLASS_SIZE * len(lessons) * steady,
                          "cpu_s": run["cpu"], "cpu_per_submission_s": run["cpu"] / count,
                          "grading_cpu_per_submission_s": (run["grading_cpu"] / count
                                                           if run["grading_cpu"] else None),
                          "forked_kernels": run["forked"],
                          "load": load, "took": took}
            print(f"JOBS={jobs}: {count} submissions in {wall:.1f} s ({wall / count:.2f} s each, "
                  f"{steady:.2f} s in the steady state; {run['cpu'] / count:.1f} CPU-s each"
                  + (f" ({run['grading_cpu'] / count:.2f} of them the grading's)"
                     if run["grading_cpu"] else "") + "; "
                  f"load average {load['mean']:.1f}, at most {load['max']:.1f}; "
                  f"{run['forked']} kernels forked)", flush=True)

    first = min(runs[1]["took"])                          # ('s00', first lesson)
    rows = []
    for lesson in lessons:
        times = ([t for (s, l), t in runs[1]["took"].items() if l == lesson and (s, l) != first]
                 or [runs[1]["took"][first]])      # a class of one student
        per = statistics.median(times)
        rows.append({"lesson": lesson, "n": len(times), "floor_s": floors[lesson],
                     "per_submission_s": per, "times_s": sorted(times),
                     "overhead_s": per - floors[lesson],
                     "budget_met": per - floors[lesson] <= BUDGET_S})
    speedup = runs[1]["wall_s"] / runs[2]["wall_s"]
    imports = import_cpu_seconds()
    summary = {
        "students": n, "lessons": len(lessons), "speedup": speedup,
        "jobs1": {k: v for k, v in runs[1].items() if k != "took"},
        "jobs2": {k: v for k, v in runs[2].items() if k != "took"},
        "first_submission_s": runs[1]["took"][first],
        "floor_cpu_s": {l: floor_cpu[l] for l in lessons},
        "floor_bound_300x6_s": CLASS_SIZE * len(lessons)
        * statistics.mean(floor_cpu[l] for l in lessons) / (os.cpu_count() or 1),
        "import_cpu_s": imports,
        "floor_bound_no_start_300x6_s": CLASS_SIZE * len(lessons)
        * statistics.mean(max(0.0, floor_cpu[l] - imports) for l in lessons)
        / (os.cpu_count() or 1),
        "same_gradebook": books[1] == books[2],
        "cpus": os.cpu_count(),
    }

    print(f"\n| lesson | floor s | per submission s (median of {n - 1}-{n}, JOBS=1) | overhead s "
          f"(budget {BUDGET_S:g}) |")
    print("|---|---|---|---|")
    for r in rows:
        verdict = "met" if r["budget_met"] else "NOT met"
        print(f"| {r['lesson']} | {r['floor_s']:.1f} | {r['per_submission_s']:.1f} | "
              f"{r['overhead_s']:.1f}: {verdict} |")
    print("\n" + "\n".join(class_table(summary)))
    if out_json:
        Path(out_json).write_text(json.dumps({"lessons": rows, "class": summary}, indent=1))
    return 0 if summary["same_gradebook"] else 1


def class_table(c: dict) -> list[str]:
    """The class-scale figures, JOBS=1 and JOBS=2 side by side, as Markdown lines (also used by
    bench_report.py)."""
    j1, j2 = c["jobs1"], c["jobs2"]
    total = CLASS_SIZE * c["lessons"]
    hours = [j["estimate_300x6_s"] / HOUR_S for j in (j1, j2)]
    steady = [j["steady_estimate_300x6_s"] / HOUR_S for j in (j1, j2)]
    bound = c["floor_bound_300x6_s"] / HOUR_S
    floors = ", ".join(f"{l[:2]} {v:.1f}" for l, v in c["floor_cpu_s"].items())
    mean_floor = c["floor_bound_300x6_s"] * c["cpus"] / total
    forked = j1.get("forked_kernels", 0) + j2.get("forked_kernels", 0)
    return [
        f"A class of {c['students']} students x {c['lessons']} lessons ({j1['submissions']} "
        f"submissions, lessons mixed) on {c['cpus']} CPUs:", "",
        "| | JOBS=1 | JOBS=2 |", "|---|---|---|",
        f"| wall time of the run | {j1['wall_s']:.1f} s | {j2['wall_s']:.1f} s |",
        f"| per submission (wall / submissions) | {j1['per_submission_s']:.2f} s | "
        f"{j2['per_submission_s']:.2f} s |",
        f"| per submission in the steady state (after each worker's first) | "
        f"{j1['steady_per_submission_s']:.2f} s | {j2['steady_per_submission_s']:.2f} s |",
        f"| CPU seconds per submission (the whole machine) | {j1['cpu_per_submission_s']:.1f} | "
        f"{j2['cpu_per_submission_s']:.1f} |",
        *([f"| CPU seconds per submission (course.py and every process it started, kernels "
           f"included) | {j1['grading_cpu_per_submission_s']:.2f} | "
           f"{j2['grading_cpu_per_submission_s']:.2f} |"]
          if j1.get("grading_cpu_per_submission_s") and j2.get("grading_cpu_per_submission_s")
          else []),
        f"| {CLASS_SIZE} students x {c['lessons']} lessons ({total} submissions), from the "
        f"whole run | {hours[0]:.2f} h | {hours[1]:.2f} h |",
        f"| the same, from the steady state | {steady[0]:.2f} h | {steady[1]:.2f} h (goal 1 h: "
        f"{'met' if steady[1] <= 1 else 'NOT met'}) |",
        f"| load average during the run (mean / max) | {j1['load']['mean']:.1f} / "
        f"{j1['load']['max']:.1f} | {j2['load']['mean']:.1f} / {j2['load']['max']:.1f} |",
        "",
        f"Speed-up of JOBS=2 over JOBS=1: **{c['speedup']:.2f}x** (goal 1.8x on 2 cores: "
        f"{'met' if c['speedup'] >= 1.8 else 'NOT met'}); the run's first submission (worker and "
        f"kernel cold) {c['first_submission_s']:.1f} s; same gradebook: {c['same_gradebook']}. "
        f"A load average above the CPU count means other work shared the machine: the times are "
        f"slower by about that factor.",
        "",
        f"Floor bound: a solution's kernel alone uses {mean_floor:.1f} CPU seconds in grading mode "
        f"on average, imports included (by lesson: {floors}), so {total} submissions take at "
        f"least **{bound:.2f} h** on {c['cpus']} CPUs when every submission's kernel does its own "
        f"imports (RNNCOURSE_FORK_SERVER=off), with every core busy and the grading "
        f"itself free."
        + (f" With kernels forked from an image that did the imports once (the fork server; "
           f"{forked} of the {j1['submissions'] + j2['submissions']} kernels of these runs): less "
           f"a kernel's imports ({c['import_cpu_s']:.1f} CPU-s timed alone, more than they cost "
           f"inside a notebook, so this bound errs low), **"
           f"{c['floor_bound_no_start_300x6_s'] / HOUR_S:.2f} h**."
           if "import_cpu_s" in c else ""),
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
