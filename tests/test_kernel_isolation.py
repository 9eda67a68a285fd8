"""Nothing of one submission reaches the next one graded in the same slot (issue 21, goal 1).

A grading worker starts the next submission's sandboxed kernel while it grades the current one
(``grade_worker.py``): the two kernels are alive at once, one after the other in the same slot.
Both are forked by the slot's fork server (``zygote.py``) from one image; the test runs that way
and with ``RNNCOURSE_FORK_SERVER=off`` (each kernel in a bwrap sandbox of its own). The forked
run grades with the course's venv in the course, in /tmp (which each kernel gets fresh).
This test grades, through ``course.py grade`` with one job, a tiny probe lesson (one answer
cell, one test cell run by the grader outside the kernel) for two students in a row:

* ``a-leaver`` leaves everything behind that it can: files in its working folder, HOME, TMPDIR,
  /tmp, /dev/shm, IPython's and matplotlib's folders; a monkeypatched ``torch.tanh``, attributes
  on torch, NumPy, rnnkit and builtins, a module of its own in ``sys.modules``, a variable in
  ``os.environ``; a running thread; a background process in a session of its own and a
  double-forked one. Its ``leaks()`` returns what of that is NOT there in its own kernel, so
  its full mark shows that every trace was really left (else the second student's clean bill
  would prove nothing);
* ``b-looker``, graded next in the same slot, looks for all of it; its ``leaks()`` returns what
  it found, and any power a kernel must not have: root, a capability, the right to gain
  privileges, a kernel keyring, a socket outside its own sockets' folder (the fork server's).

The lesson's test cell asserts ``leaks() == []`` in the grader: both score 1/1 only if the
leaver's traces existed and the looker found none. About 15 s each way on 2 quiet cores (one worker,
a lesson of two cells, two submissions).
"""

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO, gradebook_rows, make_course_copy, run_course, submit

sys.path.insert(0, str(REPO / "autograder"))
import sandbox  # noqa: E402  (autograder/sandbox.py)

LESSON = "00_probe"
MARK = "leak-marker-21"

PLACES = ("os.getcwd()", "os.environ.get('HOME', '/nonexistent')",
          "os.environ.get('TMPDIR', '/tmp')", "'/tmp'", "'/dev/shm'",
          "os.environ.get('IPYTHONDIR', '/nonexistent')",
          "os.environ.get('MPLCONFIGDIR', '/nonexistent')")

FIND = f'''
import builtins, os, sys, threading
import numpy, rnnkit, torch

PLACES = [{", ".join(PLACES)}]


def _processes():
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                    if b"{MARK}" in f.read():
                        found.append(pid)
            except OSError:
                pass
    return found


def traces():
    """Every trace of the leaver this kernel can see: a list of names."""
    seen = []
    for place in PLACES:
        if os.path.isdir(place):
            for root, dirs, files in os.walk(place):
                seen += [os.path.join(root, n) for n in dirs + files if "{MARK}" in n]
    if getattr(torch.tanh, "{MARK.replace('-', '_')}", False):
        seen.append("torch.tanh patched")
    for owner in (torch, numpy, rnnkit, builtins):
        if hasattr(owner, "{MARK.replace('-', '_')}"):
            seen.append(f"attribute on {{owner.__name__}}")
    if "{MARK}" in sys.modules:
        seen.append("module in sys.modules")
    if os.environ.get("{MARK.replace('-', '_')}"):
        seen.append("os.environ")
    seen += [f"thread {{t.name}}" for t in threading.enumerate() if "{MARK}" in t.name]
    seen += [f"process {{pid}}" for pid in _processes()]
    return sorted(set(seen + _powers()))


def _powers():
    """What no kernel may have: root, a capability, the right to gain privileges, a kernel
    keyring (keys outlive it), a socket outside its own sockets' folder (the fork server's,
    another kernel's)."""
    import stat
    from ipykernel.connect import get_connection_file
    found = ["root"] if 0 in os.getresuid() else []
    import ctypes, platform
    add_key = {{"x86_64": 248, "aarch64": 217}}.get(platform.machine())
    if add_key is not None:                        # a key in the uid's keyring outlives us
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(add_key, b"user", b"{MARK}", b"x", 1, -4) >= 0:   # -4: @u
            found.append("a kernel keyring")
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.startswith("Cap") and int(value, 16):
                found.append(f"capabilities {{key}}")
            if key == "NoNewPrivs" and value.strip() != "1":
                found.append("may gain privileges")
    own = os.path.dirname(get_connection_file())
    for top in ("/tmp", "/dev/shm", "/run", os.path.dirname(own), os.path.dirname(os.getcwd())):
        for root, dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(root, name)
                try:
                    if stat.S_ISSOCK(os.lstat(path).st_mode) and root != own:
                        found.append(f"socket {{path}}")
                except OSError:
                    pass
    return found
'''

