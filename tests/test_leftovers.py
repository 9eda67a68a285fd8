"""A grading run killed with SIGKILL leaves its scratch folder (and, as root, its cgroups); the
next `course.py grade` removes them, and never those of a run still going (autograder/leftovers.py).
Two runs at once keep out of each other's way: each has kernel uids of its own."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, lesson_ids, make_course_copy, run_course, submit

sys.path.insert(0, str(REPO / "autograder"))
import leftovers  # noqa: E402

LESSON = "01_rnn"
TMP = Path(tempfile.gettempdir())


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_folders_of_processes_that_are_gone_are_found(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f"rnngrade-{_dead_pid()}-abc"
        running = tmp_path / f"rnngrade-{alive.pid}-abc"
        mine = tmp_path / f"rnngrade-{os.getpid()}-abc"
        other_kind = tmp_path / f"rnngradebook-{_dead_pid()}-abc"
        no_pid = tmp_path / "rnngrade-9kwlbnh5"
        for folder in (dead, running, mine, other_kind, no_pid):
            folder.mkdir()
        assert leftovers.of_dead_runs(tmp_path, "rnngrade-") == [dead]
        assert leftovers.of_dead_runs(tmp_path, "rnngradebook-") == [other_kind]
    finally:
        alive.kill()
        alive.wait()


def _cgroups_named(prefix: str) -> list[Path]:
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        if top.count("/") > 6:
            dirs[:] = []
        found += [Path(top) / d for d in dirs if d.startswith(prefix)]
    return found


@pytest.mark.skipif(LESSON not in lesson_ids(), reason="lesson 01 is missing")
def test_the_next_grade_removes_what_a_killed_one_left(tmp_path):
    root = make_course_copy(tmp_path / "course")
    run_course(root, "release", "--lesson", LESSON)
    submit(root, "alice", LESSON, REPO / "solutions" / LESSON / f"{LESSON}.ipynb")
    env = dict(os.environ, RNNCOURSE_ROOT=str(root))
    grader = subprocess.Popen([sys.executable, str(root / "autograder" / "course.py"), "grade"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scratch = []
    deadline = time.monotonic() + 120
    while not scratch and time.monotonic() < deadline and grader.poll() is None:
        time.sleep(0.2)
        scratch = list(TMP.glob(f"rnngrade-{grader.pid}-*"))
    assert scratch, "course.py grade made no scratch folder rnngrade-<its pid>-* in the temp folder"
    cgroups = _cgroups_named(f"rnngrade-{grader.pid}-")     # as root: its slot's two, v1 or v2
    time.sleep(3)                                         # a kernel is starting or running
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    assert all(p.exists() for p in scratch + cgroups), "a SIGKILLed run left nothing to test"
    assert cgroups or os.geteuid() != 0, "as root, the run made no cgroups rnngrade-<pid>-*"

    again = run_course(root, "grade", "--student", "nobody")
    assert not any(p.exists() for p in scratch + cgroups), again.stdout
    assert "left by grading runs that were killed" in again.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel uids are reserved only as root")
def test_two_grading_runs_at_once_get_kernel_uids_of_their_own():
    """A process limit is per uid: two runs on one machine that shared the slots' uids could
    starve each other's kernels (found by a hostile-student helper: one run's fork bomb left the
    other's kernel unable to start). Each run reserves a block of uids for as long as it runs."""
    import sandbox
    first, lock = sandbox.reserve_uids(2)
    second, other = sandbox.reserve_uids(8)            # another run, while the first holds its
    try:
        assert abs(first - second) >= sandbox.UID_BLOCK, (first, second)
        lock.close()                                   # the first run ends: its block is free
        again, lock = sandbox.reserve_uids(1)
        assert again <= first, (again, first)          # the lowest free block
    finally:
        lock.close()
        other.close()
