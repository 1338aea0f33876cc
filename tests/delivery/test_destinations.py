"""Buyer destinations: what the URL check refuses, and what the allowlist lets through."""

from __future__ import annotations

import pytest

from pingtree.delivery.destinations import Allowlist, address_problem, url_problem

STRICT = Allowlist()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local/metadata address"),
        ("http://[fd00:ec2::254]/latest", "link-local/metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1", "link-local/metadata name"),
        ("http://10.1.2.3/post", "private address"),
        ("http://172.16.0.9/post", "private address"),
        ("http://172.31.255.1/post", "private address"),
        ("http://192.168.1.20:8080/post", "private address"),
        ("http://[fc00::1]/post", "private address"),
        ("http://[fd12:3456::1]/post", "private address"),
        ("http://127.0.0.1:9100/post", "loopback address"),
        ("http://127.8.9.10/post", "loopback address"),
        ("http://[::1]:6379/", "loopback address"),
        ("http://[::ffff:127.0.0.1]/", "loopback address"),
        ("http://localhost:6379/", "loopback name"),
        ("http://api.localhost/", "loopback name"),
        ("http://0.0.0.0:9100/", "unspecified address"),
        ("http://2130706433/", "not a canonical IPv4 address"),
        ("http://127.1/", "not a canonical IPv4 address"),
        ("https://user:pass@buyer.example/post", "credentials in the URL"),
        ("https://token@buyer.example/post", "credentials in the URL"),
    ],
)
def test_forbidden_destinations_are_refused_with_the_reason(url: str, reason: str) -> None:
    problem = url_problem(url, STRICT)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    "url",
    ["https://buyer.example/post?x=1", "http://203.0.113.7:8080/leads", "https://[2001:db8::1]/"],
)
def test_public_destinations_pass(url: str) -> None:
    assert url_problem(url, STRICT) is None


def test_the_allowlist_names_hosts_ports_and_networks() -> None:
    allow = Allowlist.parse("127.0.0.1:9100, 10.0.0.0/8 [::1]:80,buyer.internal:8443")
    assert url_problem("http://127.0.0.1:9100/post", allow) is None
    assert url_problem("http://127.0.0.1:9101/post", allow) is not None  # another port
    assert url_problem("http://10.20.30.40/post", allow) is None  # any port of the network
    assert url_problem("http://[::1]/post", allow) is None
    assert url_problem("https://buyer.internal:8443/post", allow) is None
    assert url_problem("http://169.254.169.254/", allow) is not None
    # A name entry lets the name through validation; its address still needs its own entry.
    assert address_problem("10.9.9.9", 8443, allow) is None
    assert address_problem("192.168.0.5", 8443, allow) is not None
    assert url_problem("http://user:pass@127.0.0.1:9100/", allow) is not None


@pytest.mark.parametrize("entry", ["127.0.0.1:0", "host:port", "a..b", "10.0.0.0/8/9"])
def test_a_bad_allowlist_entry_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"not a host|no valid port"):
        Allowlist.parse(entry)
