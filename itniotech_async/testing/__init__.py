"""A fake ITNIO voice-record server for testing code that uses the service.

:class:`FakeItnio` checks signatures and timestamps like the real service and
serves the four ``/voice/`` record endpoints over a synthetic or given data
set, and call recordings through ``fake.files`` (a :class:`FakeFileHost`), in
process (:attr:`FakeItnio.transport`) or over loopback TCP
(:meth:`FakeItnio.serve`). :class:`Fault` describes injected trouble and
:func:`generate_records` makes the synthetic records. ``python -m
itniotech_async.testing`` runs the server in its own process.

For pytest, ``pytest_plugins = ["itniotech_async.testing.pytest_plugin"]`` in a
``conftest.py`` adds the ``itnio_fake`` and ``itnio_client`` fixtures (see
:mod:`itniotech_async.testing.pytest_plugin`).
"""

from __future__ import annotations

from ._data import generate_records
from ._faults import Fault, RateLimit
from ._files import FakeFileHost
from ._http import FakeRequest
from ._server import FakeItnio

__all__ = ["FakeFileHost", "FakeItnio", "FakeRequest", "Fault", "RateLimit", "generate_records"]
