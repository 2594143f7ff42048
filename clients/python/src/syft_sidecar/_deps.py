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

_Params = List[Tuple[str, Any]]

_lock = threading.Lock()
_params: Dict[Callable[..., Any], _Params] = {}
_adapters: Dict[Any, Any] = {}
_NO_ADAPTER = object()


def _signature(func: Callable[..., Any]) -> _Params:
    with _lock:
        params = _params.get(func)
    if params is None:
        hints = get_type_hints(func)
        params = [(name, hints.get(name, Any)) for name in inspect.signature(func).parameters]
        with _lock:
            _params[func] = params
    return params


def func_args_from_request(
    func: Callable[..., Any], request: Request, app: SyftEvents
) -> Dict[str, Any]:
    """The keyword arguments for ``func``; raises when the body does not fit."""
    return {name: _resolve(name, ptype, request, app) for name, ptype in _signature(func)}


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


def _resolve(pname: str, ptype: Any, request: Request, app: SyftEvents) -> Any:
    from ._server import SyftEvents

    if inspect.isclass(ptype) and ptype is Request:
        return Request(
            id=request.id,
            sender=request.sender,
            url=request.url,
            headers=dict(request.headers),
            body=request.body,
            method=request.method,
        )
    if inspect.isclass(ptype) and ptype is SyftEvents:
        return app
    if is_dataclass(ptype):
        return ptype(**request.json())  # type: ignore[operator]
    if BaseModel is not None and inspect.isclass(ptype) and issubclass(ptype, BaseModel):
        return ptype.model_validate_json(request.body)  # type: ignore[arg-type]
    if ptype is dict:
        return json.loads(request.body.decode()) if request.body else None
    if ptype is str:
        return request.text()
    adapter = _adapter(ptype)
    if adapter is _NO_ADAPTER:
        raise ValueError(f"Unknown type {ptype} for parameter {pname}")
    if request.body is None:
        return adapter.validate_python(None)
    return adapter.validate_json(request.body)
