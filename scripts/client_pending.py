"""CPU per request of the handler processes, beside the floor, in one run.

    TMPDIR=/dev/shm .venv/bin/python scripts/client_pending.py [-n 20000] [--rounds 3]

N requests are put in place before each contender starts (bench/run.py's
"pending" phase, with its sites, request files and contenders), and the run
times its start to the last response; then, before anything is stopped, it
reads utime + stime of each process from /proc, and its threads' context
switches. Contenders take turns for --rounds rounds, so that load from others
on a shared machine falls on all of them alike. CPU time per request is the
steadier figure there; the rate moves with the machine's load. It imports
bench/run.py for all of that, so it measures what make bench measures.

For the clients (issue 15): the Go echo handler's CPU per request against the
floor's, and the Python client's pending rate against the floor's. Each run
is also split at its first answer: before it, the handler starts (the
sidecar reads nothing until a handler registers) while a CPU stands idle;
after it, the CPU per request and the CPUs' idle share say how much of the
rest is work and how much stalls between the processes. Needs
make bench-build (bin/syft-sidecar, bin/echo, bin/floor).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_run"] = bench  # its dataclasses look their module up
_spec.loader.exec_module(bench)

NAMES = ["floor", "sidecar-go", "sidecar-py"]
# The Python client from another source tree (--before), beside this one.
BEFORE = "sidecar-py-before"


def context_switches(pid: int) -> int:
    """Context switches of all of a process's threads so far (those that
    ended are not counted: the handlers' threads live as long as they do)."""
    n = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if "ctxt_switches:" in line:  # voluntary and nonvoluntary
                n += int(line.split()[1])
    return n


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) seconds of all CPUs so far, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]  # idle, iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(f[:8]) - idle) / hz, idle / hz


class FirstAnswer:
    """A bench.Responses that calls at_first when the first responses land
    (for bench.answer_all)."""

    def __init__(self, ino: Any, at_first: Callable[[], None]) -> None:
        self.ino, self.at_first, self.seen = ino, at_first, False

    def _note(self, got: list[str]) -> list[str]:
        if got and not self.seen:
            self.seen = True
            self.at_first()
        return got

    def read(self) -> list[str]:
        return self._note(self.ino.read())

    def scan(self) -> list[str]:
        return self._note(self.ino.scan())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ino, name)


def pending(
    name: str, n: int, floor_workers: int = 1, before: str | None = None
) -> dict[str, Any]:
    site = bench.Site()
    c = bench.Contender(BEFORE if name == BEFORE else name, site)
    if name == BEFORE:
        c.name = "sidecar-py"
    c.workers = floor_workers
    reqs = bench.generate(n)
    try:
        site.stage(reqs)
        for r in reqs:
            site.rename_in(r)
        ino = bench.Responses(site.folder)
        try:
            t0 = time.perf_counter()
            m0 = machine_cpu()
            env = os.environ.get("PYTHONPATH")
            if name == BEFORE and before:
                os.environ["PYTHONPATH"] = before  # the handler imports that tree
            try:
                c.start()
            finally:
                if env is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = env
            first: dict[str, Any] = {}

            def at_first() -> None:
                first["t"], first["m"] = time.perf_counter(), machine_cpu()
                first["cpu"] = {k: bench.proc_cpu(p) for k, p in c.procs().items()}

            end = bench.answer_all(
                c, FirstAnswer(ino, at_first), {r.id for r in reqs}, 60
            )
            m1 = machine_cpu()
        finally:
            ino.close()
        cpu = {k: bench.proc_cpu(p) for k, p in c.procs().items()}
        switches = {k: context_switches(p) for k, p in c.procs().items()}
        if end is None:
            raise bench.BenchError(f"{name}: not all answered")
        missing = site.check(name, reqs)
        if missing:
            raise bench.BenchError(f"{name}: {missing} of {n} not answered")
        busy, idle = m1[0] - m0[0], m1[1] - m0[1]
        mf = first["m"]
        rest_busy, rest_idle = m1[0] - mf[0], m1[1] - mf[1]
        return {
            "rate": n / (end - t0),
            "us": {k: v / n * 1e6 for k, v in cpu.items()},
            "switches": {k: v / n for k, v in switches.items()},
            # The machine's CPUs over the run (this driver and others' work
            # included): how much of them stood idle.
            "idle": idle / (busy + idle) if busy + idle else 0.0,
            # Until the first answer (the handler's start: the sidecar reads
            # nothing before it registers) and after it.
            "start": first["t"] - t0,
            "start_idle": mf[1] - m0[1],
            "rest_idle": rest_idle / (rest_busy + rest_idle)
            if rest_busy + rest_idle
            else 0.0,
            "rest_us": {
                k: (v - first["cpu"].get(k, 0.0)) / n * 1e6 for k, v in cpu.items()
            },
        }
    finally:
        c.stop()
        bench.remove_left()


