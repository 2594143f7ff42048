"""SyftEvents: syft-event's API, served through the syft-sidecar process.

The facade over the machinery: what apps call is here; the connection to
the sidecar is ``_connection`` (over ``_session``, one stream, and
``_channel``, which dials), the serving of calls ``_calls``, and the watches
and listeners ``_subscriptions``. This module wires them together and holds
the app's lifecycle.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

import grpc

from ._calls import CallServer, Endpoint, answered, extend_deadline, in_handler, pending_requests
from ._channel import Dial, bearer
from ._config import ConfigError, LocalClient, load_client, resolve_address
from ._connection import Connection, Hello, describe, register_message
from ._events import MissedEvents, globs_of, parse_filter
from ._listeners import EventListener
from ._pb.syftsidecar.v1 import sidecar_pb2 as pb
from ._session import CLOSE_TIMEOUT
from ._spawn import SpawnPolicy
from ._subscriptions import Subscriptions
from ._workers import LoopThread
from .cleanup import AppCleanup, CleanupStats, parse_time_interval, stats_from_pb
from .router import EventRouter
from .schema import generate_schema

log = logging.getLogger("syft_sidecar")

F = TypeVar("F", bound=Callable[..., Any])

# Requests a stream takes at once, and the most sync handlers run at once.
# The sidecar sends and takes batches of at most what is in flight, and
# grpcio pays a few thread hand-offs per message, which cost more than a
# quick handler; and while every request in flight waits in one process, the
# other stands idle: with 20,000 requests waiting, 64 in flight took the
# client's CPU per request from 65 to 41 us against 16, and 256 its rate up
# by another fifth against 64 (issue 15). Threads start only as handlers
# block, so the pool stays small while they return quickly.
DEFAULT_MAX_IN_FLIGHT = 256
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 30.0

_APP_RE = re.compile(r"^[A-Za-z0-9._-]+$")


class SyftEvents:
    """A SyftBox app's RPC handlers, served through syft-sidecar.

    The API is syft-event's ``SyftEvents``; the sidecar watches the files,
    writes the permission, schema and response files, and streams requests
    here over gRPC. Handlers run concurrently: sync ones on a pool of
    ``max_in_flight`` threads, async ones on one event loop; ``state`` is a
    plain dict shared by all of them (guard it with a lock if handlers
    modify it concurrently).
    """

    def __init__(
        self,
        app_name: str,
        publish_schema: bool = True,
        client: Optional[Any] = None,
        debug_mode: bool = False,
        cleanup_expiry: str = "30d",
        cleanup_interval: str = "1h",
        *,
        sidecar: Optional[str] = None,
        spawn_sidecar: Optional[bool] = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        token: Optional[str] = None,
        credentials: Optional[grpc.ChannelCredentials] = None,
        on_missed: Optional[Callable[[MissedEvents], Any]] = None,
    ) -> None:
        if not _APP_RE.match(app_name or ""):
            raise ValueError(f"invalid app name {app_name!r}: use letters, digits, '.', '_', '-'")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        parse_time_interval(cleanup_expiry)  # syft-event's errors, at once
        parse_time_interval(cleanup_interval)
        self.cleanup_expiry = cleanup_expiry
        self.cleanup_interval = cleanup_interval
        self.app_name = app_name
        self.schema = publish_schema
        self.state: Dict[str, Any] = {}
        self.debug_mode = debug_mode
        self.client: Any = client if client is not None else load_client()
        self.app_dir: Path = Path(self.client.app_data(self.app_name))
        self.app_rpc_dir: Path = self.app_dir / "rpc"
        self.max_in_flight = max_in_flight
        self.connect_timeout = connect_timeout
        self.stop_timeout = stop_timeout
        self._sidecar_arg = sidecar
        self._metadata = bearer(token)
        self._credentials = credentials
        self._client_given = client is not None
        self._spawn = spawn_sidecar
        self._address: Optional[str] = None
        self.owner: Optional[str] = None
        self.sidecar_rpc_dir: Optional[str] = None
        self.sidecar_datasites_dir: Optional[str] = None
        # The version the sidecar reported at registration (None: not yet, or a
        # sidecar that predates version exchange).
        self.sidecar_version: Optional[str] = None

        # Guards the endpoints, watches and listeners against the stream
        # that opens with them: each goes out once, now or with the next.
        self._lock = threading.Lock()
        self._state = "new"  # new -> started -> stopped
        # Set by stop(), by a refused registration, or by the app itself
        # (syft-flwr stops run_forever() so, from a handler).
        self._stop_event = threading.Event()
        self._loop = LoopThread("syft-async-handlers")
        self._calls = CallServer(self, app_name, self._loop)
        self._subs = Subscriptions(app_name, self._loop, self._datasites_root, on_missed)
        self._conn = Connection(
            lock=self._lock,
            stopping=self._stop_event,
            hello=self._hello,
            dispatch=self._calls.dispatch,
            cancel=self._calls.cancel,
            on_event=self._subs.route,
            on_registered=self._on_registered,
            in_flight=self._calls.in_flight,
        )
        # What syft-flwr reads of syft-event's internals, answered by the sidecar.
        self._periodic_cleanup = AppCleanup(
            self.is_cleanup_running, self._cleanup_stats_if_started, self.cleanup_now
        )

    # -- registration ------------------------------------------------------

    def on_request(
        self,
        endpoint: str,
        auto_decrypt: bool = True,
        encrypt_reply: bool = False,
        *,
        deadline: Optional[float] = None,
    ) -> Callable[[F], F]:
        """Bind a function to RPC requests at ``endpoint``; it is returned unchanged.

        ``deadline`` (seconds) is how long the handler may take before the
        sidecar answers 504; the sidecar's default when ``None``. As in
        syft-event, registering an endpoint again replaces its handler (with
        a warning), and handlers may be registered after ``start()``.
        """
        path = _endpoint_path(endpoint)
        if deadline is not None and not deadline > 0:
            raise ValueError(f"on_request({endpoint!r}): deadline must be positive")

        def register_rpc(func: F) -> F:
            if not callable(func):
                raise TypeError(f"on_request({endpoint!r}) needs a function, got {func!r}")
            ep = Endpoint(
                path=path,
                func=func,
                is_async=inspect.iscoroutinefunction(func),
                auto_decrypt=auto_decrypt,
                encrypt_reply=encrypt_reply,
                deadline=deadline,
            )
            with self._lock:
                if self._state == "stopped":
                    raise RuntimeError("SyftEvents was stopped; create a new one")
                old = self._calls.endpoints.get(path)
                self._calls.endpoints[path] = ep
                # A stream already open learns of it now (its deadline and
                # schema may differ); the next one registers every endpoint.
                self._conn.send(self._register_msg([ep]))
            if old is not None:
                log.warning(
                    "endpoint %s registered again: %s replaces %s",
                    path,
                    _label(func),
                    _label(old.func),
                )
            log.info(
                "register RPC: %s (auto_decrypt=%s, encrypt_reply=%s)",
                path,
                auto_decrypt,
                encrypt_reply,
            )
            return func

        return register_rpc

    def include_router(self, router: EventRouter, *, prefix: str = "") -> None:
        """Include all routes of ``router`` with an optional prefix."""
        for endpoint, func in router.routes.items():
            self.on_request(f"{prefix}{endpoint}")(func)

    def get_handler(self, endpoint: Union[str, Path]) -> Optional[Callable[..., Any]]:
        """The handler of an endpoint (a path as syft-event's, or ``"/name"``)."""
        if isinstance(endpoint, Path):
            try:
                endpoint = endpoint.relative_to(self.app_rpc_dir).as_posix()
            except ValueError:
                return None
        ep = self._calls.endpoints.get("/" + str(endpoint).strip("/"))
        return ep.func if ep else None

    def watch(self, glob_path: Union[str, List[str]], event_filter: Any = None) -> Callable[[F], F]:
        """Call the decorated function with each file event matching
        ``glob_path`` (one glob or a list, relative to the datasites folder,
        with ``{datasite}``, ``{email}`` and ``{app_data}``, as syft-event's);
        it is registered at once and returned unchanged.

        ``event_filter`` lists watchdog event classes (``FileCreatedEvent``,
        ``DirDeletedEvent``, ...) or this package's kinds (``"created"``,
        ``"modified"``, ``"moved"``, ``"deleted"``, ``"dir_created"``, ...);
        by default created, modified and moved files, as syft-event. Folder
        events come only when a folder kind is asked for. The callback gets an
        event with watchdog's attributes and absolute paths (``src_path``,
        ``dest_path``), and the paths relative to the datasites folder as
        ``path`` and ``from_path``; the callbacks of one watch run in order
        on a thread of their own, and an exception is logged with its
        traceback. Works before and after ``start()``.
        """
        globs = globs_of(glob_path)
        sorts = parse_filter(event_filter)

        def register_watch(func: F) -> F:
            if not callable(func):
                raise TypeError(f"watch({glob_path!r}) needs a function, got {func!r}")
            with self._lock:
                if self._state == "stopped":
                    raise RuntimeError("SyftEvents was stopped")
                self._conn.send(self._subs.add_watch(globs, sorts, func))
            log.info("register watch: %s", globs)
            return func

        return register_watch

    @property
    def on_missed(self) -> Optional[Callable[[MissedEvents], Any]]:
        """Called with a ``MissedEvents`` when events were lost for a watch or
        the listeners, in order with their callbacks."""
        return self._subs.on_missed

    @on_missed.setter
    def on_missed(self, hook: Optional[Callable[[MissedEvents], Any]]) -> None:
        self._subs.on_missed = hook

    # -- listeners (AltaStata's API) --------------------------------------

    def add_event_listener(self, callback: Callable[[str, Any], Any]) -> EventListener:
        """Register ``callback(event_name, data)``; returns the listener.

        It gets ``CREATE``, ``MODIFY``, ``DELETE``, ``MOVE`` and ``SHARE`` (a
        ``syft.pub.yaml`` appeared or changed) for the owner's datasite, with
        the datasites-relative path as data (``"from -> to"`` for a move),
        and every custom event a handler publishes (``publish``), with its
        data. Listeners run in order on a thread of their own; an exception
        in one is logged with its traceback and it stays registered.
        """
        with self._lock:
            listener = self._subs.listeners.add(callback)
            self._sync_listen()
        return listener

    def remove_event_listener(self, listener: EventListener) -> None:
        """Unregister one listener; ``ValueError`` if it is not registered."""
        with self._lock:
            self._subs.listeners.remove(listener)
            self._sync_listen()

    def remove_all_event_listeners(self) -> None:
        """Unregister every listener."""
        with self._lock:
            self._subs.listeners.clear()
            self._sync_listen()

    def _sync_listen(self) -> None:
        # Under self._lock.
        msg = self._subs.listen_now()
        if msg is not None:
            self._conn.send(msg)

    @property
    def event_listeners(self) -> List[EventListener]:
        """The listeners registered now, in order."""
        return self._subs.listeners.listeners()

    def publish(self, name: str, data: str = "") -> None:
        """Send the custom event ``(name, data)`` to every listener of the
        sidecar's handlers (this app's included). Raises ``RuntimeError``
        before ``start()`` and ``ConnectionError`` while the sidecar is
        unreachable."""
        if not name:
            raise ValueError("publish() needs a name")
        if not isinstance(data, str):
            raise TypeError(f"publish() data is a str, got {type(data).__name__}")
        with self._lock:
            if self._state != "started":
                raise RuntimeError("publish(): call start() first")
            msg = pb.ConnectRequest(publish=pb.Publish(name=name, data=data))
            if not self._conn.send(msg):
                raise ConnectionError(f"publish({name!r}): not connected to the sidecar")

    def publish_event(self, name: str, data: str = "") -> None:
        """Deprecated: use ``publish``."""
        warnings.warn(
            "SyftEvents.publish_event() is deprecated: use publish()",
            DeprecationWarning,
            stacklevel=2,
        )
        self.publish(name, data)

    # -- syft-event's other methods ---------------------------------------

    def set_debug_mode(self, enabled: bool) -> None:
        """Enable or disable debug mode (error details in 500 bodies) at runtime."""
        self.debug_mode = enabled
        log.info("debug mode %s", "enabled" if enabled else "disabled")

    def publish_schema(self) -> None:
        """Publish ``rpc.schema.json``: the schemas go to the sidecar with the
        registration (at ``start()`` and on every reconnect), and the
        sidecar writes the file."""
        if not self.schema:
            self.schema = True
            if self._state == "started":
                log.warning("publish_schema() after start(): the schema goes out on reconnect")

    def schemas(self) -> Dict[str, Any]:
        """The ``rpc.schema.json`` content these handlers publish."""
        return {path: generate_schema(ep.func) for path, ep in self._calls.endpoints.items()}

    def is_cleanup_running(self) -> bool:
        """Whether the sidecar runs this app's periodic cleanup (False before
        ``start()``)."""
        if self._state != "started" or not self._conn.registered.is_set():
            return False
        return bool(self._cleanup_call("GetCleanupStats").running)

    def get_cleanup_stats(self) -> CleanupStats:
        """What the sidecar's last cleanup of this app removed.

        ``last_cleanup`` is ``None`` until the first run. The sidecar runs
        the cleanup (``cleanup_expiry`` and ``cleanup_interval`` go to it with
        the registration); before ``start()`` this raises ``RuntimeError``.
        """
        return stats_from_pb(self._cleanup_call("GetCleanupStats").stats)

    def _cleanup_stats_if_started(self) -> Optional[CleanupStats]:
        if self._state != "started" or not self._conn.registered.is_set():
            return None
        return self.get_cleanup_stats()

    def cleanup_now(self) -> CleanupStats:
        """Run this app's cleanup in the sidecar at once and return what it removed."""
        return stats_from_pb(self._cleanup_call("CleanNow").stats)

    def _cleanup_call(self, method: str) -> Any:
        if (
            self._state != "started"
            or self._conn.channel is None
            or not self._conn.registered.is_set()
        ):
            raise RuntimeError(f"{method}: cleanup runs in the sidecar; call start() first")
        stub, md = self._conn.unary()
        if method == "CleanNow":
            return stub.CleanNow(pb.CleanNowRequest(app=self.app_name), timeout=60, metadata=md)
        req = pb.GetCleanupStatsRequest(app=self.app_name)
        return stub.GetCleanupStats(req, timeout=10, metadata=md)

    @property
    def address(self) -> str:
        """The sidecar's address, as resolved at ``start()`` (or now)."""
        if self._address is None:
            self._address = self._resolve_address()
        return self._address

    def _resolve_address(self) -> str:
        try:
            return resolve_address(self._sidecar_arg, self.client, self._client_given)
        except ConfigError:
            # No config found as the sidecar finds it: use the client's.
            return resolve_address(self._sidecar_arg, self.client, True)

    # -- lifecycle -----------------------------------------------------------

    def init(self) -> None:
        """Register the app with the sidecar, which creates its folders and
        writes ``syft.pub.yaml``, the ``.syftkeep`` markers and
        ``rpc.schema.json`` (syft-event's ``init()`` wrote them itself).

        The app is served from here on: ``init()`` is ``start()``, and a
        later ``start()`` does nothing."""
        self.start()

    def start(self, process_pending_requests: bool = True) -> None:
        """Connect, register, and serve in the background; returns once the
        sidecar acknowledged the registration. Raises ``ConnectionError``
        naming the address when no sidecar answers within
        ``connect_timeout``, ``ValueError`` when the sidecar refuses the
        registration. A second call does nothing.

        Requests that waited in the app's folder are always served: the
        sidecar scans it at registration. ``process_pending_requests`` is
        accepted for syft-event's signature; ``False`` cannot leave them
        unanswered."""
        if not process_pending_requests:
            log.debug("start(process_pending_requests=False): the sidecar serves them anyway")
        with self._lock:
            if self._state == "started":
                return
            if self._state == "stopped":
                raise RuntimeError("SyftEvents was stopped; create a new one")
            self._state = "started"
        try:
            self._calls.start(self.max_in_flight)
            self._loop.start()
            # Nothing the sidecar acknowledges (only publishing): reachable is enough.
            bare = not self._calls.endpoints and self._subs.empty()
            self._conn.open(
                Dial(self.address, self._metadata, self._credentials),
                connect_timeout=self.connect_timeout,
                bare=bare,
                spawn=SpawnPolicy(
                    self.client, self._sidecar_arg, self._spawn, self.connect_timeout
                ),
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop serving: take no new requests, let those in flight finish and
        their replies be written (within ``stop_timeout``), close the stream.
        Safe to call twice."""
        with self._lock:
            if self._state == "stopped":
                return
            was = self._state
            self._state = "stopped"
        self._stop_event.set()
        if was == "new":
            return
        log.info("stopping %s: %d requests in flight", self.app_name, self._calls.in_flight.count)
        self._conn.drain(self.stop_timeout)
        self._calls.stop(self.stop_timeout)
        self._loop.stop(CLOSE_TIMEOUT)
        self._subs.close(CLOSE_TIMEOUT)
        self._conn.close()

    def process_pending_requests(self, *, timeout: Optional[float] = None) -> None:
        """Wait until the requests waiting in the app's rpc folder now are
        answered, as syft-event's call answered them before it returned.

        The sidecar delivers them (it scans the folder at registration and
        watches it); this starts the app if it is not started, then waits
        for a response beside each request that an endpoint of this app
        serves, for up to ``timeout`` seconds (default ``stop_timeout``).
        Requests still unanswered then are logged and left to the sidecar.
        Called from inside a handler, it does not wait (the handler's own
        request could not be answered while it waits)."""
        self.start()
        if in_handler():
            return
        with self._lock:
            endpoints = list(self._calls.endpoints)
        pending = pending_requests(self.app_rpc_dir, endpoints)
        limit = self.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        pause = 0.002
        while pending:
            pending = [p for p in pending if not answered(p)]
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                break
            if self._stop_event.wait(min(pause, left)):
                return
            pause = min(2 * pause, 0.05)
        if pending:
            log.warning(
                "%d pending requests of %s still unanswered after %gs (first: %s)",
                len(pending),
                self.app_name,
                limit,
                pending[0],
            )

    def run_forever(self) -> None:
        """Start and serve until ``stop()``, Ctrl-C or ``_stop_event.set()``
        (syft-flwr stops its app so, from a handler), then stop."""
        log.info("serving %s through syft-sidecar at %s", self.app_name, self.address)
        self.start()
        try:
            while not self._stop_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        if self._conn.fatal is not None:
            raise ValueError(f"sidecar refused the registration: {describe(self._conn.fatal)}")

    run = run_forever

    def __enter__(self) -> SyftEvents:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the connection asks of the app --------------------------------

    def _hello(self) -> Hello:
        # Under self._lock, as each stream opens. Without endpoints there is
        # nothing to register: the stream carries only watches, listeners and
        # published events.
        register = self._register_msg() if self._calls.endpoints else None
        return register, self._subs.opening()

    def _register_msg(self, endpoints: Optional[List[Endpoint]] = None) -> pb.ConnectRequest:
        # Under self._lock.
        eps = self._calls.endpoints.values() if endpoints is None else endpoints
        return register_message(
            self.app_name,
            self.max_in_flight,
            self.cleanup_expiry,
            self.cleanup_interval,
            [(ep.path, ep.deadline, self._schema_json(ep)) for ep in eps],
        )

    def _schema_json(self, ep: Endpoint) -> Optional[str]:
        return json.dumps(generate_schema(ep.func)) if self.schema else None

    def _on_registered(self, m: pb.Registered) -> None:
        # On the receive thread.
        self.owner = m.owner
        self.sidecar_rpc_dir = m.rpc_dir
        self.sidecar_version = m.sidecar_version or None
        if m.rpc_dir and Path(m.rpc_dir) != self.app_rpc_dir:
            log.debug("sidecar's rpc dir %s differs from %s", m.rpc_dir, self.app_rpc_dir)
        self.sidecar_datasites_dir = m.datasites_dir or None

    def _datasites_root(self) -> str:
        # The datasites folder as this process sees it (the client's, as
        # syft-event's watchdog paths), else as the sidecar sees it.
        ds = getattr(self.client, "datasites", None)
        if ds is not None:
            return str(ds)
        return self.sidecar_datasites_dir or ""


def _label(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _endpoint_path(endpoint: str) -> str:
    if "*" in endpoint or "?" in endpoint:
        raise ValueError("wildcards are not allowed in path")
    return "/" + endpoint.strip("/")


__all__ = ["LocalClient", "SyftEvents", "extend_deadline"]
