"""How the R2 client's failures (boto3 / botocore) map into the LayerError tree (layer="r2").

- EndpointConnectionError, ConnectionClosedError, other transport errors -> LayerConnectError
- ReadTimeoutError, ConnectTimeoutError                                   -> LayerTimeout
- SlowDown / 429 and other throttling codes                                -> LayerRateLimited
- 5xx, InternalError, ServiceUnavailable                                   -> LayerServerError
- AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, 401/403, no creds -> LayerAuthError
- NoSuchBucket, other 4xx, invalid parameters                              -> LayerDataError

:func:`is_not_found` says which S3 errors mean "read, and found nothing". Service messages are
scrubbed of the credentials before they go into an error.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from .errors import (
    LayerAuthError,
    LayerConnectError,
    LayerDataError,
    LayerError,
    LayerRateLimited,
    LayerServerError,
    LayerTimeout,
)

__all__ = ["LAYER", "is_not_found", "map_botocore_error", "map_client_error"]

LAYER = "r2"
AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "Unauthorized"}
)
RATE_CODES = frozenset({"SlowDown", "TooManyRequests", "Throttling", "ThrottlingException", "RequestLimitExceeded"})
SERVER_CODES = frozenset({"InternalError", "ServiceUnavailable"})


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:300]


def map_client_error(exc: ClientError, where: str, secrets: tuple[str, ...] = ()) -> LayerError:
    """Map an S3 error response into the LayerError tree."""
    error = exc.response.get("Error", {}) or {}
    code = str(error.get("Code", "")) or "Unknown"
    status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    message = f"{exc.operation_name} failed: {code} (HTTP {status})"
    detail = _scrub(str(error.get("Message", "")), secrets)
    text = f"{message}: {detail}" if detail else message
    if code in AUTH_CODES or status in (401, 403):
        return LayerAuthError(text, layer=LAYER, where=where)
    if code in RATE_CODES or status == 429:
        return LayerRateLimited(text, layer=LAYER, where=where)
    if code in SERVER_CODES or status >= 500:
        return LayerServerError(text, status_code=status or 500, layer=LAYER, where=where)
    if code == "NoSuchBucket":
        return LayerDataError(f"bucket does not exist ({message})", layer=LAYER, where=where)
    return LayerDataError(text, layer=LAYER, where=where)


def map_botocore_error(exc: BotoCoreError, where: str, secrets: tuple[str, ...] = ()) -> LayerError:
    """Map a botocore transport/config error into the LayerError tree."""
    text = _scrub(f"{type(exc).__name__}: {exc}", secrets)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return LayerTimeout(text, layer=LAYER, where=where)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return LayerAuthError(text, layer=LAYER, where=where)
    if isinstance(exc, ParamValidationError):
        return LayerDataError(text, layer=LAYER, where=where)
    return LayerConnectError(text, layer=LAYER, where=where)


def is_not_found(exc: ClientError) -> bool:
    code = str((exc.response.get("Error") or {}).get("Code", ""))
    status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in ("NoSuchKey", "NotFound") or (status == 404 and code != "NoSuchBucket")
