"""System calls, Go allocations and CPU per request: the sidecar beside the floor.

    make bench-percall
    .venv/bin/python bench/percall.py [--n 5000] [--tmp /dev/shm] [--only NAME ...]

Each contender answers N echo requests twice, each time on a fresh data dir
under --tmp (tmpfs by default: this disk's slow creates after mass deletes
are not what is counted):

  pending  the N requests are in place before the handler registers (the
           sidecar's scan at registration; the floor's scan at start)
  burst    the N requests are renamed in at once after a first one was
           answered (the sidecar's file events; the floor's inotify wake-ups)

and each of those twice: once under `strace -f -c` (system calls by name,
and those that failed), once without (CPU from /proc/PID/stat, and for the
sidecar its Go heap allocations, go_memstats_mallocs_total from its
/metrics, less what one scrape allocates). The sidecar is traced from just
before its handler registers, so its own start-up is not counted; the echo
handler and the floor are traced from their start, which adds a few hundred
calls in all (under 0.1 a request at N = 5,000).

Contenders: floor (bin/floor serve, one worker), floor-2 (two workers),
sidecar-go (bin/syft-sidecar and bin/echo, counted apart). Counts do not
depend on the machine's load; CPU does, somewhat.

Writes percall.json and percall.md to --out (default bin/bench), and the
sidecar's allocation profiles before and after each phase's requests
(allocs-MODE-0.pb.gz, allocs-MODE-1.pb.gz): where its allocations are,

    go tool pprof -sample_index=alloc_objects -top \
        -base bin/bench/allocs-burst-0.pb.gz bin/bench/allocs-burst-1.pb.gz
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # bench/run.py: the request files and the site
from syft_sidecar.testing import accepts, wait_for

CONTENDERS = ["floor", "floor-2", "sidecar-go"]
MALLOCS = re.compile(rb"^go_memstats_mallocs_total (\S+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu(pid: int) -> float:
    return bench.proc_cpu(pid)


def traced(cmd: list[str], out: Path, trace: bool) -> list[str]:
    return ["strace", "-f", "-c", "-o", str(out), *cmd] if trace else cmd


def attach(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """strace -f -c attached to every thread of pid; returns once all are."""
    p = subprocess.Popen(
        ["strace", "-f", "-c", "-o", str(out), "-p", str(pid)],
        stderr=subprocess.PIPE,
    )
    # "Process N attached" or "Process N attached with K threads": one line
    assert p.stderr is not None
    line = p.stderr.readline()
    if b"attached" not in line:
        raise bench.BenchError(f"strace -p {pid}: {line.decode().strip()}")
    return p


def tracee(pid: int) -> int:
    """The process strace pid started."""
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if not kids:
        raise bench.BenchError(f"strace {pid} runs no process")
    return int(kids[0])


class _Pid:
    """A process that is not our child, as stop() takes one."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        return None if Path(f"/proc/{self.pid}").exists() else 0

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.01)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


def summary(path: Path) -> dict[str, list[int]]:
    """strace -c's table: {syscall: [calls, errors]}."""
    out: dict[str, list[int]] = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) < 5 or not f[3].isdigit() or f[-1] == "total":
            continue
        errors = int(f[4]) if len(f) == 6 else 0
        out[f[-1]] = [int(f[3]), errors]
    return out


def serves(port: int) -> bool:
    """Whether the sidecar's metrics address answers yet."""
    try:
        mallocs(port)
    except OSError:
        return False
    return True


