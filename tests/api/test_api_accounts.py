"""Users: the last administrator stays, strict quotas changed one at a time, and
tokens revoked on a new password or by an administrator. Real PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from conftest import PASSWORD, Api

pytestmark = pytest.mark.integration


def test_the_last_administrator_cannot_be_demoted(api: Api) -> None:
    root = api.login("root")

    refused = api.client.patch(
        "/api/v1/users/root", json={"role": "user"}, headers=root
    )
    still = api.client.get("/api/v1/users/root", headers=root).json()
    promoted = api.client.patch(
        "/api/v1/users/alice", json={"role": "admin"}, headers=root
    )
    demoted = api.client.patch(
        "/api/v1/users/root", json={"role": "guest"}, headers=root
    )
    alice = api.login("alice")
    last = api.client.patch("/api/v1/users/alice", json={"role": "user"}, headers=alice)

    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "type": "Conflict",
        "message": "root is the last administrator: at least one administrator "
        "must remain; make another user an administrator first",
        "details": {"user": "root"},
    }
    assert still["role"] == "admin"
    assert (promoted.status_code, demoted.status_code) == (200, 200)
    assert demoted.json()["role"] == "guest"
    assert last.status_code == 409


def test_quotas_are_strict_numbers_without_extra_keys(api: Api) -> None:
    root = api.login("root")

    def patch(quotas: object) -> int:
        reply = api.client.patch(
            "/api/v1/users/alice", json={"quotas": quotas}, headers=root
        )
        return reply.status_code

    made = api.client.post(
        "/api/v1/users", json={"name": "eve", "max_executions": "3"}, headers=root
    )

    assert patch({"max_executions": "2"}) == 422
    assert patch({"max_cores": "1.5"}) == 422
    assert patch({"max_memory": 1.5}) == 422
    assert patch({"max_executions": True}) == 422
    assert patch({"max_cores": 1, "colour": "red"}) == 422
    assert made.status_code == 422
    user = api.client.get("/api/v1/users/alice", headers=root).json()
    assert (user["max_executions"], user["max_cores"], user["max_memory"]) == (
        None,
        None,
        None,
    )


def test_a_patch_changes_only_the_quotas_it_gives(api: Api) -> None:
    root = api.login("root")
    url = "/api/v1/users/alice"

    api.client.patch(
        url,
        json={"quotas": {"max_executions": 4, "max_cores": 2.5, "max_memory": 2**30}},
        headers=root,
    )
    one = api.client.patch(url, json={"quotas": {"max_cores": 1}}, headers=root)
    removed = api.client.patch(url, json={"quotas": {"max_memory": None}}, headers=root)

    def quotas(reply: httpx.Response) -> tuple[object, object, object]:
        user = reply.json()
        return user["max_executions"], user["max_cores"], user["max_memory"]

    assert quotas(one) == (4, 1, 2**30)
    assert quotas(removed) == (4, 1, None)


def test_a_new_password_revokes_the_users_tokens(api: Api) -> None:
    root = api.login("root")
    alice = [api.login("alice"), api.login("alice")]

    changed = api.client.patch(
        "/api/v1/users/alice", json={"password": "a new secret"}, headers=root
    )

    assert changed.status_code == 200
    for headers in alice:
        assert api.client.get("/api/v1/users/me", headers=headers).status_code == 401
    assert api.client.get("/api/v1/users/me", headers=root).status_code == 200
    fresh = api.client.post(
        "/api/v1/tokens", json={"user": "alice", "password": "a new secret"}
    )
    assert fresh.status_code == 201


def test_a_new_own_password_keeps_only_the_token_that_changed_it(api: Api) -> None:
    used, other = api.login("root"), api.login("root")

    api.client.patch(
        "/api/v1/users/root", json={"password": "another secret"}, headers=used
    )

    assert api.client.get("/api/v1/users/me", headers=used).status_code == 200
    assert api.client.get("/api/v1/users/me", headers=other).status_code == 401


def test_an_administrator_revokes_a_users_tokens(api: Api) -> None:
    root = api.login("root")
    alice = [api.login("alice"), api.login("alice")]
    bob = api.login("bob")

    revoked = api.client.delete("/api/v1/users/alice/tokens", headers=root)
    by_bob = api.client.delete("/api/v1/users/alice/tokens", headers=bob)
    unknown = api.client.delete("/api/v1/users/nobody/tokens", headers=root)

    assert (revoked.status_code, revoked.json()) == (
        200,
        {"user": "alice", "revoked": 2},
    )
    for headers in alice:
        assert api.client.get("/api/v1/users/me", headers=headers).status_code == 401
    assert api.client.get("/api/v1/users/me", headers=bob).status_code == 200
    assert by_bob.status_code == 403
    assert unknown.status_code == 404
    assert api.client.post(
        "/api/v1/tokens", json={"user": "alice", "password": PASSWORD}
    ).is_success


def test_a_token_lifetime_that_is_no_number_says_so(api: Api) -> None:
    body = (
        f'{{"user": "alice", "password": "{PASSWORD}", "lifetime_days": NaN}}'
    ).encode()

    reply = api.client.post(
        "/api/v1/tokens", content=body, headers={"Content-Type": "application/json"}
    )

    assert reply.status_code == 422
    assert reply.json()["error"]["details"]["faults"] == [
        {"path": "body.lifetime_days", "message": "Input should be a finite number"}
    ]
