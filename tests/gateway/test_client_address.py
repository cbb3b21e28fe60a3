"""The client address behind trusted proxies, and the key per-address limits count it under."""

from __future__ import annotations

import pytest

from gateway.client_address import address_group, client_address, parse_networks
from gateway.config import ConfigError, parse_config

PROXIES = parse_networks(["10.0.0.0/8", "2001:db8:ffff::1"])


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], PROXIES) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client_it_saw() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7"], PROXIES) == "198.51.100.7"


def test_entries_a_client_wrote_itself_are_not_believed() -> None:
    # the client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the address it saw
    assert client_address("10.0.0.2", ["1.2.3.4, 198.51.100.7"], PROXIES) == "198.51.100.7"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    headers = ["198.51.100.7, 10.1.1.1", "10.2.2.2"]
    assert client_address("10.0.0.2", headers, PROXIES) == "198.51.100.7"


def test_a_garbled_entry_stops_at_the_last_known_proxy() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7, not-an-ip"], PROXIES) == "10.0.0.2"


def test_ipv6_and_ipv4_mapped_peers() -> None:
    assert client_address("2001:db8:ffff::1", ["[2001:db8:1::5]:5555"], PROXIES) == "2001:db8:1::5"
    assert client_address("::ffff:203.0.113.9", [], PROXIES) == "203.0.113.9"


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7"], []) == "10.0.0.2"


def test_limits_count_an_ipv6_client_by_its_64() -> None:
    assert address_group("2001:db8:1:2:aaaa::1") == address_group("2001:db8:1:2:bbbb::9")
    assert address_group("2001:db8:1:2::1") != address_group("2001:db8:1:3::1")
    assert address_group("203.0.113.9") == "203.0.113.9"


def test_a_bad_trusted_proxy_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config('[gateway]\ntrusted_proxies = ["10.0.0.0/8", "proxy.local"]\n')
    assert any("gateway.trusted_proxies" in line for line in raised.value.problems)
    assert any("proxy.local" in line for line in raised.value.problems)
