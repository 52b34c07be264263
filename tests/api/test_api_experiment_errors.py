"""What a failed experiment tells its user: real PostgreSQL, real API and runs."""

from __future__ import annotations

import json

import pytest
from experiment_helpers import SPEC, ExperimentsApi

pytestmark = pytest.mark.integration

URL = "/api/v1/experiments"


def test_the_error_of_a_failed_experiment_shows_no_server_path(
    xapi: ExperimentsApi,
) -> None:
    # a well-formed line whose ZApp has no version: the trace fails when read
    line = {"id": "e0", "submit": 0, "duration": 5, "zapp": {"name": "bad"}}
    (xapi.traces_dir / "bad.jsonl").write_text(json.dumps(line) + "\n")
    client, alice = xapi.api.client, xapi.api.login("alice")
    spec = SPEC.replace('"three.jsonl"', '"bad.jsonl"')

    reply = client.post(URL, json={"spec": spec}, headers=alice)
    assert reply.status_code == 202, reply.text
    body = xapi.wait(reply.json()["id"], alice, {"done", "failed"})

    assert body["status"] == "failed", body
    assert body["error"].startswith("bad.jsonl:1: "), body["error"]
    assert "version" in body["error"]
    assert str(xapi.traces_dir) not in body["error"]
    assert str(xapi.data_dir) not in body["error"]
