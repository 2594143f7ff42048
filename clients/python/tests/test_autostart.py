"""An app whose datasite has no sidecar starts one by itself: once per
datasite, detached so that it outlives the app and serves its other apps,
saying so in one line; with no binary to start, it says how to get one at
once rather than after connect_timeout."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import OWNER, _sidecar_bin

from syft_sidecar import SyftEvents
from syft_sidecar._spawn import ENV_SIDECAR_BIN, accepts
from syft_sidecar.testing import wait_for


def answer(text: str):
    def who() -> str:
        return text

    return who


@pytest.fixture
def no_sidecar_env(monkeypatch):
    monkeypatch.delenv("SYFT_SIDECAR_ADDR", raising=False)
    monkeypatch.delenv(ENV_SIDECAR_BIN, raising=False)
    # No syft-sidecar on PATH; the test venv's scripts folder has none either.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")


def test_starts_one_sidecar_for_the_datasite(datasite, no_sidecar_env, monkeypatch, caplog):
    monkeypatch.setenv(ENV_SIDECAR_BIN, _sidecar_bin())
    caplog.set_level(logging.WARNING, logger="syft_sidecar")
    sock = datasite.data_dir / ".syft-sidecar" / "sidecar.sock"
    boxes = [SyftEvents(f"auto{i}", client=datasite.owner, connect_timeout=20) for i in range(2)]
    for i, box in enumerate(boxes):
        box.on_request("/who")(answer(f"app {i}"))
    # Both apps start at once; the start lock lets one of them start it.
    errors: list[BaseException] = []

    def start(box: SyftEvents) -> None:
        try:
            box.start()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(b,)) for b in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    started = [r for r in caplog.records if "started" in r.getMessage()]
    assert len(started) == 1, [r.getMessage() for r in started]
    pid = started[0].args[2]
    try:
        assert str(datasite.data_dir / ".syft-sidecar" / "sidecar.log") in started[0].getMessage()
        for i in range(2):
            assert datasite.call(f"auto{i}", "/who").body == f"app {i}".encode()
        for box in boxes:
            box.stop()
        # It outlives the apps, for the next one.
        assert accepts(str(sock))
        again = SyftEvents("auto2", client=datasite.owner, connect_timeout=20)
        again.on_request("/who")(lambda: "app 2")
        with again:
            assert datasite.call("auto2", "/who").body == b"app 2"
        assert len([r for r in caplog.records if "started" in r.getMessage()]) == 1
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not accepts(str(sock)), "the started sidecar to stop", within=15)


def test_no_binary_says_how_to_get_one_at_once(datasite, no_sidecar_env):
    box = SyftEvents("nobin", client=datasite.owner, connect_timeout=30)
    box.on_request("/x")(lambda: "x")
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="pip install syft-sidecar"):
        box.start()
    assert time.monotonic() - t0 < 5, "waited for connect_timeout before saying so"
    box.stop()


def test_spawn_false_does_not_start_one(datasite, no_sidecar_env, monkeypatch):
    monkeypatch.setenv(ENV_SIDECAR_BIN, _sidecar_bin())
    box = SyftEvents("nostart", client=datasite.owner, spawn_sidecar=False, connect_timeout=0.5)
    box.on_request("/x")(lambda: "x")
    with pytest.raises(ConnectionError, match="leave spawn_sidecar unset") as e:
        box.start()
    assert "pass spawn_sidecar" not in str(e.value)
    box.stop()
    assert not (datasite.data_dir / ".syft-sidecar" / "sidecar.log").exists()


APP = """
from syft_sidecar import SyftEvents

box = SyftEvents("outlive")
box.on_request("/who")(lambda: "outlive")
box.run_forever()
"""


def descendants(pid: int) -> list[int]:
    """Every process descended from pid, found as the SyftBox client finds
    an app's, by parent pid."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def test_sidecar_outlives_an_app_stopped_as_syftbox_stops_it(
    datasite, no_sidecar_env, monkeypatch, tmp_path
):
    """The SyftBox client stops an app by signalling it and every process
    descended from it; the sidecar the app started serves the datasite's
    other apps, so it must not be one of them."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    log = tmp_path / "app.log"
    env = dict(
        os.environ,
        SYFT_SIDECAR_BIN=_sidecar_bin(),
        SYFTBOX_CLIENT_CONFIG_PATH=str(datasite.data_dir / f"{OWNER}.config.json"),
    )
    sock = datasite.data_dir / ".syft-sidecar" / "sidecar.sock"
    with open(log, "wb") as out:
        app = subprocess.Popen([sys.executable, str(script)], env=env, stdout=out, stderr=out)
    pid = None
    try:
        started = wait_for(
            lambda: re.search(r"started \S+ \(pid (\d+)\)", log.read_text()),
            "the app's line saying it started a sidecar",
            within=30,
        )
        pid = int(started.group(1))
        assert datasite.call("outlive", "/who").body == b"outlive"
        assert pid not in descendants(app.pid)
        for p in [app.pid, *descendants(app.pid)]:
            os.kill(p, signal.SIGTERM)
        app.wait(15)
        assert accepts(str(sock)), "the sidecar stopped with the app"
        other = SyftEvents("other", client=datasite.owner, connect_timeout=20)
        other.on_request("/who")(answer("other"))
        with other:
            assert datasite.call("other", "/who").body == b"other"
    finally:
        if app.poll() is None:
            app.kill()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not accepts(str(sock)), "the started sidecar to stop", within=15)
