"""File events and listener events from the sidecar: event objects with
watchdog's attributes, event filters, and the subscriptions that deliver them
in order on a thread of their own."""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple

from ._pb.syftsidecar.v1 import sidecar_pb2 as pb

log = logging.getLogger("syft_sidecar")

__all__ = ["FileEvent", "MissedEvents"]

# What one subscription may hold before its callbacks run; past it, events
# are dropped and reported as missed (reason "slow"), as the sidecar does
# for a slow stream, so that a slow callback never stalls the stream.
MAX_PENDING = 10_000

CREATED, MODIFIED, MOVED, DELETED = "created", "modified", "moved", "deleted"
_KINDS = (CREATED, MODIFIED, MOVED, DELETED)
KIND_FROM_PB = {
    pb.FILE_EVENT_KIND_CREATED: CREATED,
    pb.FILE_EVENT_KIND_MODIFIED: MODIFIED,
    pb.FILE_EVENT_KIND_MOVED: MOVED,
    pb.FILE_EVENT_KIND_DELETED: DELETED,
}
KIND_TO_PB = {v: k for k, v in KIND_FROM_PB.items()}

# (kind, is_directory): what a watch delivers.
Sort = Tuple[str, bool]
DEFAULT_SORTS: FrozenSet[Sort] = frozenset({(CREATED, False), (MODIFIED, False), (MOVED, False)})

_watchdog: Optional[Dict[Sort, type]]
try:
    from watchdog import events as _wd

    _watchdog = {
        (CREATED, False): _wd.FileCreatedEvent,
        (MODIFIED, False): _wd.FileModifiedEvent,
        (MOVED, False): _wd.FileMovedEvent,
        (DELETED, False): _wd.FileDeletedEvent,
        (CREATED, True): _wd.DirCreatedEvent,
        (MODIFIED, True): _wd.DirModifiedEvent,
        (MOVED, True): _wd.DirMovedEvent,
        (DELETED, True): _wd.DirDeletedEvent,
    }
except ImportError:  # pragma: no cover - watchdog is optional
    _watchdog = None


@dataclass(frozen=True)
class FileEvent:
    """A file event with watchdog's attributes, for when watchdog is not
    installed (with watchdog, callbacks get watchdog's own event classes,
    with ``path`` and ``from_path`` set on them too).

    ``src_path`` and ``dest_path`` are absolute, as watchdog's: the
    datasites folder joined with the path the sidecar reports; for a move
    ``src_path`` is the source and ``dest_path`` the destination, else
    ``dest_path`` is empty. ``path`` and ``from_path`` are relative to the
    datasites folder, as the sidecar reports them (and as the Go client's
    ``Path`` and ``From``): ``path`` is the file (for a move, the
    destination), ``from_path`` the source of a move, else empty.
    """

    event_type: str
    src_path: str
    dest_path: str = ""
    is_directory: bool = False
    is_synthetic: bool = False
    path: str = ""
    from_path: str = ""


@dataclass(frozen=True)
class MissedEvents:
    """Events that were lost for a watch or the listeners, as the sidecar
    (or this client, for a callback too slow to keep up) reports them:
    rescan what the subscription covers.

    ``reason`` is one of:

    - ``"restart"``: the sidecar restarted; everything between is unknown.
    - ``"compacted"``: the events were older than the sidecar's event
      buffer (``--event-buffer``) when the subscription resumed.
    - ``"slow"``: the subscriber fell behind, the sidecar's stream or this
      client's queue of callbacks (more than 10,000 events waiting).
    - ``"overflow"``: the kernel's event queue overflowed and dropped events.
    - ``"unwatched"``: a folder went unwatched, so changes in it were never
      seen: one could not be watched (such as past the kernel's limit on
      watches), or a watched tree was dropped while this subscription was
      away (it resumes from a cursor before that moment).
    ``from_seq``/``to_seq`` are the lost sequence numbers, inclusive, when
    known (0 otherwise). ``globs`` are the watch's globs as given to
    ``watch()``; empty for the listeners.
    """

    id: str
    globs: Tuple[str, ...]
    reason: str
    restarted: bool = False
    from_seq: int = 0
    to_seq: int = 0


def parse_filter(event_filter: Any) -> FrozenSet[Sort]:
    """The (kind, is_directory) pairs an ``event_filter`` accepts.

    Items are watchdog event classes (matched as watchdog matches them, so a
    base class such as ``FileSystemMovedEvent`` takes both moves) or this
    package's kinds: ``"created"``, ``"modified"``, ``"moved"``,
    ``"deleted"`` for files, ``"dir_created"`` and so on for folders.
    """
    if event_filter is None:
        return DEFAULT_SORTS
    items: Iterable[Any] = [event_filter] if isinstance(event_filter, (str, type)) else event_filter
    sorts: set[Sort] = set()
    for item in items:
        got = _sorts_of(item)
        if not got:
            raise ValueError(
                f"event_filter: {item!r} is not served by syft-sidecar (it reports created, "
                "modified, moved and deleted files and folders)"
            )
        sorts |= got
    if not sorts:
        raise ValueError("event_filter is empty: no event would be delivered")
    return frozenset(sorts)


