"""SyftEvents: syft-event's API, served through the syft-sidecar process."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import os
import re
import socket
import subprocess
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

import grpc
from google.protobuf.duration_pb2 import Duration

from . import _crypto
from ._config import (
    ENV_SIDECAR_ADDR,
    SOCKET_NAME,
    STATE_DIR_NAME,
    ConfigError,
    LocalClient,
    client_data_dir,
    load_client,
    resolve_address,
)
from ._deps import func_args_from_request
from ._events import (
    KIND_FROM_PB,
    KIND_TO_PB,
    MissedEvents,
    Sort,
    Subscription,
    globs_of,
    make_event,
    parse_filter,
)
from ._listeners import EventListener, ListenerRegistry
from ._pb.syftsidecar.v1 import sidecar_pb2 as pb
from ._pb.syftsidecar.v1 import sidecar_pb2_grpc as pb_grpc
from ._serialize import serialize
from ._session import (
    CLIENT_VERSION,
    CLOSE_TIMEOUT,
    GENERIC_500_BYTES,
    MAX_BACKOFF,
    MAX_BATCH,
    MIN_BACKOFF,
    STABLE_AFTER,
    Call,
    InFlight,
    Session,
    backoff,
    channel_options,
    describe,
    handler_name,
    permanent,
)
from ._spawn import (
    LOG_NAME,
    NO_BINARY,
    accepts,
    find_binary,
    sidecar_args,
    start_for_datasite,
)
from ._workers import Workers
from .cleanup import AppCleanup, CleanupStats, parse_time_interval, stats_from_pb
from .router import EventRouter
from .schema import generate_schema
from .types import Request, Response, make_request

_SyftBoxURL: Optional[Callable[[str], str]]
try:
    from syft_core.url import SyftBoxURL as _SyftBoxURL
except ImportError:  # pragma: no cover - syft-core is optional
    _SyftBoxURL = None

log = logging.getLogger("syft_sidecar")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MAX_IN_FLIGHT = 16
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 30.0
GENERIC_500 = GENERIC_500_BYTES.decode()
ENV_TOKEN = "SYFT_SIDECAR_TOKEN"
LISTENERS = "listeners"

_APP_RE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass
class _Watch:
    sub: Subscription
    globs: List[str]
    sorts: frozenset[Sort]
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


@dataclass
class _Endpoint:
    path: str
    func: Callable[..., Any]
    is_async: bool
    auto_decrypt: bool
    encrypt_reply: bool
    deadline: Optional[float]


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
        token = token if token is not None else os.environ.get(ENV_TOKEN, "")
        token = token.strip()
        if "\n" in token or "\r" in token:
            raise ValueError("token: holds a line break")
        self._metadata: List[Tuple[str, str]] = (
            [("authorization", f"Bearer {token}")] if token else []
        )
        self._credentials = credentials
        self._client_given = client is not None
        self._spawn = spawn_sidecar
        self._endpoints: Dict[str, _Endpoint] = {}
        self._listeners = ListenerRegistry()
        self.on_missed = on_missed
        self._watches: Dict[str, _Watch] = {}
        self._listen = Subscription(LISTENERS, (), self._missed, LISTENERS)
        self._listening = False  # a Listen is on the stream (or queued for it)

        self._lock = threading.Lock()
        self._state = "new"  # new -> started -> stopped
        self._stop_event = threading.Event()
        self._registered = threading.Event()
        self._up = threading.Event()  # registered and subscribed at start()
        self._awaiting: set[str] = set()
        self._fatal: Optional[BaseException] = None
        self._address: Optional[str] = None
        self._channel: Optional[grpc.Channel] = None
        self._session: Optional[Session] = None
        self._runner: Optional[threading.Thread] = None
        self._pool: Optional[Workers] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[threading.Thread] = None
        self._in_flight = InFlight()
        self._child: Optional[subprocess.Popen[bytes]] = None
        self.owner: Optional[str] = None
        self.sidecar_rpc_dir: Optional[str] = None
        self.sidecar_datasites_dir: Optional[str] = None
        # The version the sidecar reported at registration (None: not yet, or a
        # sidecar that predates version exchange).
        self.sidecar_version: Optional[str] = None
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
            ep = _Endpoint(
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
                old = self._endpoints.get(path)
                self._endpoints[path] = ep
                # A stream already open learns of it now (its deadline and
                # schema may differ); the next one registers every endpoint.
                if self._session is not None:
                    self._session.send(self._register_msg([ep]))
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
        ep = self._endpoints.get("/" + str(endpoint).strip("/"))
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
        event with watchdog's attributes and absolute paths; the callbacks of
        one watch run in order on a thread of their own, and an exception is
        logged with its traceback. Works before and after ``start()``.
        """
        globs = globs_of(glob_path)
        sorts = parse_filter(event_filter)

        def register_watch(func: F) -> F:
            if not callable(func):
                raise TypeError(f"watch({glob_path!r}) needs a function, got {func!r}")
            with self._lock:
                if self._state == "stopped":
                    raise RuntimeError("SyftEvents was stopped")
                wid = f"w{len(self._watches) + 1}"
                name = getattr(func, "__name__", repr(func))
                sub = Subscription(wid, tuple(globs), self._missed, f"watch {globs} ({name})")
                w = _Watch(sub, globs, sorts, func, inspect.iscoroutinefunction(func))
                self._watches[wid] = w
                if self._session is not None:
                    self._session.send(w.message(self.app_name))
            log.info("register watch: %s", globs)
            return func

        return register_watch

    # -- listeners (AltaStata's API) --------------------------------------

    def add_event_listener(self, callback: Callable[[str, Any], Any]) -> EventListener:
        """Register ``callback(event_name, data)``; returns the listener.

        It gets ``CREATE``, ``MODIFY``, ``DELETE``, ``MOVE`` and ``SHARE`` (a
        ``syft.pub.yaml`` appeared or changed) for the owner's datasite, with
        the datasites-relative path as data (``"from -> to"`` for a move),
        and every custom event a handler publishes (``publish_event``), with
        its data. Listeners run in order on a thread of their own; an
        exception in one is logged with its traceback and it stays registered.
        """
        with self._lock:
            listener = self._listeners.add(callback)
            self._sync_listen()
        return listener

    def remove_event_listener(self, listener: EventListener) -> None:
        """Unregister one listener; ``ValueError`` if it is not registered."""
        with self._lock:
            self._listeners.remove(listener)
            self._sync_listen()

    def remove_all_event_listeners(self) -> None:
        """Unregister every listener."""
        with self._lock:
            self._listeners.clear()
            self._sync_listen()

    def publish_event(self, name: str, data: str = "") -> None:
        """Send the custom event ``(name, data)`` to every listener of the
        sidecar's handlers (this app's included). Raises ``RuntimeError``
        before ``start()`` and ``ConnectionError`` while the sidecar is
        unreachable."""
        if not name:
            raise ValueError("publish_event() needs a name")
        if not isinstance(data, str):
            raise TypeError(f"publish_event() data is a str, got {type(data).__name__}")
        with self._lock:
            if self._state != "started":
                raise RuntimeError("publish_event(): call start() first")
            session = self._session
            msg = pb.ConnectRequest(publish=pb.Publish(name=name, data=data))
            if session is None or not session.send(msg):
                raise ConnectionError(f"publish_event({name!r}): not connected to the sidecar")

    def _sync_listen(self) -> None:
        # Under self._lock. The Listen goes out with the first listener and
        # stays for the stream's life (events with no listener go nowhere):
        # an Unlisten would make the sidecar swap the datasite's tree for
        # narrower ones, and it loses events when trees are swapped (see the
        # README).
        if self._listening or not self._listeners.listeners():
            return
        self._listening = True
        if self._session is not None:
            self._session.send(self._listen_msg())

    def _listen_msg(self) -> pb.ConnectRequest:
        m = pb.Listen(id=LISTENERS)
        after = self._listen.after()
        if after is not None:
            m.after.CopyFrom(after)
        return pb.ConnectRequest(listen=m)

    @property
    def event_listeners(self) -> List[EventListener]:
        """The listeners registered now, in order."""
        return self._listeners.listeners()

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
        return {path: generate_schema(ep.func) for path, ep in self._endpoints.items()}

    def is_cleanup_running(self) -> bool:
        """Whether the sidecar runs this app's periodic cleanup (False before
        ``start()``)."""
        if self._state != "started" or not self._registered.is_set():
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
        if self._state != "started" or not self._registered.is_set():
            return None
        return self.get_cleanup_stats()

    def cleanup_now(self) -> CleanupStats:
        """Run this app's cleanup in the sidecar at once and return what it removed."""
        return stats_from_pb(self._cleanup_call("CleanNow").stats)

    def _cleanup_call(self, method: str) -> Any:
        if self._state != "started" or self._channel is None or not self._registered.is_set():
            raise RuntimeError(f"{method}: cleanup runs in the sidecar; call start() first")
        stub = pb_grpc.SidecarServiceStub(self._channel)  # type: ignore[no-untyped-call]
        md = self._metadata
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
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        addr = self.address
        if self._credentials is not None:
            self._channel = grpc.secure_channel(addr, self._credentials, channel_options())
        else:
            self._channel = grpc.insecure_channel(addr, options=channel_options())
        if self._spawn and not self._ready(min(1.0, self.connect_timeout)):
            self._spawn_sidecar(addr)
        elif self._spawn is None and self._derived_address():
            self._start_datasite_sidecar(addr)
        self._pool = Workers(self.max_in_flight, "syft-handler")
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="syft-async-handlers", daemon=True
        )
        self._loop_thread.start()
        # Nothing the sidecar acknowledges (only publishing): reachable is enough.
        bare = not self._endpoints and not self._watches and not self._listeners.listeners()
        if bare and self._ready(self.connect_timeout):
            self._up.set()
        self._runner = threading.Thread(target=self._run, name="syft-sidecar-stream", daemon=True)
        self._runner.start()
        if not self._up.wait(0 if bare else self.connect_timeout):
            raise ConnectionError(
                f"no syft-sidecar answered at {addr} within {self.connect_timeout:g}s: "
                + self._no_sidecar_advice(addr)
            )
        if self._fatal is not None:
            raise ValueError(f"sidecar at {addr} refused the registration: {describe(self._fatal)}")

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
        log.info("stopping %s: %d requests in flight", self.app_name, self._in_flight.count)
        session = self._session
        if session is not None and not session.drain(self.stop_timeout):
            log.warning("handlers still running after %gs; stopping anyway", self.stop_timeout)
        runner = self._runner
        if runner is not None:
            runner.join(CLOSE_TIMEOUT)
            if runner.is_alive():
                log.debug("sidecar did not close the stream, abandoning it")
                if self._session is not None:
                    self._session.abort()
                runner.join(CLOSE_TIMEOUT)
        # Handlers of a stream that broke before stop() may still run.
        self._in_flight.wait(self.stop_timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if self._loop is not None and self._loop_thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(CLOSE_TIMEOUT)
            if not self._loop_thread.is_alive():
                self._loop.close()
        if self._channel is not None:
            self._channel.close()
        for sub in [w.sub for w in self._watches.values()] + [self._listen]:
            sub.close(CLOSE_TIMEOUT)
        if self._child is not None:
            self._child.terminate()
            try:
                self._child.wait(10)
            except subprocess.TimeoutExpired:
                self._child.kill()

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
        if _current.get() is not None:
            return
        pending = self._pending_requests()
        limit = self.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        pause = 0.002
        while pending:
            pending = [p for p in pending if not _answered(p)]
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

    def _pending_requests(self) -> List[Path]:
        """The unanswered request files of this app's endpoints, in the
        sender folders and the legacy layout, as this process sees them."""
        with self._lock:
            endpoints = {self.app_rpc_dir / ep.lstrip("/") for ep in self._endpoints}
        out: List[Path] = []
        for ep in endpoints:
            try:
                found = list(ep.glob("*.request"))
                found += [p for p in ep.glob("*/*.request") if "@" in p.parent.name]
            except OSError:
                continue
            out += [p for p in found if _is_request_name(p.name) and not _answered(p)]
        return out

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
        if self._fatal is not None:
            raise ValueError(f"sidecar refused the registration: {describe(self._fatal)}")

    run = run_forever

    def __enter__(self) -> SyftEvents:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the stream ----------------------------------------------------------

    def _resolve_address(self) -> str:
        try:
            return resolve_address(self._sidecar_arg, self.client, self._client_given)
        except ConfigError:
            # No config found as the sidecar finds it: use the client's.
            return resolve_address(self._sidecar_arg, self.client, True)

    def _ready(self, timeout: float) -> bool:
        assert self._channel is not None
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
            return True
        except grpc.FutureTimeoutError:
            return False

    def _derived_address(self) -> bool:
        """Whether the address is the datasite's default, not one the app or
        its environment chose: only there may the app start a sidecar of
        its own accord, which other apps of the datasite will find."""
        return not self._sidecar_arg and not os.environ.get(ENV_SIDECAR_ADDR)

    def _no_sidecar_advice(self, addr: str) -> str:
        """What to do, leaving out what the app already did."""
        if self._sidecar_arg:
            return f"start one there (syft-sidecar --listen {addr}) or pass another sidecar="
        if os.environ.get(ENV_SIDECAR_ADDR):
            return f"start one there (syft-sidecar --listen {addr}) or change ${ENV_SIDECAR_ADDR}"
        if self._spawn is False:
            return (
                f"start one (syft-sidecar --listen {addr}), or leave spawn_sidecar unset "
                "and the app starts one"
            )
        return f"start one (syft-sidecar --listen {addr})"

    def _start_datasite_sidecar(self, addr: str) -> None:
        """No sidecar serves the datasite: start one that outlives the app
        and serves every app of the datasite, once (see _spawn)."""
        data_dir = client_data_dir(self.client)
        email = getattr(self.client, "email", None)
        if data_dir is None or not email:
            return  # nothing to start it for; start() says what to do
        # The datasite's default address is its state folder's socket.
        sock = str(data_dir / STATE_DIR_NAME / SOCKET_NAME)

        def answers() -> bool:
            if hasattr(socket, "AF_UNIX"):
                return accepts(sock)
            return self._ready(0.2)  # Python on Windows has no AF_UNIX

        if answers():
            return
        exe = find_binary()
        if exe is None:
            raise ConnectionError(f"no syft-sidecar answered at {addr}, and {NO_BINARY}")
        pid = start_for_datasite(exe, data_dir, str(email), addr, answers, self.connect_timeout)
        if pid is not None:
            log.warning(
                "no syft-sidecar served %s: started %s (pid %d) for it, which stays to serve "
                "its apps; log: %s",
                data_dir,
                exe,
                pid,
                data_dir / STATE_DIR_NAME / LOG_NAME,
            )

    def _spawn_sidecar(self, addr: str) -> None:
        exe = find_binary()
        if exe is None:
            raise ConnectionError(f"no syft-sidecar answered at {addr}, and {NO_BINARY}")
        # The child serves this app's datasite on this address.
        email = getattr(self.client, "email", None)
        args = sidecar_args(exe, addr, str(email) if email else None, client_data_dir(self.client))
        log.info("starting %s", " ".join(args))
        self._child = subprocess.Popen(args)

    def _register_msg(self, endpoints: Optional[List[_Endpoint]] = None) -> pb.ConnectRequest:
        # Under self._lock.
        reg = pb.Register(
            app=self.app_name,
            max_in_flight=self.max_in_flight,
            max_batch=min(self.max_in_flight, MAX_BATCH),
            handler_name=handler_name(),
            cleanup_expiry=self.cleanup_expiry,
            cleanup_interval=self.cleanup_interval,
            client_version=CLIENT_VERSION,
        )
        if self.cleanup_expiry or self.cleanup_interval:
            # A sidecar without it would ignore the settings in silence.
            reg.requires.append("cleanup")
        for ep in self._endpoints.values() if endpoints is None else endpoints:
            e = reg.endpoints.add(path=ep.path)
            if self.schema:
                e.schema_json = json.dumps(generate_schema(ep.func))
            if ep.deadline is not None:
                d = Duration()
                d.FromNanoseconds(int(ep.deadline * 1e9))
                e.deadline.CopyFrom(d)
        return pb.ConnectRequest(register=reg)

    def _run(self) -> None:
        assert self._channel is not None
        stub = pb_grpc.SidecarServiceStub(self._channel)  # type: ignore[no-untyped-call]
        delay, down = MIN_BACKOFF, False
        while not self._stop_event.is_set():
            with self._lock:
                # Every watch and the Listen go out after the Register, each
                # resuming after the last event it delivered.
                # The Listen first: its tree (the whole datasite) covers the
                # watches', so the sidecar never swaps a narrower tree for it.
                self._listening = bool(self._listeners.listeners())
                if not self._listening:
                    self._listen.reset()  # listeners added later start from then
                opening = [self._listen_msg()] if self._listening else []
                opening += [w.message(self.app_name) for w in self._watches.values()]
                # Without endpoints there is nothing to register: the stream
                # carries only watches, listeners and published events.
                register = self._register_msg() if self._endpoints else None
                s = Session(stub, register, self._dispatch, self._on_registered, self._cancel,
                            self._in_flight, self._metadata, opening, self._on_event)  # fmt: skip
                self._awaiting = {m.watch.id or m.listen.id for m in opening}
                if register is not None:
                    self._awaiting.add("")
                self._session = s
            if self._stop_event.is_set():  # stop() may have missed this session
                return
            err = s.serve()
            if self._stop_event.is_set():
                return
            if permanent(err):
                log.error(
                    "sidecar at %s refused the registration: %s", self._address, describe(err)
                )
                self._fatal = err
                self._registered.set()
                self._up.set()
                self._stop_event.set()
                return
            if s.registered_at is not None and time.monotonic() - s.registered_at >= STABLE_AFTER:
                delay, down = MIN_BACKOFF, False
            if not down and s.registered_at:
                log.warning("lost sidecar at %s, reconnecting: %s", self._address, describe(err))
            elif not down:
                # start() says it plainly if none answers in time; a sidecar
                # that starts a moment after the app is no news.
                log.info("waiting for a sidecar at %s: %s", self._address, describe(err))
            else:
                log.debug("sidecar connection failed again: %s", describe(err))
            down = True
            if self._stop_event.wait(backoff(delay)):
                return
            delay = min(2 * delay, MAX_BACKOFF)

    def _on_registered(self, m: pb.Registered) -> None:
        self.owner = m.owner
        self.sidecar_rpc_dir = m.rpc_dir
        self.sidecar_version = m.sidecar_version or None
        log.info(
            "registered %s with the sidecar %s (owner %s, max in flight %d)",
            m.app,
            m.sidecar_version or "(version not reported)",
            m.owner,
            m.max_in_flight,
        )
        if m.rpc_dir and Path(m.rpc_dir) != self.app_rpc_dir:
            log.debug("sidecar's rpc dir %s differs from %s", m.rpc_dir, self.app_rpc_dir)
        self.sidecar_datasites_dir = m.datasites_dir or None
        self._registered.set()
        self._acked("")

    def _acked(self, what: str) -> None:
        # On the receive thread: start() returns once the Register and the
        # subscriptions it opened with are acknowledged.
        self._awaiting.discard(what)
        if not self._awaiting:
            self._up.set()

    # -- file and listener events (on the receive thread) -------------------

    def _on_event(self, m: pb.ConnectResponse) -> None:
        kind = m.WhichOneof("msg")
        if kind == "file_event":
            self._on_file_event(m.file_event)
        elif kind == "listener_event":
            ev = m.listener_event
            if ev.listener_id != LISTENERS or not self._listen.accept(ev.cursor):
                return
            name, data = ev.name, ev.data
            self._listen.put(lambda: self._listeners.emit(name, data), ev.cursor.seq)
        elif kind == "missed_events":
            self._on_missed_events(m.missed_events)
        elif kind == "subscribed":
            sub = self._subscription(m.subscribed.id)
            if sub is not None:
                # A resume from here misses nothing, even with no event yet.
                sub.accept(m.subscribed.cursor)
                log.debug("subscribed %s, watching %s", sub.label, list(m.subscribed.roots))
            self._acked(m.subscribed.id)

    def _subscription(self, id: str) -> Optional[Subscription]:
        if id == LISTENERS:
            return self._listen
        w = self._watches.get(id)
        return w.sub if w is not None else None

    def _on_file_event(self, ev: pb.FileEvent) -> None:
        w = self._watches.get(ev.watch_id)
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
        root = self._datasites_root()
        if sort[0] == "moved":
            event = make_event(sort, os.path.join(root, getattr(ev, "from")),
                               os.path.join(root, ev.path))  # fmt: skip
        else:
            event = make_event(sort, os.path.join(root, ev.path), "")
        w.sub.put(lambda: self._call_watch(w, event), ev.cursor.seq)

    def _call_watch(self, w: _Watch, event: Any) -> None:
        if w.is_async:
            assert self._loop is not None
            asyncio.run_coroutine_threadsafe(_await(w.func(event)), self._loop).result()
            return
        r = w.func(event)
        if inspect.isawaitable(r):
            assert self._loop is not None
            asyncio.run_coroutine_threadsafe(_await(r), self._loop).result()

    def _datasites_root(self) -> str:
        # The datasites folder as this process sees it (the client's, as
        # syft-event's watchdog paths), else as the sidecar sees it.
        ds = getattr(self.client, "datasites", None)
        if ds is not None:
            return str(ds)
        return self.sidecar_datasites_dir or ""

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
                assert self._loop is not None
                asyncio.run_coroutine_threadsafe(_await(r), self._loop).result()

    def _cancel(self, call: Call) -> None:
        # A handler not yet started sees call.cancelled and does not run.
        task = call.future
        if isinstance(task, asyncio.Task) and self._loop is not None:
            self._loop.call_soon_threadsafe(task.cancel)

    def _dispatch(self, call: Call, m: pb.Request) -> None:
        # On the receive thread: the least work here, the request is built
        # where the handler runs.
        ep = self._endpoints.get(m.endpoint) if m.app == self.app_name else None
        if ep is None:
            log.warning("request for %s %s, which this app did not register", m.app, m.endpoint)
            call.reply(_reply(m, 404, {}, f"no handler for {m.app} {m.endpoint}".encode()))
            return
        if ep.is_async:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._start_async, call, ep, m)
        else:
            assert self._pool is not None
            self._pool.go(self._serve_sync, call, ep, m)

    def _request(self, m: pb.Request) -> Request:
        return make_request(
            m.id,
            m.sender,
            _url(m.url),
            dict(m.headers) if m.headers else {},
            m.body if m.HasField("body") else None,
            m.method or "GET",
        )

    def _start_async(self, call: Call, ep: _Endpoint, m: pb.Request) -> None:
        # On the loop.
        if call.cancelled:
            call.reply(pb.Reply())  # dropped: the call is forgotten
            return
        assert self._loop is not None
        call.future = self._loop.create_task(self._answer_async(call, ep, m))

    async def _answer_async(self, call: Call, ep: _Endpoint, m: pb.Request) -> None:
        # The task answers the call itself, whatever happens (as _serve_sync).
        try:
            reply = await self._serve_async(call, ep, m, self._request(m))
        except asyncio.CancelledError:
            call.cancelled = True
            call.reply(pb.Reply())  # dropped: the call is forgotten
            return
        except BaseException as e:  # outside the handler (decrypt, encoding): 500, as before
            log.error("serving %s %s: %r", m.endpoint, m.id, e)
            reply = _reply(m, 500, {}, GENERIC_500_BYTES)
        call.reply(reply)

    # Both paths: decrypt, inject arguments (400 when they do not fit), call,
    # turn an exception into 500, serialize as syft-rpc does.

    def _prepare(self, ep: _Endpoint, req: Request) -> Union[Dict[str, Any], Response]:
        if ep.auto_decrypt and _crypto.maybe_encrypted(req.body):
            req = _crypto.decrypt_request(req, self.client)
        try:
            return func_args_from_request(ep.func, req, self)
        except Exception as e:
            log.warning("invalid request body schema %s: %s", req.url, e)
            return Response(body=f"Invalid request schema: {e!s}", status_code=400)

    def _serve_sync(self, call: Call, ep: _Endpoint, m: pb.Request) -> None:
        # On a pool thread; it answers the call itself (no Future callback
        # in between), whatever happens.
        if call.cancelled:  # while it waited for a thread
            call.reply(pb.Reply())  # dropped: the call is forgotten
            return
        token = _current.set(call)
        try:
            reply = self._serve_sync_in(ep, m, self._request(m))
        except BaseException as e:  # outside the handler (decrypt, encoding): 500, as before
            log.error("serving %s %s: %r", m.endpoint, m.id, e)
            reply = _reply(m, 500, {}, GENERIC_500_BYTES)
        finally:
            _current.reset(token)
        call.reply(reply)

    def _serve_sync_in(self, ep: _Endpoint, m: pb.Request, req: Request) -> pb.Reply:
        prepared = self._prepare(ep, req)
        if isinstance(prepared, Response):
            return self._reply(ep, m, req, prepared)
        try:
            result = ep.func(**prepared)
            if inspect.isawaitable(result):
                assert self._loop is not None
                result = asyncio.run_coroutine_threadsafe(_await(result), self._loop).result()
        except Exception as e:
            result = self._error(ep, e)
        return self._reply(ep, m, req, result)

    async def _serve_async(
        self, call: Call, ep: _Endpoint, m: pb.Request, req: Request
    ) -> pb.Reply:
        _current.set(call)  # the task runs in a copy of the context
        loop = asyncio.get_running_loop()
        if ep.auto_decrypt and _crypto.maybe_encrypted(req.body):
            prepared = await loop.run_in_executor(self._pool, self._prepare, ep, req)
        else:
            prepared = self._prepare(ep, req)
        if isinstance(prepared, Response):
            return self._reply(ep, m, req, prepared)
        try:
            result = await ep.func(**prepared)
        except Exception as e:
            result = self._error(ep, e)
        if ep.encrypt_reply:
            return await loop.run_in_executor(self._pool, self._reply, ep, m, req, result)
        return self._reply(ep, m, req, result)

    def _error(self, ep: _Endpoint, e: Exception) -> Response:
        name = getattr(ep.func, "__name__", repr(ep.func))
        tb = traceback.format_exc()
        log.error("error calling function %s: %s\n%s", name, e, tb)
        if self.debug_mode:
            body = {
                "error_type": type(e).__name__,
                "error_message": str(e),
                "function_name": name,
                "traceback": tb,
            }
            return Response(
                body=json.dumps(body, indent=2),
                status_code=500,
                headers={"Content-Type": "application/json"},
            )
        return Response(body=GENERIC_500, status_code=500)

    def _reply(self, ep: _Endpoint, m: pb.Request, req: Request, result: Any) -> pb.Reply:
        if isinstance(result, Response):
            body, code, headers = result.body, result.status_code, result.headers
        else:
            body, code, headers = result, 200, None
        try:
            code = int(code)
            if not 100 <= code <= 599:
                raise ValueError(f"status code {code} is outside 100-599")
            hdrs = {str(k): str(v) for k, v in (headers or {}).items()}
            if ep.encrypt_reply:
                data = _crypto.encrypt_body(body, req.sender, self.client)
            else:
                data = serialize(body)
        except Exception as e:
            log.error("reply of %s %s: %s", ep.path, m.id, e)
            err = self._error(ep, e)
            return _reply(m, 500, err.headers or {}, str(err.body).encode())
        return _reply(m, code, hdrs, data)


