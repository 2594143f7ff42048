"""Starting a sidecar when none answers: ``SpawnPolicy`` decides whether an
app may (and what it advises when it may not); it starts a child sidecar
for an address the app chose, or one for the datasite.

An app whose datasite has no sidecar yet starts one, once per datasite: a
lock file in the sidecar's state folder (``{data_dir}/.syft-sidecar``)
makes apps that start together agree on one. It runs detached, so that it
outlives the app and serves the datasite's other apps, and logs to
``sidecar.log`` in that folder. The binary is the one the platform wheel
installs beside the interpreter (``pip install syft-sidecar``), else
``$SYFT_SIDECAR_BIN``'s, else the first on ``PATH``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, List, Optional

from ._config import ENV_SIDECAR_ADDR, SOCKET_NAME, STATE_DIR_NAME, client_data_dir

log = logging.getLogger("syft_sidecar")

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


class SpawnPolicy:
    """Whether and how an app starts a sidecar when none answers, and what
    it advises when it may not."""

    def __init__(
        self, client: Any, sidecar_arg: Optional[str], spawn: Optional[bool], timeout: float
    ) -> None:
        self.client = client
        self.sidecar_arg = sidecar_arg
        self.spawn = spawn
        self.timeout = timeout

    def ensure(
        self, addr: str, ready: Callable[[float], bool]
    ) -> Optional[subprocess.Popen[bytes]]:
        """Start a sidecar for ``addr`` if the app may and none answers
        there (``ready(timeout)``); returns the child to stop with the app."""
        if self.spawn and not ready(min(1.0, self.timeout)):
            return self._spawn_child(addr)
        if self.spawn is None and self._derived_address():
            self._start_for_datasite(addr, ready)
        return None

    def _derived_address(self) -> bool:
        """Whether the address is the datasite's default, not one the app or
        its environment chose: only there may the app start a sidecar of
        its own accord, which other apps of the datasite will find."""
        return not self.sidecar_arg and not os.environ.get(ENV_SIDECAR_ADDR)

    def advice(self, addr: str) -> str:
        """What to do, leaving out what the app already did."""
        if self.sidecar_arg:
            return f"start one there (syft-sidecar --listen {addr}) or pass another sidecar="
        if os.environ.get(ENV_SIDECAR_ADDR):
            return f"start one there (syft-sidecar --listen {addr}) or change ${ENV_SIDECAR_ADDR}"
        if self.spawn is False:
            return (
                f"start one (syft-sidecar --listen {addr}), or leave spawn_sidecar unset "
                "and the app starts one"
            )
        return f"start one (syft-sidecar --listen {addr})"

    def _start_for_datasite(self, addr: str, ready: Callable[[float], bool]) -> None:
        """No sidecar serves the datasite: start one that outlives the app
        and serves every app of the datasite, once (see _spawn)."""
        data_dir = client_data_dir(self.client)
        email = getattr(self.client, "email", None)
        if data_dir is None or not email:
            return  # nothing to start it for; the caller says what to do
        # The datasite's default address is its state folder's socket.
        sock = str(data_dir / STATE_DIR_NAME / SOCKET_NAME)

        def answers() -> bool:
            if hasattr(socket, "AF_UNIX"):
                return accepts(sock)
            return ready(0.2)  # Python on Windows has no AF_UNIX

        if answers():
            return
        exe = find_binary()
        if exe is None:
            raise ConnectionError(f"no syft-sidecar answered at {addr}, and {NO_BINARY}")
        pid = start_for_datasite(exe, data_dir, str(email), addr, answers, self.timeout)
        if pid is not None:
            log.warning(
                "no syft-sidecar served %s: started %s (pid %d) for it, which stays to serve "
                "its apps; log: %s",
                data_dir,
                exe,
                pid,
                data_dir / STATE_DIR_NAME / LOG_NAME,
            )

    def _spawn_child(self, addr: str) -> subprocess.Popen[bytes]:
        exe = find_binary()
        if exe is None:
            raise ConnectionError(f"no syft-sidecar answered at {addr}, and {NO_BINARY}")
        # The child serves this app's datasite on this address.
        email = getattr(self.client, "email", None)
        args = sidecar_args(exe, addr, str(email) if email else None, client_data_dir(self.client))
        log.info("starting %s", " ".join(args))
        return subprocess.Popen(args)
