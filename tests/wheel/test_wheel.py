"""The linux x86_64 platform wheel, installed alone in a fresh venv, serves a
syft-event app whose datasite has no sidecar: the app starts the sidecar the
wheel carries (not on PATH: the venv is not activated), and the real
syft-rpc, as the sender, gets its answer. make test-wheel builds the wheel
and points SYFT_SIDECAR_WHEEL at it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from syft_core import Client
from syft_rpc import rpc
from syft_sidecar.testing import accepts, wait_for

OWNER = "bob@example.com"
SENDER = "alice@example.com"

APP = """
from syft_sidecar import SyftEvents

box = SyftEvents("wheelapp")

@box.on_request("/hello")
def hello(name: str) -> str:
    return f"Hello, {name}!"

box.run_forever()
"""


def config(data_dir: Path, email: str) -> Path:
    p = data_dir / f"{email}.json"
    p.write_text(
        json.dumps(
            {
                "email": email,
                "data_dir": str(data_dir),
                "server_url": "http://127.0.0.1:9",
            }
        )
    )
    return p


def test_wheel_alone_answers_a_syftrpc_call():
    wheel = os.environ.get("SYFT_SIDECAR_WHEEL")
    if not wheel:
        pytest.fail("set SYFT_SIDECAR_WHEEL to the built wheel: make test-wheel does")
    with tempfile.TemporaryDirectory(prefix="sbwheel") as tmp:
        tmp_path = Path(tmp)
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = venv / "bin" / "python"
        subprocess.run(
            [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel],
            check=True,
        )
        installed = subprocess.run(
            [py, "-m", "pip", "list", "--format=json"], check=True, capture_output=True
        ).stdout
        names = {p["name"].lower() for p in json.loads(installed)}
        assert names - {"pip", "setuptools"} <= {
            "syft-sidecar", "grpcio", "protobuf", "typing-extensions", "typing_extensions",
        }, names  # fmt: skip

        data_dir = tmp_path / "d"
        data_dir.mkdir()
        (tmp_path / "app.py").write_text(APP)
        env = {
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",  # no sidecar here; only the venv's
            "SYFTBOX_CLIENT_CONFIG_PATH": str(config(data_dir, OWNER)),
        }
        log = tmp_path / "app.log"
        with open(log, "wb") as out:
            app = subprocess.Popen(
                [py, tmp_path / "app.py"], env=env, stdout=out, stderr=out
            )
        pid = None
        try:
            try:
                started = wait_for(
                    lambda: re.search(r"started (\S+) \(pid (\d+)\)", log.read_text()),
                    "the app's line saying it started a sidecar",
                    within=60,
                )
            except TimeoutError:
                pytest.fail(
                    f"the app started no sidecar; its output:\n{log.read_text()}"
                )
            exe, pid = started.group(1), int(started.group(2))
            assert exe == str(venv / "bin" / "syft-sidecar"), exe
            future = rpc.send(
                url=rpc.make_url(OWNER, "wheelapp", "hello"),
                body="wheel",
                client=Client.load(config(data_dir, SENDER)),
                cache=False,
            )
            resp = future.wait(timeout=30, poll_interval=0.01)
            assert resp.status_code == 200, resp.body
            assert resp.body == b"Hello, wheel!"
            assert log.read_text().count("started") == 1, log.read_text()
        finally:
            app.terminate()
            app.wait(15)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                sock = data_dir / ".syft-sidecar" / "sidecar.sock"
                wait_for(
                    lambda: not accepts(str(sock)), "the sidecar to stop", within=15
                )
