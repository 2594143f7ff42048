"""File events, from creating a file to the Python callback, side by side in one run.

    .venv/bin/python clients/python/bench/events.py [N]    (after `make build`)

Contenders, one after the other on the same disk, each on a data dir of its
own: the Go client's ``Watch`` through the sidecar (clients/go/examples/listen
--watch, timed when its line is read), syft_sidecar's ``watch()`` through the
sidecar, and syft-event 0.4.3's ``watch()`` (watchdog in the app's process).
Latency: one file at a time, creation to callback, 300 samples. Burst: N files created at once, time
until every callback ran. A measurement, not a test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from syft_sidecar.testing import accepts, wait_for

ROOT = Path(__file__).resolve().parents[3]
OWNER = "bob@example.com"


def _wait(cond: Callable[[], object], what: str, within: float = 30.0) -> None:
    # Every 0.5 ms, as before, not wait_for's 5: the latency loop waits on each file in turn.
    wait_for(cond, what, within, interval=0.0005)


def _client(data_dir: Path) -> Any:
    from syft_core import Client

    cfg = data_dir / "config.json"
    cfg.write_text(json.dumps({"email": OWNER, "data_dir": str(data_dir)}))
    return Client.load(cfg)


class Seen:
    """Callback times by file name."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: Dict[str, float] = {}

    def add(self, path: str) -> None:
        with self.lock:
            self.at.setdefault(os.path.basename(path), time.perf_counter())

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for k in self.at if k.startswith(prefix))


def measure(folder: Path, seen: Seen, n: int) -> Tuple[float, float, float]:
    lat: List[float] = []
    for i in range(300):
        name = f"lat-{i}.txt"
        t0 = time.perf_counter()
        (folder / name).write_bytes(b"")
        _wait(lambda name=name: name in seen.at, name)
        lat.append(seen.at[name] - t0)
    lat.sort()
    t0 = time.perf_counter()
    for i in range(n):
        (folder / f"burst-{i}.txt").write_bytes(b"")
    _wait(lambda: seen.count("burst-") >= n, "burst", within=120)
    rate = n / (time.perf_counter() - t0)
    return rate, lat[len(lat) // 2] * 1000, lat[len(lat) * 99 // 100] * 1000


def _start_sidecar(data: Path) -> Tuple[subprocess.Popen, str]:
    sock = str(data / "s.sock")
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "syft-sidecar"), "--data-dir", str(data), "--email", OWNER,
         "--listen", f"unix://{sock}", "--metrics-listen", "", "--log-level", "warn"],
    )  # fmt: skip
    _wait(lambda: accepts(sock), "sidecar")
    return proc, sock


def go_contender(top: Path, n: int) -> Tuple[float, float, float]:
    data = top / "go"
    folder = data / "datasites" / OWNER / "events"
    folder.mkdir(parents=True)
    proc, sock = _start_sidecar(data)
    go = subprocess.Popen(
        [str(ROOT / "bin" / "listen"), "--sidecar", f"unix://{sock}",
         "--watch", "{datasite}/events/*"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seen = Seen()

    def read() -> None:
        for line in go.stdout:  # type: ignore[union-attr]
            kind, _, path = line.decode().rstrip("\n").partition("\t")
            if kind == "created":
                seen.add(path)

    threading.Thread(target=read, daemon=True).start()
    probes = iter(range(1_000_000))

    def probe() -> bool:
        # A new name each time: the Go process may not have subscribed yet.
        (folder / f"probe-{next(probes)}.txt").write_bytes(b"")
        return seen.count("probe-") > 0

    try:
        _wait(probe, "watch in place")
        return measure(folder, seen, n)
    finally:
        go.terminate()
        go.wait()
        proc.terminate()
        proc.wait()


def sidecar_contender(top: Path, n: int) -> Tuple[float, float, float]:
    from syft_sidecar import SyftEvents

    data = top / "sidecar"
    folder = data / "datasites" / OWNER / "events"
    folder.mkdir(parents=True)
    proc, sock = _start_sidecar(data)
    try:
        seen = Seen()
        box = SyftEvents("bench", client=_client(data), sidecar=f"unix://{sock}")
        box.watch("{datasite}/events/*", event_filter=["created"])(lambda e: seen.add(e.src_path))
        box.start()
        probe = folder / "probe.txt"
        probe.write_bytes(b"")
        _wait(lambda: "probe.txt" in seen.at, "watch in place")
        try:
            return measure(folder, seen, n)
        finally:
            box.stop()
    finally:
        proc.terminate()
        proc.wait()


def syft_event_contender(top: Path, n: int) -> Tuple[float, float, float]:
    from syft_event import SyftEvents
    from watchdog.events import FileCreatedEvent

    data = top / "syft-event"
    folder = data / "datasites" / OWNER / "events"
    folder.mkdir(parents=True)
    seen = Seen()
    box = SyftEvents("bench", client=_client(data))
    box.watch("{datasite}/events/*", event_filter=[FileCreatedEvent])(
        lambda e: seen.add(e.src_path)
    )
    box.start()
    try:
        probe = folder / "probe.txt"
        probe.write_bytes(b"")
        _wait(lambda: "probe.txt" in seen.at, "watch in place")
        return measure(folder, seen, n)
    finally:
        box.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    top = Path(tempfile.mkdtemp(prefix="evb"))
    try:
        print(
            f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
            f"{n} files in the burst"
        )
        results = {
            "Go Watch (sidecar)": go_contender(top, n),
            "syft_sidecar watch()": sidecar_contender(top, n),
            "syft-event watch()": syft_event_contender(top, n),
        }
        base = results["syft-event watch()"][0]
        for name, (rate, p50, p99) in results.items():
            print(
                f"{name:22} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms  "
                f"burst {rate:8.0f} events/s ({rate / base:.1f}x syft-event)"
            )
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
