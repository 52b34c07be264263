"""The REST API end to end: a real master (simulated backend), real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Api, open_api
from master_harness import (
    free_port,
    group,
    master_config,
    master_thread,
    wait_for,
    zapp,
)

from zoe.live.db import Repository

pytestmark = pytest.mark.integration

FINAL = {"finished", "terminated", "rejected", "error"}


def submit(api: Api, headers: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("name", "job")
    body.setdefault("zapp", zapp(kind="interactive"))
    return api.client.post("/api/v1/executions", json=body, headers=headers)


def status_of(api: Api, headers: dict[str, str], execution_id: int) -> str:
    reply = api.client.get(f"/api/v1/executions/{execution_id}", headers=headers)
    assert reply.status_code == 200, reply.text
    status: str = reply.json()["status"]
    return status


def wait_status(
    api: Api, headers: dict[str, str], execution_id: int, wanted: set[str]
) -> str:
    def reached() -> str | None:
        status = status_of(api, headers, execution_id)
        return status if status in wanted else None

    found: str = wait_for(reached, timeout=15)
    return found


def test_submit_get_terminate_delete(api: Api) -> None:
    alice = api.login("alice")

    reply = submit(api, alice)
    assert reply.status_code == 202
    assert reply.json() == {
        "id": 1,
        "status": "submitted",
        "master": "notified",
        "message": "submitted; the master has it",
    }
    assert wait_status(api, alice, 1, {"running"}) == "running"
    detail = api.client.get("/api/v1/executions/1", headers=alice).json()
    assert (detail["name"], detail["user"], detail["kind"]) == (
        "job",
        "alice",
        "interactive",
    )
    [service] = detail["services"]
    assert (service["name"], service["status"], service["node"]) == (
        "s-0",
        "running",
        "node-0",
    )
    assert (service["cores"], service["memory"]) == (1, 2**30)
    service_reply = api.client.get(f"/api/v1/services/{service['id']}", headers=alice)
    assert service_reply.json()["execution_id"] == 1

    refused = api.client.delete("/api/v1/executions/1", headers=alice)
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "Conflict"

    stop = api.client.post("/api/v1/executions/1/terminate", headers=alice)
    assert stop.status_code == 202
    assert stop.json() == {"id": 1, "status": "cleaning up"}
    assert wait_status(api, alice, 1, FINAL) == "terminated"
    again = api.client.post("/api/v1/executions/1/terminate", headers=alice)
    assert again.status_code == 409

    gone = api.client.delete("/api/v1/executions/1", headers=alice)
    assert gone.json() == {"id": 1, "deleted": True}
    missing = api.client.get("/api/v1/executions/1", headers=alice)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "execution '1' not found"


def test_a_batch_execution_finishes_with_its_reason(api: Api) -> None:
    alice = api.login("alice")

    reply = submit(api, alice, zapp=zapp(size=0.3))
    execution_id = reply.json()["id"]

    assert wait_status(api, alice, execution_id, FINAL) == "finished"
    detail = api.client.get(f"/api/v1/executions/{execution_id}", headers=alice)
    assert detail.json()["reason"] == "service s-0: work done (exit code 0)"


def test_list_filters_and_pages_newest_first(api: Api) -> None:
    alice = api.login("alice")
    for name in ("a", "b", "c"):
        assert submit(api, alice, name=name).status_code == 202
    api.client.post("/api/v1/executions/2/terminate", headers=alice)
    wait_status(api, alice, 2, {"terminated"})

    first = api.client.get("/api/v1/executions?limit=2", headers=alice).json()
    assert [e["name"] for e in first["executions"]] == ["c", "b"]
    assert first["next"] == "2"
    second = api.client.get(
        "/api/v1/executions",
        params={"limit": 2, "cursor": first["next"]},
        headers=alice,
    ).json()
    assert ([e["name"] for e in second["executions"]], second["next"]) == (["a"], None)
    ended = api.client.get(
        "/api/v1/executions", params={"status": "terminated"}, headers=alice
    ).json()
    assert [e["id"] for e in ended["executions"]] == [2]


def test_the_same_request_id_submits_once(api: Api) -> None:
    alice = api.login("alice")

    first = submit(api, alice, request_id="retry-1")
    second = submit(api, alice, request_id="retry-1")

    assert (first.json()["id"], second.json()["id"]) == (1, 1)
    page = api.client.get("/api/v1/executions", headers=alice).json()
    assert len(page["executions"]) == 1


def test_endpoints_name_each_port(api: Api) -> None:
    alice = api.login("alice")
    web = group("web")
    web["ports"] = [{"name": "ui", "port": 8080, "url": "http://{ip_port}/"}]
    submit(api, alice, zapp=zapp(groups=[web], kind="interactive"))
    wait_status(api, alice, 1, {"running"})

    reply = api.client.get("/api/v1/executions/1/endpoints", headers=alice)

    # the simulated backend has no addresses, so the URL is not known
    assert reply.json() == [
        {"service": "web-0", "port": "ui", "address": None, "url": None}
    ]


def test_logs_are_read_through_the_master_and_only_by_the_owner(api: Api) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    submit(api, alice)
    wait_status(api, alice, 1, {"running"})

    mine = api.client.get("/api/v1/executions/1/logs", headers=alice)
    theirs = api.client.get("/api/v1/executions/1/logs", headers=bob)

    # the simulated backend keeps no container output: the master says so
    assert mine.status_code == 409
    assert "keeps no container output" in mine.json()["error"]["message"]
    assert theirs.status_code == 404


def test_quota_of_executions(api: Api) -> None:
    api.add_user("quinn", max_executions=1)
    quinn = api.login("quinn")

    assert submit(api, quinn).status_code == 202
    refused = submit(api, quinn)

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "Conflict"
    assert error["details"] == {"quota": "executions", "limit": 1, "wanted": 2}
    # terminating the first frees the quota
    api.client.post("/api/v1/executions/1/terminate", headers=quinn)
    wait_status(api, quinn, 1, FINAL)
    assert submit(api, quinn).status_code == 202


def test_quota_of_cores_counts_elastic_services(api: Api) -> None:
    api.add_user("quinn", max_cores_milli=2500)
    quinn = api.login("quinn")
    # 1 essential + 2 elastic services of 1 core: 3 cores in all
    elastic = zapp(groups=[group("w", essential=1, total=3, cores=1)])

    refused = submit(api, quinn, zapp=elastic)

    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {
        "quota": "cores",
        "limit": 2.5,
        "wanted": 3,
    }
    # two of one core each fit under 2.5 cores; a third does not
    assert submit(api, quinn).status_code == 202
    assert submit(api, quinn).status_code == 202
    assert submit(api, quinn).json()["error"]["details"]["wanted"] == 3


def test_quota_of_memory(api: Api) -> None:
    api.add_user("quinn", max_memory_bytes=3 * 2**30)
    quinn = api.login("quinn")
    big = zapp(groups=[group("m", essential=2, memory="2GiB")])

    refused = submit(api, quinn, zapp=big)

    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {
        "quota": "memory",
        "limit": 3 * 2**30,
        "wanted": 4 * 2**30,
    }


def test_an_invalid_zapp_lists_its_faults_with_paths(api: Api) -> None:
    alice = api.login("alice")
    bad = zapp(groups=[group("s", essential=3, total=2)])

    reply = submit(api, alice, zapp=bad)

    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["type"] == "InvalidZApp"
    paths = [f["path"] for f in error["details"]["faults"]]
    assert paths == ["zapp.frameworks[0].services[0].essential_count"]


def test_validate_reports_faults_and_notes(api: Api) -> None:
    alice = api.login("alice")
    bad = zapp(groups=[group("s", essential=3, total=2)])

    faulty = api.client.post("/api/v1/zapps/validate", json=bad, headers=alice)
    good = api.client.post("/api/v1/zapps/validate", json=zapp(), headers=alice)

    assert faulty.status_code == 200
    assert faulty.json()["valid"] is False
    assert [f["path"] for f in faulty.json()["faults"]] == [
        "frameworks[0].services[0].essential_count"
    ]
    assert (good.json()["valid"], good.json()["version"]) == (True, 4)


def test_cluster_scheduler_info_and_health(api: Api) -> None:
    alice = api.login("alice")

    cluster = api.client.get("/api/v1/cluster", headers=alice).json()
    scheduler = api.client.get("/api/v1/scheduler", headers=alice).json()
    info = api.client.get("/api/v1/info").json()
    health = api.client.get("/api/v1/health").json()

    # master_config: 2 nodes of 4 cores and 8 GiB, flexible-fifo, first-fit
    assert [n["name"] for n in cluster["nodes"]] == ["node-0", "node-1"]
    assert cluster["nodes"][0]["capacity"] == {"cores": 4, "memory": 8 * 2**30}
    assert (scheduler["policy"], scheduler["placement"]) == (
        "flexible-fifo",
        "first-fit",
    )
    assert (info["name"], info["api_version"]) == ("zoe", 1)
    assert health == {"status": "ok", "database": True, "master": True}


def test_admin_manages_users_and_quotas(api: Api) -> None:
    root = api.login("root")

    made = api.client.post(
        "/api/v1/users",
        json={"name": "dora", "password": "long enough", "max_cores": 1.5},
        headers=root,
    )
    changed = api.client.patch(
        "/api/v1/users/dora",
        json={"role": "guest", "quotas": {"max_executions": 2}},
        headers=root,
    )
    listed = api.client.get("/api/v1/users", headers=root).json()

    assert made.status_code == 201
    assert made.json()["max_cores"] == 1.5
    assert changed.json()["role"] == "guest"
    # only the quotas given change: max_cores stays as it was made
    assert (changed.json()["max_executions"], changed.json()["max_cores"]) == (2, 1.5)
    assert [u["name"] for u in listed] == ["alice", "bob", "dora", "gus", "root"]
    assert all("password" not in str(u) for u in listed)
    dora = api.client.post(
        "/api/v1/tokens", json={"user": "dora", "password": "long enough"}
    )
    assert dora.json()["role"] == "guest"
    taken = api.client.post(
        "/api/v1/users", json={"name": "dora", "password": "whatever1"}, headers=root
    )
    assert taken.status_code == 409
    assert taken.json()["error"] == {
        "type": "Conflict",
        "message": "user 'dora' exists already; choose another name",
        "details": {"user": "dora"},
    }


@pytest.fixture
def api_without_master(
    postgres_dsn: str, deployment: str, repo: Repository
) -> Iterator[Api]:
    address = f"tcp://127.0.0.1:{free_port()}"
    for api in open_api(postgres_dsn, deployment, repo, None, address):
        api.add_user("alice")
        yield api


def test_a_submission_waits_for_a_master_that_is_down(
    api_without_master: Api, postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    api = api_without_master
    alice = api.login("alice")

    reply = submit(api, alice, zapp=zapp(size=0.2))
    health_reply = api.client.get("/api/v1/health")
    health = health_reply.json()
    cluster = api.client.get("/api/v1/cluster", headers=alice)

    assert reply.status_code == 202
    assert reply.json()["master"] == "unreachable"
    assert status_of(api, alice, 1) == "submitted"
    # the master is down: not healthy, whatever the database says
    assert health_reply.status_code == 503
    assert health == {"status": "degraded", "database": True, "master": False}
    assert cluster.status_code == 503
    assert cluster.json()["error"]["type"] == "Unavailable"
    # a master started later takes the stored submission up and runs it
    with master_thread(master_config(postgres_dsn, deployment, tmp_path)):
        assert wait_status(api, alice, 1, FINAL) == "finished"
