"""The web interface in Debian's Chromium, driven by Playwright.

Logs in, submits a ZApp (first with a fault, shown beside the input), watches it
run, opens the cluster page, terminates the execution, opens the experiments
page; saves a screenshot of each page in ``results/screenshots/`` (or
``$ZOE_SCREENSHOTS``) for review.
``scripts/browser.sh setup`` installs Chromium where it may.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, Api
from master_harness import group, zapp

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("ZOE_SKIP_BROWSER") == "1":
            pytest.skip("browser tests skipped (ZOE_SKIP_BROWSER=1)")
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `bash scripts/browser.sh setup`, or set "
            "ZOE_SKIP_BROWSER=1 to skip the browser tests",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 800})
        finally:
            browser.close()


@pytest.fixture
def shots() -> Path:
    folder = Path(os.environ.get("ZOE_SCREENSHOTS") or REPO / "results" / "screenshots")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def test_log_in_submit_watch_and_terminate(
    api: Api, browser_page: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{api.url}/")
    expect(page).to_have_url(f"{api.url}/login")
    page.screenshot(path=shots / "1-login.png")
    page.get_by_label("User").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("No executions yet")).to_be_visible()
    page.screenshot(path=shots / "2-executions-empty.png")

    page.get_by_role("link", name="Submit", exact=True).click()
    page.get_by_label("Name").fill("web-job")
    bad = zapp(groups=[group("s", essential=3, total=2)], kind="interactive")
    page.get_by_label("ZApp (JSON, any version)").fill(json.dumps(bad, indent=2))
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".faults")).to_contain_text(
        "frameworks[0].services[0].essential_count"
    )
    page.screenshot(path=shots / "3-submit-faults.png")

    good = zapp(groups=[group("s", total=2)], kind="interactive")
    page.get_by_label("ZApp (JSON, any version)").fill(json.dumps(good, indent=2))
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(f"{api.url}/executions/1")
    # the page updates itself (htmx) until the execution runs
    expect(page.locator("#status")).to_have_text("running", timeout=15000)
    expect(page.get_by_role("cell", name="node-0").first).to_be_visible()
    page.screenshot(path=shots / "4-execution-running.png")

    page.get_by_role("link", name="Cluster").click()
    expect(page.get_by_role("heading", name="node-0")).to_be_visible()
    expect(page.get_by_text("flexible-fifo")).to_be_visible()
    page.screenshot(path=shots / "5-cluster.png")

    page.get_by_role("link", name="Executions").click()
    expect(page.get_by_role("link", name="web-job")).to_be_visible()
    page.screenshot(path=shots / "6-executions.png")
    page.get_by_role("link", name="web-job").click()
    page.get_by_role("button", name="Terminate").click()
    expect(page.locator("#status")).to_have_text("terminated", timeout=15000)
    # a final execution is no longer polled and may be deleted
    expect(page.get_by_role("button", name="Delete")).to_be_visible()
    expect(page.locator("#execution")).not_to_have_attribute("hx-trigger", "every 2s")
    page.screenshot(path=shots / "7-execution-terminated.png")

    page.set_viewport_size({"width": 390, "height": 800})
    page.get_by_role("link", name="Executions").click()
    expect(page.get_by_role("link", name="web-job")).to_be_visible()
    page.screenshot(path=shots / "8-executions-narrow.png", full_page=True)
    page.goto(f"{api.url}/cluster")
    page.screenshot(path=shots / "9-cluster-narrow.png", full_page=True)

    page.get_by_role("link", name="Experiments").click()
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    page.screenshot(path=shots / "10-experiments-narrow.png", full_page=True)


def test_the_pages_log_no_console_error(api: Api, browser_page: Any) -> None:
    page = browser_page
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.goto(f"{api.url}/login")
    page.get_by_label("User").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{api.url}/")
    for path in ("/", "/submit", "/cluster", "/experiments"):
        page.goto(f"{api.url}{path}")
        page.wait_for_load_state("networkidle")

    assert problems == []
