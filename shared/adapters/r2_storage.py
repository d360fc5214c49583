"""Media storage on Cloudflare R2, through boto3's S3 client (R2 speaks the S3 API).

boto3 is imported lazily, inside functions only: the `api` function imports this module
on its cold start and must not pay for boto3 there. The client is built on first use and
cached. Every failure leaves this module as a StorageError naming the operation and the
error code; no SDK exception escapes, and no message or repr carries the credentials.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from shared.adapters.lazy import Lazy
from shared.domain.errors import StorageError
from shared.domain.media_keys import attachment, check_key, quote_key
from shared.ports import Media

S3Client = Any  # botocore.client.S3; no stubs are installed and boto3 must stay unimported

CACHE_CONTROL = "public, max-age=31536000, immutable"
_MIN_PART_BYTES = 5 * 1024 * 1024  # S3 and R2 refuse smaller parts (except the last)
_MAX_CONCURRENCY = 4


def r2_endpoint(account_id: str) -> str:
    """The S3 endpoint of a Cloudflare account's R2."""
    return f"https://{account_id}.r2.cloudflarestorage.com"


class _ClientFactory:
    """A zero-arg callable building an S3 client; its repr hides the secret."""

    __slots__ = (
        "_access_key_id",
        "_connect_timeout",
        "_endpoint_url",
        "_max_attempts",
        "_read_timeout",
        "_secret_access_key",
    )

    def __init__(
        self,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
    ) -> None:
        self._endpoint_url = endpoint_url
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_attempts = max_attempts

    def __call__(self) -> S3Client:
        import boto3.session
        from botocore.config import Config

        config = Config(
            # Newer botocore sends CRC32 checksum headers by default, which R2 rejects.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # total_max_attempts counts the first try: max_attempts=1 means no retry.
            # (botocore's legacy "max_attempts" key counts retries only, i.e. one more try.)
            retries={"total_max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            signature_version="s3v4",
            s3={"addressing_style": "path"},
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self._endpoint_url,
            region_name="auto",
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=config,
        )

    def __repr__(self) -> str:
        return f"r2_client_factory(endpoint_url={self._endpoint_url!r}, secret=***)"


def r2_client_factory(
    *,
    endpoint_url: str,
    access_key_id: str,
    secret_access_key: str,
    connect_timeout: float = 5,
    read_timeout: float = 60,
    max_attempts: int = 3,
) -> Callable[[], S3Client]:
    """A zero-arg factory building an S3 client configured for R2 (path style, region auto).

    `max_attempts` is the total number of tries of one request, the first included.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    return _ClientFactory(
        endpoint_url,
        access_key_id,
        secret_access_key,
        connect_timeout,
        read_timeout,
        max_attempts,
    )


def _error_code(exc: BaseException) -> str:
    """A short, credential-free code for an SDK failure."""
    from botocore.exceptions import ClientError

    cause = exc
    # S3UploadFailedError wraps a ClientError only in its message; the original is the context.
    if not isinstance(cause, ClientError) and isinstance(exc.__context__, ClientError):
        cause = exc.__context__
    if isinstance(cause, ClientError):
        error = cause.response.get("Error", {}) or {}
        code = str(error.get("Code") or "ClientError")
        status = (cause.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
        if not status:
            return code
        return f"HTTP {status}" if code == str(status) else f"{code} (HTTP {status})"
    return type(exc).__name__


def _sdk_errors() -> tuple[type[BaseException], ...]:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError
    from s3transfer import exceptions as transfer

    return (
        BotoCoreError,
        ClientError,
        Boto3Error,
        transfer.S3UploadFailedError,
        transfer.RetriesExceededError,
        transfer.TransferNotDoneError,
        transfer.FatalError,
    )


class R2MediaStorage:
    """MediaStorage on an R2 bucket. Thread-safe; the client is built once, on first use."""

    def __init__(
        self,
        client_factory: Callable[[], S3Client],
        bucket: str,
        *,
        public_base_url: str | None = None,
        presign_expiry_seconds: int = 3600,
        multipart_threshold_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if not bucket:
            raise ValueError("bucket is required")
        if presign_expiry_seconds <= 0 or presign_expiry_seconds > 7 * 24 * 3600:
            raise ValueError("presign_expiry_seconds must be within 1 s and 7 days")
        if multipart_threshold_bytes <= 0:
            raise ValueError("multipart_threshold_bytes must be positive")
        self._factory = client_factory
        self.bucket = bucket
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.presign_expiry_seconds = presign_expiry_seconds
        self.multipart_threshold_bytes = multipart_threshold_bytes
        self._client: Lazy[S3Client] = Lazy(self._build_client)

    def __repr__(self) -> str:
        return f"R2MediaStorage(bucket={self.bucket!r}, public_base_url={self.public_base_url!r})"

    def _build_client(self) -> S3Client:
        try:
            return self._factory()
        except Exception as exc:  # a bad endpoint or config: storage is unusable
            raise StorageError(f"r2 client setup failed: {type(exc).__name__}") from exc

    def _get_client(self) -> S3Client:
        return self._client.get()

    def _fail(self, operation: str, exc: BaseException, key: str | None = None) -> StorageError:
        where = f"{self.bucket}/{key}" if key is not None else self.bucket
        return StorageError(f"r2 {operation} {where} failed: {_error_code(exc)}")

    def put(self, key: str, media: Media) -> None:
        """Upload (overwriting) with the managed transfer, in parts above the threshold."""
        check_key(key)
        client = self._get_client()
        from boto3.s3.transfer import TransferConfig

        transfer = TransferConfig(
            multipart_threshold=self.multipart_threshold_bytes,
            multipart_chunksize=max(self.multipart_threshold_bytes, _MIN_PART_BYTES),
            max_concurrency=_MAX_CONCURRENCY,
            use_threads=True,
        )
        try:
            client.upload_fileobj(
                io.BytesIO(media.data),
                self.bucket,
                key,
                ExtraArgs={"ContentType": media.content_type, "CacheControl": CACHE_CONTROL},
                Config=transfer,
            )
        except _sdk_errors() as exc:
            raise self._fail("put", exc, key) from exc

    def url(self, key: str, download: str | None = None) -> str:
        """The URL to show now: `<public base URL>/<key>` when configured, else a presigned GET
        signed at this call, valid `presign_expiry_seconds` from now. Signing is local: no
        request is sent (the client is built on first use, which sends nothing either).
        A `download` URL is always presigned, with the response's Content-Disposition in
        its signed query (S3's `response-content-disposition`, which R2 honours)."""
        if self.public_base_url and download is None:
            return f"{self.public_base_url}/{quote_key(key)}"
        params = {"Bucket": self.bucket, "Key": check_key(key)}
        if download is not None:
            params["ResponseContentDisposition"] = attachment(download)
        client = self._get_client()
        try:
            return str(
                client.generate_presigned_url(
                    "get_object", Params=params, ExpiresIn=self.presign_expiry_seconds
                )
            )
        except _sdk_errors() as exc:
            raise self._fail("presign", exc, key) from exc

    def ping(self) -> None:
        """Raises StorageError when the bucket cannot be reached (or does not exist)."""
        client = self._get_client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # any failure means storage is not usable
            raise self._fail("ping", exc) from exc
