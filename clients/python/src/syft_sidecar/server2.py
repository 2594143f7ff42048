"""syft-event's ``syft_event.server2``: where ``SyftEvents`` is defined.

Apps and tests import ``SyftEvents`` from here; the constants are syft-event's
names for what the sidecar does.
"""

from __future__ import annotations

from typing import Any, List

from ._server import SyftEvents

__all__ = ["DEFAULT_WATCH_EVENTS", "PERMS", "SyftEvents"]

try:
    # syft-event's server2 loads the client with this class; tests patch
    # server2.Client.load, which patches the class SyftEvents loads here too.
    from syft_core import Client  # noqa: F401
except ImportError:  # pragma: no cover - syft-core is optional
    pass

# What watch() delivers when no event_filter is given: created, moved and
# modified files (watchdog's classes when watchdog is installed).
DEFAULT_WATCH_EVENTS: List[Any]
try:
    from watchdog.events import FileCreatedEvent, FileModifiedEvent, FileMovedEvent

    DEFAULT_WATCH_EVENTS = [FileCreatedEvent, FileMovedEvent, FileModifiedEvent]
except ImportError:  # pragma: no cover - watchdog is optional
    DEFAULT_WATCH_EVENTS = ["created", "moved", "modified"]

# The permission file (rpc/syft.pub.yaml) that the sidecar writes for an app,
# byte for byte syft-event 0.4.3's: the schema readable by everyone, each
# sender's own requests and responses readable and writable by that sender.
PERMS = """
rules:
- pattern: rpc.schema.json
  access:
    read:
    - '*'
- pattern: '**/{{.UserEmail}}/*.request'
  access:
    read:
    - 'USER'
    write:
    - 'USER'
- pattern: '**/{{.UserEmail}}/*.response'
  access:
    read:
    - 'USER'
    write:
    - 'USER'
"""
