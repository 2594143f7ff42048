"""The connection to the sidecar: open the channel (starting a sidecar as
``_spawn`` says when none answers) and keep one Connect stream (a
``Session``) up, registering again and resuming the subscriptions after
each break, with backoff.

The app facade owns what goes out at the start of each stream (``hello``,
called under the app's lock, the lock this class is given) and what the
requests and events turn into (the session's callbacks); this module owns
the stream's life.
"""

from __future__ import annotations

import logging
import random
import subprocess
import threading
import time
from typing import Callable, Iterable, List, Optional, Set, Tuple

import grpc
from google.protobuf.duration_pb2 import Duration

from ._channel import MAX_BACKOFF, MIN_BACKOFF, Dial, Metadata, stub
from ._pb.syftsidecar.v1 import sidecar_pb2 as pb
from ._pb.syftsidecar.v1 import sidecar_pb2_grpc as pb_grpc
from ._session import (
    CLIENT_VERSION,
    CLOSE_TIMEOUT,
    MAX_BATCH,
    Call,
    InFlight,
    Session,
    connect_method,
    handler_name,
)
from ._spawn import SpawnPolicy

log = logging.getLogger("syft_sidecar")

# A session registered this long ago was healthy: the backoff starts over.
STABLE_AFTER = 1.0

# FAILED_PRECONDITION: the sidecar lacks a capability the client requires
# (its message names both versions); reconnecting would not change that.
_PERMANENT = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
}

# What opens each stream: the Register (None: no endpoint, nothing to
# register) and the subscriptions that follow it.
Hello = Tuple[Optional[pb.ConnectRequest], List[pb.ConnectRequest]]


