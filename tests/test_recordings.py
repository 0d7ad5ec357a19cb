"""Call recordings over both fake transports and both backends: resolve, download, resume."""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.from_thread
import anyio.lowlevel
import httpx
import pytest

import itniotech_async as itnio
from itniotech_async.testing import FakeItnio, FakeRequest

from .conftest import END, KEY, SECRET, START, ClientFactory

pytestmark = pytest.mark.anyio

CREDENTIAL_HEADERS = ("api-key", "sign", "timestamp")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_requests(fake: FakeItnio) -> list[FakeRequest]:
    return [r for r in fake.requests if r.path.startswith("/files/")]


def resolutions(fake: FakeItnio) -> list[FakeRequest]:
    return [r for r in fake.requests if r.path == "/voice/getRecordingFileUrl"]


def part_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def assert_no_credentials_reached_the_file_host(fake: FakeItnio) -> None:
    assert fake.files.credential_refusals == 0
    sent = file_requests(fake)
    assert sent, "no request reached the file host"
    for request in sent:
        assert not [h for h in CREDENTIAL_HEADERS if request.header(h) is not None]


# -- resolution ---------------------------------------------------------------------


async def test_recording_url_resolves_with_an_aware_utc_expiry(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """recording_url sends a signed GET with both parameters and returns the URL and its expiry."""
    link = await client.voice.recording_url("123.wav", source="sip")
    assert link is not None
    (request,) = resolutions(fake)
    assert request.method == "GET" and request.answered == "0"
    assert parse_qs(request.query) == {"recordingFileId": ["123.wav"], "sourceType": ["sip"]}
    assert request.header("sign") is not None
    # The fake puts expireTime into the URL too: the datetime must be that millisecond.
    millis = int(parse_qs(urlsplit(link.url).query)["expires"][0])
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert link.expires_at == epoch + timedelta(milliseconds=millis)
    assert link.expires_at is not None and link.expires_at.utcoffset() == timedelta(0)
    assert "sig=" in link.url and "sig=" not in repr(link)
    with pytest.raises(AttributeError):
        link.url = "x"  # type: ignore[misc]


async def test_recording_url_is_none_when_the_service_has_none(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """data null (no recording for that id) gives None."""
    fake.files.missing.add("gone.wav")
    assert await client.voice.recording_url("gone.wav", source="group") is None
    (request,) = resolutions(fake)
    assert parse_qs(request.query)["sourceType"] == ["group"]


def _resolver(data: object) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "0", "reason": "success", "data": data})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("expire_time", [1_700_000_000_123, "1700000000123"])
async def test_expire_time_is_read_as_milliseconds(expire_time: object) -> None:
    """expireTime 1700000000123 is 2023-11-14T22:13:20.123Z, as an int or a digit string."""
    data = {"url": "https://cdn.example/a", "expireTime": expire_time}
    async with _resolver(data) as http, itnio.ItnioClient(KEY, SECRET, http_client=http) as client:
        link = await client.voice.recording_url("a.wav", source="sip")
    assert link is not None
    assert link.expires_at == datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "data",
    [
        {"url": "file:///etc/passwd", "expireTime": 1},
        {"url": 42, "expireTime": 1},
        {"url": "https://cdn.example/a", "expireTime": "soon"},
        ["https://cdn.example/a"],
    ],
)
async def test_malformed_resolutions_raise(data: object) -> None:
    """A URL that is not http(s), or an expiry that is not milliseconds, is refused."""
    async with _resolver(data) as http, itnio.ItnioClient(KEY, SECRET, http_client=http) as client:
        with pytest.raises(itnio.ResponseValidationError):
            await client.voice.recording_url("a.wav", source="sip")


# -- one download ---------------------------------------------------------------------


