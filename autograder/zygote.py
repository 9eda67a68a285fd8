"""The fork server of one grading slot: it runs inside the slot's bubblewrap sandbox (``python
-c`` with this file's text: the sandbox does not show ``autograder/``) with the capabilities it
needs to make namespaces and mounts (as root; not as root, those of the sandbox's user
namespace), imports the course's heavy modules once, and forks one kernel per submission.

Only the host's grading worker can reach it: its socket lies in a 0700 folder of the grader's
on the host, which no kernel sees.
A request (one JSON line) names the kernel's uid, the per-submission folder ``sub`` (made by
the worker in the sandbox's sockets folder: the kernel's sockets and data files), Jupyter's
connection file in it and the submission's cgroup folders as bound into the sandbox. The reply
is ``{"exit": status}`` when the kernel is gone; closing the connection kills it.

What a kernel gets, before any of its code runs (:func:`_child`, :func:`_kernel`):

* the submission's cgroups (memory and process limits), joined before the fork below;
* new mount, PID, IPC, network and UTS namespaces: its own /proc, in which it is process 1 and
  sees nothing else; when it ends, the kernel ends every process it started;
* fresh sized tmpfs mounts for its working folder (HOME, IPYTHONDIR, MPLCONFIGDIR, TMPDIR
  under it), ``/tmp`` and ``/dev/shm``; the server's are detached, and of the sockets folder
  only ``sub`` is there. Everything else is the sandbox's read-only allow-list;
* as root, the uid of its submission and no groups (not as root: the grader's uid, as a kernel
  of its own sandbox has); no capability, an empty bounding set, no new privileges, the
  limits on address space, processes and file size, and no kernel keyrings
  (``kernel_seccomp.py``);
* new seeds for Python's, NumPy's and torch's global generators.

The server never runs a submission's code and keeps no state of one: each kernel is a fork of
the same clean image, so nothing one submission leaves (files, modules, threads, processes) is
in the next. It forks only while it has a single thread; with more it refuses to start.
"""

