"""A bubblewrap sandbox for the grading kernel.

:func:`prepare` writes, for one submission, a Jupyter kernel spec named ``rnn-sandbox`` whose
command runs the usual IPython kernel inside ``bwrap``:

* the file system is an allow-list, read-only: the system folders (``/usr`` and the ``/bin``,
  ``/lib*`` links into it), the few files of ``/etc`` that programs read, the Python environment
  (the venv and the base interpreter it points to), the ``rnnkit`` package and the course's
  ``lessons/``. Nothing else of the machine is there: not ``solutions/``, the gradebook,
  ``autograder/submitted/`` (other students) or the git history of the graded course, nor any
  other copy of the course (an instructor's clone, a second checkout), nor other users' homes;
* the only writable places are tmpfs mounts of a fixed size that live and die with the
  sandbox: the scratch folder (the kernel's working folder with a copy of the lesson's data
  files, HOME, IPYTHONDIR, MPLCONFIGDIR), ``/tmp`` and ``/dev/shm``. Only the kernel's sockets
  and its connection file (``<scratch>/ipc``, 0700, the file 0600) are shared with nbgrader,
  which never reads anything else the kernel writes;
* its own PID namespace (nothing it starts survives it, and it cannot see or open other
  processes through ``/proc``), as root a switch to an unprivileged uid of its own with every
  capability dropped, and a process limit;
* no network (``--unshare-net``): the kernel talks to nbgrader over Unix sockets (ipc);
* an address-space limit per process (``prlimit --as``), so a memory bomb ends in
  ``MemoryError`` or a dead kernel, and a limit on the size of a file it writes; as root, the
  whole sandbox (every process and its tmpfs pages) also sits in the grading slot's cgroup
  with a memory and a process limit (:func:`make_cgroups`);
* no IPython history: nothing the learner's cells held is written to a ``history.sqlite``;
* no kernel keyrings (a seccomp filter, ``kernel_seccomp.py``): keys outlive processes, and a
  slot's kernels take turns at the same uids.

The kernel imports the course's heavy modules (:data:`WARM_MODULES`: NumPy, torch, matplotlib,
rnnkit) before it answers its first request, and does not depend on the lesson: the lesson's data
files reach its working folder when a submission claims it (:func:`claim_code`). So a grading
worker can start the next submission's sandboxed kernel while it grades the current one
(``grade_worker.py``); each kernel, sandbox, scratch folder, uid and cgroup still serves exactly
one submission. A slot's kernels are forked by its fork server (:func:`zygote_argv`,
``zygote.py``), which runs in a sandbox of this layout and gives each kernel its own namespaces,
tmpfs mounts, uid and limits as above, with the imports already done.

Cell and notebook time limits are nbgrader's and ``IsolatedExecute``'s. Where bubblewrap cannot
run, :func:`available` says why and grading goes on without isolation, loudly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

KERNEL_NAME = "rnn-sandbox"
MEMORY_MB = int(os.environ.get("RNNCOURSE_MEMORY_MB", "4096"))
"""Address space of each process of the kernel, and (as root, through a cgroup) the memory of
the whole sandbox of one grading slot, tmpfs included, in MiB."""

FILE_MB = int(os.environ.get("RNNCOURSE_FILE_MB", "256"))
"""The largest file the kernel may write, in MiB."""

DISK_MB = int(os.environ.get("RNNCOURSE_DISK_MB", "512"))
"""The size of each tmpfs the kernel can write (its scratch folder, /tmp, /dev/shm), in MiB."""

FIRST_UID = int(os.environ.get("RNNCOURSE_SANDBOX_UID", "61000"))
"""As root, the kernel of grading slot k runs as uid and gid FIRST_UID + 2k or the one after
(``course.py grade`` sets it to the first uid of a block of its own, :func:`reserve_uids`): an
account of its own with no files, so the process limit of one submission never starves
another's."""

MAX_PROCESSES = int(os.environ.get("RNNCOURSE_MAX_PROCESSES", "256"))

WARM_MODULES = ("numpy", "torch", "torch.nn.functional", "torch.nn.utils.rnn",
                "torch._dynamo",      # imported by the first optimizer step (about 1.2 CPU-s)
                "matplotlib.pyplot",
                "rnnkit", "rnnkit.checks", "rnnkit.models", "rnnkit.plotting", "rnnkit.series",
                "rnnkit.tasks", "rnnkit.torch_bridge", "rnnkit.training",
                "rnnkit.testing.kernel_side")
