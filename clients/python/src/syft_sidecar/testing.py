"""Helpers for tests of apps served through the sidecar.

``wait_for`` polls a condition until it holds or a deadline passes, instead of
sleeping a fixed time and hoping; ``accepts`` tells whether a sidecar (or any
server) listens on a unix socket yet::

    from syft_sidecar.testing import accepts, wait_for

    wait_for(lambda: accepts("/tmp/sb/s.sock"), "the sidecar socket")
    (path,) = wait_for(lambda: list(folder.glob("*.response")), "the response")
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from ._spawn import accepts

__all__ = ["accepts", "wait_for"]

T = TypeVar("T")


def wait_for(cond: Callable[[], T], what: str, within: float = 10.0, interval: float = 0.005) -> T:
    """Call ``cond`` until it returns something truthy, and return that.

    Sleeps ``interval`` seconds between tries; raises ``TimeoutError`` naming
    ``what`` once ``within`` seconds have passed without it.
    """
    deadline = time.monotonic() + within
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        time.sleep(interval)
