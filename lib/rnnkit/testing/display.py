"""Short failures in the learner's notebook: the message, not thirty lines of harness.

Importing :mod:`rnnkit.testing` in an IPython kernel (every test cell does) installs
:func:`handler` as the shell's custom exception handler (``set_custom_exc``). When a cell
raises, it shows:

* for an exception that went through a test harness (``rnnkit/testing`` or
  ``rnnkit/checks.py``): the message alone; when the learner's own code raised it (a function
  the harness called), also where: ``Cell In[3], line 22, in rnn_step_forward`` and that line;
* for a ``NotImplementedError`` raised by the learner's own code (an exercise not written yet):
  which function is not written yet, and where;
* for a ``NameError`` in a test cell (a cell that imports ``rnnkit.testing``): which cell to run
  first (``the answer cell of Exercise 2, above``), read from the notebook file;
* for anything else: IPython's usual traceback, unchanged.

The exception itself is not changed: the error output keeps its ``ename`` and ``evalue`` (which
nbgrader's Validate and grading read), only the traceback lines shown differ. Validate prints
these lines for each failing cell. Under grading, test cells run in the grader process
(``autograder/test_runner.py``), which reports the message alone in its own way.

The magic ``%tb`` in the next cell shows the whole traceback of the last failure; set
``RNNCOURSE_FULL_TRACEBACKS=1`` in the kernel's environment to see whole tracebacks always (when
working on a harness). Nothing here judges anything: it only changes what a failure looks like.
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import re
import sys
import sysconfig
import textwrap
import traceback
from pathlib import Path

_RNNKIT = Path(__file__).resolve().parent.parent
_HARNESS = (str(_RNNKIT / "testing") + os.sep, str(_RNNKIT / "checks.py"))
_LIBRARY = tuple(sorted({str(Path(p).resolve()) + os.sep
                         for scheme in (sysconfig.get_paths(),
                                        sysconfig.get_paths(vars={"base": sys.base_prefix,
                                                                  "platbase": sys.base_prefix}))
                         for key, p in scheme.items()
                         if key in ("stdlib", "platstdlib", "purelib", "platlib") and p}
                        | {str(_RNNKIT) + os.sep}))

EXCEPTIONS = tuple(cls for cls in vars(builtins).values()
                   if isinstance(cls, type) and issubclass(cls, Exception)
                   and not issubclass(cls, SyntaxError))
"""The exceptions the handler sees: the built-in ones, except syntax errors (IPython shows
those itself, also before a cell runs). Others get IPython's traceback as before."""

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"
WIDTH = 82
"""Lines of a message are wrapped to this width: ``nbgrader validate`` indents them by 4 and
cuts what passes 87 characters."""
_MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
_EXERCISE = re.compile(r"^#{1,6}\s*(Exercises?\s+\d+(?:\s*(?:,|and|-|–)\s*\d+)*)", re.M)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)


def install(shell=None) -> bool:
    """Install :func:`handler` in ``shell`` (the running IPython by default).

    Does nothing outside IPython, with ``RNNCOURSE_FULL_TRACEBACKS`` set, or when the shell
    already has a custom exception handler of its own. True when the handler is in place."""
    if os.environ.get("RNNCOURSE_FULL_TRACEBACKS"):
        return False
    if shell is None:
        ipython = sys.modules.get("IPython")          # no IPython loaded: no shell to serve
        shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    current = getattr(shell, "custom_exceptions", ())
    if current is EXCEPTIONS:
        return True
    if current:
        return False
    shell.set_custom_exc(EXCEPTIONS, handler)
    return True