"""Modules every kernel imports before it serves (about 3.6 CPU-seconds with ipykernel's own,
most of a kernel's start): only into ``sys.modules``, no name of the notebook's namespace is
bound. The lessons' own imports then find them loaded (torch._dynamo: the first optimizer
step of every lesson imports it)."""

WARM_START = "\n".join([
    "import os, sys",
    "_seccomp = {}",
    "exec(sys.argv.pop(1), _seccomp)",         # kernel_seccomp.py: no kernel keyrings
    "_seccomp['install']()",
    "del _seccomp",
    "sys.path[:] = [p for p in sys.path if p not in ('', os.getcwd())]",
    # what ipykernel sets before the notebook's first import of matplotlib (lower priority than
    # the notebook's own %matplotlib or matplotlib.use)
    "os.environ.setdefault('MPLBACKEND', 'module://matplotlib_inline.backend_inline')",
    "for name in sys.argv.pop(1).split(','):",
    "    try:",
    "        __import__(name)",
    "    except Exception:",
    "        pass",
    "del name",
    "from ipykernel import kernelapp",
    "kernelapp.launch_new_instance()",
])
"""``python -c`` program of the kernel: ipykernel_launcher after the imports of WARM_MODULES
(its second argument), after installing the seccomp filter of ``kernel_seccomp.py`` (its source
text, the first argument). A module that fails to import here is imported again, with its real
error, by the notebook cell that needs it."""


SECCOMP_SOURCE = (Path(__file__).resolve().parent / "kernel_seccomp.py").read_text()
"""The text of ``kernel_seccomp.py``, which every kernel runs first (the sandbox does not show
``autograder/``)."""


UID_BLOCK = 64
"""Kernel uids a grading run reserves (:func:`reserve_uids`): two per slot, so at most 32 jobs."""


