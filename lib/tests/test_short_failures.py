"""A failing test cell in the learner's notebook shows its message, not the harness's frames.

An IPython shell runs here, in-process, the cells a learner would run: answer cells, then test
cells that import ``rnnkit.testing`` (which installs :mod:`rnnkit.testing.display`). What the
shell shows for each error (its structured traceback, what a kernel sends in its error
message) is recorded and checked: short for the failures of the course's tests, IPython's
usual traceback for everything else, and the exception itself (ename, evalue) unchanged.
"""

import importlib
import json
import re

import pytest

IPython = pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*m")

TEST_STEP = '''from rnnkit.testing import hidden_seed, rnn as tests
tests.step_forward(rnn_step_forward, N=3, D=4, H=5, seed=0, by_term=True)
print("rnn_step_forward matches torch.nn.RNNCell (visible tests passed)")
'''
TEST_FORWARD = '''from rnnkit.testing import hidden_seed, rnn as tests
tests.forward(rnn_forward, N=2, T=5, D=3, H=4, seed=0)
print("rnn_forward matches torch.nn.RNN (visible tests passed)")
'''
BLANK = '''def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One step."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''
NO_B_HH = '''import numpy as np
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    h_next = np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b_ih)
    return h_next, (x, h_prev, W_ih, W_hh, h_next)
'''
NO_TRANSPOSE = '''import numpy as np
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    pre = x @ W_ih + h_prev @ W_hh.T + b_ih + b_hh    # W_ih is (H, D): needs .T
    return np.tanh(pre), (x, h_prev, W_ih, W_hh)
