"""What real syft-event apps do beyond the README: the library-client loop,
init(), stopping with _stop_event, a None reply, encrypted calls, duplicate
registration, a bare UUID body. Each is served by syft-event 0.4.3 and by
syft_sidecar side by side where syft-event serves it, with the real syft-rpc
as the caller; only the module the names come from differs.

No ``from __future__ import annotations`` here: the handlers are defined
inside functions and annotated with that function's names (``mod.Request``),
which must be evaluated where they are written."""

import datetime
import enum
import json
import logging
import threading
import uuid
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Tuple

import pydantic
import pytest
import syft_event
import syft_event.cleanup
import syft_event.server2
import syft_event.types
from conftest import OWNER, SENDER, Datasite, start, wait_for
from syft_crypto import EncryptedPayload, decrypt_message, x3dh_bootstrap

import syft_sidecar
import syft_sidecar.cleanup
import syft_sidecar.server2
import syft_sidecar.types

# -- the library-client loop: start(), then process_pending_requests() -------


def _library_app(
    mod: ModuleType, box: Any, stop: threading.Event, started: threading.Event
) -> Callable[[], None]:
    """An app written as a library (the shape of syft-extras' pingpong and
    chat clients): handlers registered in a thread, start(), then
    process_pending_requests() in its own loop until told to stop."""
    Request = mod.Request

    @box.on_request("/ping")
    def ping(data: dict, ctx: Request) -> dict:
        return {"pong": data["n"], "from": ctx.sender}

    def run() -> None:
        try:
            box.start()
            started.set()
            while not stop.is_set():
                box.process_pending_requests()
                stop.wait(0.05)
        finally:
            box.stop()

    return run


def _serve_library(mod: ModuleType, box: Any, ds: Datasite, before: int, during: int) -> List[Any]:
    stop, started = threading.Event(), threading.Event()
    t = threading.Thread(target=_library_app(mod, box, stop, started), daemon=True)
    futures = [ds.send("lib", "/ping", {"n": i}) for i in range(before)]
    t.start()
    try:
        assert started.wait(15), "the app did not start"
        futures += [ds.send("lib", "/ping", {"n": before + i}) for i in range(during)]
        return [f.wait(timeout=20, poll_interval=0.005) for f in futures]
    finally:
        stop.set()
        t.join(20)
        assert not t.is_alive(), "the app's loop did not end"


def test_library_loop_with_process_pending_requests(datasite, sidecar, syft_event_site, make_app):
    # syft-event reads a request on its create event and can catch it
    # half-written, so its requests are all written before start().
    theirs = syft_event.SyftEvents("lib", client=syft_event_site.owner)
    expected = _serve_library(syft_event, theirs, syft_event_site, before=4, during=0)

    ours = make_app("lib")
    got = _serve_library(syft_sidecar, ours, datasite, before=2, during=2)

    for e, g in zip(expected, got):
        assert (g.status_code, json.loads(g.body)) == (e.status_code, json.loads(e.body))
    assert [json.loads(g.body)["pong"] for g in got] == [0, 1, 2, 3]
    assert {json.loads(g.body)["from"] for g in got} == {SENDER}


def test_process_pending_requests_answers_before_it_returns(
    datasite, sidecar, syft_event_site, make_app
):
    """As syft-event's: called on an app that is not started, it returns
    once the requests that waited have their responses."""
    results = []
    for mod, ds, make in (
        (
            syft_event,
            syft_event_site,
            lambda: syft_event.SyftEvents("pend", client=syft_event_site.owner),
        ),
        (syft_sidecar, datasite, lambda: make_app("pend")),
    ):
        box = make()

        @box.on_request("/echo")
        def echo(text: str) -> str:
            return text.upper()

        futures = [ds.send("pend", "/echo", f"r{i}") for i in range(3)]
        try:
            box.process_pending_requests()
            # No wait: the responses are on disk when the call returns.
            got = [f.resolve() for f in futures]
        finally:
            if mod is syft_sidecar:  # syft-event's stop() raises when not started
                box.stop()
        assert all(r is not None for r in got), f"{mod.__name__}: not all answered"
        results.append(sorted((r.status_code, r.body) for r in got))
    assert results[0] == results[1] == [(200, b"R0"), (200, b"R1"), (200, b"R2")]


