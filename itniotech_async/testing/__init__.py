"""A fake ITNIO voice-record server for testing code that uses the service.

:class:`FakeItnio` checks signatures and timestamps like the real service and
serves the four ``/voice/`` endpoints over a synthetic or given data set, in
process (:attr:`FakeItnio.transport`) or over loopback TCP
(:meth:`FakeItnio.serve`). :class:`Fault` describes injected trouble and
:func:`generate_records` makes the synthetic records. ``python -m
itniotech_async.testing`` runs the server in its own process.
"""

from __future__ import annotations

from ._data import generate_records
from ._faults import Fault, RateLimit
from ._server import FakeItnio, FakeRequest

__all__ = ["FakeItnio", "FakeRequest", "Fault", "RateLimit", "generate_records"]
