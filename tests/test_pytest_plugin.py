"""The pytest plugin, run in a pytester sandbox as a user's project would use it."""

from __future__ import annotations

import pytest

USER_TESTS = """
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, Fault

pytestmark = pytest.mark.itnio(n_records=30, seed=3)

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
MINE = [
    {"voiceId": "11", "submitTime": "2026-02-27T10:00:00+08:00", "cost": "0.25"},
    {"voiceId": "12", "submitTime": "2026-02-28T10:00:00+08:00", "cost": ""},
]


async def test_defaults(itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio) -> None:
    assert len(itnio_fake.sip_records) == 30  # from the module's marker
    end = datetime.now(timezone.utc)
    page = await itnio_client.voice.record_sip_query(end - timedelta(days=30), end)
    want = [
        r["voiceId"]
        for r in itnio_fake.sip_records
        if end - timedelta(days=30) <= datetime.fromisoformat(r["submitTime"]) <= end
    ]
    assert sorted(r.voice_id for r in page.records) == sorted(want)
    assert itnio_fake.request_count == 1


@pytest.mark.itnio(sip_records=MINE, group_records=[], now=NOW)
async def test_given_records(itnio_client: itnio.ItnioClient) -> None:
    records = [r async for r in itnio_client.voice.iter_sip_records(NOW - timedelta(days=5), NOW)]
    assert {r.voice_id: r.cost for r in records} == {"11": Decimal("0.25"), "12": None}
    group = itnio_client.voice.iter_group_records(NOW - timedelta(days=5), NOW)
    assert [r async for r in group] == []


@pytest.mark.itnio(faults=[Fault.http(503, count=2)], client={"max_retries": 1})
async def test_faults_and_client_options(
    itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio
) -> None:
    with pytest.raises(itnio.HttpStatusError):
        await itnio_client.voice.record_sip("1")
    assert itnio_fake.request_count == 2  # one try and one retry, both 503


@pytest.mark.itnio(chaos=(1.0, [Fault.status("-22")]))
async def test_chaos(itnio_client: itnio.ItnioClient) -> None:
    with pytest.raises(itnio.ParameterError):
        await itnio_client.voice.record_group("1")


@pytest.mark.parametrize(
    "itnio_fake",
    [{"latency": 0.001}, {"transport": "loopback", "n_records": 5}],
    indirect=True,
)
async def test_parameters(itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio) -> None:
    raw = itnio_fake.sip_records[0]
    record = await itnio_client.voice.record_sip(raw["voiceId"])
    assert record is not None and record.voice_id == raw["voiceId"]
    if itnio_fake.latency is None:
        assert len(itnio_fake.sip_records) == 5
        assert itnio_fake.requests[0].headers["host"].startswith("127.0.0.1:")
    else:
        assert len(itnio_fake.sip_records) == 30


def test_sync_test_gets_the_fake(itnio_fake: FakeItnio) -> None:
    assert itnio_fake.api_key == "test-key"
"""


def test_plugin_fixtures_marker_and_parameters(pytester: pytest.Pytester) -> None:
    """A user's tests get a configured fake and a bound client, on asyncio and trio."""
    pytester.makeconftest('pytest_plugins = ["itniotech_async.testing.pytest_plugin"]\n')
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", "-v")
    # Five async tests (one of them twice) on two backends, and one sync test.
    result.assert_outcomes(passed=(5 + 1) * 2 + 1)
    result.stdout.fnmatch_lines(["*test_defaults?asyncio?*PASSED*", "*test_defaults?trio?*PASSED*"])


def test_plugin_is_opt_in(pytester: pytest.Pytester) -> None:
    """Without pytest_plugins, the fixtures do not exist."""
    pytester.makepyfile("def test_x(itnio_fake):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'itnio_fake' not found*"])


def test_bad_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """A marker with an unknown transport fails the test with a clear message."""
    pytester.makeconftest('pytest_plugins = ["itniotech_async.testing.pytest_plugin"]\n')
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.itnio(transport='carrier-pigeon')\n"
        "def test_x(itnio_fake):\n    pass\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*transport must be one of*carrier-pigeon*"])
