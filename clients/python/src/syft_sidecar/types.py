"""Request and Response, as syft_event.types names them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

__all__ = ["Request", "Response"]


@dataclass
class Request:
    """One request as a handler sees it (syft-event's ``Request``).

    ``url`` is a syft-core ``SyftBoxURL`` when syft-core is installed, else a
    plain ``str``. ``body`` is ``None`` when the request's body is null.
    """

    id: str
    sender: str
    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    method: str = "GET"

    def text(self) -> str:
        """The body decoded as UTF-8, ``""`` when there is none (as syft-rpc's)."""
        if not self.body:
            return ""
        return self.body.decode()

    def json(self) -> Any:
        """The body parsed as JSON (as syft-rpc's ``SyftRequest.json``)."""
        return json.loads(self.text())


@dataclass
class Response:
    """What a handler returns to choose the status code and headers.

    ``body`` is serialized as syft-rpc serializes any return value.
    """

    body: Any = None
    status_code: int = 200
    headers: Optional[Dict[str, str]] = None
