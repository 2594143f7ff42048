"""Where handlers run: the bounded thread pool of sync ones, and the event
loop of async ones.

``Workers`` is a ThreadPoolExecutor with a cheaper way in: ``go`` queues a call with no
Future around it (the handlers answer their call themselves), which keeps a
lone request's path short; ``submit`` is the Executor one, for
``run_in_executor``. ``LoopThread`` runs one asyncio loop on a thread of its own.

The pool wakes a thread only when no awake one will take the work. A batch
of requests queued at once is taken by one thread after the other while their
handlers return quickly (only one of them runs Python at a time anyway, under
the GIL), instead of waking a thread for each request: each wake-up costs a
context switch and a hand-off of the GIL. A handler that blocks is not waited
for: the thread that takes a piece of work while more is queued makes sure
another is awake to take the rest, so every queued piece starts as soon as a
thread is free, up to ``size`` threads.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import deque
from concurrent.futures import Executor, Future
from typing import Any, Awaitable, Callable, Deque, List, Optional, Tuple, TypeVar

log = logging.getLogger("syft_sidecar")

T = TypeVar("T")

_Item = Tuple[Callable[..., Any], Tuple[Any, ...]]


class Workers(Executor):
    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        # All of the below under _lock (a plain lock: its with-block costs no
        # Python frames, where a Condition's does).
        self._lock = threading.Lock()
        self._work: Deque[_Item] = deque()
        # Threads awake and not running work: each takes what is queued
        # before it sleeps, so work queued while one is awake wakes nobody.
        self._awake = 0
        # Threads asleep on _wake; a token wakes one, counted awake by the
        # thread that put it.
        self._asleep = 0
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._threads: List[threading.Thread] = []
        self._closed = False

    def go(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a pool thread; an exception it raises is lost."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            self._work.append((fn, args))
            if self._awake:
                return
            more = self._another()
        if more is not None:
            self._rouse(more)

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

    def _another(self) -> Optional[threading.Thread]:
        """Under _lock: count one more thread awake, a sleeping one or a new
        one (returned with the sleeping ones' wake-up token, ``_rouse`` it
        outside the lock); none when all ``size`` are running work."""
        if self._asleep:
            self._asleep -= 1
            self._awake += 1
            return _TOKEN
        if len(self._threads) >= self._size:
            return None
        t = threading.Thread(
            target=self._run, name=f"{self._name}_{len(self._threads)}", daemon=True
        )
        self._threads.append(t)
        self._awake += 1
        return t

    def _rouse(self, t: threading.Thread) -> None:
        if t is _TOKEN:
            self._wake.put(True)
        else:
            t.start()

    def _run(self) -> None:
        lock, work = self._lock, self._work
        while True:
            with lock:
                if work:
                    fn, args = work.popleft()
                    self._awake -= 1
                    # Whoever takes the rest may be a thread whose handler blocks:
                    # another must be awake to take it.
                    more = self._another() if work and not self._awake else None
                elif self._closed:
                    self._awake -= 1
                    return
                else:
                    self._awake -= 1
                    self._asleep += 1
                    fn = None
            if fn is None:
                self._wake.get()
                continue
            if more is not None:
                self._rouse(more)
            try:
                fn(*args)
            except BaseException:
                log.exception("a pool thread's work raised")
            del fn, args
            with lock:
                self._awake += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Queued work still runs; then the threads end."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
            asleep, self._asleep = self._asleep, 0
            self._awake += asleep
        for _ in range(asleep):
            self._wake.put(True)
        if wait:
            for t in threads:
                t.join()


# What _another returns for "wake a sleeping thread".
_TOKEN = threading.Thread()


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
