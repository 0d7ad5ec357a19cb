"""Shared fixtures: both async backends, a fake ITNIO server, clients over both transports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone

import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio

# The package's own plugin (itnio_fake, itnio_client), as users enable it, and
# pytester for the plugin's own tests.
pytest_plugins = ["itniotech_async.testing.pytest_plugin", "pytester"]

KEY = "test-key"
SECRET = "s3cr3t-never-shown"
#: The fake's "now": tests use a fixed clock for the data set and the 2-month rule.
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
#: A 20-day window inside the fake's data.
START = NOW - timedelta(days=25)
END = NOW - timedelta(days=5)


ClientFactory = Callable[..., itnio.ItnioClient]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake() -> FakeItnio:
    return FakeItnio(KEY, SECRET, seed=7, n_records=1500, days=60, now=NOW)


@pytest.fixture(params=["in-process", "loopback"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_client(fake: FakeItnio, transport: str) -> AsyncIterator[ClientFactory]:
    """Yield a factory of clients wired to ``fake`` over the chosen transport."""
    async with contextlib.AsyncExitStack() as stack:
        base_url = (
            await stack.enter_async_context(fake.serve()) if transport == "loopback" else None
        )

        def factory(**kwargs: object) -> itnio.ItnioClient:
            kwargs.setdefault("retry_backoff", 0.001)
            if base_url is not None:
                kwargs["base_url"] = base_url
            else:
                http = httpx.AsyncClient(transport=fake.transport)
                stack.push_async_callback(http.aclose)
                kwargs["http_client"] = http
            client = itnio.ItnioClient(KEY, SECRET, **kwargs)  # type: ignore[arg-type]
            stack.push_async_callback(client.aclose)
            return client

        yield factory


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[itnio.ItnioClient]:
    async with make_client() as c:
        yield c
