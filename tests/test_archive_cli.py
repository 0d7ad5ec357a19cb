"""The archive through the command line: SIGKILL at random moments, the report, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

import itniotech_async as itnio
from itniotech_async.archive import Archive
from itniotech_async.testing import FakeItnio, Fault

from ._archive_support import Target, make_target, truth
from .conftest import KEY, SECRET

pytestmark = pytest.mark.anyio

ENV = {**os.environ, "ITNIO_API_KEY": KEY, "ITNIO_API_SECRET": SECRET}


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    yield from make_target(str(request.param), tmp_path)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "itniotech_async", *args]


async def archived_state(target: Target) -> tuple[list[tuple[datetime, datetime]], dict[str, Any]]:
    async with Archive.open(target.url, schema=target.schema) as a:
        ranges = await a.ranges("sip")
        records = await a.records("sip")
    by_id = {r.voice_id: r for r in records}
    assert len(by_id) == len(records)  # one row per record
    return ranges, by_id


async def _wait_for_progress(target: Target, proc: anyio.abc.Process) -> None:
    """Poll the database (directly) until the child has committed some progress."""
    for _ in range(500):
        if proc.returncode is not None:
            return
        try:
            if target.query("SELECT count(*) FROM sync_ranges")[0][0]:
                return
        except Exception:  # the tables may not exist yet
            pass
        await anyio.sleep(0.01)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    target: Target, tmp_path: Path
) -> None:
    """Killed with SIGKILL mid-sync, the archive's progress never covers a missing row,
    and a later run completes it exactly."""
    now = datetime.now(timezone.utc)
    fake = FakeItnio(KEY, SECRET, seed=21, n_records=3000, days=50, now=None, latency=0.01)
    kills_mid_sync = 0
    async with fake.serve() as base_url:
        args = cli("archive", "sip", *target.cli_args, "--base-url", base_url, "-q")
        for seed in (1, 2, 3):
            rng = random.Random(seed)
            proc = await anyio.open_process(args, env=ENV)
            await _wait_for_progress(target, proc)
            await anyio.sleep(rng.uniform(0.0, 0.25))
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            ranges, archived = await archived_state(target)
            # Crash safety: every range recorded as complete holds all of its records.
            assert len(ranges) <= 1  # progress is one contiguous range, never holes
            for low, high in ranges:
                expected = truth(fake, "sip", low, high)
                assert set(expected) <= set(archived)
                assert all(archived[key] == value for key, value in expected.items())
            if ranges and ranges[0][1] < now - timedelta(hours=1):
                kills_mid_sync += 1
        # Resume: one more run, not killed.
        result = await anyio.run_process(args, env=ENV, check=False)
        assert result.returncode == 0, result.stderr.decode()
    ranges, archived = await archived_state(target)
    assert archived == truth(fake, "sip", ranges[0][0])
    assert len(archived) == 3000
    assert kills_mid_sync >= 1


# -- the report ----------------------------------------------------------------------

DAY1 = "2026-02-20"
REPORT_NOW = datetime(2026, 2, 22, tzinfo=timezone.utc)


def _call(
    voice_id: str,
    submit: str,
    code: str,
    group: str,
    termination: str,
    duration: int,
    charged: int,
    cost: str,
    currency: str,
) -> dict[str, Any]:
    return {
        "voiceId": voice_id,
        "submitTime": submit,
        "code": code,
        "sipGroupName": group,
        "phoneName": group + "-01",
        "terminationCode": termination,
        "callDuration": duration,
        "chargedDuration": charged,
        "cost": cost,
        "currency": currency,
    }


CALLS = [
    _call("1", "2026-02-20T10:00:00+08:00", "A", "sales", "200", 30, 60, "0.1000", "EUR"),
    _call("2", "2026-02-20T23:30:00+00:00", "A", "support", "200", 90, 120, "0.2500", "EUR"),
    _call("3", "2026-02-20T12:00:00+00:00", "B", "sales", "486", 0, 0, "0", "USD"),
    # 07:00 on the 21st in +08:00 is 23:00 UTC on the 20th: days are UTC days.
    _call("4", "2026-02-21T07:00:00+08:00", "B", "sales", "200", 45, 60, "0.0700", "USD"),
    _call("5", "2026-02-21T09:00:00+08:00", "A", "support", "200", 10, 20, "0.0333", "EUR"),
    _call("6", "2026-02-21T05:00:00+00:00", "A", "support", "480", 0, 0, "0", "EUR"),
]

# Worked out by hand from CALLS: (calls, answered, asr, acd, charged minutes, cost).
EXPECTED = {
    "day": {
        "2026-02-20": (4, 3, "0.7500", "55.0", "4.00", {"EUR": "0.3500", "USD": "0.0700"}),
        "2026-02-21": (2, 1, "0.5000", "10.0", "0.33", {"EUR": "0.0333"}),
    },
    "group": {
        "sales": (3, 2, "0.6667", "37.5", "2.00", {"EUR": "0.1000", "USD": "0.0700"}),
        "support": (3, 2, "0.6667", "50.0", "2.33", {"EUR": "0.2833"}),
    },
    "code": {
        "A": (4, 3, "0.7500", "43.3", "3.33", {"EUR": "0.3833"}),
        "B": (2, 1, "0.5000", "45.0", "1.00", {"USD": "0.0700"}),
    },
}
# 175 s over 4 answered calls is 43.75 s: half to even gives 43.8.
TOTAL = (6, 4, "0.6667", "43.8", "4.33", {"EUR": "0.3833", "USD": "0.0700"})


def _figures(line: dict[str, Any]) -> tuple[Any, ...]:
    return (
        line["calls"],
        line["answered"],
        line["asr"],
        line["acd_seconds"],
        line["charged_minutes"],
        line["cost"],
    )


@pytest.fixture
async def report_archive(target: Target) -> Target:
    fake = FakeItnio(KEY, SECRET, sip_records=CALLS, group_records=(), now=REPORT_NOW)
    async with (
        fake.serve() as base_url,
        itnio.ItnioClient(KEY, SECRET, base_url=base_url) as client,
        Archive.open(target.url, schema=target.schema) as a,
    ):
        await a.sync(client, "sip", until=REPORT_NOW)
    return target


async def test_report_figures_match_a_hand_computation(report_archive: Target) -> None:
    """Calls, answered, ASR, ACD, minutes and cost per currency, per day/group/code and total."""
    async with Archive.open(report_archive.url, schema=report_archive.schema) as a:
        for by, expected in EXPECTED.items():
            report = await a.report("sip", by=by)
            lines = {line.key: line for line in report.lines}
            assert set(lines) == set(expected)
            for key, (calls, answered, asr, acd, minutes, cost) in expected.items():
                line = lines[key]
                assert (line.calls, line.answered) == (calls, answered)
                assert line.asr == Decimal(asr)
                assert line.acd == Decimal(acd)
                assert line.charged_minutes == Decimal(minutes)
                assert line.cost == {c: Decimal(v) for c, v in cost.items()}
                assert all(isinstance(v, Decimal) for v in line.cost.values())
            total = report.total
            assert (total.calls, total.answered) == TOTAL[:2]
            assert (total.asr, total.acd, total.charged_minutes) == tuple(
                Decimal(v) for v in TOTAL[2:5]
            )
            assert total.cost == {c: Decimal(v) for c, v in TOTAL[5].items()}
        only_day1 = await a.report(
            "sip",
            by="day",
            start=datetime(2026, 2, 20, tzinfo=timezone.utc),
            end=datetime(2026, 2, 20, 23, 59, 59, tzinfo=timezone.utc),
        )
    assert [line.key for line in only_day1.lines] == [DAY1]


async def test_report_cli_json_csv_and_table(report_archive: Target) -> None:
    """``itniotech report`` prints the same figures as JSON, CSV and a table."""
    base = cli("report", *report_archive.cli_args, "--by", "group")
    result = await anyio.run_process([*base, "--format", "json"], env=ENV)
    data = json.loads(result.stdout)
    assert {line["key"]: _figures(line) for line in data["lines"]} == EXPECTED["group"]
    assert _figures(data["total"]) == TOTAL

    result = await anyio.run_process([*base, "--format", "csv"], env=ENV)
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode())))
    assert [row["group"] for row in rows] == ["sales", "support", "total"]
    assert rows[0]["cost_USD"] == "0.0700" and rows[1]["cost_USD"] == ""
    assert rows[2]["charged_min"] == "4.33" and rows[2]["cost_EUR"] == "0.3833"

    result = await anyio.run_process([*base, "--format", "table"], env=ENV)
    table = result.stdout.decode().splitlines()
    assert table[0].split() == [
        "group", "calls", "answered", "asr", "acd_s", "charged_min", "cost_EUR", "cost_USD"
    ]  # fmt: skip
    assert table[2].split() == ["sales", "3", "2", "66.7%", "37.5", "2.00", "0.1000", "0.0700"]


# -- exit codes ----------------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_cli_bad_input_exits_2_before_fetching(tmp_path: Path) -> None:
    """Unknown schemes, unreachable databases, filters for the wrong kind: exit 2, no request."""
    fake = FakeItnio(KEY, SECRET, n_records=10, days=5)
    future = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    async with fake.serve() as base_url:
        cases = [
            ["archive", "sip", "--db", "mysql://me@host/db"],
            ["archive", "sip", "--db", str(tmp_path / "nowhere" / "a.db")],
            ["archive", "sip", "--db", "postgresql://nobody@127.0.0.1:1/none"],
            ["archive", "group", "--db", str(tmp_path / "a.db"), "--group", "sales"],
            ["archive", "sip", "--db", str(tmp_path / "a.db"), "--start", future],
            ["archive", "sip", "--db", str(tmp_path / "a.db"), "--every", "0s"],
            ["report", "--db", str(tmp_path / "absent.db")],
            ["report", "--db", str(tmp_path / "a.db"), "--kind", "group", "--by", "group"],
        ]
        for case in cases:
            result = await anyio.run_process(
                cli(*case, "--base-url", base_url) if case[0] == "archive" else cli(*case),
                env=ENV,
                check=False,
            )
            assert result.returncode == 2, (case, result.stderr)
            message = result.stderr.decode()
            assert message.startswith("itniotech") and "error:" in message, case
            assert SECRET not in result.stderr.decode()
    assert fake.request_count == 0
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_cli_lost_range_exits_1_unless_accepted(tmp_path: Path) -> None:
    """A range lost past the history is printed and makes the exit status 1."""
    now = datetime.now(timezone.utc)
    fake = FakeItnio(KEY, SECRET, seed=2, n_records=200, days=10, now=None)
    db = str(tmp_path / "gap.db")
    async with fake.serve() as base_url:
        old = (now - timedelta(days=70)).isoformat()
        args = cli("archive", "sip", "--db", db, "--base-url", base_url, "-q")
        result = await anyio.run_process([*args, "--start", old], env=ENV, check=False)
        assert result.returncode == 1
        assert "LOST FOR GOOD" in result.stdout.decode()
        assert "lost for good" in result.stderr.decode()
        again = await anyio.run_process(args, env=ENV, check=False)
    assert again.returncode == 0, again.stderr
    # The report says so too, every time.
    shown = await anyio.run_process(cli("report", "--db", db, "--format", "json"), env=ENV)
    (lost,) = json.loads(shown.stdout)["lost"]
    assert lost["scope"] == "sip"
    assert datetime.fromisoformat(lost["start"].replace("Z", "+00:00")) <= now - timedelta(days=70)
    assert "LOST FOR GOOD" in shown.stderr.decode()
    table = await anyio.run_process(cli("report", "--db", db), env=ENV)
    assert "LOST FOR GOOD: sip records of" in table.stdout.decode()
    assert "0 new, 0 updated" in again.stdout.decode()
    archived = await archived_state(Target("sqlite", db))
    assert set(archived[1]) == {r["voiceId"] for r in fake.sip_records}


def test_demo_archive_runs(tmp_path: Path) -> None:
    """``itniotech demo archive`` builds the archive, syncs again incrementally, and reports."""
    result = subprocess.run(
        cli("demo", "archive", "--records", "3000", "--latency", "0"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3,000 new" in out
    assert "300 new" in out or " new, " in out
    assert (tmp_path / "itnio-demo.db").exists()
    assert out.splitlines()[-2].split()[0] == "total"


def test_readme_archive_block_runs(tmp_path: Path) -> None:
    """The README's Archive example runs as written: two syncs, the second one incremental."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    match = re.search(r"## Archive\n.*?```python\n(.*?)```", text, re.S)
    assert match
    result = subprocess.run(
        [sys.executable, "-c", match.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert "3,000 new" in first
    assert "0 new, 0 updated" in second
    assert (tmp_path / "calls.db").exists()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_every_logs_a_line_per_run_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    """``--every`` syncs again and again, one log line per run, outliving a failed run;
    SIGTERM ends it with 130."""
    fake = FakeItnio(KEY, SECRET, seed=4, n_records=500, days=20, now=None)
    fake.add_fault(Fault.status("-22", path_contains="Query"))  # the first run fails
    db = str(tmp_path / "every.db")
    async with fake.serve() as base_url:
        args = cli("archive", "sip", "--db", db, "--base-url", base_url, "--every", "0.2s")
        proc = await anyio.open_process(args, env=ENV)
        assert proc.stderr is not None
        seen = b""
        with anyio.fail_after(60):
            while seen.count(b"synced") < 3:
                seen += await proc.stderr.receive()
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            status = await proc.wait()
        await proc.aclose()
    assert status == 130
    assert "run failed" in seen.decode()
    lines = [line for line in seen.decode().splitlines() if "synced" in line]
    assert "500 new" in lines[0]
    assert all("0 new, 0 updated" in line for line in lines[1:3])
    _, archived = await archived_state(Target("sqlite", db))
    assert set(archived) == {r["voiceId"] for r in fake.sip_records}


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal, the sync draws a bar of chunks and records with \\r."""
    from .test_cli import run_with_tty_stderr

    args = ["demo", "archive", "--records", "2000", "--latency", "0"]
    status, drawn = run_with_tty_stderr(args, ENV, tmp_path)
    assert status == 0, drawn
    frames = [f.strip() for f in drawn.split("\r") if f.strip()]
    assert len(frames) >= 2
    assert "records" in frames[0] and "chunk" in frames[0]
    last = frames[-1]
    done, _, rest = last.partition("chunk ")[2].partition("/")
    assert done == rest.split()[0]  # the last frame shows every chunk done
    assert "2,000 records" in last
