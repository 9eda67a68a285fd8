"""A seccomp filter for grading kernels: no kernel keyrings.

Linux keeps keys per uid (``@u``, the user keyring) beyond the life of any process, and a slot's
kernels take turns at the same uids: a key one submission adds would be there for a later one
(found by a hostile-student test). So the kernel may not call ``add_key``, ``request_key`` or
``keyctl``, nor add a file-system encryption key (EPERM); nothing in the course uses them. The
x32 system calls of x86-64 and every call of another architecture (32-bit), other ways in to
the same calls, are refused too.

This file is self-contained (only the standard library): its text runs inside each kernel
before any of the kernel's code, ``python -c`` for a kernel of its own (``sandbox.WARM_START``),
or in the fork server's child (``zygote.py``), once no new privileges can be gained (which lets
an unprivileged process install a filter). The filter holds for every thread and process the
kernel starts, and cannot be removed.
"""

import ctypes
import platform

_ARCHES = {  # machine: (AUDIT_ARCH_*, (add_key, request_key, keyctl), ioctl)
    "x86_64": (0xC000003E, (248, 249, 250), 16),
    "aarch64": (0xC00000B7, (217, 218, 219), 29),
}
_X32_SYSCALL_BIT = 0x40000000
_FS_IOC_ADD_ENCRYPTION_KEY = 0xC0506617
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_ALLOW, _ERRNO_EPERM = 0x7FFF0000, 0x00050000 | 1
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


class _Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def program(machine: str) -> list[tuple[int, int, int, int]]:
    """The BPF program for ``machine``: (code, jump if true, jump if false, k) per instruction.
    A call of another architecture (a 32-bit one) is refused with EPERM as a whole; so is the
    ioctl that adds a file-system encryption key (another key that outlives a process)."""
    arch, calls, ioctl = _ARCHES[machine]
    # (code, label if true, label if false, k); labels: "next", "allow", "deny"
    steps = [(_LD_W_ABS, "next", "next", 4),       # seccomp_data.arch
             (_JEQ_K, "next", "deny", arch),
             (_LD_W_ABS, "next", "next", 0),       # seccomp_data.nr
             (_JGE_K, "deny", "next",
              _X32_SYSCALL_BIT if machine == "x86_64" else 0xFFFFFFFF)]
    steps += [(_JEQ_K, "deny", "next", nr) for nr in calls]
    steps += [(_JEQ_K, "next", "allow", ioctl),
              (_LD_W_ABS, "next", "next", 24),     # seccomp_data.args[1], its low 32 bits
              (_JEQ_K, "deny", "allow", _FS_IOC_ADD_ENCRYPTION_KEY)]
    where = {"allow": len(steps), "deny": len(steps) + 1}

    def offset(i: int, label: str) -> int:
        return 0 if label == "next" else where[label] - i - 1

    prog = [(code, offset(i, t), offset(i, f), k) for i, (code, t, f, k) in enumerate(steps)]
    return prog + [(_RET_K, 0, 0, _ALLOW), (_RET_K, 0, 0, _ERRNO_EPERM)]


def install() -> bool:
    """Install the filter in this process (single-threaded, no new privileges set). Returns
    False on an architecture it does not know (nothing installed)."""
    machine = platform.machine()
    if machine not in _ARCHES:
        return False
    prog = program(machine)
    cells = (_Instruction * len(prog))(*[_Instruction(*ins) for ins in prog])
    fprog = _Program(len(prog), cells)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                  0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {__import__('os').strerror(err)}")
    return True
