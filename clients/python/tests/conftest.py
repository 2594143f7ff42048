"""Fixtures: the real sidecar binary built from this tree (`make build`), the
real syft-rpc as the peer, SyftEvents apps served through the sidecar."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest
from syft_core import Client
from syft_rpc import rpc

from syft_sidecar import SyftEvents
from syft_sidecar.testing import accepts, wait_for

ROOT = Path(__file__).resolve().parents[3]
OWNER = "bob@example.com"
SENDER = "alice@example.com"


def _sidecar_bin() -> str:
    path = os.environ.get("SYFT_SIDECAR_BIN") or str(ROOT / "bin" / "syft-sidecar")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built: run `make build` or set SYFT_SIDECAR_BIN")
    return path


def _client(data_dir: Path, email: str) -> Client:
    cfg = data_dir / f"{email}.config.json"
    cfg.write_text(
        json.dumps({"email": email, "data_dir": str(data_dir), "server_url": "http://127.0.0.1:9"})
    )
    return Client.load(cfg)


class Datasite:
    """A throw-away SyftBox data dir: bob's datasite, alice as the sender."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.owner = _client(data_dir, OWNER)
        self.sender = _client(data_dir, SENDER)

    def rpc_dir(self, app: str) -> Path:
        return self.data_dir / "datasites" / OWNER / "app_data" / app / "rpc"

    def send(self, app: str, endpoint: str, body: Any = None, **kw: Any) -> Any:
        """Write one request as alice would (syft-rpc) and return its future."""
        kw.setdefault("method", "POST")
        kw.setdefault("expiry", "5m")
        kw.setdefault("cache", False)
        url = rpc.make_url(OWNER, app, endpoint)
        return rpc.send(url=url, body=body, client=self.sender, **kw)

    def call(
        self, app: str, endpoint: str, body: Any = None, timeout: float = 15, **kw: Any
    ) -> Any:
        return self.send(app, endpoint, body, **kw).wait(timeout=timeout, poll_interval=0.005)

    def responses(self, app: str) -> List[Path]:
        return sorted(self.rpc_dir(app).glob("**/*.response"))


class Sidecar:
    def __init__(self, ds: Datasite) -> None:
        self.ds = ds
        self.sock = str(ds.data_dir / "s.sock")
        self.addr = f"unix://{self.sock}"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.logs: List[Path] = []

    def start(self, *extra: str) -> None:
        log = self.ds.data_dir / f"sidecar-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [_sidecar_bin(), "--data-dir", str(self.ds.data_dir), "--email", OWNER,
                 "--listen", self.addr, "--metrics-listen", "", "--grace", "500ms",
                 "--log-level", os.environ.get("SIDECAR_LOG_LEVEL", "debug"), *extra],
                stdout=f, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(lambda: accepts(self.sock), "the sidecar socket")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def _site(prefix: str) -> Iterator[Datasite]:
    # Unix socket paths are short: keep the data dir near the root.
    # syft-crypto keeps private keys beside the data dir (../.syftbox): the
    # data dir is one level down so they stay in the test's folder.
    top = Path(tempfile.mkdtemp(prefix=prefix))
    (top / "d").mkdir()
    yield Datasite(top / "d")
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def datasite() -> Iterator[Datasite]:
    yield from _site("sbpy")


@pytest.fixture
def syft_event_site() -> Iterator[Datasite]:
    """A second data dir, for syft-event 0.4.3 itself to serve side by side."""
    yield from _site("sbse")


@pytest.fixture
def sidecar(datasite: Datasite, request: pytest.FixtureRequest) -> Iterator[Sidecar]:
    sc = Sidecar(datasite)
    sc.start()
    yield sc
    sc.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for log in sc.logs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')}")


@pytest.fixture
def make_app(datasite: Datasite, sidecar: Sidecar) -> Iterator[Callable[..., SyftEvents]]:
    """SyftEvents bound to the test's sidecar; stopped at teardown."""
    apps: List[SyftEvents] = []

    def make(app_name: str, **kw: Any) -> SyftEvents:
        kw.setdefault("client", datasite.owner)
        kw.setdefault("sidecar", sidecar.addr)
        kw.setdefault("connect_timeout", 10)
        box = SyftEvents(app_name, **kw)
        apps.append(box)
        return box

    yield make
    for box in apps:
        box.stop()


def start(box: SyftEvents) -> SyftEvents:
    """Start ``box`` and wait for the sidecar's first cleanup of its app.

    An earlier sidecar removed empty sender folders at its first cleanup
    (run at registration), racing syft-rpc's mkdir and write in
    ``rpc.send``; tests send after it, so they do not depend on that.
    """
    box.start()
    wait_for(lambda: box.get_cleanup_stats().last_cleanup, "the first cleanup")
    return box


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, "rep_" + rep.when, rep)
