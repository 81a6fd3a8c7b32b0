"""Which URLs the pipeline may fetch (DESIGN §11).

URLs found in on-chain or IPFS data are untrusted. :class:`UrlPolicy` turns one into the list of
URLs that are actually fetched:

- ``ipfs://CID/path``, ``/ipfs/CID/path``, path-gateway URLs (``https://ANY/ipfs/CID/path``) and
  subdomain-gateway URLs (``https://CID.ipfs.HOST/path``) are rewritten to the same object on
  EVERY configured gateway; the original host is never contacted;
- any other ``http(s)`` URL is returned as it is only if its host is allowlisted, and its
  address (a literal, or what ``getaddrinfo`` resolves it to) is public;
- everything else raises :class:`UrlRefused`: other schemes (``file:``, ``data:``, ``gopher:``,
  ...), userinfo (``user:pass@``), private, loopback, link-local, multicast, reserved and
  unspecified addresses, and IPv4 addresses embedded in IPv6 (mapped, compatible, 6to4, Teredo,
  NAT64) that are any of those.

``allow_private`` lifts the address rule (the local world sets it explicitly); configured
gateways are trusted as configured. :meth:`UrlPolicy.check_redirect` re-validates a redirect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from .cid import CID, parse_ipfs_uri
from .errors import DecodeError, UrlRefused, redact_url

__all__ = ["UrlPolicy", "is_public_address", "origin_of"]

Resolver = Callable[..., list]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HTTP_SCHEMES = frozenset({"http", "https"})
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [ip.ipv4_mapped, ip.sixtofour]
    if ip.teredo:
        found.extend(ip.teredo)
    for prefix in _NAT64_PREFIXES:
        if ip in prefix:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def is_public_address(ip: IpAddress) -> bool:
    """True for a globally routable unicast address with no non-public IPv4 embedded in it."""
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in prefix for prefix in _NAT64_PREFIXES):
        return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(is_public_address(v4) for v4 in _embedded_ipv4(ip))
    return True


def _where(url: str) -> str:
    """redact_url, which raises ValueError on an out-of-range port; such a URL is named generically."""
    try:
        return redact_url(url)
    except ValueError:
        return "<unparseable url>"


def _literal_address(host: str) -> IpAddress | None:
    """The address a host names literally, including legacy IPv4 spellings (127.1, 0x7f000001)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _parse_ref(text: str) -> tuple[CID, str] | None:
    """parse_ipfs_uri, with a malformed CID treated as "not an IPFS reference"."""
    try:
        return parse_ipfs_uri(text)
    except (DecodeError, ValueError):
        return None


