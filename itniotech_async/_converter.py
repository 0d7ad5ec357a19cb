"""The one cattrs :class:`~cattrs.Converter` that turns API JSON into records, and back.

Design notes: docs/design.md, "Structuring records".
"""

from __future__ import annotations

import itertools
import linecache
import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
import cattrs

from ._models import CallRecord, GroupCallRecord, Page, SipCallRecord
from ._times import parse_iso_time

__all__ = ["converter", "structure_page", "structure_record", "unstructure_record"]

R = TypeVar("R", bound=CallRecord)


def _opt_str(value: object, _: object = None) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _voice_id(value: object, _: object = None) -> str:
    """The one required field: a record without a voiceId can be neither looked up nor
    de-duplicated (docs/design.md, "Records")."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a JSON number: the id's digits
    if value is None or value == "":
        raise ValueError(
            "a record without a voiceId (it could be neither looked up nor de-duplicated)"
        )
    raise ValueError(f"expected a voiceId string, got {type(value).__name__}")


def _opt_int(value: object, _: object = None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _opt_decimal(value: object, _: object = None) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a decimal string, got {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"expected a finite decimal, got {value!r}")
        return result
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        # A JSON number: keep the shortest text that round-trips, never the float.
        return Decimal(repr(value))
    raise ValueError(f"expected a decimal string, got {type(value).__name__}")


def _opt_datetime(value: object, _: object = None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return parse_iso_time(value)
    raise ValueError(f"expected an ISO 8601 time, got {type(value).__name__}")


_FIELD_HOOKS: dict[object, Callable[[Any, Any], Any]] = {
    str: _voice_id,
    str | None: _opt_str,
    int | None: _opt_int,
    Decimal | None: _opt_decimal,
    datetime | None: _opt_datetime,
}

_FIRST_CAP = re.compile(r"_([a-z])")


def _camel(name: str) -> str:
    return _FIRST_CAP.sub(lambda m: m.group(1).upper(), name)


def _is_type(expected: object) -> Callable[[Any], bool]:
    return lambda tp: bool(tp == expected)


# Money values repeat a lot (rates, costs): Decimals are immutable, so parsed
# ones are shared through this cache, emptied whenever it grows past its cap
# (a few MB at most).
# Empty and missing values are "cached" too: they are most of the misses.
_DECIMALS_EMPTY: dict[object, Decimal | None] = {"": None, None: None}
_DECIMALS: dict[object, Decimal | None] = dict(_DECIMALS_EMPTY)
_DECIMALS_CAP = 16384


def _cached_decimal(value: object) -> Decimal | None:
    if isinstance(value, str) and value:
        result = Decimal(value)
        if result.is_finite():
            if len(_DECIMALS) >= _DECIMALS_CAP:
                _DECIMALS.clear()
                _DECIMALS.update(_DECIMALS_EMPTY)
            _DECIMALS[value] = result
            return result
    return _opt_decimal(value)


def _init_only_stores(cls: type) -> bool:
    """Whether attrs' __init__ of ``cls`` only stores its arguments in slots."""
    return (
        "__slots__" in cls.__dict__
        and not any(hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__"))
        and all(f.validator is None and f.converter is None and f.init for f in attrs.fields(cls))
    )


def _draft_class(cls: type) -> type | None:
    """A subclass of ``cls`` whose instances take plain attribute stores and can become ``cls``.

    A frozen class refuses ``r.name = value``, and storing through each slot's
    descriptor costs a call per field. Its draft adds nothing to the layout
    and takes ``object``'s ``__setattr__`` and ``__delattr__`` (both, so that
    the interpreter stores straight into the slots), so a record is filled as
    a draft and then given its real class by ``__class__`` assignment: the
    result is an ordinary instance of ``cls``. None if this Python refuses
    the assignment (the keyword call is used then).
    """
    draft = type(
        f"_{cls.__name__}Draft",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    try:
        probe: object = object.__new__(draft)
        probe.__class__ = cls
    except TypeError:  # pragma: no cover - CPython allows it for these layouts
        return None
    return draft


def _make_structure_fn(cls: type[CallRecord]) -> Callable[[Mapping[str, Any], Any], Any]:
    """Generate, once, a flat structuring function for one record class.

    The fast path reads the values of all the API's keys at once with an
    ``itemgetter`` when the record is a ``dict`` holding every key (the usual
    answer), else one ``.get`` per key. It handles the common shapes inline: a
    non-empty ``str``, an ``int`` duration, a cached decimal, an ISO time for
    ``datetime.fromisoformat``, an empty optional value (``None`` or ``""``).
    Anything else goes to the field type's hook,
    and if the fast path raises at all, the record is structured again by the
    careful path (every field through its hook, then the class's own
    ``__init__``), which raises a clear error for a value that really is bad.
    Missing keys read as ``None`` like empty strings; keys we do not know are
    never looked at. There is no detailed validation here: this is the hot
    path of every stream.

    While attrs' ``__init__`` only stores its arguments (no validators,
    converters or init hooks), the fast path fills a draft of the record with
    plain attribute stores and then gives it its class (see
    :func:`_draft_class`): a page is structured in about half the
    instructions the keyword call takes, and two thirds of what storing
    through each slot's descriptor takes.
    """
    fields = attrs.fields(cls)
    keys = [_camel(field.name) for field in fields]
    namespace: dict[str, Any] = {
        "cls": cls,
        "new": object.__new__,
        "fromiso": datetime.fromisoformat,
        "decimals": _DECIMALS,
        "cached_decimal": _cached_decimal,
        "all_values": operator.itemgetter(*keys),
    }
    draft = _draft_class(cls) if _init_only_stores(cls) else None
    direct = draft is not None
    values = ", ".join(f"v{i}" for i in range(len(fields)))
    each_get, fast, careful = [], [], []
    for i, (field, key) in enumerate(zip(fields, keys, strict=True)):
        hook = _FIELD_HOOKS[field.type]
        hook_name = f"_{field.name}"
        namespace[hook_name] = hook
        v = f"v{i}"
        each_get.append(f"        {v} = g({key!r})")
        careful.append(f"        {field.name}={hook_name}(g({key!r})),")
        # An optional field's empty value (a missing key reads as None) is
        # None without a call: unanswered calls leave several times empty.
        other = f"{hook_name}({v})"
        if hook is not _voice_id:
            other = f'(None if {v} is None or {v} == "" else {other})'
        if hook is _opt_str or hook is _voice_id:
            value = f"{v} if {v}.__class__ is str and {v} else {other}"
        elif hook is _opt_int:
            value = f"{v} if {v}.__class__ is int else {other}"
        elif hook is _opt_decimal:
            value = f"decimals[{v}] if {v} in decimals else cached_decimal({v})"
        else:
            # An aware time, else the hook (which rejects a time without an offset).
            value = (
                f"(t if (t := fromiso({v})).tzinfo is not None else {hook_name}({v})) "
                f"if {v}.__class__ is str and {v} else {other}"
            )
        if direct:
            fast.append(f"        r.{field.name} = {value}")
        else:
            fast.append(f"            {field.name}={value},")
    if direct:
        namespace["draft"] = draft
        build = ["        r = new(draft)", *fast, "        r.__class__ = cls", "        return r"]
    else:
        build = ["        return cls(", *fast, "        )"]
    name = f"structure_{cls.__name__}"
    lines = [
        "def careful(o, _=None):",
        "    g = o.get",
        "    return cls(",
        *careful,
        "    )",
        f"def {name}(o, _=None):",
        "    try:",
        "        if o.__class__ is not dict:",
        "            raise KeyError",
        f"        {values}, = all_values(o)",
        "    except KeyError:",
        "        g = o.get",
        *each_get,
        "    try:",
        *build,
        "    except Exception:",
        "        return careful(o)",
    ]
    source = "\n".join(lines) + "\n"
    filename = f"<itniotech_async generated {name} {cls.__module__}.{cls.__qualname__}>"
    # Registered as cattrs does, so that a traceback through it shows its lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    fn: Callable[[Mapping[str, Any], Any], Any] = namespace[name]
    return fn


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    for tp, hook in _FIELD_HOOKS.items():
        conv.register_structure_hook_func(_is_type(tp), hook)
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_unstructure_hook(Decimal, str)
    for cls in (GroupCallRecord, SipCallRecord):
        attrs.resolve_types(cls)
        conv.register_structure_hook(cls, _make_structure_fn(cls))
    return conv


converter = _make_converter()


def structure_record(data: Any, cls: type[R]) -> R:
    """Turn one record object of the API into ``cls``."""
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a record object, got {type(data).__name__}")
    return converter.structure(data, cls)


def structure_page(data: Any, cls: type[R]) -> Page[R]:
    """Turn the ``data`` of a query answer into a :class:`Page` of ``cls``.

    A page must carry its ``records`` list and its ``total``, ``pages``,
    ``current`` and ``size`` as whole numbers; a page whose ``searchCount``
    is false counted nothing, so its ``total`` means nothing either.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a page object, got {type(data).__name__}")
    raw = data.get("records")
    if not isinstance(raw, (list, tuple)):
        what = "no records list" if raw is None else f"records of type {type(raw).__name__}"
        raise ValueError(f"the page has {what}")
    if data.get("searchCount") is False:
        raise ValueError("the page was served without a count (searchCount is false)")
    structure = converter.get_structure_hook(cls)
    try:
        records = tuple(map(structure, raw, itertools.repeat(cls, len(raw))))
    except AttributeError:
        for item in raw:
            if not isinstance(item, Mapping):
                raise ValueError(f"expected a record object, got {type(item).__name__}") from None
        raise
    return Page(
        records=records,
        total=_page_int(data, "total"),
        pages=_page_int(data, "pages"),
        current=_page_int(data, "current"),
        size=_page_int(data, "size"),
    )


def _page_int(data: Mapping[str, Any], key: str) -> int:
    value = _opt_int(data.get(key))
    if value is None:
        raise ValueError(f"the page has no {key}")
    return value


def unstructure_record(record: CallRecord) -> dict[str, Any]:
    """Return a record as a JSON-ready dict: snake_case keys, ISO times, decimal strings."""
    result: dict[str, Any] = converter.unstructure(record)
    return result
