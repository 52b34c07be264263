"""The experiments pages without a browser: form, faults, progress, results."""

from __future__ import annotations

import re

import pytest
from experiment_helpers import LONG_SPEC, SPEC, ExperimentsApi
from test_web_pages import session

from zoe.api.web import COOKIE, csrf_of

pytestmark = pytest.mark.integration


def test_pages_need_a_session(xapi: ExperimentsApi) -> None:
    for path in ("/experiments", "/experiments/1", "/fragments/experiments"):
        reply = xapi.api.client.get(path)
        assert (reply.status_code, reply.headers["location"]) == (303, "/login"), path


def test_a_fault_is_shown_beside_the_input_and_csrf_is_required(
    xapi: ExperimentsApi,
) -> None:
    bad = SPEC.replace('"flexible-fifo"', '"flexible-nope"')
    with session(xapi.api, "alice") as browser:
        form = browser.get("/experiments")
        csrf = csrf_of(browser.cookies[COOKIE])
        forged = browser.post("/experiments", data={"spec": SPEC})
        faulty = browser.post("/experiments", data={"spec": bad, "csrf": csrf})

    assert form.status_code == 200
    assert 'name="spec"' in form.text
    assert 'href="/experiments"' in form.text
    assert forged.status_code == 403
    assert faulty.status_code == 422
    aside = faulty.text[faulty.text.index('<aside class="faults"') :]
    assert "<code>policies[1]</code>" in aside
    assert "flexible-nope" in faulty.text  # the text is kept in the form
    assert "No experiments yet." in faulty.text


def test_a_guest_has_no_form_and_may_not_post(xapi: ExperimentsApi) -> None:
    with session(xapi.api, "gus") as browser:
        listing = browser.get("/experiments")
        csrf = csrf_of(browser.cookies[COOKIE])
        posted = browser.post("/experiments", data={"spec": SPEC, "csrf": csrf})

    assert listing.status_code == 200
    assert 'name="spec"' not in listing.text
    assert posted.status_code == 403


def test_an_experiment_page_follows_it_to_its_results(xapi: ExperimentsApi) -> None:
    alice = xapi.api.login("alice")
    with session(xapi.api, "alice") as browser:
        csrf = csrf_of(browser.cookies[COOKIE])
        started = browser.post("/experiments", data={"spec": SPEC, "csrf": csrf})
        location = started.headers["location"]
        experiment_id = int(location.rsplit("/", 1)[1])
        running = browser.get(location)
        xapi.wait(experiment_id, alice, {"done", "failed"})
        done = browser.get(f"/fragments/experiments/{experiment_id}")
        listing = browser.get("/fragments/experiments")
        images = re.findall(r'<img src="([^"]+)"', done.text)
        figure = browser.get(images[0])
        report = browser.get(f"/experiments/{experiment_id}/report")

    assert started.status_code == 303
    assert running.status_code == 200
    # while not final the page polls its fragment; once done it stops
    assert f'hx-get="/fragments/experiments/{experiment_id}"' in running.text
    assert "hx-get" not in done.text
    assert '<span class="status s-done" id="status">done</span>' in done.text
    assert "4 done, 0 failed, of 4" in done.text
    assert done.text.count("<td>rigid-fifo</td>") == 2  # loads 1 and 2
    assert f'href="/experiments/{experiment_id}/report"' in done.text
    assert images
    assert all(src.endswith(".png") for src in images)
    assert figure.headers["content-type"] == "image/png"
    assert report.headers["content-type"].startswith("text/html")
    assert "tiny" in listing.text


def test_another_user_sees_nothing_and_the_owner_cancels_and_deletes(
    xapi: ExperimentsApi,
) -> None:
    alice = xapi.api.login("alice")
    spec = LONG_SPEC.replace('name = "long"', 'name = "secret-grid"')
    reply = xapi.api.client.post(
        "/api/v1/experiments", json={"spec": spec}, headers=alice
    )
    experiment_id = reply.json()["id"]
    with session(xapi.api, "bob") as bob:
        page = bob.get(f"/experiments/{experiment_id}")
        listing = bob.get("/fragments/experiments")
        report = bob.get(f"/experiments/{experiment_id}/report")
    with session(xapi.api, "alice") as browser:
        csrf = csrf_of(browser.cookies[COOKIE])
        cancelled = browser.post(
            f"/experiments/{experiment_id}/cancel", data={"csrf": csrf}
        )
        after = browser.get(f"/experiments/{experiment_id}")
        xapi.wait(experiment_id, alice, {"cancelled"})
        deleted = browser.post(
            f"/experiments/{experiment_id}/delete", data={"csrf": csrf}
        )
        gone = browser.get(f"/experiments/{experiment_id}")

    assert (page.status_code, report.status_code) == (404, 404)
    assert "secret-grid" not in page.text + listing.text
    assert cancelled.status_code == 303
    assert 'id="status">cancelled<' in after.text
    assert f'action="/experiments/{experiment_id}/delete"' in after.text
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/experiments")
    assert gone.status_code == 404
    assert not xapi.folder(experiment_id).exists()
