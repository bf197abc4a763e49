"""Grading in a sandbox: nbgrader runs every student notebook's kernel inside bubblewrap.

``SandboxKernelManager`` is the kernel manager of nbgrader's ``Execute`` step (set in
``exercises/nbgrader_config.py``). Each kernel starts in a fresh ``bwrap`` sandbox that sees:

* the system folders and the Python environment, read-only, and the course data (MNIST);
* a private, size-limited ``/tmp`` holding ``/tmp/work`` (the kernel's folder and ``HOME``: a
  copy of the one submission being graded) and ``/tmp/.kernel`` (the connection file and the
  kernel's IPC sockets, which the grader reaches through ``/proc/<pid>/root``);
* no network, no other process, no course folder (gradebook, ``source/``, other submissions).

Inside, the kernel runs with limits on memory (address space), CPU time, processes and file
size; as the unprivileged user ``nobody`` where the grader is root. ``problem()`` says, in one
line, why no sandbox can be made here (``None`` if one can).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute
from traitlets import Integer

INSTALL = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"
NOBODY = 65534
INSIDE_TMP = "/tmp"
WORK = "/tmp/work"
KERNEL_DIR = "/tmp/.kernel"
SUBMISSION = "/submission"
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/alternatives",
          "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
          "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TZ",
            "NBGRADER_EXECUTION", "CNNCOURSE_CELL_TIMEOUT")

# Runs first inside the sandbox: copy the submission and the connection file into the private
# /tmp, drop to `nobody` if started as root, set the limits, then become the kernel.
BOOT = """
import os, resource, shutil, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
work, kernel, uid, limits = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:8]
shutil.copytree(sys.argv[8], work, dirs_exist_ok=True)
os.chmod(work, 0o755)
shutil.copy(sys.argv[9], kernel)
os.chmod(kernel, 0o644)
if os.getuid() == 0:
    for folder in (work, os.path.dirname(kernel)):
        for root, dirs, files in os.walk(folder):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
for name, value in zip(("AS", "CPU", "NPROC", "FSIZE"), limits):
    resource.setrlimit(getattr(resource, "RLIMIT_" + name), (int(value), int(value)))
os.chdir(work)
os.execv(sys.argv[10], sys.argv[10:])
"""


def _python_folders() -> list[str]:
    """The folders the kernel's Python needs, read-only: the environment, its base, this
    package (an editable install lives outside the environment)."""
    package = Path(__file__).resolve().parents[1]
    folders = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                             sys.base_exec_prefix)}
    folders.add(str(package))
    return sorted(folders)


def _data_folder() -> str | None:
    from ..data_folder import default_root

    root = default_root()
    return str(root.resolve()) if root.is_dir() else None


def bwrap_command(workdir: str, connection_file: str, limits: dict[str, int],
                  kernel_cmd: list[str], root: bool) -> list[str]:
    """The ``bwrap`` command line that runs ``kernel_cmd`` in a sandbox (see the module)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise RuntimeError(f"no sandbox: bwrap is not installed; {INSTALL}")
    # As root, no user namespace (it would map the kernel to root, whom the process limit does
    # not bind): the boot script drops to `nobody` itself, with only the rights it needs.
    namespaces = ["--unshare-all"] if not root else [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
        "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        "--cap-add", "CAP_CHOWN"]
    cmd = [bwrap, *namespaces, "--die-with-parent", "--clearenv"]
    for path in SYSTEM:
        cmd += ["--ro-bind-try", path, path]
    data = _data_folder()
    folders = [*_python_folders(), *([data] if data else [])]
    for parent in sorted({str(p) for f in folders for p in Path(f).parents} - {"/"}):
        cmd += ["--perms", "0755", "--dir", parent]  # else bwrap makes them for root only
    for path in folders:
        cmd += ["--ro-bind", path, path]
    if data:
        cmd += ["--setenv", "CNNCOURSE_DATA", data]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(limits["disk"]), "--tmpfs", INSIDE_TMP,
            "--perms", "0755", "--dir", WORK, "--perms", "0755", "--dir", KERNEL_DIR,
            "--ro-bind", workdir, SUBMISSION, "--ro-bind", connection_file, "/connection.json",
            "--chdir", INSIDE_TMP, "--setenv", "HOME", WORK,
            "--setenv", "JPY_PARENT_PID", "1"]  # bwrap watches the parent, not the kernel
    for name in KEPT_ENV:
        if name in os.environ:
            cmd += ["--setenv", name, os.environ[name]]
    inside_kernel = [arg.replace(connection_file, f"{KERNEL_DIR}/kernel.json")
                     for arg in kernel_cmd]
    boot_limits = [str(limits[k]) for k in ("memory", "cpu_seconds", "processes", "disk")]
    return [*cmd, "--", sys.executable, "-S", "-c", BOOT, WORK, f"{KERNEL_DIR}/kernel.json",
            str(NOBODY), *boot_limits, SUBMISSION, "/connection.json", *inside_kernel]


