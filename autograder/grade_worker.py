"""A long-lived grading worker: nbgrader as a library, one submission after another.

``course.py grade`` starts one worker per job and sends it submissions in JSON lines on stdin;
the worker answers each with a JSON line on stdout:

    -> {"student": "alice", "lesson": "01_rnn", "slot": 0, "sandboxed": true, "env": {...},
        "scratch_root": "/tmp/rnngrade-x", "cgroups": [[...], [...]], "notebook_timeout": 900,
        "warm_next": true}
    <- {"success": true, "log": "...", "took": 12.3}

Importing nbgrader, nbconvert and the gradebook's schema check is paid once per worker instead
of once per submission. Each submission still gets its own kernel, sandbox, scratch folder
(in ``scratch_root``, which course.py made and deletes), uid, cgroup and grader session; the
worker keeps no state between submissions but the imports. If a submission kills the worker
(or runs past its time), ``course.py`` records it and starts a new worker.

**Warm kernels.** A kernel's start is mostly its imports of torch, NumPy and matplotlib (about
3.6 CPU-seconds with torch._dynamo and ipykernel, :data:`sandbox.WARM_MODULES`). While one submission is graded, the worker
starts the sandboxed kernel of the next one (:class:`Kernel`), which does those imports in its
own fresh sandbox; the next submission claims it ready (``warm_next``: course.py says whether a
submission is left to send). A kernel serves exactly one submission
and is killed with its sandbox after it; the two kernels alive at once have their own scratch
folders, mount, PID, IPC and network namespaces, uids (as root) and cgroups, so the graded
submission can neither see nor reach the next one's kernel.

Why not a fork server (a zygote that imports once and forks a kernel per submission)? Each child
would need what bwrap gives a new process today: new PID and mount namespaces, fresh tmpfs mounts
for its working folder, /tmp and /dev/shm, its own uid and no capabilities, its own cgroup. A
zygote inside one bwrap sandbox shares that sandbox's namespaces and tmpfs mounts with all its
children, so one submission's files and processes would be there for the next; to give each child
its own, the zygote would have to keep the privileges to unshare, mount, change uid and move
processes between cgroups (it could not run as the unprivileged uid with no capabilities that
the kernel has now), and reimplement bwrap's setup in a process that has loaded torch. It would
also fork after threads: NumPy's OpenBLAS and torch start thread pools at import or first use,
and a fork copies only the calling thread, leaving any lock another thread held locked forever
in the child (torch and OpenBLAS guard some of theirs with atfork handlers, OpenMP does not). And
every child would share the zygote's memory image, so any state a zygote carries (a seeded
generator, a cache) would be the same in every submission. Starting the next kernel early keeps
bwrap doing every bit of isolation and costs the same CPU; on an idle core its start is hidden.
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
        from jupyter_core.utils import run_sync
        try:
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:
            pass
        sandbox.kill_cgroups(self.cgroups)
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
                slot, sets = int(req.get("slot", 0)), req.get("cgroups", [])
                env = kernel_env(saved_env, req)
                kernel, waiting = waiting, None
                if kernel is not None and (kernel.env != env or not kernel.alive()):
                    kernel.close()
                    kernel = None
                if kernel is None:                   # the first submission, or a changed setting
                    kernel = Kernel(root, req["scratch_root"], slot, turn, sets, env)
                    turn += 1
                if req.get("warm_next", True):
                    # The next submission's kernel starts now, in a sandbox of its own. If it
                    # cannot, the next submission starts one itself (and reports why not).
                    turn += 1
                    try:
                        waiting = Kernel(root, req["scratch_root"], slot, turn - 1, sets, env)
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
                     "log": (result.get("log") or "") + (result.get("error") or "")}
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
