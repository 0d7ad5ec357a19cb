"""Frozen call records and :class:`Page`; field names are the API's in snake_case.

What each kind of field holds: docs/design.md, "Records".
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

import attrs

__all__ = ["CallRecord", "GroupCallRecord", "Page", "SipCallRecord"]


@attrs.frozen(kw_only=True)
class CallRecord:
    """Fields common to voice-message (group) and phone (SIP) call records."""

    voice_id: str
    callee: str | None = None
    display_num: str | None = None
    code: str | None = None
    submit_time: datetime | None = None
    call_time: datetime | None = None
    ringing_time: datetime | None = None
    answer_time: datetime | None = None
    hangup_time: datetime | None = None
    call_duration: int | None = None
    charged_duration: int | None = None
    termination_code: str | None = None
    termination_reason: str | None = None
    cost: Decimal | None = None
    bill_period: str | None = None
    rate: Decimal | None = None
    currency: str | None = None
    settle_rate: Decimal | None = None
    quote_exchange: Decimal | None = None
    settle_pay: Decimal | None = None


@attrs.frozen(kw_only=True)
class GroupCallRecord(CallRecord):
    """A voice-message record (group call or voice verification code).

    Returned by ``recordGroup`` and ``recordGroupQuery``.
    """

    base_cost: Decimal | None = None
    voice_file_id: str | None = None
    feedback_value: str | None = None
    called_info: str | None = None


@attrs.frozen(kw_only=True)
class SipCallRecord(CallRecord):
    """A phone (SIP) call record. Returned by ``recordSip`` and ``recordSipQuery``."""

    sip_group_name: str | None = None
    phone_name: str | None = None
    recording_file_id: str | None = None


R = TypeVar("R", bound=CallRecord)


@attrs.frozen
class Page(Generic[R]):
    """One page of a record query.

    ``total`` and ``pages`` are what the service counted when it answered this
    page; they change as calls arrive.
    """

    def __repr__(self) -> str:
        # The records themselves would fill a screen: show how many, and of what.
        kind = f" {type(self.records[0]).__name__}" if self.records else ""
        return (
            f"Page(current={self.current}, pages={self.pages}, total={self.total}, "
            f"size={self.size}, records=<{len(self.records)}{kind}>)"
        )

    records: tuple[R, ...]
    total: int
    pages: int
    current: int
    size: int
