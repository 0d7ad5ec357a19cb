"""The public type of a stream's iterator, :class:`StreamIterator`, and how streams open one."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from ._errors import ItnioError

__all__ = ["OpenOnce", "StreamIterator"]

T_co = TypeVar("T_co", covariant=True)


class StreamIterator(Protocol[T_co]):
    """What ``aiter(stream)`` and ``async with stream as records`` give: an async iterator
    that can be stopped.

    Leaving an ``async for`` loop stops the walk on its own. An iterator kept in
    a variable and not run to its end is stopped with :meth:`aclose`, which also
    waits until the walk's requests have stopped::

        records: StreamIterator[SipCallRecord] = aiter(client.voice.iter_sip_records(start, end))
        first = await anext(records)
        await records.aclose()

    It is a :class:`typing.Protocol`: use it in annotations; streams make the
    objects.
    """

    def __aiter__(self) -> StreamIterator[T_co]:
        """Return the iterator itself."""
        ...

    async def __anext__(self) -> T_co:
        """The next item; ``StopAsyncIteration`` at the end of the walk."""
        ...

    async def aclose(self) -> None:
        """Stop the walk and wait until its requests have stopped. Idempotent."""
        ...


It = TypeVar("It", bound=StreamIterator[Any])


class OpenOnce(Generic[It]):
    """An async iterable whose iterator ``async with`` opens and closes on leaving the block.

    Subclasses make the iterator in ``_start`` and name themselves in
    ``_already_open``, the error for a second ``async with`` while one is open.
    """

    _iterator: It | None = None
    _already_open = "this stream is already open"

    def _start(self) -> It:
        raise NotImplementedError

    def __aiter__(self) -> It:
        return self._start()

    async def __aenter__(self) -> It:
        if self._iterator is not None:
            raise ItnioError(self._already_open)
        self._iterator = self._start()
        return self._iterator

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        iterator, self._iterator = self._iterator, None
        if iterator is not None:
            await iterator.aclose()
