"""Background producers that belong to an object, not to a task group of the user's.

A stream's producer must outlive the ``__anext__`` call that starts it. Running
it in a task group that a context manager of ours enters and exits would put
the user's own code inside that task group: an async generator of theirs that
yields inside ``async with client`` (PEP 789), or an ``__aenter__`` and
``__aexit__`` in different tasks (startup and shutdown hooks), would then tear
the task group apart.

So a producer runs as a detached task (an ``asyncio`` task on asyncio, a system
task on trio) inside its own cancel scope, and whoever starts it holds a
:class:`Background` handle to cancel it and wait for it. Nothing the task does
can escape: the functions run here handle their own errors and hand them to
their consumer. The client keeps the handles of all its producers and stops
them when it closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["Background", "on_asyncio"]

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

            trio.lowlevel.spawn_system_task(self._run)

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
