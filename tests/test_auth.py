"""Signing: the Sign header matches the vendor's formula, checked against known answers."""

from __future__ import annotations

import httpx
import pytest

import itniotech_async as itnio
from itniotech_async._auth import ServerClock

# md5(api_key + api_secret + Timestamp), lowercase hex, UTF-8 (the vendor's
# formula), computed once by hand with hashlib, not with the SDK:
#   hashlib.md5(("test-key" + "test-secret" + "1700000000").encode("utf-8")).hexdigest()
KNOWN_ANSWERS = [
    ("test-key", "test-secret", 1_700_000_000, "3b5f3afc05358f8d66427b731b29dd5b"),
    ("k3y", "s3cr\u00e9t", 1_767_225_600, "77fc2b369aaaab0cf7c928289b68f4b0"),
]


class _StoppedClock(ServerClock):
    """A server clock that always reads ``at``."""

    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at

    def now(self) -> float:
        return self.at


@pytest.mark.parametrize(("key", "secret", "at", "digest"), KNOWN_ANSWERS)
def test_sign_matches_known_answers(key: str, secret: str, at: int, digest: str) -> None:
    """The auth flow sets Api-Key, the whole-second Timestamp and the vendor's Sign for it."""
    auth = itnio.ItnioAuth(key, secret, _StoppedClock(at + 0.75))
    request = httpx.Request("GET", "https://api.itniotech.com/voice/recordSip/1")
    sent = next(auth.auth_flow(request))
    assert sent.headers["Api-Key"] == key
    assert sent.headers["Timestamp"] == str(at)
    assert sent.headers["Sign"] == digest
