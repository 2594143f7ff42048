"""Fixtures that run the real sidecar and echo handler built by `make build`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from syft_sidecar.testing import accepts
from syft_sidecar.testing import wait_for as _wait  # test_events_cross imports it

ROOT = Path(__file__).resolve().parents[2]
OWNER = "bob@example.com"
SENDER = "alice@example.com"


def _bin(env: str, name: str) -> str:
    path = os.environ.get(env) or str(ROOT / "bin" / name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built: run `make build` or set {env}")
    return path


class Datasite:
    """A throw-away SyftBox data dir served by a sidecar and the echo handler."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.sock = str(data_dir / "s.sock")
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.data_dir / f"{Path(name).name}-{len(self.procs)}.log"
        self.logs.append(log)
        with open(log, "wb") as f:
            p = subprocess.Popen([name, *args], stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start_sidecar(self) -> None:
        self._start(
            _bin("SYFT_SIDECAR_BIN", "syft-sidecar"),
            [
                "--data-dir",
                str(self.data_dir),
                "--email",
                OWNER,
                "--listen",
                f"unix://{self.sock}",
                "--metrics-listen",
                "",
                "--grace",
                "500ms",
            ],
        )
        _wait(lambda: accepts(self.sock), "the sidecar socket")

    def start_echo(self, app: str) -> None:
        self._start(
            _bin("SYFT_ECHO_BIN", "echo"),
            ["--sidecar", f"unix://{self.sock}", "--app", app],
        )
        keep = self.rpc_dir(app) / "echo" / ".syftkeep"
        _wait(keep.exists, f"{app} to register")

    def rpc_dir(self, app: str) -> Path:
        return self.data_dir / "datasites" / OWNER / "app_data" / app / "rpc"

    def client(self, email: str = SENDER):
        """A syft-core Client for a sender sharing this data dir (as if synced)."""
        from syft_core import Client

        cfg = self.data_dir / f"{email}.config.json"
        cfg.write_text(json.dumps({"email": email, "data_dir": str(self.data_dir)}))
        return Client.load(cfg)

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def datasite(request) -> Iterator[Datasite]:
    # Unix socket paths are short: keep the data dir near the root.
    d = Path(tempfile.mkdtemp(prefix="sb"))
    ds = Datasite(d)
    yield ds
    ds.close()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for log in ds.logs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')}")
    shutil.rmtree(d, ignore_errors=True)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
