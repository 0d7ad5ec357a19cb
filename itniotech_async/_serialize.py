"""Records and pages as plain data: :func:`to_dict` and :func:`to_json`.

These give exactly what the ``itniotech`` command writes: snake_case keys (the
records' field names), times as ISO 8601 with their UTC offset, money and rates
as decimal strings (never floats), and ``None``/``null`` for a missing value.
"""

from __future__ import annotations

import json
from typing import Any

from ._converter import unstructure_record
from ._errors import InvalidArgumentError
from ._models import CallRecord, Page

__all__ = ["to_dict", "to_json"]


def to_dict(data: CallRecord | Page[Any]) -> dict[str, Any]:
    """Return a record, or a page, as a dict of JSON-ready values.

    A record gives its fields by name: ``str``, ``int`` or ``None`` values,
    times as ISO 8601 strings with their offset (``"2022-01-18T14:42:40+08:00"``)
    and money as decimal strings (``"1.2793"``). A :class:`Page` gives
    ``records`` (a list of such dicts), ``total``, ``pages``, ``current`` and
    ``size``. The dict is new and yours to change::

        await queue.put(itnio.to_dict(record))
        return JSONResponse(itnio.to_dict(page))
    """
    if isinstance(data, CallRecord):
        return unstructure_record(data)
    if isinstance(data, Page):
        return {
            "records": [unstructure_record(record) for record in data.records],
            "total": data.total,
            "pages": data.pages,
            "current": data.current,
            "size": data.size,
        }
    raise InvalidArgumentError(f"expected a call record or a Page, got {type(data).__name__}")


def to_json(data: CallRecord | Page[Any], *, indent: int | None = None) -> str:
    """Return :func:`to_dict` of a record or page as JSON text.

    Non-ASCII text is kept as is (encode the result as UTF-8). Without
    ``indent`` the text is one compact line, one line of the ``itniotech``
    command's JSONL output; with it, indented as ``itniotech record`` prints.
    """
    if indent is not None and (not isinstance(indent, int) or isinstance(indent, bool)):
        raise InvalidArgumentError(f"indent must be an int or None, got {indent!r}")
    separators = (",", ":") if indent is None else None
    return json.dumps(to_dict(data), ensure_ascii=False, indent=indent, separators=separators)
