"""Where a container's published ports answer: the host rule and both Docker shapes."""

from __future__ import annotations

import pytest

from zoe.live.backends.docker_ports import (
    docker_host_of,
    endpoint_host,
    host_port,
    inspected_endpoints,
    listed_endpoints,
)

SOCKET = "unix:///var/run/docker.sock"
REMOTE = "tcp://10.0.0.2:2375"


@pytest.mark.parametrize(
    ("address", "host"),
    [
        (SOCKET, "127.0.0.1"),
        ("unix:///tmp/zoe-dockerd/docker.sock", "127.0.0.1"),
        (REMOTE, "10.0.0.2"),
        ("tcp://docker-3.example:2376", "docker-3.example"),
        ("https://10.1.2.3:2376", "10.1.2.3"),
        ("ssh://ops@10.9.9.9", "10.9.9.9"),
        ("tcp://[fd00::2]:2375", "fd00::2"),
        ("npipe:////./pipe/docker_engine", "127.0.0.1"),
    ],
)
def test_the_docker_host_is_the_host_of_its_address_or_this_machine(
    address: str, host: str
) -> None:
    assert docker_host_of(address) == host


@pytest.mark.parametrize(
    ("bound", "address", "host"),
    [
        ("127.0.0.1", REMOTE, "127.0.0.1"),  # a bound address is kept as it is
        ("192.168.7.4", SOCKET, "192.168.7.4"),
        ("0.0.0.0", REMOTE, "10.0.0.2"),  # a wildcard stands for the Docker host
        ("::", REMOTE, "10.0.0.2"),
        ("", REMOTE, "10.0.0.2"),
        (None, REMOTE, "10.0.0.2"),
        ("0.0.0.0", SOCKET, "127.0.0.1"),
        ("::", SOCKET, "127.0.0.1"),
    ],
)
def test_a_wildcard_binding_is_reached_at_the_docker_host(
    bound: str | None, address: str, host: str
) -> None:
    assert endpoint_host(bound, address) == host


def test_an_ipv6_host_is_written_in_brackets() -> None:
    assert host_port("10.0.0.2", 32768) == "10.0.0.2:32768"
    assert host_port("::1", "32768") == "[::1]:32768"
    assert host_port("docker-3.example", 80) == "docker-3.example:80"


def test_an_inspection_gives_the_first_binding_of_each_published_port() -> None:
    ports = {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}],
        "9090/udp": [
            {"HostIp": "0.0.0.0", "HostPort": "32770"},
            {"HostIp": "::", "HostPort": "32770"},
        ],
        "7077/tcp": None,  # exposed by the image, not published
        "4040/tcp": [],
    }

    assert inspected_endpoints(ports, REMOTE) == {
        "8080/tcp": "127.0.0.1:32768",
        "9090/udp": "10.0.0.2:32770",
    }
    assert inspected_endpoints(ports, SOCKET)["9090/udp"] == "127.0.0.1:32770"
    assert inspected_endpoints(None, SOCKET) == {}
    assert inspected_endpoints({}, SOCKET) == {}


def test_a_binding_without_a_host_port_is_left_out() -> None:
    ports = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}

    assert inspected_endpoints(ports, SOCKET) == {}


def test_a_listing_gives_the_same_map_as_an_inspection() -> None:
    listed = [
        {"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 32768, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 9090, "PublicPort": 32770, "Type": "udp"},
        {"IP": "::", "PrivatePort": 9090, "PublicPort": 32771, "Type": "udp"},
        {"PrivatePort": 7077, "Type": "tcp"},  # exposed, not published
    ]

    assert listed_endpoints(listed, REMOTE) == {
        "8080/tcp": "127.0.0.1:32768",
        "9090/udp": "10.0.0.2:32770",
    }
    assert listed_endpoints(None, REMOTE) == {}