def _sorts_of(item: Any) -> FrozenSet[Sort]:
    if isinstance(item, str):
        is_dir = item.startswith("dir_")
        kind = item[4:] if is_dir else item
        if kind not in _KINDS:
            return frozenset()
        return frozenset({(kind, is_dir)})
    if isinstance(item, type) and _watchdog is not None:
        return frozenset(s for s, cls in _watchdog.items() if issubclass(cls, item))
    return frozenset()


def make_event(sort: Sort, root: str, path: str, from_path: str) -> Any:
    """A watchdog event (when watchdog is installed) or a ``FileEvent``, for
    the sidecar's ``path`` and ``from`` (a move's source) relative to the
    datasites folder ``root``: watchdog's absolute paths, and the sidecar's
    relative ones as ``path`` and ``from_path``."""
    kind, is_dir = sort
    if kind == MOVED:
        src, dest = os.path.join(root, from_path), os.path.join(root, path)
    else:
        src, dest = os.path.join(root, path), ""
    if _watchdog is not None:
        cls = _watchdog[sort]
        ev = cls(src, dest) if kind == MOVED else cls(src)
        # Not fields of watchdog's dataclass: equality and hashing stay its own.
        ev.path, ev.from_path = path, from_path
        return ev
    return FileEvent(kind, src, dest, is_dir, False, path, from_path)


Cursor = Tuple[str, int]


class Subscription:
    """One Watch or the Listen of an app: its resume cursor, and a worker
    thread that runs its callbacks in the order the events arrived."""

    def __init__(
        self,
        id: str,
        globs: Tuple[str, ...],
        on_missed: Callable[[MissedEvents], None],
        label: str,
    ) -> None:
        self.id = id
        self.label = label
        self.globs = globs
        self.cursor: Optional[Cursor] = None
        self._on_missed = on_missed
        self._lock = threading.Lock()
        self._q: queue.Queue[Optional[Callable[[], Any]]] = queue.Queue(MAX_PENDING)
        self._thread: Optional[threading.Thread] = None
        self._dropped: Optional[Tuple[int, int]] = None
        self._closed = False

    def accept(self, c: pb.Cursor) -> bool:
        """Whether an event at ``c`` is new (after the cursor), and if so
        move the cursor to it. A replay overlapping what was delivered is
        dropped here, so no event runs twice."""
        with self._lock:
            if self.cursor is not None and c.run == self.cursor[0] and c.seq <= self.cursor[1]:
                return False
            self.cursor = (c.run, c.seq)
            return True

    def reset(self) -> None:
        with self._lock:
            self.cursor = None

    def after(self) -> Optional[pb.Cursor]:
        with self._lock:
            if self.cursor is None:
                return None
            return pb.Cursor(run=self.cursor[0], seq=self.cursor[1])

    def put(self, job: Callable[[], Any], seq: int) -> None:
        """Queue a callback; dropped (and reported as missed) when the
        queue is full. Never blocks the stream."""
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"syft-events-{self.id}", daemon=True
                )
                self._thread.start()
            try:
                self._q.put_nowait(job)
            except queue.Full:
                if self._dropped is None:
                    log.warning("%s: callbacks fall behind, dropping events", self.label)
                    self._dropped = (seq, seq)
                else:
                    self._dropped = (self._dropped[0], seq)

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            _call(job, self.label)
            with self._lock:
                dropped, self._dropped = self._dropped, None
            if dropped is not None:
                m = MissedEvents(self.id, self.globs, "slow", False, dropped[0], dropped[1])
                _call(partial(self._on_missed, m), self.label)

    def close(self, timeout: float) -> None:
        """Run what is queued (within ``timeout``), then end the worker."""
        with self._lock:
            self._closed = True
            t = self._thread
        if t is None:
            return
        try:
            self._q.put(None, timeout=timeout)
        except queue.Full:
            log.warning("%s: callbacks still running; abandoning them", self.label)
            return
        t.join(timeout)


def _call(job: Callable[[], Any], label: str) -> None:
    try:
        job()
    except Exception:
        log.exception("%s raised", label)


def globs_of(glob_path: Any) -> List[str]:
    globs = [glob_path] if isinstance(glob_path, str) else list(glob_path)
    if not globs or not all(isinstance(g, str) and g.strip() for g in globs):
        raise ValueError(f"watch() needs one or more non-empty globs, got {glob_path!r}")
    return globs
