"""The kernel jail's layers, each applied to this process before it becomes the kernel: resource
limits, a Landlock rule set, a seccomp filter on file-metadata changes, a switch to an
unprivileged user, and (for a kernel that stays root) no capabilities. Each says what it applied
(nothing where the OS lacks it). Part of :mod:`tinychinchilla.sandbox`, whose ``main``
applies them and which re-exports everything here."""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading kernel. Each default is generous for a lesson in fast mode
    (the slowest uses about 1.5 GB and 20 CPU seconds) and small enough that a runaway submission
    cannot starve the other workers on a 2-core, 24 GiB machine."""

    memory_mb: int = 6144      # address space; torch alone maps ~1 GB, lesson 07 peaks near 1.5 GB
    cpu_seconds: int = 600     # CPU time of the whole kernel; the cell timeout normally fires first
    file_mb: int = 64          # largest file the kernel may write (a 100 MB dump fails, not the disk)
    open_files: int = 512      # torch and zmq need a few hundred descriptors at most
    processes: int = 256       # per user: stops a fork bomb (not enforced for root, see --user)


def apply_limits(limits: Limits) -> list[str]:
    """Set the rlimits of this process (inherited by what it execs); return what was set."""
    try:
        import resource
    except ImportError:  # Windows
        return []
    wanted = {
        "RLIMIT_AS": limits.memory_mb * 2**20,
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_FSIZE": limits.file_mb * 2**20,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_CORE": 0,
    }
    done = []
    for name, value in wanted.items():
        which = getattr(resource, name, None)
        if which is None or value <= 0:
            continue
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
            done.append(name[7:].lower())
        except (ValueError, OSError):
            pass
    return done


# --- Landlock (Linux >= 5.13), through the raw system calls: no extra package needed. ----------
# Numbers from include/uapi/linux/landlock.h; the syscall numbers are the same on x86-64 and arm64.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
(_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR, _FS_REMOVE_DIR, _FS_REMOVE_FILE, _FS_MAKE_CHAR,
 _FS_MAKE_DIR, _FS_MAKE_REG, _FS_MAKE_SOCK, _FS_MAKE_FIFO, _FS_MAKE_BLOCK, _FS_MAKE_SYM) = (1 << b for b in range(13))
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
_FS_ALL_V1 = (1 << 13) - 1
_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
# In its own folders a kernel reads, writes, makes and removes plain files and folders; it never
# makes a symlink, a fifo, a socket or a device node, nor links a file in from elsewhere (REFER is
# handled and never granted): nothing it leaves behind can lead the grader to another file.
_FS_OWN = (_FS_READ_FILE | _FS_READ_DIR | _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE
           | _FS_MAKE_DIR | _FS_MAKE_REG)
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_PR_SET_NO_NEW_PRIVS = 38
# What every Python process needs to read: the OS's programs, libraries and settings, and /proc,
# /sys, /dev (Landlock keeps /proc/<pid> of processes outside the kernel out of reach, as ptrace).
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/proc", "/sys", "/dev")
# /etc is readable entry by entry, less the secrets a kernel left as root could otherwise read.
ETC_SECRETS = ("shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh", "ssl", "security",
               "machine-id", "krb5.keytab", "credstore", "credstore.encrypted")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers, 0 when none (not Linux, too old, disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                               ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def python_read_roots() -> list[Path]:
    """The folders this Python needs to read to run a kernel and import the kit: its installation
    and environment, their site-packages, and the kit's own package folder. With an editable
    install the package folder sits in a checkout; only the package itself is readable then (and
    its ``src/`` folder when it has one, which Python must list to import from it), never the
    checkout's root with its solutions."""
    import site
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_paths().get(key, ""))
    try:
        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    package = Path(__file__).resolve().parent
    roots.add(str(package))
    if package.parent.name == "src":
        roots.add(str(package.parent))
    return [Path(r) for r in sorted(roots) if r and os.path.isdir(r)]


