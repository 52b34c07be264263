"""The web interface without a browser: sessions, CSRF, who sees what."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import PASSWORD, Api
from master_harness import zapp

from zoe.api.web import COOKIE, csrf_of

pytestmark = pytest.mark.integration


def login_token(client: httpx.Client) -> str:
    """The login token of the form ``client`` gets (its cookie is kept)."""
    form = client.get("/login")
    found = re.search(r'name="login_csrf" value="([0-9a-f]+)"', form.text)
    assert found is not None, form.text
    return found.group(1)


@contextmanager
def session(api: Api, user: str) -> Iterator[httpx.Client]:
    """A client with the session cookie of ``user``."""
    with httpx.Client(base_url=api.url) as client:
        token = login_token(client)
        form = {"user": user, "password": PASSWORD, "login_csrf": token}
        reply = client.post("/login", data=form)
        assert reply.status_code == 303
        assert reply.headers["location"] == "/"
        cookie = reply.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        yield client


def test_pages_need_a_session(api: Api) -> None:
    for path in ("/", "/submit", "/cluster", "/executions/1"):
        reply = api.client.get(path)
        assert (reply.status_code, reply.headers["location"]) == (303, "/login"), path
    with httpx.Client(base_url=api.url) as client:
        form = {"user": "alice", "password": "nope", "login_csrf": login_token(client)}
        wrong = client.post("/login", data=form)
    assert wrong.status_code == 401
    assert "Wrong user or password." in wrong.text


def test_a_login_without_the_forms_token_is_refused(api: Api) -> None:
    # another site can make a browser post the login form, but cannot read or set
    # the cookie whose token the form carries: such a login never happens
    forged = {"user": "alice", "password": PASSWORD}
    with httpx.Client(base_url=api.url) as client:
        bare = client.post("/login", data=forged)
        token = login_token(client)
        other = httpx.Client(base_url=api.url)
        stolen = other.post("/login", data={**forged, "login_csrf": token})
        other.close()

    assert bare.status_code == 403
    assert stolen.status_code == 403
    assert COOKIE not in bare.cookies
    assert COOKIE not in stolen.cookies


def test_a_post_without_the_csrf_token_is_refused(api: Api) -> None:
    alice = api.login("alice")
    api.client.post(
        "/api/v1/executions",
        json={"name": "j", "zapp": zapp(kind="interactive")},
        headers=alice,
    )
    with session(api, "alice") as browser:
        check_csrf_refusals(api, alice, browser)


def check_csrf_refusals(api: Api, alice: dict[str, str], browser: httpx.Client) -> None:
    token = browser.cookies[COOKIE]

    missing = browser.post("/executions/1/terminate")
    wrong = browser.post("/executions/1/terminate", data={"csrf": "0" * 64})
    submit = browser.post("/submit", data={"name": "x", "zapp": "{}"})

    assert (missing.status_code, wrong.status_code, submit.status_code) == (
        403,
        403,
        403,
    )
    assert "CSRF" in missing.text
    assert api.client.get("/api/v1/executions/1", headers=alice).json()["status"] != (
        "terminated"
    )
    right = browser.post("/executions/1/terminate", data={"csrf": csrf_of(token)})
    assert (right.status_code, right.headers["location"]) == (303, "/executions/1")


def test_another_users_execution_page_is_404(api: Api) -> None:
    alice = api.login("alice")
    api.client.post(
        "/api/v1/executions",
        json={"name": "secret-name", "zapp": zapp(kind="interactive")},
        headers=alice,
    )
    with session(api, "bob") as bob:
        page = bob.get("/executions/1")
        listing = bob.get("/fragments/executions")

    assert page.status_code == 404
    assert "secret-name" not in page.text + listing.text
    assert page.headers["content-type"].startswith("text/html")


def test_pages_carry_a_content_security_policy(api: Api) -> None:
    reply = api.client.get("/login")
    policy = reply.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self';")
    assert "frame-ancestors 'none'" in policy
    htmx = api.client.get("/static/htmx-2.0.11.min.js")
    assert htmx.status_code == 200


def test_the_submit_form_refuses_a_zapp_over_the_size_limit(api: Api) -> None:
    big = zapp()
    big["frameworks"][0]["services"][0]["environment"] = {"X": "a" * 1_000_001}
    with session(api, "alice") as browser:
        csrf = csrf_of(browser.cookies[COOKIE])
        uploaded = browser.post(
            "/submit",
            data={"name": "big", "csrf": csrf},
            files={"file": ("big.json", json.dumps(big).encode(), "application/json")},
        )
        # small on the wire, over the limit once every group is written out
        groups = [
            {
                "name": f"g{i}",
                "image": "b",
                "essential_count": 1,
                "total_count": 1,
                "resources": {"cores": 1, "memory": "1GiB"},
            }
            for i in range(6000)
        ]
        compact = {
            "version": 4,
            "name": "many",
            "frameworks": [{"name": "f", "services": groups}],
        }
        wide = json.dumps(compact, separators=(",", ":")).encode()
        converted = browser.post(
            "/submit",
            data={"name": "many", "csrf": csrf},
            files={"file": ("many.json", wide, "application/json")},
        )

    assert uploaded.status_code == 413
    assert "over 1000000 bytes" in uploaded.text
    assert converted.status_code == 422
    assert "over 1000000 bytes of JSON as version 4" in converted.text
    alice = api.login("alice")
    assert (
        api.client.get("/api/v1/executions", headers=alice).json()["executions"] == []
    )
