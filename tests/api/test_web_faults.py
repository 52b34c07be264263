"""The web forms on input the database or the parser refuses: the form again."""

from __future__ import annotations

import json

import pytest
from conftest import Api
from experiment_helpers import SPEC, ExperimentsApi
from master_harness import zapp
from test_web_pages import session

from zoe.api.web import COOKIE, csrf_of

pytestmark = pytest.mark.integration


def test_a_deeply_nested_zapp_is_a_fault_of_the_form(api: Api) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with session(api, "alice") as browser:
        csrf = csrf_of(browser.cookies[COOKIE])
        reply = browser.post(
            "/submit", data={"name": "deep-job", "zapp": deep, "csrf": csrf}
        )

    assert reply.status_code == 422
    assert "nested too deeply" in reply.text
    assert 'value="deep-job"' in reply.text  # the form keeps the user's input
    assert 'action="/submit"' in reply.text


def test_a_nul_in_the_name_is_a_fault_of_the_form(api: Api) -> None:
    text = json.dumps(zapp(kind="interactive"))
    with session(api, "alice") as browser:
        csrf = csrf_of(browser.cookies[COOKIE])
        reply = browser.post(
            "/submit", data={"name": "a\x00b", "zapp": text, "csrf": csrf}
        )

    assert reply.status_code == 422
    assert "NUL" in reply.text
    assert 'action="/submit"' in reply.text
    assert "&#34;frameworks&#34;" in reply.text  # the ZApp is still in the textarea
    alice = api.login("alice")
    listing = api.client.get("/api/v1/executions", headers=alice).json()
    assert listing["executions"] == []


def test_a_nul_in_an_experiments_name_is_a_fault_of_the_form(
    xapi: ExperimentsApi,
) -> None:
    with session(xapi.api, "alice") as browser:
        csrf = csrf_of(browser.cookies[COOKIE])
        reply = browser.post(
            "/experiments", data={"name": "a\x00b", "spec": SPEC, "csrf": csrf}
        )

    assert reply.status_code == 422
    assert "NUL" in reply.text
    assert 'action="/experiments"' in reply.text
    assert 'name="spec"' in reply.text
    assert "No experiments yet." in reply.text


def test_an_error_page_names_the_status_and_leads_back(api: Api) -> None:
    with session(api, "alice") as browser:
        missing = browser.get("/executions/9999")
        unknown = browser.get("/no-such-page")

    assert missing.status_code == 404
    assert "<title>404 Not Found · Zoe</title>" in missing.text
    assert "execution &#39;9999&#39; not found" in missing.text
    assert 'href="/"' in missing.text
    assert unknown.status_code == 404
    assert "<title>404 Not Found · Zoe</title>" in unknown.text
