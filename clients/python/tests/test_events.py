"""File events (watch()) and AltaStata-style listeners, served by the real
sidecar on real files."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, List, Tuple

import pytest
import syft_event
from conftest import OWNER, wait_for
from watchdog.events import (
    DirCreatedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemMovedEvent,
)

import syft_sidecar
from syft_sidecar import MissedEvents, SyftEvents
from syft_sidecar._events import Subscription, parse_filter
from syft_sidecar._pb.syftsidecar.v1 import sidecar_pb2 as pb


class Got:
    """What callbacks received, thread-safe, with waits on deadlines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: List[Any] = []

    def add(self, item: Any) -> None:
        with self._lock:
            self.items.append(item)

    def snapshot(self) -> List[Any]:
        with self._lock:
            return list(self.items)

    def wait(self, pred: Any, what: str, within: float = 10.0) -> Any:
        return wait_for(lambda: next((x for x in self.snapshot() if pred(x)), None), what, within)

    def wait_len(self, n: int, what: str, within: float = 10.0) -> List[Any]:
        wait_for(lambda: len(self.snapshot()) >= n, what, within)
        return self.snapshot()


def sig(e: Any) -> Tuple[str, str, str, bool]:
    return (e.event_type, e.src_path, getattr(e, "dest_path", ""), e.is_directory)


def write(p: Path, data: str = "x") -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(data)


@pytest.fixture
def ds_dir(datasite: Any) -> Path:
    d = datasite.data_dir / "datasites" / OWNER
    d.mkdir(parents=True, exist_ok=True)
    return d


# -- filters, without a sidecar ---------------------------------------------


def test_event_filter_forms():
    assert parse_filter(None) == {("created", False), ("modified", False), ("moved", False)}
    assert parse_filter([FileCreatedEvent, DirCreatedEvent]) == {
        ("created", False),
        ("created", True),
    }
    assert parse_filter([FileSystemMovedEvent]) == {("moved", False), ("moved", True)}
    assert parse_filter(["deleted", "dir_moved"]) == {("deleted", False), ("moved", True)}
    assert parse_filter(FileDeletedEvent) == {("deleted", False)}
    from watchdog.events import FileClosedEvent

    with pytest.raises(ValueError, match="not served"):
        parse_filter([FileClosedEvent])
    with pytest.raises(ValueError, match="not served"):
        parse_filter(["touched"])
    with pytest.raises(ValueError, match="empty"):
        parse_filter([])


def test_watch_returns_the_function_and_checks_globs(datasite):
    box = SyftEvents("w", client=datasite.owner, sidecar="unix:///nowhere")

    def f(event):
        pass

    assert box.watch("{datasite}/**/*.json")(f) is f
    with pytest.raises(ValueError, match="globs"):
        box.watch([])


# -- watch() --------------------------------------------------------------------


def test_each_kind_nested_and_renamed_in(make_app, ds_dir):
    # No endpoints: the stream carries only the watch.
    box = make_app("kinds")
    got = Got()

    @box.watch("{datasite}/**/*.json", event_filter=["created", "modified", "moved", "deleted"])
    def on_change(event):
        got.add(event)

    box.start()
    x = ds_dir / "a" / "b" / "c" / "x.json"
    write(x, "1")  # mkdir -p a/b/c && write x.json
    e = got.wait(lambda e: e.event_type == "created", "created")
    assert isinstance(e, FileCreatedEvent)
    assert e.src_path == str(x) and not e.is_directory

    with open(x, "a") as f:
        for _ in range(20):
            f.write("more")
    e = got.wait(lambda e: e.event_type == "modified", "modified")
    assert isinstance(e, FileModifiedEvent) and e.src_path == str(x)

    tmp = ds_dir / "a" / "b" / "c" / "y.json.tmp"  # not matched: renamed in
    write(tmp, "2")
    y = ds_dir / "a" / "b" / "c" / "y.json"
    os.rename(tmp, y)
    e = got.wait(lambda e: e.event_type == "moved", "moved", within=3)
    assert isinstance(e, FileMovedEvent)
    assert (e.src_path, e.dest_path) == (str(tmp), str(y))

    x.unlink()
    e = got.wait(lambda e: e.event_type == "deleted", "deleted")
    assert isinstance(e, FileDeletedEvent) and e.src_path == str(x)
    kinds = [sig(e)[0] for e in got.snapshot()]
    # The first write may also be reported as a modified, after the created.
    assert list(dict.fromkeys(kinds)) == ["created", "modified", "moved", "deleted"]

    # Renamed in at once after its new folders appeared: the sidecar may find
    # it by scanning the new folder (created) or see the rename (moved).
    tmp = ds_dir / "n" / "m" / "z.json.tmp"
    write(tmp, "3")
    os.rename(tmp, tmp.with_name("z.json"))
    e = got.wait(lambda e: sig(e)[1:3] in {(str(tmp.with_name("z.json")), ""),
                                          (str(tmp), str(tmp.with_name("z.json")))},
                 "z.json in new folders")  # fmt: skip
    assert e.event_type in ("created", "moved")


