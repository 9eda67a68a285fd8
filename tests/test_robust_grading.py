"""A hostile class, graded through the real `course.py grade` path (as root in CI, bubblewrap
installed) on lesson 01: each student tries one way to score without the work, to read what is
hidden, or to hurt the gradebook or another student. In the same run a correct submission
keeps full marks."""

import hashlib
import html as html_lib
import json
import os
import socket
import subprocess

import pytest

from conftest import REPO, gradebook_rows, hidden_lines, join_class, lesson_ids, load_nb, make_course_copy, run_course, submit

LESSON = "01_rnn"
pytestmark = pytest.mark.skipif(LESSON not in lesson_ids(), reason="lesson 01 is missing")

SOLUTION = REPO / "solutions" / LESSON / f"{LESSON}.ipynb"
MARKER = "rnn-daemon-marker-613"


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _answers(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"
            and c["metadata"].get("nbgrader", {}).get("solution")]


def _tests(nb):
    return [_gid(c) for c in nb["cells"] if c["cell_type"] == "code"
            and c["metadata"].get("nbgrader", {}).get("grade")
            and not c["metadata"]["nbgrader"].get("solution")]


FIRST = _gid(_answers(load_nb(SOLUTION))[0])           # rnn_step_forward
FIRST_TEST = f"test_{FIRST}"
WRONG_FIRST = (f"\ndef {FIRST}(x, h_prev, W_ih, W_hh, b_ih, b_hh):\n"
               f"    return np.zeros((x.shape[0], W_hh.shape[0])), None\n")


def _code_cell(source):
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": source}


def _append(nb, gid, code):
    cell = next(c for c in nb["cells"] if _gid(c) == gid)
    cell["source"] = "".join(cell["source"]) + "\n" + code


def _blank_with_wrappers(nb):
    """Every answer function of the blank lesson calls displayhook before it raises."""
    for cell in _answers(nb):
        name = _gid(cell)
        cell["source"] = "".join(cell["source"]) + (
            f"\n_orig_{name} = {name}\n"
            f"def {name}(*args, **kwargs):\n"
            f"    get_ipython().displayhook(1.0)\n"
            f"    get_ipython().displayhook('1.0')\n"
            f"    return _orig_{name}(*args, **kwargs)\n")


