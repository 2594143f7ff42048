"""Cleanup of old request and response files: the sidecar's job.

The names syft-event's ``cleanup`` module exports exist here so that apps
import unchanged. The sidecar runs each app's cleanup with the
``cleanup_expiry`` and ``cleanup_interval`` that ``SyftEvents`` registers;
``SyftEvents.get_cleanup_stats()`` and ``cleanup_now()`` ask it. A
standalone ``PeriodicCleanup`` in the app's process is not offered: it
would race the sidecar.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Optional

__all__ = ["CLEANUP_NOT_AVAILABLE", "CleanupStats", "PeriodicCleanup", "parse_time_interval"]

CLEANUP_NOT_AVAILABLE = (
    "PeriodicCleanup: request/response cleanup runs in the syft-sidecar process; pass "
    "cleanup_expiry/cleanup_interval to SyftEvents and use its get_cleanup_stats() and "
    "cleanup_now()"
)

_UNITS = {"d": 24 * 60 * 60, "h": 60 * 60, "m": 60, "s": 1}


def parse_time_interval(interval_str: str) -> int:
    """Parse ``"1d"``, ``"2h"``, ``"30m"``, ``"45s"``, ``"1d2h30m"`` into seconds.

    The grammar and the errors are syft-event's.
    """
    if not interval_str:
        raise ValueError("Time interval cannot be empty")
    matches = re.findall(r"(\d+)([dhms])", interval_str.lower())
    if not matches:
        raise ValueError(
            f"Invalid time interval format: {interval_str}. "
            "Must be in the format of '1d', '2h', '30m', '1d2h30m', etc."
        )
    total_seconds = sum(int(value) * _UNITS[unit] for value, unit in matches)
    if total_seconds <= 0:
        raise ValueError("Time interval must be positive")
    return total_seconds


class CleanupStats:
    """Statistics for cleanup operations (syft-event's shape)."""

    def __init__(self) -> None:
        self.requests_deleted: int = 0
        self.responses_deleted: int = 0
        self.errors: int = 0
        self.last_cleanup: Optional[datetime] = None

    def reset(self) -> None:
        self.requests_deleted = 0
        self.responses_deleted = 0
        self.errors = 0


class PeriodicCleanup:
    """syft-event's standalone cleanup: the sidecar runs it instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(CLEANUP_NOT_AVAILABLE)
