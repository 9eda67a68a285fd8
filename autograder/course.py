"""The course's grading commands, wrapped around nbgrader so that one bad submission never
stops the class and no grade goes missing silently.

    python autograder/course.py release  [--lesson L]        solutions/ -> lessons/ (+ gradebook)
    python autograder/course.py grade    [--lesson L] [--student S] [--jobs J] [--shard i/n]
    python autograder/course.py feedback [--lesson L]
    python autograder/course.py export   [--to FILE]
    python autograder/course.py report
    python autograder/course.py check    --lesson L [--notebook N]   a learner's self-check

Submissions go in ``autograder/submitted/<student>/<lesson>/<lesson>.ipynb``. Each one is
autograded in its own ``nbgrader autograde`` process with a time limit; a submission whose
grading fails is logged with the reason, given 0 for what did not run, and the others go on.
The environment variable ``RNNCOURSE_ROOT`` selects another copy of the course (tests use it),
``RNNCOURSE_DB_URL`` another gradebook, e.g. a PostgreSQL database that graders on several
machines share (gradebook_db.py), each grading one shard of the class (shards.py).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import no_iri_format  # noqa: E402  (before nbformat: 1 CPU second less per process)
import sandbox  # noqa: E402  (autograder/sandbox.py)
import answer_policy  # noqa: E402  (autograder/answer_policy.py: torch in NumPy exercises)
import gradebook_db  # noqa: E402  (autograder/gradebook_db.py: the gradebook's URL, graders' locks)
import shards  # noqa: E402  (autograder/shards.py: SHARD=i/n)

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("RNNCOURSE_ROOT") or HERE.parent).resolve()
AUTOGRADER = ROOT / "autograder"
SUBMITTED = AUTOGRADER / "submitted"
AUTOGRADED = AUTOGRADER / "autograded"
DB_URL = gradebook_db.url(AUTOGRADER)
"""autograder/gradebook.db (SQLite), or RNNCOURSE_DB_URL (make ... DB_URL=postgresql://...)."""

# nbgrader's Gradebook runs `alembic` by name: put this Python's bin folder first on PATH.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

NOTEBOOK_TIMEOUT = int(os.environ.get("RNNCOURSE_NOTEBOOK_TIMEOUT") or 900)
"""Seconds a submitted notebook may run (cells have 60 s each); later cells score 0."""

SUBMISSION_TIMEOUT = int(os.environ.get("RNNCOURSE_SUBMISSION_TIMEOUT") or NOTEBOOK_TIMEOUT + 120)
"""Seconds the grading process of one submission may take in all: the notebook's limit plus a
margin for starting, restoring the test cells and saving. Its worker is killed after it."""


def notebook_limit() -> int:
    """The notebook limit the workers apply: RNNCOURSE_NOTEBOOK_TIMEOUT, shortened where needed
    so that it always acts before the grading process's limit (a margin of a third of that limit,
    at most 120 s, is left for what runs outside the notebook's clock)."""
    margin = min(120, max(5, SUBMISSION_TIMEOUT // 3))
    return max(1, min(NOTEBOOK_TIMEOUT, SUBMISSION_TIMEOUT - margin))


def lessons() -> list[str]:
    """Lesson ids, from the source notebooks in ``solutions/``."""
    return sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def _env() -> dict:
    env = dict(os.environ)
    env["RNNCOURSE_ROOT"] = str(ROOT)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return gradebook_db.child_env(env, DB_URL)      # the URL, for nbgrader_config.py, in a file


NBGRADER_MEMORY_MB = int(os.environ.get("RNNCOURSE_NBGRADER_MEMORY_MB", "3072"))
"""Address-space limit of each grading worker (nbgrader), which receives the kernel's outputs."""


def _limit_memory():                       # runs in a grading worker before exec
    import resource
    if NBGRADER_MEMORY_MB > 0:
        size = NBGRADER_MEMORY_MB * 1024 * 1024
        # The soft limit only: the processes nbgrader starts set limits of their own.
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (size if hard < 0 else min(size, hard), hard))


def _die_with_parent():                    # runs in a grading worker before exec
    """Linux: the worker is killed when course.py dies (killed mid-run, its machine's job
    stopped), so that no orphan goes on grading a submission that a restarted grader grades
    again; its sandboxed kernel dies with it (bwrap --die-with-parent)."""
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_preexec():
    _limit_memory()
    _die_with_parent()


def nbgrader(*args: str, timeout: float | None = None,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` from the autograder folder, capturing its log."""
    cmd = [sys.executable, "-c", no_iri_format.RUN_NBGRADER, *args]        # python -m nbgrader
    return subprocess.run(cmd, cwd=AUTOGRADER, env={**_env(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def _seed_salt(student: str, lesson: str) -> str:
    """The per-submission salt of the hidden tests' seeds: fixed for a student and lesson."""
    import zlib
    return str(zlib.crc32(f"{student}/{lesson}".encode()) % 1_000_003)


KEPT_SUFFIXES = {".ipynb", ".png", ".jpg", ".jpeg", ".gif", ".csv", ".tsv", ".txt", ".json",
                 ".npy", ".npz", ".pt", ".pth"}
"""Files of a submission that are kept (an allow-list: every other file is removed)."""


def clean_submission(student: str, lesson: str) -> str | None:
    """Make a submitted folder safe for nbgrader, which runs outside the sandbox.

    Symbolic links are removed (nbgrader would follow them: a notebook linked to the gradebook
    would be overwritten by the graded notebook), and the notebook must be a regular file.
    Only files whose suffix is in KEPT_SUFFIXES stay (notebooks, raster images, plain data):
    autograde copies a submission's files beside the graded notebook and into its feedback, and
    the formgrader serves that folder from the instructor's Jupyter server, where a file the
    browser runs (HTML, XHTML under any of its names, SVG, XML, JavaScript, PDF, ...) would run
    with the instructor's session. Returns why the submission cannot be graded, or None.
    """
    folder = SUBMITTED / student / lesson
    if folder.is_symlink():
        folder.unlink()
        return "the submission folder was a symbolic link (removed)"
    removed = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                path.unlink()
                removed.append(str(path.relative_to(folder)))
            elif path.is_file() and path.suffix.lower() not in KEPT_SUFFIXES:
                path.unlink()
                print(f"{student}/{lesson}: removed {path.relative_to(folder)} from the submission "
                      f"(only notebooks, images and plain data files are kept: a file a browser "
                      f"might run is never served to the instructor)")
    notebook = folder / f"{lesson}.ipynb"
    if removed and not notebook.exists():
        return (f"the notebook was a symbolic link, not a file (removed: {', '.join(removed)}); "
                f"submit the notebook itself")
    if not notebook.is_file():
        return f"{notebook.name} is not a regular file"
    return None


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{what} failed (exit {proc.returncode}); its log is above.")


def _pick(lesson: str | None) -> list[str]:
    known = lessons()
    if lesson is None:
        return known
    if lesson not in known:
        raise SystemExit(f"unknown lesson {lesson!r}; the lessons are: {', '.join(known)}")
    return [lesson]


def release(lesson: str | None = None) -> None:
    """Regenerate ``lessons/<L>/`` from ``solutions/<L>/`` and record the lesson in the gradebook."""
    for name in _pick(lesson):
        _check(nbgrader("generate_assignment", name, "--force", "--log-level=WARN"),
               f"nbgrader generate_assignment {name}")
        print(f"released {name} -> lessons/{name}/{name}.ipynb")


def _known_to_gradebook(lesson: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(DB_URL) as gb:
        try:
            gb.find_assignment(lesson)
            return True
        except MissingEntry:
            return False


def submissions(lesson: str | None = None, student: str | None = None) -> list[tuple[str, str]]:
    """``(student, lesson)`` pairs found under ``autograder/submitted/``."""
    found = []
    if not SUBMITTED.is_dir():
        return found
    known = lessons()
    wanted = set(_pick(lesson))
    for folder in sorted(SUBMITTED.glob("*/*")):
        s, l = folder.parent.name, folder.name
        if not folder.is_dir() or (student and s != student):
            continue
        if l not in known:
            print(f"skipping {folder.relative_to(ROOT)}: {l!r} is not a lesson "
                  f"(lessons: {', '.join(known)})")
            continue
        if l not in wanted:                           # another lesson than the one asked for
            continue
        if not (folder / f"{l}.ipynb").exists():
            print(f"skipping {folder.relative_to(ROOT)}: it holds no {l}.ipynb")
            continue
        found.append((s, l))
    return found


_ERROR_FLAGS = {
    "CellTimeoutError": "timeout",
    "DeadKernelError": "crash",
    "DeadKernel": "crash",
    "MemoryError": "out of memory",
    "_ArrayMemoryError": "out of memory",
    "OutOfMemoryError": "out of memory",
    "GraderError": "grader error",
    "NotRun": "not run",
}


def _cells_by_id(nb: dict) -> dict:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def _modified_cells(student: str, lesson: str) -> bool:
    """True when the submission changed or deleted a locked code cell (a test, an import, an
    experiment) of the released lesson. Locked Markdown is left out: nbgrader grades with the
    released text anyway, and a learner who kept their own copy across a course update that
    reworded the prose (workspace.py) changed nothing."""
    released = ROOT / "lessons" / lesson / f"{lesson}.ipynb"
    submitted = SUBMITTED / student / lesson / f"{lesson}.ipynb"
    try:
        theirs = _cells_by_id(json.loads(submitted.read_text()))
        ours = _cells_by_id(json.loads(released.read_text()))
    except (OSError, ValueError, KeyError):
        return True
    for gid, cell in ours.items():
        meta = cell["metadata"]["nbgrader"]
        if meta.get("locked") and not meta.get("solution") and cell["cell_type"] == "code":
            other = theirs.get(gid)
            if other is None or "".join(other["source"]) != "".join(cell["source"]):
                return True
    return False


def _flags(student: str, lesson: str) -> list[str]:
    """What the executed notebook shows: timeouts, a dead kernel, edited tests."""
    nb_path = AUTOGRADED / student / lesson / f"{lesson}.ipynb"
    if not nb_path.exists():
        return ["not graded"]
    flags = set()
    for cell in json.loads(nb_path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") in _ERROR_FLAGS:
                flags.add(_ERROR_FLAGS[out["ename"]])
    if _modified_cells(student, lesson):
        flags.add("modified cells")
    flags.update(answer_policy.flags(SUBMITTED / student / lesson / f"{lesson}.ipynb",
                                     ROOT / "solutions" / lesson / f"{lesson}.ipynb", lesson))
    return sorted(flags)


class Worker:
    """A grading worker process (grade_worker.py) of one job slot: nbgrader loaded once,
    submissions graded one after another. A worker that dies or runs past the time limit of a
    submission is killed and replaced; the next submission never sees what it left.

    As root, the slot has two sets of cgroups (``cgroup_sets``): the kernel being graded and
    the next submission's kernel, started meanwhile, each join their own. The kernels' scratch
    folders are made by the worker inside ``scratch_root`` (0700), made and deleted here, so
    that nothing is left when the worker is lost."""

    def __init__(self, slot: int, cgroup_sets: list | None = None):
        self.slot = slot
        self.proc = None
        self.cgroup_sets = cgroup_sets or []
        self.cgroups = [c for group in self.cgroup_sets for c in group]    # all of them
        self.scratch_root = None

    def _start(self):
        self.scratch_root = tempfile.mkdtemp(prefix=f"rnngrade-{os.getpid()}-")  # leftovers.py
        self.proc = subprocess.Popen([sys.executable, str(HERE / "grade_worker.py")],
                                     cwd=AUTOGRADER, env=_env(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1, preexec_fn=_worker_preexec)

    def grade(self, request: dict, timeout: float) -> dict | None:
        """The worker's reply, or None when it died or timed out (it is then replaced)."""
        import select
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()
        request = {**request, "scratch_root": self.scratch_root}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline() if ready else ""
            return json.loads(line) if line else self._lost()
        except (OSError, ValueError):
            return self._lost()

    def _lost(self):
        self.close()
        return None

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        sandbox.kill_cgroups(self.cgroups)          # what its kernels left, if it was lost
        if self.scratch_root is not None:
            sandbox.unmount_below(self.scratch_root)    # its sockets folders' tmpfs, if lost
            shutil.rmtree(self.scratch_root, ignore_errors=True)
            self.scratch_root = None


_WORKERS: "queue.Queue[Worker] | None" = None
_UNSENT = {"count": 0, "lock": threading.Lock()}
"""Submissions of this run not yet sent to a worker: while any is left, a worker starts the next
kernel while it grades (grade_worker.py); the last ones start none that nobody would use."""
_KERNELS: dict[str, int] = {}
"""How this run's kernels started: "forked" (a slot's fork server), "own sandbox", "unsandboxed"."""


def remove_leftovers() -> None:
    """Remove the scratch folders and cgroups of grading runs of this user killed with SIGKILL
    (leftovers.py), and say so."""
    import leftovers
    stale = leftovers.of_dead_runs(Path(tempfile.gettempdir()), "rnngrade-")
    for folder in stale:
        sandbox.unmount_below(folder)             # its kernels' sockets folders (tmpfs)
        shutil.rmtree(folder, ignore_errors=True)
    stale += sandbox.remove_stale_cgroups("rnngrade-")
    if stale:
        print(f"removed {len(stale)} scratch folder(s) and cgroup(s) left by grading runs that "
              f"were killed: {', '.join(p.name for p in stale[:4])}"
              f"{' ...' if len(stale) > 4 else ''}")


KERNEL_THREADS = int(os.environ.get("RNNCOURSE_KERNEL_THREADS", "1"))
"""Threads of each graded kernel (OMP_NUM_THREADS, MKL_NUM_THREADS, hence torch's), at any JOBS.
A lesson's tensors are small, so a second thread gains a kernel little, and it would compete
with the other workers' kernels (JOBS > 1) or with the next submission's kernel starting beside
it (JOBS=1): grading is paid in CPU seconds, and the class's throughput is what counts."""


def grade_one(student: str, lesson: str, threads: int | None = None,
              sandboxed: bool = True) -> tuple[bool, str]:
    """Autograde one submission (in the sandbox when ``sandboxed``); return (ok, a log line)."""
    problem = clean_submission(student, lesson)
    if problem:
        shutil.rmtree(_graded(student, lesson).parent, ignore_errors=True)
        _zero(student, lesson, every_cell=True)
        return False, f"{student}/{lesson}: NOT graded ({problem}); every test scores 0"
    env = {"RNNCOURSE_SEED_SALT": _seed_salt(student, lesson)}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    own = _WORKERS is None
    with _UNSENT["lock"]:
        _UNSENT["count"] = max(0, _UNSENT["count"] - 1)
        more = _UNSENT["count"] > 0
    worker = Worker(0) if own else _WORKERS.get()        # held until this submission is done
    start = time.monotonic()
    try:
        reply = worker.grade({"student": student, "lesson": lesson, "slot": worker.slot,
                              "sandboxed": sandboxed, "env": env,
                              "cgroups": [[str(c) for c in group] for group in worker.cgroup_sets],
                              "notebook_timeout": notebook_limit(), "warm_next": more},
                             SUBMISSION_TIMEOUT)
    finally:
        if own:
            worker.close()
        else:
            _WORKERS.put(worker)
    took = time.monotonic() - start
    if reply is not None and reply.get("kernel"):
        with _UNSENT["lock"]:
            _KERNELS[reply["kernel"]] = _KERNELS.get(reply["kernel"], 0) + 1
    if reply is None or (not reply.get("success") and _holds_hidden(_graded(student, lesson))):
        # nbgrader did not finish: what it saved may hold the restored hidden tests and no
        # grade. Remove it and record 0 everywhere, flagged, until the submission is regraded.
        shutil.rmtree(_graded(student, lesson).parent, ignore_errors=True)
        _zero(student, lesson, every_cell=True)
        why = ("the grading process died or ran past its limit of "
               f"{SUBMISSION_TIMEOUT} s" if reply is None else "nbgrader stopped before the end")
        return False, (f"{student}/{lesson}: NOT graded after {took:.0f} s ({why}); every test "
                       f"scores 0 until it is regraded"
                       + (" [timeout]" if took >= SUBMISSION_TIMEOUT else "") + " [not graded]")
    log = reply.get("log", "").strip()
    flags = _flags(student, lesson) + ([] if sandboxed else ["unsandboxed"])
    note = f" [{', '.join(flags)}]" if flags else ""
    if not reply.get("success") or "[ERROR]" in log:
        reason = next((line for line in log.splitlines() if "ERROR" in line),
                      log.splitlines()[-1] if log else "no log")
        if "not graded" in flags:
            _zero(student, lesson, every_cell=True)     # not an earlier submission's scores
            return False, (f"{student}/{lesson}: NOT graded ({reason.strip()}); "
                           f"every test scores 0 until it is regraded")
        return False, (f"{student}/{lesson}: graded in {took:.1f} s, but the notebook did not run "
                       f"cleanly ({reason.strip()}); what did not run scores 0{note}")
    return True, f"{student}/{lesson}: graded in {took:.1f} s{note}"


def _graded(student: str, lesson: str) -> Path:
    return AUTOGRADED / student / lesson / f"{lesson}.ipynb"


def _holds_hidden(path: Path) -> bool:
    """Whether a graded notebook still holds a hidden-test block (its grading did not finish)."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return path.exists()                   # unreadable: do not render it either
    return any("BEGIN HIDDEN TESTS" in "".join(c.get("source", "")) for c in nb.get("cells", []))


def _zero(student: str, lesson: str, every_cell: bool = False) -> None:
    """Record a submission that cannot be graded with 0 on every autograded cell (``every_cell``:
    also on cells that hold the score of an earlier grading)."""
    from nbgrader.api import Gradebook
    with Gradebook(DB_URL) as gb:
        sub = gb.update_or_create_submission(lesson, student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if (every_cell or grade.auto_score is None) and grade.cell.cell_type == "code":
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
        gb.db.commit()


def _ensure_students(names: set[str]) -> None:
    """Create missing students first, so parallel graders never race to insert the same one."""
    from nbgrader.api import Gradebook
    with Gradebook(DB_URL) as gb:
        known = {s.id for s in gb.students}
        for name in sorted(names - known):
            gb.add_student(name)


def sandbox_status() -> bool:
    ok, why = sandbox.available()
    if not ok:
        bar = "!" * 78
        sys.stderr.write(f"{bar}\n! WARNING: grading WITHOUT a sandbox: {why}.\n"
                         f"! Student code runs with your permissions and can read the gradebook "
                         f"and solutions/.\n{bar}\n")
    return ok


def _grade_claimed(student: str, lesson: str, threads: int | None,
                   sandboxed: bool) -> tuple[bool, str]:
    """grade_one while holding the submission's claim; a submission another grader holds now
    (the same shard started twice by mistake) is skipped here and graded there."""
    with gradebook_db.lock(DB_URL, AUTOGRADER, f"grade {student}/{lesson}", wait=False) as held:
        if not held:
            return True, (f"{student}/{lesson}: skipped, another grader is grading it now "
                          f"(its grade is recorded there)")
        return grade_one(student, lesson, threads, sandboxed)


def grade(lesson: str | None = None, student: str | None = None, jobs: int = 1,
          shard: tuple[int, int] | None = None) -> int:
    """Autograde every submission (of ``shard`` i/n only, when given), ``jobs`` at a time; print
    a line for each and the report. Every submission of the selection is graded again, so a
    grader that was killed and is started again regrades what it had half done."""
    remove_leftovers()
    found = submissions(lesson, student)
    todo = shards.select(found, shard)
    if shard:
        print(f"shard {shard[0]}/{shard[1]}: {len(todo)} of the {len(found)} submissions found")
    if not todo:
        print(f"nothing to grade: put notebooks in {SUBMITTED.relative_to(ROOT)}/<student>/<lesson>/")
        return 0
    # One grader at a time records lessons and students (graders starting together on one
    # gradebook would insert the same rows).
    with gradebook_db.lock(DB_URL, AUTOGRADER, "setup", wait=True):
        for name in sorted({l for _, l in todo}):
            if not _known_to_gradebook(name):
                release(name)
        _ensure_students({s for s, _ in todo})
    sandboxed = sandbox_status()
    jobs = max(1, min(jobs, len(todo)))
    # As root, kernel uids of this run's own (its workers read RNNCOURSE_SANDBOX_UID).
    first_uid, uid_lock = sandbox.reserve_uids(jobs) if sandboxed else (None, None)
    if uid_lock is not None:
        os.environ["RNNCOURSE_SANDBOX_UID"] = str(first_uid)
    threads = KERNEL_THREADS
    global _WORKERS
    _WORKERS = queue.Queue()
    _UNSENT["count"] = len(todo)
    _KERNELS.clear()
    # As root, each slot's sandboxes run in cgroups of their own (memory and process limits for
    # the whole submission); elsewhere only the per-process limits and tmpfs sizes hold.
    workers = [Worker(k, [sandbox.make_cgroups(f"rnngrade-{os.getpid()}-{k}-{turn}")
                          for turn in (0, 1)] if sandboxed else [])
               for k in range(jobs)]
    for w in workers:
        _WORKERS.put(w)
    failed = 0
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_grade_claimed, s, l, threads, sandboxed) for s, l in todo]
            for future in as_completed(futures):
                ok, line = future.result()
                failed += not ok
                print(("  " if ok else "! ") + line, flush=True)
    finally:
        _WORKERS = None
        for w in workers:
            w.close()
            sandbox.remove_cgroups(w.cgroups)
        if uid_lock is not None:
            uid_lock.close()
    print()
    if _KERNELS.get("forked") or _KERNELS.get("own sandbox"):
        print(f"kernels: {_KERNELS.get('forked', 0)} forked by the slots' fork servers, "
              f"{_KERNELS.get('own sandbox', 0)} started in sandboxes of their own")
    report(set(todo) if shard else None)
    if failed:
        print(f"\n{failed} submission(s) did not run cleanly: see the lines marked '!'.")
    return failed


def scores() -> list[dict]:
    """One row per submission in the gradebook: points per graded cell, totals, flags."""
    from nbgrader.api import Gradebook
    rows = []
    with Gradebook(DB_URL) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    cells = {g.name: (g.score, g.max_score, g.needs_manual_grade)
                             for g in nb.grades}
                    rows.append({
                        "student": sub.student_id, "lesson": assignment.name,
                        "cells": cells,
                        "auto": nb.code_score, "auto_max": nb.max_code_score,
                        "written": nb.written_score, "written_max": nb.max_written_score,
                        "needs_manual": nb.needs_manual_grade,
                        "flags": _flags(sub.student_id, assignment.name),
                    })
    return sorted(rows, key=lambda r: (r["lesson"], r["student"]))


def report(only: set | None = None) -> None:
    """Print student, lesson, points per exercise, totals and flags (of the ``(student,
    lesson)`` pairs in ``only``, when given: a shard's grader reports its own submissions)."""
    rows = [r for r in scores() if only is None or (r["student"], r["lesson"]) in only]
    if not rows:
        print("the gradebook holds no graded submission yet")
        return
    for lesson in sorted({r["lesson"] for r in rows}):
        print(f"== {lesson}")
        for r in (r for r in rows if r["lesson"] == lesson):
            parts = [f"{name}={score:g}/{mx:g}" + ("?" if manual else "")
                     for name, (score, mx, manual) in r["cells"].items()]
            written = (f"written {r['written']:g}/{r['written_max']:g}"
                       + (" (to hand-grade)" if r["needs_manual"] else ""))
            flags = f"  [{', '.join(r['flags'])}]" if r["flags"] else ""
            print(f"  {r['student']:<16} auto {r['auto']:g}/{r['auto_max']:g}  {written}{flags}")
            print(f"      {'  '.join(parts)}")


def _refuse_feedback(lesson: str) -> list[str]:
    """Students whose graded notebook of ``lesson`` still holds a hidden-test block (a grading
    that did not finish): no feedback is rendered from it, and an older page is removed."""
    refused = []
    for graded in sorted(AUTOGRADED.glob(f"*/{lesson}/{lesson}.ipynb")):
        student = graded.parent.parent.name
        if _holds_hidden(graded):
            refused.append(student)
            shutil.rmtree(AUTOGRADER / "feedback" / student / lesson, ignore_errors=True)
            print(f"! no feedback for {student}/{lesson}: its graded notebook still holds hidden "
                  f"tests (its grading did not finish); regrade it with "
                  f"make grade LESSON={lesson} STUDENT={student}")
    return refused


def feedback(lesson: str | None = None) -> None:
    for name in _pick(lesson):
        if not any(l == name for _, l in submissions(name)):
            continue
        refused = _refuse_feedback(name)
        _check(nbgrader("generate_feedback", name, "--force", "--log-level=WARN",
                        *([f"--CourseDirectory.student_id_exclude={','.join(refused)}"]
                          if refused else [])),
               f"nbgrader generate_feedback {name}")
        print(f"feedback for {name} in autograder/feedback/<student>/{name}/")


def export(to: str, lesson: str | None = None) -> None:
    """``grades.csv`` (a row per student and lesson, with a status) and ``grades-lms.csv`` beside
    it (a row per student, a column per lesson, for Canvas or Moodle): see grades_export.py."""
    import grades_export
    target = Path(to)
    if not target.is_absolute():
        target = Path.cwd() / target
    lms = target.with_name(target.stem + "-lms" + target.suffix)
    table = grades_export.write(DB_URL, target, lms, [lesson] if lesson else None,
                                graded=lambda s, l: _graded(s, l).exists())
    missing = sum(r["status"] == "not submitted" for r in table)
    manual = sum(r["status"] == "needs manual grading" for r in table)
    print(f"grades written to {target} ({len(table)} rows: {missing} not submitted, "
          f"{manual} waiting for manual grading) and, one row per student, to {lms}")


def check(lesson: str, notebook: str | None = None) -> int:
    """Grade a learner's own notebook with every test, hidden ones included, in a private copy.

    Prints the points of each test cell and the first line of its failure message. Nothing is
    written to the instructor's gradebook: the copy lives in a temporary folder.
    """
    import tempfile
    name = _pick(lesson)[0]
    path = Path(notebook) if notebook else ROOT / "lessons" / name / f"{name}.ipynb"
    if not path.exists():
        raise SystemExit(f"no notebook at {path}")
    with tempfile.TemporaryDirectory(prefix="rnncheck-") as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "solutions" / name, copy / "solutions" / name)
        (copy / "autograder").mkdir()
        for py in HERE.glob("*.py"):
            shutil.copy(py, copy / "autograder" / py.name)
        target = copy / "autograder" / "submitted" / "me" / name
        target.mkdir(parents=True)
        shutil.copy(path, target / f"{name}.ipynb")
        env = {**os.environ, "RNNCOURSE_ROOT": str(copy)}
        for var in ("RNNCOURSE_DB_URL", "RNNCOURSE_DB_URL_FILE"):
            env.pop(var, None)                       # the copy's own SQLite gradebook
        for args in (["release", "--lesson", name], ["grade", "--lesson", name]):
            proc = subprocess.run([sys.executable, str(copy / "autograder" / "course.py"), *args],
                                  env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"the self-check could not {args[0]} {name}")
        graded = copy / "autograder" / "autograded" / "me" / name / f"{name}.ipynb"
        if not graded.exists():
            print(proc.stdout)
            print(f"{path}: your notebook could not be graded (see above)")
            return 1
        messages = {}
        for cell in json.loads(graded.read_text())["cells"]:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if gid and errors:
                ename, evalue = errors[0].get("ename"), errors[0].get("evalue") or ""
                if ename == "NotImplementedError" and not evalue.strip():
                    evalue = "not written yet (the answer cell still raises NotImplementedError)"
                messages[gid] = f"{ename}: {evalue}"
        from nbgrader.api import Gradebook
        url = "sqlite:///" + str(copy / "autograder" / "gradebook.db")
        with Gradebook(url) as gb:
            sub = gb.find_submission_notebook(name, name, "me")
            print(f"self-check of {path} (every test, hidden ones included)\n")
            for g in sub.grades:
                if g.cell_type != "code":
                    print(f"  {g.name:<32} {'':>9}  written answer: graded by an instructor")
                    continue
                mark = "ok" if g.score == g.max_score else "FAILED"
                print(f"  {g.name:<32} {g.score:g}/{g.max_score:g} {mark:>6}")
                if g.name in messages and g.score != g.max_score:
                    first = messages[g.name].strip().splitlines()[0][:300]
                    print(f"      {first}")
            print(f"\n  autograded total: {sub.code_score:g}/{sub.max_code_score:g}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command",
                        choices=["release", "grade", "feedback", "export", "report", "check"])
    parser.add_argument("--lesson", help="one lesson id, e.g. 01_rnn (default: all)")
    parser.add_argument("--student", help="one student id (grade only)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "1") or 1),
                        help="grade: submissions graded in parallel (default 1)")
    parser.add_argument("--shard", help="grade: only the submissions of shard i/n (e.g. 1/3), "
                        "for n graders on one gradebook (shards.py)")
    parser.add_argument("--notebook", help="check: the notebook to grade (default lessons/L/L.ipynb)")
    parser.add_argument("--to", default=str(AUTOGRADER / "grades.csv"), help="export: CSV path")
    args = parser.parse_args(argv)
    shard = shards.parse(args.shard) if args.shard else None
    if shard and args.command != "grade":
        raise SystemExit(f"--shard (SHARD=) splits grading only, not {args.command}")
    if args.command != "check":
        gradebook_db.check_driver(DB_URL)
    from sqlalchemy.exc import OperationalError
    try:
        return _run(args, shard)
    except OperationalError as err:
        first = str(getattr(err, "orig", err)).strip().splitlines()[0]
        raise SystemExit(f"the gradebook {gradebook_db.redact(DB_URL)} could not be used: {first}"
                         + ("\n(DB_URL: is the database server running and reachable, the user "
                            "and password right, the database created?)"
                            if gradebook_db.is_postgres(DB_URL) else "")) from None


def _run(args, shard) -> int:
    if args.command == "release":
        release(args.lesson)
    elif args.command == "grade":
        grade(args.lesson, args.student, args.jobs, shard)   # failures are printed; export still runs after
    elif args.command == "feedback":
        feedback(args.lesson)
    elif args.command == "check":
        if not args.lesson:
            raise SystemExit("check needs a lesson: make check LESSON=01_rnn")
        return check(args.lesson, args.notebook)
    elif args.command == "export":
        export(args.to, args.lesson)
    else:
        report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
