"""Grading you can trust: the sandbox, tampering, crashes, loops, memory bombs, edited tests,
parallel grading and regrading, each through the real `course.py grade` path on lesson 01."""

import json
import socket

import pytest

from conftest import REPO, gradebook_rows, lesson_ids, load_nb, make_course_copy, run_course, submit

LESSON = "01_rnn"
pytestmark = pytest.mark.skipif(LESSON not in lesson_ids(), reason="lesson 01 is missing")


def _cells(nb):
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in nb["cells"]}


def _first_answer_and_test():
    nb = load_nb(REPO / "solutions" / LESSON / f"{LESSON}.ipynb")
    answer = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")
                  and c["cell_type"] == "code")
    gid = answer["metadata"]["nbgrader"]["grade_id"]
    return nb, gid, f"test_{gid}"


def _write(nb, path):
    path.write_text(json.dumps(nb))
    return path


def _variant(tmp_path, name, edit):
    """The solution notebook, changed by edit(notebook, answer_id, test_id)."""
    nb, answer, test = _first_answer_and_test()
    edit(nb, answer, test)
    return _write(nb, tmp_path / f"{name}.ipynb")


def _append_to_answer(code):
    def edit(nb, answer, test):
        cell = _cells(nb)[answer]
        cell["source"] = "".join(cell["source"]) + "\n" + code
    return edit


def _points(rows, student, test):
    score, top, auto, _ = rows[(student, LESSON)][test]
    return auto or 0, top


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    """A class with a good student and one of each kind of trouble, graded once."""
    tmp = tmp_path_factory.mktemp("hostile")
    root = make_course_copy(tmp / "course")
    run_course(root, "release", "--lesson", LESSON)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    snoop = f"""
import pathlib, socket
_root = pathlib.Path({str(root)!r})
_leaks = []
for _p in ("solutions/{LESSON}/{LESSON}.ipynb", "autograder/gradebook.db",
           "autograder/submitted/good/{LESSON}/{LESSON}.ipynb"):
    try:
        (_root / _p).read_bytes()
        _leaks.append("read " + _p)
    except OSError:
        pass
for _p in ("lessons/pwned.txt", "pwned.txt"):
    try:
        (_root / _p).write_text("x")
        _leaks.append("wrote " + _p)
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    _leaks.append("network")
except OSError:
    pass
if _leaks:                      # a leak costs this exercise its points
    print("sandbox leaked: " + ", ".join(_leaks))
    rnn_step_forward = None
"""
    wrong_step = ("\ndef rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):\n"
                  "    return np.zeros((x.shape[0], W_hh.shape[0])), None\n")
    students = {
        "good": REPO / "solutions" / LESSON / f"{LESSON}.ipynb",
        "crash": _variant(tmp, "crash", _append_to_answer("import os\nos._exit(3)\n")),
        "loop": _variant(tmp, "loop", _append_to_answer("while True:\n    pass\n")),
        "membomb": _variant(tmp, "membomb", _append_to_answer(
            "_hog = bytearray(3 * 1024 ** 3)\n_hog[::4096] = b'x' * len(_hog[::4096])\n")),
        "snoop": _variant(tmp, "snoop", _append_to_answer(snoop)),
        "shadow": _variant(tmp, "shadow", _append_to_answer(
            "np = None\ntorch = 'my own torch'\nsigmoid = len\n")),
        "tamper_np": _variant(tmp, "tamper_np", _append_to_answer(
            wrong_step + "np.allclose = lambda *a, **k: True\nnp.abs = lambda a: 0 * a\n")),
        "tamper_rnnkit": _variant(tmp, "tamper_rnnkit", _append_to_answer(
            wrong_step + "import rnnkit.checks\nrnnkit.checks.check_close = lambda *a, **k: None\n"
            "check_close = lambda *a, **k: None\ncheck_shape = lambda name, got, *a, **k: got\n")),
        "tamper_hook": _variant(tmp, "tamper_hook", _append_to_answer(
            wrong_step + "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n")),
    }

    def edit_test(nb, answer, test):
        _append_to_answer(wrong_step)(nb, answer, test)
        _cells(nb)[test]["source"] = "pass\n"

    def delete_test(nb, answer, test):
        _append_to_answer(wrong_step)(nb, answer, test)
        nb["cells"] = [c for c in nb["cells"]
                       if c["metadata"].get("nbgrader", {}).get("grade_id") != test]

    students["edited_test"] = _variant(tmp, "edited_test", edit_test)
    students["deleted_test"] = _variant(tmp, "deleted_test", delete_test)
    for student, path in students.items():
        submit(root, student, LESSON, path)
    proc = run_course(root, "grade", "--jobs", "2",
                      env_extra={"RNNCOURSE_CELL_TIMEOUT": "10", "RNNCOURSE_MEMORY_MB": "2048"})
    listener.close()
    print(proc.stdout)
    lines = {s: next((l for l in proc.stdout.splitlines() if f" {s}/{LESSON}:" in l), "")
             for s in students}
    return root, gradebook_rows(root), proc.stdout, lines


def test_sandbox_is_available():
    import importlib.util
    spec = importlib.util.spec_from_file_location("sandbox", REPO / "autograder" / "sandbox.py")
    sandbox = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sandbox)
    ok, why = sandbox.available()
    assert ok, f"grading would run without a sandbox: {why}"


