"""Where handlers run: the bounded thread pool of sync ones, and the event
loop of async ones.

``Workers`` is a ThreadPoolExecutor with a cheaper way in: ``go`` queues a call with no
Future around it (the handlers answer their call themselves), which keeps a
lone request's path short; ``submit`` is the Executor one, for
``run_in_executor``. Threads start as work finds none idle, up to ``size``.
``LoopThread`` runs one asyncio loop on a thread of its own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Executor, Future
from typing import Any, Awaitable, Callable, List, Optional, Tuple, TypeVar

log = logging.getLogger("syft_sidecar")

T = TypeVar("T")

_Item = Optional[Tuple[Callable[..., Any], Tuple[Any, ...]]]


class Workers(Executor):
    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._q: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        # Threads waiting for work, under _lock (a plain lock: its with-block
        # costs no Python frames, where a Semaphore's does).
        self._idle = 0
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._closed = False

    def go(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a pool thread; an exception it raises is lost."""
        if self._closed:
            raise RuntimeError("the pool is shut down")
        self._q.put((fn, args))
        with self._lock:
            if self._idle >= self._q.qsize():
                return  # a waiting thread for each piece of work
        self._grow()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        fut: Future[T] = Future()

        def run() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                r = fn(*args, **kwargs)
            except BaseException as e:
                fut.set_exception(e)
            else:
                fut.set_result(r)

        self.go(run)
        return fut

    def _grow(self) -> None:
        with self._lock:
            if len(self._threads) >= self._size or self._closed:
                return
            t = threading.Thread(
                target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
            )
            self._threads.append(t)
        t.start()

    def _work(self) -> None:
        q, lock = self._q, self._lock
        while True:
            with lock:
                self._idle += 1
            item = q.get()
            with lock:
                self._idle -= 1
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except BaseException:
                log.exception("a pool thread's work raised")
            del item, fn, args

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Queued work still runs; then the threads end."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._q.put(None)
        if wait:
            for t in threads:
                t.join()


class LoopThread:
    """The event loop that async handlers and callbacks share, run on a
    thread of its own from ``start()`` to ``stop()``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=self._name, daemon=True)
        self._thread.start()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop, from any thread."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn, *args)

    def wait(self, aw: Awaitable[T]) -> T:
        """Await ``aw`` on the loop and return its result; blocks the calling
        thread, which is never the loop's."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(_await(aw), self.loop).result()

    def stop(self, timeout: float) -> None:
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()


async def _await(aw: Awaitable[T]) -> T:
    return await aw
