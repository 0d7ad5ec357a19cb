"""The public type of a stream's iterator, :class:`StreamIterator`."""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["StreamIterator"]

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
