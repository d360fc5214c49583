"""The MediaStorage port: one contract for the in-memory fake, the local folder and the R2
adapter (with presigned URLs, and with a public base URL).

The R2 adapter runs through the real boto3 client against moto's S3 server (a real HTTP
server speaking the S3 API), and every URL it returns is fetched over HTTP with httpx.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from devtools.processes import free_port
from shared.adapters.local_media import LocalMediaStorage
from shared.adapters.r2_storage import (
    CACHE_CONTROL,
    R2MediaStorage,
    r2_client_factory,
    r2_endpoint,
)
from shared.domain.errors import StorageError
from shared.ports import Media, MediaStorage
from tests.fakes import FakeMedia

BUCKET = "media-contract"
ACCESS_KEY = "AKIDCONTRACTTEST"
SECRET = "s3cr3t-R2-contract-NEVER-SHOWN"  # noqa: S105 (a test value, asserted never to leak)
MiB = 1024 * 1024
# One of each kind the media-key rule refuses (all of them: tests/unit/test_media_keys.py).
BAD_KEYS = [
    "", "/abs.png", "../up.png", "a/../b.png", "a//b.png", "a/", "a/./b.png", "a/..",
    "a\\b.png", "a\x00b.png", "a\x01b.png", "a\nb.png", "a\x7fb.png", "a\x85b.png",
    "a b.png", "a\u202egnp.exe", "x" * 256, "/".join(["y" * 255] * 4) + "/z",
]  # fmt: skip


def plain_client(endpoint: str):
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """A moto S3 server on a free port, with the contract bucket; yields its endpoint."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    plain_client(endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_server: str):
    return plain_client(s3_server)


