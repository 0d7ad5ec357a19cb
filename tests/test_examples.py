"""The programs in examples/ run as written and do what they say, against the fake."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ids_between(records: list[dict[str, Any]], start: datetime, end: datetime) -> set[str]:
    return {
        r["voiceId"] for r in records if start <= datetime.fromisoformat(r["submitTime"]) <= end
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("starlette_app", "unknown: 404"),
        ("export_jsonl", "exported "),
        ("trio_script", "complete"),
        ("poll_bot", "3 failed calls handled once each"),
    ],
)
def test_example_runs_as_a_script(name: str, expected: str, tmp_path: Path) -> None:
    """``python examples/NAME.py`` runs offline against the fake, warnings as errors."""
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py"), str(tmp_path / "out.jsonl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


@pytest.mark.anyio
async def test_starlette_app_shares_one_client(itnio_fake: FakeItnio) -> None:
    """The app's handlers use the one client its lifespan opened, and closes it after."""
    app_module = load("starlette_app")
    http = httpx.AsyncClient(transport=itnio_fake.transport)
    app = app_module.create_app(api_key="test-key", api_secret="test-secret", http_client=http)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as web,
    ):
        client = app.state.itnio
        page = (await web.get("/calls/recent")).json()
        raw = itnio_fake.sip_records[0]
        one = (await web.get(f"/calls/{raw['voiceId']}")).json()
        assert app.state.itnio is client
    assert client.is_closed
    await http.aclose()
    now = datetime.now(timezone.utc)
    assert page["total"] == len(ids_between(itnio_fake.sip_records, now - timedelta(days=1), now))
    assert one["voice_id"] == raw["voiceId"]
    assert one["submit_time"] == raw["submitTime"]


@pytest.mark.anyio
@pytest.mark.itnio(n_records=1500)
async def test_export_writes_every_record_once(
    itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio, tmp_path: Path
) -> None:
    """A 45-day export (two windows) writes each record of the range once, as to_json lines."""
    end = datetime.now(timezone.utc)
    start = end - timedelta(days=45)
    path = tmp_path / "calls.jsonl"
    count = await load("export_jsonl").export(itnio_client, start, end, str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["voice_id"] for line in lines]
    assert count == len(lines) == len(set(ids))
    assert set(ids) == ids_between(itnio_fake.sip_records, start, end)
    assert [p async for p in anyio.Path(tmp_path).iterdir()] == [path]  # no .part file left


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.itnio(n_records=800, days=10)
async def test_trio_script_totals(
    anyio_backend: str, itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio
) -> None:
    """The trio script's totals match sums over the fake's raw records."""
    end = datetime.now(timezone.utc)
    start = end - timedelta(days=3)
    totals, finished = await load("trio_script").cost_per_currency(
        itnio_client, start, end, deadline=60
    )
    want: defaultdict[str, Decimal] = defaultdict(Decimal)
    wanted = ids_between(itnio_fake.group_records, start, end)
    for raw in itnio_fake.group_records:
        if raw["voiceId"] in wanted and raw.get("cost") and raw.get("currency"):
            want[raw["currency"]] += Decimal(raw["cost"])
    assert finished
    assert totals == dict(want)
    assert len(totals) >= 2  # the data mixes currencies: the grouping matters


@pytest.mark.anyio
@pytest.mark.itnio(n_records=0)
async def test_poll_bot_handles_each_failed_call_once(
    itnio_client: itnio.ItnioClient, itnio_fake: FakeItnio
) -> None:
    """Calls that show up in several polls are handled once; established calls not at all."""
    now = datetime.now(timezone.utc)

    def call(voice_id: str, code: str, minutes_ago: float) -> dict[str, str]:
        stamp = now - timedelta(minutes=minutes_ago)
        return {"voiceId": voice_id, "submitTime": stamp.isoformat(), "terminationCode": code}

    bot = load("poll_bot")
    handled: list[str] = []

    async def on_failed(record: itnio.SipCallRecord) -> None:
        handled.append(record.voice_id)

    poller = bot.Poller(itnio_client, on_failed)
    itnio_fake.add_records("sip", [call("1", "486", 5), call("2", "200", 4), call("3", "", 3)])
    await poller.poll_once()
    assert sorted(handled) == ["1", "3"]  # in the server's order
    # A late-written call stamped before the last poll, and a new established one.
    itnio_fake.add_records("sip", [call("4", "503", 10), call("5", "200", 1)])
    await poller.poll_once()
    await poller.poll_once()
    assert sorted(handled) == ["1", "3", "4"]  # each once
