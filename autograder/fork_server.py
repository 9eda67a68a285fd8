"""The host side of a grading slot's fork server (``zygote.py``): start it in its sandbox, and
ask it for one kernel per submission.

A kernel's start is mostly its imports of torch, NumPy and matplotlib (about 3.4 CPU-seconds,
:data:`sandbox.WARM_MODULES`); the fork server pays them once per grading run and forks each
kernel from that image in a few milliseconds. ``zygote.py`` lists what each kernel gets: its own
mount, PID, IPC, network and UTS namespaces, fresh tmpfs mounts for its working folder, /tmp and
/dev/shm, its own uid with no capability, its limits and the submission's cgroups. The server
runs inside a bubblewrap sandbox of the same allow-list as a kernel's; only the grading
worker can reach its socket, and it never runs a submission's code.

Jupyter starts a kernel through its kernel spec: here a small launcher (:data:`LAUNCHER`, about
20 ms, no imports but the standard library) that asks the server for the kernel and lives as
long as it does. Killing the launcher (Jupyter's shutdown) kills the kernel and everything in its
namespace; :meth:`ForkedKernel.close` also empties the submission's cgroups.

Not as root, the server has the capabilities of its sandbox's user namespace (enough for the
namespaces and mounts) and each kernel runs as the grader's uid, as a kernel in a sandbox of its
own does. With ``RNNCOURSE_FORK_SERVER=off``, or when the server cannot start, each kernel starts
in a sandbox of its own as before (``grade_worker.Kernel``).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sandbox

LAUNCHER = "\n".join([
    "import json, socket, sys",
    "sock = socket.socket(socket.AF_UNIX)",
    "sock.connect(sys.argv[1])",
    "req = dict(zip(('connection_file', 'sub', 'uid', 'cgroups'), sys.argv[2:]))",
    "req['cgroups'] = json.loads(req['cgroups'])",
    "sock.sendall(json.dumps(req).encode() + b'\\n')",
    "for line in sock.makefile('rb'):",
    "    sys.exit(json.loads(line).get('exit', 1))",
    "sys.exit(1)",
])
"""``python -I -S -c`` program that Jupyter runs as the kernel: asks the server for a kernel
and exits with its status; the server kills the kernel when this process is gone."""

READY_SECONDS = 300


def wanted() -> bool:
    """Whether kernels should come from a fork server (not with RNNCOURSE_FORK_SERVER=off)."""
    return os.environ.get("RNNCOURSE_FORK_SERVER", "auto") != "off"


class Zygote:
    """A slot's fork server, started now in a sandbox of its own (its scratch folder in
    ``scratch_root``); ``env`` is the kernels' environment."""

    def __init__(self, root: Path, scratch_root: str, slot: int, cgroup_sets: list, env: dict):
        self.env, self.slot = env, slot
        self.cgroup_sets = [[Path(c) for c in s] for s in cgroup_sets or []]
        self.scratch = Path(tempfile.mkdtemp(prefix="zygote-", dir=scratch_root))
        for sub in ("ipc", "data"):
            (self.scratch / sub).mkdir(mode=0o700)
        # As root, the sockets folders are tmpfs mounts (the kernels can write there): this
        # one for the server's socket, one for each kernel's mounted below it later.
        sandbox.mount_tmpfs(self.scratch / "ipc", 0, size_mb=1, shared=True)
        argv, self.cgroups_inside = sandbox.zygote_argv(root, self.scratch, self.cgroup_sets)
        self.socket = self.scratch / "ipc" / "zygote.sock"
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     env={**env, "NBGRADER_EXECUTION": "autograde"})
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_SECONDS)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.close()
            raise RuntimeError(f"the fork server did not start (exit {self.proc.poll()})")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the server and every kernel it forked; delete its scratch folder."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for folders in self.cgroup_sets:
            sandbox.kill_cgroups(folders)
        sandbox.unmount_below(self.scratch)
        shutil.rmtree(self.scratch, ignore_errors=True)


class ForkedKernel:
    """One kernel forked by ``zygote`` for one submission (``turn`` picks the slot's uid and
    cgroups, as for ``grade_worker.Kernel``), started now."""

    def __init__(self, zygote: Zygote, turn: int):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        self.env = zygote.env
        self.uid = sandbox.kernel_uid(zygote.slot, turn) if os.geteuid() == 0 else os.getuid()
        sets = zygote.cgroup_sets
        self.cgroups = sets[turn % 2] if sets else []
        inside = zygote.cgroups_inside[turn % 2] if sets else []
        sandbox.kill_cgroups(self.cgroups)         # nothing of an earlier kernel is left there
        # The submission's folder, which the kernel sees at the same path: its sockets and the
        # lesson's data files (sandbox.add_lesson_data, sandbox.claim_code).
        self.scratch = Path(tempfile.mkdtemp(prefix="k", dir=zygote.scratch / "ipc"))
        sandbox.mount_tmpfs(self.scratch, self.uid)
        (self.scratch / "data").mkdir(mode=0o700)
        for path in (self.scratch, self.scratch / "data"):
            os.chown(path, self.uid, self.uid)
        # Jupyter's side (kernel spec, runtime folder): the host's alone.
        self.host = Path(tempfile.mkdtemp(prefix="kernel-", dir=zygote.scratch.parent))
        spec_dir = self.host / "share" / "jupyter" / "kernels" / sandbox.KERNEL_NAME
        spec_dir.mkdir(parents=True)
        (self.host / "runtime").mkdir()
        argv = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(zygote.socket),
                "{connection_file}", str(self.scratch), str(self.uid), json.dumps(inside)]
        (spec_dir / "kernel.json").write_text(json.dumps(
            {"argv": argv, "display_name": "Python 3 (forked sandbox)", "language": "python",
             "metadata": {"debugger": False}, "interrupt_mode": "message"}, indent=1))
        ip = str(self.scratch / "kernel")
        self.settings = {"kernel_name": sandbox.KERNEL_NAME, "kernel_transport": "ipc",
                         "kernel_ip": ip}
        self.km = AsyncKernelManager(
            kernel_name=sandbox.KERNEL_NAME, transport="ipc", ip=ip,
            connection_file=ip + "-connection.json",
            kernel_spec_manager=KernelSpecManager(
                kernel_dirs=[str(self.host / "share" / "jupyter" / "kernels")]))
        run_sync(self.km.start_kernel)(env={**self.env,
                                            "JUPYTER_RUNTIME_DIR": str(self.host / "runtime")})

    def alive(self) -> bool:
        import isolated_execute
        return isolated_execute.kernel_alive(self.km)

    def close(self) -> None:
        """Kill the kernel (and its namespace), empty its cgroups, delete its folders."""
        kill_kernel(self.km, self.cgroups)
        sandbox.unmount_below(self.scratch)
        for _ in range(50):                        # the kernel's mounts go with its last process
            shutil.rmtree(self.scratch, ignore_errors=True)
            shutil.rmtree(self.host, ignore_errors=True)
            if not self.scratch.exists():
                break
            time.sleep(0.02)


def kill_kernel(km, cgroups: list[Path]) -> None:
    """Shut a kernel down at once, and kill what is left in its cgroups."""
    from jupyter_core.utils import run_sync
    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    except Exception:
        pass
    sandbox.kill_cgroups(cgroups)
