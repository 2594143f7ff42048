"""One Connect stream to the sidecar: register, receive requests, send
replies; ``_connection`` opens a new one, with backoff, when it breaks.

Shaped like the Go client (clients/go/session.go): the request iterator that
gRPC consumes is the only sender and reads a queue; the runner thread
receives and hands requests to the dispatcher.

A reply is serialized once, by the thread that made it, and queued as bytes;
the sender frames the replies waiting into one ReplyBatch as the protobuf
wire format lays out a repeated field (each one's tag, length and bytes), with
no message built around them: building the batch as a message copied each
reply into it, then into the ConnectRequest, and measured their sizes three
times (about 1.3 us a reply against 0.4).
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from ._pb.syftsidecar.v1 import sidecar_pb2 as pb

log = logging.getLogger("syft_sidecar")

# How long a stopping client waits for the sidecar to end the stream after
# the client half-closed it (replies still in gRPC's buffers go out first).
CLOSE_TIMEOUT = 5.0
# The largest reply the sidecar takes (its gRPC receive limit, less a little
# for the message around a reply). A larger one would end the stream and send
# the request round again; it is answered 500 instead, and logged.
MAX_REPLY_BYTES = 64 << 20
# Requests per message the client takes (Register.max_batch, capped by the
# sidecar), and how many bytes of replies it packs into one ReplyBatch. Each
# gRPC message costs grpcio a few thread hand-offs, which under load cost
# more than the handlers; batches form only from what is already waiting.
MAX_BATCH = 256
MAX_BATCH_BYTES = 1 << 20
GENERIC_500_BYTES = b"Internal server error. Please try again later."


def _client_version() -> str:
    try:
        return f"syft-sidecar-python {version('syft-sidecar')}"
    except PackageNotFoundError:  # run from a source tree
        return "syft-sidecar-python (not installed)"


# Sent in every Register, for the sidecar's logs and its refusals.
CLIENT_VERSION = _client_version()

Key = Tuple[str, int]
# What goes out: a message, or a ConnectRequest already serialized.
Outgoing = Union[pb.ConnectRequest, bytes]

_EVENTS = frozenset({"file_event", "listener_event", "missed_events", "subscribed"})


def handler_name() -> str:
    return f"{os.path.basename(sys.argv[0] or 'python')}-{os.getpid()}"


class Call:
    """One request in flight on a session."""

    __slots__ = ("cancelled", "future", "key", "session")

    def __init__(self, session: Session, key: Key) -> None:
        self.session = session
        self.key = key
        self.cancelled = False
        self.future: Optional[object] = None

    def reply(self, msg: pb.Reply) -> None:
        self.session.finish(self, msg)

    def extend(self, by: Any) -> None:
        self.session.extend(self, by)


def encode(m: Outgoing) -> bytes:
    """The Connect stream's request serializer: replies come serialized."""
    return m if type(m) is bytes else m.SerializeToString()  # type: ignore[union-attr]


def connect_method(channel: grpc.Channel) -> Callable[..., Any]:
    """The Connect call, taking serialized messages as well as messages."""
    method: Callable[..., Any] = channel.stream_stream(
        _CONNECT,
        request_serializer=encode,
        response_deserializer=pb.ConnectResponse.FromString,
    )
    return method


_CONNECT = "/{}/Connect".format(pb.DESCRIPTOR.services_by_name["SidecarService"].full_name)


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