async def test_downloads_match_the_host_bytes_and_carry_no_credentials(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """Both sources download byte for byte; the file host never sees Api-Key, Sign or Timestamp."""
    sip = itnio.SipCallRecord(voice_id="1", recording_file_id="r1.wav")
    group = itnio.GroupCallRecord(voice_id="2", voice_file_id="v1.mp3")
    sip_path = await client.voice.download_recording(sip, tmp_path)
    group_path = await client.voice.download_recording(group, tmp_path)
    assert sip_path == tmp_path / "r1.wav" and group_path == tmp_path / "v1.mp3"
    assert sha256(sip_path.read_bytes()) == sha256(fake.files.content("r1.wav", "sip"))
    assert sha256(group_path.read_bytes()) == sha256(fake.files.content("v1.mp3", "group"))
    assert [parse_qs(r.query)["sourceType"] for r in resolutions(fake)] == [["sip"], ["group"]]
    assert all(r.header("sign") for r in resolutions(fake))
    assert_no_credentials_reached_the_file_host(fake)
    assert sorted(os.listdir(tmp_path)) == ["r1.wav", "v1.mp3"]  # no temporary file left


def test_fake_audio_is_deterministic() -> None:
    """The fake's bytes for a file id are fixed (a literal digest), and differ by source."""
    fake = FakeItnio(KEY, SECRET, n_records=0)
    fake.files.file_size = 70_000  # spans two 64 KiB blocks
    data = fake.files.content("123.wav", "sip")
    assert len(data) == 70_000
    assert sha256(data) == "2959b9c10db8136b3ec16e9114a1300f61fe4c446e42f6d3574253b2a14548ec"
    assert data != fake.files.content("123.wav", "group")


async def test_the_fake_file_host_refuses_credentials(
    client: itnio.ItnioClient, fake: FakeItnio
) -> None:
    """The check the other tests rely on can fail: a request with Api-Key gets 403."""
    link = await client.voice.recording_url("r1.wav", source="sip")
    assert link is not None
    async with httpx.AsyncClient(transport=fake.transport) as http:
        refused = await http.get(link.url, headers={"Api-Key": KEY})
        served = await http.get(link.url)
    assert refused.status_code == 403 and served.status_code == 200
    assert fake.files.credential_refusals == 1


async def test_existing_file_is_skipped_without_any_request(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """A file already under its final name is complete: nothing is resolved or fetched."""
    (tmp_path / "done.wav").write_bytes(b"kept")
    path = await client.voice.download_recording("done.wav", tmp_path, source="sip")
    assert path.read_bytes() == b"kept"
    assert fake.request_count == 0


# -- expiry ---------------------------------------------------------------------------


async def test_url_expired_early_is_resolved_again_and_retried(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """A URL the host refuses as expired is resolved once more and the download succeeds."""
    fake.files.expire_early(1)
    path = await client.voice.download_recording("e.wav", tmp_path, source="sip")
    assert sha256(path.read_bytes()) == sha256(fake.files.content("e.wav", "sip"))
    assert len(resolutions(fake)) == 2
    assert [r.answered for r in file_requests(fake)] == ["expired", "file_200"]


async def test_refused_twice_raises_expired_and_leaves_nothing(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """A fresh URL refused as expired again raises RecordingUrlExpiredError after one renewal."""
    fake.files.expire_early(5)
    with pytest.raises(itnio.RecordingUrlExpiredError) as info:
        await client.voice.download_recording("e.wav", tmp_path, source="sip")
    assert info.value.status_code == 403
    assert "sig=" not in str(info.value) and "/files/" in str(info.value)
    assert len(resolutions(fake)) == 2 and len(file_requests(fake)) == 2
    assert os.listdir(tmp_path) == []


async def test_already_expired_url_is_renewed_before_use(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """An expireTime in the past is resolved again before any download is tried."""
    fake.files.url_lifetime = -60
    with pytest.raises(itnio.RecordingUrlExpiredError):
        await client.voice.download_recording("old.wav", tmp_path, source="group")
    # resolved, found expired, resolved again (still expired: tried once, refused)
    assert len(resolutions(fake)) == 2
    assert [r.answered for r in file_requests(fake)] == ["expired"]


# -- atomic files and resume --------------------------------------------------------


async def test_dropped_download_resumes_with_a_range_request(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """A connection dropped midway is retried from where the file stopped, not from zero."""
    fake.files.drop_after(20_000)
    path = await client.voice.download_recording("d.wav", tmp_path, source="sip")
    assert sha256(path.read_bytes()) == sha256(fake.files.content("d.wav", "sip"))
    first, second = file_requests(fake)
    assert first.answered == "dropped" and first.header("range") is None
    assert second.answered == "file_206" and second.header("range") == "bytes=20000-"
    assert len(resolutions(fake)) == 1


async def test_failed_download_leaves_no_final_file_and_a_rerun_resumes(
    make_client: ClientFactory, fake: FakeItnio, tmp_path: Path
) -> None:
    """Without retries a drop fails the download, leaving only the temporary file; reruns resume."""
    fake.files.drop_after(20_000)
    async with make_client(max_retries=0) as client:
        with pytest.raises(itnio.TransportError):
            await client.voice.download_recording("d.wav", tmp_path, source="sip")
        final = tmp_path / "d.wav"
        assert not final.exists()
        assert part_of(final).stat().st_size == 20_000
        path = await client.voice.download_recording("d.wav", tmp_path, source="sip")
    assert path.read_bytes() == fake.files.content("d.wav", "sip")
    assert file_requests(fake)[-1].header("range") == "bytes=20000-"
    assert os.listdir(tmp_path) == ["d.wav"]


async def test_host_that_ignores_range_gets_the_whole_file_again(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """A 200 answer to a Range request replaces the partial file instead of appending to it."""
    fake.files.accept_ranges = False
    fake.files.drop_after(20_000)
    path = await client.voice.download_recording("n.wav", tmp_path, source="sip")
    assert path.read_bytes() == fake.files.content("n.wav", "sip")
    second = file_requests(fake)[1]
    assert second.header("range") == "bytes=20000-" and second.answered == "file_200"


async def test_partial_file_longer_than_the_file_starts_over(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """A 416 (the temporary file is past the end) discards it and fetches the whole file."""
    part_of(tmp_path / "long.wav").write_bytes(b"\0" * (fake.files.file_size + 10))
    path = await client.voice.download_recording("long.wav", tmp_path, source="sip")
    assert path.read_bytes() == fake.files.content("long.wav", "sip")
    assert [r.answered for r in file_requests(fake)] == ["file_416", "file_200"]


async def test_complete_partial_file_is_renamed_without_a_download(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """A temporary file that already holds every byte (416 naming its size) is just renamed."""
    part_of(tmp_path / "whole.wav").write_bytes(fake.files.content("whole.wav", "sip"))
    path = await client.voice.download_recording("whole.wav", tmp_path, source="sip")
    assert path.read_bytes() == fake.files.content("whole.wav", "sip")
    assert [r.answered for r in file_requests(fake)] == ["file_416"]
    assert os.listdir(tmp_path) == ["whole.wav"]


async def test_cancelled_download_leaves_no_final_file_and_resumes(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """Cancelling midway keeps only the temporary file; the next call continues it."""
    fake.files.file_size = 4 * 1024 * 1024
    final = tmp_path / "big.wav"
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                partial(client.voice.download_recording, "big.wav", tmp_path, source="sip")
            )

            async def cancel_once_started() -> None:
                # (polls the disk: the download has no event to wait on)
                while not (part_of(final).exists() and part_of(final).stat().st_size > 0):
                    await anyio.lowlevel.checkpoint()
                scope.cancel()

            tg.start_soon(cancel_once_started)
    assert scope.cancelled_caught
    assert not final.exists()
    kept = part_of(final).stat().st_size
    assert 0 < kept < fake.files.file_size
    path = await client.voice.download_recording("big.wav", tmp_path, source="sip")
    assert sha256(path.read_bytes()) == sha256(fake.files.content("big.wav", "sip"))
    assert file_requests(fake)[-1].header("range") == f"bytes={kept}-"


async def test_size_limit_refuses_large_files(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """max_bytes below the file's size raises RecordingTooLargeError and leaves nothing."""
    with pytest.raises(itnio.RecordingTooLargeError):
        await client.voice.download_recording("l.wav", tmp_path, source="sip", max_bytes=1000)
    assert os.listdir(tmp_path) == []
    path = await client.voice.download_recording(
        "l.wav", tmp_path, source="sip", max_bytes=fake.files.file_size
    )
    assert path.stat().st_size == fake.files.file_size


# -- file names -----------------------------------------------------------------------

HOSTILE_IDS = [
    "../../evil.wav",
    "/etc/passwd",
    "a/b\\c.wav",
    "..",
    ".",
    ".hidden.wav",
    "CON.wav",
    "x\x00y\ny.wav",
    "ñandú.mp3",
    "-rf.wav",
    "x" * 300 + ".wav",
    "rec1.wav",
]


def test_recording_filename_known_answers() -> None:
    """Safe ids are kept; others are cleaned and get the first 12 hex digits of their SHA-256."""
    assert itnio.recording_filename("rec1.wav") == "rec1.wav"
    digest = hashlib.sha256(b"../../evil.wav").hexdigest()[:12]
    assert itnio.recording_filename("../../evil.wav") == f"_.._evil-{digest}.wav"
    assert itnio.recording_filename("..") == f"recording-{hashlib.sha256(b'..').hexdigest()[:12]}"
    with pytest.raises(itnio.InvalidArgumentError):
        itnio.recording_filename("")


async def test_hostile_file_ids_stay_inside_the_directory(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """Ids with separators, dots or odd characters all land, distinct, inside the directory."""
    fake.files.file_size = 1000
    target = tmp_path / "out"
    outcomes = [
        o async for o in client.voice.download_recordings(HOSTILE_IDS, target, source="sip")
    ]
    assert {o.status for o in outcomes} == {"downloaded"}
    assert os.listdir(tmp_path) == ["out"]
    names = os.listdir(target)
    assert len(names) == len(HOSTILE_IDS)
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
    for outcome in outcomes:
        assert outcome.path is not None and outcome.path.parent == target
        assert outcome.file_id is not None
        assert outcome.path.read_bytes() == fake.files.content(outcome.file_id, "sip")


# -- bulk -------------------------------------------------------------------------------


async def test_bulk_reports_one_outcome_per_record(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """Every record gets an outcome; failures do not stop the batch."""
    fake.files.missing.add("gone.wav")
    (tmp_path / "have.wav").write_bytes(b"kept")
    first = itnio.SipCallRecord(voice_id="1", recording_file_id="a.wav")
    items: list[itnio.CallRecord | str] = [
        first,
        itnio.SipCallRecord(voice_id="2", recording_file_id=None),
        itnio.GroupCallRecord(voice_id="3", voice_file_id="g.mp3"),
        itnio.SipCallRecord(voice_id="4", recording_file_id="a.wav"),  # same file as the first
        itnio.SipCallRecord(voice_id="5", recording_file_id="gone.wav"),
        itnio.SipCallRecord(voice_id="6", recording_file_id="have.wav"),
        "bare.wav",  # a bare id without source=...
        itnio.SipCallRecord(voice_id="7", recording_file_id="b.wav"),
        itnio.GroupCallRecord(voice_id="8", voice_file_id="a.wav"),  # another file, same name
    ]
    downloads = client.voice.download_recordings(items, tmp_path, concurrency=3)
    async with downloads as outcomes:
        by_item = {id(o.item): o async for o in outcomes}
    assert len(by_item) == len(items)
    statuses = [by_item[id(item)].status for item in items]
    assert statuses == [
        "downloaded",
        "no_file_id",
        "downloaded",
        "skipped",
        "failed",
        "skipped",
        "failed",
        "downloaded",
        "failed",
    ]
    assert isinstance(by_item[id(items[4])].error, itnio.RecordingNotFoundError)
    assert isinstance(by_item[id(items[8])].error, itnio.RecordingError)
    assert (tmp_path / "a.wav").read_bytes() == fake.files.content("a.wav", "sip")
    assert isinstance(by_item[id(items[6])].error, itnio.InvalidArgumentError)
    assert (tmp_path / "have.wav").read_bytes() == b"kept"
    assert (tmp_path / "g.mp3").read_bytes() == fake.files.content("g.mp3", "group")
    counts = (downloads.done, downloads.downloaded, downloads.skipped, downloads.failed)
    assert counts == (9, 3, 2, 3)
    assert downloads.bytes == 3 * fake.files.file_size
    # a.wav was fetched once for both records
    assert sum(1 for r in file_requests(fake) if r.answered == "file_200") == 3
    assert_no_credentials_reached_the_file_host(fake)


async def test_bulk_stays_under_the_concurrency_caps(
    make_client: ClientFactory, fake: FakeItnio, tmp_path: Path
) -> None:
    """At most `concurrency` files at once, and never more than the client-wide cap."""
    # Long enough that the caps are reached even on a loaded machine: at 5 ms,
    # a busy worker once kept only 2 of 3 requests in flight at a time.
    fake.latency = 0.03
    fake.files.file_size = 2000
    ids = [f"c{i}.wav" for i in range(24)]
    async with make_client() as client:
        outcomes = [
            o
            async for o in client.voice.download_recordings(
                ids, tmp_path, source="sip", concurrency=3
            )
        ]
    assert fake.peak_in_flight == 3
    assert [o.status for o in outcomes] == ["downloaded"] * 24
    fake.reset_counters()
    async with make_client(max_concurrency=2) as client:
        async for outcome in client.voice.download_recordings(
            [f"d{i}.wav" for i in range(24)], tmp_path, source="sip", concurrency=8
        ):
            assert outcome.ok
    assert fake.peak_in_flight == 2


async def test_bulk_takes_a_record_stream(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """Records streamed from a query feed the downloads directly; a re-run skips them all."""
    fake.files.file_size = 500
    stream = client.voice.iter_sip_records(START, END, limit=40)
    outcomes = [o async for o in client.voice.download_recordings(stream, tmp_path)]
    assert len(outcomes) == 40
    with_file = [o for o in outcomes if o.file_id is not None]
    assert with_file and all(o.status == "downloaded" for o in with_file)
    assert all(o.status == "no_file_id" for o in outcomes if o.file_id is None)
    again = client.voice.iter_sip_records(START, END, limit=40)
    rerun = [o.status async for o in client.voice.download_recordings(again, tmp_path)]
    assert rerun.count("skipped") == len(with_file)


async def test_breaking_out_leaves_only_complete_files(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """Stopping a batch early cancels the rest; every file under a final name is complete."""
    fake.files.file_size = 300_000
    ids = [f"s{i}.wav" for i in range(12)]
    async with client.voice.download_recordings(ids, tmp_path, source="sip") as outcomes:
        async for outcome in outcomes:
            assert outcome.ok
            break
    finals = [name for name in os.listdir(tmp_path) if not name.startswith(".")]
    assert finals
    for name in finals:
        assert (tmp_path / name).read_bytes() == fake.files.content(name, "sip")


async def test_logs_name_host_and_path_only(
    make_client: ClientFactory, fake: FakeItnio, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG and INFO logs of a download with a renewal never show the URL's query."""
    caplog.set_level(logging.DEBUG, logger="itniotech_async")
    fake.files.expire_early(1)
    fake.files.drop_after(1000)
    async with make_client() as client:
        await client.voice.download_recording("log.wav", tmp_path, source="sip")
    messages = [r.getMessage() for r in caplog.records]
    assert any("/files/" in m for m in messages)
    assert not [m for m in messages if "sig=" in m or "expires=" in m]


# -- argument checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda v, d: v.recording_url("a.wav", source="phone"), "source"),
        (lambda v, d: v.recording_url("", source="sip"), "file_id"),
        (lambda v, d: v.download_recording("a.wav", d), "source="),
        (lambda v, d: v.download_recording(itnio.SipCallRecord(voice_id="1"), d), "no recording"),
        (
            lambda v, d: v.download_recording(
                itnio.SipCallRecord(voice_id="1", recording_file_id="a.wav"), d, source="group"
            ),
            "does not match",
        ),
        (lambda v, d: v.download_recording("a.wav", d, source="sip", max_bytes=-1), "max_bytes"),
        (lambda v, d: v.download_recording(42, d, source="sip"), "expected"),
        (lambda v, d: v.download_recording("a.wav", 3, source="sip"), "directory"),
    ],
)
async def test_bad_arguments_raise_before_sending(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path, call: Any, match: str
) -> None:
    """Bad sources, ids, sizes and directories raise InvalidArgumentError and send nothing."""
    with pytest.raises(itnio.InvalidArgumentError, match=match):
        await call(client.voice, tmp_path)
    assert fake.request_count == 0


@pytest.mark.parametrize(
    "kwargs", [{"concurrency": 0}, {"concurrency": True}, {"source": "x"}, {"max_bytes": 1.5}]
)
def test_bulk_bad_arguments_raise_at_once(kwargs: dict[str, Any], tmp_path: Path) -> None:
    """download_recordings checks its arguments when called, before iterating."""
    client = itnio.ItnioClient(KEY, SECRET)
    with pytest.raises(itnio.InvalidArgumentError):
        client.voice.download_recordings(["a.wav"], tmp_path, **kwargs)
    with pytest.raises(itnio.InvalidArgumentError):
        client.voice.download_recordings("a.wav", tmp_path, source="sip")  # type: ignore[arg-type]


# -- the command line -------------------------------------------------------------------


def test_cli_downloads_a_range_and_reruns_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`itniotech recordings sip` saves each recording once; a second run downloads nothing."""
    from itniotech_async._cli import main

    fake = FakeItnio(KEY, SECRET, seed=3, n_records=120, days=20)
    fake.files.file_size = 3000
    now = datetime.now(timezone.utc)
    span = ["--start", (now - timedelta(days=10)).isoformat(), "--end", now.isoformat()]
    expected = {
        str(r["recordingFileId"])
        for r in fake.sip_records
        if r.get("recordingFileId")
        and now - timedelta(days=10) <= datetime.fromisoformat(str(r["submitTime"])) <= now
    }
    assert expected
    monkeypatch.setenv("ITNIO_API_KEY", KEY)
    monkeypatch.setenv("ITNIO_API_SECRET", SECRET)
    target = tmp_path / "rec"
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(fake.serve()) as base_url,
    ):
        argv = ["recordings", "sip", *span, "--dir", str(target), "--base-url", base_url]
        assert main(argv) == 0
        first = capsys.readouterr().out
        assert sorted(os.listdir(target)) == sorted(expected)
        for name in expected:
            assert (target / name).read_bytes() == fake.files.content(name, "sip")
        fake.files.missing.add(sorted(expected)[0])
        (target / sorted(expected)[0]).unlink()
        assert main(argv) == 1  # one recording is gone from the service now
        second = capsys.readouterr()
    assert f"{len(expected):,} downloaded" in first
    assert f"0 downloaded (0 B), {len(expected) - 1:,} already there" in second.out
    assert f"failed: {sorted(expected)[0]}" in second.err
    assert fake.files.credential_refusals == 0


def test_cli_progress_bar_text() -> None:
    """The bar shows records done of the stream's total, failures and bytes."""
    from itniotech_async._cli._progress import DownloadProgress

    class Counts:
        done, failed, bytes = 6, 1, 2_500_000

    class Stream:
        total = 24

    bar = DownloadProgress(Counts(), Stream(), None)  # type: ignore[arg-type]
    assert bar.render(2.0) == (
        "[######------------------] 6/24 records  25%  1 failed  2.5 MB  1.2 MB/s"
    )
    Stream.total = None  # type: ignore[assignment]
    assert bar.render(2.0).startswith("6 recordings (counting...)")


# -- the README ---------------------------------------------------------------------------


def test_readme_recordings_example_runs_and_type_checks(tmp_path: Path) -> None:
    """The README's Recordings block passes mypy --strict and runs to the end, offline."""
    import subprocess
    import sys

    from mypy import api as mypy_api

    from .test_readme import python_block

    script = tmp_path / "recordings_example.py"
    script.write_text(python_block("Recordings"))
    out, err, status = mypy_api.run(["--strict", "--no-error-summary", str(script)])
    assert status == 0, out + err
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "123.wav 48000 bytes" in result.stdout
    assert "downloaded," in result.stdout


async def test_failing_record_source_ends_the_batch_with_its_error(
    client: itnio.ItnioClient, fake: FakeItnio, tmp_path: Path
) -> None:
    """An error while reading the records reaches the consumer as itself, after the outcomes."""

    class Broken(Exception):
        pass

    async def records() -> Any:
        yield itnio.SipCallRecord(voice_id="2", recording_file_id="ok.wav")
        raise Broken("the source failed")

    seen = []
    with pytest.raises(Broken, match="the source failed"):
        async for outcome in client.voice.download_recordings(records(), tmp_path):
            seen.append(outcome.status)
    assert seen in ([], ["downloaded"])
    assert not [n for n in os.listdir(tmp_path) if not n.startswith(".") and n != "ok.wav"]


# Cutting a body off midway leaves httpx's response iterators (async generators)
# suspended; trio closes them itself but warns (ResourceWarning) when it does.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_size_limit_holds_without_a_content_length(tmp_path: Path) -> None:
    """A body of unannounced length is cut off once it passes max_bytes, leaving no file."""
    seen: list[httpx.Request] = []

    async def body() -> Any:
        for _ in range(100):
            yield b"\1" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/voice/getRecordingFileUrl":
            data = {"url": "https://cdn.example/x?token=t", "expireTime": 4_102_444_800_000}
            return httpx.Response(200, json={"status": "0", "reason": "ok", "data": data})
        return httpx.Response(200, content=body())

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        itnio.ItnioClient(KEY, SECRET, http_client=http) as client,
    ):
        with pytest.raises(itnio.RecordingTooLargeError):
            await client.voice.download_recording("x.wav", tmp_path, source="sip", max_bytes=5500)
        path = await client.voice.download_recording("x.wav", tmp_path, source="sip")
    assert path.read_bytes() == b"\1" * 100_000
    assert os.listdir(tmp_path) == ["x.wav"]
    file_hits = [r for r in seen if r.url.host == "cdn.example"]
    assert len(file_hits) == 2
    for request in file_hits:
        assert not [h for h in CREDENTIAL_HEADERS if h in request.headers]
