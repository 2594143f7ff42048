"""The sidecar against syft-event and the filesystem floor, in one run, on
tmpfs and on the disk.

    make bench          (a burst of 10,000, 20,000 pending; about 1.5 minutes
                         on tmpfs and 2 on the disk, plus up to 11 waiting
                         for the disk after an earlier run's deletes)
    make bench-large    (adds a burst of 100,000, makes the pending 100,000)
    make bench-quick    (a burst of 2,000, 5,000 pending; about a minute)
    .venv/bin/python bench/run.py [--quick|--large] [--roots DIR ...]
        [--no-settle] [--out DIR] [--only NAME ...]

Every contender runs in each of --roots (default /dev/shm, then the temp
folder: tmpfs, then this disk), one after the other, each figure's ratio to
the floor taken within the same filesystem and run. Contenders, each in
processes of its own, over the same generated request files (written to
{data_dir}/.syft-tmp and renamed into place, as the SyftBox client delivers
them):

  floor       bin/floor (bench/floorfs): the file operations the sidecar must
              make for each request and nothing else: the bounded read
              beneath the rpc folder (openat2), the no-replace write
              (O_TMPFILE, linkat) and the one-byte rewrite that gives the
              SyftBox client its write event. Its own loop, timed the way
              this driver times the others, with one worker and with two
              (the best is the figure); and, for latency, woken by inotify
              (floor serve), and for the pending requests, floor serve with
              one and two workers
  sidecar-go  bin/syft-sidecar with the Go echo handler (bin/echo)
  sidecar-py  bin/syft-sidecar with the Python client (syft_sidecar) echoing
  syft-event  syft-event 0.4.3 serving the same app on its own

The driver renames requests in and sees responses land through inotify: a
response counts when its name appears in the folder (the sidecar and the
floor link a complete unnamed file in; syft-event writes in place, so it is
counted at open, a few microseconds before its content is complete, in its
favour). Latency one at a time polls inotify every 50 us, as a client
polling for its response would; a burst is timed from the first rename to
the last response; steady load starts requests at half the contender's own
burst rate; CPU per request is each process's user and system time, from its
start to the last of the pending requests answered, over their number. Every
response is read back and checked (id, sender, status 200, body echoed): a
wrong or missing answer from the floor or the sidecar fails the run;
syft-event's misses are reported as such.

Nothing is deleted until the run is over: on ext4 without a journal the
inode allocator skips, at a cost per inode, every inode freed in the last 60 s
(300 s once its inode table block is dirty again), so files created after a
mass delete cost up to 1 ms each, and a contender run after another's data
dir was removed would pay for it. Before each phase the driver times 200
small file creates under the same temp root and reports their median; on a
disk (not tmpfs, not --quick) the run first waits until 330 s have passed
since the last run's clean-up, then up to 330 s for the slowest of three
such probes to fall under 60 us (--no-settle skips both), which a previous
run's clean-up may have pushed up.

Writes results.md (a table for each filesystem), results-FS.json and
bench-FS.png to --out (default bin/bench). A measurement, not a test: make
test does not run it. bench/percall.py counts system calls and allocations
per request.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import ctypes
import json
import os
import platform
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from syft_sidecar.testing import accepts, wait_for

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "bin"
OWNER, SENDER, APP = "bob@example.com", "alice@example.com", "bench"
CONTENDERS = ["floor", "sidecar-go", "sidecar-py", "syft-event"]
FLOOR, SYFT_EVENT = "floor", "syft-event"

# The echo app, for syft-event and for this repo's Python client, which
# offers syft-event's API over the sidecar.
PY_ECHO = """
import sys
from syft_core import Client
from {mod} import SyftEvents, Request
kw = {{"sidecar": sys.argv[2]}} if "{mod}" == "syft_sidecar" else {{}}
box = SyftEvents("{app}", client=Client.load(sys.argv[1]), **kw)
@box.on_request("/echo")
def echo(req: Request) -> bytes:
    return req.body or b""
box.run_forever()
"""


# Probe: a create slower than this median means recently deleted inodes in
# the way; the kernel forgets a deletion after at most 300 s. A settled disk
# here creates in 23-35 us; at 80-100 us the latency of the first phases was
# still off (the floor's p50 0.53 ms instead of 0.11).
CREATE_SLOW_US = 60.0
SETTLE_MAX_S, SETTLE_EVERY_S = 330.0, 15.0
# When the last run's clean-up ended: its freed inodes slow creates in the
# inode groups a later run reaches only deep into a burst of 100,000, which a
# probe at the start does not see.
DELETED_AT = Path(tempfile.gettempdir()) / "syftbench-deleted-at"

# Every folder the run creates, removed only at its end (see the docstring).
LEFT: list[Path] = []


class BenchError(Exception):
    """A contender answered wrongly or not at all."""


# --- inotify, through libc ------------------------------------------------

IN_MOVED_TO, IN_CREATE, IN_Q_OVERFLOW = 0x80, 0x100, 0x4000
_libc = ctypes.CDLL(None, use_errno=True)
_EVENT = struct.Struct("iIII")
_RESPONSE = b".response"


class Responses:
    """The ids of responses landing in one folder, seen through inotify."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if (
            _libc.inotify_add_watch(
                self.fd, os.fsencode(folder), IN_CREATE | IN_MOVED_TO
            )
            < 0
        ):
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, f"inotify_add_watch {folder}")
        self.overflowed = False

    def read(self) -> list[str]:
        """Ids seen since the last read; does not block."""
        out: list[str] = []
        while True:
            try:
                buf = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                return out
            off = 0
            while off < len(buf):
                _, mask, _, n = _EVENT.unpack_from(buf, off)
                name = buf[off + 16 : off + 16 + n].rstrip(b"\0")
                off += 16 + n
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True
                elif name.endswith(_RESPONSE) and not name.startswith(b"."):
                    out.append(name[: -len(_RESPONSE)].decode())

    def scan(self) -> list[str]:
        """Ids of all responses in the folder (after an overflow)."""
        self.overflowed = False
        return [
            e.name[: -len(".response")]
            for e in os.scandir(self.folder)
            if e.name.endswith(".response")
        ]

    def wait(self, timeout: float) -> None:
        select.select([self.fd], [], [], timeout)

    def close(self) -> None:
        os.close(self.fd)


