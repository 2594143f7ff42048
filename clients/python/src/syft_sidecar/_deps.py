"""Handler arguments injected by type, as syft-event's ``deps`` does.

Beyond syft-event: a type it cannot inject (``int``, ``UUID``,
``list[Model]``, ``Optional[...]``, ...) is validated from the JSON body
with pydantic's ``TypeAdapter`` when pydantic is installed.
"""

from __future__ import annotations

import inspect
import json
import threading
from dataclasses import is_dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Tuple, get_type_hints

from .types import Request

try:
    from pydantic import BaseModel, TypeAdapter
except ImportError:  # pragma: no cover - pydantic is optional
    BaseModel = None  # type: ignore[assignment,misc]
    TypeAdapter = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from ._server import SyftEvents

_Resolve = Callable[[Request, "SyftEvents"], Any]
_Plan = List[Tuple[str, _Resolve]]

_lock = threading.Lock()
_plans: Dict[Callable[..., Any], _Plan] = {}
_adapters: Dict[Any, Any] = {}
_NO_ADAPTER = object()


def func_args_from_request(
    func: Callable[..., Any], request: Request, app: SyftEvents
) -> Dict[str, Any]:
    """The keyword arguments for ``func``; raises when the body does not fit."""
    plan = _plans.get(func)
    if plan is None:
        plan = _plan(func)  # raises on annotations it cannot read, each time
        with _lock:
            _plans[func] = plan
    return {name: resolve(request, app) for name, resolve in plan}


def _plan(func: Callable[..., Any]) -> _Plan:
    """How to build each argument, decided once per function from its
    annotations (the order of the checks is syft-event's)."""
    hints = get_type_hints(func)
    return [
        (name, _resolver(name, hints.get(name, Any))) for name in inspect.signature(func).parameters
    ]


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


def _copy_request(request: Request, app: SyftEvents) -> Request:
    return Request(
        id=request.id,
        sender=request.sender,
        url=request.url,
        headers=dict(request.headers) if request.headers else {},
        body=request.body,
        method=request.method,
    )


def _the_app(request: Request, app: SyftEvents) -> SyftEvents:
    return app


def _json_dict(request: Request, app: SyftEvents) -> Any:
    return json.loads(request.body.decode()) if request.body else None


def _text(request: Request, app: SyftEvents) -> str:
    return request.text()


def _resolver(pname: str, ptype: Any) -> _Resolve:
    from ._server import SyftEvents

    if inspect.isclass(ptype) and ptype is Request:
        return _copy_request
    if inspect.isclass(ptype) and ptype is SyftEvents:
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

        def unknown(request: Request, app: SyftEvents) -> Any:
            raise ValueError(f"Unknown type {ptype} for parameter {pname}")

        return unknown

    def validate(request: Request, app: SyftEvents) -> Any:
        if request.body is None:
            return adapter.validate_python(None)
        return adapter.validate_json(request.body)

    return validate
