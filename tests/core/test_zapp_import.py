"""Reading ZApps of versions 1 to 4, among them the original Zoe's files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from zoe.core.errors import Fault, InvalidZApp, NotAZApp
from zoe.core.zapp import Amount, Port, Volume, ZApp, start_order
from zoe.core.zapp_import import (
    DEFAULT_CORES,
    ImportResult,
    import_zapp,
    load_zapp,
    suggest_service_name,
)

GiB = 1024**3
MiB = 1024**2

# every file of shared/zapps, read by hand: name, version, services, essential ones
UPSTREAM = {
    "upstream-v1/eurecom_aml_lab.json": ("aml-lab", 1, 4, 4),
    "upstream-v1/openmpi_helloworld.json": ("openmpi-helloworld", 1, 5, 5),
    "upstream-v1/spark-wordcount.json": ("spark-submit", 1, 5, 5),
    "upstream-v2/eurecom_aml_lab.json": ("aml-lab", 2, 4, 3),
    "upstream-v2/nginx.json": ("nginx", 2, 1, 1),
    "upstream-v3/boinc.json": ("boinc", 3, 1, 1),
    "upstream-v3/clouds.json": ("clouds", 3, 4, 3),
    "upstream-v3/complex_zapp.json": ("aml-lab", 3, 4, 3),
    "upstream-v3/nginx.json": ("nginx", 3, 1, 1),
    "upstream-v3/pydatasci-gpu.json": ("pydatasci-gpu", 3, 1, 1),
    "upstream-v3/pydatasci-malis.json": ("pydatasci", 3, 1, 1),
    "upstream-v3/pydatasci.json": ("pydatasci", 3, 1, 1),
    "upstream-v3/rapidsai.json": ("rapidsai", 3, 1, 1),
    "upstream-v3/rdatasci.json": ("rdatasci", 3, 1, 1),
    "upstream-v3/spark.json": ("spark-jupyter", 3, 4, 3),
}
NOT_ZAPPS = {"upstream-v3/spark-manifest.json"}


def read(shared_dir: Path, name: str) -> Any:
    return json.loads((shared_dir / "zapps" / name).read_text(encoding="utf-8"))


def faults_of(document: object) -> list[Fault]:
    with pytest.raises(InvalidZApp) as caught:
        import_zapp(document)
    return caught.value.faults


def test_every_upstream_file_is_known_to_these_tests(shared_dir: Path) -> None:
    found = {
        str(path.relative_to(shared_dir / "zapps"))
        for path in (shared_dir / "zapps").glob("upstream-v*/*.json")
    }

    assert found == set(UPSTREAM) | NOT_ZAPPS


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_every_upstream_zapp_loads(shared_dir: Path, name: str) -> None:
    zapp_name, version, services, essential = UPSTREAM[name]

    result = import_zapp(read(shared_dir, name), name)

    assert result.version == version
    assert result.zapp.name == zapp_name
    assert [f.name for f in result.zapp.frameworks] == [zapp_name]
    assert result.zapp.service_count == services
    assert result.zapp.essential_count == essential


def test_the_shop_manifest_is_not_a_zapp(shared_dir: Path) -> None:
    document = read(shared_dir, "upstream-v3/spark-manifest.json")

    with pytest.raises(NotAZApp) as caught:
        import_zapp(document, "spark-manifest.json")

    assert str(caught.value).startswith("spark-manifest.json: not a ZApp: ")
    assert "manifest" in str(caught.value)


def test_spark_v3_hand_checked(shared_dir: Path) -> None:
    result = import_zapp(read(shared_dir, "upstream-v3/spark.json"))

    zapp = result.zapp
    master, worker, jupyter = zapp.frameworks[0].services
    assert result.notes == ()
    assert (zapp.kind, zapp.size) == ("interactive", 512)
    assert [g.name for g in (master, worker, jupyter)] == [
        "spark-master",
        "spark-worker",
        "spark-jupyter",
    ]
    assert master.image == "zapps/spark-master:10396"
    assert master.resources.cores == Amount(1000, 1000)
    assert master.resources.memory == Amount(GiB, GiB)
    assert (worker.essential_count, worker.total_count) == (1, 2)
    assert worker.resources.cores == Amount(6000, 6000)
    assert worker.resources.memory == Amount(12 * GiB, 12 * GiB)
    assert jupyter.resources.cores == Amount(2000, 2000)
    # startup_order 1 follows every service of order 0: master and jupyter
    assert worker.depends_on == ["spark-master", "spark-jupyter"]
    assert master.depends_on == []
    assert jupyter.depends_on == []
    assert start_order(zapp) == [["spark-master", "spark-jupyter"], ["spark-worker"]]
    assert worker.environment["SPARK_MASTER_IP"] == "{dns_name#spark-master0}"
    assert len(worker.environment) == 7
    assert jupyter.ports == [
        Port("Jupyter Notebook interface", 8888, "tcp", "http://{ip_port}{proxy_path}")
    ]
    assert master.command is None


def test_eurecom_aml_lab_v2_hand_checked(shared_dir: Path) -> None:
    result = import_zapp(read(shared_dir, "upstream-v2/eurecom_aml_lab.json"))

    zapp = result.zapp
    master, worker, jupyter = zapp.frameworks[0].services
    assert (zapp.name, zapp.kind, zapp.size) == ("aml-lab", "interactive", None)
    assert master.image == "docker-registry:5000/zapps/spark2-master"
    assert master.resources.memory == Amount(536_870_912, 536_870_912)
    assert worker.resources.memory == Amount(12_884_901_888, 12_884_901_888)
    assert jupyter.resources.memory == Amount(4_294_967_296, 4_294_967_296)
    assert all(g.resources.cores == Amount(1000, 1000) for g in (master, jupyter))
    assert (worker.essential_count, worker.total_count) == (1, 2)
    assert worker.depends_on == ["spark-master", "spark-jupyter"]
    assert (
        jupyter.environment["SPARK_MASTER"] == "spark://{dns_name#spark-master0}:7077"
    )
    assert jupyter.environment["NAMENODE_HOST"] == "hdfs-namenode.zoe"
    assert len(jupyter.environment) == 7
    assert master.ports == [
        Port("Spark master web interface", 8080, "tcp", "http://{ip_port}/")
    ]
    assert [p.port for p in jupyter.ports] == [4040, 8888]
    assert result.notes == tuple(
        f"services[{i}].required_resources.cores: not given; 1 core assumed"
        for i in range(3)
    )


def test_openmpi_v1_is_imported_one_essential_instance_per_service(
    shared_dir: Path,
) -> None:
    result = import_zapp(read(shared_dir, "upstream-v1/openmpi_helloworld.json"))

    zapp = result.zapp
    groups = zapp.frameworks[0].services
    assert result.version == 1
    assert zapp.kind == "batch"
    assert [g.name for g in groups] == [f"mpiworker{i}" for i in range(4)] + ["mpirun"]
    assert all((g.essential_count, g.total_count) == (1, 1) for g in groups)
    assert all(g.resources.memory == Amount(GiB, GiB) for g in groups)
    assert all(g.depends_on == [] for g in groups)
    assert groups[0].command is None  # "" means no command
    assert groups[4].command == (
        "mpirun -np 4 --hostfile ./mpi-helloworld/mpihosts ./mpi-helloworld/MPI_Hello"
    )
    assert result.notes[0] == (
        "services: version 1 has no counts; each service is one essential instance"
    )
    assert len(result.notes) == 1 + 5


def test_v3_volume_and_null_cores(shared_dir: Path) -> None:
    result = import_zapp(read(shared_dir, "upstream-v3/nginx.json"))

    nginx = result.zapp.frameworks[0].services[0]
    assert nginx.volumes == [Volume("test", "/tmp", read_only=True)]
    assert nginx.resources.cores == Amount(DEFAULT_CORES * 1000, None)
    assert result.notes == ("services[0].resources.cores: not given; 1 core assumed",)


def test_version_4_examples_load_unchanged(repo_dir: Path) -> None:
    for name in ("spark.json", "notebook.json", "mpi.json"):
        document = json.loads((repo_dir / "examples" / name).read_text())

        result = import_zapp(document, name)

        assert result == ImportResult(result.zapp, 4, ())
        assert result.zapp.size is not None


def test_load_zapp_returns_the_zapp_alone(shared_dir: Path) -> None:
    document = read(shared_dir, "upstream-v3/boinc.json")

    zapp = load_zapp(document)

    assert isinstance(zapp, ZApp)
    assert zapp == import_zapp(document).zapp


def test_import_never_modifies_the_document(shared_dir: Path) -> None:
    document = read(shared_dir, "upstream-v2/eurecom_aml_lab.json")
    before = copy.deepcopy(document)

    import_zapp(document)

    assert document == before


# --- documents that are no ZApp, versions ---------------------------------------


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "expected a JSON object, got list"),
        (None, "expected a JSON object, got null"),
        ("zapp", "expected a JSON object, got str"),
        ({"name": "x", "services": []}, "no 'version' field"),
        ({"version": 3, "zapps": []}, "shop manifest"),
    ],
)
def test_not_a_zapp(document: object, reason: str) -> None:
    with pytest.raises(NotAZApp) as caught:
        import_zapp(document)

    assert str(caught.value).startswith("not a ZApp: ")
    assert reason in str(caught.value)


@pytest.mark.parametrize("version", [0, 5, "3", 3.0, True, None])
def test_unsupported_version_lists_the_supported_ones(version: object) -> None:
    faults = faults_of({"name": "x", "version": version, "services": []})

    assert faults == [
        Fault(
            "version",
            f"unsupported version {version!r}; supported versions: 1, 2, 3, 4",
        )
    ]


# --- faults in version 1-3 documents name their original path -------------------


def v3() -> dict[str, Any]:
    """A small valid version 3 document: a master (order 0) and workers (order 1)."""
    service = {
        "name": "master",
        "image": "spark",
        "command": None,
        "environment": [["A", "1"]],
        "essential_count": 1,
        "total_count": 1,
        "monitor": True,
        "replicas": 1,
        "ports": [
            {
                "name": "web",
                "port_number": 8080,
                "protocol": "http",
                "proxy": True,
                "url_template": "http://{ip_port}/ui",
            }
        ],
        "resources": {
            "cores": {"min": 1, "max": 2},
            "memory": {"min": 1024, "max": 2048},
        },
        "startup_order": 0,
        "volumes": [],
    }
    worker = {**copy.deepcopy(service), "name": "worker", "startup_order": 1}
    worker["total_count"] = 4
    return {
        "name": "spark",
        "version": 3,
        "will_end": True,
        "size": 100,
        "services": [service, worker],
    }


def v2() -> dict[str, Any]:
    """A small valid version 2 document with one service."""
    return {
        "name": "web",
        "version": 2,
        "will_end": False,
        "priority": 512,
        "requires_binary": False,
        "services": [
            {
                "name": "nginx",
                "docker_image": "nginx",
                "environment": [],
                "essential_count": 1,
                "total_count": 1,
                "monitor": True,
                "networks": [],
                "ports": [
                    {
                        "name": "web",
                        "port_number": 80,
                        "protocol": "http",
                        "path": "status",
                        "is_main_endpoint": True,
                        "expose": True,
                    }
                ],
                "required_resources": {"memory": 1024},
                "startup_order": 0,
                "volumes": [["/data", "/usr/share/nginx/html", True]],
            }
        ],
    }


def test_small_v3_document_imports_as_expected() -> None:
    zapp = load_zapp(v3())

    master, worker = zapp.frameworks[0].services
    assert zapp.kind == "batch"
    assert master.resources.cores == Amount(1000, 2000)
    assert master.resources.memory == Amount(1024, 2048)
    assert master.ports == [Port("web", 8080, "tcp", "http://{ip_port}/ui")]
    assert master.environment == {"A": "1"}
    assert worker.depends_on == ["master"]
    assert (worker.essential_count, worker.total_count) == (1, 4)


def test_small_v2_document_imports_as_expected() -> None:
    result = import_zapp(v2())

    nginx = result.zapp.frameworks[0].services[0]
    assert nginx.ports == [Port("web", 80, "tcp", "http://{ip_port}/status")]
    assert nginx.volumes == [Volume("/data", "/usr/share/nginx/html", True)]
    assert nginx.resources.memory == Amount(1024, 1024)
    assert nginx.resources.cores == Amount(1000, 1000)
    assert result.zapp.kind == "interactive"


def test_v2_cores_in_required_resources_are_used() -> None:
    doc = v2()
    doc["services"][0]["required_resources"]["cores"] = 0.5

    result = import_zapp(doc)

    assert result.zapp.frameworks[0].services[0].resources.cores == Amount(500, 500)
    assert result.notes == ()


def test_startup_order_links_only_consecutive_levels() -> None:
    doc = v3()
    third = {**copy.deepcopy(doc["services"][0]), "name": "client", "startup_order": 7}
    doc["services"][1]["startup_order"] = 3
    doc["services"].append(third)
    doc["services"].append({**copy.deepcopy(third), "name": "client2"})

    groups = load_zapp(doc).frameworks[0].services

    assert [g.depends_on for g in groups] == [[], ["master"], ["worker"], ["worker"]]


def test_number_in_environment_becomes_text_with_a_note() -> None:
    doc = v3()
    doc["services"][1]["environment"].append(["CORES", 6])

    result = import_zapp(doc)

    assert result.zapp.frameworks[0].services[1].environment == {"A": "1", "CORES": "6"}
    assert result.notes == (
        "services[1].environment[1][1]: CORES is a number; imported as the string '6'",
    )


def test_null_min_cores_with_a_max_keeps_the_max() -> None:
    doc = v3()
    doc["services"][0]["resources"]["cores"] = {"min": None, "max": 4}

    result = import_zapp(doc)

    cores = result.zapp.frameworks[0].services[0].resources.cores
    assert cores == Amount(1000, 4000)
    assert result.notes == ("services[0].resources.cores: not given; 1 core assumed",)


def _v3_change(doc: dict[str, Any], where: tuple[Any, ...], value: object) -> None:
    target: Any = doc
    for key in where[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[where[-1]]
    else:
        target[where[-1]] = value


_DELETE = object()
V3_FAULTS = [
    (("services", 1, "essential_count"), 5, "services[1].essential_count", "at most"),
    (("services", 0, "image"), _DELETE, "services[0].image", "required field"),
    (("services", 0, "image"), 7, "services[0].image", "valid string"),
    (("services", 1, "colour"), "red", "services[1].colour", "valid fields here"),
    (
        ("services", 0, "ports", 0, "port_number"),
        0,
        "services[0].ports[0].port_number",
        "greater than or equal to 1",
    ),
    (
        ("services", 0, "ports", 0, "url_template"),
        3,
        "services[0].ports[0].url_template",
        "string",
    ),
    (
        ("services", 0, "ports", 0, "path"),
        "/",
        "services[0].ports[0].path",
        "valid fields",
    ),
    (
        ("services", 0, "resources", "memory", "min"),
        "lots",
        "services[0].resources.memory",
        "not understood",
    ),
    (
        ("services", 0, "resources", "memory", "min"),
        None,
        "services[0].resources.memory.min",
        "null",
    ),
    (
        ("services", 0, "resources", "cores"),
        -2,
        "services[0].resources.cores",
        "greater than zero",
    ),
    (
        ("services", 0, "resources", "gpu"),
        1,
        "services[0].resources.gpu",
        "cores, memory",
    ),
    (
        ("services", 0, "environment"),
        {"A": "1"},
        "services[0].environment",
        "[name, value] pairs",
    ),
    (
        ("services", 0, "environment", 0),
        ["A"],
        "services[0].environment[0]",
        "[name, value] pair",
    ),
    (
        ("services", 0, "environment", 0),
        ["A", True],
        "services[0].environment[0][1]",
        "must be a string",
    ),
    (
        ("services", 0, "environment", 0),
        [1, "x"],
        "services[0].environment[0][0]",
        "name must be a string",
    ),
    (
        ("services", 0, "startup_order"),
        -1,
        "services[0].startup_order",
        "integer of 0 or more",
    ),
    (
        ("services", 0, "startup_order"),
        _DELETE,
        "services[0].startup_order",
        "it is missing",
    ),
    (
        ("services", 0, "volumes"),
        [{"name": "v", "path": "data"}],
        "services[0].volumes[0].path",
        "absolute path",
    ),
    (
        ("services", 0, "volumes"),
        [["/a", "/b", False]],
        "services[0].volumes[0]",
        "{name, path, read_only}",
    ),
    (("services", 0, "labels"), "gpu", "services[0].labels", "valid list"),
    (("services", 1), "worker", "services[1]", "expected an object"),
    (("services",), {}, "services", "expected a list"),
    (("services",), [], "services", "at least 1 item"),
    (("will_end",), "yes", "will_end", "required boolean"),
    (("size",), 0, "size", "greater than 0"),
    (("name",), "my app", "name", "letters, digits"),
    (
        ("owner",),
        "me",
        "owner",
        "valid fields here are: name, priority, requires_binary, services, size, "
        "version, will_end",
    ),
]


@pytest.mark.parametrize(
    ("where", "value", "path", "message"),
    [pytest.param(*case, id=case[2] + ":" + case[3]) for case in V3_FAULTS],
)
def test_a_fault_in_a_v3_document_names_its_original_path(
    where: tuple[Any, ...], value: object, path: str, message: str
) -> None:
    doc = v3()
    _v3_change(doc, where, value)

    faults = faults_of(doc)

    assert [f.path for f in faults] == [path]
    assert message in faults[0].message


def test_unknown_field_lists_the_valid_fields_of_that_version() -> None:
    doc = v2()
    doc["services"][0]["image"] = "nginx"

    faults = faults_of(doc)

    assert faults == [
        Fault(
            "services[0].image",
            "unknown field in a version 2 ZApp; valid fields here are: command, "
            "docker_image, environment, essential_count, monitor, name, networks, "
            "ports, replicas, required_resources, startup_order, total_count, volumes",
        )
    ]


def test_v2_faults_name_v2_fields() -> None:
    doc = v2()
    service = doc["services"][0]
    del service["docker_image"]
    service["required_resources"]["memory"] = -1
    service["volumes"] = [["/a", "/b"]]

    faults = faults_of(doc)

    assert [f.path for f in faults] == [
        "services[0].volumes[0]",
        "services[0].docker_image",
        "services[0].required_resources.memory",
    ]


def test_v1_counts_are_unknown_fields() -> None:
    doc = v2()
    doc["version"] = 1
    for key in ("essential_count", "total_count", "startup_order"):
        doc["services"][0].pop(key)
    doc["services"][0]["total_count"] = 3

    faults = faults_of(doc)

    assert [f.path for f in faults] == ["services[0].total_count"]


def test_invalid_service_name_is_refused_with_a_suggestion() -> None:
    doc = v3()
    doc["services"][0]["name"] = "Spark_Master"

    faults = faults_of(doc)

    assert [f.path for f in faults] == ["services[0].name"]
    assert "e.g. to 'spark-master'" in faults[0].message


def test_duplicate_service_name_names_both_services() -> None:
    doc = v3()
    doc["services"][1]["name"] = "master"

    faults = faults_of(doc)

    assert faults == [
        Fault(
            "services[1].name",
            "duplicate service name 'master' (also services[0]); service names must "
            "be unique",
        )
    ]


def test_duplicate_environment_variable_is_refused() -> None:
    doc = v3()
    doc["services"][0]["environment"].append(["A", "2"])

    faults = faults_of(doc)

    assert faults == [
        Fault(
            "services[0].environment[1]",
            "variable 'A' is also set at services[0].environment[0]",
        )
    ]


def test_import_and_model_faults_are_reported_together() -> None:
    doc = v3()
    doc["services"][0]["environment"].append(["B", None])
    doc["services"][1]["image"] = ""

    faults = faults_of(doc)

    assert [f.path for f in faults] == [
        "services[0].environment[1][1]",
        "services[1].image",
    ]


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("Spark_Master", "spark-master"),
        ("--x--", "x"),
        ("a.b c", "a-b-c"),
        ("___", "service"),
        ("a" * 70, "a" * 63),
    ],
)
def test_suggest_service_name(name: str, suggestion: str) -> None:
    assert suggest_service_name(name) == suggestion
