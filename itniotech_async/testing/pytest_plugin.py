"""A pytest plugin: a :class:`FakeItnio` and an :class:`~itniotech_async.ItnioClient` bound to it.

Nothing is registered until a project opts in, from its ``conftest.py``::

    pytest_plugins = ["itniotech_async.testing.pytest_plugin"]

Fixtures
--------

``itnio_fake``
    A fresh :class:`FakeItnio` for each test (credentials
    :data:`API_KEY`/:data:`API_SECRET`, 200 synthetic records of each kind,
    no latency), configured by the ``itnio`` marker.
``itnio_client``
    An ``ItnioClient`` bound to ``itnio_fake`` (in process by default), closed
    after the test. It is an async fixture run by anyio's pytest plugin, so a
    test that uses it runs on every backend of the ``anyio_backend`` fixture:
    asyncio and trio when trio is installed, unless the project overrides
    ``anyio_backend``. The test itself may be ``async def`` without a marker.

The marker
----------

``@pytest.mark.itnio(**options)`` on a test, class or module (the closest
wins per option) sets, for ``itnio_fake``, any keyword of :class:`FakeItnio`
(``sip_records=[...]``, ``group_records=[...]``, ``n_records``, ``seed``,
``now``, ``days``, ``latency``, ``clock_skew``, ...), and also:

- ``faults=[Fault.http(503), ...]``: faults queued before the test runs;
- ``chaos=(rate, [Fault...])``: a share of requests that fail at random;
- ``transport="loopback"``: the client talks to the fake over a real TCP
  port instead of in process (default ``"in-process"``);
- ``client={"max_retries": 0, ...}``: keywords for the ``ItnioClient``
  (``retry_backoff`` defaults to 1 ms so retried faults cost no time).

The same options can come from indirect parametrization of ``itnio_fake``::

    @pytest.mark.parametrize("itnio_fake", [{"latency": 0.01}, {"n_records": 0}], indirect=True)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import pytest

from .. import ItnioClient
from ._faults import Fault
from ._server import FakeItnio

__all__ = ["API_KEY", "API_SECRET", "itnio_client", "itnio_fake", "itnio_options"]

#: The Api-Key the fixtures' fake accepts and their client sends.
API_KEY = "test-key"
#: The secret the fixtures' fake accepts and their client signs with.
API_SECRET = "test-secret"

_DEFAULTS: dict[str, Any] = {"n_records": 200}
_TRANSPORTS = ("in-process", "loopback")
_PLUGIN_OPTIONS = ("faults", "chaos", "transport", "client")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``itnio`` marker."""
    config.addinivalue_line(
        "markers",
        "itnio(**options): configure the itnio_fake/itnio_client fixtures "
        "(FakeItnio keywords, faults=, chaos=, transport=, client=)",
    )


@pytest.fixture
def itnio_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options of this test's fake and client, from the ``itnio`` markers.

    ``itnio_fake`` adds its indirect parameters, if any, to this same dict.
    """
    options = dict(_DEFAULTS)
    # iter_markers yields the closest first: apply the farthest first.
    for marker in reversed(list(request.node.iter_markers("itnio"))):
        if marker.args:
            raise pytest.UsageError("the itnio marker takes keyword arguments only")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def itnio_fake(request: pytest.FixtureRequest, itnio_options: dict[str, Any]) -> FakeItnio:
    """A fresh FakeItnio configured by the ``itnio`` marker (see the module doc)."""
    options = itnio_options
    # An indirect parameter reaches this fixture, not itnio_options: merge it
    # there, so that itnio_client sees it too.
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, Mapping):
            raise pytest.UsageError(f"itnio_fake parameters must be dicts, got {param!r}")
        options.update(param)
    transport = options.get("transport", "in-process")
    if transport not in _TRANSPORTS:
        raise pytest.UsageError(f"itnio transport must be one of {_TRANSPORTS}, got {transport!r}")
    fake_options = {k: v for k, v in options.items() if k not in _PLUGIN_OPTIONS}
    fake_options.setdefault("api_key", API_KEY)
    fake_options.setdefault("api_secret", API_SECRET)
    fake = FakeItnio(**fake_options)
    faults: Sequence[Fault] = options.get("faults", ())
    for fault in faults:
        fake.add_fault(fault)
    chaos = options.get("chaos")
    if chaos is not None:
        rate, chaos_faults = chaos
        fake.set_chaos(rate, chaos_faults)
    return fake


@pytest.fixture
async def itnio_client(
    itnio_fake: FakeItnio, itnio_options: dict[str, Any], anyio_backend: object
) -> AsyncIterator[ItnioClient]:
    """An ItnioClient bound to ``itnio_fake``, closed after the test."""
    client_options: dict[str, Any] = {"retry_backoff": 0.001, **itnio_options.get("client", {})}
    secret = itnio_options.get("api_secret", API_SECRET)
    async with contextlib.AsyncExitStack() as stack:
        if itnio_options.get("transport", "in-process") == "loopback":
            client_options["base_url"] = await stack.enter_async_context(itnio_fake.serve())
        else:
            http = httpx.AsyncClient(transport=itnio_fake.transport)
            stack.push_async_callback(http.aclose)
            client_options["http_client"] = http
        client = ItnioClient(itnio_fake.api_key, secret, **client_options)
        async with client:
            yield client