def reserve_uids(jobs: int):
    """As root, the first kernel uid of a block that no other grading run on this machine holds
    now, and the open lock file that holds it until it is closed (keep it open for the run):
    two runs at once must not share uids (a process limit is per uid). ``(FIRST_UID, None)``
    when not root (kernels run as the grader)."""
    if os.geteuid() != 0:
        return FIRST_UID, None
    if 2 * jobs > UID_BLOCK:
        raise SystemExit(f"at most {UID_BLOCK // 2} jobs at a time (JOBS={jobs})")
    import fcntl
    folder = Path("/run/rnngrade-uids")
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != 0 or folder.is_symlink():
        raise SystemExit(f"{folder} is not root's: remove it")
    # A lock per 64 uids counted from uid 0, so that runs with another RNNCOURSE_SANDBOX_UID
    # cannot overlap either: a block of ours spans one or two of them.
    for block in range(256):
        first = FIRST_UID + block * UID_BLOCK
        locks = []
        for aligned in sorted({first // UID_BLOCK, (first + UID_BLOCK - 1) // UID_BLOCK}):
            lock = open(folder / f"{aligned * UID_BLOCK}.lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locks.append(lock)
            except OSError:
                lock.close()
                break
        else:
            return first, _Locks(locks)
        for lock in locks:
            lock.close()
    raise SystemExit("256 grading runs hold every block of kernel uids: wait for one to end")


class _Locks:
    """The lock files of :func:`reserve_uids`, released together by :meth:`close`."""

    def __init__(self, files: list):
        self.files = files

    def close(self) -> None:
        for f in self.files:
            f.close()


def kernel_uid(slot: int, turn: int) -> int:
    """As root, the uid of a kernel of grading slot ``slot``: two per slot, one for each of the
    two kernels that can be alive at once (the one graded, the next one starting), so that
    neither can use up the other's process limit."""
    return FIRST_UID + 2 * slot + turn % 2

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""System folders bound read-only (or recreated as the links they are on merged-/usr systems)."""

ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
       "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/hosts",
       "/etc/ssl", "/etc/ca-certificates", "/etc/fonts", "/etc/mime.types")
"""The files of /etc that the dynamic loader, Python and matplotlib read."""

CPU_INFO = ("/sys/devices/system/cpu",)
"""What BLAS and torch read to count the CPUs."""


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
    its base installation and the rnnkit package (not the rest of the folder it lies in)."""
    paths = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    spec = importlib.util.find_spec("rnnkit")
    if spec is not None and spec.origin:
        paths.append(Path(spec.origin).resolve().parent)
    return paths


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


# -- cgroups ---------------------------------------------------------------------------------

def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _cgroup_mounts() -> list[tuple[str, str, set]]:
    """(type, mount point, options) of the cgroup file systems of this machine."""
    found = []
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            dev, point, fstype, opts = line.split()[:4]
            if fstype in ("cgroup", "cgroup2"):
                found.append((fstype, point, set(opts.split(","))))
    except OSError:
        pass
    return found


def _own_cgroups() -> dict | None:
    """{controller: this process's cgroup path} (cgroup v1), or None when unreadable."""
    own = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(","):
                own[c] = path
    except OSError:
        return None
    return own


def make_cgroups(name: str, memory_mb: int = MEMORY_MB,
                 max_processes: int = MAX_PROCESSES) -> list[Path]:
    """As root, the cgroup folders of one grading slot, with a memory and a process limit.

    cgroup v2 where its memory and pids controllers can be given to a child of the hierarchy's
    root (the usual pure-v2 host); else the v1 ``memory`` and ``pids`` hierarchies (a hybrid
    host), under this process's own cgroup. Returns [] when neither works (not root, no
    cgroup file system, no write access): the per-process limits of :func:`kernel_argv` and the
    tmpfs sizes still hold.
    """
    if os.geteuid() != 0 or os.environ.get("RNNCOURSE_CGROUPS", "auto") == "off":
        return []
    memory = str(memory_mb * 1024 * 1024)
    mounts = _cgroup_mounts()
    for fstype, point, _ in mounts:
        if fstype != "cgroup2":
            continue
        base = Path(point)
        try:
            controllers = set((base / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        if not {"memory", "pids"} <= controllers:
            continue
        _write(base / "cgroup.subtree_control", "+memory +pids")
        folder = base / name
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            continue
        if _write(folder / "memory.max", memory) and _write(folder / "pids.max", str(max_processes)):
            _write(folder / "memory.swap.max", "0")
            return [folder]
        remove_cgroups([folder])
    own = _own_cgroups()
    if own is None:
        return []
    made = []
    for fstype, point, opts in mounts:
        for ctrl, files in (("memory", {"memory.limit_in_bytes": memory,
                                        "memory.memsw.limit_in_bytes": memory}),
                            ("pids", {"pids.max": str(max_processes)})):
            if fstype != "cgroup" or ctrl not in opts or ctrl not in own:
                continue
            folder = Path(point) / own[ctrl].lstrip("/") / name
            try:
                folder.mkdir(exist_ok=True)
            except OSError:
                continue
            first, *rest = files.items()
            if _write(folder / first[0], first[1]):
                for f, v in rest:
                    _write(folder / f, v)          # memsw exists only with swap accounting
                made.append(folder)
            else:
                remove_cgroups([folder])
    return made


def remove_stale_cgroups(prefix: str) -> list[Path]:
    """As root, remove the cgroups ``<prefix><pid>-...`` that :func:`make_cgroups` made for a
    grading run whose process is gone (killed with SIGKILL: it could not remove them), killing
    what is left in them; return them."""
    if os.geteuid() != 0:
        return []
    import leftovers
    own = _own_cgroups() or {}
    parents = set()
    for fstype, point, opts in _cgroup_mounts():
        if fstype == "cgroup2":
            parents.add(Path(point))
        for ctrl in ("memory", "pids"):
            if fstype == "cgroup" and ctrl in opts and ctrl in own:
                parents.add(Path(point) / own[ctrl].lstrip("/"))
    stale = [f for parent in parents for f in leftovers.of_dead_runs(parent, prefix)]
    remove_cgroups(stale)
    return stale


def kill_cgroups(folders: list[Path]) -> None:
    """Kill every process left in these cgroups (a sandbox whose worker was lost)."""
    for folder in folders:
        try:
            pids = (folder / "cgroup.procs").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def remove_cgroups(folders: list[Path]) -> None:
    kill_cgroups(folders)
    for folder in folders:
        for _ in range(50):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


# -- the kernel ------------------------------------------------------------------------------

def _layout(root: Path, scratch: Path, binds: list[tuple[str, str]] = ()) -> list[str]:
    """bwrap and its options up to the command: the allow-list file system, the sized tmpfs
    mounts, the scratch folder at ``scratch`` (its sockets' folder and data folder bound in from
    the host, then ``binds``: (host path, sandbox path), read-write), the namespaces and the
    environment. See the module doc."""
    root = root.resolve()
    size = str(DISK_MB * 1024 * 1024)
    argv = [shutil.which("bwrap")]
    bound: list[Path] = []                    # folders visible in the sandbox, read-only
    for path in SYSTEM:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
            bound.append(Path(path))
    made = {Path("/")}
    hide = any(root.is_relative_to(b) for b in bound)    # the course inside a system folder

    def visible(path: Path) -> bool:
        """Whether path is there already: under a bound folder, not the hidden course."""
        return (any(path.is_relative_to(b) for b in bound)
                and not (hide and path.is_relative_to(root)))

    def parents(target: Path) -> None:
        # bwrap creates missing folders above a mount point with mode 0700 (as root, not
        # enterable by the kernel's uid): create them first, enterable by anyone.
        for parent in reversed(target.parents):
            if parent not in made and not visible(parent):
                made.add(parent)
                argv.extend(["--perms", "0755", "--dir", str(parent)])

    for path in ETC + CPU_INFO:
        if os.path.exists(path):
            parents(Path(path))
            argv += ["--ro-bind", path, path]
    argv += ["--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
             "--proc", "/proc", "--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    made.add(Path("/tmp"))
    keeps = [k for k in [root / "lessons", root / ".venv", *_runtime_paths()] if k.exists()]
    for keep in sorted(dict.fromkeys(keeps), key=lambda p: len(p.parts)):
        if visible(keep):
            continue                          # already visible through a folder bound above
        if hide and keep.is_relative_to(root) and root not in made:
            argv += ["--perms", "0755", "--tmpfs", str(root)]     # hide the course
            made.add(root)
        parents(keep)
        argv += ["--ro-bind", str(keep), str(keep)]
        bound.append(keep)
    # The writable scratch: a sized tmpfs, private to the sandbox, with the sockets' folder and
    # the lesson's data files bound in from the host.
    parents(scratch)
    argv += ["--perms", "0700", "--size", size, "--tmpfs", str(scratch)]
    for sub in ("home", "ipython", "mpl", "tmp", "work"):
        argv += ["--perms", "0700", "--dir", str(scratch / sub)]
    argv += ["--ro-bind", str(scratch / "data"), str(scratch / "data"),
             "--bind", str(scratch / "ipc"), str(scratch / "ipc")]
    for host, inside in binds:
        argv += ["--bind", host, inside]
    if hide:
        argv += ["--remount-ro", str(root)]
    argv += ["--remount-ro", "/",
             "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--die-with-parent", "--new-session", "--chdir", str(scratch / "work")]
    # In its own PID namespace the kernel's parent is the namespace's init (pid 1): ipykernel
    # would take that for a dead parent and quit. bwrap's --die-with-parent does that job.
    argv += ["--unsetenv", "JPY_PARENT_PID"]
    # The hidden cases' seed salt is the grader's (test_runner.py), never the kernel's.
    argv += ["--unsetenv", "RNNCOURSE_SEED_SALT"]
    for var, sub in (("HOME", "home"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl"),
                     ("TMPDIR", "tmp"), ("TORCHINDUCTOR_CACHE_DIR", "tmp/torchinductor")):
        argv += ["--setenv", var, str(scratch / sub)]
    return argv


def kernel_argv(root: Path, scratch: Path, uid: int = FIRST_UID,
                cgroups: list[Path] = ()) -> list[str]:
    """The kernel command: ipykernel inside bwrap, with ``{connection_file}`` for Jupyter.

    The sandbox has its own PID, IPC and UTS namespaces and no network; when its first process
    ends, the kernel ends every process left in the namespace (a double fork does not survive
    its submission). As root, the kernel runs as an unprivileged uid with no capabilities, so it
    can neither remount, nor trace, nor escape the process limit, and the whole sandbox runs in
    the slot's ``cgroups``.
    """
    scratch = Path(scratch)
    as_root = os.geteuid() == 0
    argv = _layout(root, scratch)
    if not as_root:
        argv += ["--unshare-user", "--cap-drop", "ALL"]
    conn = scratch / "ipc" / "connection.json"
    inner = []
    # Before the kernel starts: its own copy of the connection file (0600); as root it and the
    # working folder belong to the kernel's uid, which is then taken with no capabilities at all.
    # The lesson's data files come later, when a submission claims the kernel (claim_code).
    setup = ['cp "$1" "$2"', 'chmod 0600 "$2"']
    if as_root:
        owned = " ".join(shlex.quote(str(p)) for p in
                         [scratch, *(scratch / s for s in ("home", "ipython", "mpl", "tmp"))])
        setup += [f'chown {uid}:{uid} "$2" {owned}', f"chown -R {uid}:{uid} ."]
        inner += [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={uid}",
                  "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        nproc = MAX_PROCESSES
    else:
        nproc = _user_processes(os.getuid()) + MAX_PROCESSES
    prlimit = shutil.which("prlimit")
    if prlimit:
        inner += [prlimit, f"--as={MEMORY_MB * 1024 * 1024}", f"--nproc={nproc}",
                  f"--fsize={FILE_MB * 1024 * 1024}", "--"]
    inner += [sys.executable, "-c", WARM_START, SECCOMP_SOURCE, ",".join(WARM_MODULES),
              "-f", str(conn),
              "--HistoryManager.enabled=False", "--HistoryManager.hist_file=:memory:"]
    script = " && ".join(setup) + ' && shift 2 && exec "$@"'
    argv += ["/bin/sh", "-c", script, "sh", "{connection_file}", str(conn), *inner]
    if cgroups:
        # bwrap and everything in the sandbox join the slot's cgroups before it starts.
        join = " && ".join(f"echo $$ > {shlex.quote(str(Path(c) / 'cgroup.procs'))}"
                           for c in cgroups)
        argv = ["/bin/sh", "-c", join + ' && exec "$@"', "sh", *argv]
    return argv


def zygote_argv(root: Path, scratch: Path, cgroup_sets: list[list[Path]] = ()
                ) -> tuple[list[str], list[list[str]]]:
    """The command of a slot's fork server (``zygote.py``): bwrap as for a kernel, with
    ``scratch`` (its ``ipc`` and ``data`` folders made, 0700) for its scratch folder, the server
    left with the capabilities it needs to make each kernel's namespaces, mounts and (as root)
    uid, and each of ``cgroup_sets`` (one set per turn) bound in for its kernels to join.

    Returns the command and, for each set, where its folders lie inside the sandbox.
    """
    scratch = Path(scratch)
    binds, inside = [], []
    for turn, folders in enumerate(cgroup_sets):
        inside.append([])
        for i, folder in enumerate(folders):
            path = str(scratch / "cgroups" / f"{turn}-{i}")
            binds.append((str(folder), path))
            inside[-1].append(path)
    as_root = os.geteuid() == 0
    layout = _layout(root, scratch, binds)
    cfg = {"modules": list(WARM_MODULES), "scratch": str(scratch), "as_root": as_root,
           "seccomp": SECCOMP_SOURCE,
           "in_tmp": _mounted_in_tmp(layout, scratch),
           "sockets": str(scratch / "ipc"), "size": DISK_MB * 1024 * 1024,
           "memory": MEMORY_MB * 1024 * 1024, "fsize": FILE_MB * 1024 * 1024,
           "nproc": MAX_PROCESSES if as_root else _user_processes(os.getuid()) + MAX_PROCESSES}
    source = (Path(__file__).resolve().parent / "zygote.py").read_text()
    argv = layout
    if not as_root:                   # the server's capabilities, in its user namespace only
        argv += ["--unshare-user", "--cap-add", "ALL"]
    argv += [sys.executable, "-c", source, json.dumps(cfg)]
    return argv, inside


def _mounted_in_tmp(layout: list[str], scratch: Path) -> list[str]:
    """The folders that ``layout`` binds inside /tmp (not the scratch folder), outermost only:
    a kernel's fresh /tmp must keep them."""
    targets = [Path(layout[i + 2]) for i, arg in enumerate(layout[:-2])
               if arg in ("--bind", "--ro-bind")]
    inside = [t for t in targets if t.is_relative_to("/tmp") and t != Path("/tmp")
              and not t.is_relative_to(scratch)]
    return [str(t) for t in inside if not any(t != o and t.is_relative_to(o) for o in inside)]


def mount_tmpfs(path: Path, uid: int, size_mb: int = DISK_MB, shared: bool = False) -> bool:
    """As root, a tmpfs of ``size_mb`` MiB at ``path`` on the host, 0700 and ``uid``'s: a
    kernel's sockets folder, which the kernel can write, so that what it writes there stays in
    memory and within a size (on the host's disk it would not). ``shared``: mounts made under it
    later reach a sandbox that binds it (the fork server's). False when not root (the folder
    stays on the disk; each file is still limited)."""
    if os.geteuid() != 0:
        return False
    subprocess.run(["mount", "-t", "tmpfs", "-o",
                    f"size={size_mb}m,mode=0700,uid={uid},gid={uid},nosuid,nodev", "tmpfs",
                    str(path)], check=True, capture_output=True)
    if shared:
        subprocess.run(["mount", "--make-shared", str(path)], check=True, capture_output=True)
    return True


def unmount_below(folder: Path) -> None:
    """As root, detach every mount at or below ``folder`` (a sockets folder's tmpfs, or those
    of a grading run killed before it could), deepest first."""
    if os.geteuid() != 0:
        return
    folder = Path(folder).resolve()
    try:
        points = [Path(line.split()[4].encode().decode("unicode_escape"))
                  for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((p for p in points if p.is_relative_to(folder)),
                        key=lambda p: len(p.parts), reverse=True):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def prepare(root: Path, scratch: Path, uid: int = FIRST_UID,
            cgroups: list[Path] = ()) -> tuple[dict, dict]:
    """Fill the empty folder ``scratch`` (made by the caller, who deletes it) with a kernel spec
    for one kernel, which will serve one submission of any lesson.

    The kernel works in ``<scratch>/work``, inside the sandbox a sized tmpfs: nothing it writes
    there reaches the host's disk or is ever read by nbgrader, which writes the graded notebook
    elsewhere. On the host the folder is 0700, and its ``ipc`` folder (the kernel's sockets; as
    root a sized tmpfs of its own, :func:`mount_tmpfs`: the caller unmounts it with
    :func:`unmount_below`) and ``data`` folder (the lesson's data files, see
    :func:`add_lesson_data`) belong, as root, to the kernel's uid alone.

    Returns:
        env: variables for the kernel manager (JUPYTER_PATH, JUPYTER_RUNTIME_DIR).
        settings: ``IsolatedExecute`` settings that select the kernel and the ipc transport.
    """
    scratch = Path(scratch).resolve()
    os.chmod(scratch, 0o700)
    for sub in ("runtime", "ipc", "data"):
        (scratch / sub).mkdir(mode=0o700)
    spec_dir = scratch / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": kernel_argv(root, scratch, uid, cgroups),
            "display_name": "Python 3 (sandbox)",
            "language": "python", "metadata": {"debugger": False},
            # bwrap does not forward SIGINT: ask ipykernel to interrupt itself.
            "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    if os.geteuid() == 0:
        for sub in ("ipc", "data"):
            os.chown(scratch / sub, uid, uid)
        mount_tmpfs(scratch / "ipc", uid)
    env = {"JUPYTER_PATH": str(scratch / "share" / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "runtime")}
    settings = {"kernel_name": KERNEL_NAME, "kernel_transport": "ipc",
                "kernel_ip": str(scratch / "ipc" / "kernel")}
    return env, settings


def add_lesson_data(root: Path, lesson: str, scratch: Path, uid: int = FIRST_UID) -> None:
    """Put the data files of ``lessons/<lesson>/`` (not its notebooks, never a link) into the
    kernel's ``data`` folder, which the sandbox sees read-only; :func:`claim_code` copies them
    into the kernel's working folder."""
    released = Path(root) / "lessons" / lesson
    data = Path(scratch) / "data"
    if released.is_dir():
        for item in released.iterdir():
            if item.is_file() and not item.is_symlink() and item.suffix != ".ipynb":
                shutil.copy(item, data / item.name)
                if os.geteuid() == 0:
                    os.chown(data / item.name, uid, uid)


def claim_code(scratch: Path) -> str:
    """Code the kernel runs silently (no history, no output, no name bound) before the
    submission's first cell: a copy of the lesson's data files into its working folder."""
    data = str(Path(scratch).resolve() / "data")
    return f"__import__('shutil').copytree({data!r}, '.', dirs_exist_ok=True) and None"
