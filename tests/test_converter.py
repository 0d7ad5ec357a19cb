"""The generated structuring functions agree with the plain per-field hooks, bad values included."""

from __future__ import annotations

import pickle
import traceback
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from itniotech_async import GroupCallRecord, SipCallRecord
from itniotech_async import _converter as conv
from itniotech_async._times import parse_iso_time

RECORD_TYPES = [GroupCallRecord, SipCallRecord]

VALUES: dict[object, st.SearchStrategy[Any]] = {
    # voice_id: required; mostly usable, sometimes missing, empty or of a wrong kind.
    str: st.one_of(
        st.text(min_size=1, max_size=19),
        st.integers(0, 10**19),
        st.sampled_from([None, "", 1.5, True, [1]]),
    ),
    str | None: st.one_of(
        st.none(),
        st.just(""),
        st.text(max_size=8),
        st.integers(),
        st.lists(st.integers(), max_size=1),
    ),
    int | None: st.one_of(
        st.none(),
        st.just(""),
        st.integers(-5, 10**6),
        st.sampled_from(["7", " 8 ", "x", "1.5"]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
    ),
    Decimal | None: st.one_of(
        st.none(),
        st.just(""),
        st.sampled_from(["0", "0.0752", "2", "1.2793", " 3.5 ", "NaN", "Infinity", "abc", "1e3"]),
        st.integers(-100, 100),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    ),
    datetime | None: st.one_of(
        st.none(),
        st.just(""),
        st.sampled_from(
            [
                "2022-01-18T14:42:40+08:00",
                "2026-03-01T00:00:00Z",
                "2026-03-01T00:00:00+05:30",
                "2026-03-01 10:00:00+00:00",
                "2026-03-01T10:00:00",
                "yesterday",
            ]
        ),
        st.integers(),
    ),
}


def reference(data: dict[str, Any], cls: type[Any]) -> Any:
    """What structuring must give: each field through its type's hook, then the class."""
    return cls(
        **{
            f.name: conv._FIELD_HOOKS[f.type](data.get(conv._camel(f.name)))
            for f in attrs.fields(cls)
        }
    )


@st.composite
def api_records(draw: st.DrawFn, cls: type[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    # Half the records carry every key (the generated function's itemgetter
    # path), the others a random subset (its one-get-per-key path).
    every_key = draw(st.booleans())
    for f in attrs.fields(cls):
        if every_key or f.name == "voice_id" or draw(st.booleans()):
            data[conv._camel(f.name)] = draw(VALUES[f.type])
    if draw(st.booleans()):
        data["someNewVendorField"] = draw(st.text(max_size=3))
    return data


@pytest.mark.parametrize("cls", RECORD_TYPES)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_generated_matches_reference(cls: type[Any], data: st.DataObject) -> None:
    """Same record, or an error for both, whatever the field values."""
    record = data.draw(api_records(cls))
    try:
        want = reference(record, cls)
    except Exception:
        with pytest.raises(Exception):  # noqa: B017 - any clear error will do
            conv.structure_record(record, cls)
        return
    got = conv.structure_record(record, cls)
    assert got == want
    assert type(got) is cls
    for name in ("cost", "rate", "settle_pay"):
        value = getattr(got, name)
        assert value is None or (isinstance(value, Decimal) and value.is_finite())


def test_slots_are_filled_only_for_plain_init() -> None:
    """A class whose __init__ does more than store values is built through __init__."""
    calls: list[str | None] = []

    @attrs.frozen(kw_only=True)
    class Hooked(SipCallRecord):
        def __attrs_post_init__(self) -> None:
            calls.append(self.voice_id)

    attrs.resolve_types(Hooked)
    assert conv._init_only_stores(SipCallRecord)
    assert not conv._init_only_stores(Hooked)
    structure = conv._make_structure_fn(Hooked)
    got = structure({"voiceId": "1", "cost": "0.5", "callDuration": 3}, None)
    assert calls == ["1"]
    assert got == Hooked(voice_id="1", cost=Decimal("0.5"), call_duration=3)


@pytest.mark.parametrize("cls", RECORD_TYPES)
def test_fast_path_records_are_plain_frozen_instances(cls: type[Any]) -> None:
    """A record filled as a draft is an ordinary frozen instance of its class afterwards."""
    raw = {"voiceId": "9", "callee": "123", "submitTime": "2026-01-02T03:04:05+08:00"}
    record = conv.structure_record(raw, cls)
    assert type(record) is cls
    assert conv._draft_class(cls) is not None  # (so the fast path built it as a draft)
    assert record == cls(
        voice_id="9",
        callee="123",
        submit_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8))),
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.callee = "other"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del record.callee
    assert attrs.evolve(record, callee="1").callee == "1"
    assert pickle.loads(pickle.dumps(record)) == record
    assert hash(record) == hash(cls(**attrs.asdict(record, recurse=False)))


def test_decimal_cache_is_bounded_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decimal cache never exceeds its cap and always gives the parsed value."""
    monkeypatch.setattr(conv, "_DECIMALS_CAP", 50)
    for i in range(500):
        text = f"{i}.{i % 7}"
        rec = conv.structure_record({"voiceId": "1", "cost": text, "settlePay": ""}, SipCallRecord)
        assert rec.cost == Decimal(text)
        assert rec.settle_pay is None
        assert len(conv._DECIMALS) <= 50
    assert conv._DECIMALS[""] is None


@pytest.mark.parametrize("cls", RECORD_TYPES)
def test_any_mapping_is_read_with_get(cls: type[Any]) -> None:
    """A mapping other than a dict is read key by key, never with ``[]``."""
    from collections import defaultdict
    from types import MappingProxyType

    full = {conv._camel(f.name): "" for f in attrs.fields(cls)} | {"voiceId": "7", "cost": "1.5"}
    want = cls(voice_id="7", cost=Decimal("1.5"))
    assert conv.structure_record(full, cls) == want
    assert conv.structure_record(MappingProxyType(full), cls) == want
    # [] on a defaultdict would add the missing keys to it; .get does not.
    sparse = defaultdict(lambda: "x", voiceId="7")
    assert conv.structure_record(sparse, cls) == cls(voice_id="7")
    assert dict(sparse) == {"voiceId": "7"}  # (a mutation here means [] was used)
    with pytest.raises(ValueError, match="record object"):
        conv.structure_page({"records": [["not", "a", "record"]]}, cls)


@pytest.mark.parametrize("cls", RECORD_TYPES)
@pytest.mark.parametrize("voice_id", [None, "", 1.5, True])
def test_record_without_usable_voice_id_is_rejected(cls: type[Any], voice_id: object) -> None:
    """A missing, empty or non-string voiceId is an error, on both structuring paths."""
    full = {conv._camel(f.name): "" for f in attrs.fields(cls)} | {"voiceId": voice_id}
    for data in (full, {"voiceId": voice_id, "cost": "1"}, {"cost": "1"}):
        with pytest.raises(ValueError, match="voiceId"):
            conv.structure_record(data, cls)


def test_numeric_voice_id_keeps_its_digits() -> None:
    """A voiceId sent as a JSON integer becomes its decimal digits."""
    rec = conv.structure_record({"voiceId": 2203031113381000002}, SipCallRecord)
    assert rec.voice_id == "2203031113381000002"


@pytest.mark.parametrize(
    "text", ["2026-03-01T10:00:00", "2026-03-01 10:00:00", "2026-03-01T10:00:00.250"]
)
def test_time_without_offset_is_rejected(text: str) -> None:
    """A time without a UTC offset is never guessed at, on both structuring paths."""
    full = {conv._camel(f.name): "" for f in attrs.fields(SipCallRecord)}
    for data in (full | {"voiceId": "1", "answerTime": text}, {"voiceId": "1", "callTime": text}):
        with pytest.raises(ValueError, match="UTC offset"):
            conv.structure_record(data, SipCallRecord)
    aware = conv.structure_record({"voiceId": "1", "callTime": text + "+05:30"}, SipCallRecord)
    assert aware.call_time is not None
    assert aware.call_time.utcoffset() == timedelta(hours=5, minutes=30)


def test_traceback_through_generated_code_shows_its_source() -> None:
    """A failure inside a generated structuring function shows the generated line in a traceback."""
    with pytest.raises(ValueError) as info:
        conv.structure_record({"voiceId": None, "cost": "1"}, SipCallRecord)
    frames = [
        frame
        for frame in traceback.extract_tb(info.value.__traceback__)
        if frame.filename.startswith("<itniotech_async generated structure_SipCallRecord")
    ]
    assert frames
    assert frames[-1].line == "voice_id=_voice_id(g('voiceId')),"
    assert "_voice_id(g('voiceId'))" in "".join(traceback.format_tb(info.value.__traceback__))


_UTC_INSTANT = datetime(2022, 1, 18, 6, 42, 50, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2022-01-18T14:42:50+08:00", timedelta(hours=8)),
        (" 2022-01-18T06:42:50Z ", timedelta(0)),
        ("2022-01-18T06:42:50z", timedelta(0)),
        ("2022-01-18T01:12:50-05:30", -timedelta(hours=5, minutes=30)),
    ],
)
def test_the_one_iso_parser_reads_offsets_and_z(text: str, offset: timedelta) -> None:
    """parse_iso_time keeps the offset it was given and reads Z (either case) as UTC."""
    parsed = parse_iso_time(text)
    assert parsed == _UTC_INSTANT
    assert parsed.utcoffset() == offset


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2022-01-18T14:42:50", "with a UTC offset"),
        ("yesterday", "not an ISO 8601 time"),
        ("", "not an ISO 8601 time"),
        ("Z", "not an ISO 8601 time"),
    ],
)
def test_the_one_iso_parser_refuses_naive_and_garbage(text: str, message: str) -> None:
    """parse_iso_time raises ValueError for a naive time and for text that is not ISO 8601."""
    with pytest.raises(ValueError, match=message):
        parse_iso_time(text)
