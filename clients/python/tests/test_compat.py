"""syft-event 0.4.3 itself and syft_sidecar serve the same handlers; the real
syft-rpc calls both; status codes, bodies and schema files must match."""

from __future__ import annotations

import json
from typing import Any, List, Tuple

import syft_event
from conftest import OWNER, Datasite, start, wait_for
from handlers import CASES, define

import syft_sidecar


def _run_all(
    ds: Datasite, app: str, cases: List[Any], before_wait: Any = None
) -> List[Tuple[int, Any, dict]]:
    futures = [ds.send(app, ep, body) for ep, body in cases]
    if before_wait is not None:
        before_wait()
    out = []
    for f in futures:
        r = f.wait(timeout=20, poll_interval=0.005)
        out.append((int(r.status_code), r.body, dict(r.headers)))
    return out


def test_same_status_and_bodies_as_syft_event(datasite, make_app, syft_event_site):
    theirs = syft_event.SyftEvents("cmp", client=syft_event_site.owner)
    define(theirs, syft_event)
    # syft-event reads a request file on its create event and can catch it
    # half-written (400 "Error loading request"); so its requests are all
    # written first, and its start() serves them as pending ones.
    try:
        expected = _run_all(syft_event_site, "cmp", CASES, before_wait=theirs.start)
    finally:
        theirs.stop()

    ours = make_app("cmp")
    define(ours, syft_sidecar)
    start(ours)
    got = _run_all(datasite, "cmp", CASES)

    for (ep, body), e, g in zip(CASES, expected, got):
        assert g[0] == e[0], f"{ep} {body!r}: status {g[0]} != syft-event's {e[0]} ({g[1]!r})"
        assert g[1] == e[1], f"{ep} {body!r}: body {g[1]!r} != syft-event's {e[1]!r}"
        assert g[2] == e[2], f"{ep} {body!r}: headers {g[2]} != syft-event's {e[2]}"
    # The cases cover what matters: successes, 400s, 500.
    codes = {g[0] for g in got}
    assert {200, 201, 400, 500} <= codes


def test_debug_error_body_as_syft_event(datasite, make_app, syft_event_site):
    theirs = syft_event.SyftEvents("dbg", client=syft_event_site.owner, debug_mode=True)
    define(theirs, syft_event)
    try:
        fut = syft_event_site.send("dbg", "/boom")
        theirs.start()
        expected = fut.wait(timeout=20, poll_interval=0.005)
    finally:
        theirs.stop()
    ours = make_app("dbg", debug_mode=True)
    define(ours, syft_sidecar)
    start(ours)
    got = datasite.call("dbg", "/boom")

    assert got.status_code == expected.status_code == 500
    assert dict(got.headers) == dict(expected.headers) == {"Content-Type": "application/json"}
    e, g = json.loads(expected.body), json.loads(got.body)
    assert list(g) == list(e)
    for k in ("error_type", "error_message", "function_name"):
        assert g[k] == e[k]
    assert "RuntimeError: kaboom" in g["traceback"]
    # Same layout: json.dumps(indent=2).
    assert got.body.decode() == json.dumps(g, indent=2)


def test_schema_file_equals_syft_event(datasite, make_app, syft_event_site):
    theirs = syft_event.SyftEvents("schema", client=syft_event_site.owner)
    define(theirs, syft_event)
    syft_event_site.rpc_dir("schema").mkdir(parents=True, exist_ok=True)
    theirs.publish_schema()  # writes the file; nothing to stop
    expected = (syft_event_site.rpc_dir("schema") / "rpc.schema.json").read_bytes()

    ours = make_app("schema")
    define(ours, syft_sidecar)
    start(ours)
    path = datasite.rpc_dir("schema") / "rpc.schema.json"
    wait_for(path.exists, "rpc.schema.json")
    assert path.read_bytes() == expected
    assert json.loads(expected) == ours.schemas()


def test_rpc_folder_as_syft_event(datasite, make_app):
    box = make_app("layout")
    define(box, syft_sidecar)
    start(box)
    rpc = datasite.rpc_dir("layout")
    assert (rpc / "syft.pub.yaml").exists()
    assert (rpc / "nested" / "deep" / "path" / ".syftkeep").exists()
    assert box.app_rpc_dir == rpc
    assert box.owner == OWNER


def test_publish_schema_false_sends_no_schema(datasite, make_app):
    box = make_app("noschema", publish_schema=False)

    @box.on_request("/x")
    def x(name: str) -> str:
        """Not published."""
        return name

    start(box)
    # The app's first cleanup runs once its registration, schema step
    # included, is done: after it, a schema would be on disk.
    wait_for(lambda: box.get_cleanup_stats().last_cleanup is not None, "first cleanup")
    # As syft-event: no file at all.
    assert not (datasite.rpc_dir("noschema") / "rpc.schema.json").exists()
