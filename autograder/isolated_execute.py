"""nbgrader preprocessors that keep grading out of the learner's reach.

``IsolatedExecute`` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``:

* **Test cells never run in the learner's kernel.** The kernel runs the learner's cells and the
  instructor's other cells. Each test cell (``grade: true`` and not an answer) is sent to a
  separate grader process (``test_runner.py``) that the kernel cannot reach: it runs the cell,
  calls the learner's functions in the kernel through a narrow channel that carries values only
  (``rnnkit.testing.remote``), compares them there, and reports. The test cell's outputs are
  written from that report only: its printed lines and, if a test failed, one ``error`` output
  with the message. Nothing the kernel prints or displays while a test calls it reaches the
  cell, so partial credit from ``execute_result``, stderr lines and warnings of the learner's
  code cannot change a score.
* **Kernel death.** When the kernel dies (``os._exit``, a crash, the memory limit) the cell gets
  a ``DeadKernelError`` output and every later code cell a ``NotRun`` error, so the tests that
  ran before keep their points and the rest score 0, instead of the notebook going ungraded.
* **Time limits.** A call into the learner's code may take ``timeout`` seconds (the kernel is
  then interrupted and the test scores 0); no cell runs past the moment ``notebook_timeout``
  seconds after the notebook started (a cell still running then is interrupted like one past
  its own limit), and the remaining code cells are not run (``NotRun``) and score 0. The
  notebook is then saved with the scores of the tests that ran: ``course.py`` sets this limit
  below its own limit for the whole grading process.
* **Output limit in bytes.** Each cell keeps at most ``max_output_bytes`` of output; the rest is
  cut, as it arrives, with a note.

``HideHiddenTests`` runs after the grades are saved: it removes the hidden-test blocks from the
test cells of the autograded notebook (the feedback is rendered from it).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Integer, Unicode

from nbgrader.preprocessors import Execute, NbGraderPreprocessor

RUNNER = Path(__file__).resolve().parent / "test_runner.py"


def _check_schema_once() -> None:
    """Make nbgrader's metadata check validate each cell against a validator built once.

    nbgrader calls ``jsonschema.validate(metadata, schema)`` for every cell, twice per
    submission; each call first checks the schema itself, which is most of the check's time
    (about 0.2 s of a lesson's grading). The same schema is checked once here, and every cell
    still gets the same validation and the same ``ValidationError``.
    """
    import json
    import types

    import jsonschema
    from nbgrader.nbgraderformat import common

    validators: dict = {}

    def validate(instance, schema):
        key = json.dumps(schema, sort_keys=True)      # nbgrader reloads the same schema often
        if key not in validators:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validators[key] = cls(schema)
        error = jsonschema.exceptions.best_match(validators[key].iter_errors(instance))
        if error is not None:
            raise error

    common.jsonschema = types.SimpleNamespace(validate=validate)


_check_schema_once()


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class GraderProcess:
    """The grader process of one notebook, spoken to in JSON lines."""

    def __init__(self, memory_mb: int):
        def limit():                                   # runs in the child before exec
            import resource
            if memory_mb > 0:
                size = memory_mb * 1024 * 1024
                hard = resource.getrlimit(resource.RLIMIT_AS)[1]
                if hard >= 0:
                    size = min(size, hard)
                resource.setrlimit(resource.RLIMIT_AS, (size, size))
        env = dict(os.environ)
        env.pop("NBGRADER_EXECUTION", None)
        self.proc = subprocess.Popen([sys.executable, str(RUNNER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, preexec_fn=limit, text=True, bufsize=1)
        self._buf = ""

    def send(self, req: dict) -> None:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float, alive=lambda: True) -> dict | None:
        """The next reply, or None when the process or the kernel died or time ran out."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while "\n" not in self._buf:
            if time.monotonic() > deadline or not alive():
                return None
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 1 << 20).decode("utf-8", "replace")
                if not chunk:
                    return None
                self._buf += chunk
        line, self._buf = self._buf.split("\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def close(self) -> None:
        try:
            self.send({"op": "quit"})
            self.proc.wait(timeout=5)
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_SHARED: dict = {}


def shared_grader(memory_mb: int) -> GraderProcess:
    """The grader process of this (long-lived) grading worker, started once: it holds only
    the instructor's test code and its imports, reconnects to each notebook's kernel, and runs
    every test cell in a fresh namespace. A grader that died or timed out is replaced."""
    grader = _SHARED.get("grader")
    if grader is None or grader.proc.poll() is not None:
        grader = _SHARED["grader"] = GraderProcess(memory_mb)
    return grader


def drop_shared_grader() -> None:
    grader = _SHARED.pop("grader", None)
    if grader is not None:
        grader.close()


def kernel_alive(km) -> bool:
    """Whether the kernel of this (async) kernel manager still runs."""
    try:
        return bool(run_sync(km.is_alive)())
    except Exception:
        return False


def hand_over_kernel(km, claim: str = "") -> None:
    """Give the next notebook a kernel already started (``grade_worker.py``'s warm kernel) and
    the code it runs silently before the first cell (``sandbox.claim_code``); ``None`` takes
    back a kernel no notebook claimed. A kernel is claimed once: it serves one notebook."""
    _SHARED.pop("kernel", None)
    if km is not None:
        _SHARED["kernel"] = (km, claim)


class IsolatedExecute(Execute):
    """nbgrader's Execute with test cells graded outside the kernel (see the module doc)."""

    notebook_timeout = Integer(
        900, help="Seconds the whole notebook may run; later cells are not run and score 0."
    ).tag(config=True)

    max_output_bytes = Integer(
        1_000_000, help="Bytes of output a cell keeps; the rest is cut as it arrives."
    ).tag(config=True)

    # nbgrader fails a cell whose output comes more than iopub_timeout seconds after its reply
    # (4 s by default): on a loaded machine that is the imports cell, and the whole notebook.
    iopub_timeout = Integer(30, help="Seconds to wait for a cell's output after its reply."
                            ).tag(config=True)

    grader_memory_mb = Integer(
        4096, help="Address-space limit of the grader process, in MiB (0: none)."
    ).tag(config=True)

    kernel_transport = Unicode(
        "", help="'ipc' to talk to the kernel over Unix sockets (needed inside a sandbox "
                 "without network); empty for Jupyter's default (tcp)."
    ).tag(config=True)

    kernel_ip = Unicode(
        "", help="With kernel_transport='ipc': the socket path prefix, in a folder the kernel "
                 "can write."
    ).tag(config=True)

    require_sandbox = Bool(
        False, help="Refuse to run a notebook unless course.py's sandbox set this executor up "
                    "(the hub's instructors: the formgrader's Autograde button and `nbgrader "
                    "autograde` would run a student's code as the instructor, unsandboxed)."
    ).tag(config=True)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self.kernel_transport:
            km.transport = self.kernel_transport
            km.ip = self.kernel_ip
            # Jupyter would write the connection file in /tmp, which the sandbox hides.
            km.connection_file = self.kernel_ip + "-connection.json"
        return km

    def preprocess(self, nb, resources=None, km=None):
        self._stopped = None
        self._started = time.monotonic()
        self._connected = False
        self._claim = None
        handed = _SHARED.pop("kernel", None) if km is None else None
        if self.require_sandbox and handed is None and self.kernel_transport != "ipc":
            raise RuntimeError(
                "this course grades a submission only in its sandbox: run `make grade` "
                "(autograder/course.py grade) in a terminal at the course root, not the "
                "formgrader's Autograde button or `nbgrader autograde`, which would run the "
                "student's code as you, with your files")
        if handed is not None:                 # a kernel started for this notebook, claimed once
            km, self._claim = handed
        self._grader = shared_grader(self.grader_memory_mb)   # imports torch while the kernel starts
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._connected:
                self._grader.send({"op": "disconnect"})
                if not (self._grader.receive(timeout=30) or {}).get("ok"):
                    drop_shared_grader()
            if handed is not None:             # nbclient leaves a kernel it did not start
                try:
                    if self.kc is not None:
                        self.kc.stop_channels()
                    run_sync(km.shutdown_kernel)(now=True)
                except Exception as err:
                    self.log.warning("could not stop the kernel: %s", err)

    def _run_claim(self) -> None:
        """Run the claim code of a handed-over kernel silently, before the first cell."""
        code, self._claim = self._claim, None
        if not code:
            return
        from jupyter_core.utils import ensure_async
        msg_id = run_sync(ensure_async)(self.kc.execute(code, silent=True, store_history=False,
                                                        allow_stdin=False))
        reply = self.wait_for_reply(msg_id)
        if not reply or reply.get("content", {}).get("status") != "ok":
            self.log.warning("the kernel's setup failed: %s", (reply or {}).get("content"))

    # -- output limit -----------------------------------------------------------------------
    def process_message(self, msg, cell, cell_index):
        content = msg.get("content", {})
        kind = msg.get("msg_type")
        if kind in ("stream", "display_data", "execute_result", "error", "update_display_data"):
            used = sum(len(json.dumps(o)) for o in cell.get("outputs", []))
            size = len(content.get("text", "")) if kind == "stream" else len(json.dumps(content))
            left = self.max_output_bytes - used
            if size > left:
                note = f"\n[output cut: this cell printed more than {self.max_output_bytes} bytes]\n"
                if kind == "stream" and left > 0:
                    content["text"] = content["text"][:left] + note
                elif kind == "error":
                    content["traceback"] = [f"{content.get('ename')}: "
                                            f"{str(content.get('evalue'))[:1000]}"]
                    content["evalue"] = str(content.get("evalue"))[:1000]
                elif not any(o.get("text", "").endswith(note) for o in cell.get("outputs", [])
                             if o.get("output_type") == "stream"):
                    msg = {**msg, "msg_type": "stream",
                           "content": {"name": "stdout", "text": note}}
                else:
                    return None
        return super().process_message(msg, cell, cell_index)

    # -- test cells -------------------------------------------------------------------------
    def _kernel_alive(self) -> bool:
        return kernel_alive(self.km)

    def _connect(self) -> bool:
        info = self.km.get_connection_info(session=False)
        info = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}
        salt = os.environ.get("RNNCOURSE_SEED_SALT", "0")
        self._grader.send({"op": "connect", "info": info, "timeout": self.timeout or 60,
                           "env": {"RNNCOURSE_SEED_SALT": salt}})
        reply = self._grader.receive(timeout=120)
        self._connected = bool(reply and reply.get("ok"))
        return self._connected

    def _run_test(self, cell, index):
        """Grade one test cell in the grader process; write its outputs from the report."""
        if not self._connected and not self._connect():
            cell.outputs = [_error("GraderError", "the grader process could not start")]
            return
        self._grader.send({"op": "run", "source": cell.source})
        limit = min(3 * (self.timeout or 60) + 30, max(5, int(self._remaining()) + 1))
        reply = self._grader.receive(timeout=limit, alive=self._kernel_alive)
        if reply is None:
            if not self._kernel_alive():
                raise DeadKernelError("the kernel died while a test called your code")
            cell.outputs = [_error("CellTimeoutError",
                                   f"the tests of this cell did not finish within {limit} s")]
            drop_shared_grader()
            self._grader = shared_grader(self.grader_memory_mb)
            self._connected = False
            self._interrupt()
            return
        outputs = []
        if reply.get("stdout"):
            outputs.append(NotebookNode(output_type="stream", name="stdout",
                                        text=reply["stdout"]))
        if reply.get("status") != "ok":
            outputs.append(_error(str(reply.get("ename", "Error")),
                                  str(reply.get("evalue", ""))))
        cell.outputs = outputs
        cell.execution_count = None
        if reply.get("timeout"):
            self._interrupt()

    def _interrupt(self, send: bool = True) -> None:
        """Interrupt the learner's code still running in the kernel and wait until it is idle.

        A kernel that still does not answer (its code ignores interrupts) would make every
        later cell wait for its time limit: the rest of the notebook is not run instead.
        """
        original, index = self.timeout, 0
        probe = NotebookNode(cell_type="code", source="pass", metadata={}, outputs=[],
                             execution_count=None, id="interrupt-probe")
        saved = self.nb.cells[index]
        try:
            if send:
                run_sync(self.km.interrupt_kernel)()
            self.timeout = 10
            self.execute_cell(probe, index, store_history=False)
        except Exception as err:
            self.log.warning("the kernel did not stop after an interrupt: %s", err)
            probe.outputs = [_error("CellTimeoutError", str(err))]
        finally:
            self.timeout = original
            self.nb.cells[index] = saved
        if any(o.get("ename") == "CellTimeoutError" for o in probe.get("outputs", [])
               if o.get("output_type") == "error"):
            self._stopped = ("not run: the notebook's code did not stop when it was "
                             "interrupted after its time limit")

    # -- the loop ---------------------------------------------------------------------------
    def _remaining(self) -> float:
        return self.notebook_timeout - (time.monotonic() - self._started)

    def preprocess_cell(self, cell, resources, index):
        if self._claim:
            self._run_claim()
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped:
            cell.outputs = [_error("NotRun", self._stopped)]
            return cell, resources
        if self._remaining() <= 0:
            self._stopped = (f"not run: the notebook exceeded its time limit of "
                             f"{self.notebook_timeout} s")
            cell.outputs = [_error("NotRun", self._stopped)]
            return cell, resources
        original = self.timeout
        if not original or original > self._remaining():
            self.timeout = int(self._remaining()) + 1      # the notebook's limit comes first
        try:
            return self._preprocess_code_cell(cell, resources, index)
        finally:
            self.timeout = original

    def _preprocess_code_cell(self, cell, resources, index):
        try:
            if is_test_cell(cell):
                self._run_test(cell, index)
                return cell, resources
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            except TimeoutError as err:                # no reply even after an interrupt
                cell.outputs = list(cell.get("outputs", [])) + [_error("CellTimeoutError", str(err))]
            if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
                   for o in cell.get("outputs", [])):
                self._interrupt(send=False)         # nbclient interrupted it: did it stop?
        except DeadKernelError as err:
            self._stopped = "not run: the kernel died in an earlier cell"
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
            cell.outputs.append(_error(
                "DeadKernelError",
                f"the kernel died while running this cell ({err}); it may have run out of "
                f"memory or called os._exit. Cells after it were not run."))
            self.log.warning("kernel died in cell %s", index)
        return cell, resources


class DropDuplicateIds(NbGraderPreprocessor):
    """Keep the last cell of each grade id and make earlier copies plain cells.

    A learner who pasted an answer cell twice submits two cells with the same nbgrader
    metadata. nbgrader's own ``DeduplicateIds`` leaves an empty ``nbgrader`` entry on the copy,
    on which ``OverwriteCells`` then fails and the whole notebook goes ungraded; here the entry
    is removed, so the copy runs as an ordinary cell and the notebook is graded.
    """

    def preprocess(self, nb, resources):
        seen = set()
        for cell in reversed(nb.cells):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid is None:
                continue
            if gid in seen:
                self.log.warning("cell %s appears more than once: the last copy is graded", gid)
                del cell.metadata["nbgrader"]
            else:
                seen.add(gid)
        return nb, resources


_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


class HideHiddenTests(NbGraderPreprocessor):
    """Strip hidden tests and long tracebacks from test cells of the autograded notebook."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            cell.source = _HIDDEN.sub("# (hidden tests)\n", cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename')}: {out.get('evalue')}"]
        return cell, resources
