"""rpc.schema.json entries, generated exactly as syft-event's ``generate_schema``."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Union, get_type_hints

from .types import Request, Response

try:
    from pydantic import BaseModel
except ImportError:  # pragma: no cover - pydantic is optional
    BaseModel = None  # type: ignore[assignment,misc]

__all__ = ["generate_schema", "get_type_schema"]


def get_type_schema(type_hint: Any) -> Union[str, Dict[str, Any]]:
    """A schema representation of a type, as syft-event writes it."""
    if type_hint is None:
        return "null"
    if BaseModel is not None and isinstance(type_hint, type) and issubclass(type_hint, BaseModel):
        return {
            "type": "model",
            "name": type_hint.__name__,
            "schema": type_hint.model_json_schema(),
        }
    if getattr(type_hint, "__origin__", None) is list:
        return {"type": "array", "items": get_type_schema(type_hint.__args__[0])}
    if getattr(type_hint, "__origin__", None) is Union:
        types = [t for t in type_hint.__args__ if t is not type(None)]
        if len(types) == 1:
            return get_type_schema(types[0])
        return "union"
    if isinstance(type_hint, type):
        return type_hint.__name__.lower()
    return "any"


def generate_schema(func: Callable[..., Any]) -> Dict[str, Any]:
    """The schema of one handler: ``{"description", "args", "returns"}``."""
    sig = inspect.signature(func)
    hints = get_type_hints(func)
    params: Dict[str, Any] = {}
    for name, param in sig.parameters.items():
        ptype = hints.get(name, Any)
        if inspect.isclass(ptype) and ptype is Request:
            continue
        params[name] = {
            "type": get_type_schema(ptype),
            "required": param.default is param.empty,
        }
    ret_ptype = hints.get("return", Any)
    if inspect.isclass(ret_ptype) and ret_ptype is Response:
        ret_ptype = Any
    return {
        "description": inspect.getdoc(func),
        "args": params,
        "returns": get_type_schema(ret_ptype),
    }