def test_filters_with_watchdog_classes_and_folders(make_app, ds_dir):
    box = make_app("filters")
    created, gone, default, dirs = Got(), Got(), Got(), Got()

    @box.on_request("/ping")  # with an endpoint: the watches follow the Register
    def ping() -> str:
        return "pong"

    box.watch("{datasite}/f/**", event_filter=[FileCreatedEvent])(created.add)
    box.watch("{datasite}/f/**", event_filter=[FileDeletedEvent, FileMovedEvent])(gone.add)
    box.watch("{datasite}/f/**")(default.add)
    box.watch("{datasite}/f/**", event_filter=[DirCreatedEvent, FileCreatedEvent])(dirs.add)
    box.start()

    f = ds_dir / "f" / "sub" / "a.txt"
    write(f)
    d = dirs.wait(lambda e: e.is_directory, "folder created")
    assert isinstance(d, DirCreatedEvent) and d.src_path == str(ds_dir / "f" / "sub")
    created.wait(lambda e: e.src_path == str(f), "file created")
    os.rename(f, f.with_name("b.txt"))
    gone.wait(lambda e: e.event_type == "moved", "moved")
    f.with_name("b.txt").unlink()
    gone.wait(lambda e: e.event_type == "deleted", "deleted")
    default.wait(lambda e: e.event_type == "moved", "moved, default filter")
    dirs.wait(lambda e: not e.is_directory, "file created, folder watch")
    # A last event that every watch would see proves the others are done.
    write(ds_dir / "f" / "sub" / "last.txt")
    for g in (created, default, dirs):
        g.wait(lambda e: e.src_path.endswith("last.txt"), "last")

    assert {e.event_type for e in created.snapshot()} == {"created"}
    assert not any(e.is_directory for e in created.snapshot())
    assert [e.event_type for e in gone.snapshot()] == ["moved", "deleted"]
    assert {e.event_type for e in default.snapshot()} <= {"created", "modified", "moved"}
    assert not any(e.is_directory for e in default.snapshot())
    assert {(e.event_type, e.is_directory) for e in dirs.snapshot()} == {
        ("created", True),
        ("created", False),
    }


def test_raising_callback_is_logged_and_the_next_event_arrives(make_app, ds_dir, caplog):
    box = make_app("raises")
    got = Got()

    @box.watch("{datasite}/r/*.json")
    def flaky(event):
        got.add(event)
        if len(got.snapshot()) == 1:
            raise RuntimeError("callback bug")

    box.start()
    with caplog.at_level(logging.ERROR, logger="syft_sidecar"):
        write(ds_dir / "r" / "1.json")
        got.wait(lambda e: e.src_path.endswith("1.json"), "first")
        write(ds_dir / "r" / "2.json")
        got.wait(lambda e: e.src_path.endswith("2.json"), "second, after the exception")
    assert "RuntimeError: callback bug" in caplog.text
    assert "Traceback" in caplog.text and "flaky" in caplog.text


