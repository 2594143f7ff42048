"""Latency and burst throughput of echo handlers, side by side in one run.

    python clients/python/bench/burst.py [N]    (after `make build`)

Serves the same request files with: syft_sidecar (this package) through the
sidecar, the Go echo example through the sidecar, and syft-event 0.4.3 on its
own. Requests are written to {data_dir}/.syft-tmp and renamed into place, as
the SyftBox client does. Latency: one request at a time, rename to response
on disk (polled every 50 us). Burst: N renamed at once, time until all answered.
Each handler runs in its own process. A measurement, not a test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, List, Tuple

ROOT = Path(__file__).resolve().parents[3]
OWNER, SENDER, APP = "bob@example.com", "alice@example.com", "bench"

PY_ECHO = """
import sys
from syft_core import Client
from {mod} import SyftEvents, Request
kw = {{"sidecar": sys.argv[2]}} if "{mod}" == "syft_sidecar" else {{}}
box = SyftEvents("bench", client=Client.load(sys.argv[1]), **kw)
@box.on_request("/echo")
def echo(req: Request) -> bytes:
    return req.body or b""
box.run_forever()
"""


def wait(cond: Callable[[], object], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("bench: timed out")
        time.sleep(0.002)


def accepts(sock: str) -> bool:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sock)
        return True
    except OSError:
        return False
    finally:
        s.close()


def request_file(tmp: Path) -> Tuple[str, Path]:
    rid = str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    d = {
        "id": rid,
        "sender": SENDER,
        "url": f"syft://{OWNER}/app_data/{APP}/rpc/echo",
        "body": "aGk=",
        "headers": {},
        "created": now.isoformat(),
        "expires": (now + timedelta(hours=1)).isoformat(),
        "method": "POST",
    }
    p = tmp / f"{rid}.request"
    p.write_text(json.dumps(d, separators=(",", ":")))
    return rid, p


def run(name: str, n: int) -> str:
    top = Path(tempfile.mkdtemp(prefix="sbbench"))
    data = top / "d"
    cfg = top / "bob.json"
    cfg.write_text(json.dumps({"email": OWNER, "data_dir": str(data)}))
    rpc = data / "datasites" / OWNER / "app_data" / APP / "rpc"
    folder = rpc / "echo" / SENDER
    folder.mkdir(parents=True)
    (folder / ".hold").touch()  # the sidecar's cleanup leaves it alone
    tmp = data / ".syft-tmp"
    tmp.mkdir()
    sock = str(data / "s.sock")
    procs: List[subprocess.Popen[bytes]] = []
    try:
        if name != "syft-event":
            sidecar = [str(ROOT / "bin" / "syft-sidecar"), "--data-dir", str(data)]
            sidecar += ["--email", OWNER, "--listen", f"unix://{sock}"]
            sidecar += ["--metrics-listen", "", "--log-level", "warn"]
            procs.append(subprocess.Popen(sidecar))
            wait(lambda: accepts(sock))
        if name == "go":
            cmd = [str(ROOT / "bin" / "echo"), "--sidecar", f"unix://{sock}", "--app", APP]
        else:
            mod = "syft_event" if name == "syft-event" else "syft_sidecar"
            script = top / "app.py"
            script.write_text(textwrap.dedent(PY_ECHO.format(mod=mod)))
            cmd = [sys.executable, str(script), str(cfg), f"unix://{sock}"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # Ready when one request is answered.
        rid, p = request_file(tmp)
        os.rename(p, folder / p.name)
        wait(lambda: (folder / f"{rid}.response").exists())

        lat = []
        for _ in range(300):
            rid, p = request_file(tmp)
            resp = folder / f"{rid}.response"
            t0 = time.perf_counter()
            os.rename(p, folder / p.name)
            while not resp.exists():
                time.sleep(0.00005)  # yield the CPU: the machine may have two
            lat.append(time.perf_counter() - t0)
        lat.sort()

        items = [request_file(tmp) for _ in range(n)]
        t0 = time.perf_counter()
        for _, p in items:
            os.rename(p, folder / p.name)
        pending = [folder / f"{rid}.response" for rid, _ in items]
        while pending:
            pending = [r for r in pending if not r.exists()]
            time.sleep(0.002)
        dt = time.perf_counter() - t0
        return (
            f"{name:13} p50 {lat[len(lat) // 2] * 1e3:6.3f} ms  "
            f"p99 {lat[int(len(lat) * 0.99)] * 1e3:6.3f} ms  "
            f"burst {n}: {dt:6.2f} s  {n / dt:7.0f} req/s"
        )
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(20)
        shutil.rmtree(top, ignore_errors=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    names = sys.argv[2:] or ["syft_sidecar", "go", "syft-event"]
    for name in names:
        print(run(name, n), flush=True)


if __name__ == "__main__":
    main()