def test_process_pending_requests_returns_after_timeout(datasite, sidecar, make_app, caplog):
    box = make_app("slowpend")
    release = threading.Event()

    @box.on_request("/slow")
    def slow() -> str:
        release.wait(20)
        return "done"

    fut = datasite.send("slowpend", "/slow")
    try:
        with caplog.at_level(logging.WARNING, logger="syft_sidecar"):
            box.process_pending_requests(timeout=0.2)
        assert fut.resolve() is None  # still running: it did not wait for it
        assert "1 pending requests of slowpend still unanswered" in caplog.text
    finally:
        release.set()
    assert fut.wait(timeout=15, poll_interval=0.005).body == b"done"


# -- init() --------------------------------------------------------------------


def _hello(box: Any) -> None:
    @box.on_request("/hello")
    def hello(name: str) -> str:
        """Says hello."""
        return f"hello {name}"


def test_init_writes_the_app_folder_as_syft_event(datasite, sidecar, syft_event_site, make_app):
    theirs = syft_event.SyftEvents("ini", client=syft_event_site.owner)
    _hello(theirs)
    theirs.init()
    want = syft_event_site.rpc_dir("ini")

    ours = make_app("ini")
    _hello(ours)
    ours.init()
    rpc = datasite.rpc_dir("ini")
    assert (rpc / "syft.pub.yaml").read_text() == (want / "syft.pub.yaml").read_text()
    assert syft_sidecar.server2.PERMS == syft_event.server2.PERMS
    assert (rpc / "syft.pub.yaml").read_text() == syft_sidecar.server2.PERMS
    assert (rpc / "hello" / ".syftkeep").exists()
    # The sidecar writes the schema just after it acknowledges.
    schema = rpc / "rpc.schema.json"
    wait_for(schema.exists, "rpc.schema.json")
    assert schema.read_bytes() == (want / "rpc.schema.json").read_bytes()
    # Unlike syft-event, the app is served from init() on; start() adds nothing.
    assert datasite.call("ini", "/hello", "ann").body == b"hello ann"
    ours.start()
    assert datasite.call("ini", "/hello", "bob").body == b"hello bob"


def test_handlers_registered_after_start(datasite, sidecar, make_app):
    box = make_app("later")
    _hello(box)
    start(box)

    @box.on_request("/added")
    def added(data: dict) -> dict:
        """Registered while serving."""
        return {"added": data}

    assert json.loads(datasite.call("later", "/added", {"a": 1}).body) == {"added": {"a": 1}}
    schema = datasite.rpc_dir("later") / "rpc.schema.json"
    wait_for(lambda: "/added" in json.loads(schema.read_text()), "/added in the schema")
    assert json.loads(schema.read_text()) == box.schemas()


# -- duplicate registration ---------------------------------------------------------


def _twice(box: Any, mod: ModuleType) -> None:
    @box.on_request("/v")
    def first() -> str:
        return "first"

    @box.on_request("/v")
    def second() -> str:
        return "second"

    router = mod.EventRouter()

    @router.on_request("/w")
    def r_first() -> str:
        return "r-first"

    @router.on_request("/w")
    def r_second() -> str:
        return "r-second"

    box.include_router(router, prefix="/r")


def test_duplicate_registration_keeps_the_second(
    datasite, sidecar, syft_event_site, make_app, caplog
):
    theirs = syft_event.SyftEvents("dup", client=syft_event_site.owner)
    _twice(theirs, syft_event)
    futures = [syft_event_site.send("dup", ep) for ep in ("/v", "/r/w")]
    try:
        theirs.start()  # serves the pending requests with the registered handlers
        expected = [f.wait(timeout=20, poll_interval=0.005).body for f in futures]
    finally:
        theirs.stop()

    ours = make_app("dup")
    with caplog.at_level(logging.WARNING, logger="syft_sidecar"):
        _twice(ours, syft_sidecar)
    start(ours)
    got = [datasite.call("dup", ep).body for ep in ("/v", "/r/w")]
    assert got == expected == [b"second", b"r-second"]
    assert "endpoint /v registered again" in caplog.text
    assert "router endpoint /w registered again" in caplog.text


