"""The ports of a service in an execution's record: address and filled-in URL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.core.zapp import Port
from zoe.live.db.records import ExecutionRecord, ServiceRecord
from zoe.live.replies import execution_detail, port_entries, port_url

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
WEB = Port("web", 8080, "tcp", "http://{ip_port}/ui")
DNS = Port("dns", 53, "udp", None)
ADMIN = Port("admin", 9000, "tcp", "https://{ip_port}/admin?from={ip_port}")


def service(
    status: ServiceStatus, endpoints: dict[str, str] | None, group_index: int = 0
) -> ServiceRecord:
    return ServiceRecord(
        7,
        1,
        group_index,
        0,
        "web-0",
        True,
        status,
        "local",
        "local/zoe-t-1-web-0",
        NOW,
        NOW,
        None,
        None,
        None,
        endpoints=endpoints,
    )


@pytest.mark.parametrize(
    ("template", "address", "url"),
    [
        ("http://{ip_port}/", "127.0.0.1:32768", "http://127.0.0.1:32768/"),
        ("http://{ip_port}/ui?x=1", "10.0.0.2:30712", "http://10.0.0.2:30712/ui?x=1"),
        ("{ip_port}", "[::1]:32768", "[::1]:32768"),
        ("spark://{ip_port}", "h:7077", "spark://h:7077"),
        ("http://{ip_port}/{ip_port}", "h:1", "http://h:1/h:1"),
        ("http://docs.example/", "h:1", "http://docs.example/"),  # no template
        ("http://{ip_port}/", None, None),  # the address is not known yet
        (None, "127.0.0.1:32768", None),  # the port has no URL
    ],
)
def test_the_url_is_its_template_with_the_address_filled_in(
    template: str | None, address: str | None, url: str | None
) -> None:
    assert port_url(template, address) == url


def test_a_running_service_shows_the_address_of_each_recorded_port() -> None:
    running = service(
        ServiceStatus.RUNNING,
        {"8080/tcp": "127.0.0.1:32768", "53/udp": "127.0.0.1:32769"},
    )

    assert port_entries([WEB, DNS, ADMIN], running) == [
        {
            "name": "web",
            "address": "127.0.0.1:32768",
            "url": "http://127.0.0.1:32768/ui",
        },
        {"name": "dns", "address": "127.0.0.1:32769", "url": None},
        {"name": "admin", "address": None, "url": None},  # not in the map
    ]


def test_the_protocol_is_part_of_the_key() -> None:
    running = service(ServiceStatus.RUNNING, {"53/tcp": "127.0.0.1:32769"})

    assert port_entries([DNS], running) == [
        {"name": "dns", "address": None, "url": None}
    ]


@pytest.mark.parametrize(
    "status", [ServiceStatus.STARTING, ServiceStatus.EXITED, ServiceStatus.FAILED]
)
def test_a_service_that_does_not_run_shows_no_address(status: ServiceStatus) -> None:
    ended = service(status, {"8080/tcp": "127.0.0.1:32768"})

    assert port_entries([WEB], ended) == [{"name": "web", "address": None, "url": None}]


def test_an_unrecorded_service_shows_no_address() -> None:
    assert port_entries([WEB], service(ServiceStatus.RUNNING, None)) == [
        {"name": "web", "address": None, "url": None}
    ]


def test_the_execution_record_carries_the_ports_of_each_service() -> None:
    group: dict[str, Any] = {
        "name": "web",
        "image": "busybox",
        "essential_count": 1,
        "total_count": 1,
        "resources": {"cores": 1, "memory": "64MiB"},
        "ports": [{"name": "ui", "port": 8080, "url": "http://{ip_port}/"}],
    }
    zapp = {
        "name": "app",
        "version": 4,
        "kind": "interactive",
        "frameworks": [{"name": "f", "services": [group]}],
    }
    record = ExecutionRecord(
        1, "x", 1, "alice", zapp, ExecutionStatus.RUNNING, NOW, NOW, None, None,
        None, None,
    )  # fmt: skip
    running = service(ServiceStatus.RUNNING, {"8080/tcp": "127.0.0.1:40001"})

    detail = execution_detail(record, [running])

    assert detail["services"][0]["ports"] == [
        {"name": "ui", "address": "127.0.0.1:40001", "url": "http://127.0.0.1:40001/"}
    ]
