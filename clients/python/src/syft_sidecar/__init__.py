"""syft-event's API for SyftBox apps, served through the syft-sidecar process.

Migrating a syft-event app is changing ``syft_event`` to ``syft_sidecar`` in
its imports.
"""

from ._calls import extend_deadline
from ._config import LocalClient
from ._events import FileEvent, MissedEvents
from ._listeners import EventListener
from ._server import SyftEvents
from .router import EventRouter
from .types import Request, Response

__version__ = "0.1.0"
__all__ = [
    "EventListener",
    "EventRouter",
    "FileEvent",
    "LocalClient",
    "MissedEvents",
    "Request",
    "Response",
    "SyftEvents",
    "extend_deadline",
]