# -- syft-flwr's client: _stop_event, a None reply, encrypted calls ------------------


def _bootstrap(ds: Datasite, monkeypatch: pytest.MonkeyPatch) -> None:
    # syft-crypto asks the SyftBox server for DID documents first; offline,
    # it reads the local datasites.
    monkeypatch.setattr(x3dh_bootstrap, "_fetch_did_from_server", lambda *a: None)
    assert x3dh_bootstrap.bootstrap_user(ds.owner, force=True)
    assert x3dh_bootstrap.bootstrap_user(ds.sender, force=True)


def _flwr_like(mod: ModuleType, box: Any) -> None:
    """The shape of syft-flwr's flower_client: one encrypted endpoint; a stop
    message sets the app's _stop_event and is answered with None."""

    @box.on_request("/messages", auto_decrypt=True, encrypt_reply=True)
    def messages(request: mod.Request) -> Optional[str]:
        text = request.body.decode()
        if text == "stop":
            box._stop_event.set()
            return None
        return f"{text} from {request.headers.get('X-Syft-Original-Sender')}"


def _run_flwr_like(mod: ModuleType, box: Any, ds: Datasite, live: bool) -> Tuple[List[Any], bool]:
    _flwr_like(mod, box)
    futures = [ds.send(box.app_name, "/messages", "round 1", encrypt=True)]
    if not live:
        futures.append(ds.send(box.app_name, "/messages", "stop", encrypt=True))
    t = threading.Thread(target=box.run_forever, daemon=True)
    t.start()
    if not live:
        # syft-event answers both inside start() and then stops; its
        # responses are read once written (it writes them in place, so a
        # poll can catch one half-written).
        t.join(20)
        return [f.resolve() for f in futures], not t.is_alive()
    got = [futures[0].wait(timeout=20, poll_interval=0.005)]
    futures.append(ds.send(box.app_name, "/messages", "stop", encrypt=True))
    got.append(futures[1].wait(timeout=20, poll_interval=0.005))
    t.join(20)
    return got, not t.is_alive()


def _opened(r: Any, ds: Datasite) -> Tuple[int, Optional[str]]:
    if r.body is None:
        return int(r.status_code), None
    payload = EncryptedPayload.model_validate_json(r.body)
    assert (payload.sender, payload.receiver) == (OWNER, SENDER)
    return int(r.status_code), decrypt_message(payload, client=ds.sender)


def test_flwr_client_pattern(datasite, sidecar, syft_event_site, make_app, monkeypatch):
    _bootstrap(syft_event_site, monkeypatch)
    _bootstrap(datasite, monkeypatch)
    theirs = syft_event.SyftEvents("flwr", client=syft_event_site.owner)
    # Both requests wait before run_forever(): syft-event can read a live
    # one half-written.
    expected, their_end = _run_flwr_like(syft_event, theirs, syft_event_site, live=False)
    # Ours takes the stop message while it runs, as syft-flwr's server sends it.
    got, our_end = _run_flwr_like(syft_sidecar, make_app("flwr"), datasite, live=True)

    assert their_end and our_end, "run_forever() did not return after _stop_event.set()"
    want = [_opened(r, syft_event_site) for r in expected]
    assert [_opened(r, datasite) for r in got] == want
    assert want == [(200, f"round 1 from {SENDER}"), (200, None)]


# -- arguments: a bare UUID, a bare string for str-like types -----------------------


class Color(str, enum.Enum):
    red = "red"
    blue = "blue"


class User(pydantic.BaseModel):
    uid: uuid.UUID
    name: str


def _crud(box: Any, store: Dict[uuid.UUID, User]) -> None:
    @box.on_request("/user/get")
    def get_user(uid: uuid.UUID) -> Optional[User]:
        return store.get(uid)

    @box.on_request("/day")
    def day(d: datetime.date) -> str:
        return d.strftime("%A")

    @box.on_request("/color")
    def color(c: Color) -> str:
        return c.value.upper()


