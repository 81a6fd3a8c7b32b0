"""UrlPolicy: which URLs from on-chain or IPFS data may be fetched (DESIGN §11)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from reconcile_pipeline.layers.errors import DecodeError, UrlRefused
from reconcile_pipeline.layers.urlpolicy import UrlPolicy, is_public_address

CID0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
CID1 = "bafybeie5gq4jxvzmsym6hjlwxej4rwdoxt7wadqvmmwbqi7r27fclha2va"
GATEWAYS = ["https://gw-a.test", "http://gw-b.test:8080/"]
KNOWN = ["ipfs.io", "dweb.link", "gateway.pinata.cloud"]

DNS = {
    "cdn.example.com": ["93.184.216.34"],
    "internal.example.com": ["10.1.2.3"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "mixed.example.com": ["93.184.216.34", "127.0.0.1"],
    "dual.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "localhost": ["127.0.0.1", "::1"],
    f"{CID1}.ipfs.dweb.link": ["209.94.90.1"],
    "evil.ipfs.dweb.link": ["169.254.169.254"],
}
ALLOW = ["cdn.example.com", "internal.example.com", "mapped.example.com", "mixed.example.com", "dual.example.com"]


def fake_resolver(host: str, port: object, proto: int = 0) -> list:
    """getaddrinfo over the table above; no real DNS in tests."""
    if host not in DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, proto, "", (addr, 0)) for addr in DNS[host]]


@pytest.fixture
def policy() -> UrlPolicy:
    return UrlPolicy(GATEWAYS, KNOWN, ALLOW + ["localhost"], resolver=fake_resolver)


def on_every_gateway(cid: str, path: str = "") -> list[str]:
    return [f"https://gw-a.test/ipfs/{cid}{path}", f"http://gw-b.test:8080/ipfs/{cid}{path}"]


@pytest.mark.parametrize(
    ("uri", "cid", "path"),
    [
        (f"ipfs://{CID0}", CID0, ""),
        (f"ipfs://{CID0}/", CID0, ""),
        (f"ipfs://{CID0}/meta/1.json", CID0, "/meta/1.json"),
        (f"ipfs://ipfs/{CID0}/1.json", CID0, "/1.json"),
        (f"IPFS://{CID1}", CID1, ""),
        (f"/ipfs/{CID0}/a b.png", CID0, "/a%20b.png"),
        (CID0, CID0, ""),
        (f"  https://ipfs.io/ipfs/{CID0}/x.json?filename=x  ", CID0, "/x.json"),
        (f"https://gateway.pinata.cloud/ipfs/{CID1}", CID1, ""),
        (f"https://any-host.example/ipfs/{CID0}/1", CID0, "/1"),
        (f"http://10.0.0.1/ipfs/{CID0}", CID0, ""),  # rewritten: the private host is never contacted
        (f"https://{CID1}.ipfs.dweb.link/img.png", CID1, "/img.png"),
        (f"https://{CID1}.ipfs.nftstorage.link/", CID1, ""),
    ],
)
def test_ipfs_forms_are_rewritten_to_every_configured_gateway(policy: UrlPolicy, uri: str, cid: str, path: str):
    found_cid, found_path, urls = policy.candidates(uri)
    assert str(found_cid) == cid
    assert found_path == path
    assert urls == on_every_gateway(cid, path)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "non-public address 169.254.169.254"),
        ("http://[::ffff:127.0.0.1]/", "non-public address ::ffff:7f00:1"),
        ("http://10.0.0.1/", "non-public address 10.0.0.1"),
        ("http://127.0.0.1:8080/x", "non-public address 127.0.0.1"),
        ("http://[::1]/", "non-public address ::1"),
        ("http://0.0.0.0/", "non-public address 0.0.0.0"),
        ("http://2130706433/", "non-public address 127.0.0.1"),
        ("http://0x7f.1/", "non-public address 127.0.0.1"),
        ("http://100.64.0.1/", "non-public address 100.64.0.1"),
        ("http://224.0.0.251/", "non-public address 224.0.0.251"),
        ("http://[fe80::1%25eth0]/", "non-public address fe80::1"),
        ("http://[64:ff9b::a9fe:a9fe]/", "non-public address 64:ff9b::a9fe:a9fe"),
        ("http://[2002:a00:1::]/", "non-public address 2002:a00:1::"),
        ("http://[::a00:1]/", "non-public address ::a00:1"),
        ("file:///etc/passwd", "scheme not allowed: file"),
        ("gopher://evil.example:70/_x", "scheme not allowed: gopher"),
        ("ftp://cdn.example.com/x", "scheme not allowed: ftp"),
        ("data:text/plain,hello", "scheme not allowed: data"),
        ("javascript:alert(1)", "scheme not allowed: javascript"),
        ("ipns://k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8", "scheme not allowed: ipns"),
        ("http://user:pass@cdn.example.com/x", "URL carries userinfo"),
        (f"https://user@ipfs.io/ipfs/{CID0}", "URL carries userinfo"),
        ("https://not-allowlisted.example/x.png", "host not allowlisted: not-allowlisted.example"),
        ("https://docs.ipfs.tech/concepts/", "host not allowlisted: docs.ipfs.tech"),
        ("https://internal.example.com/x", "resolves to non-public address 10.1.2.3"),
        ("https://mapped.example.com/x", "resolves to non-public address ::ffff:a00:1"),
        ("https://mixed.example.com/x", "resolves to non-public address 127.0.0.1"),
        ("http://localhost/x", "resolves to non-public address 127.0.0.1"),
        ("//cdn.example.com/x", "neither an IPFS reference nor an http(s) URL"),
        ("http:///nohost", "URL has no host"),
        ("http://cdn.example.com:99999/", "unparseable URL"),
    ],
)
def test_hostile_urls_are_refused(policy: UrlPolicy, uri: str, reason: str):
    with pytest.raises(UrlRefused) as caught:
        policy.candidates(uri)
    assert reason in caught.value.reason
    assert caught.value.layer == "ipfs"
    assert caught.value.kind == "url_refused"


def test_refusal_names_the_redacted_url(policy: UrlPolicy):
    with pytest.raises(UrlRefused) as caught:
        policy.candidates("http://user:hunter2@cdn.example.com/x?token=abc")
    assert caught.value.where == "http://cdn.example.com/x?token=***"
    assert "hunter2" not in str(caught.value) and "abc" not in str(caught.value)


def test_unresolvable_allowlisted_host_is_refused():
    policy = UrlPolicy(GATEWAYS, KNOWN, ["nowhere.example"], resolver=fake_resolver)
    with pytest.raises(UrlRefused, match="cannot resolve host nowhere.example"):
        policy.candidates("https://nowhere.example/x")


@pytest.mark.parametrize("uri", ["https://cdn.example.com/img/1.png", "https://dual.example.com/a?b=c"])
def test_allowlisted_public_host_is_fetched_as_it_is(policy: UrlPolicy, uri: str):
    assert policy.candidates(uri) == (None, "", [uri])


def test_allow_private_admits_private_addresses_of_allowlisted_hosts():
    policy = UrlPolicy(GATEWAYS, KNOWN, ["127.0.0.1", "internal.example.com"], True, resolver=fake_resolver)
    assert policy.candidates("http://127.0.0.1:9000/x")[2] == ["http://127.0.0.1:9000/x"]
    assert policy.candidates("https://internal.example.com/x")[2] == ["https://internal.example.com/x"]
    with pytest.raises(UrlRefused, match="host not allowlisted: 10.0.0.1"):
        policy.candidates("http://10.0.0.1/")  # allow_private does not replace the allowlist
    with pytest.raises(UrlRefused, match="userinfo"):
        policy.candidates("http://a:b@127.0.0.1:9000/x")


@pytest.mark.parametrize(
    "uri", [f"https://ipfs.io/ipfs/{CID0[:-1]}", f"https://dweb.link/ipfs/{CID0}x", "ipfs://not-a-cid", "ipfs://"]
)
def test_malformed_ipfs_references_are_decode_errors(policy: UrlPolicy, uri: str):
    with pytest.raises(DecodeError) as caught:
        policy.candidates(uri)
    assert caught.value.layer == "ipfs"


def test_ipfs_path_with_dot_dot_is_refused(policy: UrlPolicy):
    with pytest.raises(DecodeError, match="'..' in path"):
        policy.candidates(f"ipfs://{CID0}/../../api/v0/shutdown")


@pytest.mark.parametrize(
    "target",
    [
        f"https://gw-a.test/ipfs/{CID1}",
        f"http://gw-b.test:8080/other/{CID1}",
        "https://cdn.example.com/x",
        f"https://{CID1}.ipfs.dweb.link/",
    ],
)
def test_redirect_to_gateway_allowlisted_or_known_public_host_is_followed(policy: UrlPolicy, target: str):
    assert policy.check_redirect(target) == target


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://127.0.0.1:9999/ipfs/x", "non-public address 127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "non-public address 169.254.169.254"),
        ("http://[::ffff:10.0.0.1]/", "non-public address ::ffff:a00:1"),
        ("http://localhost/x", "resolves to non-public address 127.0.0.1"),
        ("https://evil.ipfs.dweb.link/", "resolves to non-public address 169.254.169.254"),
        ("https://gw-a.test:444/x", "neither gateway nor allowlisted: gw-a.test"),
        ("https://elsewhere.example/x", "neither gateway nor allowlisted: elsewhere.example"),
        ("file:///etc/passwd", "scheme not allowed: file"),
        ("https://u:p@gw-a.test/", "userinfo"),
    ],
)
def test_redirect_to_private_or_unknown_host_is_refused(policy: UrlPolicy, target: str, reason: str):
    with pytest.raises(UrlRefused) as caught:
        policy.check_redirect(target)
    assert reason in caught.value.reason


def test_configured_loopback_gateway_is_trusted_but_other_loopback_ports_are_not():
    policy = UrlPolicy(["http://127.0.0.1:8081"], KNOWN, resolver=fake_resolver)
    assert policy.check_redirect("http://127.0.0.1:8081/ipfs/x") == "http://127.0.0.1:8081/ipfs/x"
    with pytest.raises(UrlRefused):
        policy.check_redirect("http://127.0.0.1:8082/ipfs/x")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("127.0.0.53", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("224.0.0.1", False),
        ("::", False),
        ("::1", False),
        ("fc00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
        ("::ffff:8.8.8.8", False),  # ::ffff:0:0/96 is not globally routable itself
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b::7f00:1", False),
        ("2002:808:808::", True),
        ("2002:c0a8:101::", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_public_address_table(address: str, public: bool):
    assert is_public_address(ipaddress.ip_address(address)) is public
