"""Admission: an execution that can never fit on the empty cluster is rejected."""

from __future__ import annotations

import pytest
from builders import execution, group, node, plan_of, snapshot, sorted_starts

MODES = ["rigid", "elastic", "flexible", "backfill"]
NOT_RIGID = ["elastic", "flexible", "backfill"]


def _busy_cluster_with(*views: object) -> object:
    # n0 4 cores, n1 2 cores; R holds all of n1.
    return snapshot(
        [node("n0", 4, 16), node("n1", 2, 16)],
        [
            execution("R", 0, [group(2, 1, 1, 1)], placed=[(0, 0, "n1")]),
            *views,
        ],
    )


def test_rigid_rejects_on_all_services_others_admit_on_essentials() -> None:
    # X: 1 essential + 1 elastic service of 3 cores. The empty cluster (n0 4
    # cores, n1 2) holds one 3-core service, never two: rigid rejects X; the other
    # modes admit it on its essential and start it in the same round on n0.
    x = execution("X", 1, [group(3, 1, 1, 2)], submit=1, admitted=False)
    snap = _busy_cluster_with(x)
    rigid = plan_of("rigid-fifo", snap)
    assert [r.execution_id for r in rigid.rejections] == ["X"]
    assert "cores" in rigid.rejections[0].reason
    assert rigid.starts == ()
    for mode in NOT_RIGID:
        plan = plan_of(f"{mode}-fifo", snap)
        assert plan.rejections == ()
        assert sorted_starts(plan) == [("X", 0, 0, "n0")]


@pytest.mark.parametrize("mode", MODES)
def test_essentials_that_never_fit_together_are_rejected(mode: str) -> None:
    # Y: 3 essential services of 3 cores; the empty cluster (4 + 2 cores) holds
    # one of them: rejected by every mode, never placed.
    y = execution("Y", 1, [group(3, 1, 3, 3)], submit=1, admitted=False)
    plan = plan_of(f"{mode}-fifo", _busy_cluster_with(y))
    assert [r.execution_id for r in plan.rejections] == ["Y"]
    assert "together" in plan.rejections[0].reason
    assert plan.starts == ()


@pytest.mark.parametrize("mode", MODES)
def test_a_service_larger_than_every_node_is_rejected(mode: str) -> None:
    # Z's essential needs 8 cores; the largest node has 4.
    z = execution("Z", 1, [group(8, 1, 1, 1)], submit=1, admitted=False)
    plan = plan_of(f"{mode}-fifo", _busy_cluster_with(z))
    assert [r.execution_id for r in plan.rejections] == ["Z"]
    assert "8 cores" in plan.rejections[0].reason
    assert plan.starts == ()


@pytest.mark.parametrize("mode", MODES)
def test_a_service_whose_labels_no_node_has_is_rejected(mode: str) -> None:
    g = execution("G", 1, [group(1, 1, 1, 1, labels=["gpu"])], admitted=False)
    plan = plan_of(f"{mode}-fifo", _busy_cluster_with(g))
    assert [r.execution_id for r in plan.rejections] == ["G"]
    assert "gpu" in plan.rejections[0].reason


@pytest.mark.parametrize("mode", MODES)
def test_a_rejected_execution_does_not_block_the_queue(mode: str) -> None:
    # Y (first, never fits) is rejected and never enters the queue; W behind it
    # is admitted and placed in the same round, even under rigid.
    y = execution("Y", 1, [group(8, 1, 1, 1)], submit=1, admitted=False)
    w = execution("W", 2, [group(1, 1, 1, 1)], submit=2, admitted=False)
    plan = plan_of(f"{mode}-fifo", _busy_cluster_with(y, w))
    assert [r.execution_id for r in plan.rejections] == ["Y"]
    assert sorted_starts(plan) == [("W", 0, 0, "n0")]


@pytest.mark.parametrize("mode", MODES)
def test_an_execution_that_fits_only_later_is_admitted_and_waits(mode: str) -> None:
    # V needs 2 cores on one node; n0's 4 cores are held by Q, n1's by R. On the
    # empty cluster it fits: admitted (no rejection), but nothing is free now.
    q = execution("Q", 1, [group(4, 1, 1, 1)], placed=[(0, 0, "n0")])
    v = execution("V", 2, [group(2, 1, 1, 1)], submit=2, admitted=False)
    plan = plan_of(f"{mode}-fifo", _busy_cluster_with(q, v))
    assert plan.is_empty


@pytest.mark.parametrize(
    ("placement", "rejected"),
    [("first-fit", True), ("spread", True), ("pack", True), ("best-fit", False)],
)
def test_admission_tries_the_placement_rule_on_the_empty_cluster(
    placement: str, rejected: bool
) -> None:
    # P: essentials of 1 core then 4 cores; empty cluster n0 4c, n1 2c (16 GiB).
    # first-fit, spread (tie: n0 first) and pack (tie: n0) put the 1-core one on
    # n0, leaving 3 cores: the 4-core one fits nowhere: rejected. best-fit scores
    # n0 3/4 + 15/16 and n1 1/2 + 15/16: n1; then the 4-core one takes n0: admitted
    # (and not started now: n1 is busy, so n0 cannot hold both).
    p = execution("P", 1, [group(1, 1, 1, 1), group(4, 1, 1, 1)], admitted=False)
    plan = plan_of("flexible-fifo", _busy_cluster_with(p), placement)
    assert [r.execution_id for r in plan.rejections] == (["P"] if rejected else [])
    assert plan.starts == ()