def test_every_student_is_graded(hostile_class):
    root, rows, log, _ = hostile_class
    missing = [s for s in ("good", "shadow", "crash", "loop", "membomb", "snoop", "tamper_np",
                           "tamper_rnnkit", "tamper_hook", "edited_test", "deleted_test")
               if (s, LESSON) not in rows]
    assert not missing, f"students lost from the gradebook: {missing}\n{log}"
    good = rows[("good", LESSON)]
    assert all(g[2] == g[1] for g in good.values() if g[3] == "code"), log


def test_sandbox_hides_solutions_gradebook_others_and_network(hostile_class):
    root, rows, log, lines = hostile_class
    _, answer, test = _first_answer_and_test()
    got, top = _points(rows, "snoop", test)
    assert got == top, (f"the snooping submission lost points: the sandbox let it read, write "
                        f"or connect:\n{lines['snoop']}")
    assert not (root / "lessons" / "pwned.txt").exists() and not (root / "pwned.txt").exists()


def test_crash_keeps_earlier_points_and_is_reported(hostile_class):
    root, rows, log, lines = hostile_class
    _, _, test = _first_answer_and_test()
    assert "crash" in lines["crash"], lines["crash"]
    crash = rows[("crash", LESSON)]
    assert all(not g[2] for g in crash.values() if g[3] == "code"), crash


def test_infinite_loop_is_interrupted_and_later_cells_still_score(hostile_class):
    _, rows, _, lines = hostile_class
    assert "timeout" in lines["loop"], lines["loop"]
    loop = rows[("loop", LESSON)]
    assert sum(g[2] or 0 for g in loop.values() if g[3] == "code") > 0


def test_memory_bomb_is_stopped(hostile_class):
    _, rows, _, lines = hostile_class
    assert "out of memory" in lines["membomb"] or "crash" in lines["membomb"], lines["membomb"]
    _, _, test = _first_answer_and_test()
    later = [g for gid, g in rows[("membomb", LESSON)].items() if g[3] == "code" and gid != test]
    assert later and all(g[2] == g[1] for g in later) or "crash" in lines["membomb"]


def test_reusing_an_instructor_name_costs_nothing(hostile_class):
    _, rows, _, lines = hostile_class
    shadow = rows[("shadow", LESSON)]
    lost = {gid: g for gid, g in shadow.items() if g[3] == "code" and g[2] != g[1]}
    assert not lost, f"a correct notebook that reuses the names np and torch lost {lost}"
    assert "tampering" not in lines["shadow"], lines["shadow"]


@pytest.mark.parametrize("student", ["tamper_np", "tamper_rnnkit", "tamper_hook"])
def test_tampering_scores_nothing_and_is_flagged(hostile_class, student):
    _, rows, _, lines = hostile_class
    _, _, test = _first_answer_and_test()
    got, top = _points(rows, student, test)
    assert got == 0, f"{student} scored {got}/{top} with a wrong answer and tampering"
    assert "tampering" in lines[student], lines[student]


@pytest.mark.parametrize("student", ["edited_test", "deleted_test"])
def test_edited_or_deleted_tests_are_restored(hostile_class, student):
    _, rows, _, lines = hostile_class
    _, _, test = _first_answer_and_test()
    got, top = _points(rows, student, test)
    assert got == 0, f"{student}: a wrong answer scored {got}/{top} behind an edited test cell"
    assert "modified cells" in lines[student], lines[student]


def test_feedback_hides_hidden_tests(hostile_class):
    root, _, _, _ = hostile_class
    run_course(root, "feedback", "--lesson", LESSON)
    solution = load_nb(REPO / "solutions" / LESSON / f"{LESSON}.ipynb")
    hidden = []
    for cell in solution["cells"]:
        src = "".join(cell["source"])
        if "### BEGIN HIDDEN TESTS" in src:
            block = src.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS")[0]
            hidden += [l.strip() for l in block.splitlines() if len(l.strip()) > 30]
    assert hidden, "lesson 01 has no hidden tests to hide"
    import html as html_lib
    for student in ("good", "edited_test"):
        page = html_lib.unescape((root / "autograder" / "feedback" / student / LESSON /
                                  f"{LESSON}.html").read_text())
        leaked = [l for l in hidden if l in page]
        assert not leaked, f"feedback of {student} shows hidden tests: {leaked[:2]}"


def test_parallel_grading_equals_serial_and_regrading_is_stable(tmp_path):
    subs = {"a": REPO / "solutions" / LESSON / f"{LESSON}.ipynb",
            "b": REPO / "lessons" / LESSON / f"{LESSON}.ipynb"}
    _, answer, test = _first_answer_and_test()
    subs["c"] = _variant(tmp_path, "c", _append_to_answer(
        "\ndef rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):\n"
        "    return np.tanh(x @ W_ih.T + h_prev @ W_hh.T), None\n"))
    results = {}
    for jobs in ("1", "2"):
        root = make_course_copy(tmp_path / f"course{jobs}")
        run_course(root, "release", "--lesson", LESSON)
        for student, path in subs.items():
            submit(root, student, LESSON, path)
        run_course(root, "grade", "--jobs", jobs)
        results[jobs] = gradebook_rows(root)
    assert results["1"] == results["2"], "parallel grading gave another gradebook than serial"
    run_course(root, "grade", "--jobs", "2")
    assert gradebook_rows(root) == results["2"], "regrading changed the scores"
