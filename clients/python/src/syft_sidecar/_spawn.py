"""Starting a sidecar for the datasite when none answers.

An app whose datasite has no sidecar yet starts one, once per datasite: a
lock file in the sidecar's state folder (``{data_dir}/.syft-sidecar``)
makes apps that start together agree on one. It runs detached, so that it
outlives the app and serves the datasite's other apps, and logs to
``sidecar.log`` in that folder. The binary is the one the platform wheel
installs beside the interpreter (``pip install syft-sidecar``), else
``$SYFT_SIDECAR_BIN``'s, else the first on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, List, Optional

from ._config import STATE_DIR_NAME

ENV_SIDECAR_BIN = "SYFT_SIDECAR_BIN"
LOG_NAME = "sidecar.log"
LOCK_NAME = "start.lock"
EXE = "syft-sidecar.exe" if os.name == "nt" else "syft-sidecar"

NO_BINARY = (
    "no syft-sidecar binary to start: `pip install syft-sidecar` brings one on Linux, "
    f"macOS and Windows; or set ${ENV_SIDECAR_BIN} to one, or start a sidecar yourself"
)


def accepts(sock_path: str) -> bool:
    """Whether connecting to the unix socket at ``sock_path`` succeeds."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sock_path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def find_binary() -> Optional[str]:
    env = os.environ.get(ENV_SIDECAR_BIN)
    if env:
        return env
    # The wheel's binary lands in this interpreter's scripts folder, which is
    # on PATH only in an activated venv.
    for scheme in (None, f"{os.name}_user"):
        try:
            d = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        p = Path(d) / EXE
        if os.access(p, os.X_OK):
            return str(p)
    return shutil.which(EXE)


def sidecar_args(exe: str, addr: str, email: Optional[str], data_dir: Optional[Path]) -> List[str]:
    """The command that serves the datasite of email and data_dir (the
    SyftBox config's when unknown) at addr. Its metrics endpoint is off, so
    that datasites on one machine do not compete for one port."""
    args = [exe, "--listen", addr, "--metrics-listen", ""]
    if email and data_dir is not None:
        args += ["--email", email, "--data-dir", str(data_dir)]
    return args


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on path, held until the block ends, across
    processes; waits for another holder."""
    with open(path, "a+b") as f:
        if sys.platform == "win32":
            import msvcrt

            f.seek(0)
            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s; go on waiting
                    continue
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# Run by a short-lived interpreter: starts the sidecar in a session of its
# own, prints its pid and exits, so that the sidecar is reparented away from
# the app. argv: the log file, then the command.
_LAUNCHER = """
import subprocess, sys
with open(sys.argv[1], "ab") as log:
    p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
print(p.pid)
"""


def _launch(args: List[str], log_path: Path) -> int:
    """Starts args detached from this process and returns its pid. The
    SyftBox client stops an app by signalling every process descended from
    it, and a Ctrl-C reaches the app's whole process group; the sidecar,
    which serves the datasite's other apps too, must be neither."""
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
        logf: IO[bytes]
        with open(log_path, "ab") as logf:
            return subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, creationflags=flags
            ).pid
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(log_path), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # the wait for its socket ends the wait instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie not yet reaped by its new parent is gone too.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return True


def _tail(path: Path, n: int = 5) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def start_for_datasite(
    exe: str, data_dir: Path, email: str, addr: str, answers: Any, timeout: float
) -> Optional[int]:
    """Starts a sidecar for the datasite at ``addr`` unless one answers once
    this process holds the datasite's start lock; waits until it answers.
    Returns the new sidecar's pid, or None when another app had started one.
    ``answers()`` tells whether a sidecar answers at ``addr`` now."""
    state = data_dir / STATE_DIR_NAME
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(state / LOCK_NAME):
        if answers():
            return None
        log_path = state / LOG_NAME
        pid = _launch(sidecar_args(exe, addr, email, data_dir), log_path)
        deadline = time.monotonic() + timeout
        while not answers():
            if not _alive(pid):
                raise ConnectionError(
                    f"the syft-sidecar this app started ({exe}) exited; "
                    f"the end of its log ({log_path}):\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"the syft-sidecar this app started ({exe}, pid {pid}) did not answer "
                    f"at {addr} within {timeout:g}s; its log: {log_path}"
                )
            time.sleep(0.02)
        return pid
