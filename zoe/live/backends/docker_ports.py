"""Where the published ports of a Docker container answer: its endpoints.

Docker reports each published port of a container as the host address it bound
and the host port it picked, in two shapes: ``NetworkSettings.Ports`` of an
inspection (``{"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]}``)
and ``Ports`` of a container listing (``[{"IP": "127.0.0.1", "PrivatePort": 8080,
"PublicPort": 32768, "Type": "tcp"}]``). Both become the same map, ``PORT/PROTO``
to ``host:port`` (:func:`inspected_endpoints`, :func:`listed_endpoints`).

The host part is the address Docker bound, except for the wildcards ``0.0.0.0``
and ``::`` (or no address), which bind every interface of the Docker host: then
it is the Docker host's own address (:func:`docker_host_of`), the host of its
``tcp://`` (or ``http``, ``https``, ``ssh``) address, or ``127.0.0.1`` for a
daemon reached on a local ``unix://`` socket. An IPv6 host is written in
brackets (``[::1]:32768``), so that ``host:port`` is never ambiguous. Nothing
here calls a daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from zoe.live.backends.docker_common import UNREACHABLE

log = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
"""The address of a Docker host reached on a local socket."""

WILDCARDS = frozenset({"", "0.0.0.0", "::"})
"""Bound addresses that stand for every interface of the Docker host."""


def docker_host_of(address: str) -> str:
    """The host part of a daemon's address; ``127.0.0.1`` for a local socket.

    ``tcp://10.0.0.2:2375`` gives ``10.0.0.2``, ``tcp://[fd00::2]:2375`` gives
    ``fd00::2``; ``unix:///var/run/docker.sock`` (or any address without a
    host) gives ``127.0.0.1``.
    """
    if address.startswith("unix:"):
        return LOCAL_HOST
    try:
        host = urlsplit(address).hostname
    except ValueError:
        host = None
    return host or LOCAL_HOST


def endpoint_host(host_ip: str | None, docker_address: str) -> str:
    """The host a client reaches a port bound on ``host_ip`` at (module doc)."""
    bound = (host_ip or "").strip()
    return docker_host_of(docker_address) if bound in WILDCARDS else bound


def host_port(host: str, port: int | str) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def inspected_endpoints(
    ports: Mapping[str, Any] | None, docker_address: str
) -> dict[str, str]:
    """The endpoints in an inspection's ``NetworkSettings.Ports``.

    The first binding of each port counts (Docker lists a port bound on every
    interface twice, for IPv4 and IPv6); a port exposed without a binding is
    left out.
    """
    found: dict[str, str] = {}
    for key, bindings in (ports or {}).items():
        for binding in bindings or ():
            port = str(binding.get("HostPort") or "")
            if port.isdigit():
                host = endpoint_host(binding.get("HostIp"), docker_address)
                found[key] = host_port(host, port)
                break
    return found


def listed_endpoints(
    ports: Sequence[Mapping[str, Any]] | None, docker_address: str
) -> dict[str, str]:
    """The endpoints in a container listing's ``Ports`` (first binding counts)."""
    found: dict[str, str] = {}
    for entry in ports or ():
        public, private = entry.get("PublicPort"), entry.get("PrivatePort")
        if public is None or private is None:
            continue
        key = f"{private}/{entry.get('Type') or 'tcp'}"
        host = endpoint_host(entry.get("IP"), docker_address)
        found.setdefault(key, host_port(host, public))
    return found


def read_endpoints(client: Any, container: str, docker_address: str) -> dict[str, str]:
    """Inspect a started container for its endpoints (on a worker thread).

    A failure is only logged, and gives an empty map: the container runs all
    the same, and the next listing of its host finds its ports.
    """
    try:
        inspected = client.inspect_container(container)
    except UNREACHABLE as exc:  # DockerException covers the daemon's refusals
        log.debug("docker: ports of %s not read: %s", container, exc)
        return {}
    settings = inspected.get("NetworkSettings") or {}
    return inspected_endpoints(settings.get("Ports"), docker_address)
