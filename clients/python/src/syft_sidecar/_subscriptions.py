"""An app's watches and its listeners: what each stream opens with, and the
file events, listener events and missed-events reports from the stream,
routed to their callbacks in order."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Optional

from ._events import (
    KIND_FROM_PB,
    KIND_TO_PB,
    MissedEvents,
    Sort,
    Subscription,
    make_event,
)
from ._listeners import ListenerRegistry
from ._pb.syftsidecar.v1 import sidecar_pb2 as pb
from ._workers import LoopThread

log = logging.getLogger("syft_sidecar")

# The id of an app's one Listen.
LISTENERS = "listeners"


@dataclass
class Watch:
    sub: Subscription
    globs: List[str]
    sorts: FrozenSet[Sort]
    func: Callable[..., Any]
    is_async: bool

    def message(self, app: str) -> pb.ConnectRequest:
        kinds = sorted({KIND_TO_PB[k] for k, _ in self.sorts})
        w = pb.Watch(
            id=self.sub.id,
            globs=self.globs,
            kinds=kinds,
            include_dirs=any(d for _, d in self.sorts),
            app=app,
        )
        after = self.sub.after()
        if after is not None:
            w.after.CopyFrom(after)
        return pb.ConnectRequest(watch=w)


class Subscriptions:
    """The watches and listeners of one app.

    Adding one and building what a stream opens with run under the app's
    lock (so that each goes out once, on the stream open then or the next);
    ``route`` runs on the stream's receive thread and only queues the
    callbacks, which run on each subscription's own thread.
    """

    def __init__(
        self,
        app_name: str,
        loop: LoopThread,
        datasites_root: Callable[[], str],
        on_missed: Optional[Callable[[MissedEvents], Any]] = None,
    ) -> None:
        self._app_name = app_name
        self._loop = loop
        self._datasites_root = datasites_root
        self.on_missed = on_missed
        self.watches: Dict[str, Watch] = {}
        self.listeners = ListenerRegistry()
        self.listen = Subscription(LISTENERS, (), self._missed, LISTENERS)
        self._listening = False  # a Listen is on the stream (or queued for it)

    # -- under the app's lock ------------------------------------------------

    def add_watch(
        self, globs: List[str], sorts: FrozenSet[Sort], func: Callable[..., Any]
    ) -> pb.ConnectRequest:
        """Add a watch; returns its Watch message for the open stream."""
        wid = f"w{len(self.watches) + 1}"
        name = getattr(func, "__name__", repr(func))
        sub = Subscription(wid, tuple(globs), self._missed, f"watch {globs} ({name})")
        w = Watch(sub, globs, sorts, func, inspect.iscoroutinefunction(func))
        self.watches[wid] = w
        return w.message(self._app_name)

    def listen_now(self) -> Optional[pb.ConnectRequest]:
        """The Listen to send now: with the first listener. It stays for the
        stream's life (events with no listener go nowhere): an Unlisten would
        make the sidecar swap the datasite's tree for narrower ones, and it
        loses events when trees are swapped (see the README)."""
        if self._listening or not self.listeners.listeners():
            return None
        self._listening = True
        return self._listen_msg()

    def opening(self) -> List[pb.ConnectRequest]:
        """What a new stream opens with, after the Register: every watch and
        the Listen, each resuming after the last event it delivered. The
        Listen first: its tree (the whole datasite) covers the watches', so
        the sidecar never swaps a narrower tree for it."""
        self._listening = bool(self.listeners.listeners())
        if not self._listening:
            self.listen.reset()  # listeners added later start from then
        opening = [self._listen_msg()] if self._listening else []
        return opening + [w.message(self._app_name) for w in self.watches.values()]

    def empty(self) -> bool:
        return not self.watches and not self.listeners.listeners()

    def _listen_msg(self) -> pb.ConnectRequest:
        m = pb.Listen(id=LISTENERS)
        after = self.listen.after()
        if after is not None:
            m.after.CopyFrom(after)
        return pb.ConnectRequest(listen=m)

    # -- on the receive thread -----------------------------------------------

    def route(self, m: pb.ConnectResponse) -> None:
        """Queue what an event message asks for on its subscription."""
        kind = m.WhichOneof("msg")
        if kind == "file_event":
            self._on_file_event(m.file_event)
        elif kind == "listener_event":
            ev = m.listener_event
            if ev.listener_id != LISTENERS or not self.listen.accept(ev.cursor):
                return
            name, data = ev.name, ev.data
            self.listen.put(lambda: self.listeners.emit(name, data), ev.cursor.seq)
        elif kind == "missed_events":
            self._on_missed_events(m.missed_events)
        elif kind == "subscribed":
            sub = self._subscription(m.subscribed.id)
            if sub is not None:
                # A resume from here misses nothing, even with no event yet.
                sub.accept(m.subscribed.cursor)
                log.debug("subscribed %s, watching %s", sub.label, list(m.subscribed.roots))

    def _subscription(self, id: str) -> Optional[Subscription]:
        if id == LISTENERS:
            return self.listen
        w = self.watches.get(id)
        return w.sub if w is not None else None

    def _on_file_event(self, ev: pb.FileEvent) -> None:
        w = self.watches.get(ev.watch_id)
        if w is None:
            log.debug("file event for unknown watch %s", ev.watch_id)
            return
        if not w.sub.accept(ev.cursor):
            log.debug("dropping replayed event %s:%d", ev.cursor.run, ev.cursor.seq)
            return
        log.debug("file event %s %s:%d %s", ev.watch_id, ev.cursor.run, ev.cursor.seq, ev.path)
        sort = (KIND_FROM_PB.get(ev.kind, ""), ev.is_dir)
        if sort not in w.sorts:
            return  # asked of the sidecar only for another kind or folders
        event = make_event(sort, self._datasites_root(), ev.path, getattr(ev, "from"))
        w.sub.put(lambda: self._call_watch(w, event), ev.cursor.seq)

    def _call_watch(self, w: Watch, event: Any) -> None:
        if w.is_async:
            self._loop.wait(w.func(event))
            return
        r = w.func(event)
        if inspect.isawaitable(r):
            self._loop.wait(r)

    def _on_missed_events(self, m: pb.MissedEvents) -> None:
        sub = self._subscription(m.id)
        if sub is None:
            return
        missed = MissedEvents(
            id=m.id,
            globs=sub.globs,
            reason=m.reason,
            restarted=m.restarted,
            from_seq=m.from_seq,
            to_seq=m.to_seq,
        )
        # In order with the events: the hook runs where the callbacks run.
        sub.put(lambda: self._missed(missed), m.to_seq)

    def _missed(self, m: MissedEvents) -> None:
        where = f"watch {list(m.globs)}" if m.globs else "listeners"
        span = f" (seq {m.from_seq}-{m.to_seq})" if m.to_seq else ""
        log.warning("%s missed events: %s%s; rescan what it covers", where, m.reason, span)
        hook = self.on_missed
        if hook is not None:
            r = hook(m)
            if inspect.isawaitable(r):
                self._loop.wait(r)

    # -- stopping ------------------------------------------------------------

    def close(self, timeout: float) -> None:
        """Run the callbacks already queued (within ``timeout`` each), then
        end the subscriptions' threads."""
        for sub in [w.sub for w in self.watches.values()] + [self.listen]:
            sub.close(timeout)