class Recorder:
    """Counts the S3 operations a client sends, with their headers (a botocore event hook)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()

    def __call__(self, request, event_name: str, **_kwargs) -> None:
        with self._lock:
            headers = {
                name: value.decode() if isinstance(value, bytes) else value
                for name, value in request.headers.items()
            }
            self.sent.append((event_name.rsplit(".", 1)[-1], headers))
        # returning None: the request goes on to the server

    def ops(self, name: str) -> list[dict[str, str]]:
        return [headers for op, headers in self.sent if op == name]


def recording_factory(
    base: Callable[[], object], recorder: Recorder, calls: list[int] | None = None
) -> Callable[[], object]:
    def factory():
        if calls is not None:
            calls.append(1)
        client = base()
        client.meta.events.register("before-send.s3", recorder)
        return client

    return factory


def r2_factory(endpoint: str, **kwargs):
    return r2_client_factory(
        endpoint_url=endpoint, access_key_id=ACCESS_KEY, secret_access_key=SECRET, **kwargs
    )


def failing_factory(endpoint: str):
    """Fail fast: no retries, short timeouts."""
    return r2_factory(endpoint, connect_timeout=0.5, read_timeout=0.5, max_attempts=1)


# --- the contract, for every implementation ----------------------------------------------

LOCAL_BASE = "http://127.0.0.1:8080"


@dataclass
class Case:
    storage: MediaStorage
    fetch: Callable[[str], tuple[bytes, str] | None]  # url -> (bytes, content type) | None


@pytest.fixture(scope="module")
def public_bucket(s3_server: str, s3) -> str:
    """A bucket whose policy lets anyone read, served unsigned at <endpoint>/<bucket>/<key>
    (as an R2 bucket's public domain serves keys at its root)."""
    bucket = "media-public"
    s3.create_bucket(Bucket=bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return bucket


def fetch_http(url: str) -> tuple[bytes, str] | None:
    response = httpx.get(url, timeout=10)
    if response.status_code in (403, 404):
        return None
    assert response.status_code == 200, response.text
    return response.content, response.headers["content-type"]


@pytest.fixture(params=["fake", "local", "r2-presigned", "r2-public"])
def case(request, tmp_path: Path) -> Case:
    if request.param == "fake":
        fake = FakeMedia()

        def fetch_fake(url: str) -> tuple[bytes, str] | None:
            media = fake.get(url)
            return None if media is None else (media.data, media.content_type)

        return Case(fake, fetch_fake)

    if request.param == "local":
        local = LocalMediaStorage(tmp_path / "media", f"{LOCAL_BASE}/")

        def fetch_local(url: str) -> tuple[bytes, str] | None:
            # The local api serves the folder at /media/<key> (a Flask <path:key> route, which
            # percent-decodes); here the file is read directly.
            assert url.startswith(f"{LOCAL_BASE}/media/"), url
            try:
                path, content_type = local.open(unquote(urlsplit(url).path.removeprefix("/media/")))
            except FileNotFoundError:
                return None
            return path.read_bytes(), content_type

        return Case(local, fetch_local)

    endpoint = request.getfixturevalue("s3_server")
    if request.param == "r2-public":
        bucket = request.getfixturevalue("public_bucket")
        public = f"{endpoint}/{bucket}/"
        return Case(
            R2MediaStorage(r2_factory(endpoint), bucket, public_base_url=public), fetch_http
        )
    return Case(R2MediaStorage(r2_factory(endpoint), BUCKET), fetch_http)


@pytest.mark.parametrize(
    ("key", "content_type"),
    [("u/alice/c1/video.mp4", "video/mp4"), ("u/alice/c2/image.png", "image/png")],
)
def test_put_stores_and_url_serves_the_exact_bytes(case: Case, key: str, content_type: str):
    data = bytes(range(256)) * 64 + b"\x00tail"
    assert case.storage.put(key, Media(data, content_type, key.rsplit(".", 1)[-1])) is None
    url = case.storage.url(key)
    assert url.startswith(("http://", "https://"))
    assert case.fetch(url) == (data, content_type)


def test_put_overwrites_the_same_key(case: Case):
    key = "u/bob/c3/image.png"
    case.storage.put(key, Media(b"first version", "image/png", "png"))
    case.storage.put(key, Media(b"second", "image/png", "png"))
    assert case.fetch(case.storage.url(key)) == (b"second", "image/png")


def test_large_upload_round_trips(case: Case):
    key = "u/carol/c4/long.mp4"
    data = (b"0123456789abcdef" * (MiB // 16)) * 20  # 20 MiB
    case.storage.put(key, Media(data, "video/mp4", "mp4"))
    got = case.fetch(case.storage.url(key))
    assert got is not None
    assert len(got[0]) == len(data) and got == (data, "video/mp4")


def test_a_url_is_only_a_way_to_the_key(case: Case):
    """url() neither needs nor checks the object: made before the put, it serves it after;
    made again at each read, every one serves it."""
    key = "u/dan/c9/later.png"
    early = case.storage.url(key)
    assert case.fetch(early) is None
    case.storage.put(key, Media(b"now here", "image/png", "png"))
    for url in (early, case.storage.url(key), case.storage.url(key)):
        assert case.fetch(url) == (b"now here", "image/png")


@pytest.mark.parametrize(
    "key",
    [
        "images/user@example.com/c1.png",
        "videos/tenant:42+bob_x-y.z/c2.png",
        "u/a+b%c#d?e&f=g~é/c3.png",
        "u/josé/日本/😀.png",
    ],
)
def test_every_valid_key_round_trips_through_its_url(case: Case, key: str):
    case.storage.put(key, Media(key.encode(), "image/png", "png"))
    assert case.fetch(case.storage.url(key)) == (key.encode(), "image/png")


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected(case: Case, key: str):
    with pytest.raises(ValueError, match="invalid media key"):
        case.storage.put(key, Media(b"x", "image/png", "png"))
    with pytest.raises(ValueError, match="invalid media key"):
        case.storage.url(key)


def test_a_download_url_serves_the_same_bytes(case: Case):
    key = "videos/alice/c10.mp4"
    case.storage.put(key, Media(b"the video", "video/mp4", "mp4"))
    url = case.storage.url(key, "video-c10.mp4")
    assert url != case.storage.url(key)
    assert case.fetch(url) == (b"the video", "video/mp4")
    with pytest.raises(ValueError, match="not a download name"):
        case.storage.url(key, 'x".mp4')


@pytest.mark.parametrize("public", [False, True], ids=["presigned", "public-base-url"])
def test_r2_download_urls_answer_as_an_attachment_signed_with_their_name(
    s3_server: str, public_bucket: str, public: bool
):
    """S3's response-content-disposition, signed into the URL: the storage answers the file
    with that header. A public domain cannot, so a download is presigned there too."""
    bucket = public_bucket if public else BUCKET
    base = f"{s3_server}/{bucket}/" if public else None
    storage = R2MediaStorage(r2_factory(s3_server), bucket, public_base_url=base)
    storage.put("images/bob/c11.png", Media(b"png bytes", "image/png", "png"))
    url = storage.url("images/bob/c11.png", "image-c11.png")
    assert "X-Amz-Signature" in url and SECRET not in url
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == b"png bytes"
    assert answer.headers["content-disposition"] == 'attachment; filename="image-c11.png"'
    assert answer.headers["content-type"] == "image/png"
    shown = httpx.get(storage.url("images/bob/c11.png"), timeout=10)
    assert "attachment" not in shown.headers.get("content-disposition", "")


def test_ping_ok(case: Case):
    assert case.storage.ping() is None


# --- R2 specifics -------------------------------------------------------------------------


def test_r2_endpoint():
    assert r2_endpoint("abc123") == "https://abc123.r2.cloudflarestorage.com"


def test_factory_configures_the_client_for_r2():
    client = r2_client_factory(
        endpoint_url=r2_endpoint("acct"),
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET,
        connect_timeout=2,
        read_timeout=30,
        max_attempts=4,
    )()
    config = client.meta.config
    assert client.meta.endpoint_url == "https://acct.r2.cloudflarestorage.com"
    assert client.meta.region_name == "auto"
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3["addressing_style"] == "path"
    assert config.signature_version == "s3v4"
    # max_attempts counts every try, the first included
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (2, 30)


def test_presigned_url_shape(s3_server: str):
    storage = R2MediaStorage(r2_factory(s3_server), BUCKET, presign_expiry_seconds=600)
    storage.put("u/dave/c5/a+b%c#é.png", Media(b"png!", "image/png", "png"))
    url = storage.url("u/dave/c5/a+b%c#é.png")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == s3_server
    assert parts.path == f"/{BUCKET}/u/dave/c5/a%2Bb%25c%23%C3%A9.png"  # path style, quoted key
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "/auto/s3/aws4_request" in query["X-Amz-Credential"][0]
    assert "X-Amz-Signature" in query
    assert SECRET not in url
    assert httpx.get(url, timeout=10).content == b"png!"


def _signed_at(url: str) -> datetime:
    (stamp,) = parse_qs(urlsplit(url).query)["X-Amz-Date"]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def test_a_presigned_url_is_signed_at_each_call_without_a_request():
    """The link lasts because it is made when shown: signed now, valid from now. Signing is
    local: even with the endpoint unreachable, url() answers and sends nothing."""
    recorder = Recorder()
    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = R2MediaStorage(recording_factory(failing_factory(endpoint), recorder), BUCKET)
    for _ in range(2):
        before = datetime.now(UTC).replace(microsecond=0)
        url = storage.url("u/dave/c5/clip.mp4")
        after = datetime.now(UTC)
        assert before <= _signed_at(url) <= after
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["3600"]
    assert recorder.sent == []


def test_public_base_url_shape_and_headers(s3_server: str, s3, public_bucket: str):
    public = f"{s3_server}/{public_bucket}/"
    storage = R2MediaStorage(r2_factory(s3_server), public_bucket, public_base_url=public)
    storage.put("u/erin/c6/clip#1+é.mp4", Media(b"mp4 bytes", "video/mp4", "mp4"))
    url = storage.url("u/erin/c6/clip#1+é.mp4")
    assert url == f"{s3_server}/{public_bucket}/u/erin/c6/clip%231%2B%C3%A9.mp4"
    assert storage.url("u/erin/c6/clip#1+é.mp4") == url  # a public URL is the same each time
    assert "X-Amz" not in url
    head = s3.head_object(Bucket=public_bucket, Key="u/erin/c6/clip#1+é.mp4")
    assert head["CacheControl"] == CACHE_CONTROL
    assert head["ContentType"] == "video/mp4"


def test_public_url_needs_no_client():
    calls: list[int] = []
    storage = R2MediaStorage(
        lambda: calls.append(1), BUCKET, public_base_url="https://media.example.com"
    )
    assert storage.url("u/x/y.png") == "https://media.example.com/u/x/y.png"
    assert calls == []


def test_small_put_is_one_request_without_crc_headers(s3_server: str, s3):
    recorder = Recorder()
    storage = R2MediaStorage(recording_factory(r2_factory(s3_server), recorder), BUCKET)
    storage.put("u/fred/c7/small.png", Media(b"small", "image/png", "png"))
    assert [op for op, _ in recorder.sent] == ["PutObject"]
    (headers,) = recorder.ops("PutObject")
    lowered = {name.lower() for name in headers}
    # R2 rejects the CRC checksum headers botocore sends by default.
    assert not any(name.startswith("x-amz-checksum-") for name in lowered)
    assert "x-amz-sdk-checksum-algorithm" not in lowered
    assert headers["Cache-Control"] == CACHE_CONTROL


def test_large_upload_goes_in_parts(s3_server: str, s3):
    recorder = Recorder()
    storage = R2MediaStorage(recording_factory(r2_factory(s3_server), recorder), BUCKET)
    key = "u/gina/c8/long.mp4"
    data = b"\xab" * (20 * MiB)
    storage.put(key, Media(data, "video/mp4", "mp4"))
    assert len(recorder.ops("CreateMultipartUpload")) == 1
    parts = recorder.ops("UploadPart")
    assert len(parts) == 3  # 8 MiB + 8 MiB + 4 MiB
    assert len(recorder.ops("CompleteMultipartUpload")) == 1
    assert recorder.ops("PutObject") == []
    for headers in parts:
        assert not any(name.lower().startswith("x-amz-checksum-") for name in headers)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "video/mp4"
    assert head["CacheControl"] == CACHE_CONTROL
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == data


def test_client_is_built_once_across_threads(s3_server: str):
    calls: list[int] = []
    base = r2_factory(s3_server)

    def slow_factory():
        calls.append(1)
        time.sleep(0.05)
        return base()

    storage = R2MediaStorage(slow_factory, BUCKET)
    assert calls == []  # lazy: nothing built at construction
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            storage.ping()
            storage.put(f"u/threads/{i}.png", Media(b"t%d" % i, "image/png", "png"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == []
    assert calls == [1]


# --- failures -----------------------------------------------------------------------------


def _all_text(exc: BaseException) -> str:
    """Everything an error could show: str, repr, its chain and the formatted traceback."""
    texts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    texts.append("".join(traceback.format_exception(exc)))
    return "\n".join(texts)


def _failing(storage: R2MediaStorage, action: Callable[[], object], op: str) -> StorageError:
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        action()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"r2 {op}" in message
    assert SECRET not in _all_text(info.value)
    assert ACCESS_KEY not in message
    assert SECRET not in repr(storage)
    return info.value


def test_unreachable_endpoint_raises_storage_error_quickly():
    storage = R2MediaStorage(failing_factory(f"http://127.0.0.1:{free_port()}"), BUCKET)
    err = _failing(
        storage, lambda: storage.put("u/h/x.png", Media(b"x", "image/png", "png")), "put"
    )
    assert "EndpointConnectionError" in str(err)
    err = _failing(storage, storage.ping, "ping")
    assert "EndpointConnectionError" in str(err)


@pytest.mark.parametrize("max_attempts", [1, 2])
def test_max_attempts_counts_every_try(max_attempts: int):
    recorder = Recorder()
    base = r2_factory(
        f"http://127.0.0.1:{free_port()}", connect_timeout=0.5, max_attempts=max_attempts
    )
    storage = R2MediaStorage(recording_factory(base, recorder), BUCKET)
    _failing(storage, storage.ping, "ping")
    assert len(recorder.ops("HeadBucket")) == max_attempts


def test_unreachable_endpoint_large_upload_raises_storage_error():
    storage = R2MediaStorage(failing_factory(f"http://127.0.0.1:{free_port()}"), BUCKET)
    data = b"\x00" * (9 * MiB)
    _failing(storage, lambda: storage.put("u/h/big.mp4", Media(data, "video/mp4", "mp4")), "put")


def test_stopped_server_raises_storage_error_quickly():
    """The server went away after the client was built: connections are refused."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    plain_client(endpoint).create_bucket(Bucket=BUCKET)
    storage = R2MediaStorage(failing_factory(endpoint), BUCKET)
    storage.ping()
    server.stop()
    _failing(storage, lambda: storage.put("u/i/x.png", Media(b"x", "image/png", "png")), "put")
    _failing(storage, storage.ping, "ping")


def test_hanging_server_times_out():
    """A server that accepts connections but never answers: the read timeout ends the call."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # never accepted: the kernel completes handshakes, nobody replies
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        storage = R2MediaStorage(failing_factory(endpoint), BUCKET)
        err = _failing(storage, storage.ping, "ping")
        assert "ReadTimeoutError" in str(err)
        err = _failing(
            storage, lambda: storage.put("u/k/x.png", Media(b"x", "image/png", "png")), "put"
        )
        assert "ReadTimeoutError" in str(err)


def test_missing_bucket_raises_storage_error(s3_server: str):
    storage = R2MediaStorage(failing_factory(s3_server), "no-such-bucket")
    err = _failing(storage, storage.ping, "ping")
    assert "404" in str(err)
    err = _failing(
        storage, lambda: storage.put("u/j/x.png", Media(b"x", "image/png", "png")), "put"
    )
    assert "NoSuchBucket" in str(err)


def test_bad_client_config_raises_storage_error():
    storage = R2MediaStorage(r2_factory("not a url"), BUCKET)
    _failing(storage, storage.ping, "client setup")


def test_secret_in_no_repr():
    factory = r2_factory("http://127.0.0.1:1")
    storage = R2MediaStorage(factory, BUCKET, public_base_url="https://m.example.com")
    for text in (repr(factory), str(factory), repr(storage), str(storage)):
        assert SECRET not in text
    assert "R2MediaStorage" in repr(storage)


def test_invalid_settings_rejected():
    with pytest.raises(ValueError):
        R2MediaStorage(lambda: None, "")
    with pytest.raises(ValueError):
        R2MediaStorage(lambda: None, BUCKET, presign_expiry_seconds=0)
    with pytest.raises(ValueError):
        R2MediaStorage(lambda: None, BUCKET, multipart_threshold_bytes=0)


def test_module_import_does_not_import_boto3():
    code = (
        "import sys\n"
        "from shared.adapters.r2_storage import R2MediaStorage, r2_client_factory, r2_endpoint\n"
        "f = r2_client_factory(endpoint_url=r2_endpoint('a'), access_key_id='k',"
        " secret_access_key='s')\n"
        "R2MediaStorage(f, 'b', public_base_url='https://m.example.com').url('u/x.png')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore',"
        " 's3transfer'))\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