_current: contextvars.ContextVar[Optional[Call]] = contextvars.ContextVar(
    "syft_sidecar_call", default=None
)


def extend_deadline(seconds: float) -> None:
    """Give the request being handled ``seconds`` more from now before the
    sidecar answers 504. Call it from inside a handler (sync or async), as
    often as a long job needs; outside one it raises ``RuntimeError``."""
    call = _current.get()
    if call is None:
        raise RuntimeError("extend_deadline() is called from inside a handler")
    if seconds <= 0:
        raise ValueError("extend_deadline() needs a positive number of seconds")
    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    call.extend(d)


# The URLs of requests repeat (one per endpoint and owner): each is parsed
# once. SyftBoxURL is a str; a bad one stays a plain str, as before.
_URLS: Dict[str, Any] = {}
_MAX_URLS = 1024


def _url(s: str) -> Any:
    u = _URLS.get(s)
    if u is None:
        u = s
        if _SyftBoxURL is not None:
            try:
                u = _SyftBoxURL(s)
            except Exception:
                u = s
        if len(_URLS) >= _MAX_URLS:
            _URLS.clear()
        _URLS[s] = u
    return u


def _is_request_name(name: str) -> bool:
    # {id}.request only: not the SyftBox client's rejected, conflict or
    # temporary copies, which the sidecar never answers.
    stem = name[: -len(".request")]
    if not stem or "." in stem:
        return False
    return "syftrejected" not in stem and "syftconflict" not in stem


def _answered(request: Path) -> bool:
    try:
        return request.with_suffix(".response").exists() or not request.exists()
    except OSError:
        return False


def _label(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


async def _await(aw: Any) -> Any:
    return await aw


def _reply(m: pb.Request, code: int, headers: Dict[str, str], body: Optional[bytes]) -> pb.Reply:
    r = pb.Reply(request_id=m.id, attempt=m.attempt, status_code=code)
    if headers:  # an empty map still costs protobuf a conversion
        r.headers.update(headers)
    if body is not None:
        r.body = body
    return r


def _endpoint_path(endpoint: str) -> str:
    if "*" in endpoint or "?" in endpoint:
        raise ValueError("wildcards are not allowed in path")
    return "/" + endpoint.strip("/")


__all__ = ["LocalClient", "SyftEvents", "extend_deadline"]