def _students(tmp, root, port):
    solution = load_nb(root / "solutions" / LESSON / f"{LESSON}.ipynb")
    blank = load_nb(root / "lessons" / LESSON / f"{LESSON}.ipynb")
    built = {}

    def make(name, base, edit=None):
        nb = json.loads(json.dumps(base))
        if edit:
            edit(nb)
        path = tmp / f"{name}.ipynb"
        path.write_text(json.dumps(nb))
        built[name] = path

    make("good", solution)
    make("blank_displayhook", blank, _blank_with_wrappers)
    make("blank_excepthook", blank, lambda nb: nb["cells"].insert(1, _code_cell(
        "from IPython.core.interactiveshell import ExecutionResult\n"
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        "ExecutionResult.success = property(lambda self: True)\n"
        "ExecutionResult.raise_error = lambda self: None\n")))
    make("code_swap", solution, lambda nb: _append(nb, FIRST, WRONG_FIRST + (
        "import rnnkit.checks, numpy\n"
        "_noop = (lambda *a, **k: None).__code__\n"
        "for _n in dir(rnnkit.checks):\n"
        "    _f = getattr(rnnkit.checks, _n)\n"
        "    try:\n"
        "        _f.__code__ = _noop\n"
        "    except Exception:\n"
        "        pass\n"
        "for _f in (numpy.sum, numpy.allclose, numpy.abs, numpy.max):\n"
        "    try:\n"
        "        _f.__code__ = (lambda *a, **k: 0).__code__\n"
        "    except Exception:\n"
        "        pass\n")))
    make("rebind_during_call", solution, lambda nb: _append(nb, FIRST, (
        f"\ndef {FIRST}(x, h_prev, W_ih, W_hh, b_ih, b_hh):\n"
        f"    import rnnkit.checks, numpy\n"
        f"    rnnkit.checks.check_close = lambda *a, **k: None\n"
        f"    numpy.allclose = lambda *a, **k: True\n"
        f"    return np.zeros((x.shape[0], W_hh.shape[0])), None\n")))
    make("frames", solution, lambda nb: _append(nb, FIRST, (
        f"\ndef {FIRST}(x, h_prev, W_ih, W_hh, b_ih, b_hh):\n"
        f"    import sys, linecache, gc\n"
        f"    for _name, _entry in list(linecache.cache.items()):\n"
        f"        print(_name, ''.join(_entry[2]) if len(_entry) > 2 else '')\n"
        f"    f = sys._getframe(1)\n"
        f"    while f is not None:\n"
        f"        for k, v in f.f_locals.items():\n"
        f"            if 'ref' in k or 'expected' in k:\n"
        f"                return v, None\n"
        f"        f = f.f_back\n"
        f"    return np.zeros((x.shape[0], W_hh.shape[0])), None\n")))
    make("proc_root", solution, lambda nb: _append(nb, FIRST, f"""
import os, pathlib, sqlite3
_leaks = []
_roots = ["/"] + [f"/proc/{{p}}/root/" for p in os.listdir("/proc") if p.isdigit()]
for _r in _roots:
    _c = pathlib.Path(_r + {str(root)!r}.lstrip("/"))
    for _p in ("solutions/{LESSON}/{LESSON}.ipynb", "autograder/submitted/good/{LESSON}/{LESSON}.ipynb"):
        try:
            (_c / _p).read_bytes()
            _leaks.append("read " + _r + _p)
        except OSError:
            pass
    try:
        _db = sqlite3.connect(str(_c / "autograder" / "gradebook.db"), timeout=1)
        _db.execute("UPDATE grade SET auto_score = 0")
        _db.commit()
        _leaks.append("wrote the gradebook via " + _r)
    except Exception:
        pass
    for _p in ("lessons/pwned.txt", "pwned.txt", "lib/pwned.txt"):
        try:
            (_c / _p).write_text("x")
            _leaks.append("wrote " + _r + _p)
        except OSError:
            pass
try:
    import socket
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    _leaks.append("network")
except OSError:
    pass
if _leaks:
    print("sandbox leaked:", _leaks[:5])
    {FIRST} = None
"""))
    make("daemon", solution, lambda nb: _append(nb, FIRST, f"""
import os
_kernel = os.getpid()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["sh", "-c",
                 "while kill -0 {{0}} 2>/dev/null; do sleep 0.2; done; "
                 "for i in $(seq 300); do pkill -9 -f ipykernel_launcher; sleep 0.2; done "
                 "# {MARKER}".format(_kernel)])
    os._exit(0)
os.wait()
"""))
    make("stderr_and_duplicate", solution, lambda nb: _duplicate_first_with_stderr(nb))
    make("big_print", solution, lambda nb: nb["cells"].insert(
        3, _code_cell("print('x' * 300_000_000)\n")))
    make("hooks", solution, lambda nb: _append(nb, FIRST, WRONG_FIRST + """
import atexit, sys, threading, signal, ctypes, time
import rnnkit.checks
sys.settrace(lambda *a: None)
atexit.register(lambda: print("bye"))
signal.signal(signal.SIGTERM, signal.SIG_IGN)
get_ipython().events.register("pre_run_cell", lambda *a: None)
get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
def _keep_rebinding():
    for _ in range(2000):
        rnnkit.checks.check_close = lambda *a, **k: None
        time.sleep(0.01)
threading.Thread(target=_keep_rebinding, daemon=True).start()
"""))
    make("writes_lib", solution, lambda nb: _append(nb, FIRST, f"""
import pathlib, sys
_hits = []
for _p in [pathlib.Path({str(REPO / 'lib' / 'rnnkit' / 'checks.py')!r}),
           pathlib.Path(sys.prefix) / "pwned.txt"]:
    try:
        with open(_p, "a") as _f:
            _f.write("# pwned")
        _hits.append(str(_p))
    except OSError:
        pass
if _hits:
    print("wrote", _hits)
    {FIRST} = None
"""))
    make("fork_bomb", solution, lambda nb: _append(nb, FIRST, """
import subprocess
_procs = []
for _ in range(1000):
    try:
        _procs.append(subprocess.Popen(["sleep", "30"]))
    except OSError:
        break
print("spawned", len(_procs), "processes")
for _p in _procs:
    _p.kill()
    _p.wait()
"""))
    make("crash", solution, lambda nb: _append(nb, FIRST, "import os\nos._exit(3)\n"))
    make("loop", solution, lambda nb: _append(nb, FIRST, "while True:\n    pass\n"))
    make("loop_no_interrupt", solution, lambda nb: nb["cells"].insert(len(nb["cells"]) - 1, _code_cell(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n")))
    make("membomb", solution, lambda nb: _append(nb, FIRST,
         "_hog = bytearray(3 * 1024 ** 3)\n_hog[::4096] = b'x' * len(_hog[::4096])\n"))
    make("shadow", solution, lambda nb: _append(nb, FIRST,
         "tests = 'my notes'\nhidden_seed = None\nrnnkit = None\ncheck_close = len\n"))

    def edit_test(nb):
        _append(nb, FIRST, WRONG_FIRST)
        next(c for c in nb["cells"] if _gid(c) == FIRST_TEST)["source"] = "pass\n"

    def delete_test(nb):
        _append(nb, FIRST, WRONG_FIRST)
        nb["cells"] = [c for c in nb["cells"] if _gid(c) != FIRST_TEST]

    make("edited_test", solution, edit_test)
    make("deleted_test", solution, delete_test)
    return built


def _duplicate_first_with_stderr(nb):
    """Correct work with debug lines on stderr and a warning, and its first answer cell
    pasted twice (the copy keeps the nbgrader metadata)."""
    import sys  # noqa: F401
    cell = next(c for c in nb["cells"] if _gid(c) == FIRST)
    src = "".join(cell["source"])
    name_line = f"def {FIRST}("
    src = src.replace(name_line, "import sys, warnings\n" + name_line, 1)
    body = src.split('"""', 2)
    src = body[0] + '"""' + body[1] + '"""\n    print("debug", file=sys.stderr)\n' \
        "    warnings.warn('a warning from my code')" + body[2]
    cell["source"] = src
    i = nb["cells"].index(cell)
    nb["cells"].insert(i + 1, json.loads(json.dumps(cell)))


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    root = make_course_copy(tmp / "course")
    run_course(root, "release", "--lesson", LESSON)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    students = _students(tmp, root, listener.getsockname()[1])
    for student, path in students.items():
        submit(root, student, LESSON, path)
    # The symlink attack: a "notebook" that points at the gradebook.
    link_dir = root / "autograder" / "submitted" / "symlink" / LESSON
    link_dir.mkdir(parents=True)
    (link_dir / f"{LESSON}.ipynb").symlink_to("../../../gradebook.db")
    students["symlink"] = None
    lib_hash = hashlib.sha256((REPO / "lib" / "rnnkit" / "checks.py").read_bytes()).hexdigest()
    proc = run_course(root, "grade", "--jobs", "2",
                      env_extra={"RNNCOURSE_CELL_TIMEOUT": "10", "RNNCOURSE_MEMORY_MB": "2048"})
    listener.close()
    print(proc.stdout)
    lines = {s: next((l for l in proc.stdout.splitlines() if f" {s}/{LESSON}:" in l), "")
             for s in students}
    return dict(root=root, rows=gradebook_rows(root), log=proc.stdout, lines=lines,
                lib_hash=lib_hash, students=students)


def _auto(rows, student, test=None):
    grades = {g: v for g, v in rows[(student, LESSON)].items() if v[3] == "code"}
    if test:
        return grades[test][2] or 0, grades[test][1]
    return sum(v[2] or 0 for v in grades.values()), sum(v[1] for v in grades.values())


def _full(hc, student):
    got, top = _auto(hc["rows"], student)
    assert got == top, f"{student} lost points ({got}/{top}):\n{hc['lines'][student]}\n{hc['log']}"


def test_sandbox_is_available():
    import importlib.util
    spec = importlib.util.spec_from_file_location("sandbox", REPO / "autograder" / "sandbox.py")
    sandbox = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sandbox)
    ok, why = sandbox.available()
    assert ok, f"grading would run without a sandbox: {why}"


def test_every_student_is_in_the_gradebook_and_the_good_one_has_full_marks(hostile_class):
    hc = hostile_class
    missing = [s for s in hc["students"] if (s, LESSON) not in hc["rows"]]
    assert not missing, f"students lost from the gradebook: {missing}\n{hc['log']}"
    _full(hc, "good")


@pytest.mark.parametrize("student", ["blank_displayhook", "blank_excepthook"])
def test_a_blank_lesson_scores_nothing_whatever_the_kernel_displays(hostile_class, student):
    got, top = _auto(hostile_class["rows"], student)
    assert got == 0, f"{student} scored {got}/{top} with nothing implemented"


@pytest.mark.parametrize("student", ["code_swap", "rebind_during_call", "frames", "hooks"])
def test_rewriting_the_checks_in_the_kernel_does_not_help_a_wrong_answer(hostile_class, student):
    hc = hostile_class
    got, top = _auto(hc["rows"], student, FIRST_TEST)
    assert got == 0, f"{student}: a wrong {FIRST} scored {got}/{top}\n{hc['lines'][student]}"


def test_feedback_holds_no_hidden_test(hostile_class):
    hc = hostile_class
    run_course(hc["root"], "feedback", "--lesson", LESSON)
    hidden = hidden_lines(SOLUTION)
    assert hidden, "lesson 01 has no hidden tests to hide"
    for student in ("good", "frames", "edited_test", "blank_displayhook"):
        assert (hc["root"] / "autograder" / "feedback" / student).exists(), student
        page = html_lib.unescape((hc["root"] / "autograder" / "feedback" / student / LESSON /
                                  f"{LESSON}.html").read_text())
        leaked = [l for l in hidden if l in page]
        assert not leaked, f"feedback of {student} shows hidden tests: {leaked[:2]}"


def test_the_sandbox_hides_the_course_the_gradebook_and_the_network(hostile_class):
    hc = hostile_class
    _full(hc, "proc_root")
    root = hc["root"]
    assert not any((root / p).exists() for p in ("pwned.txt", "lessons/pwned.txt")), \
        "a kernel wrote into the course folder"
    _full(hc, "good")                          # nobody zeroed the good student's scores


def test_nothing_a_kernel_starts_outlives_it(hostile_class):
    hc = hostile_class
    _full(hc, "daemon")
    left = subprocess.run(["pgrep", "-f", MARKER], capture_output=True, text=True).stdout
    assert not left.strip(), f"a process of the daemon submission survived its kernel: {left}"


def test_a_symlinked_notebook_cannot_overwrite_the_gradebook(hostile_class):
    hc = hostile_class
    rows = hc["rows"]
    assert ("good", LESSON) in rows, "the gradebook lost the other students"
    assert "NOT graded" in hc["lines"]["symlink"], hc["lines"]["symlink"]
    got, _ = _auto(rows, "symlink")
    assert got == 0


def test_stderr_warnings_and_a_pasted_answer_cell_cost_nothing(hostile_class):
    _full(hostile_class, "stderr_and_duplicate")


def test_a_huge_output_is_cut_and_costs_nothing(hostile_class):
    hc = hostile_class
    _full(hc, "big_print")
    graded = hc["root"] / "autograder" / "autograded" / "big_print" / LESSON / f"{LESSON}.ipynb"
    assert graded.stat().st_size < 5_000_000, "the huge output was stored whole"


def test_the_course_library_and_environment_are_read_only(hostile_class):
    hc = hostile_class
    _full(hc, "writes_lib")
    now = hashlib.sha256((REPO / "lib" / "rnnkit" / "checks.py").read_bytes()).hexdigest()
    assert now == hc["lib_hash"], "a kernel changed lib/rnnkit/checks.py"


def test_a_process_limit_stops_a_fork_bomb(hostile_class):
    hc = hostile_class
    _full(hc, "fork_bomb")
    graded = load_nb(hc["root"] / "autograder" / "autograded" / "fork_bomb" / LESSON /
                     f"{LESSON}.ipynb")
    text = "".join("".join(o.get("text", "")) for c in graded["cells"] for o in c.get("outputs", []))
    count = int(text.split("spawned", 1)[1].split()[0])
    assert count < 1000, f"the fork bomb started {count} processes: no process limit"


def test_crash_keeps_earlier_points_and_is_reported(hostile_class):
    hc = hostile_class
    assert "crash" in hc["lines"]["crash"], hc["lines"]["crash"]
    got, _ = _auto(hc["rows"], "crash")
    assert got == 0


def test_infinite_loop_is_interrupted_and_later_cells_still_score(hostile_class):
    hc = hostile_class
    assert "timeout" in hc["lines"]["loop"], hc["lines"]["loop"]
    got, top = _auto(hc["rows"], "loop")
    assert got == top, f"the loop after a correct answer cost {top - got} points"


def test_a_loop_that_ignores_interrupts_stops_the_notebook_not_the_class(hostile_class):
    hc = hostile_class
    line = hc["lines"]["loop_no_interrupt"]
    assert "timeout" in line, line
    got, top = _auto(hc["rows"], "loop_no_interrupt")
    assert got == top, f"the tests before the loop lost points: {got}/{top}\n{line}"


def test_memory_bomb_is_stopped(hostile_class):
    hc = hostile_class
    line = hc["lines"]["membomb"]
    assert "out of memory" in line or "crash" in line, line


def test_reusing_an_instructor_name_costs_nothing(hostile_class):
    _full(hostile_class, "shadow")


@pytest.mark.parametrize("student", ["edited_test", "deleted_test"])
def test_edited_or_deleted_tests_are_restored(hostile_class, student):
    hc = hostile_class
    got, top = _auto(hc["rows"], student, FIRST_TEST)
    assert got == 0, f"{student}: a wrong answer scored {got}/{top} behind an edited test cell"
    assert "modified cells" in hc["lines"][student], hc["lines"][student]


def _wrong_first(work):
    nb = load_nb(SOLUTION)
    _append(nb, FIRST, WRONG_FIRST)
    path = work / "wrong_first.ipynb"
    path.write_text(json.dumps(nb))
    return path


if LESSON in lesson_ids():
    join_class("wrong_first", LESSON, _wrong_first)


def test_parallel_grading_equals_serial_and_regrading_is_stable(graded_course, tmp_path):
    """Three submissions of lesson 01 graded one at a time in a course copy of their own get
    the grades the session's class (graded two at a time, among many) gave them; grading the
    copy again, two at a time, changes nothing."""
    subs = {"solution": SOLUTION, "blank": REPO / "lessons" / LESSON / f"{LESSON}.ipynb",
            "wrong_first": _wrong_first(tmp_path)}
    root = make_course_copy(tmp_path / "course")
    run_course(root, "release", "--lesson", LESSON)
    for student, path in subs.items():
        submit(root, student, LESSON, path)
    run_course(root, "grade", "--jobs", "1")
    serial = gradebook_rows(root)
    parallel = graded_course[1]
    for student in subs:
        assert serial[(student, LESSON)] == parallel[(student, LESSON)], \
            f"{student}: grading one at a time gave other grades than the class graded two at a time"
    assert serial[("wrong_first", LESSON)][FIRST_TEST][2] == 0, "the wrong first exercise scored"
    run_course(root, "grade", "--jobs", "2")
    assert gradebook_rows(root) == serial, "regrading changed the scores"
    assert os.path.exists(root / "autograder" / "gradebook.db")
