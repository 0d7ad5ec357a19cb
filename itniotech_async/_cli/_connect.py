"""Where the command line builds its client: credentials only from the environment.

Credentials come only from ``ITNIO_API_KEY`` and ``ITNIO_API_SECRET`` (flags
show in ``ps``); the base URL from ``--base-url`` or ``ITNIO_BASE_URL``.
"""

from __future__ import annotations

import os

import httpx

from .._client import DEFAULT_CONCURRENCY, ItnioClient
from ._exits import UsageError

__all__ = ["make_client"]


def _env_credentials() -> tuple[str, str]:
    key = os.environ.get("ITNIO_API_KEY", "")
    secret = os.environ.get("ITNIO_API_SECRET", "")
    missing = [
        name for name, value in (("ITNIO_API_KEY", key), ("ITNIO_API_SECRET", secret)) if not value
    ]
    if missing:
        raise UsageError(
            f"missing credentials: set {' and '.join(missing)} in the environment "
            "(they are never taken from flags)"
        )
    return key, secret


def make_client(
    base_url: str | None,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    credentials: tuple[str, str] | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> ItnioClient:
    """A client with credentials from the environment unless given.

    ``base_url`` ``None`` leaves the choice to the client (``ITNIO_BASE_URL``,
    else the real service).
    """
    api_key, api_secret = credentials if credentials is not None else _env_credentials()
    return ItnioClient(
        api_key,
        api_secret,
        base_url=base_url,
        max_concurrency=concurrency,
        http_client=http_client,
    )
