"""What ``POST /api/v1/experiments`` refuses up front: real PostgreSQL, real API."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment_helpers import LONG_SPEC, SPEC, ExperimentsApi

pytestmark = pytest.mark.integration

URL = "/api/v1/experiments"


def refused(xapi: ExperimentsApi, spec: str) -> tuple[str, str]:
    """Submit ``spec`` as alice; the path and message of its only fault.

    Checks that the reply is a 422 that tells no server path, and that nothing
    was created: no experiment listed, no folder.
    """
    client, alice = xapi.api.client, xapi.api.login("alice")
    reply = client.post(URL, json={"spec": spec}, headers=alice)

    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["type"] == "InvalidSpec"
    assert str(xapi.traces_dir.parent) not in reply.text
    assert client.get(URL, headers=alice).json()["experiments"] == []
    assert not (xapi.data_dir / "experiments").exists() or not any(
        (xapi.data_dir / "experiments").rglob("spec.toml")
    )
    faults = reply.json()["error"]["details"]["faults"]
    assert len(faults) == 1, faults
    return faults[0]["path"], faults[0]["message"]


def test_a_cluster_file_linked_out_of_the_folder_is_refused_unread(
    xapi: ExperimentsApi, tmp_path: Path
) -> None:
    outside = tmp_path / "private.conf"
    outside.write_text("password = hunter2\n")
    (xapi.traces_dir / "nodes.json").symlink_to(outside)
    spec = SPEC.replace('["1x4c16g"]', '["nodes.json"]')

    path, message = refused(xapi, spec)

    assert path == "spec.clusters[0]"
    assert message == "the file leads out of the server's traces folder"


def test_a_nul_character_in_a_file_name_is_a_422(xapi: ExperimentsApi) -> None:
    trace = SPEC.replace('"three.jsonl"', '"three\\u0000.jsonl"')
    cluster = SPEC.replace('["1x4c16g"]', '["nodes\\u0000.json"]')

    assert refused(xapi, trace) == (
        "spec.traces[0].file",
        "a file name may not hold a NUL character",
    )
    assert refused(xapi, cluster)[0] == "spec.clusters[0]"


def test_a_cluster_of_more_than_ten_thousand_nodes_is_a_422(
    xapi: ExperimentsApi,
) -> None:
    path, message = refused(xapi, SPEC.replace('["1x4c16g"]', '["20000x4c16g"]'))

    assert path == "spec.clusters[0]"
    assert message.startswith("20000 nodes; this server simulates at most 10,000")


def test_a_package_other_than_the_trace_packages_is_a_422(
    xapi: ExperimentsApi,
) -> None:
    # naming a package imports it on the server; json ships the file named here
    spec = SPEC.replace(
        'file = "three.jsonl"', 'package = "json"\nresource = "__init__.py"'
    )

    path, message = refused(xapi, spec)

    assert path == "spec.traces[0].package"
    assert message.startswith("'json' is not allowed")
    assert "spar" in message


def test_toml_nested_too_deeply_is_a_422(xapi: ExperimentsApi) -> None:
    spec = LONG_SPEC + "deep = " + "[" * 3000 + "]" * 3000 + "\n"

    path, message = refused(xapi, spec)

    assert path == "spec"
    assert message == "not valid TOML: arrays or tables nested too deeply"


def test_the_size_of_the_grid_is_told_before_its_runs_are_made(
    xapi: ExperimentsApi,
) -> None:
    # 2 policies x 4 loads = 8 runs, over the server's 6; loads 1 and 1.0000001
    # would also share run folders, a fault found only once the runs are made
    spec = SPEC.replace("loads = [1.0, 2.0]", "loads = [1.0, 1.0000001, 2.0, 3.0]")

    path, message = refused(xapi, spec)

    assert path == "spec"
    assert message.startswith("the grid has 8 runs; this server runs at most 6")


def test_names_too_long_for_the_runs_folders_are_a_422(xapi: ExperimentsApi) -> None:
    # the run id joins the trace's name, the cluster, policy, placement, load
    # and seed: with a trace name of 250 characters it is over 255 bytes, the
    # longest file name of the file system
    spec = SPEC.replace('name = "three"', f'name = "{"t" * 250}"')

    path, message = refused(xapi, spec)

    assert path == "spec"
    assert "at most 200 are allowed: give shorter names" in message


def test_a_loop_of_links_is_a_422(xapi: ExperimentsApi) -> None:
    (xapi.traces_dir / "a.jsonl").symlink_to(xapi.traces_dir / "b.jsonl")
    (xapi.traces_dir / "b.jsonl").symlink_to(xapi.traces_dir / "a.jsonl")

    path, message = refused(xapi, SPEC.replace('"three.jsonl"', '"a.jsonl"'))

    assert (path, message) == ("spec.traces[0].file", "'a.jsonl' cannot be resolved")


def test_a_spec_name_longer_than_a_submitted_name_is_a_422(
    xapi: ExperimentsApi,
) -> None:
    # the spec's name is the experiment's title unless the body gives one, and
    # a title in the body has at most 128 characters
    spec = SPEC.replace('name = "tiny"', f'name = "{"n" * 129}"')

    path, message = refused(xapi, spec)

    assert path == "spec.name"
    assert message == "129 characters; at most 128: give a shorter name"