def mallocs(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        m = MALLOCS.search(r.read())
    if not m:
        raise bench.BenchError("no go_memstats_mallocs_total in /metrics")
    return float(m.group(1))


def allocs_profile(port: int, path: Path) -> None:
    """The sidecar's allocation profile (cumulative since its start)."""
    url = f"http://127.0.0.1:{port}/debug/pprof/allocs"
    with urllib.request.urlopen(url, timeout=30) as r:
        path.write_bytes(r.read())


def stop(p: subprocess.Popen[bytes] | _Pid | None, sig: int = signal.SIGTERM) -> None:
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class _Alive:
    """What run.answer_all checks between its waits: the processes still run."""

    def __init__(self, procs: Sequence[subprocess.Popen[bytes]]) -> None:
        self.procs = procs

    def alive(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise bench.BenchError(f"{p.args!r} exited with {p.returncode}")


def wait_answered(
    ino: bench.Responses, ids: set[str], procs: Sequence[subprocess.Popen[bytes]]
) -> None:
    """Returns once every id in ids has its response."""
    if bench.answer_all(_Alive(procs), ino, ids, 60) is None:
        raise bench.BenchError(f"{len(ids)} requests unanswered for 60 s")


def once(
    name: str,
    mode: str,
    reqs: Sequence[bench.Request],
    warm: bench.Request,
    trace: bool,
    out: Path,
) -> dict[str, Any]:
    """One contender, one mode, N requests: per-process counts. Untraced, the
    sidecar's heap profile goes to out before and after the requests."""
    site = bench.Site()
    log = open(site.top / f"{name}.log", "wb")  # noqa: SIM115
    quiet: dict[str, Any] = {"stdout": log, "stderr": subprocess.STDOUT}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    tracers: dict[str, subprocess.Popen[bytes]] = {}
    files = {k: site.top / f"{k}.strace" for k in ("server", "handler")}
    res: dict[str, Any] = {}
    # processes started by strace (pending mode), not attached to
    under_strace = {"server", "handler"} if trace and mode == "pending" else set()
    if not name.startswith("floor"):
        under_strace.discard(
            "server"
        )  # the sidecar is attached to before its handler starts
    n = len(reqs)
    site.stage(reqs)
    if mode == "pending":
        for r in reqs:
            site.rename_in(r)
    ino = bench.Responses(site.folder)
    try:
        if name.startswith("floor"):
            workers = "2" if name == "floor-2" else "1"
            cmd = [
                str(bench.BIN / "floor"),
                "serve",
                *bench.floor_dirs(site),
                "--owner",
                bench.OWNER,
                "--workers",
                workers,
            ]
            if mode == "burst":
                procs["server"] = subprocess.Popen(cmd, **quiet)
                _ready(site, warm, procs)
                if trace:
                    tracers["server"] = attach(procs["server"].pid, files["server"])
            else:
                procs["server"] = subprocess.Popen(
                    traced(cmd, files["server"], trace), **quiet
                )
            cpu0 = {"server": 0.0 if mode == "pending" else cpu(procs["server"].pid)}
            if mode == "burst":
                for r in reqs:
                    site.rename_in(r)
            wait_answered(ino, {r.id for r in reqs}, list(procs.values()))
        else:
            port = free_port()
            sidecar = [
                str(bench.BIN / "syft-sidecar"),
                "--data-dir",
                str(site.data),
                "--email",
                bench.OWNER,
                "--listen",
                f"unix://{site.sock}",
                "--metrics-listen",
                f"127.0.0.1:{port}",
                "--log-level",
                "warn",
                "--pprof",
            ]
            procs["server"] = subprocess.Popen(sidecar, **quiet)
            wait_for(lambda: accepts(site.sock), "the sidecar's socket", 30)
            wait_for(lambda: serves(port), "the sidecar's /metrics", 30)
            echo = [
                str(bench.BIN / "echo"),
                "--sidecar",
                f"unix://{site.sock}",
                "--app",
                bench.APP,
            ]
            if mode == "burst":
                procs["handler"] = subprocess.Popen(echo, **quiet)
                _ready(site, warm, procs)
                if trace:
                    tracers["server"] = attach(procs["server"].pid, files["server"])
                    tracers["handler"] = attach(procs["handler"].pid, files["handler"])
            else:
                if trace:
                    tracers["server"] = attach(procs["server"].pid, files["server"])
            m0 = mallocs(port)
            m1 = mallocs(port)
            if not trace:
                allocs_profile(port, out / f"allocs-{mode}-0.pb.gz")
            cpu0 = {"server": cpu(procs["server"].pid)}
            if mode == "pending":
                procs["handler"] = subprocess.Popen(
                    traced(echo, files["handler"], trace), **quiet
                )
                cpu0["handler"] = 0.0
            else:
                cpu0["handler"] = cpu(procs["handler"].pid)
                for r in reqs:
                    site.rename_in(r)
            wait_answered(ino, {r.id for r in reqs}, list(procs.values()))
            if not trace:
                m2 = mallocs(port)
                res["server_allocs"] = (m2 - m1 - (m1 - m0)) / n
                allocs_profile(port, out / f"allocs-{mode}-1.pb.gz")
        if not trace:
            for k, p in procs.items():
                res[f"{k}_cpu_us"] = (cpu(p.pid) - cpu0.get(k, 0.0)) / n * 1e6
    finally:
        ino.close()
        for k, t in tracers.items():
            stop(t, signal.SIGINT)
        for k in ("handler", "server"):
            proc = procs.get(k)
            if proc is not None and k in under_strace:
                # launched under strace: end the traced process, and strace
                # writes its table when it exits
                stop(_Pid(tracee(proc.pid)))
                proc.wait(30)
            else:
                stop(proc)
        log.close()
    time.sleep(0.05)
    missing = site.check(name, reqs)
    if missing:
        raise bench.BenchError(f"{name} {mode}: {missing} of {n} not answered")
    if trace:
        for k in procs:
            if files[k].exists():
                res[f"{k}_syscalls"] = {
                    s: [c / n, e / n] for s, (c, e) in summary(files[k]).items()
                }
    return res


def _ready(
    site: bench.Site, warm: bench.Request, procs: dict[str, subprocess.Popen[bytes]]
) -> None:
    site.stage([warm])
    site.rename_in(warm)
    resp = site.folder / f"{warm.id}.response"
    deadline = time.monotonic() + 60
    while not resp.exists():
        for p in procs.values():
            if p.poll() is not None:
                raise bench.BenchError(f"{p.args!r} exited with {p.returncode}")
        if time.monotonic() > deadline:
            raise bench.BenchError("no answer to a first request in 60 s")
        time.sleep(0.005)
    time.sleep(0.1)  # the first answer's own work is done before counting starts


def table(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['n']:,} requests a phase, {doc['date']}, {doc['fs']} ({doc['tmp']}); load before {doc['load_before']:.2f}",
        "",
        "| contender | mode | process | system calls / request | failed / request | by name (calls / request) | CPU us / request | Go allocs / request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, modes in doc["contenders"].items():
        for mode, r in modes.items():
            for proc in ("server", "handler"):
                sc = r.get(f"{proc}_syscalls")
                if sc is None:
                    continue
                total = sum(c for c, _ in sc.values())
                failed = sum(e for _, e in sc.values())
                top = sorted(sc.items(), key=lambda kv: -kv[1][0])
                by = ", ".join(
                    f"{s} {c:.2f}" + (f" ({e:.2f} failed)" if e >= 0.005 else "")
                    for s, (c, e) in top
                    if c >= 0.05
                )
                cpu_us = r.get(f"{proc}_cpu_us")
                allocs = r.get(f"{proc}_allocs")
                lines.append(
                    f"| {name} | {mode} | {proc} | {total:.1f} | {failed:.2f} | {by} | "
                    f"{'–' if cpu_us is None else f'{cpu_us:.0f}'} | {'–' if allocs is None else f'{allocs:.1f}'} |"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="requests a phase")
    ap.add_argument(
        "--tmp", default="/dev/shm", help="folder the data dirs are made in"
    )
    ap.add_argument("--out", default=str(bench.BIN / "bench"))
    ap.add_argument("--only", nargs="+", choices=CONTENDERS)
    ap.add_argument(
        "--modes", nargs="+", choices=["pending", "burst"], default=["pending", "burst"]
    )
    args = ap.parse_args(argv)
    if not shutil.which("strace"):
        raise SystemExit("percall: needs strace (Debian's strace package)")
    tempfile.tempdir = args.tmp
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "n": args.n,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tmp": args.tmp,
        "fs": bench.machine()["fs"],
        "load_before": os.getloadavg()[0],
        "contenders": {},
    }
    try:
        for name in args.only or CONTENDERS:
            doc["contenders"][name] = {}
            for mode in args.modes:
                bench.log(f"{name}: {args.n} {mode}")
                pool = bench.generate(args.n)
                warm = bench.generate(1)[0]
                r = once(name, mode, pool, warm, False, out)
                r.update(once(name, mode, bench.generate(args.n), warm, True, out))
                doc["contenders"][name][mode] = r
    except bench.BenchError as e:
        print(f"percall: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        bench.remove_left()
    (out / "percall.json").write_text(json.dumps(doc, indent=1))
    t = table(doc)
    (out / "percall.md").write_text(t + "\n")
    print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
