"""A bubblewrap sandbox for the grading kernel.

:func:`prepare` writes, for one submission, a Jupyter kernel spec named ``rnn-sandbox`` whose
command runs the usual IPython kernel inside ``bwrap``:

* the file system is read-only; the course root and ``/tmp`` are hidden behind empty tmpfs
  except ``lib/``, ``lessons/``, ``.venv/`` and wherever the Python environment and rnnkit
  live, so ``solutions/``, the gradebook, ``autograder/submitted/`` (other students) and the
  git history cannot be read;
* the only writable places are the submission's own working folder (where nbgrader runs the
  notebook), a scratch folder (HOME, IPYTHONDIR, MPLCONFIGDIR, the kernel's sockets) and the
  private, empty ``/tmp``;
* no network (``--unshare-net``): the kernel talks to nbgrader over Unix sockets (ipc);
* an address-space limit (``prlimit --as``), so a memory bomb ends in ``MemoryError`` or a dead
  kernel, never in a machine out of memory.

Cell and notebook time limits are nbgrader's and ``GuardedExecute``'s. Where bubblewrap cannot
run, :func:`available` says why and grading goes on without isolation, loudly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "rnn-sandbox"
MEMORY_MB = int(os.environ.get("RNNCOURSE_MEMORY_MB", "4096"))


def available() -> tuple[bool, str]:
    """Whether bubblewrap can build a sandbox here, and if not, why."""
    if os.environ.get("RNNCOURSE_SANDBOX", "auto") == "off":
        return False, "RNNCOURSE_SANDBOX=off"
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False, ("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` "
                       "(make does this where it can)")
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                            "--unshare-net", "--die-with-parent", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return False, f"bwrap cannot create a sandbox here: {probe.stderr.strip()}"
    return True, "bubblewrap"


def _runtime_paths() -> list[Path]:
    """What the kernel needs wherever it lies (a clone in /tmp, say): this Python's environment,
    its base installation and the folder rnnkit is imported from."""
    paths = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    spec = importlib.util.find_spec("rnnkit")
    if spec is not None and spec.origin:
        paths.append(Path(spec.origin).resolve().parent.parent)
    return paths


def kernel_argv(root: Path, workdir: Path, scratch: Path) -> list[str]:
    """The kernel command: ipykernel inside bwrap, with ``{connection_file}`` for Jupyter."""
    root = root.resolve()
    argv = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--tmpfs", str(root)]
    for keep in [root / "lib", root / "lessons", root / ".venv", *_runtime_paths()]:
        if keep.exists():
            argv += ["--ro-bind", str(keep), str(keep)]
    argv += ["--bind", str(workdir), str(workdir), "--bind", str(scratch), str(scratch),
             "--remount-ro", str(root),            # the empty tmpfs over the course: read-only
             "--unshare-net", "--die-with-parent", "--new-session",
             "--chdir", str(workdir)]
    for var, sub in (("HOME", "home"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl"),
                     ("TMPDIR", "tmp")):
        argv += ["--setenv", var, str(scratch / sub)]
    prlimit = shutil.which("prlimit")
    if prlimit:
        argv += [prlimit, f"--as={MEMORY_MB * 1024 * 1024}", "--"]
    argv += [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return argv


def prepare(root: Path, workdir: Path) -> tuple[Path, dict, list[str]]:
    """Make a scratch folder and kernel spec for one submission.

    Returns:
        scratch: the folder to delete afterwards.
        env: variables to add to nbgrader's environment (JUPYTER_PATH, JUPYTER_RUNTIME_DIR).
        args: nbgrader options that select the kernel and the ipc transport.
    """
    scratch = Path(tempfile.mkdtemp(prefix="rnngrade-")).resolve()
    for sub in ("home", "ipython", "mpl", "tmp", "runtime", "ipc"):
        (scratch / sub).mkdir()
    workdir.mkdir(parents=True, exist_ok=True)
    spec_dir = scratch / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": kernel_argv(root, workdir, scratch), "display_name": "Python 3 (sandbox)",
            "language": "python", "metadata": {"debugger": False},
            # bwrap does not forward SIGINT: ask ipykernel to interrupt itself.
            "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    env = {"JUPYTER_PATH": str(scratch / "share" / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "runtime")}
    args = [f"--GuardedExecute.kernel_name={KERNEL_NAME}", "--GuardedExecute.kernel_transport=ipc",
            f"--GuardedExecute.kernel_ip={scratch / 'ipc' / 'kernel'}"]
    return scratch, env, args