# --- requests and data dirs -------------------------------------------------


@dataclass
class Request:
    id: str
    body: bytes
    data: bytes  # the .request file


def generate(n: int) -> list[Request]:
    """n echo requests, as syft-rpc writes them; the same for every contender."""
    now = datetime.now(UTC)
    expires = (now + timedelta(days=1)).isoformat()
    out = []
    for i in range(n):
        rid = str(uuid.uuid4())
        body = b'{"n":%d}' % i
        d = {
            "id": rid,
            "sender": SENDER,
            "url": f"syft://{OWNER}/app_data/{APP}/rpc/echo",
            "body": base64.b64encode(body).decode(),
            "headers": {},
            "created": now.isoformat(),
            "expires": expires,
            "method": "POST",
        }
        out.append(Request(rid, body, json.dumps(d, separators=(",", ":")).encode()))
    return out


class Site:
    """A throw-away data dir with the echo app's request folder."""

    def __init__(self) -> None:
        self.top = Path(tempfile.mkdtemp(prefix="syftbench"))
        LEFT.append(self.top)
        self.data = self.top / "d"
        self.config = self.top / "bob.json"
        self.config.write_text(json.dumps({"email": OWNER, "data_dir": str(self.data)}))
        self.folder = (
            self.data / "datasites" / OWNER / "app_data" / APP / "rpc" / "echo" / SENDER
        )
        self.folder.mkdir(parents=True)
        (self.folder / ".hold").touch()  # the sidecar's cleanup leaves it alone
        self.tmp = self.data / ".syft-tmp"
        self.tmp.mkdir()
        self.sock = str(self.top / "s.sock")

    def stage(self, reqs: Sequence[Request]) -> None:
        tmp = str(self.tmp)
        for r in reqs:
            fd = os.open(
                f"{tmp}/{r.id}.request", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
            )
            try:
                os.write(fd, r.data)
            finally:
                os.close(fd)

    def rename_in(self, r: Request) -> None:
        os.rename(self.tmp / f"{r.id}.request", self.folder / f"{r.id}.request")

    def check(self, name: str, reqs: Sequence[Request]) -> int:
        """Reads back every response; returns how many are missing, raises on a wrong one."""
        missing = 0
        for r in reqs:
            try:
                data = (self.folder / f"{r.id}.response").read_bytes()
            except FileNotFoundError:
                missing += 1
                continue
            try:
                d = json.loads(data)
                body = base64.b64decode(d["body"]) if d.get("body") is not None else b""
                ok = (
                    d["id"] == r.id
                    and d["sender"] == OWNER
                    and int(d.get("status_code", 200)) == 200
                )
                ok = ok and body == r.body
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                raise BenchError(f"{name}: wrong response to {r.id}: {data[:300]!r}")
        return missing

    def close(self) -> None:
        """Nothing to do: the folder goes with the others at the end of the run,
        so that its deleted inodes do not slow the next contender's creates."""


