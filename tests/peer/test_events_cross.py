"""Custom events between languages: a Python app and a Go process (the
listen example) exchange them through the real sidecar."""

from __future__ import annotations

import queue
import subprocess
import threading
import time

from conftest import _bin, _wait


def _lines(proc: subprocess.Popen) -> queue.Queue[str]:
    q: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            q.put(line.decode().rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return q


def _expect(q: queue.Queue[str], want: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    seen = []
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=0.1)
        except queue.Empty:
            continue
        if line == want:
            return
        seen.append(line)
    raise AssertionError(f"no line {want!r}; saw {seen}")


def _app(datasite):
    from syft_sidecar import SyftEvents

    box = SyftEvents(
        "cross",
        client=datasite.client("bob@example.com"),
        sidecar=f"unix://{datasite.sock}",
    )
    box.on_request("/noop")(lambda: "ok")
    return box


def test_custom_events_python_to_go_and_back(datasite):
    datasite.start_sidecar()
    # Go listens first; its first line is proof it is subscribed: it
    # publishes a ready event to itself once connected.
    go = subprocess.Popen(
        [_bin("SYFT_LISTEN_BIN", "listen"), "--sidecar", f"unix://{datasite.sock}", "--publish", "go-ready=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    datasite.procs.append(go)
    lines = _lines(go)
    _expect(lines, "go-ready\t1")

    box = _app(datasite)
    got: queue.Queue[tuple] = queue.Queue()
    box.add_event_listener(lambda name, data: got.put((name, data)))
    box.start()
    try:
        # Python -> Go.
        _wait(
            lambda: _try_publish(box, "from-python", "hello go"),
            "a connected Python app",
        )
        _expect(lines, "from-python\thello go")
        # Go -> Python: a second Go process publishes; the Python listener gets it.
        pub = subprocess.Popen(
            [_bin("SYFT_LISTEN_BIN", "listen"), "--sidecar", f"unix://{datasite.sock}",
             "--names", "none", "--publish", "from-go=hello python"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        datasite.procs.append(pub)
        deadline = time.monotonic() + 15
        while True:
            name, data = got.get(timeout=max(0.1, deadline - time.monotonic()))
            if name == "from-go":
                assert data == "hello python"
                break
    finally:
        box.stop()


def _try_publish(box, name: str, data: str) -> bool:
    try:
        box.publish(name, data)
        return True
    except ConnectionError:
        return False
