"""Grading limits, resources and the sandbox's file system, through the real `course.py grade`
and `feedback` path on lesson 01 (issue 16 items 5, 7, 8, 9; issue 17 item 7).

One class is graded once (two at a time) with small limits: a submission that runs past the
grading process's limit, and one that, after its answers, looks at the modes of its scratch
folder and connection file, searches the machine for another copy of the course, fills /tmp and
its working folder and holds many processes' worth of memory. A correct submission graded in
the same run keeps full marks. Then one submission is regraded with a limit too short to finish
(a lost worker), and feedback is made."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, gradebook_rows, hidden_lines, lesson_ids, load_nb, make_course_copy, run_course, submit
from test_robust_grading import _code_cell, _gid

LESSON = "01_rnn"
pytestmark = pytest.mark.skipif(LESSON not in lesson_ids(), reason="lesson 01 is missing")

SOLUTION = REPO / "solutions" / LESSON / f"{LESSON}.ipynb"
CELL_S, SUBMISSION_S = 15, 75      # the notebook limit course.py derives from these: 50 s
MEMORY_MB, DISK_MB = 2048, 64
EARNED = ["test_rnn_step_forward", "test_rnn_forward"]     # the tests before the slow cells
SECOND_MARKER = "rnn-second-copy-marker-5521"


def _insert_after(nb, gid, *sources):
    i = next(k for k, c in enumerate(nb["cells"]) if _gid(c) == gid)
    nb["cells"][i + 1:i + 1] = [_code_cell(s) for s in sources]


def _at_end(nb, source):
    nb["cells"].append(_code_cell(source))


SLOW = "import time\ntime.sleep(1000)\n"          # each is interrupted at the cell limit

MEMORY = """
import subprocess, sys, time, select
_hog = "b = b'x' * (1200 << 20); print('k', flush=True); import time; time.sleep(60)"
_kids = [subprocess.Popen([sys.executable, "-S", "-c", _hog], stdout=subprocess.PIPE)
         for _ in range(2)]
_held, _t = 0, time.time()
_open = {k.stdout.fileno(): k for k in _kids}
while _open and time.time() - _t < 12:
    for _fd in select.select(list(_open), [], [], 0.5)[0]:
        _held += _open.pop(_fd).stdout.readline().strip() == b"k"
for _k in _kids:
    _k.kill()
    _k.wait()
print(f"HELD {_held} of 2 processes of 1200 MB")
"""

DISK = """
import os
def _fill(folder):
    total = 0
    for i in range(3):
        try:
            with open(os.path.join(folder, f"fill{i}"), "wb") as f:
                for _ in range(100):
                    f.write(b"x" * (1 << 20))
                    total += 1
        except OSError:
            pass
    return total
from ipykernel.connect import get_connection_file
print(f"WROTE work={_fill('.')} tmp={_fill('/tmp')} "
      f"sockets={_fill(os.path.dirname(get_connection_file()))} MB")
"""


def _search(places):
    return f"""
import os, time
_found = []
for _p in {places!r}:
    try:
        if {SECOND_MARKER!r} in open(_p).read() or "BEGIN SOLUTION" in open(_p).read():
            _found.append(_p)
    except OSError:
        pass
_t = time.time()
for _dir, _subs, _files in os.walk("/"):
    if _dir in ("/proc", "/sys", "/dev") or time.time() - _t > 6:
        _subs[:] = []
        continue
    if os.path.basename(_dir) == "solutions" or "solutions/" in _dir:
        for _f in _files:
            try:
                if {SECOND_MARKER!r} in open(os.path.join(_dir, _f)).read():
                    _found.append(os.path.join(_dir, _f))
            except (OSError, UnicodeDecodeError):
                pass
print("FOUND", sorted(set(_found)))
"""


MODES = """
import os, glob
from ipykernel.connect import get_connection_file
_scratch = os.path.dirname(os.environ["HOME"])
_conn = get_connection_file()
_hist = glob.glob(os.environ["IPYTHONDIR"] + "/**/history.sqlite", recursive=True) \\
    + glob.glob(os.environ["HOME"] + "/**/history.sqlite", recursive=True)
print("MODES", oct(os.stat(_scratch).st_mode & 0o777), oct(os.stat(_conn).st_mode & 0o777),
      os.stat(_conn).st_uid, os.getuid(), "history", _hist)