def restrict_self(writable: list[Path], bind_ports: list[int], readable: list[Path] = (),
                  readable_files: list[Path] = ()) -> list[str]:
    """Landlock this process: read only the system, this Python, the kit and ``readable``; write
    only beneath ``writable`` (plain files and folders; no links, fifos, sockets or devices) and
    to /dev/null; no TCP connect; TCP bind only on ``bind_ports``; no signals or abstract sockets
    outside. Returns the layers applied; an empty list when Landlock is unavailable."""
    abi = landlock_abi()
    if abi < 1:
        return []
    libc = ctypes.CDLL(None, use_errno=True)
    fs = _FS_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    own = _FS_OWN | (_FS_TRUNCATE if abi >= 3 else 0)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16  # older kernels reject the scoped field
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return []

    def allow_path(path: Path, access: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):  # a rule on a file may only grant file rights
                access &= _FS_EXECUTE | _FS_READ_FILE | _FS_WRITE_FILE | _FS_TRUNCATE
            rule = _PathBeneathAttr(access, fd)
            libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0))
        finally:
            os.close(fd)

    try:
        for folder in [*SYSTEM_READ, *python_read_roots(), *readable]:
            allow_path(Path(folder), _FS_READ)
        try:
            etc = [e.path for e in os.scandir("/etc") if e.name not in ETC_SECRETS]
        except OSError:
            etc = []
        for path in etc:
            allow_path(Path(path), _FS_READ)
        allow_path(Path("/etc/ssl/certs"), _FS_READ)
        for path in readable_files:
            allow_path(Path(path), _FS_READ_FILE)
        for folder in writable:
            allow_path(Path(folder), own)
        allow_path(Path("/dev/null"), _FS_READ_FILE | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0))
        for port in bind_ports if net else ():
            rule = _NetPortAttr(_NET_BIND_TCP, port)
            libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT),
                         ctypes.byref(rule), ctypes.c_uint32(0))
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return []
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return []
    finally:
        os.close(ruleset)
    layers = ["reads-confined", "writes-confined", "no-links"]
    if net:
        layers.append("no-network")
    if scoped:
        layers.append("signals-confined")
    return layers


# --- seccomp: no chmod, chown, utime or xattr change anywhere (Landlock does not cover them). ---
_SECCOMP_MODE_FILTER, _PR_SET_SECCOMP = 2, 22
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
# (audit arch, file-metadata syscall numbers) per architecture, from the kernel's syscall tables.
_METADATA_SYSCALLS = {
    "x86_64": (0xC000003E, {
        90: "chmod", 91: "fchmod", 92: "chown", 93: "fchown", 94: "lchown", 132: "utime", 235: "utimes",
        260: "fchownat", 261: "futimesat", 268: "fchmodat", 280: "utimensat", 452: "fchmodat2",
        188: "setxattr", 189: "lsetxattr", 190: "fsetxattr", 197: "removexattr", 198: "lremovexattr",
        199: "fremovexattr", 463: "setxattrat", 466: "removexattrat"}),
    "aarch64": (0xC00000B7, {
        52: "fchmod", 53: "fchmodat", 54: "fchownat", 55: "fchown", 88: "utimensat", 452: "fchmodat2",
        5: "setxattr", 6: "lsetxattr", 7: "fsetxattr", 14: "removexattr", 15: "lremovexattr",
        16: "fremovexattr", 463: "setxattrat", 466: "removexattrat"}),
}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def deny_metadata_syscalls() -> bool:
    """A seccomp filter on this process and its children: chmod, chown, utime and the xattr calls
    do nothing, on any file (Landlock cannot confine them to the kernel's folder). They return
    success, because Python's shutil.copy and IPython's own start-up chmod the files they copy
    and would fail otherwise; a kernel has no need for the change itself. Calls of another
    architecture (x32, 32-bit) fail with EPERM. False where the OS or the architecture has no
    filter here."""
    import platform

    table = _METADATA_SYSCALLS.get(platform.machine())
    if not sys.platform.startswith("linux") or table is None:
        return False
    arch, numbers = table
    errno_eperm, ignored = _SECCOMP_RET_ERRNO | 1, _SECCOMP_RET_ERRNO | 0  # errno 0: returns 0
    prog = [(_BPF_LD_W_ABS, 0, 0, 4),                       # seccomp_data.arch
            (_BPF_JEQ_K, 1, 0, arch),
            (_BPF_RET_K, 0, 0, errno_eperm),                # another ABI: refuse everything
            (_BPF_LD_W_ABS, 0, 0, 0)]                       # seccomp_data.nr
    if arch == 0xC000003E:
        prog += [(_BPF_JGE_K, 0, 1, 0x40000000), (_BPF_RET_K, 0, 0, errno_eperm)]  # x32 calls
    for nr in sorted(numbers):
        prog += [(_BPF_JEQ_K, 0, 1, nr), (_BPF_RET_K, 0, 0, ignored)]
    prog.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    filters = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def drop_privileges(user: str, own: list[Path]) -> str:
    """As root: give ``own`` to ``user`` and become that user. Raises with a clear message."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SystemExit(f"sandbox: no user named {user!r}; create one (e.g. `useradd --system grader`) or drop --user")
    if os.geteuid() != 0:
        raise SystemExit(f"sandbox: --user {user} needs the grader to run as root (it is uid {os.geteuid()})")
    for path in own:
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
                os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    return f"user-{user}"


_PR_CAPBSET_DROP, _CAP_LAST = 24, 63
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def drop_capabilities() -> bool:
    """For a kernel that stays root: drop every capability (bounding set, effective, permitted,
    inheritable), so that uid 0 means only the owner of root's files (which Landlock and the
    seccomp filter then confine): no reboot, no modules, no raw sockets, no mounts."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(_CAP_LAST + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last capability

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    data = (Data * 2)()
    return libc.capset(ctypes.byref(Header(_LINUX_CAPABILITY_VERSION_3, 0)), data) == 0
