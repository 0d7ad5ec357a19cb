"""The ``itniotech`` command line, run as a subprocess against the fake server on loopback."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pty
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import itniotech_async as itnio

KEY = "cli-key"
SECRET = "cli-secret-never-shown"
SEED = 11
N_RECORDS = 3000  # per kind, over the fake's 60 days

CN = timezone(timedelta(hours=8))
NOW = datetime.now(CN).replace(microsecond=0)
#: 38 days: two windows for the CLI, about 1,900 records of each kind.
START = NOW - timedelta(days=40)
END = NOW - timedelta(days=2)
RANGE = ["--start", START.isoformat(), "--end", END.isoformat()]

TIME_FIELDS = {"submit_time", "call_time", "ringing_time", "answer_time", "hangup_time"}
MONEY_FIELDS = {"cost", "rate", "settle_rate", "quote_exchange", "settle_pay", "base_cost"}
INT_FIELDS = {"call_duration", "charged_duration"}


# -- helpers -------------------------------------------------------------------


@attrs.frozen
class Fake:
    """A fake server process and its base URL."""

    base_url: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def server() -> Iterator[Fake]:
    with _fake_process() as fake_:
        yield fake_


@pytest.fixture(scope="module")
def slow_server() -> Iterator[Fake]:
    with _fake_process("--latency", "0.2") as fake_:
        yield fake_


@contextlib.contextmanager
def _fake_process(*extra: str) -> Iterator[Fake]:
    """Run ``python -m itniotech_async.testing`` until the block ends."""
    args = [
        *("--port", "0", "--seed", str(SEED), "--n-records", str(N_RECORDS)),
        *("--api-key", KEY, "--api-secret", SECRET, *extra),
    ]
    with subprocess.Popen(
        [sys.executable, "-m", "itniotech_async.testing", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        try:
            line = process.stdout.readline().decode().strip()
            assert line.startswith("ITNIO_BASE_URL="), f"the fake did not start: {line!r}"
            yield Fake(line.partition("=")[2], process)
        finally:
            process.terminate()
            process.wait(timeout=10)


def cli_env(base_url: str | None = None, *, secret: str = SECRET) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITNIO_")}
    env.update(ITNIO_API_KEY=KEY, ITNIO_API_SECRET=secret, PYTHONUNBUFFERED="1")
    if base_url is not None:
        env["ITNIO_BASE_URL"] = base_url
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "itniotech_async", *args]


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def fetch_raw(
    base_url: str, kind: str, start: datetime, end: datetime, **filters: str
) -> dict[str, dict[str, Any]]:
    """The fake's camelCase records in ``[start, end]``, fetched page by page, no SDK."""
    path = "/voice/recordSipQuery" if kind == "sip" else "/voice/recordGroupQuery"
    params = {"sipGroupName": filters.get("group", ""), "phoneName": filters.get("phone", "")}
    found: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=base_url, auth=itnio.ItnioAuth(KEY, SECRET)) as http:
        low = start
        while low < end:
            high = min(low + timedelta(days=30), end)
            page, pages = 1, 1
            while page <= pages:
                window = {"strTime": low.isoformat(), "endTime": high.isoformat(), **params}
                body = {"current": page, "size": 100, "params": window}
                answer = http.post(path, json=body).json()
                assert answer["status"] == "0", answer
                pages = answer["data"]["pages"]
                found.update((r["voiceId"], r) for r in answer["data"]["records"])
                page += 1
            low = high
    return found


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def check_against_raw(exported: dict[str, Any], raw: dict[str, Any]) -> None:
    """One exported JSON object matches the fake's record, with the CLI's types."""
    assert set(exported) >= {snake(k) for k in raw}
    for camel, value in raw.items():
        name = snake(camel)
        got = exported[name]
        if value == "":
            assert got is None, name
        elif name in TIME_FIELDS:
            parsed = datetime.fromisoformat(got)
            assert parsed.utcoffset() is not None, got
            assert parsed == datetime.fromisoformat(value)
            assert parsed.utcoffset() == datetime.fromisoformat(value).utcoffset()
        elif name in MONEY_FIELDS:
            assert isinstance(got, str), (name, got)  # never a JSON number
            assert Decimal(got) == Decimal(value)
        elif name in INT_FIELDS:
            assert isinstance(got, int) and not isinstance(got, bool)
            assert got == value
        else:
            assert got == value, name


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that accepts nothing: any connection attempt shows as readable."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def was_contacted(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def closed_port_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- exports -------------------------------------------------------------------


