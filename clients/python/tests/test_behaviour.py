"""Behaviour beyond the README: bad input, errors, concurrency, restarts,
stopping, connecting."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import List, Optional

import pytest
from conftest import OWNER, Sidecar, _sidecar_bin, start, wait_for
from pydantic import BaseModel

from syft_sidecar import EventRouter, Request, Response, SyftEvents


class Item(BaseModel):
    name: str


class Opaque:
    """No way to build it from a body."""


# -- arguments -------------------------------------------------------------


def test_types_syft_event_cannot_inject(datasite, make_app):
    box = make_app("types")

    @box.on_request("/int")
    def as_int(n: int) -> int:
        return n * 2

    @box.on_request("/uuid")
    def as_uuid(u: uuid.UUID) -> str:
        return u.hex

    @box.on_request("/items")
    def items(xs: List[Item]) -> List[str]:
        return [x.name for x in xs]

    @box.on_request("/optional")
    def optional(item: Optional[Item] = None) -> str:
        return "none" if item is None else item.name

    start(box)
    u = uuid.uuid4()
    assert datasite.call("types", "/int", 21).body == b"42"
    assert datasite.call("types", "/uuid", json.dumps(str(u))).body == u.hex.encode()
    assert datasite.call("types", "/items", [{"name": "a"}, {"name": "b"}]).body == b'["a", "b"]'
    assert datasite.call("types", "/optional", None).body == b"none"
    assert datasite.call("types", "/optional", {"name": "x"}).body == b"x"
    r = datasite.call("types", "/int", "nope")
    assert r.status_code == 400
    assert r.body.startswith(b"Invalid request schema: 1 validation error for int")
    r = datasite.call("types", "/items", [{"nom": "a"}])
    assert r.status_code == 400
    assert b"validation error for list[Item]" in r.body


def test_bad_bodies_and_unknown_types(datasite, make_app):
    box = make_app("bad")

    @box.on_request("/model")
    def model(item: Item) -> Item:
        return item

    @box.on_request("/dict")
    def as_dict(d: dict) -> dict:
        return d

    @box.on_request("/opaque")
    def opaque(o: Opaque) -> str:
        return "unreachable"

    @box.on_request("/untyped")
    def untyped(x) -> str:  # syft-event refuses it: no type to inject by
        return "unreachable"

    start(box)
    r = datasite.call("bad", "/model", b"\xff\xfe not json")
    assert r.status_code == 400 and r.body.startswith(b"Invalid request schema: 1 validation")
    r = datasite.call("bad", "/dict", "{")
    assert r.status_code == 400
    assert r.body == (
        b"Invalid request schema: "
        b"Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )
    r = datasite.call("bad", "/opaque", "{}")
    assert r.status_code == 400
    assert r.body.startswith(b"Invalid request schema: Unknown type <class ")
    assert r.body.endswith(b"Opaque'> for parameter o")
    r = datasite.call("bad", "/untyped", "{}")
    assert (r.status_code, r.body) == (
        400,
        b"Invalid request schema: Unknown type typing.Any for parameter x",
    )


# -- errors ------------------------------------------------------------------


def test_exceptions_normal_and_debug(datasite, make_app, caplog):
    box = make_app("errors")

    @box.on_request("/boom")
    def boom(req: Request) -> str:
        raise KeyError("secret detail")

    @box.on_request("/bad-status")
    def bad_status() -> Response:
        return Response(body="x", status_code=99)

    @box.on_request("/unserializable")
    def unserializable() -> object:
        return object()

    start(box)
    with caplog.at_level(logging.ERROR, logger="syft_sidecar"):
        r = datasite.call("errors", "/boom")
    assert (r.status_code, r.body) == (500, b"Internal server error. Please try again later.")
    assert r.headers == {}
    assert "secret detail" in caplog.text and "Traceback" in caplog.text

    box.set_debug_mode(True)
    r = datasite.call("errors", "/boom")
    assert r.status_code == 500
    assert r.headers == {"Content-Type": "application/json"}
    body = json.loads(r.body)
    assert body["error_type"] == "KeyError"
    assert body["error_message"] == "'secret detail'"
    assert body["function_name"] == "boom"
    assert 'raise KeyError("secret detail")' in body["traceback"]
    box.set_debug_mode(False)

    # Whatever the sidecar could not write becomes a 500, not a hang.
    for ep in ("/bad-status", "/unserializable"):
        r = datasite.call("errors", ep)
        assert (r.status_code, r.body) == (500, b"Internal server error. Please try again later.")


def test_large_request_fits_and_oversize_reply_is_500(datasite, make_app, caplog):
    """A request near the sidecar's default 16 MiB limit reaches the handler
    and its echo comes back; a reply over the sidecar's 64 MiB limit is
    answered 500 rather than ending the stream (which would redeliver)."""
    box = make_app("sizes")

    @box.on_request("/echo")
    def echo(req: Request) -> bytes:
        return req.body or b""

    @box.on_request("/huge")
    def huge() -> bytes:
        return b"x" * ((64 << 20) + 1)

    start(box)
    body = b"abcdefghij" * ((12 << 20) // 10 - 100)
    r = datasite.call("sizes", "/echo", body, timeout=60)
    assert r.status_code == 200 and r.body == body
    with caplog.at_level(logging.ERROR, logger="syft_sidecar"):
        r = datasite.call("sizes", "/huge", timeout=60)
    assert (r.status_code, r.body) == (500, b"Internal server error. Please try again later.")
    assert "over the sidecar's limit" in caplog.text


# -- concurrency -------------------------------------------------------------


@pytest.mark.parametrize("slow_async", [False, True], ids=["sync-slow", "async-slow"])
def test_slow_handler_does_not_stall_others(datasite, make_app, slow_async):
    import asyncio

    box = make_app("slow", max_in_flight=4)
    entered = threading.Event()
    release = threading.Event()

    if slow_async:

        @box.on_request("/slow")
        async def slow() -> str:
            entered.set()
            while not release.is_set():
                await asyncio.sleep(0.005)
            return "slow done"

        @box.on_request("/fast")
        def fast(x: str) -> str:
            return x
    else:

        @box.on_request("/slow")
        def slow() -> str:
            entered.set()
            release.wait(20)
            return "slow done"

        @box.on_request("/fast")
        async def fast(x: str) -> str:
            return x

    start(box)
    slow_future = datasite.send("slow", "/slow")
    assert entered.wait(10)
    for i in range(20):
        r = datasite.call("slow", "/fast", f"f{i}")
        assert (r.status_code, r.body) == (200, f"f{i}".encode())
    assert slow_future.resolve() is None  # still in flight
    release.set()
    r = slow_future.wait(timeout=10, poll_interval=0.005)
    assert (r.status_code, r.body) == (200, b"slow done")


def test_deadline_gives_504_and_drops_late_reply(datasite, make_app):
    box = make_app("deadline")
    release = threading.Event()
    finished = threading.Event()

    @box.on_request("/late", deadline=0.3)
    def late() -> str:
        release.wait(10)
        finished.set()
        return "too late"

    start(box)
    fut = datasite.send("deadline", "/late")
    (path,) = wait_for(lambda: datasite.responses("deadline"), "the 504")
    first = path.read_bytes()
    assert json.loads(first)["status_code"] == 504
    release.set()
    assert finished.wait(10)
    box.stop()  # every reply that was going out has gone out
    assert datasite.responses("deadline") == [path]
    assert path.read_bytes() == first
    assert fut.resolve().status_code == 504


def test_deadline_cancels_async_handler(datasite, make_app):
    """Past its deadline an async handler is cancelled (CancelledError inside
    it) and its call forgotten; the 504 stays the only response."""
    box = make_app("adeadline")
    cancelled = threading.Event()

    @box.on_request("/late", deadline=0.3)
    async def late() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "too late"

    start(box)
    fut = datasite.send("adeadline", "/late")
    (path,) = wait_for(lambda: datasite.responses("adeadline"), "the 504")
    assert json.loads(path.read_bytes())["status_code"] == 504
    assert cancelled.wait(10)
    wait_for(lambda: box._calls.in_flight.count == 0, "the call to be forgotten")
    box.stop()
    assert datasite.responses("adeadline") == [path]
    assert fut.resolve().status_code == 504


# -- restarts and stopping -----------------------------------------------------


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_sidecar_restart_mid_run(datasite, sidecar: Sidecar, make_app, kill):
    box = make_app("restart", max_in_flight=4)
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    # The calls after the first 10 wait for the sidecar to go (counted as
    # they start: the sidecar need not deliver in the order they were sent,
    # and four later ones first would hold every slot). The bound is only a
    # backstop for a failed run: under load the drain can take over 10 s to
    # show, and a handler let go before it answers more than the 14.
    gate = threading.Event()

    @box.on_request("/work")
    def work(n: str) -> str:
        with lock:
            calls[n] += 1
            later = sum(calls.values()) > 10
        if later:
            gate.wait(60)
        return f"done {n}"

    start(box)
    n = 60
    futures = [datasite.send("restart", "/work", str(i)) for i in range(n)]
    # Deadlines only bound a failed run: a loaded machine was seen to take
    # over 10 s here.
    wait_for(lambda: len(datasite.responses("restart")) >= 10, "the first responses", 60)
    wait_for(lambda: sum(calls.values()) >= 14, "four requests in flight", 60)
    # The sidecar goes while four requests are in flight and 46 wait.
    assert len(datasite.responses("restart")) == 10
    assert sidecar.proc is not None
    if kill:
        sidecar.proc.kill()
    else:
        sidecar.proc.terminate()
        log = sidecar.logs[-1]
        wait_for(lambda: "msg=draining" in log.read_text(), "the sidecar to drain")
    gate.set()
    sidecar.stop()
    assert len(datasite.responses("restart")) <= 14
    # Requests written while the sidecar is down wait on disk.
    futures += [datasite.send("restart", "/work", str(i)) for i in range(n, n + 10)]
    sidecar.start()
    wait_for(lambda: len(datasite.responses("restart")) == n + 10, "every response", 30)
    # Exactly one response per request, none left out; each says 200.
    requests = sorted(datasite.rpc_dir("restart").glob("**/*.request"))
    responses = datasite.responses("restart")
    assert {p.stem for p in requests} == {p.stem for p in responses}
    assert len(requests) == n + 10
    assert {json.loads(p.read_text())["status_code"] for p in responses} == {200}
    # (syft-rpc's resolve() removes the files it read.)
    for i, f in enumerate(futures):
        r = f.resolve()
        assert (r.status_code, r.body) == (200, f"done {i}".encode())
    assert set(calls) == {str(i) for i in range(n + 10)}
    if kill:  # the replies in flight were lost with the sidecar: delivered again
        assert max(calls.values()) >= 2


def test_stop_writes_in_flight_replies(datasite, make_app):
    box = make_app("stopping")
    entered = threading.Event()
    release = threading.Event()

    @box.on_request("/job")
    def job() -> str:
        entered.set()
        release.wait(20)
        return "finished"

    start(box)
    fut = datasite.send("stopping", "/job")
    assert entered.wait(10)
    stopper = threading.Thread(target=box.stop)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive(), "stop() returned while a handler was running"
    release.set()
    stopper.join(15)
    assert not stopper.is_alive()
    # stop() returned after the reply went out and the sidecar closed the
    # stream: the response is on disk now.
    r = fut.resolve()
    assert r is not None and (r.status_code, r.body) == (200, b"finished")
    box.stop()  # twice is fine


def test_lifecycle(datasite, make_app, sidecar):
    box = make_app("life")

    @box.on_request("/ping")
    def ping() -> str:
        return "pong"

    with box:
        box.start()  # a second start does nothing
        assert datasite.call("life", "/ping").body == b"pong"
    box.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        box.start()
    with pytest.raises(RuntimeError, match="stopped"):
        box.on_request("/late")(ping)

    # run_forever() blocks until stop().
    box2 = make_app("life2")
    box2.on_request("/ping")(ping)
    t = threading.Thread(target=box2.run_forever)
    t.start()
    wait_for(lambda: box2.owner, "registration")
    box2.stop()
    t.join(10)
    assert not t.is_alive()


# -- connecting ----------------------------------------------------------------


def test_no_sidecar_fails_naming_the_address(datasite, tmp_path):
    addr = f"unix://{tmp_path}/nobody.sock"
    box = SyftEvents("nobody", client=datasite.owner, sidecar=addr, connect_timeout=0.5)
    box.on_request("/x")(lambda: "x")
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match=f"no syft-sidecar answered at {addr} within 0.5s"):
        box.start()
    assert time.monotonic() - t0 < 5
    box.stop()


def test_invalid_registration_raises(datasite, make_app):
    box = make_app("invalid")
    box.on_request("/a/../b")(lambda: "x")
    with pytest.raises(ValueError, match="refused the registration: INVALID_ARGUMENT"):
        box.start()


def test_default_address_from_syftbox_config(datasite, monkeypatch):
    """A sidecar and an app that share the SyftBox config need no address."""
    cfg = datasite.data_dir / "bob.json"
    cfg.write_text(json.dumps({"email": OWNER, "data_dir": str(datasite.data_dir)}))
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(cfg))
    for v in ("SYFT_SIDECAR_ADDR", "SYFTBOX_EMAIL", "SYFTBOX_DATA_DIR"):
        monkeypatch.delenv(v, raising=False)
    sock = datasite.data_dir / ".syft-sidecar" / "sidecar.sock"
    log = open(datasite.data_dir / "default.log", "wb")
    p = subprocess.Popen(
        [_sidecar_bin(), "--metrics-listen", ""], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(sock.exists, "the default socket")
        box = SyftEvents("derived", connect_timeout=10)  # no client, no address
        assert box.address == f"unix://{sock}"
        assert box.client.email == OWNER

        @box.on_request("/hi")
        def hi() -> str:
            return "hi"

        with box:
            wait_for(lambda: box.get_cleanup_stats().last_cleanup, "the first cleanup")
            assert datasite.call("derived", "/hi").body == b"hi"

        monkeypatch.setenv("SYFT_SIDECAR_ADDR", "/elsewhere.sock")
        assert SyftEvents("derived").address == "unix:///elsewhere.sock"
        assert SyftEvents("derived", sidecar="tcp://127.0.0.1:1").address == "127.0.0.1:1"
    finally:
        p.terminate()
        p.wait(10)
        log.close()


def test_load_config_as_the_sidecar(tmp_path, monkeypatch):
    from syft_sidecar._config import ConfigError, load_config

    home = tmp_path / "home"
    (home / ".syftbox").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for v in ("SYFTBOX_CLIENT_CONFIG_PATH", "SYFTBOX_EMAIL", "SYFTBOX_DATA_DIR"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(ConfigError, match="no syftbox config"):
        load_config()
    (home / ".syftbox" / "config.json").write_text(
        json.dumps({"email": " Bob@Example.com ", "sync_folder": "~/SyftBox/"})
    )
    c = load_config()
    assert (c.email, c.data_dir) == ("bob@example.com", home / "SyftBox")
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(tmp_path / "x" / ".." / "dd"))
    monkeypatch.setenv("SYFTBOX_EMAIL", "carol@example.org")
    c = load_config()
    assert (c.email, c.data_dir) == ("carol@example.org", tmp_path / "dd")
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


# -- registration API ----------------------------------------------------------


def test_registration_rules(datasite, caplog):
    box = SyftEvents("reg", client=datasite.owner, sidecar="unix:///nowhere")

    def f() -> str:
        return "f"

    def f2() -> str:
        return "f2"

    assert box.on_request("/f")(f) is f
    # As syft-event: the second registration wins; unlike it, a warning says so.
    with caplog.at_level(logging.WARNING, logger="syft_sidecar"):
        assert box.on_request("f/")(f2) is f2
    assert box.get_handler("/f") is f2
    assert "endpoint /f registered again" in caplog.text
    with pytest.raises(ValueError, match="wildcards"):
        box.on_request("/a/*")
    with pytest.raises(ValueError, match="deadline must be positive"):
        box.on_request("/d", deadline=0)
    router = EventRouter()
    assert router.on_request("/g")(f2) is f2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="syft_sidecar"):
        assert router.on_request("/g")(f) is f
    assert router.routes == {"/g": f}
    assert "router endpoint /g registered again" in caplog.text
    box.include_router(router, prefix="/r")
    assert box.get_handler("/r/g") is f
    assert box.get_handler(box.app_rpc_dir / "f") is f2
    with pytest.raises(ValueError, match="invalid app name"):
        SyftEvents("bad/name", client=datasite.owner)
    with pytest.raises(ValueError, match="Invalid time interval"):
        SyftEvents("x", client=datasite.owner, cleanup_expiry="soon")
    box.stop()
    box.stop()


def test_event_listeners(datasite, caplog):
    box = SyftEvents("l", client=datasite.owner, sidecar="unix:///nowhere")
    got = []

    def bad(event_name, data):
        raise RuntimeError("listener bug")

    first = box.add_event_listener(lambda n, d: got.append(("first", n, d)))
    box.add_event_listener(bad)
    box.add_event_listener(lambda n, d: got.append(("last", n, d)))
    with caplog.at_level(logging.ERROR, logger="syft_sidecar"):
        box._subs.listeners.emit("SHARE", "a/b.txt")
        box._subs.listeners.emit("DELETE", "a/c.txt")
    assert got == [
        ("first", "SHARE", "a/b.txt"),
        ("last", "SHARE", "a/b.txt"),
        ("first", "DELETE", "a/c.txt"),
        ("last", "DELETE", "a/c.txt"),
    ]
    assert caplog.text.count("RuntimeError: listener bug") == 2
    assert "Traceback" in caplog.text
    box.remove_event_listener(first)
    assert len(box.event_listeners) == 2
    with pytest.raises(ValueError, match="not registered"):
        box.remove_event_listener(first)
    box.remove_all_event_listeners()
    assert box.event_listeners == []


def test_cleanup_through_the_sidecar(datasite, make_app):

    box = make_app("clean", cleanup_expiry="1s", cleanup_interval="1h")
    box.on_request("/x")(lambda: "x")
    assert box.is_cleanup_running() is False  # not started
    with pytest.raises(RuntimeError, match="start"):
        box.get_cleanup_stats()
    start(box)
    assert box.is_cleanup_running() is True
    datasite.send("clean", "/x")  # not resolved: syft-rpc would remove the files
    wait_for(lambda: datasite.responses("clean"), "the response")
    old = time.time() - 3600
    for p in datasite.rpc_dir("clean").glob("**/*.re*"):
        os.utime(p, (old, old))
    st = box.cleanup_now()
    assert (st.requests_deleted, st.responses_deleted, st.errors) == (1, 1, 0)
    assert box.get_cleanup_stats().requests_deleted == 1


def test_periodic_cleanup_runs_in_the_sidecar(datasite, sidecar, make_app):
    from syft_sidecar.cleanup import PeriodicCleanup

    box = make_app("pclean", cleanup_expiry="30d", cleanup_interval="1h")
    box.on_request("/x")(lambda: "x")
    start(box)
    datasite.send("pclean", "/x")
    wait_for(lambda: datasite.responses("pclean"), "the response")
    old = time.time() - 3600
    for p in datasite.rpc_dir("pclean").glob("**/*.re*"):
        os.utime(p, (old, old))

    with pytest.raises(ValueError, match="cleanup_expiry"):
        PeriodicCleanup("pclean", cleanup_expiry="1.5h", sidecar=sidecar.addr)
    runs = []
    # Its own expiry (30m) applies, not the app's 30d: the hour-old pair goes.
    pc = PeriodicCleanup(
        "pclean", cleanup_interval="1s", cleanup_expiry="30m",
        sidecar=sidecar.addr, on_cleanup_complete=runs.append,
    )  # fmt: skip
    assert not pc.is_running()
    pc.start()
    try:
        assert pc.is_running()
        wait_for(lambda: len(runs) >= 2, "two periodic runs")
    finally:
        pc.stop()
        pc.stop()
    assert not pc.is_running()
    assert (runs[0].requests_deleted, runs[0].responses_deleted, runs[0].errors) == (1, 1, 0)
    assert runs[0].last_cleanup is not None
    assert pc.get_stats() is runs[-1]
    assert not datasite.responses("pclean")


def test_spawn_sidecar(datasite, monkeypatch):
    """No sidecar answers and one is on PATH: spawn_sidecar=True starts it."""
    monkeypatch.setenv("PATH", f"{Path(_sidecar_bin()).parent}:{os.environ['PATH']}")
    monkeypatch.delenv("SYFT_SIDECAR_ADDR", raising=False)
    box = SyftEvents("spawned", client=datasite.owner, spawn_sidecar=True, connect_timeout=10)
    box.on_request("/hi")(lambda: "hi")
    assert box.address == f"unix://{datasite.data_dir}/.syft-sidecar/sidecar.sock"
    with box:
        child = box._conn.child
        assert child is not None and child.poll() is None
        wait_for(lambda: box.get_cleanup_stats().last_cleanup, "the first cleanup")
        assert datasite.call("spawned", "/hi").body == b"hi"
    assert child.wait(10) == 0  # stopped with the app


def test_ctrl_c_writes_in_flight_replies(datasite, sidecar, tmp_path):
    """run_forever() in its own process; Ctrl-C while a handler runs: the
    reply is still written and the process exits 0."""
    import signal
    import sys

    # A sender folder the sidecar's first cleanup leaves alone (not empty).
    hold = datasite.rpc_dir("ctrlc") / "job" / "alice@example.com"
    hold.mkdir(parents=True)
    (hold / ".hold").touch()
    cfg = datasite.data_dir / f"{OWNER}.config.json"
    app = Path(__file__).parent / "ctrlc_app.py"
    p = subprocess.Popen(
        [sys.executable, str(app), str(cfg), sidecar.addr, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for((datasite.rpc_dir("ctrlc") / "job" / ".syftkeep").exists, "registration")
        fut = datasite.send("ctrlc", "/job")
        wait_for((tmp_path / "entered").exists, "the handler to start")
        p.send_signal(signal.SIGINT)
        log = tmp_path / "log"
        wait_for(lambda: "stopping ctrlc: 1 requests in flight" in log.read_text(), "stop()")
        assert p.poll() is None  # waiting for the handler
        (tmp_path / "release").touch()
        out, _ = p.communicate(timeout=20)
        assert p.returncode == 0, out.decode()
        assert b"exited cleanly" in out
        r = fut.resolve()
        assert r is not None and (r.status_code, r.body) == (200, b"finished")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_token(datasite, sidecar: Sidecar, monkeypatch):
    """A sidecar with --token-file takes only handlers that send the token."""
    sidecar.stop()
    tok = datasite.data_dir.parent / "token"
    tok.write_text("s3cret\n")
    sidecar.start("--token-file", str(tok))

    def box(**kw) -> SyftEvents:
        b = SyftEvents("tok", client=datasite.owner, sidecar=sidecar.addr, **kw)
        b.on_request("/x")(lambda: "x")
        return b

    monkeypatch.delenv("SYFT_SIDECAR_TOKEN", raising=False)
    with pytest.raises(ValueError, match="UNAUTHENTICATED"):
        box(connect_timeout=10).start()
    with pytest.raises(ValueError, match="UNAUTHENTICATED"):
        box(token="wrong", connect_timeout=10).start()
    monkeypatch.setenv("SYFT_SIDECAR_TOKEN", "s3cret")
    with box(connect_timeout=10) as b:
        wait_for(lambda: b.get_cleanup_stats().last_cleanup, "the first cleanup")
        assert datasite.call("tok", "/x").body == b"x"


def test_periodic_cleanup_sends_the_token(datasite, sidecar: Sidecar, monkeypatch):
    """PeriodicCleanup dials as SyftEvents does: a sidecar with --token-file
    gets the token given, else $SYFT_SIDECAR_TOKEN."""
    import grpc

    from syft_sidecar.cleanup import PeriodicCleanup

    sidecar.stop()
    tok = datasite.data_dir.parent / "token"
    tok.write_text("s3cret\n")
    sidecar.start("--token-file", str(tok))
    monkeypatch.setenv("SYFT_SIDECAR_TOKEN", "s3cret")
    box = SyftEvents("ptok", client=datasite.owner, sidecar=sidecar.addr, connect_timeout=10)
    box.on_request("/x")(lambda: "x")
    with box:
        wait_for(lambda: box.get_cleanup_stats().last_cleanup, "the first cleanup")
        datasite.send("ptok", "/x")
        wait_for(lambda: datasite.responses("ptok"), "the response")
        old = time.time() - 3600
        for p in datasite.rpc_dir("ptok").glob("**/*.re*"):
            os.utime(p, (old, old))

        def clean(**kw) -> PeriodicCleanup:
            return PeriodicCleanup("ptok", cleanup_expiry="30m", sidecar=sidecar.addr, **kw)

        st = clean().cleanup_now()  # the token from the environment
        assert (st.requests_deleted, st.responses_deleted, st.errors) == (1, 1, 0)
        with pytest.raises(grpc.RpcError) as refused:
            clean(token="wrong").cleanup_now()  # a token given wins
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        monkeypatch.delenv("SYFT_SIDECAR_TOKEN")
        with pytest.raises(grpc.RpcError) as refused:
            clean().cleanup_now()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        st = clean(token="s3cret").cleanup_now()
        assert st.last_cleanup is not None
    with pytest.raises(ValueError, match="line break"):
        PeriodicCleanup("ptok", sidecar=sidecar.addr, token="s3\ncret")


def test_extend_deadline(datasite, make_app):
    import asyncio

    from syft_sidecar import extend_deadline

    box = make_app("extend")

    # Each handler works 0.6 s against a 0.3 s deadline, after asking for more.
    @box.on_request("/sync", deadline=0.3)
    def sync_job() -> str:
        extend_deadline(10)
        time.sleep(0.6)
        return "sync done"

    @box.on_request("/async", deadline=0.3)
    async def async_job() -> str:
        extend_deadline(10)
        await asyncio.sleep(0.6)
        return "async done"

    start(box)
    futures = [datasite.send("extend", "/sync"), datasite.send("extend", "/async")]
    bodies = [f.wait(timeout=10, poll_interval=0.005) for f in futures]
    assert [(r.status_code, r.body) for r in bodies] == [
        (200, b"sync done"),
        (200, b"async done"),
    ]
    with pytest.raises(RuntimeError, match="inside a handler"):
        extend_deadline(1)


def test_batches(datasite, make_app, caplog):
    """Requests waiting at start come in batches; every one is answered once,
    its reply in a ReplyBatch or alone."""
    n = 24
    futures = [datasite.send("batch", "/echo", f"b{i}") for i in range(n)]
    box = make_app("batch", max_in_flight=n)
    entered = threading.Semaphore(0)
    release = threading.Event()

    @box.on_request("/echo")
    def echo(x: str) -> str:
        entered.release()
        release.wait(20)
        return x

    with caplog.at_level(logging.DEBUG, logger="syft_sidecar"):
        start(box)
        for _ in range(n):  # all n in flight at once: their replies queue up
            assert entered.acquire(timeout=10)
        release.set()
        for i, f in enumerate(futures):
            r = f.wait(timeout=10, poll_interval=0.005)
            assert (r.status_code, r.body) == (200, f"b{i}".encode())
    assert any(m.startswith("a batch of") for m in caplog.messages)


def test_session_packs_replies():
    """Replies queued behind one go in one ReplyBatch, up to the sidecar's
    size and the byte limit; any other message ends the batch, in order.
    Replies travel serialized, framed by hand: what goes out must read back
    as the messages they are."""
    from syft_sidecar._pb.syftsidecar.v1 import sidecar_pb2 as pb
    from syft_sidecar._session import MAX_BATCH_BYTES, Session, encode

    s = Session(None, None, None, None, None, None)  # type: ignore[arg-type]
    s._max_batch = 3
    ext = pb.ConnectRequest(extend_deadline=pb.ExtendDeadline(request_id="x"))
    replies = {
        i: pb.Reply(request_id=i, attempt=7, status_code=201, headers={"h": i}, body=b"x")
        for i in "abcdef"
    }
    replies["big"] = pb.Reply(request_id="big", body=b"x" * MAX_BATCH_BYTES)
    for m in [*(replies[i] for i in "abcd"), ext, replies["e"], replies["big"], replies["f"]]:
        s._q.put(m.SerializeToString() if isinstance(m, pb.Reply) else m)
    s._q.put(None)
    sent = []
    for out in s._messages():
        m = pb.ConnectRequest.FromString(encode(out))
        kind = m.WhichOneof("msg")
        if kind == "replies":
            assert list(m.replies.replies) == [replies[r.request_id] for r in m.replies.replies]
            sent.append("[" + " ".join(r.request_id for r in m.replies.replies) + "]")
        elif kind == "reply":
            assert m.reply == replies[m.reply.request_id]
            sent.append(m.reply.request_id)
        else:
            sent.append(kind)
    assert " ".join(sent) == "[a b c] d extend_deadline e big f"


def test_workers_pool():
    """The handler pool: at most ``size`` threads, each piece of work run
    once, ``submit`` as an Executor's, queued work still run after shutdown."""
    from syft_sidecar._workers import Workers

    pool = Workers(3, "t")
    gate = threading.Event()
    lock = threading.Lock()
    running, peak, done = [0], [0], []

    def job(i: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(10)
        with lock:
            running[0] -= 1
            done.append(i)

    for i in range(8):
        pool.go(job, i)
    fut = pool.submit(lambda a, b=0: a + b, 2, b=3)
    bad = pool.submit(lambda: 1 / 0)
    time.sleep(0.2)
    assert peak[0] == 3 and not done
    gate.set()
    assert fut.result(10) == 5
    with pytest.raises(ZeroDivisionError):
        bad.result(10)
    pool.shutdown(wait=True)
    assert sorted(done) == list(range(8))
    assert len(pool._threads) == 3
    with pytest.raises(RuntimeError):
        pool.go(job, 9)


def test_cancelled_while_queued_is_dropped_and_forgotten():
    """A sync request canceled before a thread takes it never runs; its call
    is forgotten (stop() does not wait for it) and nothing is sent."""
    from syft_sidecar._pb.syftsidecar.v1 import sidecar_pb2 as pb
    from syft_sidecar._session import InFlight, Session
    from syft_sidecar._workers import Workers

    class Client:
        email = "owner@example.com"

        def app_data(self, app: str) -> str:
            return f"/tmp/{app}"

    box = SyftEvents("queued", client=Client())
    ran = []

    @box.on_request("/x")
    def x() -> str:
        ran.append(1)
        return "ran"

    box._calls.pool = Workers(1, "t")
    gate = threading.Event()
    box._calls.pool.go(gate.wait, 10)  # the only thread is busy
    tracker = InFlight()
    s = Session(None, None, box._calls.dispatch, None, box._calls.cancel, tracker)  # type: ignore[arg-type]
    s._on_requests(
        (pb.Request(id="r1", attempt=1, app="queued", endpoint="/x", url="syft://o@e.com/x"),)
    )
    assert tracker.count == 1
    call = s._calls[("r1", 1)]
    call.cancelled = True
    s._cancel(call)
    gate.set()
    assert tracker.wait(10)
    assert not ran and not s._calls and s._q.empty()
    box._calls.pool.shutdown()