LEAVE = FIND + f'''
import subprocess, time, types
for place in PLACES:
    try:
        with open(os.path.join(place, "{MARK}.txt"), "w") as f:
            f.write("left by a-leaver")
    except OSError as err:
        print("could not write in", place, err)
_tanh = torch.tanh
def _patched(x, *args, **kwargs):
    return _tanh(x, *args, **kwargs)
_patched.{MARK.replace('-', '_')} = True
torch.tanh = _patched
for owner in (torch, numpy, rnnkit, builtins):
    setattr(owner, "{MARK.replace('-', '_')}", True)
sys.modules["{MARK}"] = types.ModuleType("{MARK}")
os.environ["{MARK.replace('-', '_')}"] = "1"
threading.Thread(target=lambda: time.sleep(3600), name="{MARK}", daemon=True).start()
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)  # {MARK}"],
                 start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:                       # a double fork: the grandchild is nobody's child
    if os.fork() == 0:
        os.setsid()
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)  # {MARK}"])
    os._exit(0)
os.wait()
time.sleep(0.5)
EXPECTED = {{os.path.join(p, "{MARK}.txt") for p in PLACES}} | {{
    "torch.tanh patched", "attribute on torch", "attribute on numpy", "attribute on rnnkit",
    "attribute on builtins", "module in sys.modules", "os.environ", "thread {MARK}"}}


def leaks():
    """What the leaver failed to leave in its own kernel (it should see every trace)."""
    seen = traces()
    missing = sorted(e for e in EXPECTED if e not in seen)
    if len([s for s in seen if s.startswith("process")]) < 2:
        missing.append("the two background processes")
    return missing
'''

LOOK = FIND + '''

def leaks():
    """What an earlier submission left that this kernel can see (nothing, if isolated)."""
    return traces()
'''


def _cell(kind, source, **meta):
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if meta:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False,
                                        "grade": False, **meta}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def probe_lesson(answer: str) -> dict:
    """The probe lesson with ``answer`` as its answer cell."""
    model = json.loads((REPO / "solutions" / "01_rnn" / "01_rnn.ipynb").read_text())
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": model["metadata"], "cells": [
        _cell("markdown", "Probe: what an earlier submission left behind."),
        _cell("code", answer, grade_id="leaks", solution=True),
        _cell("code", f"found = leaks()\nassert found == [], f'found: {{found}}'\n"
                      f"print('nothing left behind (visible tests passed)')",
              grade_id="test_leaks", grade=True, locked=True, points=1),
    ]}


@pytest.mark.skipif(not sandbox.available()[0], reason="the kernels' isolation is bubblewrap's")
@pytest.mark.parametrize("fork_server", ["auto", "off"])
def test_the_next_submission_in_a_slot_finds_nothing_of_the_previous_one(tmp_path, fork_server):
    root = make_course_copy(tmp_path / "course")
    folder = root / "solutions" / LESSON
    folder.mkdir()
    solution = "### BEGIN SOLUTION\n" + LOOK + "### END SOLUTION\n"
    (folder / f"{LESSON}.ipynb").write_text(json.dumps(probe_lesson(solution)))
    run_course(root, "release", "--lesson", LESSON)
    for student, code in (("a-leaver", LEAVE), ("b-looker", LOOK)):
        path = tmp_path / f"{student}.ipynb"
        path.write_text(json.dumps(probe_lesson(code)))
        submit(root, student, LESSON, path)
    python = None
    if fork_server == "auto":
        # The course and its venv in /tmp, which each forked kernel gets fresh: they must stay.
        (root / ".venv").symlink_to(Path(sys.prefix))
        python = str(root / ".venv" / "bin" / Path(sys.executable).name)
    proc = run_course(root, "grade", "--lesson", LESSON, "--jobs", "1", timeout=600,
                      env_extra={"RNNCOURSE_FORK_SERVER": fork_server}, python=python)
    forked = 2 if fork_server == "auto" else 0
    assert f"kernels: {forked} forked by the slots' fork servers, {2 - forked} started" in (
        proc.stdout), proc.stdout
    rows = gradebook_rows(root)

    def said(student):
        graded = root / "autograder" / "autograded" / student / LESSON / f"{LESSON}.ipynb"
        if not graded.exists():
            return f"{student} was not graded:\n{proc.stdout}"
        return json.dumps(json.loads(graded.read_text())["cells"][-1]["outputs"])[:1500]

    assert rows[("a-leaver", LESSON)]["test_leaks"][0] == 1, (
        f"the leaver could not leave its traces, so the test proves nothing: {said('a-leaver')}")
    assert rows[("b-looker", LESSON)]["test_leaks"][0] == 1, (
        f"the next submission found what the previous one left: {said('b-looker')}\n{proc.stdout}")