def test_async_callback(make_app, ds_dir):
    box = make_app("async")
    got = Got()

    @box.watch("{datasite}/as/*.json")
    async def on_change(event):
        got.add(event.src_path)

    box.start()
    write(ds_dir / "as" / "1.json")
    got.wait(lambda p: p.endswith("1.json"), "async callback")


def test_paths_relative_to_the_datasites_folder(make_app, ds_dir):
    """Beside watchdog's absolute src_path and dest_path, each event has the
    sidecar's path and from_path, relative to the datasites folder."""
    box = make_app("relpaths")
    got = Got()
    box.watch("{datasite}/rel/*.json", event_filter=["created", "moved"])(got.add)
    box.start()
    a = ds_dir / "rel" / "a.json"
    write(a)
    e = got.wait(lambda e: e.event_type == "created", "created")
    assert (e.src_path, e.path, e.from_path) == (str(a), f"{OWNER}/rel/a.json", "")
    b = ds_dir / "rel" / "b.json"
    os.rename(a, b)
    e = got.wait(lambda e: e.event_type == "moved", "moved")
    assert (e.src_path, e.dest_path) == (str(a), str(b))
    assert (e.path, e.from_path) == (f"{OWNER}/rel/b.json", f"{OWNER}/rel/a.json")
    assert e == FileMovedEvent(str(a), str(b))  # watchdog's equality stays its own


def test_file_event_without_watchdog(monkeypatch):
    from syft_sidecar import _events

    monkeypatch.setattr(_events, "_watchdog", None)
    e = _events.make_event(("moved", True), "/ds", "o@x.org/new", "o@x.org/old")
    assert e == syft_sidecar.FileEvent(
        "moved", "/ds/o@x.org/old", "/ds/o@x.org/new", True, False, "o@x.org/new", "o@x.org/old"
    )
    e = _events.make_event(("deleted", False), "/ds", "o@x.org/f", "")
    assert (e.src_path, e.dest_path, e.path, e.from_path) == ("/ds/o@x.org/f", "", "o@x.org/f", "")


# -- listeners ------------------------------------------------------------------


def test_share_and_a_custom_event_from_another_app(make_app, ds_dir):
    listener_app = make_app("listens")
    got = Got()
    listener_app.add_event_listener(lambda name, data: got.add((name, data)))
    listener_app.start()

    perm = ds_dir / "public" / "syft.pub.yaml"
    write(perm, "rules: []")
    rel = f"{OWNER}/public/syft.pub.yaml"
    got.wait(lambda x: x == ("CREATE", rel), "CREATE")
    got.wait(lambda x: x[0] == "SHARE", "SHARE")

    publisher = make_app("publishes")
    publisher.start()
    publisher.publish("model-ready", "v2")
    got.wait(lambda x: x == ("model-ready", "v2"), "the custom event")

    os.rename(ds_dir / "public" / "syft.pub.yaml", ds_dir / "public" / "moved.yaml")
    got.wait(lambda x: x[0] == "MOVE", "MOVE")
    assert ("MOVE", f"{rel} -> {OWNER}/public/moved.yaml") in got.snapshot()


def test_listener_added_after_start_and_removed(make_app, ds_dir):
    box = make_app("late")
    box.start()
    with pytest.raises(ValueError):
        box.publish("")
    got = Got()
    listener = box.add_event_listener(lambda name, data: got.add((name, data)))
    box.publish("hello", "1")
    got.wait(lambda x: x == ("hello", "1"), "own published event")
    box.remove_event_listener(listener)
    box.publish("hello", "2")
    again = Got()
    box.add_event_listener(lambda name, data: again.add((name, data)))
    box.publish("hello", "3")
    again.wait(lambda x: x == ("hello", "3"), "after re-adding")
    assert ("hello", "2") not in got.snapshot()  # removed before it came


