"""syft-event's ``syft_event.handlers``: here only so that its import works.

syft-event's ``RpcRequestHandler`` and ``AnyPatternHandler`` are watchdog
event handlers for the app's own observer. A sidecar app has no observer:
the sidecar watches the files and sends the requests and file events here.
Use ``SyftEvents.on_request`` and ``SyftEvents.watch``; see the README,
"What does not carry over".
"""

from __future__ import annotations

from typing import List

__all__: List[str] = []

_NOT_HERE = {"RpcRequestHandler", "AnyPatternHandler", "PatternMatchingHandler"}


def __getattr__(name: str) -> object:
    if name in _NOT_HERE:
        raise AttributeError(
            f"syft_sidecar.handlers.{name}: syft-event's watchdog handler has no "
            "counterpart (the sidecar watches the files); use SyftEvents.on_request "
            "or SyftEvents.watch"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