"""


@pytest.fixture(scope="module")
def limits_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    root = make_course_copy(tmp / "course")
    scratch = tmp                      # TMPDIR of the graders: what grading leaves there
    # Another copy of the course outside the graded one and outside /tmp (an instructor's clone).
    second = Path(tempfile.mkdtemp(prefix="rnn-second-copy-", dir="/var/tmp"))
    shutil.copytree(REPO / "solutions" / LESSON, second / "solutions" / LESSON)
    marked = load_nb(second / "solutions" / LESSON / f"{LESSON}.ipynb")
    marked["cells"].append(_code_cell(f"# {SECOND_MARKER}\n"))
    (second / "solutions" / LESSON / f"{LESSON}.ipynb").write_text(json.dumps(marked))
    for folder in (second, second / "solutions", second / "solutions" / LESSON):
        folder.chmod(0o755)                       # readable by all, as a clone usually is
    try:
        run_course(root, "release", "--lesson", LESSON)
        solution = load_nb(SOLUTION)
        places = [str(second / "solutions" / LESSON / f"{LESSON}.ipynb"), str(SOLUTION)]
        plans = {
            "good": lambda nb: None,
            "slow": lambda nb: _insert_after(nb, EARNED[-1], *[SLOW] * 6),
            "probe": lambda nb: [_at_end(nb, s) for s in (MODES, _search(places), DISK, MEMORY)],
            "lost": lambda nb: None,
        }
        for student, edit in plans.items():
            nb = json.loads(json.dumps(solution))
            edit(nb)
            path = tmp / f"{student}.ipynb"
            path.write_text(json.dumps(nb))
            submit(root, student, LESSON, path)
        env = {"RNNCOURSE_CELL_TIMEOUT": str(CELL_S), "RNNCOURSE_NOTEBOOK_TIMEOUT": "900",
               "RNNCOURSE_SUBMISSION_TIMEOUT": str(SUBMISSION_S),
               "RNNCOURSE_MEMORY_MB": str(MEMORY_MB), "RNNCOURSE_DISK_MB": str(DISK_MB),
               "TMPDIR": str(scratch)}
        proc = run_course(root, "grade", "--jobs", "2", env_extra=env)
        print(proc.stdout)
        rows = gradebook_rows(root)
        probe = _outputs(root, "probe")
        # A worker lost anyway: a limit too short to even start grading.
        lost = run_course(root, "grade", "--student", "lost",
                          env_extra={**env, "RNNCOURSE_SUBMISSION_TIMEOUT": "2"})
        print(lost.stdout)
        left_by_lost = [p for p in (root / "autograder" / "autograded" / "lost").rglob("*.ipynb")
                        if "BEGIN HIDDEN TESTS" in p.read_text()]
        # What a lost worker of older code left: a graded notebook with its hidden tests.
        planted = root / "autograder" / "autograded" / "lost" / LESSON / f"{LESSON}.ipynb"
        planted.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SOLUTION, planted)
        feedback = run_course(root, "feedback", "--lesson", LESSON)
        lines = {s: next((l for l in proc.stdout.splitlines() if f" {s}/{LESSON}:" in l), "")
                 for s in plans}
        yield dict(root=root, rows=rows, after_lost=gradebook_rows(root), log=proc.stdout,
                   lines=lines, lost_log=lost.stdout, left_by_lost=left_by_lost, probe=probe,
                   feedback=feedback.stdout + feedback.stderr, scratch=scratch)
    finally:
        shutil.rmtree(second, ignore_errors=True)


def _points(rows, student, tests=None):
    grades = {g: v for g, v in rows[(student, LESSON)].items() if v[3] == "code"}
    chosen = [grades[t] for t in tests] if tests else list(grades.values())
    return sum(v[2] or 0 for v in chosen), sum(v[1] for v in chosen)


def _outputs(root, student):
    nb = load_nb(root / "autograder" / "autograded" / student / LESSON / f"{LESSON}.ipynb")
    return "".join("".join(o.get("text", "")) + str(o.get("evalue", ""))
                   for c in nb["cells"] for o in c.get("outputs", []))


def _hidden_lines():
    lines = hidden_lines(SOLUTION)
    assert lines, "lesson 01 has no hidden tests"
    return lines


def test_a_correct_submission_in_the_same_run_keeps_full_marks(limits_class):
    got, top = _points(limits_class["rows"], "good")
    assert got == top, f"good lost points ({got}/{top}):\n{limits_class['log']}"


def test_a_submission_past_the_limit_keeps_its_earned_points(limits_class):
    lc = limits_class
    got, top = _points(lc["rows"], "slow", EARNED)
    assert got == top, (f"slow ran past the grading limit and lost the points it had earned "
                        f"({got}/{top}):\n{lc['lines']['slow']}")
    assert "timeout" in lc["lines"]["slow"] or "not run" in lc["lines"]["slow"], lc["lines"]["slow"]
    graded = lc["root"] / "autograder" / "autograded" / "slow" / LESSON / f"{LESSON}.ipynb"
    assert "BEGIN HIDDEN TESTS" not in graded.read_text(), "hidden tests left in autograded/"


def test_a_lost_worker_records_zero_with_a_flag_and_leaves_no_hidden_test(limits_class):
    lc = limits_class
    assert lc["rows"][("lost", LESSON)] and _points(lc["rows"], "lost")[0] > 0
    got, _ = _points(lc["after_lost"], "lost")
    line = next(l for l in lc["lost_log"].splitlines() if f" lost/{LESSON}:" in l)
    assert got == 0, f"the points of an earlier grading stayed after a lost worker: {line}"
    assert any(flag in line for flag in ("not graded", "timeout", "not run")), line
    assert not lc["left_by_lost"], f"a lost worker left hidden tests in {lc['left_by_lost']}"


def test_grading_leaves_no_scratch_folder(limits_class):
    left = list(limits_class["scratch"].glob("rnngrade-*"))
    assert not left, f"grading left scratch folders behind: {left}"


def test_feedback_refuses_a_notebook_with_hidden_tests(limits_class):
    lc = limits_class
    feedback = lc["root"] / "autograder" / "feedback"
    assert not (feedback / "lost" / LESSON).exists(), "feedback rendered hidden tests"
    assert "no feedback for lost" in lc["feedback"], lc["feedback"]
    hidden = _hidden_lines()
    for student in ("good", "slow", "probe"):
        page = feedback / student / LESSON / f"{LESSON}.html"
        if page.exists():
            import html
            text = html.unescape(page.read_text())
            assert not [l for l in hidden if l in text], f"feedback of {student} shows hidden tests"
    assert (feedback / "good" / LESSON / f"{LESSON}.html").exists(), lc["feedback"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the memory of a whole sandbox is limited as root")
def test_many_processes_cannot_hold_more_than_the_slot_memory(limits_class):
    lc = limits_class
    text = lc["probe"]
    assert "HELD 2 of 2" not in text, f"2 x 1200 MB held under a {MEMORY_MB} MiB limit: {text[-300:]}"
    assert "HELD" in text or "crash" in lc["lines"]["probe"], lc["lines"]["probe"]
    got, top = _points(lc["rows"], "probe")
    assert got == top, lc["lines"]["probe"]


def test_tmp_and_the_working_folder_are_capped(limits_class):
    lc = limits_class
    wrote = lc["probe"].split("WROTE", 1)[1].split()
    work, tmp, sockets = (int(w.split("=")[1]) for w in wrote[:3])
    assert work <= DISK_MB and tmp <= DISK_MB, f"wrote {work} MB and {tmp} MB past {DISK_MB} MiB"
    if os.geteuid() == 0:
        # The sockets' folder is shared with the host: as root a sized tmpfs, not the disk
        # (not as root it is on the disk, and only each file's size is limited).
        assert sockets <= DISK_MB, f"wrote {sockets} MB in the sockets' folder past {DISK_MB} MiB"


def test_the_kernel_finds_no_other_copy_of_the_course(limits_class):
    lc = limits_class
    found = lc["probe"].split("FOUND", 1)[1].splitlines()[0]
    assert found.strip() == "[]", f"the kernel read solutions outside the graded course: {found}"


def test_scratch_and_connection_file_are_private_and_there_is_no_history(limits_class):
    lc = limits_class
    scratch, conn, owner, uid, _, hist = lc["probe"].split("MODES", 1)[1].split(None, 5)
    assert int(scratch, 8) & 0o077 == 0, f"the scratch folder is {scratch}"
    assert int(conn, 8) & 0o077 == 0, f"the connection file is {conn}"
    assert owner == uid, f"the connection file belongs to uid {owner}, not the kernel's {uid}"
    assert hist.splitlines()[0].strip() == "[]", f"IPython history was written: {hist}"
