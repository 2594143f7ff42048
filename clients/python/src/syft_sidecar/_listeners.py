"""Event listeners in the AltaStata SDK's style: ``callback(event_name, data)``."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List

log = logging.getLogger("syft_sidecar")

__all__ = ["EventListener", "ListenerRegistry"]


class EventListener:
    """A registered callback; pass it to ``remove_event_listener``."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[str, Any], Any]) -> None:
        self.callback = callback

    def notify(self, event_name: str, data: Any) -> None:
        """Call the callback; an exception is logged with its traceback and
        never reaches the caller, so the listener goes on."""
        try:
            self.callback(event_name, data)
        except Exception:
            log.exception("event listener %r raised on %s", self.callback, event_name)

    def __repr__(self) -> str:
        return f"EventListener({self.callback!r})"


class ListenerRegistry:
    """The listeners of one app, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: List[EventListener] = []

    def add(self, callback: Callable[[str, Any], Any]) -> EventListener:
        if not callable(callback):
            raise TypeError(f"event listener must be callable, got {callback!r}")
        listener = EventListener(callback)
        with self._lock:
            self._listeners.append(listener)
        return listener

    def remove(self, listener: EventListener) -> None:
        with self._lock:
            try:
                self._listeners.remove(listener)
            except ValueError:
                raise ValueError(f"{listener!r} is not registered") from None

    def clear(self) -> None:
        with self._lock:
            self._listeners.clear()

    def listeners(self) -> List[EventListener]:
        with self._lock:
            return list(self._listeners)

    def emit(self, event_name: str, data: Any) -> None:
        """Deliver one event to every listener (used by the file-events stream)."""
        for listener in self.listeners():
            listener.notify(event_name, data)