def split(r: dict[str, Any]) -> str:
    """The run as start (until the first answer) and rest."""
    us = ", ".join(f"{k} {v:.1f} us" for k, v in r["rest_us"].items())
    return (
        f"first answer at {r['start']:.3f} s (CPUs idle {r['start_idle']:.2f} CPU-s by then);"
        f" after it, CPU per request {us}, CPUs idle {r['rest_idle']:.0%}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20000, help="pending requests")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=[*NAMES, BEFORE], default=NAMES)
    ap.add_argument(
        "--before",
        metavar="SRC",
        help="also run the Python client imported from SRC (a checkout's "
        "clients/python/src), as sidecar-py-before, in the same rounds",
    )
    ap.add_argument(
        "--floor-workers",
        type=int,
        default=1,
        help="the floor's workers (issue 15 allows two: the floor at its best)",
    )
    args = ap.parse_args()
    if args.before and BEFORE not in args.only:
        args.only.append(BEFORE)
    bench.compiled(ROOT / "clients" / "python" / "src")
    if args.before:
        bench.compiled(Path(args.before))
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in args.only}
    for i in range(args.rounds):
        for name in args.only:
            r = pending(name, args.n, args.floor_workers, args.before)
            runs[name].append(r)
            us = ", ".join(
                f"{k} {v:.1f} us, {r['switches'][k]:.2f} switches"
                for k, v in r["us"].items()
            )
            print(
                f"round {i + 1} {name}: {r['rate']:,.0f} req/s; CPU per request {us};"
                f" CPUs idle {r['idle']:.0%}; {split(r)}",
                flush=True,
            )
    print(f"\nmedians over {args.rounds} rounds, {args.n:,} pending:")
    med = {
        name: {
            "rate": statistics.median(r["rate"] for r in rs),
            "idle": statistics.median(r["idle"] for r in rs),
            "start": statistics.median(r["start"] for r in rs),
            "start_idle": statistics.median(r["start_idle"] for r in rs),
            "rest_idle": statistics.median(r["rest_idle"] for r in rs),
            "rest_us": {
                k: statistics.median(r["rest_us"][k] for r in rs) for k in rs[0]["us"]
            },
            "us": {k: statistics.median(r["us"][k] for r in rs) for k in rs[0]["us"]},
            "switches": {
                k: statistics.median(r["switches"][k] for r in rs) for k in rs[0]["us"]
            },
        }
        for name, rs in runs.items()
    }
    floor = med.get("floor")
    for name, m in med.items():
        share = f" ({m['rate'] / floor['rate']:.0%} of the floor)" if floor else ""
        us = ", ".join(
            f"{k} {v:.1f} us, {m['switches'][k]:.2f} switches"
            for k, v in m["us"].items()
        )
        ratio = ""
        if floor and "handler" in m["us"]:
            ratio = f"; handler {m['us']['handler'] / floor['us']['server']:.2f}x the floor's CPU"
        print(
            f"  {name}: {m['rate']:,.0f} req/s{share}; {us}{ratio}; CPUs idle {m['idle']:.0%}"
            f"\n    {split(m)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
