"""EventRouter: endpoints grouped, then included with a prefix."""

from __future__ import annotations

import logging
from typing import Callable, Dict, TypeVar

__all__ = ["EventRouter"]

F = TypeVar("F", bound=Callable[..., object])

log = logging.getLogger("syft_sidecar")


class EventRouter:
    """Router for organizing RPC endpoints in logical groups (as syft-event's)."""

    def __init__(self) -> None:
        self.routes: Dict[str, Callable[..., object]] = {}

    def on_request(self, endpoint: str) -> Callable[[F], F]:
        """Register a function to handle requests at ``endpoint``.

        The function is returned unchanged. Registering an endpoint again
        replaces its handler, with a warning (syft-event replaced it
        silently).
        """

        def register_rpc(func: F) -> F:
            old = self.routes.get(endpoint)
            if old is not None:
                log.warning(
                    "router endpoint %s registered again: %s replaces %s",
                    endpoint,
                    getattr(func, "__qualname__", repr(func)),
                    getattr(old, "__qualname__", repr(old)),
                )
            self.routes[endpoint] = func
            return func

        return register_rpc