def test_publish_event_is_a_deprecated_alias(make_app):
    box = make_app("oldname")
    got = Got()
    box.add_event_listener(lambda name, data: got.add((name, data)))
    box.start()
    with pytest.warns(DeprecationWarning, match=r"use publish\(\)"):
        box.publish_event("old", "1")
    got.wait(lambda x: x == ("old", "1"), "the event published by the old name")


# -- resume -----------------------------------------------------------------------


def _drop_connection_while_files_change(box: SyftEvents, res: Path, got: Got) -> List[str]:
    first = box._conn.session
    names = [f"{i:02d}.json" for i in range(30)]
    for i, n in enumerate(names):
        write(res / n)
        if i in (5, 15):
            assert box._conn.session is not None
            box._conn.session.abort()  # the connection drops while files change
    want = [str(res / n) for n in names]
    wait_for(lambda: set(want) <= set(got.snapshot()), "every file", 20)
    assert box._conn.session is not first  # it did reconnect
    write(res / "last.json")
    got.wait(lambda p: p.endswith("last.json"), "last")
    return [*want, str(res / "last.json")]


def test_connection_lost_nothing_lost(make_app, ds_dir):
    box = make_app("resume")
    got, events = Got(), Got()
    box.watch("{datasite}/res/*.json")(lambda e: got.add(e.src_path))
    box.add_event_listener(lambda name, data: events.add((name, data)))
    box.start()
    want = _drop_connection_while_files_change(box, ds_dir / "res", got)
    assert set(got.snapshot()) == set(want)
    rel = {f"{OWNER}/res/{os.path.basename(p)}" for p in want}
    wait_for(
        lambda: rel <= {d for name, d in events.snapshot() if name == "CREATE"},
        "every CREATE for the listeners",
    )


def test_connection_lost_nothing_repeated(make_app, ds_dir):
    box = make_app("repeat")
    got, seen = Got(), Got()

    @box.watch("{datasite}/res/*.json")
    def on_change(e):
        seen.add((e.event_type, e.src_path))
        got.add(e.src_path)

    box.start()
    _drop_connection_while_files_change(box, ds_dir / "res", got)
    # Each write is a created and, once it settles, a modified: never twice.
    events = seen.snapshot()
    assert len(events) == len(set(events)), sorted(events)


def test_listener_added_after_a_watch(make_app, ds_dir):
    box = make_app("latelisten")
    got, heard = Got(), Got()
    box.watch("{datasite}/lw/*.json")(lambda e: got.add(e.src_path))
    box.start()
    write(ds_dir / "lw" / "a.json")
    got.wait(lambda p: p.endswith("a.json"), "before the listener")
    box.add_event_listener(lambda name, data: heard.add(data))
    box.publish("mark", "subscribed")  # the Listen is in place after this
    heard.wait(lambda d: d == "subscribed", "the listener")
    write(ds_dir / "lw" / "b.json")
    got.wait(lambda p: p.endswith("b.json"), "after the listener", within=3)


def test_a_callback_too_slow_loses_events_and_is_told(monkeypatch):
    monkeypatch.setattr(syft_sidecar._events, "MAX_PENDING", 2)
    missed, ran = Got(), Got()
    sub = Subscription("w1", ("{datasite}/*.json",), missed.add, "w1")
    release = threading.Event()
    sub.put(lambda: release.wait(10), 1)
    wait_for(lambda: sub._q.empty(), "the first callback to start")
    for seq in range(2, 7):  # 2 and 3 fit in the queue; 4-6 do not
        sub.put(lambda seq=seq: ran.add(seq), seq)
    release.set()
    m = missed.wait(lambda m: True, "the missed events")
    assert (m.reason, m.from_seq, m.to_seq, m.globs) == ("slow", 4, 6, ("{datasite}/*.json",))
    sub.put(lambda: ran.add(7), 7)
    ran.wait(lambda s: s == 7, "the next event")
    assert ran.snapshot() == [2, 3, 7]
    sub.close(5)


