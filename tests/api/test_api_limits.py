"""Submissions: the size limit (413, nothing stored), validation that agrees with
it, a ZApp that is no ZApp, a reused request id, and the health of the master.
A real master (simulated backend) and real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import Api, open_api
from fastapi import FastAPI
from master_harness import group, master_config, master_thread, wait_for, zapp

from zoe.api.errors import install_handlers
from zoe.live.db import Repository
from zoe.live.protocol_errors import BadRequestError, TooLargeError

pytestmark = pytest.mark.integration

LIMIT = 1_000_000  # bytes of JSON a submission (and its ZApp) may have


def big_zapp(text_bytes: int) -> dict[str, Any]:
    """A valid ZApp with an environment value of ``text_bytes`` bytes."""
    document = zapp()
    document["frameworks"][0]["services"][0]["environment"] = {"X": "a" * text_bytes}
    return document


def many_groups(count: int) -> dict[str, Any]:
    """A valid ZApp of ``count`` groups given with their fewest fields."""
    groups = [
        {
            "name": f"g{i}",
            "image": "b",
            "essential_count": 1,
            "total_count": 1,
            "resources": {"cores": 1, "memory": "1GiB"},
        }
        for i in range(count)
    ]
    return zapp(groups=groups)


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def post_raw(api: Api, path: str, content: bytes, headers: dict[str, str]) -> Any:
    headers = {**headers, "Content-Type": "application/json"}
    return api.client.post(f"/api/v1{path}", content=content, headers=headers)


def test_a_big_zapp_is_refused_with_413_and_nothing_is_stored(api: Api) -> None:
    alice = api.login("alice")
    body = compact({"name": "big", "zapp": big_zapp(3 * 2**19)})  # 1.5 MiB

    reply = post_raw(api, "/executions", body, alice)
    page = api.client.get("/api/v1/executions", headers=alice).json()

    assert reply.status_code == 413
    assert reply.json()["error"] == {
        "type": "TooLarge",
        "message": f"the request has {len(body)} bytes of JSON; at most 1000000 "
        "are accepted: make the ZApp smaller",
        "details": {"limit": LIMIT, "size": len(body)},
    }
    assert page == {"executions": [], "next": None}


def test_a_body_over_the_api_bound_is_refused_while_it_comes_in(api: Api) -> None:
    # 20 MiB: refused by the bound on every request body (2,000,000 bytes),
    # whether its length is declared or it comes in chunks
    alice = api.login("alice")
    body = compact({"name": "huge", "zapp": big_zapp(20 * 2**20)})

    declared = post_raw(api, "/executions", body, alice)
    chunked = api.client.post(
        "/api/v1/executions",
        content=iter([body[i : i + 2**16] for i in range(0, len(body), 2**16)]),
        headers={**alice, "Content-Type": "application/json"},
    )
    checked = post_raw(api, "/zapps/validate", body, alice)
    page = api.client.get("/api/v1/executions", headers=alice).json()

    assert declared.status_code == 413
    assert declared.json()["error"] == {
        "type": "TooLarge",
        "message": f"the request body has {len(body)} bytes or more; at most "
        "2000000 are accepted: send less",
        "details": {},
    }
    assert "Content-Length" not in chunked.request.headers
    assert chunked.status_code == 413
    assert chunked.json()["error"]["type"] == "TooLarge"
    assert checked.status_code == 413
    assert page == {"executions": [], "next": None}


def test_a_zapp_over_the_limit_once_converted_is_refused_too(api: Api) -> None:
    alice = api.login("alice")
    document = many_groups(6000)
    body = compact({"name": "wide", "zapp": document})
    assert len(body) < LIMIT  # the body is small enough; its version 4 form is not

    reply = post_raw(api, "/executions", body, alice)
    checked = post_raw(api, "/zapps/validate", compact(document), alice)
    page = api.client.get("/api/v1/executions", headers=alice).json()

    assert reply.status_code == 413
    assert reply.json()["error"]["type"] == "TooLarge"
    assert reply.json()["error"]["details"]["size"] > LIMIT
    assert checked.status_code == 200
    assert checked.json()["valid"] is False
    [fault] = checked.json()["faults"]
    assert fault["message"].endswith(
        "bytes of JSON as version 4; a submission may have at most 1000000: make "
        "it smaller"
    )
    assert page["executions"] == []


def test_validate_says_invalid_for_a_zapp_submit_refuses_by_size(api: Api) -> None:
    alice = api.login("alice")
    document = big_zapp(3 * 2**19)  # 1.5 MiB
    body = compact(document)

    checked = post_raw(api, "/zapps/validate", body, alice)
    small = post_raw(api, "/zapps/validate", compact(big_zapp(10)), alice)

    assert checked.status_code == 200
    assert checked.json()["valid"] is False
    assert checked.json()["faults"] == [
        {
            "path": "",
            "message": f"the ZApp has {len(body)} bytes of JSON; a submission may "
            "have at most 1000000: make it smaller",
        }
    ]
    assert small.json()["valid"] is True


def test_an_empty_zapp_says_what_is_missing(api: Api) -> None:
    alice = api.login("alice")

    reply = api.client.post(
        "/api/v1/executions", json={"name": "empty", "zapp": {}}, headers=alice
    )

    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["type"] == "InvalidZApp"
    [fault] = error["details"]["faults"]
    assert fault["path"] == "zapp"
    assert "no 'version' field" in fault["message"]
    assert "'name'" in fault["message"]
    assert "'frameworks'" in fault["message"]
    assert error["message"] == f"invalid ZApp: zapp: {fault['message']}"


def test_a_reused_request_id_answers_the_status_of_now(api: Api) -> None:
    alice = api.login("alice")
    body = {"name": "job", "zapp": zapp(size=0.5), "request_id": "again-1"}

    first = api.client.post("/api/v1/executions", json=body, headers=alice)

    def finished() -> bool:
        reply = api.client.get("/api/v1/executions/1", headers=alice)
        return bool(reply.json()["status"] == "finished")

    wait_for(finished, timeout=15)
    second = api.client.post("/api/v1/executions", json=body, headers=alice)

    assert (first.json()["id"], first.json()["status"]) == (1, "submitted")
    assert (second.status_code, second.json()["id"]) == (202, 1)
    assert second.json()["status"] == "finished"


def test_the_master_refusals_become_their_http_statuses() -> None:
    app = FastAPI()
    install_handlers(app)

    @app.get("/too-large")
    async def too_large() -> None:
        raise TooLargeError("request too large", {"limit": 10, "size": 20})

    @app.get("/bad-request")
    async def bad_request() -> None:
        raise BadRequestError("bad argument", {"path": "args.tail"})

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/too-large"), await c.get("/bad-request")

    large, bad = anyio.run(ask)

    assert (large.status_code, large.json()["error"]["type"]) == (413, "TooLarge")
    assert large.json()["error"]["details"] == {"limit": 10, "size": 20}
    assert (bad.status_code, bad.json()["error"]["type"]) == (422, "Invalid")
    assert bad.json()["error"]["message"] == "bad argument"


def test_health_is_ok_only_while_the_master_answers(api: Api) -> None:
    assert api.master is not None
    up = api.client.get("/api/v1/health")

    api.master.stop.set()
    api.master.thread.join(10)
    down = api.client.get("/api/v1/health")

    assert (up.status_code, up.json()) == (
        200,
        {"status": "ok", "database": True, "master": True},
    )
    assert (down.status_code, down.json()) == (
        503,
        {"status": "degraded", "database": True, "master": False},
    )


def test_a_refusal_of_the_master_is_answered_and_it_ends_the_execution(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    # the API runs up to 10,000 services per execution, this master only 4
    five = zapp("five", [group("s", essential=1, total=5)])
    config = master_config(postgres_dsn, deployment, tmp_path, max_services=4)
    with master_thread(config) as master:
        for api in open_api(postgres_dsn, deployment, repo, master, master.address):
            api.add_user("alice")
            reply = api.client.post(
                "/api/v1/executions",
                json={"name": "five", "zapp": five},
                headers=api.login("alice"),
            )
            [stored] = repo.list_executions(limit=10)
            ended = wait_for(lambda: _final(repo, stored.id))  # noqa: B023

    assert reply.status_code == 422
    assert reply.json()["error"]["type"] == "InvalidZApp"
    assert "at most 4 services per execution" in reply.json()["error"]["message"]
    assert ended == "error"


def _final(repo: Repository, execution_id: int) -> str | None:
    status = repo.get_execution(execution_id).status
    return status.value if status.is_final else None


def test_a_zapp_over_max_services_is_invalid_and_never_stored(api: Api) -> None:
    alice = api.login("alice")
    wide = zapp("wide", [group("s", essential=1, total=10_001)])  # default: 10,000

    checked = api.client.post("/api/v1/zapps/validate", json=wide, headers=alice)
    reply = api.client.post(
        "/api/v1/executions", json={"name": "wide", "zapp": wide}, headers=alice
    )
    page = api.client.get("/api/v1/executions", headers=alice).json()

    assert checked.json()["valid"] is False
    [fault] = checked.json()["faults"]
    assert "at most 10000 services per execution" in fault["message"]
    assert reply.status_code == 422
    assert reply.json()["error"]["type"] == "InvalidZApp"
    assert page["executions"] == []
