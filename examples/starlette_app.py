"""A Starlette app that shares one ItnioClient, opened and closed by its lifespan.

One client per process, not per request: it keeps its connections alive, and
its ``max_concurrency`` caps the requests of all handlers together. Serve it
with any ASGI server (credentials from ``ITNIO_API_KEY``/``ITNIO_API_SECRET``)::

    uvicorn examples.starlette_app:app

``python examples/starlette_app.py`` runs it against the package's fake server
instead, offline, and prints what three requests answered.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import itniotech_async as itnio


def create_app(**client_options: Any) -> Starlette:
    """The app; ``client_options`` go to ``ItnioClient`` (default: all from the environment)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with itnio.ItnioClient(**client_options) as client:
            app.state.itnio = client
            yield

    def itnio_client(request: Request) -> itnio.ItnioClient:
        client: itnio.ItnioClient = request.app.state.itnio
        return client

    async def one_call(request: Request) -> JSONResponse:
        record = await itnio_client(request).voice.record_sip(request.path_params["voice_id"])
        if record is None:
            return JSONResponse({"error": "no such call"}, status_code=404)
        return JSONResponse(itnio.to_dict(record))

    async def recent_calls(request: Request) -> JSONResponse:
        end = datetime.now(timezone.utc)
        client = itnio_client(request)
        page = await client.voice.record_sip_query(end - timedelta(days=1), end, size=20)
        return JSONResponse(itnio.to_dict(page))

    routes = [Route("/calls/recent", recent_calls), Route("/calls/{voice_id}", one_call)]
    return Starlette(routes=routes, lifespan=lifespan)


app = create_app()


async def demo() -> None:
    """Run the app against the fake server on a loopback port; ask it three things."""
    from itniotech_async.testing import FakeItnio

    fake = FakeItnio("demo-key", "demo-secret", n_records=500)
    async with fake.serve() as base_url:
        web = create_app(api_key="demo-key", api_secret="demo-secret", base_url=base_url)
        async with (
            web.router.lifespan_context(web),  # what an ASGI server runs around the app
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=web), base_url="http://app"
            ) as http,
        ):
            page = (await http.get("/calls/recent")).json()
            print("recent:", page["total"], "calls,", len(page["records"]), "on page 1")
            voice_id = page["records"][0]["voice_id"]
            print("one:", (await http.get(f"/calls/{voice_id}")).json()["voice_id"] == voice_id)
            print("unknown:", (await http.get("/calls/0000")).status_code)
    print("requests to the service:", fake.request_count)


if __name__ == "__main__":
    anyio.run(demo)
