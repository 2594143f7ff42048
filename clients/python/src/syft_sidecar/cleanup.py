"""Cleanup of old request and response files: the sidecar's job.

The names syft-event's ``cleanup`` module exports exist here so that apps
import unchanged. The sidecar runs each app's cleanup with the
``cleanup_expiry`` and ``cleanup_interval`` that ``SyftEvents`` registers;
``SyftEvents.get_cleanup_stats()`` and ``cleanup_now()`` ask it.
``PeriodicCleanup`` keeps syft-event's standalone API: each of its runs is a
``CleanNow`` call to the sidecar with its own expiry, so the files are only
ever removed by one process, which knows which requests are in flight.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import grpc

from ._channel import Dial, stub
from ._config import load_client, resolve_address
from ._pb.syftsidecar.v1 import sidecar_pb2 as pb

__all__ = ["CleanupStats", "PeriodicCleanup", "create_cleanup_callback", "parse_time_interval"]

logger = logging.getLogger("syft_sidecar")

# The sidecar's grammar: syft-event's, but whole units in order, so that
# "1.5h", "-1d" and "1h30" are errors rather than silently misread.
_STRICT = re.compile(r"(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?")

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

    def __str__(self) -> str:
        return (
            f"CleanupStats(requests={self.requests_deleted}, "
            f"responses={self.responses_deleted}, "
            f"errors={self.errors}, "
            f"last_cleanup={self.last_cleanup})"
        )


def stats_from_pb(m: Any) -> CleanupStats:
    """CleanupStats from the sidecar's message."""
    st = CleanupStats()
    st.requests_deleted = m.requests_deleted
    st.responses_deleted = m.responses_deleted
    st.errors = m.errors
    if m.HasField("last_cleanup"):
        st.last_cleanup = m.last_cleanup.ToDatetime(tzinfo=timezone.utc)
    return st


def check_duration(name: str, value: str) -> int:
    """Seconds in ``value``, checked against the sidecar's grammar; the
    error names the parameter."""
    v = value.strip().lower() if value else ""
    if not v or not _STRICT.fullmatch(v):
        raise ValueError(
            f"{name}: invalid duration {value!r}: use whole numbers of d, h, m and s "
            "in that order, such as 30d, 1h or 1d2h30m"
        )
    return parse_time_interval(v)


class PeriodicCleanup:
    """syft-event's standalone cleanup, run by the sidecar.

    Each run asks the sidecar to clean ``app_name`` now with this object's
    expiry (the app must be served: a handler registered it). ``start()``
    runs one at once and then every ``cleanup_interval``. ``sidecar``,
    ``token`` (else ``$SYFT_SIDECAR_TOKEN``) and ``credentials`` are
    ``SyftEvents``'s.
    """

    def __init__(
        self,
        app_name: str,
        cleanup_interval: str = "1d",
        cleanup_expiry: str = "30d",
        client: Optional[Any] = None,
        on_cleanup_complete: Optional[Callable[[CleanupStats], None]] = None,
        *,
        sidecar: Optional[str] = None,
        token: Optional[str] = None,
        credentials: Optional[grpc.ChannelCredentials] = None,
    ) -> None:
        self.app_name = app_name
        self.cleanup_interval_seconds = check_duration("cleanup_interval", cleanup_interval)
        self.cleanup_interval_str = cleanup_interval
        self.cleanup_expiry_seconds = check_duration("cleanup_expiry", cleanup_expiry)
        self.cleanup_expiry_str = cleanup_expiry
        given = client is not None
        if client is None and sidecar is None:
            client = load_client()  # as syft-event: the app's own config
        self.client = client
        self.on_cleanup_complete = on_cleanup_complete
        self.address = resolve_address(sidecar, client, given)
        # Where the files are, as syft-event's attributes say (None when
        # only a sidecar address was given).
        self.app_dir: Optional[Path] = (
            Path(client.app_data(app_name)) if client is not None else None
        )
        self.app_rpc_dir: Optional[Path] = self.app_dir / "rpc" if self.app_dir else None
        # The token, as SyftEvents sends it: given, else $SYFT_SIDECAR_TOKEN.
        self._dial = Dial.to(self.address, token, credentials)
        self._stop_event = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.stats = CleanupStats()

    def cleanup_now(self) -> CleanupStats:
        """Clean at once and return what was removed."""
        with self._dial.channel() as channel:
            req = pb.CleanNowRequest(app=self.app_name, expiry=self.cleanup_expiry_str)
            resp = stub(channel).CleanNow(req, timeout=60, metadata=self._dial.metadata)
        self.stats = stats_from_pb(resp.stats)
        if self.on_cleanup_complete is not None:
            try:
                self.on_cleanup_complete(self.stats)
            except Exception:
                logger.exception("error in cleanup completion callback")
        return self.stats

    perform_cleanup = cleanup_now

    def start(self) -> None:
        """Run cleanups in a background thread until ``stop()``."""
        if self._thread is not None:
            logger.warning("PeriodicCleanup is already running")
            return
        self._stop_event.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"PeriodicCleanup-{self.app_name}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.cleanup_now()
            except Exception:
                logger.exception("cleanup of %s failed", self.app_name)
            self._stop_event.wait(self.cleanup_interval_seconds)

    def stop(self) -> None:
        """Stop the background runs; safe to call twice."""
        t, self._thread = self._thread, None
        if t is None:
            return
        self._stop_event.set()
        t.join(timeout=10)

    def get_stats(self) -> CleanupStats:
        """What the last run removed."""
        return self.stats

    def is_running(self) -> bool:
        return self._thread is not None


def create_cleanup_callback(app_name: str) -> Callable[[CleanupStats], None]:
    """A cleanup completion callback that logs what was removed (syft-event's)."""

    def callback(stats: CleanupStats) -> None:
        logger.info(
            "[%s] Cleanup completed: %d requests, %d responses, %d errors",
            app_name,
            stats.requests_deleted,
            stats.responses_deleted,
            stats.errors,
        )

    return callback


class AppCleanup:
    """``SyftEvents._periodic_cleanup``: syft-event's ``PeriodicCleanup``
    of the app, which apps (syft-flwr) read; here it asks the sidecar,
    which runs the app's cleanup. Before ``start()`` it reports no run."""

    def __init__(
        self,
        running: Callable[[], bool],
        stats: Callable[[], Optional[CleanupStats]],
        clean: Callable[[], CleanupStats],
    ) -> None:
        self._running = running
        self._stats = stats
        self._clean = clean

    def is_running(self) -> bool:
        return self._running()

    def get_stats(self) -> CleanupStats:
        return self._stats() or CleanupStats()

    def cleanup_now(self) -> CleanupStats:
        return self._clean()

    perform_cleanup = cleanup_now
