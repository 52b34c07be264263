"""``/api/v1/experiments`` end to end: real PostgreSQL, real runs of tiny grids."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from experiment_helpers import (
    LONG_SPEC,
    MAX_RUNS,
    SPEC,
    ExperimentsApi,
    experiment_processes,
    experiments_api,
    group_members,
)

from zoe.live.db import Repository
from zoe.live.db.experiments import (
    ExperimentStatus,
    create_experiment,
    get_experiment,
)
from zoe.live.db.schema import available_migrations

pytestmark = pytest.mark.integration

URL = "/api/v1/experiments"


def test_an_experiment_runs_to_done_with_results_figures_and_report(
    xapi: ExperimentsApi,
) -> None:
    client, alice = xapi.api.client, xapi.api.login("alice")

    reply = client.post(URL, json={"spec": SPEC}, headers=alice)
    assert reply.status_code == 202, reply.text
    submitted = reply.json()
    assert submitted["name"] == "tiny"
    assert submitted["progress"] == {"done": 0, "failed": 0, "total": 4}
    body = xapi.wait(submitted["id"], alice, {"done", "failed"})

    assert body["status"] == "done", body
    assert body["progress"] == {"done": 4, "failed": 0, "total": 4}
    assert body["start_time"] is not None
    assert body["end_time"] is not None
    # the server chose the folder: the spec's 'out' was ignored
    assert (xapi.folder(submitted["id"]) / "runs.parquet").is_file()
    assert not Path("/ignored").exists()

    rows = client.get(f"{URL}/{body['id']}/results", headers=alice).json()["rows"]
    # one row per policy and load (2 x 2), each of one run (one seed)
    assert sorted((r["policy"], r["load"]) for r in rows) == [
        ("flexible-fifo", 1.0),
        ("flexible-fifo", 2.0),
        ("rigid-fifo", 1.0),
        ("rigid-fifo", 2.0),
    ]
    for row in rows:
        assert row["runs"] == 1
        assert row["turnaround_mean_ci"] is None  # one seed: no interval
        expected = (60.0, 10.0) if row["load"] == 1.0 else (190 / 3, 40 / 3)
        assert (row["turnaround_mean"], row["queue_mean"]) == pytest.approx(expected)

    check_figures_and_report(xapi, body["id"], alice)


def check_figures_and_report(
    xapi: ExperimentsApi, experiment_id: int, headers: dict[str, str]
) -> None:
    client = xapi.api.client
    figures = client.get(f"{URL}/{experiment_id}/figures", headers=headers).json()
    names = {f["name"] for f in figures}
    assert any(n.startswith("load-sweep_") and n.endswith(".png") for n in names)
    for figure in figures:
        stem = figure["name"][: figure["name"].rfind(".")]
        assert {f"{stem}.png", f"{stem}.svg"} <= names  # each as PNG and SVG
    png = next(f for f in figures if f["media_type"] == "image/png")
    svg = next(f for f in figures if f["media_type"] == "image/svg+xml")

    served_png = client.get(png["url"], headers=headers)
    served_svg = client.get(svg["url"], headers=headers)
    report = client.get(f"{URL}/{experiment_id}/report", headers=headers)

    assert served_png.headers["content-type"] == "image/png"
    assert served_png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert served_svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in served_svg.content
    assert report.headers["content-type"].startswith("text/html")
    assert "<h1>Experiment tiny</h1>" in report.text
    assert "script-src" not in report.headers["content-security-policy"]
    # a name not in the list is never read, whatever it points at
    for name in ("..%2F..%2Fspec.toml", "spec.toml", "x.png"):
        path = f"{URL}/{experiment_id}/figures/{name}"
        assert client.get(path, headers=headers).status_code == 404, name


def test_cancel_stops_the_process_and_delete_removes_the_folder(
    xapi: ExperimentsApi,
) -> None:
    client, alice = xapi.api.client, xapi.api.login("alice")
    long = client.post(URL, json={"spec": LONG_SPEC}, headers=alice).json()
    queued = client.post(URL, json={"spec": LONG_SPEC}, headers=alice).json()
    xapi.wait(long["id"], alice, {"running"})
    folder = xapi.folder(long["id"])
    deadline = time.monotonic() + 30
    while not (pids := experiment_processes(folder)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert os.getpgid(pids[0]) == pids[0]  # a process group of its own

    # one worker: the second waits in the queue; both are cancelled
    assert xapi.wait(queued["id"], alice, {"queued"})["status"] == "queued"
    early = client.delete(f"{URL}/{long['id']}", headers=alice)
    cancelled = client.post(f"{URL}/{long['id']}/cancel", headers=alice)
    cancelled_queued = client.post(f"{URL}/{queued['id']}/cancel", headers=alice)
    again = client.post(f"{URL}/{long['id']}/cancel", headers=alice)

    assert early.status_code == 409
    assert cancelled.json() == {"id": long["id"], "status": "cancelled"}
    assert cancelled_queued.json()["status"] == "cancelled"
    assert again.status_code == 409
    deadline = time.monotonic() + 10
    while group_members(pids[0]):
        assert time.monotonic() < deadline, "the experiment's processes still run"
        time.sleep(0.1)
    results = client.get(f"{URL}/{long['id']}/results", headers=alice)
    assert results.status_code == 409
    assert results.json()["error"]["details"] == {"status": "cancelled"}
    assert not xapi.folder(queued["id"]).exists()  # it never ran

    deleted = client.delete(f"{URL}/{long['id']}", headers=alice)
    assert deleted.json() == {"id": long["id"], "deleted": True}
    assert not folder.exists()
    assert client.get(f"{URL}/{long['id']}", headers=alice).status_code == 404


def test_guests_may_not_submit_and_others_see_nothing(xapi: ExperimentsApi) -> None:
    client = xapi.api.client
    alice, bob = xapi.api.login("alice"), xapi.api.login("bob")
    gus, root = xapi.api.login("gus"), xapi.api.login("root")
    guest = client.post(URL, json={"spec": SPEC}, headers=gus)
    mine = client.post(URL, json={"spec": LONG_SPEC}, headers=alice).json()
    path = f"{URL}/{mine['id']}"

    assert guest.status_code == 403
    assert client.post(URL, json={"spec": SPEC}).status_code == 401
    for method, suffix in (
        ("GET", ""),
        ("GET", "/results"),
        ("GET", "/figures"),
        ("GET", "/figures/x.png"),
        ("GET", "/report"),
        ("POST", "/cancel"),
        ("DELETE", ""),
    ):
        reply = client.request(method, path + suffix, headers=bob)
        assert reply.status_code == 404, (method, suffix, reply.text)
        assert "long" not in reply.text
    assert client.get(URL, headers=bob).json()["experiments"] == []
    others = client.get(f"{URL}?user=alice", headers=bob)
    assert others.status_code == 403
    assert others.json()["error"]["type"] == "Forbidden"
    assert client.get(f"{URL}/999", headers=alice).status_code == 404

    listed = client.get(URL, headers=root).json()["experiments"]
    assert [(x["id"], x["user"]) for x in listed] == [(mine["id"], "alice")]
    assert client.post(f"{path}/cancel", headers=root).status_code == 202


def fault(reply_json: dict[str, object]) -> tuple[str, str]:
    """The path and message of the only fault of a 422 body."""
    error = reply_json["error"]
    assert isinstance(error, dict)
    faults = error["details"]["faults"]
    assert len(faults) == 1, faults
    return faults[0]["path"], faults[0]["message"]


def test_files_outside_the_traces_folder_are_refused(
    xapi: ExperimentsApi, tmp_path: Path
) -> None:
    client, alice = xapi.api.client, xapi.api.login("alice")
    secret = tmp_path / "secret.jsonl"
    secret.write_text("{}\n")
    (xapi.traces_dir / "link.jsonl").symlink_to(secret)
    cases = {
        '"../secret.jsonl"': "spec.traces[0].file",
        f'"{secret}"': "spec.traces[0].file",
        '"sub/../../secret.jsonl"': "spec.traces[0].file",
        '"link.jsonl"': "spec.traces[0].file",
    }
    for value, path in cases.items():
        spec = SPEC.replace('"three.jsonl"', value)
        reply = client.post(URL, json={"spec": spec}, headers=alice)
        assert reply.status_code == 422, value
        assert fault(reply.json())[0] == path
        assert str(xapi.traces_dir) not in reply.text  # no server path told

    cluster = SPEC.replace('["1x4c16g"]', '["../nodes.json"]')
    missing = SPEC.replace('"three.jsonl"', '"absent.jsonl"')
    cluster_reply = client.post(URL, json={"spec": cluster}, headers=alice)
    missing_reply = client.post(URL, json={"spec": missing}, headers=alice)

    assert fault(cluster_reply.json())[0] == "spec.clusters[0]"
    assert fault(missing_reply.json()) == (
        "spec.traces[0].file",
        "no such file: absent.jsonl",
    )
    assert str(xapi.traces_dir) not in missing_reply.text
    assert client.get(URL, headers=alice).json()["experiments"] == []


def test_too_many_runs_and_invalid_specs_are_422_with_the_key_path(
    xapi: ExperimentsApi,
) -> None:
    client, alice = xapi.api.client, xapi.api.login("alice")
    # 2 policies x 4 loads = 8 runs, over the server's 6
    big = SPEC.replace("loads = [1.0, 2.0]", "loads = [1.0, 2.0, 3.0, 4.0]")
    unknown = SPEC.replace('"flexible-fifo"', '"flexible-nope"')
    not_toml = SPEC.replace('name = "tiny"', "name = ")

    too_many = client.post(URL, json={"spec": big}, headers=alice)
    bad_name = client.post(URL, json={"spec": unknown}, headers=alice)
    bad_toml = client.post(URL, json={"spec": not_toml}, headers=alice)

    assert too_many.status_code == 422
    path, message = fault(too_many.json())
    assert path == "spec"
    assert f"the grid has 8 runs; this server runs at most {MAX_RUNS}" in message
    assert bad_name.status_code == 422
    assert bad_name.json()["error"]["type"] == "InvalidSpec"
    assert fault(bad_name.json())[0] == "spec.policies[1]"
    assert bad_toml.status_code == 422
    assert fault(bad_toml.json())[0] == "spec"
    assert "not valid TOML" in fault(bad_toml.json())[1]
    assert client.get(URL, headers=alice).json()["experiments"] == []


def test_a_generated_trace_over_a_million_applications_is_422(
    xapi: ExperimentsApi,
) -> None:
    client, alice = xapi.api.client, xapi.api.login("alice")
    huge = LONG_SPEC.replace("apps = 200000", "apps = 1000001")

    reply = client.post(URL, json={"spec": huge}, headers=alice)

    assert reply.status_code == 422
    path, message = fault(reply.json())
    assert path == "spec.traces[0].apps"
    assert "at most 1,000,000 per trace" in message
    assert client.get(URL, headers=alice).json()["experiments"] == []


def test_an_experiment_left_running_by_a_dead_process_is_resumed(
    xapi: ExperimentsApi,
) -> None:
    # as a previous API process leaves it: running, its heartbeat long gone
    spec = SPEC.replace('["rigid-fifo", "flexible-fifo"]', '["rigid-fifo"]')

    def orphan(tx: object) -> int:
        record = create_experiment(tx, "alice", "orphan", spec, 2)  # type: ignore[arg-type]
        tx.cur.execute(  # type: ignore[attr-defined]
            "UPDATE experiments SET status = 'running', runner = 'gone:1', "
            "start_time = now(), heartbeat_time = now() - interval '1 hour' "
            "WHERE id = %s",
            (record.id,),
        )
        return record.id

    experiment_id = xapi.api.repo.transaction(orphan)
    alice = xapi.api.login("alice")
    body = xapi.wait(experiment_id, alice, {"done", "failed"})

    assert body["status"] == "done", body
    assert body["progress"] == {"done": 2, "failed": 0, "total": 2}


def test_the_migration_lists_every_status() -> None:
    text = next(m.text for m in available_migrations() if m.name == "experiments")
    checked = text[text.index("CHECK (status IN (") : text.index("runs_total")]
    for status in ExperimentStatus:
        assert f"'{status.value}'" in checked, status
    assert checked.count("'") == 2 * len(ExperimentStatus)


def test_a_stopping_api_puts_its_running_experiment_back_in_the_queue(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    with experiments_api(postgres_dsn, deployment, repo, tmp_path) as xapi:
        alice = xapi.api.login("alice")
        reply = xapi.api.client.post(URL, json={"spec": LONG_SPEC}, headers=alice)
        experiment_id = reply.json()["id"]
        xapi.wait(experiment_id, alice, {"running"})
        folder = xapi.folder(experiment_id)
        deadline = time.monotonic() + 30
        while not (pids := experiment_processes(folder)):
            assert time.monotonic() < deadline
            time.sleep(0.1)

    record = repo.transaction(lambda tx: get_experiment(tx, experiment_id))
    assert (record.status, record.runner) == (ExperimentStatus.QUEUED, None)
    deadline = time.monotonic() + 10
    while group_members(pids[0]):
        assert time.monotonic() < deadline, "the experiment's processes still run"
        time.sleep(0.1)
