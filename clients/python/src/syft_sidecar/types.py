"""Request and Response, as syft_event.types names them.

With pydantic installed (as in every syft-event app) they are pydantic
models with syft-event's fields, so that building one with a field missing
raises pydantic's ``ValidationError`` as there; without pydantic they are
dataclasses with the same fields (a missing field raises ``TypeError``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Optional

__all__ = ["Request", "Response"]

try:
    from pydantic import BaseModel, Field

    _PYDANTIC = True
except ImportError:  # pragma: no cover - pydantic is optional
    _PYDANTIC = False

if TYPE_CHECKING:
    URL = str
else:
    try:
        from syft_core.url import SyftBoxURL as URL
    except ImportError:  # pragma: no cover - syft-core is optional
        URL = str


class _Body:
    """What syft-event's Request lacks and syft-rpc's SyftRequest has."""

    def text(self) -> str:
        """The body decoded as UTF-8, ``""`` when there is none (as syft-rpc's)."""
        body: Optional[bytes] = getattr(self, "body", None)
        return body.decode() if body else ""

    def json(self) -> Any:
        """The body parsed as JSON (as syft-rpc's ``SyftRequest.json``)."""
        return json.loads(self.text())


if TYPE_CHECKING or _PYDANTIC:
    # Its json() is syft-rpc's SyftRequest.json(), not BaseModel's deprecated one.
    class Request(_Body, BaseModel):  # type: ignore[misc]
        """One request as a handler sees it (syft-event's ``Request``).

        ``url`` is a syft-core ``SyftBoxURL`` when syft-core is installed,
        else a plain ``str``. ``body`` is ``None`` when the request's body is
        null.
        """

        id: str
        sender: str
        url: URL
        headers: Dict[str, str] = Field(default_factory=dict)
        body: Optional[bytes]
        method: str

    class Response(BaseModel):
        """What a handler returns to choose the status code and headers.

        ``body`` is serialized as syft-rpc serializes any return value.
        """

        body: Any = None
        status_code: int = 200
        headers: Optional[Dict[str, str]] = None

else:  # pragma: no cover - pydantic is optional

    @dataclass
    class Request(_Body):
        id: str
        sender: str
        url: str
        body: Optional[bytes]
        method: str
        headers: Dict[str, str] = field(default_factory=dict)

    @dataclass
    class Response:
        body: Any = None
        status_code: int = 200
        headers: Optional[Dict[str, str]] = None


_new = object.__new__
_set = object.__setattr__
_FIELDS = frozenset(("id", "sender", "url", "headers", "body", "method"))


def make_request(
    id: str, sender: str, url: Any, headers: Dict[str, str], body: Optional[bytes], method: str
) -> Request:
    """A Request from fields the sidecar already checked, without validating
    them again (the hot path).

    It sets what pydantic's ``model_construct`` sets, directly: that call
    walks the model's fields and costs about six times as much, once per
    request. test_types checks that both build the same model."""
    if not _PYDANTIC:  # pragma: no cover - pydantic is optional
        return Request(id=id, sender=sender, url=url, headers=headers, body=body, method=method)
    r = _new(Request)
    fields = {"id": id, "sender": sender, "url": url, "headers": headers}
    fields["body"], fields["method"] = body, method
    _set(r, "__dict__", fields)
    _set(r, "__pydantic_fields_set__", set(_FIELDS))
    _set(r, "__pydantic_extra__", None)
    _set(r, "__pydantic_private__", None)
    return r