def handler(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: show :func:`short_traceback`, or IPython's own."""
    try:
        stb = short_traceback(shell, value, tb)
    except Exception:            # never hide the error behind one of ours
        stb = None
    if stb is None:
        _usual(shell, tb)
        return None
    shell._get_exc_info((etype, value, tb))      # sys.last_*: %tb shows the whole traceback
    shell._showtraceback(etype, value, stb)
    return stb


def _usual(shell, tb) -> None:
    """What IPython shows without a custom handler (``run_code`` or, before the cell ran, the
    parser's error display)."""
    ran = any(frame.f_code.co_name == "run_code" for frame, _ in traceback.walk_tb(tb))
    if ran:
        shell.showtraceback(running_compiled_code=True)
    else:
        shell.showsyntaxerror()


class _Frame:
    def __init__(self, shell, filename: str, lineno: int, name: str):
        self.filename, self.lineno, self.name = filename, lineno, name
        self.cell = _cell_number(shell, filename)
        self.path = _resolved(filename)
        self.kind = _kind(self.path, self.cell)

    def where(self) -> str:
        if self.cell is not None:
            place = f"Cell In[{self.cell}]" if self.cell else "Cell"
        elif self.kind == "harness":
            place = f"rnnkit/{Path(self.path).relative_to(_RNNKIT).as_posix()}"
        else:
            place = f"File {self.filename}"
        return f"{place}, line {self.lineno}, in {self.name}"

    def code(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()


def _cell_number(shell, filename: str):
    """The execution count of the cell ``filename`` is the code of (0 when unknown), or None
    when it is not a cell."""
    names = getattr(getattr(shell, "compile", None), "_filename_map", None) or {}
    if filename in names:
        return names[filename] or 0
    if filename.startswith("<ipython-input-"):
        return 0
    return None


def _resolved(filename: str) -> str | None:
    if filename.startswith("<"):
        return None                  # <frozen ...>, <__array_function__ internals>, <string>
    try:
        return str(Path(filename).resolve())
    except (OSError, ValueError):
        return None


def _kind(path: str | None, cell) -> str:
    if cell is not None:
        return "cell"
    if path is not None and path.startswith(_HARNESS):
        return "harness"
    if path is None or path.startswith(_LIBRARY):
        return "library"
    return "learner"                 # a module of the learner's own


def _frames(shell, tb) -> list:
    return [_Frame(shell, frame.f_code.co_filename, lineno,
                   getattr(frame.f_code, "co_qualname", frame.f_code.co_name))
            for frame, lineno in traceback.walk_tb(tb)]


def _causes(err: BaseException):
    """The exceptions ``err`` was raised from or while handling, nearest first."""
    seen = {id(err)}
    while True:
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
        if err is None or id(err) in seen:
            return
        seen.add(id(err))
        yield err


def _learner_frame(shell, value, frames):
    """The innermost frame of the learner's code that a harness called, or None."""
    first = next(i for i, f in enumerate(frames) if f.kind == "harness")
    mine = [f for f in frames[first + 1:] if f.kind in ("cell", "learner")]
    if mine:
        return mine[-1]
    for err in _causes(value):
        mine = [f for f in _frames(shell, err.__traceback__) if f.kind in ("cell", "learner")]
        if mine:
            return mine[-1]
    return None


def _headline(value, text: str | None = None) -> str:
    """``Name: message``, each line wrapped to :data:`WIDTH` (nbgrader's Validate cuts longer
    lines), the name in red as IPython shows it."""
    if text is None:
        text = str(value)
    name = type(value).__name__
    lines = []
    for line in f"{name}: {text}".rstrip().splitlines() if text else [name]:
        indent = line[:len(line) - len(line.lstrip())] + "  "
        lines += textwrap.wrap(line, WIDTH, subsequent_indent=indent, break_long_words=False,
                               break_on_hyphens=False) or [""]
    return f"{_RED}{name}{_RESET}" + "\n".join(lines)[len(name):]


def _not_written(value, frame) -> str | None:
    """The message of a blank exercise's ``NotImplementedError()`` (None when it has one)."""
    if not isinstance(value, NotImplementedError) or str(value).strip():
        return None
    who = frame.name if frame is not None and frame.name != "<module>" else "this code"
    return (f"{who} is not written yet: write your code in place of "
            f"`raise NotImplementedError()` in its answer cell, run that cell, then this one "
            f"again.")


def _location(label: str, frame) -> list[str]:
    lines = [f"{label} {frame.where()}:"]
    code = frame.code()
    if code:
        lines.append(f"    {code}")
    return lines


def short_traceback(shell, value, tb) -> list[str] | None:
    """The lines to show for ``value`` raised in a cell, or None for IPython's traceback."""
    frames = _frames(shell, tb)
    if not frames:
        return None
    if any(f.kind == "harness" for f in frames):
        frame = _learner_frame(shell, value, frames)
        lines = [_headline(value, _not_written(value, frame))]
        if frame is not None:
            lines += _location("Your code raised it at", frame)
        elif not isinstance(value, AssertionError):
            lines += _location("The test's own code raised it at", frames[-1])
        return lines
    last = frames[-1]
    if isinstance(value, NotImplementedError) and last.kind in ("cell", "learner"):
        return [_headline(value, _not_written(value, last)),
                *_location("Your code raised it at", last)]
    if type(value) is NameError and last.kind == "cell" and _is_test_cell(last.filename):
        name = getattr(value, "name", None) or _name_in(str(value))
        if name:
            return [_headline(value, not_defined(name, _cell_source(last.filename)))]
    return None


def _cell_source(filename: str) -> str:
    return "".join(linecache.getlines(filename))


def _is_test_cell(filename: str) -> bool:
    return "rnnkit.testing" in _cell_source(filename)


def _name_in(message: str) -> str | None:
    found = re.match(r"name '([^']+)' is not defined", message)
    return found.group(1) if found else None


def not_defined(name: str, cell_source: str = "", notebooks=None) -> str:
    """What to do about ``name`` undefined in a test cell: which cell to run first.

    The cell that defines it is looked up in the notebook (``JPY_SESSION_NAME``, which
    JupyterLab sets, or the notebooks of the working folder, where Validate runs); it is
    named by its exercise (``the answer cell of Exercise 2``) or section heading, and placed
    above or below this test when the test cell is found in the notebook too."""
    where = None
    for cells in (_notebooks() if notebooks is None else notebooks):
        where = _defining_cell(cells, name, cell_source)
        if where:
            break
    if where:
        return (f"{name} is not defined yet: run the cell that defines it ({where}) without an "
                f"error, then this test.")
    return (f"{name} is not defined yet: run the cell above that defines it without an error, "
            f"then this test (or check the spelling of {name}).")


def _notebooks():
    paths = []
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb"):
        paths.append(Path(session))
    try:
        paths += sorted(Path.cwd().glob("*.ipynb"))[:20]
    except OSError:
        pass
    for path in paths:
        try:
            if path.stat().st_size > _MAX_NOTEBOOK_BYTES:
                continue
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(cells, list):
            yield cells


def _text(cell) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(source) if isinstance(source, list) else str(source)


def _defines(name: str) -> re.Pattern:
    n = re.escape(name)
    return re.compile(rf"^(?:(?:async\s+)?def|class)\s+{n}\b|^{n}\s*(?::[^=\n]*)?=(?!=)"
                      rf"|^(?:from\s+\S+\s+)?import\s.*\bas\s+{n}\b", re.M)


def _defining_cell(cells: list, name: str, cell_source: str) -> str | None:
    """``"the answer cell of Exercise 2, above"`` for the cell of ``cells`` that defines
    ``name``, or None when no cell does."""
    pattern = _defines(name)
    code = [i for i, c in enumerate(cells)
            if isinstance(c, dict) and c.get("cell_type") == "code"]
    found = next((i for i in code if pattern.search(_text(cells[i]))), None)
    if found is None:
        return None
    label, heading = None, None
    for cell in reversed(cells[:found]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        text = _text(cell)
        exercise = _EXERCISE.search(text)
        if exercise and label is None:
            label = exercise.group(1)
        title = _HEADING.search(text)
        if title and heading is None:
            heading = title.group(1)
        if label or heading:
            break
    meta = cells[found].get("metadata", {}) if isinstance(cells[found].get("metadata"), dict) \
        else {}
    is_answer = bool((meta.get("nbgrader") or {}).get("solution"))
    if label and is_answer:
        what = f"the answer cell of {label}"
    elif heading:
        what = f"the cell under “{heading.strip('# ')}”"
    else:
        what = "the cell"
    here = next((i for i in code if cell_source.strip()
                 and _text(cells[i]).strip() == cell_source.strip()), None)
    if here is not None:
        what += ", above" if found < here else ", below: run it first"
    return what
