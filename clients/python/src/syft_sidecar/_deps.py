"""Handler arguments injected by type, as syft-event's ``deps`` does.

Beyond syft-event: a type it cannot inject (``int``, ``UUID``,
``list[Model]``, ``Optional[...]``, ...) is validated from the JSON body
with pydantic's ``TypeAdapter`` when pydantic is installed; a body that is
not JSON at all (syft-rpc sends a ``str`` bare) is validated as that string.
"""

from __future__ import annotations

import inspect
import json
import threading
from dataclasses import is_dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, get_type_hints

from .types import Request, make_request

try:
    from pydantic import BaseModel, TypeAdapter, ValidationError
except ImportError:  # pragma: no cover - pydantic is optional
    BaseModel = None  # type: ignore[assignment,misc]
    TypeAdapter = None  # type: ignore[assignment,misc]
    ValidationError = Exception  # type: ignore[assignment,misc]

# ``app`` is the SyftEvents serving the request. This module does not import
# it (the app imports this one): a parameter annotated with the app's class,
# or a base of it, gets the app.
_Resolve = Callable[[Request, Any], Any]
_Plan = List[Tuple[str, _Resolve]]

_lock = threading.Lock()
_plans: Dict[Tuple[Callable[..., Any], type, bool], _Plan] = {}
_adapters: Dict[Any, Any] = {}
_NO_ADAPTER = object()


def func_args_from_request(func: Callable[..., Any], request: Request, app: Any) -> Dict[str, Any]:
    """The keyword arguments for ``func``; raises when the body does not fit.
    A parameter annotated ``Request`` gets a copy of ``request``."""
    plan = plan_args(func, type(app), False)
    return {name: resolve(request, app) for name, resolve in plan}


def plan_args(func: Callable[..., Any], app_type: type, own: bool) -> _Plan:
    """How to build each argument of ``func``, decided once per function (and
    app class) from its annotations (the order of the checks is
    syft-event's); raises on annotations it cannot read, each time. ``own``:
    the request is the handler's alone (made for this call), so a parameter
    annotated ``Request`` gets it as it is, not a copy."""
    key = (func, app_type, own)
    plan = _plans.get(key)
    if plan is None:
        hints = get_type_hints(func)
        plan = [
            (name, _resolver(name, hints.get(name, Any), app_type, own))
            for name in inspect.signature(func).parameters
        ]
        with _lock:
            _plans[key] = plan
    return plan


def _adapter(ptype: Any) -> Any:
    if TypeAdapter is None or ptype is Any:
        return _NO_ADAPTER
    try:
        with _lock:
            adapter = _adapters.get(ptype)
    except TypeError:  # unhashable annotation
        adapter = None
    if adapter is None:
        try:
            adapter = TypeAdapter(ptype)
        except Exception:
            adapter = _NO_ADAPTER
        try:
            with _lock:
                _adapters[ptype] = adapter
        except TypeError:
            pass
    return adapter


def _copy_request(request: Request, app: Any) -> Request:
    # str(): syft-rpc's SyftRequest (which callers of the public
    # func_args_from_request may pass, as to syft-event's) has a UUID id.
    return make_request(
        str(request.id),
        request.sender,
        request.url,
        dict(request.headers) if request.headers else {},
        request.body,
        request.method,
    )


def _same_request(request: Request, app: Any) -> Request:
    return request


def _the_app(request: Request, app: Any) -> Any:
    return app


def _json_dict(request: Request, app: Any) -> Any:
    return json.loads(request.body.decode()) if request.body else None


def _text(request: Request, app: Any) -> str:
    return request.text()


def _bare_text(e: Any, body: bytes) -> Optional[str]:
    """The body as text when it failed only for not being JSON at all."""
    if any(err.get("type") != "json_invalid" for err in e.errors()):
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def _is_app_class(ptype: Any, app_type: type) -> bool:
    try:
        return inspect.isclass(ptype) and ptype is not object and issubclass(app_type, ptype)
    except TypeError:  # list[int] passes isclass before Python 3.11
        return False


def _resolver(pname: str, ptype: Any, app_type: type, own: bool) -> _Resolve:
    if inspect.isclass(ptype) and ptype is Request:
        return _same_request if own else _copy_request
    if _is_app_class(ptype, app_type):
        return _the_app
    if is_dataclass(ptype):
        return lambda request, app: ptype(**request.json())  # type: ignore[operator]
    if BaseModel is not None and inspect.isclass(ptype) and issubclass(ptype, BaseModel):
        return lambda request, app: ptype.model_validate_json(request.body)  # type: ignore[arg-type]
    if ptype is dict:
        return _json_dict
    if ptype is str:
        return _text
    adapter = _adapter(ptype)
    if adapter is _NO_ADAPTER:

        def unknown(request: Request, app: Any) -> Any:
            raise ValueError(f"Unknown type {ptype} for parameter {pname}")

        return unknown

    def validate(request: Request, app: Any) -> Any:
        if request.body is None:
            return adapter.validate_python(None)
        try:
            return adapter.validate_json(request.body)
        except ValidationError as e:
            # syft-rpc sends a str body as the bare string, not as JSON: a
            # UUID, a date or an enum's value then arrive unquoted.
            text = _bare_text(e, request.body)
            if text is None:
                raise
            return adapter.validate_python(text)

    return validate
