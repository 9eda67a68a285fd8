"""A bubblewrap sandbox for the grading kernel.

:func:`prepare` writes, for one submission, a Jupyter kernel spec named ``rnn-sandbox`` whose
command runs the usual IPython kernel inside ``bwrap``:

* the file system is read-only; the course root and ``/tmp`` are hidden behind empty tmpfs
  except ``lib/``, ``lessons/``, ``.venv/`` and wherever the Python environment and rnnkit
  live, so ``solutions/``, the gradebook, ``autograder/submitted/`` (other students) and the
  git history cannot be read;
* the only writable places are a throwaway scratch folder (the kernel's working folder with a
  copy of the lesson's data files, HOME, IPYTHONDIR, MPLCONFIGDIR, the kernel's sockets) and
  the private, empty ``/tmp``; nbgrader never reads what the kernel leaves there;
* its own PID namespace (nothing it starts survives it, and it cannot see or open other
  processes through ``/proc``), as root a switch to an unprivileged uid of its own with every capability dropped,
  and a process limit;
* no network (``--unshare-net``): the kernel talks to nbgrader over Unix sockets (ipc);
* an address-space limit (``prlimit --as``), so a memory bomb ends in ``MemoryError`` or a dead
  kernel, never in a machine out of memory, and a limit on the size of a file it writes.

Cell and notebook time limits are nbgrader's and ``IsolatedExecute``'s. Where bubblewrap cannot
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
                            "--unshare-net", "--unshare-pid", "--die-with-parent"]
                           + ([] if os.geteuid() == 0 else ["--unshare-user"]) + ["true"],
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


FIRST_UID = int(os.environ.get("RNNCOURSE_SANDBOX_UID", "61000"))
"""As root, the kernel of grading slot k runs as uid and gid FIRST_UID + k: an account of its
own with no files, so the process limit of one submission never starves another's."""

MAX_PROCESSES = int(os.environ.get("RNNCOURSE_MAX_PROCESSES", "256"))


