"""Background producers that belong to an object, not to a task group of the user's.

Design notes: docs/design.md, "Background producers".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from ._errors import ItnioError

__all__ = ["Background", "BackgroundReader", "on_asyncio"]

T = TypeVar("T")

# Strong references to running asyncio tasks (the loop keeps only weak ones).
_TASKS: set[asyncio.Task[None]] = set()


def on_asyncio() -> bool:
    """Whether the running event loop is asyncio's (else trio's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Background:
    """One detached task running ``func()`` in its own cancel scope.

    Must be made inside the event loop. :meth:`cancel` may be called at any
    time, even before the task has started, and from any task.
    """

    def __init__(self, func: Callable[[], Awaitable[None]]) -> None:
        self._func = func
        self._scope = anyio.CancelScope()
        self._done = anyio.Event()
        self._on_done: list[Callable[[Background], None]] = []

    def start(self, on_done: Callable[[Background], None] | None = None) -> None:
        if on_done is not None:
            self._on_done.append(on_done)
        if on_asyncio():
            task = asyncio.get_running_loop().create_task(self._run())
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)
        else:
            import trio

            trio.lowlevel.spawn_system_task(self._run, context=contextvars.copy_context())

    async def _run(self) -> None:
        try:
            with self._scope:
                await self._func()
        finally:
            self._done.set()
            for callback in self._on_done:
                callback(self)

    def cancel(self) -> None:
        """Cancel the task: it stops at its next await."""
        self._scope.cancel()

    async def join(self) -> None:
        """Wait until the task has finished."""
        await self._done.wait()


class BackgroundReader(Generic[T]):
    """The consumer's side of a :class:`Background` producer that feeds a memory stream.

    Not an async generator, so that dropping it (breaking out of ``async
    for``) closes it, which cancels the producer. Subclasses say how the
    producer ended (:meth:`_ended`) and what to say when it was stopped before
    its end (``_stopped_early``).
    """

    _stopped_early = "stopped before its end"

    def __init__(self, receive: MemoryObjectReceiveStream[T], producer: Background) -> None:
        self._receive = receive
        self._producer = producer
        self._closed = False

    def _ended(self) -> tuple[BaseException | None, bool]:
        """The producer's error, if any, and whether it finished its work."""
        raise NotImplementedError

    async def _next(self) -> T:
        """The next item; the producer's error, ``ItnioError`` if it was stopped, or the end."""
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            self.close()
            error, finished = self._ended()
            if error is not None:
                raise error from None
            if not finished:
                raise ItnioError(
                    f"{self._stopped_early}: the client was closed "
                    "(or the event loop is shutting down)"
                ) from None
            raise StopAsyncIteration from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop: close the channel and cancel the producer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._receive.close()
        self._producer.cancel()

    async def aclose(self) -> None:
        """Stop, and wait until the producer has stopped."""
        self.close()
        await self._producer.join()

    def __del__(self) -> None:
        # Breaking out of ``async for`` drops the reader without a call:
        # closing here is what stops its producer.
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()
