"""nbgrader preprocessors that make autograding trustworthy.

``GuardedExecute`` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``:

* Tamper guard. Before the first cell it records, inside the kernel, every function, class
  and module bound in numpy, torch (and torch.nn, torch.nn.functional, ...), math, builtins and
  rnnkit, plus IPython's input and AST transformers and event callbacks. After every
  instructor code cell (locked, neither answer nor test) it records the names that cell bound
  in the notebook's namespace, and the callbacks it registered (matplotlib registers some).
  Before every test cell it checks that no library function was replaced; if one was, the test
  cell is not run, scores 0, and its output is a ``TamperingDetected`` error naming what
  changed. Names the instructor's cells bound and a student reused (their own ``sigmoid``, a
  loop variable ``time``) are lent back to the test cell while it runs, then returned: the tests
  always see the instructor's objects, and reusing a name costs nothing.
  The record lives under a name drawn at random for each grading run.
* Kernel death. When the kernel dies (``os._exit``, a crash, the memory limit) the cell gets a
  ``DeadKernelError`` output and every later code cell a ``NotRun`` error, so the tests that ran
  before keep their points and the rest score 0, instead of the whole notebook going ungraded.
* Notebook time limit. Once ``notebook_timeout`` seconds have passed, the remaining code cells
  are not run (``NotRun`` error) and score 0.

``HideHiddenTests`` runs after the grades are saved: it removes the hidden-test blocks from the
test cells of the autograded notebook (the feedback is rendered from it) and shortens the
tracebacks of test cells to the exception line, which carries the message of rnnkit.checks.
"""

from __future__ import annotations

import json
import re
import secrets
import time

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Integer, Unicode

from nbgrader.preprocessors import Execute, NbGraderPreprocessor

PROTECTED_MODULES = (
    "builtins", "math", "numpy", "numpy.linalg", "numpy.random", "numpy.testing", "torch",
    "torch.nn", "torch.nn.functional", "torch.nn.utils", "torch.autograd", "torch.linalg",
    "rnnkit", "rnnkit.checks", "rnnkit.gradcheck", "rnnkit.tasks", "rnnkit.torch_bridge",
    "rnnkit.training", "rnnkit.models", "rnnkit.plotting",
)

# Runs once in the kernel before the notebook's first cell. {name} is the random record name.
_SETUP = r'''
def {name}_make():
    import builtins, importlib, os, sys, types
    id_, isinstance_, callable_, sorted_ = id, isinstance, callable, sorted
    ModuleType = types.ModuleType
    skip = {{"_", "__", "___", "input", "raw_input", "getpass"}}   # ipykernel rebinds input
    trusted = []
    for pkg in ("torch", "numpy"):
        try:
            trusted.append(os.path.dirname(importlib.import_module(pkg).__file__) + os.sep)
        except Exception:
            pass
    trusted = tuple(trusted)

    def same(old, new):
        # torch wraps some of its own functions lazily (importing torch._dynamo rebinds
        # torch.manual_seed to a wrapper of itself): accept a wrapper of the recorded function
        # whose code lives in torch's or numpy's own files.
        if new is old:
            return True
        code = getattr(new, "__code__", None)
        return (getattr(new, "__wrapped__", None) is old and code is not None
                and code.co_filename.startswith(trusted))
    ip = get_ipython()
    user_ns = ip.user_ns
    state = {{}}

    def record():
        modules, classes = {{}}, {{}}
        for modname in {modules!r}:
            try:
                module = importlib.import_module(modname)
            except Exception:
                continue
            modules[modname] = (module, {{k: v for k, v in vars(module).items()
                                          if k not in skip and (callable_(v) or isinstance_(v, ModuleType))}})
        try:
            import torch
            for cls in (torch.Tensor, torch.nn.Module):
                classes[cls.__qualname__] = (cls, dict(vars(cls)))
        except Exception:
            pass
        state.update(modules=modules, classes=classes, hooks=hooks())

    def hooks():
        return (tuple(ip.input_transformers_cleanup), tuple(ip.input_transformers_post),
                tuple(ip.ast_transformers),
                tuple((k, tuple(v)) for k, v in sorted_(ip.events.callbacks.items())))

    bound, before, tainted, stash = {{}}, {{}}, set(), {{}}

    def changes():
        changed = []
        for modname, (module, attrs) in state["modules"].items():
            if sys.modules.get(modname) is not module:
                changed.append("sys.modules[%r]" % modname)
            d = vars(module)
            for k, v in attrs.items():
                if not same(v, d.get(k, skip)):
                    changed.append(modname + "." + k)
        for qual, (cls, attrs) in state["classes"].items():
            for k, v in attrs.items():
                if cls.__dict__.get(k, skip) is not v:
                    changed.append(qual + "." + k)
        if hooks() != state["hooks"]:
            changed.append("IPython input transformers or event callbacks")
        return changed

    def pre():
        # Whatever changed before an instructor cell was changed by the student: keep it.
        tainted.update(changes())
        before.clear()
        before.update({{k: id_(v) for k, v in user_ns.items()}})

    def post():
        # What the instructor cell itself changed (imports, callbacks, names) is legitimate.
        record()
        for k, v in list(user_ns.items()):
            if k.startswith("_") or before.get(k) == id_(v):
                continue
            if callable_(v) or isinstance_(v, ModuleType):
                bound[k] = v

    def check():
        """Before a test cell: what was tampered with; if nothing, lend the tests the
        instructor's bindings of names a student reused (their own `sigmoid`, say)."""
        changed = sorted_(set(changes()) | tainted)
        if not changed:
            stash.clear()
            for k, v in bound.items():
                mine = user_ns.get(k, skip)
                if mine is not v:
                    stash[k] = mine
                    user_ns[k] = v
        return changed

    def after():
        """After a test cell: give the student their own bindings back."""
        for k, v in stash.items():
            if v is skip:
                user_ns.pop(k, None)
            else:
                user_ns[k] = v
        stash.clear()

    record()
    return pre, post, check, after
{name} = {name}_make()
del {name}_make
'''

