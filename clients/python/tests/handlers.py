"""One set of handlers, defined against syft_event or syft_sidecar, so both
can serve them side by side. Only the module the names come from differs."""

import asyncio
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Dict, List, Optional

from pydantic import BaseModel


class User(BaseModel):
    name: str
    age: int = 0


@dataclass
class Point:
    x: int
    y: int


class Opaque:
    """A type neither syft-event nor pydantic can build from a body."""


def define(box: Any, mod: ModuleType) -> None:
    Request = mod.Request
    Response = mod.Response

    @box.on_request("/text")
    def text(name: str) -> str:
        """Greets by name."""
        return f"Hello, {name}!"

    @box.on_request("/dict")
    def echo_dict(data: dict) -> dict:
        return {"got": data, "ünï": "cödé", "n": 1.5}

    @box.on_request("/model")
    def model(user: User) -> User:
        return User(name=user.name.upper(), age=user.age + 1)

    @box.on_request("/point")
    def point(p: Point) -> Point:
        return Point(x=p.y, y=p.x)

    @box.on_request("/request")
    def request(req: Request) -> Dict[str, Any]:
        return {
            "sender": req.sender,
            "method": req.method,
            "body": req.body.decode() if req.body else None,
            "url": str(req.url),
        }

    @box.on_request("/bytes")
    def raw(req: Request) -> bytes:
        return b"\x00\x01raw"

    @box.on_request("/none")
    def nothing() -> None:
        return None

    @box.on_request("/list")
    def listing() -> List[int]:
        return [1, 2, 3]

    @box.on_request("/number")
    def number() -> float:
        return 2.5

    @box.on_request("/custom")
    def custom() -> Response:
        return Response(
            body={"message": "Custom response"},
            status_code=201,
            headers={"X-Custom-Header": "value"},
        )

    @box.on_request("/opaque")
    def opaque(thing: Opaque) -> str:
        return "unreachable"

    @box.on_request("/boom")
    def boom(req: Request) -> str:
        raise RuntimeError("kaboom")

    @box.on_request("/optional")
    def optional(user: Optional[User] = None) -> Optional[User]:
        return user

    @box.on_request("/async")
    async def async_handler(task_id: str) -> dict:
        await asyncio.sleep(0.01)
        return {"task_id": task_id, "status": "completed"}

    @box.on_request("/nested/deep/path")
    def deep(data: dict) -> dict:
        """Nested endpoints work too."""
        return data or {}


# (endpoint, body) pairs both implementations get; bodies as syft-rpc sends them.
CASES: List[Any] = [
    ("/text", "world"),
    ("/text", None),
    ("/dict", {"a": 1, "b": [1, 2]}),
    ("/dict", None),
    ("/dict", "not json"),
    ("/model", {"name": "ann", "age": 3}),
    ("/model", {"age": "x"}),
    ("/model", "not json"),
    ("/model", None),
    ("/point", {"x": 1, "y": 2}),
    ("/point", {"x": 1, "z": 2}),
    ("/point", "[1, 2]"),
    ("/request", b"payload"),
    ("/bytes", None),
    ("/none", None),
    ("/list", None),
    ("/number", None),
    ("/custom", None),
    ("/opaque", "{}"),
    ("/boom", None),
    ("/async", "t1"),
    ("/nested/deep/path", {"k": "v"}),
]
