"""ZApp version 4: parsing, units, every kind of fault, start order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from zoe.core.errors import Fault, InvalidZApp
from zoe.core.zapp import MAX_ZAPP_SERVICES, Amount, ZApp, parse_zapp, start_order

GiB = 1024**3
MiB = 1024**2


def document() -> dict[str, Any]:
    """A valid version 4 document: a Spark master and workers, and a notebook."""
    return {
        "name": "spark-wordcount",
        "version": 4,
        "kind": "batch",
        "size": 3600,
        "frameworks": [
            {
                "name": "spark",
                "depends_on": [],
                "services": [
                    {
                        "name": "master",
                        "image": "zoe/spark:2.4",
                        "command": None,
                        "essential_count": 1,
                        "total_count": 1,
                        "resources": {"cores": 1, "memory": "1GiB"},
                        "labels": [],
                        "ports": [
                            {
                                "name": "web",
                                "port": 8080,
                                "protocol": "tcp",
                                "url": "http://{ip_port}/",
                            }
                        ],
                        "environment": {
                            "SPARK_MASTER": "spark://{dns_name#master0}:7077"
                        },
                        "volumes": [],
                        "depends_on": [],
                    },
                    {
                        "name": "worker",
                        "image": "zoe/spark:2.4",
                        "essential_count": 2,
                        "total_count": 10,
                        "resources": {"cores": 2, "memory": "4GiB"},
                        "depends_on": ["master"],
                    },
                ],
            },
            {
                "name": "notebook",
                "depends_on": ["spark"],
                "services": [
                    {
                        "name": "jupyter",
                        "image": "jupyter/base",
                        "command": ["start.sh", "--debug"],
                        "essential_count": 1,
                        "total_count": 1,
                        "resources": {
                            "cores": {"min": 0.5, "max": 2},
                            "memory": {"min": "512MiB", "max": None},
                        },
                        "labels": ["ssd"],
                        "volumes": [
                            {"source": "work", "target": "/work", "read_only": True}
                        ],
                    }
                ],
            },
        ],
    }


def faults_of(document: object) -> list[Fault]:
    with pytest.raises(InvalidZApp) as caught:
        parse_zapp(document)
    return caught.value.faults


def test_valid_document_parses_with_normalised_units() -> None:
    zapp = parse_zapp(document())

    master, worker = zapp.frameworks[0].services
    jupyter = zapp.frameworks[1].services[0]
    assert zapp.name == "spark-wordcount"
    assert zapp.kind == "batch"
    assert zapp.size == 3600
    assert master.resources.cores == Amount(1000, 1000)
    assert master.resources.memory == Amount(GiB, GiB)
    assert worker.resources.memory == Amount(4 * GiB, 4 * GiB)
    assert worker.elastic_count == 8
    assert jupyter.resources.cores == Amount(500, 2000)
    assert jupyter.resources.memory == Amount(512 * MiB, None)
    assert zapp.service_count == 12
    assert zapp.essential_count == 4


def test_omitted_fields_take_the_documented_defaults() -> None:
    zapp = parse_zapp(document())

    worker = zapp.frameworks[0].services[1]
    assert worker.command is None
    assert worker.labels == []
    assert worker.ports == []
    assert worker.environment == {}
    assert worker.volumes == []
    doc = document()
    del doc["kind"], doc["size"]
    assert parse_zapp(doc).kind == "batch"
    assert parse_zapp(doc).size is None


def test_round_trip_through_to_dict_gives_an_equal_zapp() -> None:
    zapp = parse_zapp(document())

    again = parse_zapp(zapp.to_dict())

    assert again == zapp
    assert zapp.to_dict()["frameworks"][0]["services"][1]["resources"] == {
        "cores": 2,
        "memory": 4 * GiB,
    }
    assert zapp.to_dict()["frameworks"][1]["services"][0]["resources"] == {
        "cores": {"min": 0.5, "max": 2},
        "memory": {"min": 512 * MiB, "max": None},
    }


@pytest.mark.parametrize(
    ("cores", "memory", "millicores", "nbytes"),
    [
        (1, "512MiB", 1000, 536_870_912),
        (2, "4GiB", 2000, 4_294_967_296),
        (0.5, 1_000_000, 500, 1_000_000),
        (0.25, "1.5GiB", 250, 1_610_612_736),
        (1.125, "2GB", 1125, 2_000_000_000),
        (0.001, "1KiB", 1, 1024),
        (32, "128GiB", 32_000, 137_438_953_472),
    ],
)
def test_units_become_exact_millicores_and_bytes(
    cores: float, memory: object, millicores: int, nbytes: int
) -> None:
    doc = document()
    doc["frameworks"][0]["services"][0]["resources"] = {
        "cores": cores,
        "memory": memory,
    }

    master = parse_zapp(doc).frameworks[0].services[0]

    assert master.resources.cores == Amount(millicores, millicores)
    assert master.resources.memory == Amount(nbytes, nbytes)
    assert master.demand.millicores == millicores
    assert master.demand.memory == nbytes


S0 = "frameworks[0].services[0]"
S1 = "frameworks[0].services[1]"


def _set(path: tuple[Any, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _svc(f: int, s: int, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return _set(("frameworks", f, "services", s, key), value)


def _no_essential(doc: dict[str, Any]) -> None:
    for framework in doc["frameworks"]:
        for group in framework["services"]:
            group["essential_count"] = 0


def _service_cycle(doc: dict[str, Any]) -> None:
    doc["frameworks"][0]["services"][0]["depends_on"] = ["worker"]


def _duplicate_service(doc: dict[str, Any]) -> None:
    doc["frameworks"][0]["services"][1].update(name="master", depends_on=[])


def _duplicate_framework(doc: dict[str, Any]) -> None:
    doc["frameworks"][1].update(name="spark", depends_on=[])


def _framework_cycle(doc: dict[str, Any]) -> None:
    doc["frameworks"][0]["depends_on"] = ["notebook"]


FAULTS = [
    # unknown fields, at every level
    ("root field", _set(("colour",), "red"), "colour", "valid fields here are: name"),
    (
        "service field",
        _svc(0, 1, "cpu", 2),
        f"{S1}.cpu",
        "valid fields here are: name, image, essential_count",
    ),
    (
        "resources field",
        _set(("frameworks", 0, "services", 0, "resources", "gpus"), 1),
        f"{S0}.resources.gpus",
        "valid fields here are: cores, memory",
    ),
    (
        "port field",
        _set(("frameworks", 0, "services", 0, "ports", 0, "number"), 80),
        f"{S0}.ports[0].number",
        "valid fields here are: name, port, protocol, url",
    ),
    # wrong types
    (
        "count as text",
        _svc(0, 1, "essential_count", "two"),
        f"{S1}.essential_count",
        "valid integer",
    ),
    ("image as number", _svc(0, 0, "image", 5), f"{S0}.image", "valid string"),
    ("frameworks as object", _set(("frameworks",), {}), "frameworks", "valid list"),
    ("kind", _set(("kind",), "daemon"), "kind", "'batch' or 'interactive'"),
    (
        "environment value",
        _svc(0, 0, "environment", {"N": 3}),
        f"{S0}.environment.N",
        "valid string",
    ),
    (
        "memory unit",
        _set(("frameworks", 0, "services", 1, "resources", "memory"), "4 gigs"),
        f"{S1}.resources.memory",
        "unit among B, KiB",
    ),
    (
        "port range",
        _set(("frameworks", 0, "services", 0, "ports", 0, "port"), 70000),
        f"{S0}.ports[0].port",
        "less than or equal to 65535",
    ),
    (
        "service name",
        _svc(0, 1, "name", "Worker_1"),
        f"{S1}.name",
        "lowercase DNS label",
    ),
    (
        "version 3 given to the version 4 parser",
        _set(("version",), 3),
        "version",
        "version must be 4 here",
    ),
    # negative or zero resources
    (
        "negative cores",
        _set(("frameworks", 0, "services", 1, "resources", "cores"), -1),
        f"{S1}.resources.cores",
        "cores must be greater than zero",
    ),
    (
        "zero memory",
        _set(("frameworks", 0, "services", 1, "resources", "memory"), 0),
        f"{S1}.resources.memory",
        "memory must be greater than zero",
    ),
    (
        "max below min",
        _set(
            ("frameworks", 0, "services", 1, "resources", "cores"),
            {"min": 2, "max": 1},
        ),
        f"{S1}.resources.cores",
        "max must be at least its min",
    ),
    (
        "zero total",
        _svc(0, 0, "total_count", 0),
        f"{S0}.total_count",
        "greater than or equal to 1",
    ),
    # counts
    (
        "essential over total",
        _svc(0, 1, "essential_count", 11),
        f"{S1}.essential_count",
        "essential_count (11) must be at most total_count (10)",
    ),
    ("no essential service", _no_essential, "frameworks", "no essential service"),
    # names
    (
        "duplicate service",
        _duplicate_service,
        f"{S1}.name",
        "duplicate service name 'master' (also frameworks[0].services[0])",
    ),
    (
        "duplicate service across frameworks",
        _svc(1, 0, "name", "worker"),
        "frameworks[1].services[0].name",
        "duplicate service name 'worker'",
    ),
    (
        "duplicate framework",
        _duplicate_framework,
        "frameworks[1].name",
        "duplicate framework name 'spark'",
    ),
    # dependencies
    (
        "unknown service dependency",
        _svc(0, 1, "depends_on", ["mastr"]),
        f"{S1}.depends_on[0]",
        "unknown service 'mastr' in framework 'spark'; valid: 'master'",
    ),
    (
        "unknown framework dependency",
        _set(("frameworks", 1, "depends_on"), ["sprak"]),
        "frameworks[1].depends_on[0]",
        "unknown framework 'sprak'; valid: 'spark'",
    ),
    (
        "service cycle",
        _service_cycle,
        f"{S0}.depends_on",
        "dependency cycle: service spark/master -> service spark/worker -> "
        "service spark/master",
    ),
    (
        "framework cycle",
        _framework_cycle,
        "frameworks[0].depends_on",
        "dependency cycle: framework spark -> framework notebook -> framework spark",
    ),
]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [pytest.param(c, p, m, id=name) for name, c, p, m in FAULTS],
)
def test_each_fault_names_its_path_and_what_is_valid(
    change: Callable[[dict[str, Any]], None], path: str, message: str
) -> None:
    doc = document()
    change(doc)

    faults = faults_of(doc)

    assert [f.path for f in faults] == [path]
    assert message in faults[0].message


def test_missing_required_fields_are_named() -> None:
    doc = document()
    del doc["frameworks"][0]["services"][1]["image"]
    del doc["name"]

    faults = faults_of(doc)

    assert sorted(f.path for f in faults) == ["frameworks[0].services[1].image", "name"]
    assert all(f.message == "required field is missing" for f in faults)


def test_all_semantic_faults_are_reported_at_once() -> None:
    doc = document()
    doc["frameworks"][0]["services"][1]["essential_count"] = 12
    doc["frameworks"][1]["depends_on"] = ["nowhere"]

    faults = faults_of(doc)

    assert [f.path for f in faults] == [
        "frameworks[0].services[1].essential_count",
        "frameworks[1].depends_on[0]",
    ]


def test_error_message_names_the_source_and_every_fault() -> None:
    doc = document()
    doc["frameworks"][0]["services"][1]["essential_count"] = 12

    with pytest.raises(InvalidZApp) as caught:
        parse_zapp(doc, "apps/spark.json")

    assert caught.value.source == "apps/spark.json"
    assert str(caught.value) == (
        "apps/spark.json: invalid ZApp: frameworks[0].services[1].essential_count: "
        "essential_count (12) must be at most total_count (10)"
    )


def test_a_zapp_of_a_billion_services_is_refused_saying_the_limit() -> None:
    doc = document()
    doc["frameworks"][0]["services"][1]["total_count"] = 10**9

    faults = faults_of(doc)

    assert [f.path for f in faults] == ["frameworks"]
    assert "1000000002 services" in faults[0].message
    assert "at most 1000000 services" in faults[0].message


def test_the_service_limit_counts_every_group_of_every_framework() -> None:
    # the document has 1 + 10 + 1 services; workers bring it to the limit, + 1
    doc = document()
    workers = doc["frameworks"][0]["services"][1]
    workers["total_count"] = 1_000_000 - 2
    assert parse_zapp(doc).service_count == MAX_ZAPP_SERVICES

    workers["total_count"] += 1
    faults = faults_of(doc)

    assert [f.path for f in faults] == ["frameworks"]
    assert "1000001 services" in faults[0].message


@pytest.mark.parametrize("value", [None, [], "zapp", 4])
def test_a_document_that_is_not_an_object_is_refused(value: object) -> None:
    faults = faults_of(value)

    assert len(faults) == 1


def _layered() -> ZApp:
    doc = document()
    spark = doc["frameworks"][0]["services"]
    spark.append(
        {**spark[1], "name": "history", "essential_count": 1, "total_count": 1}
    )
    doc["frameworks"][1]["services"].insert(
        0,
        {
            "name": "logger",
            "image": "busybox",
            "essential_count": 0,
            "total_count": 1,
            "resources": {"cores": 0.1, "memory": "64MiB"},
        },
    )
    doc["frameworks"][1]["services"][1]["depends_on"] = ["logger"]
    return parse_zapp(doc)


def test_start_order_follows_service_and_framework_dependencies() -> None:
    # master first; worker and history need master; the notebook framework needs
    # every spark group; jupyter also needs logger.
    zapp = _layered()

    assert start_order(zapp) == [
        ["master"],
        ["worker", "history"],
        ["logger"],
        ["jupyter"],
    ]


def test_start_order_of_independent_groups_is_one_level_in_zapp_order() -> None:
    doc = document()
    doc["frameworks"][0]["services"][1]["depends_on"] = []
    doc["frameworks"][1]["depends_on"] = []

    assert start_order(parse_zapp(doc)) == [["master", "worker", "jupyter"]]
