"""EventRouter: endpoints grouped, then included with a prefix."""

from __future__ import annotations

from typing import Callable, Dict, TypeVar

__all__ = ["EventRouter"]

F = TypeVar("F", bound=Callable[..., object])


class EventRouter:
    """Router for organizing RPC endpoints in logical groups (as syft-event's)."""

    def __init__(self) -> None:
        self.routes: Dict[str, Callable[..., object]] = {}

    def on_request(self, endpoint: str) -> Callable[[F], F]:
        """Register a function to handle requests at ``endpoint``.

        The function is returned unchanged. Registering an endpoint twice
        raises ``ValueError``.
        """

        def register_rpc(func: F) -> F:
            if endpoint in self.routes:
                raise ValueError(f"endpoint {endpoint!r} is already registered on this router")
            self.routes[endpoint] = func
            return func

        return register_rpc