def _child_pid(pid: int, seconds: float = 10.0) -> int:
    """The first child of process ``pid`` (bwrap's sandboxed process), waiting for it."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = children.read_text().split()
        except OSError:
            found = []
        if found:
            return int(found[0])
        time.sleep(0.01)
    raise RuntimeError("the sandbox did not start (bwrap made no process); run "
                       "'cnncourse exercises grade --verbose' for bwrap's message")


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in a bubblewrap sandbox (see the module docstring).

    The limits are traitlets: set them in ``nbgrader_config.py``, for example
    ``c.SandboxKernelManager.memory_limit = 8 * 2**30``.
    """

    memory_limit = Integer(6 * 2**30, help="Address space of the kernel, bytes (RLIMIT_AS): "
                           "past it allocations fail with MemoryError.").tag(config=True)
    cpu_seconds = Integer(1800, help="CPU time of each process in the sandbox, seconds "
                          "(RLIMIT_CPU): past it the kernel is killed.").tag(config=True)
    max_processes = Integer(256, help="Processes and threads in the sandbox "
                            "(RLIMIT_NPROC).").tag(config=True)
    disk_limit = Integer(512 * 2**20, help="Bytes the sandbox may write: the size of its "
                         "private /tmp, and the largest file (RLIMIT_FSIZE).").tag(config=True)

    def _limits(self) -> dict[str, int]:
        limits = {"memory": self.memory_limit, "cpu_seconds": self.cpu_seconds,
                  "processes": self.max_processes, "disk": self.disk_limit}
        for name, value in limits.items():
            if value <= 0:
                raise ValueError(f"SandboxKernelManager: {name} must be positive, got {value}")
        return limits

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.transport = "ipc"  # sockets in the sandbox's folder: there is no network inside
        self.ip = f"{KERNEL_DIR}/kernel"

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kernel_cmd = super().format_kernel_cmd(extra_arguments)
        workdir = os.path.realpath(self._launch_args.get("cwd") or os.getcwd())
        return bwrap_command(workdir, os.path.realpath(self.connection_file), self._limits(),
                             kernel_cmd, root=os.getuid() == 0)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        # An interrupt (SIGINT to the process group) must reach the kernel, not end bwrap.
        kw["preexec_fn"] = _ignore_interrupts
        await super()._async_launch_kernel(kernel_cmd, **kw)
        # The sockets are inside the sandbox's /tmp: reach them through its root folder.
        pid = _child_pid(self.provisioner.process.pid)
        self.ip = f"/proc/{pid}/root{KERNEL_DIR}/kernel"


NO_SANDBOX = "CNNCOURSE_NO_SANDBOX"
"""Environment variable: ``1`` grades without the sandbox (``cnncourse exercises grade
--no-sandbox`` sets it for nbgrader)."""


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` step with every kernel in the sandbox (``SandboxKernelManager``).

    A subclass, because ``Execute`` passes its kernel manager class as an argument, which
    takes precedence over ``c.Execute.kernel_manager_class``; ``c.Execute`` settings apply.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)


def execute_step(argv: list[str]) -> type[Execute]:
    """The step that runs the notebooks, for ``nbgrader_config.py``: ``SandboxedExecute``, or
    nbgrader's ``Execute`` where ``CNNCOURSE_NO_SANDBOX=1`` (with a warning). For
    ``autograde`` (in ``argv``) it exits with one line where no sandbox can be made."""
    grading = "autograde" in argv[1:]
    if os.environ.get(NO_SANDBOX) == "1":
        if grading:
            print(f"cnncourse: warning: {NO_SANDBOX}=1: student code runs unconfined, with "
                  "your rights and the course folder in reach", file=sys.stderr)
        return Execute
    why = problem() if grading else None
    if why:
        raise SystemExit(f"cnncourse: {why}; or grade without it: cnncourse exercises grade "
                         f"--no-sandbox ({NO_SANDBOX}=1 for nbgrader)")
    return SandboxedExecute


def problem() -> str | None:
    """``None`` if a grading sandbox can be made here, else why not and what to do (one line)."""
    if shutil.which("bwrap") is None:
        return f"no sandbox for grading: bwrap is not installed; {INSTALL}"
    limits = {"memory": 2**30, "cpu_seconds": 10, "processes": 64, "disk": 2**20}
    try:
        with tempfile.TemporaryDirectory() as folder:
            connection = Path(folder) / "connection.json"
            connection.write_text("{}")
            probe = bwrap_command(folder, str(connection), limits, [sys.executable, "-c", "pass"],
                                  root=os.getuid() == 0)
            result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"no sandbox for grading: bwrap cannot run ({err})"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"no sandbox for grading: bwrap failed ({last}); it needs user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1) or root")
    return None
