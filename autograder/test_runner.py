"""The grader process: runs a notebook's test cells outside the learner's kernel.

``IsolatedExecute`` (isolated_execute.py) starts one of these per graded notebook and talks to
it in JSON lines over stdin/stdout:

    -> {"op": "connect", "info": <kernel connection info>, "timeout": 60}
    <- {"ok": true}
    -> {"op": "run", "source": <test cell source>}
    <- {"status": "ok" | "error", "stdout": "...", "ename": ..., "evalue": ..., "timeout": bool}
    -> {"op": "disconnect"}
    <- {"ok": true}

A grading worker keeps one grader process for many notebooks (``connect`` again for the next
kernel, ``disconnect`` after the last cell). Each test cell runs in a fresh namespace in which every name the cell does not bind is a
:class:`rnnkit.testing.remote.Remote` for the learner's object in the kernel. The cell's
imports (numpy, torch, rnnkit) are this process's own: the learner's code cannot reach them,
and the cell's source, its expected values and its frames never exist in the kernel.

The hidden tests of a cell (between nbgrader's ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS``) run inside :func:`rnnkit.checks.hidden_cases`, so their failure
messages, which reach the learner's feedback, say which output is off, where and by about how
much, but show no reference value (see :func:`split_hidden`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import traceback
import warnings

MAX_STDOUT = 20_000


class _Capped(io.StringIO):
    def write(self, s):
        if self.tell() < MAX_STDOUT:
            return super().write(s[: MAX_STDOUT - self.tell()])
        return len(s)


def _message(err: BaseException) -> str:
    text = str(err)
    if not text and isinstance(err, NotImplementedError):
        text = "not written yet: the answer cell still raises NotImplementedError"
    return text


_UNDEFINED = re.compile(r"name '([^']+)' is not defined in your notebook")


def _undefined(err: BaseException) -> str | None:
    """The feedback for a name the notebook never defined, when ``err`` comes from one (the
    kernel's answer to a call of it, which a harness may have wrapped in an AssertionError
    that says "rnn_forward raised NameError"), else None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        found = _UNDEFINED.search(str(err)) if isinstance(err, NameError) else None
        if found:
            name = found.group(1)
            return (f"{name} is not defined in your notebook: when the notebook ran, no cell "
                    f"defined it. Check that the cell that defines {name} (its exercise's "
                    f"answer cell) runs without an error, and the spelling of the name.")
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    return None


BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


def split_hidden(source: str) -> list[tuple[object, bool]]:
    """The cell compiled in parts, each with whether it is hidden tests: ``[(code, hidden)]``.

    The parts are cut at the lines ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
    (nbgrader's markers, which the autograded notebook's test cells hold) and run one after
    the other in the cell's namespace; each keeps its line numbers. When the parts do not
    compile on their own (a marker inside an indented block) or no marker line is found, the
    whole cell counts as hidden: its messages then show no reference value anywhere.
    """
    whole = compile(source, "<test cell>", "exec")      # a SyntaxError is the cell's own
    if BEGIN_HIDDEN not in source:
        return [(whole, False)]
    lines = source.splitlines(keepends=True)
    texts, start, hidden = [], 0, False
    for i, line in enumerate(lines):
        if line.strip().startswith(END_HIDDEN if hidden else BEGIN_HIDDEN):
            texts.append(("\n" * start + "".join(lines[start:i]), hidden))
            start, hidden = i + 1, not hidden
    texts.append(("\n" * start + "".join(lines[start:]), hidden))
    if not any(hid for _, hid in texts):
        return [(whole, True)]
    try:
        return [(compile(text, "<test cell>", "exec"), hid) for text, hid in texts
                if text.strip()]
    except SyntaxError:
        return [(whole, True)]


def run_cell(channel, source: str) -> dict:
    from rnnkit import checks
    from rnnkit.testing import remote
    out = _Capped()
    result = {"status": "ok"}
    try:
        parts = split_hidden(source)
        ns = remote.namespace(channel, source)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for code, hidden in parts:
                with checks.hidden_cases() if hidden else contextlib.nullcontext():
                    exec(code, ns)
    except remote.KernelTimeout as err:
        result = {"status": "error", "ename": "CellTimeoutError", "evalue": str(err),
                  "timeout": True}
    except Exception as err:
        name = type(err).__name__
        if isinstance(err, remote.LearnerError):
            name = "Error"
        undefined = _undefined(err)
        result = {"status": "error", "ename": "NameError" if undefined else name,
                  "evalue": undefined or _message(err)}
    except BaseException as err:      # SystemExit from a test cell: a failed test, not a crash
        result = {"status": "error", "ename": type(err).__name__, "evalue": _message(err)}
    result["stdout"] = out.getvalue()
    return result


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                 # stray writes to fd 1 must not corrupt the protocol
    sys.stdout = sys.stderr
    warnings.simplefilter("ignore")
    import numpy  # noqa: F401  (warm up while the kernel starts)
    import torch  # noqa: F401
    import rnnkit.checks  # noqa: F401
    import scipy.stats  # noqa: F401  (lesson 06's sampling tests: about 1 CPU-second)
    from rnnkit.testing import remote
    torch.set_num_threads(int(os.environ.get("RNNCOURSE_GRADER_THREADS", "1")))
    channel = None
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if req.get("op") == "connect":
            if channel is not None:
                channel.close()
            os.environ.update({k: str(v) for k, v in req.get("env", {}).items()})
            channel = remote.Channel(req["info"], timeout=float(req.get("timeout", 60)))
            reply = {"ok": True}
        elif req.get("op") == "disconnect":
            if channel is not None:
                channel.close()
            channel = None
            reply = {"ok": True}
        elif req.get("op") == "run":
            if channel is None:
                reply = {"status": "error", "ename": "GraderError", "evalue": "no kernel"}
            else:
                try:
                    reply = run_cell(channel, req["source"])
                except BaseException:             # never die silently: report it
                    reply = {"status": "error", "ename": "GraderError",
                             "evalue": traceback.format_exc(limit=3)[-2000:]}
        elif req.get("op") == "quit":
            break
        else:
            reply = {"error": "unknown op"}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()
    if channel is not None:
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