def test_jsonl_export_matches_the_fake_exactly_once(server: Fake) -> None:
    """A two-window JSONL export to stdout holds every record of the range once, typed."""
    expected = fetch_raw(server.base_url, "sip", START, END)
    result = run_cli("records", "sip", *RANGE, env=cli_env(server.base_url))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress when stderr is not a terminal
    exported = jsonl(result.stdout)
    ids = [obj["voice_id"] for obj in exported]
    assert len(ids) == len(set(ids)) == len(expected) > 1000
    assert set(ids) == set(expected)
    for obj in exported:
        check_against_raw(obj, expected[obj["voice_id"]])
        assert list(obj) == [f.name for f in attrs.fields(itnio.SipCallRecord)]


def test_csv_round_trips_to_the_jsonl_export(server: Fake, tmp_path: Path) -> None:
    """CSV read back with DictReader equals the JSONL export of the same range."""
    env = cli_env(server.base_url)
    out_csv, out_jsonl = tmp_path / "group.csv", tmp_path / "group.jsonl"
    for fmt, out in (("csv", out_csv), ("jsonl", out_jsonl)):
        result = run_cli("records", "group", *RANGE, "--format", fmt, "-o", str(out), env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == result.stderr == ""
    with out_csv.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = list(reader)
    assert header == [f.name for f in attrs.fields(itnio.GroupCallRecord)]
    objects = jsonl(out_jsonl.read_text(encoding="utf-8"))
    assert len(rows) == len(objects) > 1000
    assert {o["voice_id"] for o in objects} == set(fetch_raw(server.base_url, "group", START, END))
    for row, obj in zip(rows, objects, strict=True):
        assert row == {k: "" if v is None else str(v) for k, v in obj.items()}
    assert sorted(os.listdir(tmp_path)) == ["group.csv", "group.jsonl"]  # no temp files


def test_filters_and_limit(server: Fake) -> None:
    """--group/--phone filter sip records; --limit caps the output; Z means UTC."""
    env = cli_env(server.base_url)
    expected = fetch_raw(server.base_url, "sip", START, END, group="sales", phone="sales-01")
    result = run_cli("records", "sip", *RANGE, "--group", "sales", "--phone", "sales-01", env=env)
    assert result.returncode == 0, result.stderr
    exported = jsonl(result.stdout)
    assert {o["voice_id"] for o in exported} == set(expected)
    assert {(o["sip_group_name"], o["phone_name"]) for o in exported} == {("sales", "sales-01")}

    end_utc = END.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"
    args = ["--start", START.isoformat(), "--end", end_utc, "--limit", "7"]
    result = run_cli("records", "group", *args, "--concurrency", "3", env=env)
    assert result.returncode == 0, result.stderr
    assert len(jsonl(result.stdout)) == 7


def test_record_prints_indented_json(server: Fake) -> None:
    """`record sip ID` prints that record as indented JSON."""
    raw = next(iter(fetch_raw(server.base_url, "sip", START, END).values()))
    result = run_cli("record", "sip", raw["voiceId"], env=cli_env(server.base_url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('{\n  "voice_id": ')
    check_against_raw(json.loads(result.stdout), raw)


def test_console_script_is_declared() -> None:
    """The `itniotech` console script points at the CLI's main."""
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "itniotech"]
    assert script.value == "itniotech_async._cli:main"


# -- exit codes ----------------------------------------------------------------


def test_missing_record_exits_1(server: Fake) -> None:
    """A record that does not exist: exit 1, one line on stderr, nothing on stdout."""
    result = run_cli("record", "group", "404404404", env=cli_env(server.base_url))
    assert result.returncode == 1
    assert result.stdout == ""
    assert one_line(result.stderr) == "itniotech: error: no group record with voice id '404404404'"


def test_api_error_exits_1_and_leaves_no_file(server: Fake, tmp_path: Path) -> None:
    """A wrong secret (status -1): exit 1 with one line, no output file, no secret shown."""
    out = tmp_path / "out.jsonl"
    env = cli_env(server.base_url, secret="wrong-secret")
    result = run_cli("records", "sip", *RANGE, "-o", str(out), env=env)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("itniotech: error: ITNIO API status -1")
    assert "wrong-secret" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(server: Fake) -> None:
    """--debug adds the traceback and the SDK's DEBUG log to the one-line message."""
    env = cli_env(server.base_url, secret="wrong-secret")
    result = run_cli("record", "sip", "1", "--debug", env=env)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "itniotech_async DEBUG" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("itniotech: error: ITNIO API status -1")


def test_unreachable_server_exits_1_and_leaves_no_file(tmp_path: Path) -> None:
    """Connection refused (after the client's retries): exit 1, no file, no temp file."""
    out = tmp_path / "out.jsonl"
    result = run_cli("records", "sip", *RANGE, "-o", str(out), env=cli_env(closed_port_url()))
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("itniotech: error: ")
    assert "Cannot connect to host" in result.stderr or "Connection refused" in result.stderr
    assert "ssl" not in result.stderr  # a plain http:// URL has nothing to do with TLS
    assert list(tmp_path.iterdir()) == []


def test_start_older_than_kept_names_the_limit(listener: socket.socket) -> None:
    """A start past the two months the service keeps: exit 2 naming the limit, nothing sent."""
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    start = datetime.now(CN) - timedelta(days=62, minutes=5)
    result = run_cli(
        "records", "sip", "--start", start.isoformat(), "--base-url", url, env=cli_env()
    )
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "older than the service keeps" in line and "62 days" in line
    assert not was_contacted(listener)


def test_since_with_default_end_exports_up_to_now(server: Fake) -> None:
    """--since 40d with no --end exports what the raw API has between then and now."""
    before = datetime.now(CN)
    result = run_cli("records", "group", "--since", "40d", env=cli_env(server.base_url))
    after = datetime.now(CN)
    assert result.returncode == 0, result.stderr
    got = {json.loads(line)["voice_id"] for line in result.stdout.splitlines()}
    # The command's "now" lies between before and after: bound it on both sides.
    surely = fetch_raw(server.base_url, "group", after - timedelta(days=40), before)
    maybe = fetch_raw(server.base_url, "group", before - timedelta(days=40), after)
    assert set(surely) <= got <= set(maybe)
    assert len(surely) > 1000


def test_standalone_fake_prints_a_working_export_line() -> None:
    """The standalone fake's export line, pasted into a shell, points the CLI at it."""
    command = [sys.executable, "-m", "itniotech_async.testing", "--api-secret", "s3 cr$t"]
    env = {k: v for k, v in cli_env().items() if not k.startswith("ITNIO_")}
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            url_line = process.stdout.readline().strip()
            banner = [process.stderr.readline() for _ in range(5)]
            export = banner[3].strip()
            script = f"{export}\n{shlex.join(cli_command('records', 'sip', '--since', '1d'))}"
            result = subprocess.run(
                ["bash", "-c", script], env=env, capture_output=True, timeout=60, check=False
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert "Api-Key 'test-key'" in banner[1] and "'s3 cr$t'" in banner[1]
    assert export.startswith("export ")
    assert url_line.partition("=")[2] in export
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) > 10  # a day of the fake's 2,000 calls


def test_standalone_fake_help_shows_defaults() -> None:
    """--help of the standalone fake states each option's default."""
    result = subprocess.run(
        [sys.executable, "-m", "itniotech_async.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    for default in ("(default: test-key)", "(default: test-secret)", "(default: 2000)"):
        assert default in " ".join(result.stdout.split())


def test_version_is_the_package_version() -> None:
    """--version prints the program name and the package's version."""
    result = run_cli("--version", env=cli_env())
    assert result.returncode == 0
    assert result.stdout == f"itniotech {itnio.__version__}\n"


def test_closed_pipe_exits_0_quietly(server: Fake) -> None:
    """A reader that stops early (| head -1) ends the export with status 0 and no message."""
    command = cli_command("records", "sip", *RANGE)
    with subprocess.Popen(
        command, env=cli_env(server.base_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        status = process.wait(timeout=30)
    assert json.loads(first)["voice_id"]
    assert status == 0
    assert stderr == b""


BAD_INPUTS: list[tuple[str, list[str]]] = [
    (
        "zone-less start",
        ["records", "sip", "--start", "2026-01-01T00:00:00", "--end", END.isoformat()],
    ),
    ("date only", ["records", "sip", "--start", "2026-01-01", "--end", END.isoformat()]),
    ("unparseable", ["records", "sip", "--start", "yesterday", "--end", END.isoformat()]),
    (
        "end before start",
        ["records", "sip", "--start", END.isoformat(), "--end", START.isoformat()],
    ),
    ("unknown format", ["records", "sip", *RANGE, "--format", "xml"]),
    ("limit 0", ["records", "sip", *RANGE, "--limit", "0"]),
    ("concurrency 0", ["records", "sip", *RANGE, "--concurrency", "0"]),
    ("concurrency text", ["records", "sip", *RANGE, "--concurrency", "many"]),
    ("group filter on group", ["records", "group", *RANGE, "--group", "sales"]),
    ("phone filter on group", ["records", "group", *RANGE, "--phone", "sales-01"]),
    ("unknown kind", ["records", "fax", *RANGE]),
    ("missing --start and --since", ["records", "sip", "--end", END.isoformat()]),
    ("both --start and --since", ["records", "sip", "--start", START.isoformat(), "--since", "3d"]),
    ("unknown --since unit", ["records", "sip", "--since", "3x"]),
    ("zero --since", ["records", "sip", "--since", "0h"]),
    ("--since older than kept", ["records", "sip", "--since", "63d"]),
    (
        "start older than kept",
        ["records", "sip", "--start", (NOW - timedelta(days=63)).isoformat()],
    ),
    ("voice id with a slash", ["record", "sip", "a/b"]),
    ("no command", []),
]


@pytest.mark.parametrize(("case", "args"), BAD_INPUTS, ids=[case for case, _ in BAD_INPUTS])
def test_bad_input_exits_2_and_sends_nothing(
    case: str, args: list[str], listener: socket.socket, tmp_path: Path
) -> None:
    """Each bad input: exit 2, one line on stderr, no connection made, no file written."""
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    output = ["-o", str(tmp_path / "out.jsonl")] if args[:1] == ["records"] else []
    result = run_cli(*args, *output, "--base-url", url, env=cli_env(), timeout=15)
    assert result.returncode == 2, (case, result.stderr)
    assert one_line(result.stderr).startswith("itniotech")
    assert "error" in result.stderr
    assert result.stdout == ""
    assert not was_contacted(listener)
    assert list(tmp_path.iterdir()) == []


def test_missing_credentials_exit_2(listener: socket.socket) -> None:
    """No ITNIO_API_SECRET in the environment: exit 2 with one line naming it."""
    env = cli_env()
    del env["ITNIO_API_SECRET"]
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    result = run_cli("--base-url", url, "record", "sip", "1", env=env)
    assert result.returncode == 2
    assert "ITNIO_API_SECRET" in one_line(result.stderr)
    assert not was_contacted(listener)


@pytest.mark.parametrize(
    "args",
    [
        ["--base-url", "ftp://example.com", "record", "sip", "1"],
        ["demo", "--latency", "0.2:0.1"],
        ["demo", "--records", "0"],
        ["records", "sip", *RANGE, "-o", "."],
    ],
    ids=["bad base url", "latency low > high", "no demo records", "output is a directory"],
)
def test_other_bad_input_exits_2(args: list[str], tmp_path: Path) -> None:
    """A bad base URL, demo knob or output path exits 2 with one line."""
    result = run_cli(*args, env=cli_env(closed_port_url()), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    one_line(result.stderr)
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def sigint_heard_by_children() -> Iterator[None]:
    """Let a child hear SIGINT even when this run inherited it ignored.

    A shell starts a background job (``.ci/run &`` in a script) with SIGINT
    ignored, and a child keeps what its parent ignores: the CLI then rightly
    goes on when interrupted, as Unix tools do. Only a handler resets on exec.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    ("signum", "status", "message"),
    [
        (signal.SIGINT, 130, "itniotech: interrupted"),
        (signal.SIGTERM, 143, "itniotech: interrupted by SIGTERM"),
        (signal.SIGHUP, 129, "itniotech: interrupted by SIGHUP"),
    ],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_signal_mid_export_leaves_no_file(
    slow_server: Fake, tmp_path: Path, signum: int, status: int, message: str
) -> None:
    """A stop signal during a slow export: 128 + its number, one line, no file, no temp file."""
    out = tmp_path / "out.jsonl"
    command = cli_command("records", "sip", *RANGE, "--concurrency", "1", "-o", str(out))
    with (
        sigint_heard_by_children(),
        subprocess.Popen(
            command,
            env=cli_env(slow_server.base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as process,
    ):
        deadline = time.monotonic() + 15
        while not list(tmp_path.iterdir()):  # the temp file: the export has begun
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        time.sleep(0.8)  # a few pages in
        assert process.poll() is None
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == status, stderr
    assert one_line(stderr.decode()) == message
    assert stdout == b""
    assert list(tmp_path.iterdir()) == []


# -- progress ------------------------------------------------------------------


def run_with_tty_stderr(args: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stderr; return its status and what it drew."""
    master, slave = pty.openpty()
    with subprocess.Popen(
        cli_command(*args), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=slave
    ) as process:
        os.close(slave)
        drawn = io.BytesIO()
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            drawn.write(chunk)
        status = process.wait(timeout=30)
    os.close(master)
    return status, drawn.getvalue().decode()


def test_progress_bar_on_a_terminal(server: Fake, tmp_path: Path) -> None:
    """With stderr on a terminal, a bar with total, rate and ETA is redrawn with \\r."""
    args = ["records", "sip", *RANGE, "-o", "out.jsonl"]
    status, drawn = run_with_tty_stderr(args, cli_env(server.base_url), tmp_path)
    assert status == 0, drawn
    total = len((tmp_path / "out.jsonl").read_text().splitlines())
    assert drawn.startswith("\r")
    frames = [f.strip() for f in drawn.split("\r") if f.strip()]
    assert f"{total:,}/{total:,} records 100%" in frames[-1]
    assert "records/s" in frames[-1] and "ETA" in frames[-1]
    assert drawn.endswith("\n")


def test_progress_is_off_when_quiet(server: Fake, tmp_path: Path) -> None:
    """--quiet keeps a terminal's stderr silent."""
    args = ["records", "sip", *RANGE, "-o", "out.jsonl", "--quiet"]
    status, drawn = run_with_tty_stderr(args, cli_env(server.base_url), tmp_path)
    assert status == 0
    assert drawn == ""


# -- demo ----------------------------------------------------------------------


def test_demo_estimate_uses_the_serial_sample() -> None:
    """The serial estimate is all requests times the mean of the one-at-a-time sample."""
    from itniotech_async._cli._demo import DemoResult

    result = DemoResult(
        records=30_000,
        pages=300,
        windows=2,
        seconds=4.0,
        requests=302,
        concurrency=16,
        output="out.jsonl",
        sample_requests=8,
        sample_seconds=1.0,
    )
    # 302 requests x 125 ms = 37.75 s, 9.4x the 4 s the export took.
    assert "~37.8 s estimated: 302 requests x 125 ms, the mean of 8" in result.summary()
    assert "(9.4x as long as this run)" in result.summary()
    one = attrs.evolve(result, records=1, pages=1, windows=1, requests=1)
    assert "1 SIP record to" in one.summary()
    assert "1 window of" in one.summary()
    assert "1 request x" in one.summary()


def test_demo_runs_offline(tmp_path: Path) -> None:
    """`demo` needs no credentials or network: it writes its file and prints a summary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITNIO_")}
    args = ["demo", "--records", "3000", "--latency", "0.001:0.005", "--concurrency", "4"]
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = (tmp_path / "itnio-demo-export.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3000
    assert len({json.loads(line)["voice_id"] for line in lines}) == 3000
    summary = result.stdout
    assert "Exported 3,000 SIP records to itnio-demo-export.jsonl" in summary
    for label in ("records", "pages", "2 windows", "seconds", "records/s", "one by one"):
        assert label in summary
    assert os.listdir(tmp_path) == ["itnio-demo-export.jsonl"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1d12h", 129_600),
        ("2w", 1_209_600),
        ("0.5s", 0.5),
        ("1.5D", 129_600),
    ],
)
def test_durations_have_one_form(text: str, seconds: float) -> None:
    """--since, --lookback and --every read w, d, h, m and s, decimals allowed."""
    from itniotech_async._cli._args import parse_duration, positive_duration

    assert parse_duration(text).total_seconds() == seconds
    assert positive_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "3", "3x", "-1h", "1h 30m", "h"])
def test_bad_durations_are_refused(text: str) -> None:
    """Anything but number-unit pairs is refused; zero too where the duration must be positive."""
    from argparse import ArgumentTypeError

    from itniotech_async._cli._args import parse_duration, positive_duration

    with pytest.raises(ArgumentTypeError, match="not a duration"):
        parse_duration(text)
    assert parse_duration("0s").total_seconds() == 0
    with pytest.raises(ArgumentTypeError, match="more than zero"):
        positive_duration("0m")