class Connection:
    """One app's connection to its sidecar, over as many streams as it takes."""

    def __init__(
        self,
        *,
        lock: threading.Lock,
        stopping: threading.Event,
        hello: Callable[[], Hello],
        dispatch: Callable[[Call, pb.Request], None],
        cancel: Callable[[Call], None],
        on_event: Callable[[pb.ConnectResponse], None],
        on_registered: Callable[[pb.Registered], None],
        in_flight: InFlight,
    ) -> None:
        self._lock = lock  # the app's: hello() and send() run under it
        self._stopping = stopping
        self._hello = hello
        self._dispatch = dispatch
        self._cancel = cancel
        self._on_event = on_event
        self._on_registered = on_registered
        self._in_flight = in_flight
        self.dial: Optional[Dial] = None
        self.channel: Optional[grpc.Channel] = None
        self.session: Optional[Session] = None
        self.child: Optional[subprocess.Popen[bytes]] = None
        # The sidecar refused the registration for good.
        self.fatal: Optional[BaseException] = None
        self.registered = threading.Event()
        self._up = threading.Event()  # registered and subscribed at open()
        self._opened = threading.Event()  # the first stream exists to send on
        self._awaiting: Set[str] = set()
        self._runner: Optional[threading.Thread] = None

    # -- opening -------------------------------------------------------------

    def open(
        self,
        dial: Dial,
        *,
        connect_timeout: float,
        bare: bool,
        spawn: SpawnPolicy,
    ) -> None:
        """Reach the sidecar at ``dial`` (starting one as ``spawn`` says)
        and serve in the background; returns once the Register and the
        subscriptions are acknowledged, or at once for a ``bare`` app (one
        that only publishes) that the sidecar answers."""
        self.dial = dial
        self.channel = dial.channel()
        self.child = spawn.ensure(dial.address, self.ready)
        if bare and self.ready(connect_timeout):
            self._up.set()
        self._runner = threading.Thread(target=self._run, name="syft-sidecar-stream", daemon=True)
        self._runner.start()
        if not self._up.wait(0 if bare else connect_timeout):
            raise ConnectionError(
                f"no syft-sidecar answered at {dial.address} within {connect_timeout:g}s: "
                + spawn.advice(dial.address)
            )
        # A bare app publishes next: without a stream, publish() would find
        # it unconnected. The stream thread makes one at once.
        self._opened.wait(connect_timeout)
        if self.fatal is not None:
            raise ValueError(
                f"sidecar at {dial.address} refused the registration: {describe(self.fatal)}"
            )

    def ready(self, timeout: float) -> bool:
        """Whether the channel connects within ``timeout`` seconds."""
        assert self.channel is not None
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
            return True
        except grpc.FutureTimeoutError:
            return False

    def send(self, msg: pb.ConnectRequest) -> bool:
        """Queue ``msg`` on the open stream (under the app's lock); False when
        none is open. The next stream opens with ``hello()`` instead."""
        return self.session is not None and self.session.send(msg)

    def unary(self) -> Tuple[pb_grpc.SidecarServiceStub, Metadata]:
        """A stub for a unary call, and the metadata that goes with it."""
        if self.channel is None or self.dial is None:
            raise RuntimeError("not connected")
        return stub(self.channel), self.dial.metadata

    # -- the streams ---------------------------------------------------------

    def _run(self) -> None:
        assert self.channel is not None and self.dial is not None
        connect = connect_method(self.channel)
        address, metadata = self.dial.address, self.dial.metadata
        delay, down = MIN_BACKOFF, False
        while not self._stopping.is_set():
            with self._lock:
                register, opening = self._hello()
                s = Session(connect, register, self._dispatch, self._registered, self._cancel,
                            self._in_flight, metadata, opening, self._event)  # fmt: skip
                self._awaiting = {m.watch.id or m.listen.id for m in opening}
                if register is not None:
                    self._awaiting.add("")
                self.session = s
            self._opened.set()
            if self._stopping.is_set():  # stop() may have missed this session
                return
            err = s.serve()
            if self._stopping.is_set():
                return
            if permanent(err):
                log.error("sidecar at %s refused the registration: %s", address, describe(err))
                self.fatal = err
                self.registered.set()
                self._up.set()
                self._stopping.set()
                return
            if s.registered_at is not None and time.monotonic() - s.registered_at >= STABLE_AFTER:
                delay, down = MIN_BACKOFF, False
            if not down and s.registered_at:
                log.warning("lost sidecar at %s, reconnecting: %s", address, describe(err))
            elif not down:
                # open() says it plainly if none answers in time; a sidecar
                # that starts a moment after the app is no news.
                log.info("waiting for a sidecar at %s: %s", address, describe(err))
            else:
                log.debug("sidecar connection failed again: %s", describe(err))
            down = True
            if self._stopping.wait(backoff(delay)):
                return
            delay = min(2 * delay, MAX_BACKOFF)

    def _registered(self, m: pb.Registered) -> None:
        log.info(
            "registered %s with the sidecar %s (owner %s, max in flight %d)",
            m.app,
            m.sidecar_version or "(version not reported)",
            m.owner,
            m.max_in_flight,
        )
        self._on_registered(m)
        self.registered.set()
        self._acked("")

    def _event(self, m: pb.ConnectResponse) -> None:
        self._on_event(m)
        if m.HasField("subscribed"):
            self._acked(m.subscribed.id)

    def _acked(self, what: str) -> None:
        # On the receive thread: open() returns once the Register and the
        # subscriptions it opened with are acknowledged.
        self._awaiting.discard(what)
        if not self._awaiting:
            self._up.set()

    # -- closing -------------------------------------------------------------

    def drain(self, timeout: float) -> None:
        """Take no new requests, let those in flight be answered and their
        replies sent (within ``timeout``), and close the stream."""
        session = self.session
        if session is not None and not session.drain(timeout):
            log.warning("handlers still running after %gs; stopping anyway", timeout)
        runner = self._runner
        if runner is None:
            return
        runner.join(CLOSE_TIMEOUT)
        if runner.is_alive():
            log.debug("sidecar did not close the stream, abandoning it")
            if self.session is not None:
                self.session.abort()
            runner.join(CLOSE_TIMEOUT)

    def close(self) -> None:
        """Close the channel, and stop the sidecar this app started as its child."""
        if self.channel is not None:
            self.channel.close()
        if self.child is not None:
            self.child.terminate()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()


def register_message(
    app: str,
    max_in_flight: int,
    cleanup_expiry: str,
    cleanup_interval: str,
    endpoints: Iterable[Tuple[str, Optional[float], Optional[str]]],
) -> pb.ConnectRequest:
    """The Register of an app: its settings and its endpoints, each as
    (path, deadline in seconds or None, schema JSON or None)."""
    reg = pb.Register(
        app=app,
        max_in_flight=max_in_flight,
        max_batch=min(max_in_flight, MAX_BATCH),
        handler_name=handler_name(),
        cleanup_expiry=cleanup_expiry,
        cleanup_interval=cleanup_interval,
        client_version=CLIENT_VERSION,
    )
    if cleanup_expiry or cleanup_interval:
        # A sidecar without it would ignore the settings in silence.
        reg.requires.append("cleanup")
    for path, deadline, schema in endpoints:
        e = reg.endpoints.add(path=path)
        if schema is not None:
            e.schema_json = schema
        if deadline is not None:
            d = Duration()
            d.FromNanoseconds(int(deadline * 1e9))
            e.deadline.CopyFrom(d)
    return pb.ConnectRequest(register=reg)


def permanent(err: Optional[BaseException]) -> bool:
    return isinstance(err, grpc.Call) and err.code() in _PERMANENT


def describe(err: Optional[BaseException]) -> str:
    if err is None:
        return "sidecar closed the stream"
    if isinstance(err, grpc.Call):
        return f"{err.code().name}: {err.details()}"
    return repr(err)


def backoff(delay: float) -> float:
    return delay * (0.8 + 0.4 * random.random())