def _user_processes(uid: int) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def kernel_argv(root: Path, workdir: Path, scratch: Path, uid: int = FIRST_UID) -> list[str]:
    """The kernel command: ipykernel inside bwrap, with ``{connection_file}`` for Jupyter.

    The sandbox has its own PID, IPC and UTS namespaces and no network; when its first process
    ends, the kernel ends every process left in the namespace (a double fork does not survive
    its submission). As root, the kernel runs as an unprivileged uid with no capabilities, so it can
    neither remount, nor trace, nor escape the process limit (an unprivileged uid of its own).
    """
    root = root.resolve()
    as_root = os.geteuid() == 0
    argv = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--perms", "1777", "--tmpfs", "/tmp"]
    keeps = [k for k in [root / "lib", root / "lessons", root / ".venv", *_runtime_paths()]
             if k.exists()]
    tops = [Path("/tmp")] + ([Path("/root")] if as_root else [])
    if as_root:
        # root's home is 0700, which the kernel's uid cannot cross: hide it too and bind back
        # what Python needs.
        argv += ["--tmpfs", "/root"]
    # bwrap creates the folders above a mount point inside a tmpfs with mode 0700: create them
    # first, enterable by anyone, so that the kernel's uid reaches the environment wherever it
    # lies (a clone in /tmp, Python under /root).
    made = set(tops) | {root}
    for target in [root, *keeps]:
        for parent in reversed(target.parents):
            if parent not in made and any(parent.is_relative_to(t) for t in tops) \
                    and not parent.is_relative_to(root):
                made.add(parent)
                argv += ["--perms", "0755", "--dir", str(parent)]
    argv += ["--tmpfs", str(root)]
    for keep in dict.fromkeys(keeps):
        argv += ["--ro-bind", str(keep), str(keep)]
    argv += ["--bind", str(scratch), str(scratch),
             "--remount-ro", str(root),            # the empty tmpfs over the course: read-only
             "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--die-with-parent", "--new-session", "--chdir", str(workdir)]
    if not as_root:
        argv += ["--unshare-user", "--cap-drop", "ALL"]
    # In its own PID namespace the kernel's parent is the namespace's init (pid 1): ipykernel
    # would take that for a dead parent and quit. bwrap's --die-with-parent does that job.
    argv += ["--unsetenv", "JPY_PARENT_PID"]
    for var, sub in (("HOME", "home"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl"),
                     ("TMPDIR", "tmp"), ("TORCHINDUCTOR_CACHE_DIR", "tmp/torchinductor")):
        argv += ["--setenv", var, str(scratch / sub)]
    conn = scratch / "ipc" / "connection.json"
    inner = []
    if as_root:
        # The connection file Jupyter wrote is root's (0600): give the kernel a readable copy,
        # then become the slot's own uid with no capabilities at all.
        inner += [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={uid}",
                  "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        nproc = MAX_PROCESSES
    else:
        nproc = _user_processes(os.getuid()) + MAX_PROCESSES
    prlimit = shutil.which("prlimit")
    if prlimit:
        inner += [prlimit, f"--as={MEMORY_MB * 1024 * 1024}", f"--nproc={nproc}",
                  f"--fsize={FILE_MB * 1024 * 1024}", "--"]
    inner += [sys.executable, "-m", "ipykernel_launcher", "-f", str(conn)]
    script = ('cp "$1" "$2" && chmod 0644 "$2" && shift 2 && exec "$@"')
    argv += ["/bin/sh", "-c", script, "sh", "{connection_file}", str(conn), *inner]
    return argv


FILE_MB = int(os.environ.get("RNNCOURSE_FILE_MB", "256"))
"""The largest file the kernel may write, in MiB."""


def prepare(root: Path, lesson: str, slot: int = 0) -> tuple[Path, dict, dict]:
    """Make a scratch folder and kernel spec for one submission.

    The kernel works in ``<scratch>/work``, a throwaway folder holding a copy of the lesson's
    data files from ``lessons/<lesson>/``: nothing it writes there (a symlink, a huge file) is
    ever read or copied by nbgrader, which writes the graded notebook elsewhere.

    Returns:
        scratch: the folder to delete afterwards.
        env: variables to add to nbgrader's environment (JUPYTER_PATH, JUPYTER_RUNTIME_DIR).
        settings: ``IsolatedExecute`` settings that select the kernel and the ipc transport.
    """
    scratch = Path(tempfile.mkdtemp(prefix="rnngrade-")).resolve()
    for sub in ("home", "ipython", "mpl", "tmp", "runtime", "ipc", "work"):
        (scratch / sub).mkdir()
    released = root / "lessons" / lesson
    if released.is_dir():
        for item in released.iterdir():
            if item.is_file() and not item.is_symlink() and item.suffix != ".ipynb":
                shutil.copy(item, scratch / "work" / item.name)
    spec_dir = scratch / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    uid = FIRST_UID + slot
    spec = {"argv": kernel_argv(root, scratch / "work", scratch, uid),
            "display_name": "Python 3 (sandbox)",
            "language": "python", "metadata": {"debugger": False},
            # bwrap does not forward SIGINT: ask ipykernel to interrupt itself.
            "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    if os.geteuid() == 0:
        os.chmod(scratch, 0o755)
        for sub in ("home", "ipython", "mpl", "tmp", "ipc", "work"):
            for dirpath, dirnames, filenames in os.walk(scratch / sub):
                os.chown(dirpath, uid, uid)
                for f in filenames:
                    os.chown(os.path.join(dirpath, f), uid, uid)
    env = {"JUPYTER_PATH": str(scratch / "share" / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "runtime")}
    settings = {"kernel_name": KERNEL_NAME, "kernel_transport": "ipc",
                "kernel_ip": str(scratch / "ipc" / "kernel")}
    return scratch, env, settings
