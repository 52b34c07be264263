"""The web interface without a browser: sessions, CSRF, who sees what."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import PASSWORD, Api
from master_harness import zapp

from zoe.api.web import COOKIE, csrf_of

pytestmark = pytest.mark.integration


@contextmanager
def session(api: Api, user: str) -> Iterator[httpx.Client]:
    """A client with the session cookie of ``user``."""
    with httpx.Client(base_url=api.url) as client:
        reply = client.post("/login", data={"user": user, "password": PASSWORD})
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
    wrong = api.client.post("/login", data={"user": "alice", "password": "nope"})
    assert wrong.status_code == 401
    assert "Wrong user or password." in wrong.text


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