def test_replayed_events_are_dropped_by_cursor():
    sub = Subscription("w1", (), lambda m: None, "w1")
    assert sub.accept(pb.Cursor(run="a", seq=5))
    assert not sub.accept(pb.Cursor(run="a", seq=5))
    assert not sub.accept(pb.Cursor(run="a", seq=3))
    assert sub.accept(pb.Cursor(run="a", seq=6))
    assert sub.accept(pb.Cursor(run="b", seq=1))  # a new sidecar run
    assert sub.after() == pb.Cursor(run="b", seq=1)


def test_sidecar_restart_reports_missed_events(make_app, sidecar, ds_dir):
    missed = Got()
    box = make_app("restart", on_missed=missed.add)
    got = Got()
    box.watch("{datasite}/rs/*.json")(lambda e: got.add(e.src_path))
    box.add_event_listener(lambda name, data: None)
    box.start()
    write(ds_dir / "rs" / "before.json")
    got.wait(lambda p: p.endswith("before.json"), "before")

    sidecar.stop()
    write(ds_dir / "rs" / "while-down.json")
    sidecar.start()
    m = missed.wait(lambda m: m.globs == ("{datasite}/rs/*.json",), "the watch's missed events")
    assert isinstance(m, MissedEvents)
    assert (m.reason, m.restarted, m.id) == ("restart", True, "w1")
    missed.wait(lambda m: m.id == "listeners" and m.restarted, "the listeners' missed events")

    write(ds_dir / "rs" / "after.json")
    got.wait(lambda p: p.endswith("after.json"), "events after the restart")


# -- a syft-event callback, unchanged ----------------------------------------------


def define_watch(box: Any, got: Got) -> None:
    """Written for syft-event: only the SyftEvents it is given changes."""

    @box.watch("{datasite}/inbox/*.json")
    def on_inbox(event):
        if event.event_type == "moved":
            got.add((event.event_type, os.path.basename(event.dest_path), event.is_directory))
        else:
            got.add((event.event_type, os.path.basename(event.src_path), event.is_directory))


def test_a_syft_event_watch_callback_works_unchanged(make_app, datasite, ds_dir):
    theirs_got, ours_got = Got(), Got()
    theirs = syft_event.SyftEvents("watcher_se", client=datasite.owner)
    define_watch(theirs, theirs_got)
    ours = make_app("watcher")
    define_watch(ours, ours_got)
    assert isinstance(ours, syft_sidecar.SyftEvents)
    theirs.start()
    ours.start()
    try:
        inbox = ds_dir / "inbox"
        write(inbox / "msg.json.part", "{}")
        os.rename(inbox / "msg.json.part", inbox / "msg.json")  # delivered by rename
        write(inbox / "new.json", "{}")
        (inbox / "new.json").unlink()  # deletes are not in the default filter
        write(inbox / "z.json", "{}")
        for g in (theirs_got, ours_got):
            g.wait(lambda x: x[1] == "z.json", "the last file")
    finally:
        theirs.stop()
    # watchdog reports a write as created then modified; the sidecar
    # coalesces the write into one event. The same callback served both. What
    # syft-event reports on a loaded machine varies (seen: the rename as a
    # create, the short-lived file not at all), so the sidecar's events are
    # checked against the files, not against syft-event's.
    ours_seen = ours_got.snapshot()
    theirs_seen = theirs_got.snapshot()
    assert ("created", "z.json", False) in theirs_seen
    assert ours_seen.index(("moved", "msg.json", False)) < ours_seen.index(
        ("created", "z.json", False)
    ), ours_seen
    assert not any(x[0] == "deleted" for x in ours_seen + theirs_seen)


def test_publish_right_after_a_bare_start(make_app):
    """An app that only publishes returns from start() with a stream to
    publish on: start() then publish() never finds it unconnected."""
    listener = make_app("hears")
    got = Got()
    listener.add_event_listener(lambda name, data: got.add((name, data)))
    listener.start()
    for i in range(20):
        bare = make_app(f"bare{i}")
        bare.start()
        bare.publish("at-once", str(i))
        bare.stop()
    got.wait(lambda x: x == ("at-once", "19"), "the last event")
