"""A long-lived grading worker: nbgrader as a library, one submission after another.

``course.py grade`` starts one worker per job and sends it submissions in JSON lines on stdin;
the worker answers each with a JSON line on stdout:

    -> {"student": "alice", "lesson": "01_rnn", "slot": 0, "sandboxed": true, "env": {...},
        "scratch_root": "/tmp/rnngrade-x", "cgroups": [[...], [...]], "notebook_timeout": 900,
        "warm_next": true}
    <- {"success": true, "log": "...", "kernel": "forked", "took": 12.3}

Importing nbgrader, nbconvert and the gradebook's schema check is paid once per worker instead
of once per submission. Each submission still gets its own kernel, sandbox, scratch folder
(in ``scratch_root``, which course.py made and deletes), uid, cgroup and grader session; the
worker keeps no state between submissions but the imports and its slot's fork server. If a
submission kills the worker (or runs past its time), ``course.py`` records it and starts a new
worker.

**Warm kernels.** A kernel's start is mostly its imports of torch, NumPy and matplotlib (about
3.4 CPU-seconds with torch._dynamo and ipykernel, :data:`sandbox.WARM_MODULES`). Each worker
starts its slot's fork server (``fork_server.py`` on this side, ``zygote.py`` inside its
sandbox) once: it imports them and forks one kernel per submission in a few milliseconds, each
with its own mount, PID, IPC and network namespaces, fresh tmpfs mounts for its working folder,
/tmp and /dev/shm, no capability, its limits, and as root its own uid and the submission's
cgroups (``zygote.py`` says how, and why a fork can be trusted: the server never runs a
submission's code and forks while it has a single thread). With ``RNNCOURSE_FORK_SERVER=off``,
or a server that cannot start, each kernel starts in a bwrap sandbox of its own
(:class:`Kernel`), which does those imports itself.

Either way, while one submission is graded, the worker starts the next one's kernel (its own
namespaces, scratch folder, uid and cgroup: ``warm_next``, course.py says whether a submission
is left to send); the next submission claims it ready. A kernel serves exactly one submission
and is killed with its namespaces after it, so the graded submission can neither see nor reach
the next one's kernel. The reply says how the kernel started (``"kernel"``).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import no_iri_format  # noqa: E402,F401  (before nbformat: 1 CPU second less per worker)
import fork_server  # noqa: E402
import isolated_execute  # noqa: E402
import sandbox  # noqa: E402


class Kernel:
    """One sandboxed kernel, started now, for one submission: its own scratch folder (in
    ``scratch_root``), uid and cgroups (``turn`` picks which of the slot's two)."""

    def __init__(self, root: Path, scratch_root: str, slot: int, turn: int,
                 cgroup_sets: list, env: dict):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        self.env = env
        self.uid = sandbox.kernel_uid(slot, turn)
        self.cgroups = [Path(c) for c in cgroup_sets[turn % 2]] if cgroup_sets else []
        sandbox.kill_cgroups(self.cgroups)         # nothing of an earlier kernel is left there
        self.scratch = Path(tempfile.mkdtemp(prefix="kernel-", dir=scratch_root))
        jupyter_env, self.settings = sandbox.prepare(root, self.scratch, self.uid, self.cgroups)
        ip = self.settings["kernel_ip"]
        self.km = AsyncKernelManager(
            kernel_name=sandbox.KERNEL_NAME, transport="ipc", ip=ip,
            connection_file=ip + "-connection.json",
            kernel_spec_manager=KernelSpecManager(
                kernel_dirs=[str(Path(jupyter_env["JUPYTER_PATH"]) / "kernels")]))
        # nbgrader would set NBGRADER_EXECUTION while it runs the kernel; started early, the
        # kernel gets it here (rnnkit shortens the lessons' experiments under grading).
        run_sync(self.km.start_kernel)(env={**env, **jupyter_env,
                                            "NBGRADER_EXECUTION": "autograde"})

    def alive(self) -> bool:
        return isolated_execute.kernel_alive(self.km)

    def close(self) -> None:
        """Kill the kernel and its sandbox, empty its cgroups, delete its scratch folder."""
        fork_server.kill_kernel(self.km, self.cgroups)
        sandbox.unmount_below(self.scratch)
        shutil.rmtree(self.scratch, ignore_errors=True)


def kernel_env(saved: dict, request: dict) -> dict:
    """The environment of a kernel: the worker's, with the request's thread settings; never
    the hidden cases' seed salt (the sandbox unsets it as well)."""
    env = {**saved, **request.get("env", {})}
    env.pop("RNNCOURSE_SEED_SALT", None)
    return env


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                           # nbgrader's prints must not corrupt the protocol
    sys.stdout = sys.stderr
    from traitlets.config.loader import PyFileConfigLoader
    from nbgrader.apps import NbGraderAPI
    base = PyFileConfigLoader("nbgrader_config.py", path=str(HERE)).load_config()
    root = Path(base.CourseDirectory.root)
    saved_env = dict(os.environ)
    # The grader process (test cells, outside the kernel) imports torch and the tests' modules
    # now, while course.py sends the first submission, instead of in its first notebook.
    isolated_execute.shared_grader(int(base.IsolatedExecute.get("grader_memory_mb", 4096)))
    waiting = None                               # the kernel started for the next submission
    turn = 0
    forking = fork_server.wanted()
    zygote, zygote_key = None, ""

    def start_kernel(req: dict, env: dict, turn: int):
        """A kernel for a submission: forked by the slot's fork server where it can run, else
        started in a sandbox of its own."""
        nonlocal zygote, zygote_key, forking
        slot, sets = int(req.get("slot", 0)), req.get("cgroups", [])
        if forking:
            key = json.dumps([env, slot, sets, req["scratch_root"]], sort_keys=True)
            if zygote is not None and (key != zygote_key or not zygote.alive()):
                zygote.close()
                zygote = None
            try:
                if zygote is None:
                    zygote = fork_server.Zygote(root, req["scratch_root"], slot, sets, env)
                    zygote_key = key
                return fork_server.ForkedKernel(zygote, turn)
            except Exception as err:
                forking = False
                print(f"grade_worker: no fork server ({err}); each kernel starts on its own",
                      file=sys.stderr)
        return Kernel(root, req["scratch_root"], slot, turn, sets, env)

    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if req.get("op") == "quit":
            break
        start = time.monotonic()
        kernel = None
        os.environ.clear()
        os.environ.update(saved_env)
        os.environ.update(req.get("env", {}))
        cfg = copy.deepcopy(base)
        try:
            if req.get("notebook_timeout"):          # always shorter than this worker's limit
                cfg.IsolatedExecute.notebook_timeout = int(req["notebook_timeout"])
            if req.get("sandboxed"):
                env = kernel_env(saved_env, req)
                kernel, waiting = waiting, None
                if kernel is not None and (kernel.env != env or not kernel.alive()):
                    kernel.close()
                    kernel = None
                if kernel is None:                   # the first submission, or a changed setting
                    kernel = start_kernel(req, env, turn)
                    turn += 1
                if req.get("warm_next", True):
                    # The next submission's kernel starts now, isolated from this one. If it
                    # cannot, the next submission starts one itself (and reports why not).
                    turn += 1
                    try:
                        waiting = start_kernel(req, env, turn - 1)
                    except Exception:
                        waiting = None
                sandbox.add_lesson_data(root, req["lesson"], kernel.scratch, kernel.uid)
                isolated_execute.hand_over_kernel(kernel.km, sandbox.claim_code(kernel.scratch))
                for name, value in kernel.settings.items():
                    setattr(cfg.IsolatedExecute, name, value)
            api = NbGraderAPI(config=cfg)
            api.log.setLevel("WARN")
            result = api.autograde(req["lesson"], req["student"], force=True, create=True)
            reply = {"success": bool(result.get("success")),
                     "log": (result.get("log") or "") + (result.get("error") or ""),
                     "kernel": ("forked" if isinstance(kernel, fork_server.ForkedKernel)
                                else "own sandbox" if kernel is not None else "unsandboxed")}
        except BaseException as err:            # report, never die silently
            import traceback
            reply = {"success": False, "log": f"[ERROR] {err}\n{traceback.format_exc()}"}
        finally:
            isolated_execute.hand_over_kernel(None)     # never to another submission
            if kernel is not None:               # course.py deletes the scratch too (a lost worker)
                kernel.close()
        reply["took"] = time.monotonic() - start
        proto.write(json.dumps(reply) + "\n")
        proto.flush()
    if waiting is not None:
        waiting.close()
    if zygote is not None:
        zygote.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