def create_probe(n: int = 200) -> float:
    """Median microseconds to create, write and close one small file in a
    fresh folder under the temp root the sites use; the files stay until the
    end of the run."""
    d = Path(tempfile.mkdtemp(prefix="syftbench-probe"))
    LEFT.append(d)
    data = b"x" * 270  # about a request file
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fd = os.open(f"{d}/{i}.request", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def slowest_probe() -> float:
    """The slowest of three probes: each fresh folder may land in another
    inode group, and one probe's creates can make the next ones slow (they
    dirty the inode table block), so one fast probe proves little."""
    return round(max(create_probe() for _ in range(3)), 1)


def settle(first: float) -> dict[str, Any]:
    """Waits out the last run's clean-up, then re-probes until creates are
    fast again or SETTLE_MAX_S has passed."""
    try:
        since = time.time() - float(DELETED_AT.read_text())
    except (OSError, ValueError):
        since = SETTLE_MAX_S
    if since < SETTLE_MAX_S:
        log(
            f"the last run removed its files {since:.0f} s ago, and the kernel skips "
            f"freed inodes for up to 300 s: waiting {SETTLE_MAX_S - since:.0f} s"
        )
        time.sleep(SETTLE_MAX_S - since)
        first = slowest_probe()
    probes = [first]
    t0 = time.monotonic()
    us = first
    if us > CREATE_SLOW_US:
        log(
            f"file creates take {us:.0f} us (recently deleted inodes, ext4 without a "
            f"journal): waiting up to {SETTLE_MAX_S:.0f} s"
        )
    while (
        us > CREATE_SLOW_US and time.monotonic() - t0 + SETTLE_EVERY_S <= SETTLE_MAX_S
    ):
        time.sleep(SETTLE_EVERY_S)
        us = slowest_probe()
        probes.append(us)
        log(f"file creates take {us:.0f} us after {time.monotonic() - t0:.0f} s")
    waited = time.monotonic() - t0
    if probes[0] > CREATE_SLOW_US:
        log(
            f"file creates settled at {us:.0f} us after {waited:.0f} s"
            if us <= CREATE_SLOW_US
            else f"file creates still {us:.0f} us after {waited:.0f} s: going on"
        )
    return {
        "threshold_us": CREATE_SLOW_US,
        "probes_us": probes,
        "waited_s": round(waited, 1),
        "settled": us <= CREATE_SLOW_US,
    }


def remove_left() -> None:
    """Removes every folder the run created (at its end: see the docstring)."""
    if not LEFT:
        return
    files = sum(len(f) for top in LEFT for _, _, f in os.walk(top))
    log(f"removing {len(LEFT)} folders, {files:,} files left by the run")
    t0 = time.monotonic()
    # Only deletes on a disk slow later creates: tmpfs has no inode allocator.
    on_disk = any(not top.is_relative_to("/dev/shm") for top in LEFT)
    while LEFT:
        shutil.rmtree(LEFT.pop(), ignore_errors=True)
    if on_disk:
        DELETED_AT.write_text(f"{time.time()}\n")
    log(f"removed in {time.monotonic() - t0:.0f} s")


def floor_dirs(site: Site) -> list[str]:
    """bin/floor's folders: the app's rpc folder, which paths are resolved
    beneath as the sidecar resolves them, and the request folder."""
    return ["--root", str(site.folder.parent.parent), "--dir", str(site.folder)]


# --- contenders -----------------------------------------------------------------


class Contender:
    """One contender's processes on one site: server (floor, sidecar or
    syft-event) and, for the sidecar, the handler."""

    def __init__(self, name: str, site: Site) -> None:
        self.name, self.site = name, site
        self.workers = 1  # the floor's
        self.server: subprocess.Popen[bytes] | None = None
        self.handler: subprocess.Popen[bytes] | None = None
        self.log = open(site.top / f"{name}.log", "wb")  # noqa: SIM115 (closed by stop)

    def start(self) -> None:
        s = self.site
        quiet: dict[str, Any] = {"stdout": self.log, "stderr": subprocess.STDOUT}
        if self.name == FLOOR:
            self.server = subprocess.Popen(
                [
                    str(BIN / "floor"),
                    "serve",
                    *floor_dirs(s),
                    "--owner",
                    OWNER,
                    "--workers",
                    str(self.workers),
                ],
                **quiet,
            )
            return
        if self.name == SYFT_EVENT:
            self.server = subprocess.Popen(self._py_app("syft_event"), **quiet)
            return
        sidecar = [
            str(BIN / "syft-sidecar"),
            "--data-dir",
            str(s.data),
            "--email",
            OWNER,
        ]
        sidecar += [
            "--listen",
            f"unix://{s.sock}",
            "--metrics-listen",
            "",
            "--log-level",
            "warn",
        ]
        self.server = subprocess.Popen(sidecar, **quiet)
        try:
            wait_for(
                lambda: accepts(s.sock) or self.server.poll() is not None,
                "the sidecar's socket",
                30,
            )
        except TimeoutError as e:
            raise BenchError(str(e)) from None
        if self.name == "sidecar-go":
            cmd = [str(BIN / "echo"), "--sidecar", f"unix://{s.sock}", "--app", APP]
        else:
            cmd = self._py_app("syft_sidecar")
        self.handler = subprocess.Popen(cmd, **quiet)

    def _py_app(self, mod: str) -> list[str]:
        script = self.site.top / f"{mod}_app.py"
        script.write_text(textwrap.dedent(PY_ECHO.format(mod=mod, app=APP)))
        return [
            sys.executable,
            str(script),
            str(self.site.config),
            f"unix://{self.site.sock}",
        ]

    def procs(self) -> dict[str, int]:
        out = {}
        if self.server:
            out["server"] = self.server.pid
        if self.handler:
            out["handler"] = self.handler.pid
        return out

    def alive(self) -> None:
        for p in (self.server, self.handler):
            if p is not None and p.poll() is not None:
                raise BenchError(
                    f"{self.name}: process {p.args[0]} exited with {p.returncode}"
                )

    def stop(self) -> None:
        for p in (self.handler, self.server):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.log.close()


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- measurements -----------------------------------------------------------------


def ready(c: Contender, warm: Request) -> None:
    """Waits until the contender answers one request."""
    c.site.stage([warm])
    c.site.rename_in(warm)
    resp = c.site.folder / f"{warm.id}.response"
    deadline = time.monotonic() + 60
    while not resp.exists():
        c.alive()
        if time.monotonic() > deadline:
            raise BenchError(f"{c.name}: no answer to a first request in 60 s")
        time.sleep(0.005)
    time.sleep(0.05)
    if c.site.check(c.name, [warm]):
        raise BenchError(f"{c.name}: first response vanished")


def one_at_a_time(c: Contender, reqs: Sequence[Request]) -> list[float]:
    """Latency, rename-in to response on disk, one request at a time."""
    c.site.stage(reqs)
    ino = Responses(c.site.folder)
    out = []
    try:
        for r in reqs:
            t0 = time.perf_counter()
            c.site.rename_in(r)
            while r.id not in ino.read():
                if time.perf_counter() - t0 > 10:
                    raise BenchError(f"{c.name}: no response to {r.id} in 10 s")
                time.sleep(0.00005)  # yield the CPU: the machine may have two
            out.append(time.perf_counter() - t0)
    finally:
        ino.close()
    return out


class Alive(Protocol):
    """Raises BenchError if what answers has stopped (a Contender)."""

    def alive(self) -> None: ...


def answer_all(
    c: Alive, ino: Responses, remaining: set[str], stall: float
) -> float | None:
    """Waits until every id in remaining has its response; returns the
    perf_counter of the last, or None if nothing came for stall seconds."""
    last = time.perf_counter()
    while remaining:
        before = len(remaining)
        remaining.difference_update(ino.read())
        if ino.overflowed:
            remaining.difference_update(ino.scan())
        now = time.perf_counter()
        if not remaining:
            return now
        if len(remaining) < before:
            last = now
        elif now - last > stall:
            return None
        c.alive()
        ino.wait(0.2)
    return time.perf_counter()


@dataclass
class Burst:
    n: int
    seconds: float | None  # None: not all answered
    answered: int
    rate: float | None = None
    peak_rss: dict[str, int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # the contender's last log lines
    # CPU per request of each process (user + system since it started), us
    cpu_us: dict[str, float] = field(default_factory=dict)
    by_workers: dict[int, float | None] = field(default_factory=dict)  # the floor's


def burst(c: Contender, reqs: Sequence[Request], stall: float) -> Burst:
    """Renames all of reqs in at once; times from the first rename to the last response."""
    c.site.stage(reqs)
    ino = Responses(c.site.folder)
    remaining = {r.id for r in reqs}
    try:
        t0 = time.perf_counter()
        for i, r in enumerate(reqs):
            c.site.rename_in(r)
            if i % 1024 == 1023:
                remaining.difference_update(ino.read())
        end = answer_all(c, ino, remaining, stall)
    finally:
        ino.close()
    return finish(c, reqs, end, t0)


def finish(
    c: Contender, reqs: Sequence[Request], end: float | None, t0: float
) -> Burst:
    time.sleep(0.05)
    missing = c.site.check(c.name, reqs)
    if end is None or missing:
        if c.name != SYFT_EVENT:
            raise BenchError(
                f"{c.name}: {missing} of {len(reqs)} requests not answered"
            )
        c.log.flush()
        tail = (c.site.top / f"{c.name}.log").read_text(errors="replace").splitlines()
        return Burst(len(reqs), None, len(reqs) - missing, log=tail[-5:])
    dt = end - t0
    return Burst(len(reqs), dt, len(reqs), len(reqs) / dt)


def steady(c: Contender, reqs: Sequence[Request], rate: float) -> list[float]:
    """Latency while requests arrive at a fixed rate."""
    c.site.stage(reqs)
    ino = Responses(c.site.folder)
    interval = 1 / rate
    sent_at: dict[str, float] = {}
    out: list[float] = []
    i = 0
    t_next = time.perf_counter()
    try:
        while i < len(reqs) or sent_at:
            now = time.perf_counter()
            while i < len(reqs) and now >= t_next:
                sent_at[reqs[i].id] = time.perf_counter()
                c.site.rename_in(reqs[i])
                i += 1
                t_next += interval
            got = ino.read()
            now = time.perf_counter()
            for rid in got:
                t = sent_at.pop(rid, None)
                if t is not None:
                    out.append(now - t)
            if ino.overflowed:
                raise BenchError(f"{c.name}: inotify overflowed under steady load")
            if sent_at and now - min(sent_at.values()) > 30:
                raise BenchError(
                    f"{c.name}: a request under steady load unanswered for 30 s"
                )
            time.sleep(0.00005)
    finally:
        ino.close()
    missing = c.site.check(c.name, reqs)
    if missing:
        raise BenchError(f"{c.name}: {missing} requests under steady load not answered")
    return out


# --- the run ------------------------------------------------------------------------


@dataclass
class Config:
    size: str
    idle: float
    samples: int
    small: int
    large: int | None
    pending: int
    steady_seconds: float
    steady_max: int
    stall: float

    @staticmethod
    def make(size: str) -> Config:
        if size == "quick":
            return Config(size, 3, 200, 2000, None, 5000, 1.0, 2000, 30)
        if size == "large":
            return Config(size, 10, 1000, 10000, 100000, 100000, 5.0, 20000, 60)
        return Config(size, 10, 1000, 10000, None, 20000, 5.0, 20000, 60)

    @property
    def quick(self) -> bool:
        return self.size == "quick"


# The floor answers with one worker and with two, and reports its best: the
# sidecar spreads the same file operations over both CPUs of this machine.
FLOOR_WORKERS = (1, 2)


def pct(xs: Sequence[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def floor_loop(
    site: Site, reqs: Sequence[Request], mode: str, rate: float = 0, workers: int = 1
) -> dict[str, Any]:
    """Runs bin/floor's own loop over reqs (staged here) and checks its answers."""
    site.stage(reqs)
    cmd = [
        str(BIN / "floor"),
        "loop",
        "--tmp",
        str(site.tmp),
        *floor_dirs(site),
        "--owner",
        OWNER,
    ]
    cmd += ["--mode", mode, "--rate", str(rate or 1), "--workers", str(workers)]
    ids = "".join(f"{r.id}\n" for r in reqs)
    p = subprocess.run(cmd, input=ids.encode(), capture_output=True, check=False)
    if p.returncode != 0:
        raise BenchError(f"floor loop {mode}: {p.stderr.decode().strip()}")
    missing = site.check(FLOOR, reqs)
    if missing:
        raise BenchError(f"floor: {missing} of {len(reqs)} requests not answered")
    out: dict[str, Any] = json.loads(p.stdout)
    return out


def steady_phase(
    cfg: Config,
    pool: list[Request],
    rate: float,
    run: Callable[[Sequence[Request], float], list[float]],
) -> dict[str, Any]:
    """Steady load at rate over the requests after the latency samples and
    the small burst: run takes them and the rate, and returns latencies in s."""
    n = max(50, min(cfg.steady_max, int(rate * cfg.steady_seconds)))
    start = cfg.samples + cfg.small
    t0 = time.perf_counter()
    lat = run(pool[start : start + n], rate)
    return {
        "rate": rate,
        "achieved_rate": n / (time.perf_counter() - t0),
        "latency_ms": [x * 1e3 for x in lat],
    }


def run_floor_a(cfg: Config, pool: list[Request], warm: Request) -> dict[str, Any]:
    """The floor's latency woken by inotify, then its own loop: latency one at
    a time, the small burst, steady load."""
    res: dict[str, Any] = {}
    site = Site()
    c = Contender(FLOOR, site)
    try:
        c.start()
        ready(c, warm)
        res["latency_woken_ms"] = [
            x * 1e3 for x in one_at_a_time(c, pool[: cfg.samples])
        ]
    finally:
        c.stop()
        site.close()
    site = Site()
    try:
        lat = floor_loop(site, pool[: cfg.samples], "latency")["samples"]
        res["latency_ms"] = [x * 1e3 for x in lat]
    finally:
        site.close()
    b = run_floor_burst(pool[cfg.samples : cfg.samples + cfg.small])
    res["burst_small"] = b.__dict__
    site = Site()
    try:
        res["steady"] = steady_phase(
            cfg,
            pool,
            (b.rate or 0) / 2,
            lambda rs, r: floor_loop(site, rs, "steady", r)["samples"],
        )
    finally:
        site.close()
    return res


def run_floor_burst(reqs: Sequence[Request]) -> Burst:
    """The floor's loop over reqs with each number of workers, each on a
    site of its own; the best is the figure."""
    best: Burst | None = None
    rates = {}
    for w in FLOOR_WORKERS:
        site = Site()
        try:
            dt = floor_loop(site, reqs, "burst", workers=w)["seconds"]
        finally:
            site.close()
        b = Burst(len(reqs), dt, len(reqs), len(reqs) / dt)
        rates[w] = b.rate
        if best is None or (b.rate or 0) > (best.rate or 0):
            best = b
    assert best is not None
    best.by_workers = rates
    return best


def run_group_a(
    name: str, cfg: Config, pool: list[Request], warm: Request
) -> dict[str, Any]:
    """Idle CPU and RSS, latency one at a time, the small burst, steady load."""
    if name == FLOOR:
        return run_floor_a(cfg, pool, warm)
    site = Site()
    c = Contender(name, site)
    res: dict[str, Any] = {}
    try:
        c.start()
        ready(c, warm)
        time.sleep(0.5)
        pids = c.procs()
        cpu0 = {k: proc_cpu(p) for k, p in pids.items()}
        time.sleep(cfg.idle)
        cpu1 = {k: proc_cpu(p) for k, p in pids.items()}
        res["idle_cpu_percent"] = {
            k: 100 * (cpu1[k] - cpu0[k]) / cfg.idle for k in pids
        }
        res["idle_rss_bytes"] = {k: proc_status(p)["VmRSS"] for k, p in pids.items()}
        lat = one_at_a_time(c, pool[: cfg.samples])
        res["latency_ms"] = [x * 1e3 for x in lat]
        b = burst(c, pool[cfg.samples : cfg.samples + cfg.small], cfg.stall)
        res["burst_small"] = b.__dict__
        b.peak_rss = {k: proc_status(p)["VmHWM"] for k, p in pids.items()}
        if b.rate:
            res["steady"] = steady_phase(
                cfg, pool, b.rate / 2, lambda rs, r: steady(c, rs, r)
            )
    finally:
        c.stop()
        site.close()
    return res


def run_burst(name: str, reqs: Sequence[Request], warm: Request, stall: float) -> Burst:
    site = Site()
    c = Contender(name, site)
    try:
        c.start()
        ready(c, warm)
        b = burst(c, reqs, stall)
        b.peak_rss = {k: proc_status(p)["VmHWM"] for k, p in c.procs().items()}
        return b
    finally:
        c.stop()
        site.close()


def run_pending(name: str, reqs: Sequence[Request], stall: float) -> Burst:
    """Requests in place before the contender starts; times from its start to
    the last answer. The floor's best of its numbers of workers."""
    if name != FLOOR:
        return pending_once(name, reqs, stall, 1)
    runs = {w: pending_once(name, reqs, stall, w) for w in FLOOR_WORKERS}
    best = max(runs.values(), key=lambda b: b.rate or 0)
    best.by_workers = {w: b.rate for w, b in runs.items()}
    return best


def pending_once(
    name: str, reqs: Sequence[Request], stall: float, workers: int
) -> Burst:
    site = Site()
    c = Contender(name, site)
    c.workers = workers
    try:
        site.stage(reqs)
        for r in reqs:
            site.rename_in(r)
        ino = Responses(site.folder)
        try:
            t0 = time.perf_counter()
            c.start()
            end = answer_all(c, ino, {r.id for r in reqs}, stall)
        finally:
            ino.close()
        b = finish(c, reqs, end, t0)
        b.peak_rss = {k: proc_status(p)["VmHWM"] for k, p in c.procs().items()}
        b.cpu_us = {k: proc_cpu(p) / len(reqs) * 1e6 for k, p in c.procs().items()}
        return b
    finally:
        c.stop()
        site.close()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    df = subprocess.run(
        ["df", "-T", tempfile.gettempdir()], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    fs = df[-1].split()[1] if len(df) > 1 else "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "fs": fs,
        "tmpdir": tempfile.gettempdir(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_before": list(os.getloadavg()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: a burst of 2,000, 5,000 pending (about a minute a filesystem)",
    )
    size.add_argument(
        "--large",
        action="store_true",
        help="adds a burst of 100,000 and makes the pending 100,000",
    )
    ap.add_argument(
        "--roots",
        nargs="+",
        default=default_roots(),
        help="folders to run in, one run each (default: /dev/shm, then the temp folder)",
    )
    ap.add_argument(
        "--out",
        default=str(BIN / "bench"),
        help="folder for results.md and, for each root's filesystem FS, results-FS.json and bench-FS.png",
    )
    ap.add_argument(
        "--only", nargs="+", choices=CONTENDERS, help="run only these contenders"
    )
    ap.add_argument(
        "--no-settle",
        action="store_true",
        help="do not wait for slow file creates to recover before a full run",
    )
    args = ap.parse_args(argv)
    for exe in ("syft-sidecar", "echo", "floor"):
        if not (BIN / exe).exists():
            raise SystemExit(
                f"bench: {BIN / exe} missing: run make build (or make bench)"
            )
    try:
        return run(args)
    finally:
        remove_left()


def default_roots() -> list[str]:
    """tmpfs first, then the disk: on tmpfs the file operations cost what
    the kernel makes them cost; on this disk each create may cost 25 us to
    1 ms, as the docstring says."""
    roots = ["/dev/shm"] if Path("/dev/shm").is_dir() else []
    return [*roots, tempfile.gettempdir()]


def run(args: argparse.Namespace) -> int:
    size = "quick" if args.quick else "large" if args.large else "standard"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    for root in args.roots:
        tempfile.tempdir = root
        doc = run_fs(args, Config.make(size))
        if doc is None:
            return 1
        fs = doc["machine"]["fs"]
        (out / f"results-{fs}.json").write_text(json.dumps(doc, indent=1))
        table = report(doc)
        print(table, flush=True)
        tables.append(table)
        plot(doc, out / f"bench-{fs}.png")
        (out / "results.md").write_text("\n\n".join(tables) + "\n")
    log(f"done: {out}/results.md, results-*.json, bench-*.png")
    return 0


def compiled(src: Path) -> None:
    """Writes the bytecode of a client tree, as an installed package has it
    (pip compiles at install, as it did syft-event's): run from a checkout
    under PYTHONDONTWRITEBYTECODE=1, as on our machines, the handler would
    compile the client's modules at every start, 30-40 ms of its 0.3 s."""
    if not compileall.compile_dir(str(src), quiet=1):
        raise BenchError(f"compiling {src} failed")


def run_fs(args: argparse.Namespace, cfg: Config) -> dict[str, Any] | None:
    """Every contender's phases under tempfile.tempdir; None if one failed."""
    names = args.only or CONTENDERS
    if "sidecar-py" in names:
        compiled(ROOT / "clients" / "python" / "src")
    started = time.time()
    info = machine()
    info["create_us"] = slowest_probe()
    log(
        f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['fs']}; load {info['load_before']}; "
        f"file create {info['create_us']:.0f} us"
    )
    if cfg.quick or args.no_settle or info["fs"] == "tmpfs":
        # --quick must stay short: it reports the figure, no more. tmpfs
        # has no inode allocator to wait for.
        fs_settle: dict[str, Any] = {
            "threshold_us": CREATE_SLOW_US,
            "probes_us": [info["create_us"]],
            "waited_s": 0,
            "settled": info["create_us"] <= CREATE_SLOW_US,
            "skipped": "--quick"
            if cfg.quick
            else "--no-settle"
            if args.no_settle
            else "tmpfs",
        }
    else:
        fs_settle = settle(info["create_us"])
    steady_n = cfg.steady_max
    pool = generate(
        max(cfg.samples + cfg.small + steady_n, cfg.large or 0, cfg.pending)
    )
    warm = generate(1)[0]
    results: dict[str, dict[str, Any]] = {n: {"create_us_before": []} for n in names}

    def probe(name: str) -> None:
        us = create_probe()
        results[name]["create_us_before"].append(round(us, 1))
        if us > CREATE_SLOW_US:
            log(f"{name}: file creates take {us:.0f} us before this phase")

    try:
        for name in names:
            probe(name)
            log(
                f"{name}: idle {cfg.idle:g} s, {cfg.samples} one at a time, burst of {cfg.small}, steady load"
            )
            results[name].update(run_group_a(name, cfg, pool, warm))
        if cfg.large:
            for name in names:
                probe(name)
                log(f"{name}: burst of {cfg.large}")
                if name == FLOOR:
                    b = run_floor_burst(pool[: cfg.large])
                else:
                    b = run_burst(name, pool[: cfg.large], warm, cfg.stall)
                results[name]["burst_large"] = b.__dict__
        for name in names:
            probe(name)
            log(f"{name}: {cfg.pending} pending at start")
            results[name]["pending"] = run_pending(
                name, pool[: cfg.pending], cfg.stall
            ).__dict__
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return None
    info["load_after"] = list(os.getloadavg())
    return {
        "quick": cfg.quick,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "machine": info,
        "fs_settle": fs_settle,
        "config": cfg.__dict__,
        "contenders": results,
    }


# --- the table and the plot ------------------------------------------------------


def rows(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, float | None]]]:
    """(figure, unit, value by contender)."""
    res = doc["contenders"]
    cfg = doc["config"]

    def get(f: Callable[[dict[str, Any]], float | None]) -> dict[str, float | None]:
        out = {}
        for n, r in res.items():
            try:
                out[n] = f(r)
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                out[n] = None
        return out

    def rss(r: dict[str, Any], key: str) -> float:
        return r[key]["server"] / 2**20

    out = [
        (
            f"burst of {cfg['small']:,}",
            "req/s",
            get(lambda r: r["burst_small"]["rate"]),
        ),
    ]
    if cfg["large"]:
        out.append(
            (
                f"burst of {cfg['large']:,}",
                "req/s",
                get(lambda r: r["burst_large"]["rate"]),
            )
        )
    out += [
        ("latency one at a time p50", "ms", get(lambda r: pct(r["latency_ms"], 0.5))),
        ("latency one at a time p99", "ms", get(lambda r: pct(r["latency_ms"], 0.99))),
        (
            "latency one at a time p50, floor woken by inotify",
            "ms",
            get(lambda r: pct(r["latency_woken_ms"], 0.5)),
        ),
        (
            "latency one at a time p99, floor woken by inotify",
            "ms",
            get(lambda r: pct(r["latency_woken_ms"], 0.99)),
        ),
        (
            "steady load rate (half the burst)",
            "req/s",
            get(lambda r: r["steady"]["rate"]),
        ),
        (
            "latency under steady load p50",
            "ms",
            get(lambda r: pct(r["steady"]["latency_ms"], 0.5)),
        ),
        (
            "latency under steady load p99",
            "ms",
            get(lambda r: pct(r["steady"]["latency_ms"], 0.99)),
        ),
        (
            f"{cfg['pending']:,} pending at start, all answered",
            "s",
            get(lambda r: r["pending"]["seconds"]),
        ),
        (
            f"CPU per request, {cfg['pending']:,} pending, server",
            "us",
            get(lambda r: r["pending"]["cpu_us"]["server"]),
        ),
        (
            f"CPU per request, {cfg['pending']:,} pending, handler",
            "us",
            get(lambda r: r["pending"]["cpu_us"]["handler"]),
        ),
        ("server RSS idle", "MB", get(lambda r: rss(r, "idle_rss_bytes"))),
        (
            "handler RSS idle",
            "MB",
            get(lambda r: r["idle_rss_bytes"]["handler"] / 2**20),
        ),
    ]
    peak = "burst_large" if cfg["large"] else "burst_small"
    n = cfg["large"] or cfg["small"]
    out += [
        (
            f"server RSS peak, burst of {n:,}",
            "MB",
            get(lambda r: r[peak]["peak_rss"]["server"] / 2**20),
        ),
        (
            f"handler RSS peak, burst of {n:,}",
            "MB",
            get(lambda r: r[peak]["peak_rss"]["handler"] / 2**20),
        ),
        (
            f"server RSS peak, {cfg['pending']:,} pending",
            "MB",
            get(lambda r: r["pending"]["peak_rss"]["server"] / 2**20),
        ),
        (
            f"CPU idle over {cfg['idle']:g} s, all processes",
            "%",
            get(lambda r: sum(r["idle_cpu_percent"].values())),
        ),
    ]
    return out


def fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(v: float | None, ref: float | None) -> str:
    if v is None or not ref:
        return "–"
    return f"{v / ref:.2f}x"


def report(doc: dict[str, Any]) -> str:
    """A markdown table: each figure, its ratio to the floor and to syft-event."""
    names = list(doc["contenders"])
    m = doc["machine"]
    head = (
        f"{'quick ' if doc['quick'] else ''}run {doc['date']}, {doc['seconds']:.0f} s; {m['nproc']} CPUs "
        f"({m['cpu']}), {m['fs']} ({m['tmpdir']}); load average before {m['load_before'][0]:.2f}, after {m['load_after'][0]:.2f}"
    )
    if "create_us" in m:
        st = doc.get("fs_settle") or {}
        head += f"; file create at start {m['create_us']:.0f} us"
        if st.get("waited_s"):
            head += (
                f", {'settled' if st['settled'] else 'still slow'} at "
                f"{st['probes_us'][-1]:.0f} us after waiting {st['waited_s']:.0f} s"
            )
    lines = [
        head,
        "",
        "| figure | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    table = rows(doc)
    # the latency floor when the responder must be woken, by percentile
    woken = {
        fig[
            len("latency one at a time ") : len("latency one at a time ") + 3
        ]: vals.get(FLOOR)
        for fig, _, vals in table
        if "woken" in fig
    }
    for fig, unit, vals in table:
        cells = []
        for n in names:
            v = vals.get(n)
            cell = fmt(v)
            extra = []
            if n != FLOOR and FLOOR in vals and "RSS" not in fig and "idle" not in fig:
                extra.append(f"{ratio(v, vals[FLOOR])} floor")
            if n != FLOOR and fig.startswith("latency one at a time p") and woken:
                extra.append(f"{ratio(v, woken.get(fig[-3:]))} woken floor")
            if n != SYFT_EVENT and SYFT_EVENT in vals and "steady load rate" not in fig:
                extra.append(f"{ratio(v, vals[SYFT_EVENT])} s-e")
            if v is not None and extra:
                cell += " (" + ", ".join(extra) + ")"
            cells.append(cell)
        lines.append(f"| {fig}, {unit} | " + " | ".join(cells) + " |")
    # One figure per phase, in run order: a slow one means that phase ran on
    # a slower disk than the others, whatever the contender did.
    cells = [
        " / ".join(fmt(x) for x in doc["contenders"][n].get("create_us_before", []))
        or "–"
        for n in names
    ]
    lines.append(
        "| file create before the contender's phases, us (median) | "
        + " | ".join(cells)
        + " |"
    )
    for n, r in doc["contenders"].items():
        for key in ("burst_small", "burst_large", "pending"):
            b = r.get(key)
            if b and b["seconds"] is None:
                lines.append(
                    f"\n{n}: {key}: only {b['answered']:,} of {b['n']:,} answered"
                )
                lines += [f"    {x}" for x in b.get("log", [])]
    lines.append(
        "\nratios: the figure divided by the floor's (floor) and by syft-event's (s-e), same run."
    )
    lines.append(
        "server: bin/floor, the sidecar, or syft-event's process; handler: the echo process."
    )
    lines.append(
        "file create: median time to create a 270-byte file before each phase, in run order."
    )
    return "\n".join(lines)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = doc["contenders"]
    names = list(res)
    colors = {
        "floor": "#777777",
        "sidecar-go": "#1f77b4",
        "sidecar-py": "#2ca02c",
        "syft-event": "#d62728",
    }
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in (
        (
            axes[0],
            lambda r: r.get("latency_ms"),
            "latency, one at a time (dashed: floor woken by inotify)",
        ),
        (
            axes[1],
            lambda r: (r.get("steady") or {}).get("latency_ms"),
            "latency, steady load at half the burst rate",
        ),
    ):
        for n in names:
            xs = key(res[n])
            if not xs:
                continue
            xs = sorted(xs)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.plot(xs, ys, label=n, color=colors.get(n))
            if ax is axes[0] and res[n].get("latency_woken_ms"):
                ws = sorted(res[n]["latency_woken_ms"])
                ax.plot(
                    ws,
                    [(i + 1) / len(ws) for i in range(len(ws))],
                    color=colors.get(n),
                    linestyle="--",
                )
        ax.set_xscale("log")
        ax.set_xlabel("rename-in to response on disk, ms")
        ax.set_ylabel("share of requests")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    groups = [("burst_small", f"burst {doc['config']['small']:,}")]
    if doc["config"]["large"]:
        groups.append(("burst_large", f"burst {doc['config']['large']:,}"))
    groups.append(("pending", f"{doc['config']['pending']:,} pending"))
    ax = axes[2]
    width = 0.8 / len(names)
    for j, n in enumerate(names):
        vals = [(res[n].get(k) or {}).get("rate") or 0 for k, _ in groups]
        ax.bar(
            [i + j * width for i in range(len(groups))],
            vals,
            width,
            label=n,
            color=colors.get(n),
        )
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels([g for _, g in groups], fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s")
    ax.set_title("throughput", fontsize=10)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    m = doc["machine"]
    fig.suptitle(
        f"{'quick ' if doc['quick'] else ''}{doc['date'][:16]}Z, {m['nproc']} CPUs {m['cpu']}, {m['fs']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
