"""The serving of calls: a request from the stream finds its endpoint, runs
its handler (sync ones on the pool, async ones on the loop) with the
arguments its annotations ask for, and its result becomes the reply, encoded
as syft-rpc encodes it.

Both paths: decrypt, inject arguments (400 when they do not fit), call, turn
an exception into 500, serialize. Each answers its call itself, whatever
happens, and a call the sidecar canceled before its handler started is
dropped unanswered.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from google.protobuf.duration_pb2 import Duration

from . import _crypto
from ._deps import plan_args
from ._pb.syftsidecar.v1 import sidecar_pb2 as pb
from ._serialize import serialize
from ._session import GENERIC_500_BYTES, Call, InFlight
from ._workers import LoopThread, Workers
from .types import Request, Response, make_request

_SyftBoxURL: Optional[Callable[[str], str]]
try:
    from syft_core.url import SyftBoxURL as _SyftBoxURL
except ImportError:  # pragma: no cover - syft-core is optional
    _SyftBoxURL = None

log = logging.getLogger("syft_sidecar")

GENERIC_500 = GENERIC_500_BYTES.decode()


@dataclass
class Endpoint:
    path: str
    func: Callable[..., Any]
    is_async: bool
    auto_decrypt: bool
    encrypt_reply: bool
    deadline: Optional[float]


class CallServer:
    """Serves the requests of one app's endpoints.

    ``app`` is what handlers get for a parameter annotated with its class;
    its ``client`` decrypts and encrypts and its ``debug_mode`` says what a
    500 shows, both read at each call (apps change them at runtime).
    """

    def __init__(self, app: Any, app_name: str, loop: LoopThread) -> None:
        self._app = app
        self._app_type = type(app)
        self._app_name = app_name
        self.endpoints: Dict[str, Endpoint] = {}
        self.in_flight = InFlight()
        self.pool: Optional[Workers] = None
        self._loop = loop

    def start(self, max_in_flight: int) -> None:
        self.pool = Workers(max_in_flight, "syft-handler")

    def stop(self, timeout: float) -> None:
        """Wait (within ``timeout``) for handlers still running, for instance
        of a stream that broke before the app stopped; end the pool."""
        self.in_flight.wait(timeout)
        if self.pool is not None:
            self.pool.shutdown(wait=False)

    # -- from the stream (on its receive thread) ----------------------------

    def dispatch(self, call: Call, m: pb.Request) -> None:
        # The least work here: the request is built where the handler runs.
        ep = self.endpoints.get(m.endpoint) if m.app == self._app_name else None
        if ep is None:
            log.warning("request for %s %s, which this app did not register", m.app, m.endpoint)
            call.reply(_reply(m, 404, {}, f"no handler for {m.app} {m.endpoint}".encode()))
            return
        if ep.is_async:
            self._loop.call_soon(self._start_async, call, ep, m)
        else:
            assert self.pool is not None
            self.pool.go(self._serve_sync, call, ep, m)

    def cancel(self, call: Call) -> None:
        # A handler not yet started sees call.cancelled and does not run.
        task = call.future
        if isinstance(task, asyncio.Task):
            self._loop.call_soon(task.cancel)

    # -- sync handlers (on a pool thread) -----------------------------------

    def _serve_sync(self, call: Call, ep: Endpoint, m: pb.Request) -> None:
        # It answers the call itself (no Future callback in between).
        if call.cancelled:  # while it waited for a thread
            call.reply(pb.Reply())  # dropped: the call is forgotten
            return
        token = _current.set(call)
        try:
            reply = self._serve_sync_in(ep, m, _request(m))
        except BaseException as e:  # outside the handler (decrypt, encoding): 500, as before
            log.error("serving %s %s: %r", m.endpoint, m.id, e)
            reply = _reply(m, 500, {}, GENERIC_500_BYTES)
        finally:
            _current.reset(token)
        call.reply(reply)

    def _serve_sync_in(self, ep: Endpoint, m: pb.Request, req: Request) -> pb.Reply:
        prepared = self._prepare(ep, req)
        if isinstance(prepared, Response):
            return self._reply(ep, m, req, prepared)
        try:
            result = ep.func(**prepared)
            if type(result) not in _PLAIN and inspect.isawaitable(result):
                result = self._loop.wait(result)
        except Exception as e:
            result = self._error(ep, e)
        return self._reply(ep, m, req, result)

    # -- async handlers (on the loop) ---------------------------------------

    def _start_async(self, call: Call, ep: Endpoint, m: pb.Request) -> None:
        if call.cancelled:
            call.reply(pb.Reply())  # dropped: the call is forgotten
            return
        assert self._loop.loop is not None
        call.future = self._loop.loop.create_task(self._answer_async(call, ep, m))

    async def _answer_async(self, call: Call, ep: Endpoint, m: pb.Request) -> None:
        # The task answers the call itself, whatever happens (as _serve_sync).
        try:
            reply = await self._serve_async(call, ep, m, _request(m))
        except asyncio.CancelledError:
            call.cancelled = True
            call.reply(pb.Reply())  # dropped: the call is forgotten
            return
        except BaseException as e:  # outside the handler (decrypt, encoding): 500, as before
            log.error("serving %s %s: %r", m.endpoint, m.id, e)
            reply = _reply(m, 500, {}, GENERIC_500_BYTES)
        call.reply(reply)

    async def _serve_async(self, call: Call, ep: Endpoint, m: pb.Request, req: Request) -> pb.Reply:
        _current.set(call)  # the task runs in a copy of the context
        loop = asyncio.get_running_loop()
        # Decrypting and encrypting block: on the pool, off the loop.
        if ep.auto_decrypt and _crypto.maybe_encrypted(req.body):
            prepared = await loop.run_in_executor(self.pool, self._prepare, ep, req)
        else:
            prepared = self._prepare(ep, req)
        if isinstance(prepared, Response):
            return self._reply(ep, m, req, prepared)
        try:
            result = await ep.func(**prepared)
        except Exception as e:
            result = self._error(ep, e)
        if ep.encrypt_reply:
            return await loop.run_in_executor(self.pool, self._reply, ep, m, req, result)
        return self._reply(ep, m, req, result)

    # -- both: arguments in, reply out ---------------------------------------

    def _prepare(self, ep: Endpoint, req: Request) -> Union[Dict[str, Any], Response]:
        if ep.auto_decrypt and _crypto.maybe_encrypted(req.body):
            req = _crypto.decrypt_request(req, self._app.client)
        try:
            # The request was made for this call: handlers get it, not a copy.
            app, plan = self._app, plan_args(ep.func, self._app_type, True)
            return {name: resolve(req, app) for name, resolve in plan}
        except Exception as e:
            log.warning("invalid request body schema %s: %s", req.url, e)
            return Response(body=f"Invalid request schema: {e!s}", status_code=400)

    def _error(self, ep: Endpoint, e: Exception) -> Response:
        name = getattr(ep.func, "__name__", repr(ep.func))
        tb = traceback.format_exc()
        log.error("error calling function %s: %s\n%s", name, e, tb)
        if self._app.debug_mode:
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

    def _reply(self, ep: Endpoint, m: pb.Request, req: Request, result: Any) -> pb.Reply:
        if type(result) is bytes and not ep.encrypt_reply:  # the common case, at least cost
            return pb.Reply(request_id=m.id, attempt=m.attempt, status_code=200, body=result)
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
                data = _crypto.encrypt_body(body, req.sender, self._app.client)
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


def in_handler() -> bool:
    """Whether the calling code runs inside a handler."""
    return _current.get() is not None


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


def _request(m: pb.Request) -> Request:
    body: Optional[bytes] = m.body
    if not body and not m.HasField("body"):  # null, not empty
        body = None
    headers = m.headers
    return make_request(
        m.id,
        m.sender,
        _url(m.url),
        dict(headers.items()) if headers else {},  # items(): dict(map) goes key by key
        body,
        m.method or "GET",
    )


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


# Results that are not awaitable, told by their type alone (the common case).
_PLAIN = frozenset({bytes, str, dict, list, type(None), Response})


def _reply(m: pb.Request, code: int, headers: Dict[str, str], body: Optional[bytes]) -> pb.Reply:
    r = pb.Reply(request_id=m.id, attempt=m.attempt, status_code=code)
    if headers:  # an empty map still costs protobuf a conversion
        r.headers.update(headers)
    if body is not None:
        r.body = body
    return r


# -- requests waiting on disk (process_pending_requests) ---------------------


def pending_requests(rpc_dir: Path, endpoints: Iterable[str]) -> List[Path]:
    """The unanswered request files of these endpoints under ``rpc_dir``,
    in the sender folders and the legacy layout, as this process sees them."""
    out: List[Path] = []
    for ep in {rpc_dir / e.lstrip("/") for e in endpoints}:
        try:
            found = list(ep.glob("*.request"))
            found += [p for p in ep.glob("*/*.request") if "@" in p.parent.name]
        except OSError:
            continue
        out += [p for p in found if _is_request_name(p.name) and not answered(p)]
    return out


def _is_request_name(name: str) -> bool:
    # {id}.request only: not the SyftBox client's rejected, conflict or
    # temporary copies, which the sidecar never answers.
    stem = name[: -len(".request")]
    if not stem or "." in stem:
        return False
    return "syftrejected" not in stem and "syftconflict" not in stem


def answered(request: Path) -> bool:
    try:
        return request.with_suffix(".response").exists() or not request.exists()
    except OSError:
        return False
