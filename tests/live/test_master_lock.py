"""One master runs a deployment: a second one on the same database and
deployment is refused while the first runs, and may start once it has stopped.
Real PostgreSQL, masters in threads of the test process."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest
from master_harness import master_config, master_thread, wait_final, zapp

from zoe.live.errors import MasterRunning
from zoe.live.master import Master

pytestmark = pytest.mark.integration


def test_a_second_master_of_a_deployment_is_refused_while_the_first_runs(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    with master_thread(config) as first, first.client() as client:
        with pytest.raises(MasterRunning) as refused:
            Master.open(master_config(postgres_dsn, deployment, tmp_path / "b"))
        # the first goes on as if nothing happened
        done = wait_final(
            client, client.submit("a", zapp(size=0.2), "alice")["execution_id"]
        )

    assert str(refused.value) == (
        f"another master runs for this deployment (schema zoe_{deployment}) on "
        "this database; stop it first, or give this one another deployment name"
    )
    assert done["status"] == "finished"
    # stopped, the first has let go of the deployment
    with (
        master_thread(master_config(postgres_dsn, deployment, tmp_path)) as again,
        again.client() as client,
    ):
        assert client.get(done["id"])["status"] == "finished"


def test_masters_of_other_deployments_run_side_by_side(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    other = f"{deployment}_b"[:31]
    with (
        master_thread(master_config(postgres_dsn, deployment, tmp_path)) as one,
        master_thread(master_config(postgres_dsn, other, tmp_path / "b")) as two,
        one.client() as first,
        two.client() as second,
    ):
        sizes = [len(c.cluster()["nodes"]) for c in (first, second)]
    assert sizes == [2, 2]
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "zoe_{other}" CASCADE')