_PRE = "{name}[0]()"
_POST = "{name}[1]()"
_AFTER = "{name}[3]()"
_CHECK = r'''
print("{marker}" + __import__("json").dumps({name}[2]()))
'''


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


class GuardedExecute(Execute):
    """nbgrader's Execute with a tamper guard, kernel-death containment and a notebook limit."""

    notebook_timeout = Integer(
        900, help="Seconds the whole notebook may run; later cells are not run and score 0."
    ).tag(config=True)

    kernel_transport = Unicode(
        "", help="'ipc' to talk to the kernel over Unix sockets (needed inside a sandbox "
                 "without network); empty for Jupyter's default (tcp)."
    ).tag(config=True)

    kernel_ip = Unicode(
        "", help="With kernel_transport='ipc': the socket path prefix, in a folder the kernel "
                 "can write."
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
        self._guard = "_rg_" + secrets.token_hex(8)
        self._marker = "@@" + secrets.token_hex(8) + "@@"
        self._guard_ready = False
        self._stopped = None
        self._started = time.monotonic()
        return super().preprocess(nb, resources, km)

    # -- helpers -------------------------------------------------------------------------
    def _run_hidden(self, code: str, index: int) -> str:
        """Run code in the kernel without storing it in history; return its stdout."""
        tmp = NotebookNode(cell_type="code", source=code, metadata={}, outputs=[],
                           execution_count=None, id=f"guard-{index}")
        original = self.nb.cells[index]
        try:
            self.execute_cell(tmp, index, store_history=False)
        finally:
            self.nb.cells[index] = original          # nbclient stores the cell it ran there
        errors = [o for o in tmp.outputs if o.get("output_type") == "error"]
        if errors:
            raise RuntimeError(f"{errors[0].get('ename')}: {errors[0].get('evalue')}")
        return "".join(o.get("text", "") for o in tmp.outputs if o.get("name") == "stdout")

    def _stop(self, cell, reason: str) -> None:
        if cell.cell_type == "code":
            cell.outputs = [_error("NotRun", reason)]

    # -- the loop ------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped:
            self._stop(cell, self._stopped)
            return cell, resources
        if time.monotonic() - self._started > self.notebook_timeout:
            self._stopped = (f"not run: the notebook exceeded its time limit of "
                             f"{self.notebook_timeout} s")
            self._stop(cell, self._stopped)
            return cell, resources
        meta = _nbgrader(cell)
        try:
            if not self._guard_ready:
                self._run_hidden(_SETUP.format(name=self._guard, modules=PROTECTED_MODULES), index)
                self._guard_ready = True
            if meta.get("grade") and not meta.get("solution"):
                out = self._run_hidden(_CHECK.format(name=self._guard, marker=self._marker), index)
                changed = json.loads(out.split(self._marker, 1)[1]) if self._marker in out else \
                    ["the tamper guard itself"]
                if changed:
                    shown = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
                    cell.outputs = [_error(
                        "TamperingDetected",
                        f"this test was not run because the notebook replaced what the tests "
                        f"rely on: {shown}. Remove the code that rebinds them and resubmit.")]
                    self.log.warning("tampering detected before cell %s: %s",
                                     meta.get("grade_id"), shown)
                    return cell, resources
                cell, resources = super().preprocess_cell(cell, resources, index)
                self._run_hidden(_AFTER.format(name=self._guard), index)
                return cell, resources
            # Instructor cells (locked, neither answer nor test) bind what the tests may use.
            locked = meta.get("locked") and not meta.get("solution") and not meta.get("grade")
            if locked:
                self._run_hidden(_PRE.format(name=self._guard), index)
            cell, resources = super().preprocess_cell(cell, resources, index)
            if locked:
                self._run_hidden(_POST.format(name=self._guard), index)
        except DeadKernelError as err:
            self._stopped = "not run: the kernel died in an earlier cell"
            cell.outputs.append(_error(
                "DeadKernelError",
                f"the kernel died while running this cell ({err}); it may have run out of "
                f"memory or called os._exit. Cells after it were not run."))
            self.log.warning("kernel died in cell %s", index)
        except RuntimeError as err:
            # The guard's own code failed: the student's state broke it. Grade nothing more.
            self._stopped = f"not run: the grading guard could not run ({err})"
            self._stop(cell, self._stopped)
        return cell, resources


_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


class HideHiddenTests(NbGraderPreprocessor):
    """Strip hidden tests and long tracebacks from test cells of the autograded notebook."""

    def preprocess_cell(self, cell, resources, index):
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cell.source = _HIDDEN.sub("# (hidden tests)\n", cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename')}: {out.get('evalue')}"]
        return cell, resources
