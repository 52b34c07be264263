"""Who may do what: tokens, roles, other users' executions, and what replies show."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import PASSWORD, Api
from master_harness import group, wait_for, zapp

from zoe.api.security import new_token, token_digest
from zoe.live.db.accounts import create_token

pytestmark = pytest.mark.integration

STACK_MARKS = ("Traceback", 'File "', "psycopg2", "zoe/")


def assert_clean(text: str) -> None:
    """No stack trace, module path or password hash in a reply body."""
    for mark in (*STACK_MARKS, "scrypt$", PASSWORD):
        assert mark not in text


def alice_runs_one(api: Api) -> dict[str, str]:
    alice = api.login("alice")
    reply = api.client.post(
        "/api/v1/executions",
        json={"name": "secret-name", "zapp": zapp(kind="interactive")},
        headers=alice,
    )
    assert reply.json()["id"] == 1
    return alice


def test_no_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    for method, path in [
        ("GET", "/api/v1/executions"),
        ("POST", "/api/v1/executions"),
        ("GET", "/api/v1/executions/1"),
        ("GET", "/api/v1/cluster"),
        ("GET", "/api/v1/users"),
    ]:
        reply = api.client.request(method, path)
        assert reply.status_code == 401, path
        assert reply.headers["WWW-Authenticate"] == "Bearer"
        assert reply.json()["error"]["type"] == "Unauthorized"


def test_a_wrong_or_expired_token_is_401(api: Api) -> None:
    stale = new_token()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    api.repo.transaction(
        lambda tx: create_token(tx, "alice", token_digest(stale), "old", past)
    )

    for token in ("not-a-token", stale):
        reply = api.client.get(
            "/api/v1/executions", headers={"Authorization": f"Bearer {token}"}
        )
        assert reply.status_code == 401
        assert reply.json()["error"]["message"] == (
            "the token is wrong or has expired: log in again"
        )


def test_a_wrong_password_and_an_unknown_user_get_the_same_reply(api: Api) -> None:
    wrong = api.client.post(
        "/api/v1/tokens", json={"user": "alice", "password": "nope"}
    )
    unknown = api.client.post(
        "/api/v1/tokens", json={"user": "nobody", "password": "nope"}
    )

    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert wrong.json() == unknown.json()
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert unknown.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_no_longer_works(api: Api) -> None:
    alice = api.login("alice")

    assert api.client.delete("/api/v1/tokens/current", headers=alice).status_code == 204
    assert api.client.get("/api/v1/users/me", headers=alice).status_code == 401


def test_another_users_execution_is_404_like_a_missing_one(api: Api) -> None:
    alice = alice_runs_one(api)
    bob = api.login("bob")

    for method, suffix in [
        ("GET", ""),
        ("GET", "/endpoints"),
        ("POST", "/terminate"),
        ("DELETE", ""),
    ]:
        theirs = api.client.request(
            method, f"/api/v1/executions/1{suffix}", headers=bob
        )
        missing = api.client.request(
            method, f"/api/v1/executions/1000{suffix}", headers=bob
        )
        assert (theirs.status_code, missing.status_code) == (404, 404)
        assert theirs.json()["error"]["message"] == "execution '1' not found"
        assert "secret-name" not in theirs.text
    listed = api.client.get("/api/v1/executions", headers=bob).json()
    asked = api.client.get("/api/v1/executions?user=alice", headers=bob)
    nobody = api.client.get("/api/v1/executions?user=nobody", headers=bob)
    own = api.client.get("/api/v1/executions?user=bob", headers=bob).json()
    assert listed == own == {"executions": [], "next": None}
    # another user's list is refused, the same whether that user exists or not
    assert (asked.status_code, nobody.status_code) == (403, 403)
    assert asked.json() == nobody.json()
    assert asked.json()["error"]["message"] == (
        "only an administrator may list another user's executions; leave out "
        "user to list your own"
    )
    # still alive: bob's termination did nothing
    assert api.client.get("/api/v1/executions/1", headers=alice).json()["status"] != (
        "terminated"
    )


def test_a_service_of_another_user_is_404(api: Api) -> None:
    alice = alice_runs_one(api)
    bob = api.login("bob")

    def service_id() -> int | None:
        detail = api.client.get("/api/v1/executions/1", headers=alice).json()
        return detail["services"][0]["id"] if detail["services"] else None

    sid = wait_for(service_id)
    assert api.client.get(f"/api/v1/services/{sid}", headers=alice).status_code == 200
    reply = api.client.get(f"/api/v1/services/{sid}", headers=bob)
    assert reply.status_code == 404
    assert reply.json()["error"]["message"] == f"service '{sid}' not found"


def test_an_administrator_sees_and_acts_on_every_execution(api: Api) -> None:
    alice_runs_one(api)
    root = api.login("root")

    listed = api.client.get("/api/v1/executions", headers=root).json()
    stop = api.client.post("/api/v1/executions/1/terminate", headers=root)

    assert [e["user"] for e in listed["executions"]] == ["alice"]
    assert stop.status_code == 202


def test_a_guest_reads_but_may_not_submit_or_terminate(api: Api) -> None:
    alice_runs_one(api)
    gus = api.login("gus")

    submitted = api.client.post(
        "/api/v1/executions", json={"name": "x", "zapp": zapp()}, headers=gus
    )
    stopped = api.client.post("/api/v1/executions/1/terminate", headers=gus)
    cluster = api.client.get("/api/v1/cluster", headers=gus)

    assert (submitted.status_code, stopped.status_code) == (403, 403)
    assert submitted.json()["error"]["type"] == "Forbidden"
    assert cluster.status_code == 200
    # a guest sees only their own executions: none
    page = api.client.get("/api/v1/executions", headers=gus).json()
    assert page == {"executions": [], "next": None}


def test_only_an_administrator_manages_users(api: Api) -> None:
    alice = api.login("alice")

    for method, path, body in [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"name": "eve", "role": "admin"}),
        ("PATCH", "/api/v1/users/alice", {"role": "admin"}),
    ]:
        reply = api.client.request(method, path, json=body, headers=alice)
        assert reply.status_code == 403, path
    me = api.client.get("/api/v1/users/me", headers=alice).json()
    assert me["role"] == "user"


def test_the_scheduler_queue_shows_only_the_callers_executions(api: Api) -> None:
    bob = api.login("bob")
    # 2 nodes of 4 cores: bob's 8-core execution fills them, alice's waits
    big = zapp(groups=[group("s", essential=2, cores=4)], kind="interactive")
    api.client.post("/api/v1/executions", json={"name": "b", "zapp": big}, headers=bob)
    alice = api.login("alice")
    api.client.post(
        "/api/v1/executions", json={"name": "a", "zapp": zapp()}, headers=alice
    )
    root = api.login("root")
    wait_for(
        lambda: api.client.get("/api/v1/scheduler", headers=root).json()["queue"] == [2]
    )

    seen_by_bob = api.client.get("/api/v1/scheduler", headers=bob).json()
    seen_by_alice = api.client.get("/api/v1/scheduler", headers=alice).json()

    assert (seen_by_bob["queue"], seen_by_bob["queue_length"]) == ([], 1)
    assert seen_by_alice["queue"] == [2]


def test_bad_input_and_unknown_paths_are_json_errors(api: Api) -> None:
    alice = api.login("alice")

    replies = [
        api.client.post("/api/v1/executions", content=b"{not json", headers=alice),
        api.client.post("/api/v1/executions", json={"name": "x"}, headers=alice),
        api.client.get("/api/v1/executions/abc", headers=alice),
        api.client.get("/api/v1/executions?limit=0", headers=alice),
        api.client.get("/api/v1/nothing-here"),
    ]

    assert [r.status_code for r in replies] == [422, 422, 422, 422, 404]
    for reply in replies:
        assert set(reply.json()) == {"error"}
        assert set(reply.json()["error"]) == {"type", "message", "details"}
        assert_clean(reply.text)
    assert replies[1].json()["error"]["details"]["faults"] == [
        {"path": "body.zapp", "message": "Field required"}
    ]


def test_every_reply_carries_the_security_headers(api: Api) -> None:
    for reply in (api.client.get("/api/v1/info"), api.client.get("/api/v1/users")):
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["Cache-Control"] == "no-store"
        assert "server" not in reply.headers