def test_bare_uuid_and_str_like_bodies(datasite, sidecar, syft_event_site, make_app):
    u = uuid.uuid4()
    store = {u: User(uid=u, name="ann")}
    # syft-event cannot inject these types at all.
    theirs = syft_event.SyftEvents("crud", client=syft_event_site.owner)
    _crud(theirs, store)
    fut = syft_event_site.send("crud", "/user/get", str(u))
    try:
        theirs.start()
        r = fut.wait(timeout=20, poll_interval=0.005)
    finally:
        theirs.stop()
    assert r.status_code == 400 and b"Unknown type <class 'uuid.UUID'>" in r.body

    ours = make_app("crud")
    _crud(ours, store)
    start(ours)
    # syft-rpc sends a str body bare: the crud example's call.
    r = datasite.call("crud", "/user/get", str(u))
    assert r.status_code == 200
    assert User.model_validate_json(r.body) == store[u]
    # As JSON it still works, and an unknown id is a null body.
    assert User.model_validate_json(datasite.call("crud", "/user/get", f'"{u}"').body).name == "ann"
    assert datasite.call("crud", "/user/get", str(uuid.uuid4())).body is None
    assert datasite.call("crud", "/day", "2025-11-05").body == b"Wednesday"
    assert datasite.call("crud", "/color", "blue").body == b"BLUE"
    # Not a UUID: pydantic's reason, not a JSON parse error.
    r = datasite.call("crud", "/user/get", "not-a-uuid")
    assert r.status_code == 400
    assert b"Input should be a valid UUID" in r.body
    assert b"Invalid JSON" not in r.body
    r = datasite.call("crud", "/color", "green")
    assert r.status_code == 400 and b"Input should be 'red' or 'blue'" in r.body


# -- the smaller names -------------------------------------------------------------


def test_request_is_a_pydantic_model_as_in_syft_event():
    for mod in (syft_event.types, syft_sidecar.types):
        with pytest.raises(pydantic.ValidationError, match="url\n  Field required"):
            mod.Request(id="1", sender=SENDER, method="GET", body=None)
        r = mod.Request(
            id="1", sender=SENDER, url=f"syft://{OWNER}/app_data/a/rpc/b", method="GET", body=None
        )
        assert (r.headers, str(r.url)) == ({}, f"syft://{OWNER}/app_data/a/rpc/b")
        assert mod.Response().model_dump() == {"body": None, "status_code": 200, "headers": None}


def test_cleanup_stats_str_and_callback(caplog):
    stats = []
    for mod in (syft_event.cleanup, syft_sidecar.cleanup):
        s = mod.CleanupStats()
        s.requests_deleted, s.responses_deleted, s.errors = 3, 2, 1
        s.last_cleanup = datetime.datetime(2025, 11, 5, 10, 15, 30, tzinfo=datetime.timezone.utc)
        stats.append(s)
    assert str(stats[1]) == str(stats[0])
    assert str(stats[1]).startswith("CleanupStats(requests=3, responses=2, errors=1, ")

    callback = syft_sidecar.cleanup.create_cleanup_callback("myapp")
    with caplog.at_level(logging.INFO, logger="syft_sidecar"):
        callback(stats[1])
    assert "[myapp] Cleanup completed: 3 requests, 2 responses, 1 errors" in caplog.text


def test_periodic_cleanup_attribute_as_syft_flwr_reads_it(datasite, sidecar, make_app):
    box = make_app("flwrstats", cleanup_expiry="1d", cleanup_interval="1d")
    _hello(box)
    # Before start(), as syft-event's: not running, nothing deleted yet.
    assert box.is_cleanup_running() is False
    assert str(box._periodic_cleanup.get_stats()) == str(syft_sidecar.cleanup.CleanupStats())
    start(box)
    assert box._periodic_cleanup.is_running() is True
    assert box._periodic_cleanup.get_stats().last_cleanup is not None