def _field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: its key, the length of data, data."""
    return tag + _varint(len(data)) + data


def _tag(message: Any, field: str) -> bytes:
    """The key of a length-delimited field (wire type 2)."""
    return _varint(message.DESCRIPTOR.fields_by_name[field].number << 3 | 2)


_REPLY_TAG = _tag(pb.ConnectRequest, "reply")
_REPLIES_TAG = _tag(pb.ConnectRequest, "replies")
_BATCH_ENTRY_TAG = _tag(pb.ReplyBatch, "replies")


class Session:
    """One Connect stream."""

    def __init__(
        self,
        connect: Callable[..., Any],
        register: Optional[pb.ConnectRequest],
        dispatch: Callable[[Call, pb.Request], None],
        on_registered: Callable[[pb.Registered], None],
        cancel: Callable[[Call], None],
        tracker: InFlight,
        metadata: Sequence[Tuple[str, str]] = (),
        opening: Sequence[pb.ConnectRequest] = (),
        on_event: Optional[Callable[[pb.ConnectResponse], None]] = None,
    ) -> None:
        self._connect = connect
        # No Register when the app serves no endpoint (watches, listeners
        # and publishing need none); the subscriptions follow it.
        self._register = register
        self._opening = list(opening)
        self._on_event = on_event
        self._dispatch = dispatch
        self._on_registered = on_registered
        self._cancel = cancel
        self._tracker = tracker
        self._metadata = tuple(metadata)
        # Replies go in serialized (bytes), to be packed into batches;
        # everything else as pb.ConnectRequest; None ends the stream.
        self._q: queue.SimpleQueue[Union[pb.ConnectRequest, bytes, None]] = queue.SimpleQueue()
        # The sidecar's Registered.max_batch: above 1 it takes ReplyBatch.
        self._max_batch = 0
        self._lock = threading.Lock()
        self._calls: Dict[Key, Call] = {}
        self._draining = False
        self._dead = False
        self._idle = threading.Condition(self._lock)
        self._rpc: Optional[grpc.Future] = None
        self.registered_at: Optional[float] = None

    def _messages(self) -> Iterator[Outgoing]:
        if self._register is not None:
            yield self._register
        yield from self._opening
        held: Union[pb.ConnectRequest, bytes, None] = None
        while True:
            m = held if held is not None else self._q.get()
            held = None
            if m is None:
                return
            if type(m) is bytes:
                m, held = self._batch(m)
            yield m

    def _batch(self, first: bytes) -> Tuple[bytes, Union[pb.ConnectRequest, bytes, None]]:
        """The ConnectRequest, serialized, of the reply ``first`` alone or
        with the replies queued behind it in one ReplyBatch; also returns the
        message that ended the batch, to go next."""
        if self._max_batch <= 1 or self._q.empty():
            return _field(_REPLY_TAG, first), None
        q = self._q
        parts = [_field(_BATCH_ENTRY_TAG, first)]
        size = len(first)
        held: Union[pb.ConnectRequest, bytes, None] = None
        while len(parts) < self._max_batch and not q.empty():
            try:
                n = q.get_nowait()
            except queue.Empty:
                break
            if type(n) is bytes and size + len(n) <= MAX_BATCH_BYTES:
                parts.append(_field(_BATCH_ENTRY_TAG, n))
                size += len(n)
                continue
            if n is None:
                q.put(None)  # the end, after this batch
            held = n
            break
        if len(parts) == 1:
            return _field(_REPLY_TAG, first), held
        return _field(_REPLIES_TAG, b"".join(parts)), held

    def serve(self) -> Optional[BaseException]:
        """Run the stream until it ends; return why (``None``: the sidecar
        closed it)."""
        err: Optional[BaseException] = None
        try:
            rpc = self._connect(self._messages(), metadata=self._metadata or None)
            with self._lock:
                self._rpc = rpc
            for m in rpc:
                kind = m.WhichOneof("msg")
                if kind == "requests":
                    reqs = m.requests.requests
                    log.debug("a batch of %d requests", len(reqs))
                    self._on_requests(reqs)
                elif kind == "request":
                    self._on_requests((m.request,))
                elif kind == "registered":
                    self._max_batch = m.registered.max_batch
                    self.registered_at = time.monotonic()
                    self._on_registered(m.registered)
                elif kind == "cancel":
                    self._on_cancel(m.cancel)
                elif kind == "error":
                    self._on_error(m.error)
                elif kind in _EVENTS and self._on_event is not None:
                    if kind == "subscribed" and self.registered_at is None:
                        self.registered_at = time.monotonic()  # a stream without Register
                    self._on_event(m)
                else:
                    log.debug("ignoring unknown message from sidecar: %s", kind)
        except grpc.RpcError as e:
            err = e
        except Exception as e:  # a bug here must not end the client: reconnect
            log.exception("serving the stream")
            err = e
            self.abort()
        finally:
            self._end()
        return err

    def _end(self) -> None:
        # No reply can reach the sidecar any more: it delivers the requests
        # in flight again, so the handlers' replies are dropped.
        with self._lock:
            self._dead = True
            calls = list(self._calls.values())
            self._idle.notify_all()  # a drain waits no longer
        self._q.put(None)  # the request iterator returns
        for c in calls:
            c.cancelled = True
            self._cancel(c)

    def _on_requests(self, reqs: Sequence[pb.Request]) -> None:
        """Take the requests of one message: each becomes a call, all under
        one lock, and goes to the dispatcher."""
        new: List[Tuple[Call, pb.Request]] = []
        with self._lock:
            if self._draining or self._dead:
                log.debug("stopping: %d requests left for redelivery", len(reqs))
                return
            calls = self._calls
            for m in reqs:
                key = (m.id, m.attempt)
                if key in calls:
                    log.debug("ignoring duplicate delivery of %s attempt %d", m.id, m.attempt)
                    continue
                call = calls[key] = Call(self, key)
                new.append((call, m))
        self._tracker.add(len(new))
        dispatch = self._dispatch
        for call, m in new:
            try:
                dispatch(call, m)
            except Exception:
                log.exception("dispatch %s attempt %d, answering 500", m.id, m.attempt)
                self.finish(
                    call,
                    pb.Reply(
                        request_id=m.id, attempt=m.attempt, status_code=500, body=GENERIC_500_BYTES
                    ),
                )

    def finish(self, call: Call, msg: pb.Reply) -> None:
        """Send the reply of ``call`` unless the sidecar no longer waits for it."""
        data = msg.SerializeToString()
        if len(data) > MAX_REPLY_BYTES:
            log.error(
                "reply to %s attempt %d is %d bytes, over the sidecar's limit of %d: answering 500",
                msg.request_id,
                msg.attempt,
                len(data),
                MAX_REPLY_BYTES,
            )
            data = pb.Reply(
                request_id=msg.request_id,
                attempt=msg.attempt,
                status_code=500,
                body=GENERIC_500_BYTES,
            ).SerializeToString()
        with self._lock:
            send = not self._dead and not call.cancelled
            # Queued before the call is forgotten, so that a drain that sees
            # no calls left also sees every reply queued; first, so that the
            # sending thread wakes while this one does the bookkeeping.
            if send:
                self._q.put(data)
            known = self._calls.pop(call.key, None) is not None
            if self._draining and not self._calls:
                self._idle.notify_all()
        if not send:
            log.debug("reply to %s attempt %d dropped: no longer awaited", *call.key)
        if known:
            self._tracker.done()

    def send(self, msg: pb.ConnectRequest) -> bool:
        """Queue ``msg`` for the sidecar; False once the stream is gone."""
        with self._lock:
            if self._dead:
                return False
            self._q.put(msg)
            return True

    def extend(self, call: Call, by: Any) -> None:
        """Ask for more time for ``call`` (dropped once the stream is gone)."""
        with self._lock:
            if self._dead or call.cancelled or call.key not in self._calls:
                return
            ext = pb.ExtendDeadline(request_id=call.key[0], attempt=call.key[1])
            ext.extend_by.CopyFrom(by)
            self._q.put(pb.ConnectRequest(extend_deadline=ext))

    def _on_cancel(self, m: pb.Cancel) -> None:
        key = (m.request_id, m.attempt)
        with self._lock:
            call = self._calls.get(key)
        reason = pb.CancelReason.Name(m.reason).removeprefix("CANCEL_REASON_").lower()
        if call is None:
            log.debug("cancel for a request not running: %s (%s)", m.request_id, reason)
            return
        log.info("sidecar canceled request %s attempt %d: %s", m.request_id, m.attempt, reason)
        call.cancelled = True
        self._cancel(call)

    def _on_error(self, m: pb.Error) -> None:
        code = pb.ErrorCode.Name(m.code)
        if m.code == pb.ERROR_CODE_STALE_REPLY:
            log.debug("sidecar dropped a stale reply to %s: %s", m.request_id, m.message)
            return
        log.warning("sidecar reported %s for %s: %s", code, m.request_id or "-", m.message)

    def drain(self, timeout: Optional[float]) -> bool:
        """Take no new requests, wait for those in flight to be answered (their
        replies go out), then half-close the stream. False if handlers were
        still running after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._draining = True
            while self._calls and not self._dead:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._idle.wait(left)
            done = not self._calls
        self._q.put(None)
        return done

    def abort(self) -> None:
        with self._lock:
            rpc = self._rpc
        if rpc is not None:
            rpc.cancel()
        self._q.put(None)


class InFlight:
    """Counts requests being handled over every session, for stop()."""

    def __init__(self) -> None:
        # add() and done() run for every request: a plain lock (whose
        # with-block costs no Python frames); the condition only for wait().
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._n = 0
        self._waiting = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self._n += n

    def done(self) -> None:
        with self._lock:
            self._n -= 1
            if self._n == 0 and self._waiting:
                self._cond.notify_all()

    @property
    def count(self) -> int:
        with self._lock:
            return self._n

    def wait(self, timeout: Optional[float]) -> bool:
        with self._lock:
            self._waiting += 1
            try:
                return self._cond.wait_for(lambda: self._n == 0, timeout)
            finally:
                self._waiting -= 1
