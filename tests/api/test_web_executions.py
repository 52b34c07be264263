"""An execution's page over its life: polling while it may change, then Delete."""

from __future__ import annotations

import pytest
from conftest import Api
from master_harness import zapp
from test_api_executions import wait_status
from test_web_pages import session

from zoe.api.web import COOKIE, csrf_of

pytestmark = pytest.mark.integration


def submitted(api: Api, headers: dict[str, str]) -> int:
    reply = api.client.post(
        "/api/v1/executions",
        json={"name": "page-job", "zapp": zapp(kind="interactive")},
        headers=headers,
    )
    assert reply.status_code == 202, reply.text
    execution_id: int = reply.json()["id"]
    return execution_id


def test_a_final_execution_stops_polling_and_may_be_deleted(api: Api) -> None:
    alice = api.login("alice")
    eid = submitted(api, alice)
    wait_status(api, alice, eid, {"running"})
    with session(api, "alice") as browser:
        csrf = csrf_of(browser.cookies[COOKIE])
        running = browser.get(f"/executions/{eid}")
        early = browser.post(f"/executions/{eid}/delete", data={"csrf": csrf})
        api.client.post(f"/api/v1/executions/{eid}/terminate", headers=alice)
        wait_status(api, alice, eid, {"terminated"})
        ended = browser.get(f"/executions/{eid}")
        fragment = browser.get(f"/fragments/executions/{eid}")
        forged = browser.post(f"/executions/{eid}/delete")
        deleted = browser.post(f"/executions/{eid}/delete", data={"csrf": csrf})

    assert 'hx-trigger="every 2s"' in running.text
    assert f'action="/executions/{eid}/terminate"' in running.text
    assert early.status_code == 409
    assert "terminate it first" in early.text
    assert "hx-trigger" not in ended.text + fragment.text
    assert f'action="/executions/{eid}/delete"' in ended.text
    assert forged.status_code == 403
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/")
    gone = api.client.get(f"/api/v1/executions/{eid}", headers=alice)
    assert gone.status_code == 404


def test_another_user_cannot_delete_an_execution(api: Api) -> None:
    alice = api.login("alice")
    eid = submitted(api, alice)
    api.client.post(f"/api/v1/executions/{eid}/terminate", headers=alice)
    wait_status(api, alice, eid, {"terminated"})
    with session(api, "bob") as bob:
        csrf = csrf_of(bob.cookies[COOKIE])
        refused = bob.post(f"/executions/{eid}/delete", data={"csrf": csrf})
    with session(api, "gus") as guest:
        csrf = csrf_of(guest.cookies[COOKIE])
        read_only = guest.post(f"/executions/{eid}/delete", data={"csrf": csrf})

    assert refused.status_code == 404
    assert "page-job" not in refused.text
    assert read_only.status_code in (403, 404)
    kept = api.client.get(f"/api/v1/executions/{eid}", headers=alice)
    assert kept.status_code == 200