'''


@pytest.fixture(scope="module")
def shell():
    """An IPython shell in which ``rnnkit.testing`` has been imported; it records what it shows."""
    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance(config=config)
    import rnnkit.testing
    importlib.reload(rnnkit.testing)           # as a test cell's import does in a fresh kernel
    sh.shown = []
    show = sh._showtraceback

    def record(etype, value, stb):
        sh.shown.append((etype, value, stb))
        show(etype, value, stb)
    sh._showtraceback = record
    yield sh
    InteractiveShell.clear_instance()


def run(shell, *cells):
    """Run the cells; ``(exception, text shown)`` of the last one, or None when it passed."""
    for source in cells:
        shell.shown.clear()
        result = shell.run_cell(source, store_history=True)
    if result.success:
        assert not shell.shown
        return None
    assert len(shell.shown) == 1, shell.shown
    etype, value, stb = shell.shown[0]
    err = result.error_in_exec or result.error_before_exec
    assert value is err and etype is type(err)       # ename and evalue: the exception's own
    return err, ANSI.sub("", "\n".join(stb))


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_short(text: str) -> None:
    assert "rnnkit" not in text and "Traceback" not in text, text
    assert not re.search(r"^\s*File ", text, re.M), text
    assert len(text.splitlines()) <= 8, text


def test_importing_rnnkit_testing_installs_the_handler(shell):
    from rnnkit.testing import display
    assert shell.custom_exceptions is display.EXCEPTIONS
    assert AssertionError in display.EXCEPTIONS and NameError in display.EXCEPTIONS
    assert not any(issubclass(e, SyntaxError) for e in display.EXCEPTIONS)


def test_a_wrong_answer_shows_the_message_alone(shell):
    err, text = run(shell, NO_B_HH, TEST_STEP)
    assert isinstance(err, AssertionError)
    assert_short(text)
    assert flat(text).startswith("AssertionError: " + flat(str(err))), text
    assert "h_next" in text and "Cell In[" not in text       # the learner's code did not raise
    shell.shown.clear()
    shell.run_cell("%tb")                                     # the whole traceback, on request
    assert "rnnkit/testing/rnn.py" in ANSI.sub("", "\n".join(shell.shown[0][2]))


def test_an_error_in_the_learners_code_shows_their_line(shell):
    err, text = run(shell, NO_TRANSPOSE, TEST_STEP)
    assert_short(text)
    assert "ValueError" in text and "matmul" in text, text
    lines = text.splitlines()
    assert re.match(r"Your code raised it at Cell In\[\d+\], line 3, in rnn_step_forward:",
                    lines[-2]), text
    assert lines[-1].strip().startswith("pre = x @ W_ih + h_prev @ W_hh.T + b_ih + b_hh"), text


def test_an_unwritten_answer_says_so(shell):
    err, text = run(shell, BLANK, TEST_STEP)
    assert isinstance(err, NotImplementedError) and str(err) == ""
    assert_short(text)
    assert flat(text).startswith("NotImplementedError: rnn_step_forward is not written yet"), text
    assert text.splitlines()[-1].strip() == "raise NotImplementedError()", text
    # called from any cell, not only a test cell
    err, text = run(shell, "x = rnn_step_forward(1, 2, 3, 4, 5, 6)")
    assert_short(text)
    assert "rnn_step_forward is not written yet" in flat(text), text


def test_a_test_run_before_its_function_names_the_cell_to_run(shell, tmp_path, monkeypatch):
    shell.user_ns.pop("rnn_forward", None)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)                  # no notebook here: the generic advice
    err, text = run(shell, TEST_FORWARD)
    assert isinstance(err, NameError) and str(err) == "name 'rnn_forward' is not defined"
    assert_short(text)
    assert flat(text).startswith("NameError: rnn_forward is not defined yet: run the cell "
                                 "above that defines it"), text

    # the notebook the kernel runs (JupyterLab names it in JPY_SESSION_NAME): its exercise
    def cell(kind, source, **nbgrader):
        return {"cell_type": kind, "source": source.splitlines(keepends=True),
                "metadata": {"nbgrader": nbgrader} if nbgrader else {}}
    notebook = tmp_path / "lesson" / "01_rnn.ipynb"
    notebook.parent.mkdir()
    notebook.write_text(json.dumps({"cells": [
        cell("markdown", "### Exercise 1 — `rnn_step_forward` (2 points)\n"),
        cell("code", BLANK, solution=True, grade_id="rnn_step_forward"),
        cell("markdown", "### Exercise 2 — `rnn_forward` (2 points)\n\nWrite it."),
        cell("markdown", "![diagram](attachment:rnn.svg)"),
        cell("code", "def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):\n    raise "
                     "NotImplementedError()\n", solution=True, grade_id="rnn_forward"),
        cell("code", TEST_FORWARD, grade=True, grade_id="test_rnn_forward")]}))
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    err, text = run(shell, TEST_FORWARD)
    assert isinstance(err, NameError)
    assert_short(text)
    assert flat(text) == ("NameError: rnn_forward is not defined yet: run the cell that defines "
                          "it (the answer cell of Exercise 2, above) without an error, then this "
                          "test."), text


def test_other_errors_keep_ipythons_traceback(shell):
    """The handler sees these errors too (built-in kinds) and hands them back to IPython."""
    from rnnkit.testing import display
    assert shell.custom_exceptions is display.EXCEPTIONS
    cases = {
        "def f():\n    return 1 / 0\nf()": ZeroDivisionError,
        "undefined_name + 1": NameError,                       # not a test cell
        "import numpy as np\nnp.zeros(3) @ np.zeros(4)": ValueError,
        "import logging\nlogging.Handler().emit(None)": NotImplementedError,  # a library's
    }
    for source, kind in cases.items():
        err, text = run(shell, source)
        assert isinstance(err, kind) and kind in display.EXCEPTIONS
        assert "Traceback (most recent call last)" in text and "---->" in text, text
        assert "Your code raised it" not in text and "not written yet" not in text, text
    err, text = run(shell, "def broken(:\n    pass")
    assert isinstance(err, SyntaxError) and "SyntaxError" in text