import ctypes
import json
import os
import select
import signal
import socket
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = (
    2, 4, 8, 4096, 8192, 16384, 1 << 18)
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL, CAPABILITY_VERSION_3 = 4, 0x20080522
SUBFOLDERS = ("home", "ipython", "mpl", "tmp", "work")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = (lambda v: v.encode() if isinstance(v, str) else v)
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _tmpfs(target: str, mode: str, size: int) -> None:
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode},size={size}")


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_privileges(uid: int, as_root: bool) -> None:
    """Empty the capability bounding set; as root, become ``uid`` with no groups (which clears
    every capability); clear the ambient, effective, permitted and inheritable sets (not as root,
    the capabilities of the sandbox's user namespace); forbid gaining any back."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    if as_root:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0),
           "prctl ambient")
    _check(_libc.capset(ctypes.byref(_CapHeader(CAPABILITY_VERSION_3, 0)),
                        ctypes.byref((_CapData * 2)())), "capset")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _child(cfg: dict, req: dict, report: int) -> int:
    """The first process of a new kernel (still root): joins the cgroups, makes the namespaces
    and mounts, then forks the kernel (process 1 of the new PID namespace) and waits for it."""
    uid, sub, scratch = int(req["uid"]), req["sub"], cfg["scratch"]
    if uid <= 0 or (not cfg["as_root"] and uid != os.getuid()) or (
            os.path.dirname(sub) != cfg["sockets"]):
        raise ValueError(f"bad request {req!r}")
    for folder in req.get("cgroups", []):
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET
                         | CLONE_NEWUTS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.umask(0o022)
    # Set aside, on a staging tmpfs, what must outlive the fresh /tmp: the submission's folder
    # and the sandbox's read-only folders that lie in /tmp (a course or its venv there). Then a
    # fresh /tmp with those folders back, a fresh scratch folder over the server's (which may lie
    # in /tmp), the submission's folder back at its path in it, and a fresh /dev/shm.
    _tmpfs("/dev/shm", "0700", 1 << 20)
    os.mkdir("/dev/shm/sub")
    _mount(sub, "/dev/shm/sub", None, MS_BIND | MS_REC)
    for i, path in enumerate(cfg["in_tmp"]):
        os.mkdir(f"/dev/shm/{i}")                      # (a bind: not as root, the sandbox's
        _mount(path, f"/dev/shm/{i}", None, MS_BIND | MS_REC)    # own mounts cannot move)
    # Detach (not only cover) the server's scratch folder and /tmp: below them lie the mounts
    # of the other kernels' sockets folders, which this one must not even hold.
    for old in (scratch, "/tmp"):
        _libc.umount2(old.encode(), MNT_DETACH)
    _tmpfs("/tmp", "1777", cfg["size"])
    for i, path in enumerate(cfg["in_tmp"]):
        os.makedirs(path, 0o755, exist_ok=True)
        _mount(f"/dev/shm/{i}", path, None, MS_BIND | MS_REC)
    os.makedirs(scratch, 0o755, exist_ok=True)
    _tmpfs(scratch, "0700", cfg["size"])
    os.chown(scratch, uid, uid)
    for name in SUBFOLDERS:
        os.mkdir(os.path.join(scratch, name), 0o700)
        os.chown(os.path.join(scratch, name), uid, uid)
    os.makedirs(sub, 0o755)
    _mount("/dev/shm/sub", sub, None, MS_MOVE)
    _libc.umount2(b"/dev/shm", MNT_DETACH)            # the staging tmpfs, with its copies
    _tmpfs("/dev/shm", "1777", cfg["size"])
    conn = os.path.join(sub, "connection.json")
    with open(req["connection_file"], "rb") as f:
        text = f.read()
    fd = os.open(conn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, text)
    os.close(fd)
    os.chown(conn, uid, uid)
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        _kernel(cfg, uid, conn, alive_r)           # never returns
    os.close(alive_r)
    os.write(report, f"{pid}\n".encode())
    os.close(report)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status) & 0xFF
        except InterruptedError:
            continue


def _kernel(cfg: dict, uid: int, conn: str, alive: int) -> None:
    """Process 1 of the new PID namespace: its own /proc, the submission's uid without any
    capability, the limits, then ipykernel on ``conn``."""
    code = 1
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        os.setsid()
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (cfg["memory"],) * 2)
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"],) * 2)
        resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["fsize"],) * 2)
        _drop_privileges(uid, cfg["as_root"])
        seccomp: dict = {}
        exec(compile(cfg["seccomp"], "kernel_seccomp.py", "exec"), seccomp)
        seccomp["install"]()                           # no kernel keyrings
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)       # cleared by setresuid: set after it
        if select.select([alive], [], [], 0)[0]:       # the first process died before that
            os._exit(1)
        os.close(alive)
        with open("/proc/self/status") as f:
            caps = {k: v.strip() for k, v in (ln.split(":", 1) for ln in f if ":" in ln)}
        if any(int(caps[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")):
            os._exit(1)
        os.chdir(os.path.join(cfg["scratch"], "work"))
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(2, 1)
        os.closerange(3, 1 << 16)
        _reseed()
        sys.argv = ["ipykernel_launcher", "-f", conn, "--HistoryManager.enabled=False",
                    "--HistoryManager.hist_file=:memory:"]
        from ipykernel import kernelapp
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reseed() -> None:
    """Fresh seeds for the global generators, which every fork would otherwise share."""
    import random
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()


def serve(cfg: dict) -> int:
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for name in cfg["modules"]:
        try:
            __import__(name)
        except Exception:
            pass
    from ipykernel import kernelapp  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        print(f"fork server: {threads} threads after the imports, cannot fork safely",
              file=sys.stderr)
        return 3
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = os.path.join(cfg["sockets"], "zygote.sock")
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(8)
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    ready.write("ready\n")
    ready.close()
    clients: dict = {}                 # socket -> {"buf", "child", "kernel", "report"}
    by_child: dict = {}
    while True:
        readable, _, _ = select.select([listener, *clients], [], [], 0.2)
        for sock in readable:
            if sock is listener:
                conn, _ = listener.accept()
                clients[conn] = {"buf": b"", "child": None, "kernel": None, "report": None}
                continue
            state = clients[sock]
            data = sock.recv(65536)
            if not data:                           # the kernel's launcher is gone: kill it
                _kill(state)
                del clients[sock]
                sock.close()
                continue
            state["buf"] += data
            if state["child"] is None and b"\n" in state["buf"]:
                report_w = None
                try:
                    req = json.loads(state["buf"].split(b"\n", 1)[0])
                    state["report"], report_w = os.pipe()
                    pid = os.fork()
                except (ValueError, OSError) as err:    # no kernel: the launcher exits 1
                    print(f"fork server: no kernel: {err}", file=sys.stderr)
                    _close_report(state)
                    if report_w is not None:
                        os.close(report_w)
                    del clients[sock]
                    sock.close()
                    continue
                if pid == 0:
                    code = 1
                    try:
                        os.close(state["report"])
                        listener.close()
                        for other in clients:
                            other.close()
                        code = _child(cfg, req, report_w)
                    except BaseException:
                        import traceback
                        traceback.print_exc()
                    finally:
                        os._exit(code)
                os.close(report_w)
                state["child"] = pid
                by_child[pid] = sock
        for sock, state in clients.items():
            if state["report"] is not None and state["kernel"] is None:
                if select.select([state["report"]], [], [], 0)[0]:
                    line = os.read(state["report"], 64)
                    state["kernel"] = int(line) if line.strip().isdigit() else -1
        while True:                                # reap the kernels' first processes
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            sock = by_child.pop(pid, None)
            if sock is not None and sock in clients:
                _close_report(clients[sock])
                try:
                    sock.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}
                                            ).encode() + b"\n")
                except OSError:
                    pass
                clients[sock]["child"] = clients[sock]["kernel"] = -1


def _close_report(state: dict) -> None:
    if state["report"] is not None:
        os.close(state["report"])
        state["report"] = None


def _kill(state: dict) -> None:
    for key in ("kernel", "child"):
        pid = state.get(key)
        if pid and pid > 0:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    _close_report(state)


if __name__ == "__main__":
    sys.exit(serve(json.loads(sys.argv[1])))
