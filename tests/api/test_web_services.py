"""The services on an execution's web page: which URLs become links, usage."""

from __future__ import annotations

from typing import Any

from zoe.api.web import templates


def rendered(*ports: dict[str, Any], **usage: Any) -> str:
    """The execution fragment of one running service with ``ports``."""
    service = {
        **usage,
        "id": 3,
        "name": "web-0",
        "status": "running",
        "reason": None,
        "node": "local",
        "essential": True,
        "cores": 1,
        "ports": list(ports),
    }
    execution = {
        "id": 1,
        "name": "lab",
        "status": "running",
        "user": "alice",
        "kind": "interactive",
        "submit_time": "2026-01-05T10:00:00+00:00",
        "start_time": None,
        "end_time": None,
        "reason": None,
        "services": [service],
    }
    template = templates.env.get_template("_execution.html")
    return template.render(e=execution, final=False, may_act=False, csrf="")


def test_an_http_url_is_a_link_that_opens_without_the_opener() -> None:
    html = rendered(
        {"name": "ui", "address": "127.0.0.1:32768", "url": "http://127.0.0.1:32768/"}
    )

    assert (
        'ui: <a href="http://127.0.0.1:32768/" rel="noopener noreferrer" '
        'target="_blank">http://127.0.0.1:32768/</a>'
    ) in html


def test_an_https_url_in_capitals_is_a_link_too() -> None:
    html = rendered({"name": "ui", "address": "h:1", "url": "HTTPS://h:1/"})

    assert '<a href="HTTPS://h:1/"' in html


def test_a_javascript_url_is_never_a_link_the_address_is_shown() -> None:
    html = rendered(
        {"name": "ui", "address": "127.0.0.1:1", "url": "javascript:alert(1)//1"},
        {"name": "odd", "address": "127.0.0.1:2", "url": " http://h:2/"},
        {"name": "db", "address": "127.0.0.1:3", "url": "postgres://127.0.0.1:3/"},
    )

    assert "<a " not in html
    assert "javascript" not in html
    assert "ui: <code>127.0.0.1:1</code>" in html
    assert "odd: <code>127.0.0.1:2</code>" in html
    assert "db: <code>127.0.0.1:3</code>" in html


def test_a_url_is_escaped_in_its_attribute() -> None:
    html = rendered({"name": "ui", "address": "h:1", "url": 'http://h:1/"><b>x'})

    assert '<a href="http://h:1/&#34;&gt;&lt;b&gt;x"' in html
    assert "<b>x" not in html


def test_a_port_without_an_address_says_so() -> None:
    html = rendered({"name": "ui", "address": None, "url": None})

    assert 'ui: <span class="note">no address</span>' in html


def test_the_usage_sampled_is_shown_in_cores_and_mib() -> None:
    html = rendered(cpu_usage=0.4567, memory_usage=3 * 2**20 + 2**19)

    assert "0.46 cores, 3.5 MiB" in html


def test_memory_without_a_cpu_rate_yet_shows_a_dash_for_the_cores() -> None:
    html = rendered(cpu_usage=None, memory_usage=2**20)

    assert "- cores, 1.0 MiB" in html


def test_a_service_never_sampled_shows_no_usage() -> None:
    html = rendered(cpu_usage=None, memory_usage=None)

    assert "cores," not in html
