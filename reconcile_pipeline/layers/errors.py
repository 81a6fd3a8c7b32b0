"""The LayerError tree: every layer client maps its failures into it at the boundary.

The one distinction that matters downstream is *could not read* versus *read and found
something wrong*. A layer that could not be read makes its checks **unknown**; only a
successful read may say "missing" (clients return ``None`` / an absent record for that, not
an exception).

    LayerError
    ├── LayerUnavailable          could not read: checks that need it are unknown
    │   ├── LayerTimeout          connect/read timeout, slow drip past the deadline
    │   ├── LayerConnectError     refused, reset, DNS, closed without a response
    │   ├── LayerServerError      5xx (after retries)
    │   ├── LayerRateLimited      429 past retries (carries retry_after)
    │   └── LayerAuthError        401/403: our credentials were refused
    └── LayerDataError            read, but what came back is not acceptable
        ├── DecodeError           malformed JSON, bogus or truncated account data, bad CID
        ├── IntegrityError        bytes do not hash to their CID / recorded hash
        ├── ResponseTooLarge      body over the configured byte cap
        └── UrlRefused            hostile or non-allowlisted URL, scheme or address

Every error carries ``layer`` (e.g. "ipfs", "solana") and ``where`` (the key, URL or
account it concerns) so a message says what was wrong and where. Secrets never go into
messages: clients pass URLs through :func:`redact_url` first.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "LayerError",
    "LayerUnavailable",
    "LayerTimeout",
    "LayerConnectError",
    "LayerServerError",
    "LayerRateLimited",
    "LayerAuthError",
    "LayerDataError",
    "DecodeError",
    "IntegrityError",
    "ResponseTooLarge",
    "UrlRefused",
    "redact_url",
]


class LayerError(Exception):
    """Base of every error a layer client raises."""

    def __init__(self, message: str, *, layer: str = "", where: str = "") -> None:
        self.layer = layer
        self.where = where
        prefix = f"[{layer}] " if layer else ""
        suffix = f" (at {where})" if where else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.reason = message

    @property
    def kind(self) -> str:
        """A short machine-readable name for findings and metadata: 'timeout', 'decode', ..."""
        return _KIND_NAMES.get(type(self), type(self).__name__)


class LayerUnavailable(LayerError):
    """The layer could not be read. Checks that depend on it are unknown, never failed."""


class LayerTimeout(LayerUnavailable):
    pass


class LayerConnectError(LayerUnavailable):
    pass


class LayerServerError(LayerUnavailable):
    def __init__(self, message: str, *, status_code: int = 500, layer: str = "", where: str = "") -> None:
        self.status_code = status_code
        super().__init__(message, layer=layer, where=where)


class LayerRateLimited(LayerUnavailable):
    def __init__(self, message: str, *, retry_after: float | None = None, layer: str = "", where: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(message, layer=layer, where=where)


class LayerAuthError(LayerUnavailable):
    pass


class LayerDataError(LayerError):
    """The layer answered, but the data is malformed, inconsistent or refused."""


class DecodeError(LayerDataError):
    pass


class IntegrityError(LayerDataError):
    pass


class ResponseTooLarge(LayerDataError):
    def __init__(self, message: str, *, limit: int = 0, layer: str = "", where: str = "") -> None:
        self.limit = limit
        super().__init__(message, layer=layer, where=where)


class UrlRefused(LayerDataError):
    pass


_KIND_NAMES = {
    LayerTimeout: "timeout",
    LayerConnectError: "connect",
    LayerServerError: "server_error",
    LayerRateLimited: "rate_limited",
    LayerAuthError: "auth",
    LayerUnavailable: "unavailable",
    DecodeError: "decode",
    IntegrityError: "integrity",
    ResponseTooLarge: "too_large",
    UrlRefused: "url_refused",
    LayerDataError: "data",
}

_SECRET_QUERY = re.compile(r"(?i)(token|key|secret|password|jwt|signature|sig)=[^&]*")


def redact_url(url: str) -> str:
    """Drop userinfo and secret-looking query values from a URL before it is logged or stored."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc = f"{netloc}:{port}"
    query = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
