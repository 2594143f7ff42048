"""Return values to body bytes, exactly as syft-rpc 0.4's ``serialize``."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from typing import Any, Dict, Optional

try:
    from pydantic import BaseModel, ConfigDict

    class _GenericModel(BaseModel):
        model_config = ConfigDict(extra="allow")

except ImportError:  # pragma: no cover - pydantic is optional
    BaseModel = None  # type: ignore[assignment,misc]
    _GenericModel = None  # type: ignore[assignment,misc]


def _dump_mapping(obj: Dict[str, Any]) -> bytes:
    if _GenericModel is not None:
        return _GenericModel(**obj).model_dump_json().encode()
    # Without pydantic: the compact form pydantic writes for plain JSON values.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def serialize(obj: Any) -> Optional[bytes]:
    """``None`` for ``None``; bytes as they are; ``str`` as UTF-8; pydantic
    models, dataclasses and dicts as compact JSON; anything else ``json.dumps``."""
    if obj is None:
        return None
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, str):
        return obj.encode()
    if BaseModel is not None and isinstance(obj, BaseModel):
        return obj.model_dump_json().encode()
    if is_dataclass(obj) and not isinstance(obj, type):
        return _dump_mapping(asdict(obj))
    if isinstance(obj, dict):
        return _dump_mapping(obj)
    return json.dumps(obj).encode()