class UrlPolicy:
    """Decides what may be fetched; see the module docstring."""

    def __init__(
        self,
        gateways: list[str],
        known_gateway_hosts: Iterable[str] = (),
        allowlist: Iterable[str] = (),
        allow_private: bool = False,
        *,
        resolver: Resolver = socket.getaddrinfo,
    ) -> None:
        self.gateways = [gw.rstrip("/") for gw in gateways]
        self.known_gateway_hosts = {h.lower().rstrip(".") for h in known_gateway_hosts}
        self.allowlist = {h.lower().rstrip(".") for h in allowlist}
        self.allow_private = allow_private
        self._resolver = resolver
        self._gateway_origins = {origin_of(gw) for gw in self.gateways}

    # -- public ----------------------------------------------------------------------------
    def candidates(self, uri: str) -> tuple[CID | None, str, list[str]]:
        """(cid, path, urls to try): every configured gateway for IPFS refs, else the URL itself."""
        text = uri.strip()
        where = _where(text)
        try:
            scheme = urlsplit(text).scheme.lower()
        except ValueError:
            raise UrlRefused("unparseable URL", layer="ipfs", where=where) from None
        if scheme == "ipfs" or not scheme:
            return self._ipfs_candidates(text, where)
        self._check_http(text, where)
        ref = self._gateway_ref(text, where)
        if ref is not None:
            cid, path = ref
            return cid, path, self.gateway_urls(cid, path)
        self._check_allowlisted(text, where)
        return None, "", [text]

    def gateway_urls(self, cid: CID | str, path: str = "") -> list[str]:
        """The object's URL on every configured gateway: ``{gw}/ipfs/{cid}{path}``."""
        return [f"{gw}/ipfs/{cid}{path}" for gw in self.gateways]

    def check_redirect(self, url: str) -> str:
        """Re-validate a redirect target; return it or raise :class:`UrlRefused`."""
        where = _where(url)
        self._check_http(url, where)
        if origin_of(url) in self._gateway_origins:
            return url
        host = origin_of(url)[1]
        self._refuse_private_literal(host, where)
        if not (self._is_allowlisted(host) or self._is_known_gateway(host)):
            raise UrlRefused(f"redirect to a host neither gateway nor allowlisted: {host}", layer="ipfs", where=where)
        self._check_address(host, where)
        return url

    # -- helpers ---------------------------------------------------------------------------
    def _ipfs_candidates(self, text: str, where: str) -> tuple[CID, str, list[str]]:
        ref = parse_ipfs_uri(text)  # DecodeError (layer ipfs) for a malformed reference
        if ref is None:
            raise UrlRefused("neither an IPFS reference nor an http(s) URL", layer="ipfs", where=where)
        cid, path = ref
        return cid, path, self.gateway_urls(cid, path)

    def _gateway_ref(self, text: str, where: str) -> tuple[CID, str] | None:
        host = origin_of(text)[1]
        ref = _parse_ref(text)
        if ref is None:
            if self._is_known_gateway(host) and "/ipfs/" in urlsplit(text).path:
                raise DecodeError("gateway URL without a valid CID", layer="ipfs", where=where)
            return None
        return ref

    def _check_http(self, url: str, where: str) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise UrlRefused("unparseable URL", layer="ipfs", where=where) from None
        if parts.scheme.lower() not in _HTTP_SCHEMES:
            raise UrlRefused(f"scheme not allowed: {parts.scheme or '(none)'}", layer="ipfs", where=where)
        if "@" in parts.netloc:
            raise UrlRefused("URL carries userinfo", layer="ipfs", where=where)
        if not parts.hostname:
            raise UrlRefused("URL has no host", layer="ipfs", where=where)

    def _check_allowlisted(self, url: str, where: str) -> None:
        host = origin_of(url)[1]
        self._refuse_private_literal(host, where)
        if not self._is_allowlisted(host):
            raise UrlRefused(f"host not allowlisted: {host}", layer="ipfs", where=where)
        self._check_address(host, where)

    def _refuse_private_literal(self, host: str, where: str) -> None:
        literal = _literal_address(host)
        if literal is not None and not self.allow_private and not is_public_address(literal):
            raise UrlRefused(f"non-public address {literal}", layer="ipfs", where=where)

    def _is_allowlisted(self, host: str) -> bool:
        return host.rstrip(".") in self.allowlist

    def _is_known_gateway(self, host: str) -> bool:
        host = host.rstrip(".")
        return any(host == known or host.endswith("." + known) for known in self.known_gateway_hosts)

    def _check_address(self, host: str, where: str) -> None:
        """Refuse a host whose literal or resolved addresses are not all public."""
        if self.allow_private:
            return
        for ip in self._addresses(host, where):
            if not is_public_address(ip):
                raise UrlRefused(f"host {host} is or resolves to non-public address {ip}", layer="ipfs", where=where)

    def _addresses(self, host: str, where: str) -> list[IpAddress]:
        literal = _literal_address(host)
        if literal is not None:
            return [literal]
        try:
            infos = self._resolver(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(f"cannot resolve host {host}: {exc}", layer="ipfs", where=where) from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise UrlRefused(f"host {host} resolves to no address", layer="ipfs", where=where)
        return addresses
